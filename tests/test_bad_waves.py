"""Bad waveform files and windows for ``oxbnn waves``: one line naming the file or option, exit 2.

Every case runs the real command (:func:`oxbnn.tools.cli.main`) on a file made here, and must
end at once (a pipe or a device is refused without being read, a huge window on a small file is
clamped). The legal variants of the format (timescales with a space, ``10ns``, no
``$timescale`` read in cycles, no final newline) are read.
"""

from __future__ import annotations

import json
import os
import signal

import pytest

from oxbnn.tools.cli import main


@pytest.fixture(autouse=True)
def no_hang():
    """A command that blocks (a FIFO opened for reading, an endless loop) fails after 60 s
    instead of hanging the suite; nothing here measures speed."""

    def fail(signum, frame):
        raise AssertionError("oxbnn waves did not return within 60 s (a hang)")

    previous = signal.signal(signal.SIGALRM, fail)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


CYCLES = 20  # rising edges in the file made by _vcd; cycles 0 .. 18


def _vcd_text(timescale: str | None = "$timescale 1ps $end", clock: str = "clk") -> str:
    """A VCD of a 10-time-unit clock with 20 rising edges and one 2-bit pca_sample pulse."""
    lines = [timescale] if timescale else []
    lines += [
        "$scope module top $end",
        f"$var wire 1 ! {clock} $end",
        '$var wire 2 " pca_sample $end',
        "$upscope $end",
        "$enddefinitions $end",
    ]
    for k in range(CYCLES):
        lines += [
            f"#{10 * k}",
            "1!",
            f"#{10 * k + 1}",
            f'b{1 if k == 4 else 0:b} "',
            f"#{10 * k + 5}",
        ]
        lines.append("0!")
    return "\n".join(lines) + "\n"


def _write(path, text: str | bytes):
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


GOOD = _vcd_text()
HEADER_END = GOOD.index("$enddefinitions")


def _make(tmp_path, kind: str):
    """The bad file of ``kind``; returns its path."""
    p = tmp_path / "t.vcd"
    if kind == "missing":
        return tmp_path / "none.vcd"
    if kind == "folder":
        p.mkdir()
        return p
    if kind == "fifo":
        os.mkfifo(p)
        return p
    makers = {
        "empty": "",
        "text": "this is not a waveform\n",
        "json": json.dumps({"signals": []}),
        "binary": bytes(range(256)) * 8,
        "fst": b"\x00\x00\x00\x00\x00\x00\x00\x00\x21FST" + bytes(200),
        "latin1": GOOD.replace("$scope", "$comment caf\xe9 $end\n$scope", 1).encode("latin-1"),
        "cut_header": GOOD[: HEADER_END - 20],
        "cut_body": GOOD[: GOOD.index("#41") + 2] + "\nb1",
        "no_vars": "$timescale 1ns $end\n$enddefinitions $end\n#0\n#10\n",
        "no_clock": _vcd_text(clock="data"),
        "one_edge": GOOD[: GOOD.index("#10\n")],
        "timescale_7ns": _vcd_text("$timescale 7ns $end"),
        "timescale_1000ps": _vcd_text("$timescale 1000ps $end"),
        "timescale_furlong": _vcd_text("$timescale 1 furlong $end"),
        "timescale_empty": _vcd_text("$timescale $end"),
    }
    return _write(p if kind != "fst" else tmp_path / "t.fst", makers[kind])


#: (file kind, extra options, text the one-line error must contain besides the file name)
BAD_FILES = [
    ("missing", [], "no such VCD file"),
    ("folder", [], "is a folder"),
    ("fifo", [], "not a regular file"),
    ("empty", [], "the file is empty"),
    ("text", [], "no $enddefinitions"),
    ("json", [], "no $enddefinitions"),
    ("binary", [], "a binary file"),
    ("fst", [], "an FST trace"),
    ("latin1", [], "not UTF-8"),
    ("cut_header", [], "no $enddefinitions"),
    ("cut_body", [], "malformed or truncated VCD"),
    ("no_vars", [], "declares no signals"),
    ("no_clock", [], "no 1-bit signal named 'clk'"),
    ("one_edge", [], "fewer than two rising edges"),
    ("timescale_7ns", [], "$timescale '7ns' is not a VCD timescale"),
    ("timescale_1000ps", [], "$timescale '1000ps' is not a VCD timescale"),
    ("timescale_furlong", [], "$timescale '1 furlong' is not a VCD timescale"),
    ("timescale_empty", [], "is not a VCD timescale"),
]


