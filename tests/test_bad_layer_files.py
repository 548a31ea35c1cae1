"""Bad layer files through ``oxbnn sim --layer F``: one named line, exit 2, before any build.

Every case writes a malformed ``.npz`` (or something that is not one), runs the real command
through :func:`oxbnn.tools.cli.main`, and asserts exit status 2, no traceback, one error line
naming the file and the key (or what the file is), and that the simulator was never built.
The legal edge inputs (bool or int64 bits, even kernels, pooling on odd sizes, ...) must reach
the simulator build. The raw-zip helpers here are shared with ``test_bad_param_files.py``.
"""

from __future__ import annotations

import io
import tracemalloc
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest

from oxbnn.models.layer_io import MAX_MEMBER_BYTES, LayerFileError, load_layer_file
from oxbnn.testbenches import cosim as cosim_module
from oxbnn.tools.cli import main


class Reached(Exception):
    """Raised instead of building the simulator: the input passed every check."""


BUILDS: list[object] = []


def npy_bytes(arr: np.ndarray) -> bytes:
    """One ``.npy`` member exactly as numpy writes it (pickles allowed, to build bad files)."""
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.asanyarray(arr), allow_pickle=True)
    return buf.getvalue()


def header_only(shape: tuple[int, ...], dtype, data: bytes = b"") -> bytes:
    """A hand-written version 2.0 ``.npy`` header declaring ``shape``, followed by ``data``."""
    buf = io.BytesIO()
    header = {
        "descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
        "fortran_order": False,
        "shape": shape,
    }
    np.lib.format.write_array_header_2_0(buf, header)
    return buf.getvalue() + data


def write_zip(path: Path, members: list[tuple[str, bytes]], deflate: bool = False) -> Path:
    """A zip of raw members (duplicates allowed: zipfile only warns about them)."""
    method = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with zipfile.ZipFile(path, "w", compression=method) as zf:
            for name, data in members:
                zf.writestr(name, data)
    return path


def good_layer(**over) -> dict[str, object]:
    """A valid 5 x 6 x 3 -> 4, 3 x 3, padding 1 layer (K = 27); ``None`` drops a key."""
    rng = np.random.default_rng(3)
    d: dict[str, object] = {
        "activations": rng.integers(0, 2, (5, 6, 3), dtype=np.uint8),
        "weights": rng.integers(0, 2, (4, 3, 3, 3), dtype=np.uint8),
        "thresholds": np.array([0, 1, -2, 3], dtype=np.int64),
        "flip": np.array([False, True, False, False]),
        "stride": 1,
        "padding": 1,
        "output": "bit",
        "pool": False,
    }
    d.update(over)
    return {k: v for k, v in d.items() if v is not None}


def layer_members(**over) -> list[tuple[str, bytes]]:
    return [(f"{k}.npy", npy_bytes(np.asarray(v))) for k, v in good_layer(**over).items()]


def _savez(**over):
    def build(path: Path) -> Path:
        np.savez(path, **good_layer(**over))
        return path

    return build


def _zip(members, deflate=False):
    def build(path: Path) -> Path:
        return write_zip(path, members() if callable(members) else members, deflate)

    return build


def _text(data: bytes):
    def build(path: Path) -> Path:
        path.write_bytes(data)
        return path

    return build


def _npy(path: Path) -> Path:
    with path.open("wb") as fh:  # np.save on a path would append ".npy" to the name
        np.save(fh, good_layer()["activations"])
    return path


def _folder(path: Path) -> Path:
    path.mkdir()
    return path


def _missing(path: Path) -> Path:
    return path


def _swap(key: str, data: bytes):
    """The good layer with member ``key`` replaced by raw ``data``."""
    return _zip(lambda: [(n, data if n == f"{key}.npy" else b) for n, b in layer_members()])


def _truncated(path: Path) -> Path:
    members = [(n, b[:-10] if n == "activations.npy" else b) for n, b in layer_members()]
    return write_zip(path, members)


