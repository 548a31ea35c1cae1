"""Bad workload CSVs (the authors' layer format) through ``oxbnn report --workload-csv`` (issue 10).

Each case writes a file, runs ``oxbnn report --workload-csv F`` through
:func:`oxbnn.tools.cli.main` and asserts exit status 2, no traceback, one error line naming the
file, the row (line number; the header is row 1) and the column. The reader refuses every case
before any evaluation. Legal edge inputs (a BOM, extra columns, CRLF, even kernels, pooling on
odd sizes, a kernel of 20000) stay accepted, and the stride/padding search is linear in the
kernel (counted, not timed).
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from oxbnn.models import workloads
from oxbnn.models.workloads import CSV_HEADER, WorkloadError, read_workload_csv
from oxbnn.tools.cli import main

HEADER = list(CSV_HEADER)
# A small valid network; row numbers (header = 1) are used by the cases.
BASE = [
    HEADER,
    # row 2: 3x3 conv 32 -> 32 (stride 1, padding 1), 3 -> 16 channels.
    ["Tiny", "Conv2D", 3, 3, 3, 16, "(None, 32, 32, 3)", "(None, 32, 32, 16)", "(3, 3, 3)",
     32, 32, 3, 32, 32, 16],
    # row 3: 2x2 pool 32 -> 16.
    ["Tiny", "MaxPooling2D", 1, 2, 2, 1, "(None, 32, 32, 16)", "(None, 16, 16, 16)", "(2, 2, 1)",
     32, 32, 16, 16, 16, 16],
    # row 4: 1x1 conv 16 -> 32.
    ["Tiny", "PointWiseConv", 16, 1, 1, 32, "(None, 16, 16, 16)", "(None, 16, 16, 32)",
     "(1, 1, 16)", 16, 16, 16, 16, 16, 32],
    # row 5: Dense on 16 x 16 x 32 = 8192 to 10.
    ["Tiny", "Dense", 1, 8192, 1, 1, "(None, 8192)", "(None, 10)", "(8192, 1, 1)",
     16, 16, 32, 10, 1, 1],
]  # fmt: skip


def text_of(rows: list[list[object]], delimiter: str = ",", newline: str = "\n") -> str:
    lines: list[str] = []

    class _Sink:
        def write(self, s: str) -> None:
            lines.append(s)

    csv.writer(_Sink(), delimiter=delimiter, lineterminator=newline).writerows(rows)
    return "".join(lines)


def cell(row: int, column: str, value: object, rows: list[list[object]] | None = None):
    rows = [list(r) for r in (rows or BASE)]
    rows[row - 1][HEADER.index(column)] = value
    return rows


def conv_row(k: int, size: int, out: int) -> list[object]:
    """A one-channel ``k x k`` conv row on a ``size x size`` map with an ``out x out`` output."""
    return ["Big", "Conv2D", 1, k, k, 1, f"(None, {size}, {size}, 1)",
            f"(None, {out}, {out}, 1)", f"({k}, {k}, 1)", size, size, 1, out, out, 1]  # fmt: skip


def run(capsys, argv: list[str]) -> tuple[int, str]:
    code = main(argv)
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    return code, err


def report(capsys, tmp_path: Path, *files: Path, extra: tuple[str, ...] = ()):
    out = tmp_path / "report"
    argv = ["report", "--accelerators", "lightbulb", "--no-plots", "--out", str(out)]
    for f in files:
        argv += ["--workload-csv", str(f)]
    code, err = run(capsys, [*argv, *extra])
    return code, err, out


# case: file content (text or bytes), the row and the column the message must name.
CASES: dict[str, tuple[str | bytes, int, str]] = {
    "empty-file": ("", 1, "model_name"),
    "blank-lines-only": ("\n\n  \n", 1, "model_name"),
    "bom-only": ("\ufeff", 1, "model_name"),
    "header-only": (text_of(BASE[:1]), 2, "model_name"),
    "semicolons": (text_of(BASE, delimiter=";"), 1, "1"),
    "tabs": (text_of(BASE, delimiter="\t"), 1, "1"),
    "header-renamed": (text_of([["model", *HEADER[1:]], *BASE[1:]]), 1, "model_name"),
    "header-short": (text_of([HEADER[:-2], *BASE[1:]]), 1, "output_width"),
    "short-row": (text_of([*BASE[:2], BASE[2][:10], *BASE[3:]]), 3, "input_width"),
    "non-integer": (text_of(cell(2, "kernel_height", "3x")), 2, "kernel_height"),
    "float": (text_of(cell(2, "input_height", "32.0")), 2, "input_height"),
    "empty-cell": (text_of(cell(4, "tensor_count", "")), 4, "tensor_count"),
    "underscore-int": (text_of(cell(5, "kernel_height", "8_192")), 5, "kernel_height"),
    "negative": (text_of(cell(2, "input_width", -32)), 2, "input_width"),
    "zero-size": (text_of(cell(3, "output_height", 0)), 3, "output_height"),
    "zero-filters": (text_of(cell(4, "tensor_count", 0)), 4, "tensor_count"),
    "huge-int": (text_of(cell(2, "input_depth", 10**15)), 2, "input_depth"),
    "5000-digit-int": (text_of(cell(2, "input_depth", "9" * 5000)), 2, "input_depth"),
    "kernel-over-bound": (text_of([HEADER, conv_row(100_000, 100_000, 1)]), 2, "kernel_height"),
    "dense-k-over-bound": (
        text_of(cell(5, "kernel_depth", 1 << 20, cell(5, "kernel_height", 1 << 20))),
        5, "kernel_height"),
    "kernel-larger-than-input": (text_of([HEADER, conv_row(9, 2, 9)]), 2, "output_height"),
    "output-does-not-follow": (
        text_of(cell(2, "output_height", 33, cell(2, "output_shape", "(None, 33, 32, 16)"))),
        2, "output_height"),
    "shape-vs-columns": (text_of(cell(3, "input_shape", "(None, 32, 31, 16)")), 3, "input_shape"),
    "unparseable-shape": (text_of(cell(4, "output_shape", "TBD")), 4, "output_shape"),
    "unknown-type": (text_of(cell(3, "name", "Conv3D")), 3, "name"),
    "model-name-differs": (text_of(cell(4, "model_name", "Other")), 4, "model_name"),
    "model-name-empty": (text_of(cell(2, "model_name", "")), 2, "model_name"),
    "duplicate-layer-name": (
        text_of(cell(4, "name", "PointWiseConv_a", cell(2, "name", "Conv2D_a"))), 4, "name"),
    "dense-k-mismatch": (text_of(cell(5, "kernel_height", 8000)), 5, "input_shape"),
    "chain-from-nowhere": (
        text_of(cell(4, "input_height", 50, cell(4, "input_width", 50, cell(
            4, "input_shape", "(None, 50, 50, 16)", cell(4, "output_height", 50, cell(
                4, "output_width", 50, cell(4, "output_shape", "(None, 50, 50, 32)")))))))
        , 4, "input_height"),
    "latin-1": (text_of(BASE).replace("Tiny", "T\xefny").encode("latin-1"), 2, ""),
    "utf-16": (text_of(BASE).encode("utf-16"), 1, ""),
    "huge-field": (text_of(cell(2, "model_name", "x" * 200_000)), 2, "model_name"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_bad_workload_csv(case, tmp_path, capsys):
    content, row, column = CASES[case]
    path = tmp_path / "net.csv"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    code, err, out = report(capsys, tmp_path, path)
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("oxbnn report: error: "), err
    assert str(path) in err, err
    assert f"row {row}" in err, err
    if isinstance(content, bytes):  # not UTF-8: the row of the first bad byte, no column
        assert "UTF-8" in err, err
    else:
        assert (f"column {column}" if column.isdigit() else repr(column)) in err, err
    assert len(err) < 1000, err  # a 5000-digit or 200000-character cell is not echoed whole
    assert not out.exists()


def test_directory_and_missing_file(tmp_path, capsys):
    code, err, _ = report(capsys, tmp_path, tmp_path)
    assert code == 2 and str(tmp_path) in err and "directory" in err, err
    code, err, _ = report(capsys, tmp_path, tmp_path / "absent.csv")
    assert code == 2 and "absent.csv" in err and "cannot read" in err, err


def test_semicolon_file_is_named_as_such(tmp_path, capsys):
    path = tmp_path / "semi.csv"
    path.write_text(text_of(BASE, delimiter=";"))
    code, err, _ = report(capsys, tmp_path, path)
    assert code == 2 and "semicolons" in err and "commas" in err, err


def test_network_given_twice(tmp_path, capsys):
    path = tmp_path / "net.csv"
    path.write_text(text_of(BASE))
    code, err, out = report(capsys, tmp_path, path, path)
    assert code == 2 and "--workload-csv" in err and "'Tiny'" in err and "twice" in err, err
    code, err, _ = report(capsys, tmp_path, extra=("--networks", "resnet18", "ResNet18"))
    assert code == 2 and "--networks" in err and "twice" in err, err
    assert not out.exists()


# ----------------------------------------------------------------------------------------------
# Legal edge inputs
# ----------------------------------------------------------------------------------------------


def test_bom_extra_columns_crlf_are_accepted(tmp_path, capsys):
    rows = [[*BASE[0], "act_precision", "wt_precision"], *[[*r, 1, 1] for r in BASE[1:]]]
    path = tmp_path / "edge.csv"
    path.write_bytes(b"\xef\xbb\xbf" + text_of(rows, newline="\r\n").encode())
    net = read_workload_csv(path)
    assert [lay.kind for lay in net.layers] == ["conv", "maxpool", "conv", "fc"]
    code, err, out = report(capsys, tmp_path, path)
    assert code == 0, err
    assert "Tiny" in (out / "networks.csv").read_text()


def test_even_kernel_and_odd_pooling_are_accepted(tmp_path):
    rows = [
        HEADER,
        # 2x2 convs, stride 1, no padding: 7 -> 6 -> 5.
        ["E", "Conv2D", 3, 2, 2, 8, "(None, 7, 7, 3)", "(None, 6, 6, 8)", "(2, 2, 3)",
         7, 7, 3, 6, 6, 8],
        ["E", "Conv2D", 8, 2, 2, 8, "(None, 6, 6, 8)", "(None, 5, 5, 8)", "(2, 2, 8)",
         6, 6, 8, 5, 5, 8],
        # 2x2 stride-2 pool on the odd 5 x 5 map: 2 x 2 (the last row and column are dropped).
        ["E", "MaxPooling2D", 1, 2, 2, 1, "(None, 5, 5, 8)", "(None, 2, 2, 8)", "(2, 2, 1)",
         5, 5, 8, 2, 2, 8],
        # 3x3 stride-2 pool on the same 5 x 5 map (a branch): 2 x 2.
        ["E", "MaxPooling2D_b", 1, 3, 3, 1, "(None, 5, 5, 8)", "(None, 2, 2, 8)", "(3, 3, 1)",
         5, 5, 8, 2, 2, 8],
    ]  # fmt: skip
    path = tmp_path / "even.csv"
    path.write_text(text_of(rows))
    conv1, conv2, pool2, pool3 = read_workload_csv(path).layers
    assert (conv1.kernel_h, conv1.stride, conv1.padding, conv1.out_h) == (2, 1, 0, 6)
    assert (conv2.kernel_h, conv2.stride, conv2.padding, conv2.out_h) == (2, 1, 0, 5)
    assert (pool2.in_h, pool2.out_h, pool2.stride, pool2.padding) == (5, 2, 2, 0)
    assert (pool3.in_h, pool3.out_h, pool3.stride, pool3.padding, pool3.source) == (5, 2, 2, 0, "-")


def test_kernel_20000_is_read_with_linear_work(tmp_path, monkeypatch):
    """The stride/padding search costs O(kernel) steps: counted, not timed.

    The quadratic search it replaces tried every (stride, padding) pair: 4e8 for a kernel of
    20000 whose output follows from no pair, 3 steps per stride here.
    """
    calls = {"n": 0}
    original = workloads._padding_range

    def counted(*args):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        return original(*args)

    monkeypatch.setattr(workloads, "_padding_range", counted)
    k = 20_000
    good = tmp_path / "k20000.csv"
    good.write_text(text_of([HEADER, conv_row(k, k, 1)]))
    (layer,) = read_workload_csv(good).layers
    assert (layer.kernel_h, layer.out_h, layer.stride, layer.padding) == (k, 1, 1, 0)
    assert calls["n"] == 2  # stride 1 fits at once, both dimensions
    calls["n"] = 0
    bad = tmp_path / "k20000_bad.csv"
    bad.write_text(text_of([HEADER, conv_row(k, 2, 3 * k)]))
    with pytest.raises(WorkloadError, match=r"row 2, column 'output_height'"):
        read_workload_csv(bad)
    assert 0 < calls["n"] <= 3 * (k + 1)  # every stride 1 .. k, two dimensions, then one
    calls["n"] = 0
    over = tmp_path / "k100000.csv"
    over.write_text(text_of([HEADER, conv_row(100_000, 100_000, 1)]))
    with pytest.raises(WorkloadError, match=r"column 'kernel_height'.*bound of 65536"):
        read_workload_csv(over)
    assert calls["n"] == 0  # refused by the bound before any search