@pytest.mark.parametrize(("kind", "extra", "named"), BAD_FILES, ids=[k for k, *_ in BAD_FILES])
def test_bad_file_is_one_line_naming_it(tmp_path, capsys, kind, extra, named):
    path = _make(tmp_path, kind)
    rc = main(["waves", str(path), *extra])  # a hang fails through the no_hang fixture
    captured = capsys.readouterr()
    assert rc == 2, captured
    assert "Traceback" not in captured.err
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"oxbnn waves: error: {path}: "), lines[0]
    assert named in lines[0], lines[0]


#: (options on a good file, text the one-line error must contain: the option named)
BAD_WINDOWS = [
    (["--signals", "nothing_like_this"], "--signals nothing_like_this match no signal"),
    (["--events", "nothing_like_this"], "--events 'nothing_like_this' matches no signal"),
    (["--clock", "ck"], "no clock signal 'ck'"),
    (["--clock", "pca_sample"], "clock 'top.pca_sample' has fewer than two rising edges"),
    (["--from", "19"], "--from 19 (cycle 19) is past the last cycle"),
    (["--from", str(2**62)], "is past the last cycle"),
    (["--from", "1000000000000000000000000000000ns"], "--from 1000000000000000000000000000000ns"),
    (["--from", "50ps", "--to", "20ps"], "--to 20ps (cycle 2) is before --from 50ps (cycle 5)"),
    (["--events", "pca_sample", "--from", "12", "--to", "3"], "--to 3 is before --from 12"),
]


@pytest.mark.parametrize(("extra", "named"), BAD_WINDOWS, ids=[" ".join(e) for e, _ in BAD_WINDOWS])
def test_bad_window_or_pattern_is_one_line(tmp_path, capsys, extra, named):
    path = _write(tmp_path / "t.vcd", GOOD)
    rc = main(["waves", str(path), *extra])
    captured = capsys.readouterr()
    assert rc == 2, captured
    assert "Traceback" not in captured.err
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and named in lines[0], lines


def test_a_time_without_timescale_is_refused_but_cycles_are_read(tmp_path, capsys):
    path = _write(tmp_path / "t.vcd", _vcd_text(timescale=None))
    assert main(["waves", str(path), "--from", "30ps"]) == 2
    err = capsys.readouterr().err
    assert "--from '30ps'" in err and f"{path} has no $timescale" in err, err
    assert (
        main(["waves", str(path), "--signals", "pca_sample", "--from", "3", "--to", "5", "--json"])
        == 0
    )
    rows = {r["cycle"]: r["top.pca_sample"] for r in json.loads(capsys.readouterr().out)["rows"]}
    assert rows == {3: 0, 4: 1, 5: 0}


@pytest.mark.parametrize(
    ("timescale", "to", "last"),
    [
        ("$timescale 1ps $end", "50ps", 5),
        ("$timescale\n  1 ps\n$end", "50ps", 5),  # spread over lines, with a space
        ("$timescale 10fs $end", "500fs", 5),  # one clock period = 100 fs
        ("$timescale 100fs $end", "5ps", 5),  # one clock period = 1 ps
    ],
)
def test_legal_timescales_convert_times(tmp_path, capsys, timescale, to, last):
    path = _write(tmp_path / "t.vcd", _vcd_text(timescale))
    assert main(["waves", str(path), "--signals", "pca_sample", "--to", to, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert [r["cycle"] for r in rows] == list(range(last + 1))
    assert [r["top.pca_sample"] for r in rows] == [0, 0, 0, 0, 1, 0]


def test_no_final_newline_is_read(tmp_path, capsys):
    path = _write(tmp_path / "t.vcd", GOOD.rstrip("\n"))
    assert main(["waves", str(path), "--list", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["signals"]) == 2


def test_a_huge_window_on_a_small_file_returns_at_once(tmp_path, capsys):
    path = _write(tmp_path / "t.vcd", GOOD)
    for extra in (["--to", str(2**62)], ["--events", "pca_sample", "--to", "100000000s"]):
        assert main(["waves", str(path), *extra, "--max-rows", "1000000", "--json"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert len(out.get("rows", out.get("events"))) in (CYCLES - 1, 1), out


def test_a_file_over_the_size_bound_is_refused_before_it_is_read(tmp_path, capsys, monkeypatch):
    from oxbnn.testbenches import waves

    monkeypatch.setattr(waves, "MAX_VCD_BYTES", 100)
    path = _write(tmp_path / "t.vcd", GOOD)
    assert main(["waves", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"oxbnn waves: error: {path}: {len(GOOD)} bytes; "), err
    assert "up to 100 bytes" in err and "Traceback" not in err