def _corrupt(path: Path) -> Path:
    """A deflated member whose compressed bytes are damaged (CRC / inflate error)."""
    write_zip(path, layer_members(), deflate=True)
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("activations.npy")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    for i in range(start + 5, start + info.compress_size - 2):
        raw[i] ^= 0x5A
    path.write_bytes(bytes(raw))
    return path


BIG = 2**63

#: (id, builder, fragments the one error line must contain).
CASES = [
    ("npy-not-npz", _npy, [".npy file", "is an .npz"]),
    ("text", _text(b"activations,weights\n1,0\n"), ["not a zip archive"]),
    ("empty", _text(b""), ["not a readable .npz layer file"]),
    ("folder", _folder, ["is a folder"]),
    ("missing", _missing, ["no such layer file"]),
    ("member-not-array", _zip(lambda: [*layer_members(), ("notes.txt", b"hi")]), ["notes.txt"]),
    ("member-folder", _zip(lambda: [*layer_members(), ("sub/", b"")]), ["'sub/'"]),
    (
        "duplicate-member",
        _zip(lambda: [*layer_members(), ("thresholds.npy", npy_bytes(np.zeros(4, int)))]),
        ["two members named 'thresholds.npy'"],
    ),
    (
        "pickled-member",
        _swap("thresholds", npy_bytes(np.array([0, 1, None, {}], dtype=object))),
        ["'thresholds'", "object arrays are refused; store plain integer/bool arrays"],
    ),
    ("not-npy-bytes", _swap("weights", b"PK this is no array"), ["'weights' is not a readable"]),
    ("bad-npy-header", _swap("weights", b"\x93NUMPY\x01\x00\x08\x00{'x': 1}"), ["'weights'"]),
    ("truncated-member", _truncated, ["'activations' holds", "header declares"]),
    ("corrupt-deflate", _corrupt, ["'activations' is not a readable"]),
    ("missing-weights", _savez(weights=None), ["missing key(s) ['weights']"]),
    ("missing-thresholds", _savez(thresholds=None), ["missing key(s) ['thresholds']"]),
    ("unknown-key", _savez(bias=np.zeros(4)), ["unknown key(s) ['bias']"]),
    ("act-float", _savez(activations=np.zeros((5, 6, 3))), ["'activations' has dtype float64"]),
    (
        "act-nan",
        _savez(activations=np.full((5, 6, 3), np.nan)),
        ["'activations' has dtype float64", "expected uint8 0/1"],
    ),
    (
        "act-complex",
        _savez(activations=np.zeros((5, 6, 3), complex)),
        ["'activations' has dtype complex128"],
    ),
    ("act-strings", _savez(activations=np.full((5, 6, 3), "1")), ["'activations' has dtype <U1"]),
    (
        "act-datetime",
        _savez(activations=np.zeros((5, 6, 3), "datetime64[s]")),
        ["'activations' has dtype datetime64"],
    ),
    ("act-two", _savez(activations=np.full((5, 6, 3), 2, np.uint8)), ["'activations' holds 2"]),
    ("act-minus-one", _savez(activations=-np.ones((5, 6, 3), int)), ["'activations' holds -1"]),
    ("act-rank-2", _savez(activations=np.zeros((5, 6), np.uint8)), ["'activations' has shape"]),
    ("act-0d", _savez(activations=np.uint8(1)), ["'activations' has shape ()"]),
    (
        "act-empty",
        _savez(activations=np.zeros((0, 6, 3), np.uint8)),
        ["'activations'", "at least 1"],
    ),
    (
        "act-too-high",
        _swap("activations", header_only((70_000, 1, 3), np.uint8)),
        ["'activations' has H = 70000", "65535"],
    ),
    (
        "act-negative-dim",
        _swap("activations", header_only((-5, 6, 3), np.uint8)),
        ["'activations' has shape (-5, 6, 3)", "at least 1"],
    ),
    ("empty-zip", _zip([]), ["missing key(s) ['activations', 'weights', 'thresholds']"]),
    (
        "wgt-rank-3",
        _savez(weights=np.zeros((4, 3, 3), np.uint8)),
        ["'weights' has shape (4, 3, 3)"],
    ),
    ("wgt-empty", _savez(weights=np.zeros((0, 3, 3, 3), np.uint8)), ["'weights'", "at least 1"]),
    ("wgt-255", _savez(weights=np.full((4, 3, 3, 3), 255, np.uint8)), ["'weights' holds 255"]),
    (
        "wgt-c-in",
        _savez(weights=np.zeros((4, 3, 3, 2), np.uint8)),
        ["'weights' has C_in = 2", "'activations' has C_in = 3"],
    ),
    (
        "wgt-kernel-16",
        _swap("weights", header_only((4, 16, 3, 3), np.uint8)),
        ["'weights' has kh = 16", "15 x 15"],
    ),
    (
        "kernel-larger-than-input",
        _savez(weights=np.zeros((4, 7, 7, 3), np.uint8), padding=0),
        ["kernel_h = 7", "'weights'"],
    ),
    ("thr-shape", _savez(thresholds=np.zeros(3, int)), ["'thresholds'", "shape (4,)"]),
    ("thr-0d", _savez(thresholds=np.int64(0)), ["'thresholds'", "shape ()", "(4,)"]),
    ("thr-float", _savez(thresholds=np.zeros(4)), ["'thresholds' has dtype float64"]),
    ("thr-bool", _savez(thresholds=np.zeros(4, bool)), ["'thresholds' has dtype bool"]),
    (
        "thr-uint64-2^63",
        _savez(thresholds=np.array([0, BIG, 0, 0], np.uint64)),
        ["'thresholds' holds 9223372036854775808", "[-28, 28]"],
    ),
    (
        "thr-uint64-max",
        _savez(thresholds=np.array([0, 0, 0, 2**64 - 1], np.uint64)),
        ["'thresholds' holds 18446744073709551615"],
    ),
    (
        "thr-int64-huge",
        _savez(thresholds=np.array([-(10**12), 0, 0, 0])),
        ["'thresholds' holds -1000000000000"],
    ),
    ("thr-just-outside", _savez(thresholds=np.array([0, 29, 0, 0])), ["'thresholds' holds 29"]),
    ("flip-int", _savez(flip=np.zeros(4, int)), ["'flip' has dtype int64", "expected bool"]),
    ("flip-shape", _savez(flip=np.zeros(5, bool)), ["'flip'", "shape (5,)"]),
    ("flip-0d", _savez(flip=np.bool_(True)), ["'flip'", "shape ()"]),
    ("stride-3", _savez(stride=3), ["stride must be 1 or 2, not 3"]),
    ("stride-0", _savez(stride=0), ["stride must be 1 or 2, not 0"]),
    ("stride-float", _savez(stride=1.5), ["'stride' = 1.5; expected an integer"]),
    ("stride-string", _savez(stride="1"), ["'stride' = '1'; expected an integer"]),
    ("stride-bool", _savez(stride=True), ["'stride' = True; expected an integer"]),
    ("stride-vector", _savez(stride=np.array([1, 1])), ["'stride' has shape (2,)"]),
    ("padding-negative", _savez(padding=-1), ["padding must be a non-negative integer"]),
    ("padding-too-big", _savez(padding=3), ["padding = 3 must be smaller than the kernel"]),
    ("padding-uint64", _savez(padding=np.uint64(2**64 - 1)), ["padding = 18446744073709551615"]),
    ("output-float", _savez(output="float"), ["output must be one of", "'float'"]),
    ("output-int-typed", _savez(output=1), ["'output' = 1; expected a string"]),
    (
        "output-huge-string",
        _swap("output", header_only((), np.dtype(f"<U{1 << 24}"))),
        ["'output' has dtype <U16777216", "small scalar"],
    ),
    ("output-bytes", _savez(output=np.bytes_(b"bit")), ["'output' = b'bit'; expected a string"]),
    ("kind-unknown", _savez(kind="pool"), ["kind must be 'conv' or 'fc'"]),
    ("kind-fc-with-image", _savez(kind="fc"), ["an fc layer must be 1 x 1 x K"]),
    ("pool-int", _savez(pool=1), ["'pool' = 1; expected a bool"]),
    ("pool-int-output", _savez(pool=True, output="int"), ["pool = True needs output = 'bit'"]),
    (
        "pool-too-small",
        _savez(
            activations=np.zeros((1, 1, 3), np.uint8),
            weights=np.zeros((4, 1, 1, 3), np.uint8),
            padding=0,
            pool=True,
        ),
        ["pool = True needs an output of at least 2 x 2"],
    ),
]


@pytest.fixture
def no_build(monkeypatch):
    """Making the simulator raises :class:`Reached` and records it: a bad file never gets there."""

    def build(self, xpu, *_, **__):
        BUILDS.append(xpu)
        raise Reached

    BUILDS.clear()
    # The constructor already writes the XPU's Verilog: stop there.
    monkeypatch.setattr(cosim_module.Cosim, "__init__", build)
    yield BUILDS


@pytest.mark.parametrize(("build", "fragments"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_layer_file_is_one_named_line(tmp_path, capsys, no_build, build, fragments):
    path = build(tmp_path / "bad layer.npz")
    rc = main(["sim", "--layer", str(path), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("oxbnn sim: error: "), lines
    assert str(path) in lines[0], lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert "allow_pickle=True" not in lines[0]
    assert not no_build and not (tmp_path / "out").exists()


def test_huge_declared_member_is_refused_fast_without_allocating(tmp_path, capsys, no_build):
    """A small deflated file whose activations header declares 1.25 GiB (16384 x 16384 x 5)."""
    shape = (16384, 16384, 5)
    assert np.prod(shape, dtype=np.int64) > (1 << 30) > MAX_MEMBER_BYTES
    members = [(n, b) for n, b in layer_members(weights=np.zeros((4, 3, 3, 5), np.uint8))]
    members = [
        (n, header_only(shape, np.uint8, bytes(1 << 20)) if n == "activations.npy" else b)
        for n, b in members
    ]
    path = write_zip(tmp_path / "huge.npz", members, deflate=True)
    assert path.stat().st_size < 100_000
    tracemalloc.start()
    try:
        rc = main(["sim", "--layer", str(path), "--out", str(tmp_path / "out")])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    assert f"'activations' declares shape {shape}" in err and str(path) in err
    assert f"at most {MAX_MEMBER_BYTES} bytes" in err
    assert peak < 64 << 20, f"{peak} bytes allocated: the declared member was loaded"


def test_a_layer_too_big_for_the_xpu_stops_before_the_build(tmp_path, capsys, no_build):
    """Fits the file format but not oxbnn50's threshold memory (2048 filters at most)."""
    path = tmp_path / "wide.npz"
    np.savez(
        path,
        **good_layer(
            weights=np.zeros((3000, 1, 1, 3), np.uint8),
            thresholds=np.zeros(3000, np.int64),
            flip=None,
            padding=0,
        ),
    )
    rc = main(["sim", "--layer", str(path), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    assert "3000" in err and "2048" in err, err


#: Legal edge inputs: each must pass every check and reach the simulator build.
EDGE = [
    (
        "bool-bits",
        {"activations": np.ones((5, 6, 3), bool), "weights": np.ones((4, 3, 3, 3), bool)},
    ),
    ("int64-bits", {"activations": np.ones((5, 6, 3), np.int64)}),
    ("big-endian-bits", {"weights": np.ones((4, 3, 3, 3), ">i2")}),
    ("fortran-order", {"activations": np.asfortranarray(np.ones((5, 6, 3), np.uint8))}),
    ("even-kernel", {"weights": np.ones((4, 2, 2, 3), np.uint8), "padding": 1}),
    ("pool-odd-output", {"activations": np.ones((7, 7, 3), np.uint8), "pool": True}),
    ("thr-bounds", {"thresholds": np.array([-28, 28, 0, 28], np.int64)}),
    ("thr-uint8", {"thresholds": np.array([0, 1, 2, 28], np.uint8)}),
    ("stride-uint8", {"stride": np.uint8(2)}),
    ("int-output", {"output": "int", "flip": None}),
    (
        "fc",
        {
            "kind": "fc",
            "activations": np.ones((1, 1, 40), np.uint8),
            "weights": np.ones((4, 1, 1, 40), np.uint8),
            "padding": 0,
        },
    ),
]


@pytest.mark.parametrize("over", [e[1] for e in EDGE], ids=[e[0] for e in EDGE])
def test_legal_edge_layer_reaches_the_simulator(tmp_path, capsys, no_build, over):
    path = tmp_path / "edge.npz"
    np.savez(path, **good_layer(**over))
    main(["sim", "--layer", str(path), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert len(no_build) == 1, err
    assert "oxbnn sim: error" not in err


def test_compressed_layer_file_is_read_like_a_plain_one(tmp_path):
    np.savez(tmp_path / "plain.npz", **good_layer())
    np.savez_compressed(tmp_path / "packed.npz", **good_layer())
    a, b = load_layer_file(tmp_path / "plain.npz"), load_layer_file(tmp_path / "packed.npz")
    assert a.spec == b.spec and np.array_equal(a.activations, b.activations)
    assert a.thresholds.tolist() == [0, 1, -2, 3]


def test_the_loader_never_wraps_a_threshold(tmp_path):
    """The library path: a uint64 threshold of 2**63 is refused, not read as -2**63."""
    np.savez(tmp_path / "t.npz", **good_layer(thresholds=np.array([BIG, 0, 0, 0], np.uint64)))
    with pytest.raises(LayerFileError, match="holds 9223372036854775808 at index 0"):
        load_layer_file(tmp_path / "t.npz")


def test_with_an_xpu_a_layer_that_does_not_fit_is_refused_before_its_arrays_load(tmp_path):
    """oxbnn50: 2048 filters at most; 4096-word activation banks of 19-bit words."""
    from oxbnn.models.derive import xpu_params

    xpu = xpu_params("oxbnn50")
    wide = tmp_path / "wide.npz"
    np.savez(
        wide,
        **good_layer(
            weights=np.zeros((3000, 1, 1, 3), np.uint8),
            thresholds=np.zeros(3000, np.int64),
            flip=None,
            padding=0,
        ),
    )
    with pytest.raises(LayerFileError, match=r"does not fit oxbnn50: out_channels = 3000") as info:
        load_layer_file(wide, xpu=xpu)
    assert str(wide) in str(info.value)
    # 3 x 3000 x 40 bits: a 3-row band needs 3 * 3000 * ceil(40 / 19) = 27000 words > 4096. The
    # activations member is cut short: refused by the plan, it is never read.
    members = [
        (n, header_only((3, 3000, 40), np.uint8) if n == "activations.npy" else b)
        for n, b in layer_members(weights=np.zeros((2, 3, 3, 40), np.uint8),
                                  thresholds=np.zeros(2, np.int64), flip=None, padding=0)
    ]  # fmt: skip
    path = write_zip(tmp_path / "band.npz", members)
    with pytest.raises(LayerFileError, match=r"does not fit oxbnn50: an activation bank"):
        load_layer_file(path, xpu=xpu)
    with pytest.raises(LayerFileError, match=r"'activations' holds 0 data bytes"):
        load_layer_file(path)
    np.savez(tmp_path / "ok.npz", **good_layer())
    assert load_layer_file(tmp_path / "ok.npz", xpu=xpu).spec.out_channels == 4
