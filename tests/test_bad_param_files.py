"""Bad digits parameter files through ``oxbnn infer --params F``: one named line, exit 2.

Every case starts from the shipped parameters (:func:`oxbnn.models.digits.load_params`), breaks
one thing, writes the file, runs the real command through :func:`oxbnn.tools.cli.main` and
asserts exit status 2, no traceback, one error line naming the file and the key, and that the
simulator was never made. The values expected in the messages come from the digits network's
documented layout (conv K = 27, fc K = 512, 32 channels), not from the loader.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from test_bad_layer_files import header_only, npy_bytes, write_zip

from oxbnn.models.digits import DigitsParamsError, load_params
from oxbnn.models.layer_io import MAX_MEMBER_BYTES
from oxbnn.testbenches import cosim as cosim_module
from oxbnn.tools.cli import main

BIG = 2**63


def arrays(**over) -> dict[str, np.ndarray]:
    """The shipped parameters as the file's arrays, with ``over`` applied (``None`` drops)."""
    d = load_params().to_arrays()
    d.update(over)
    return {k: v for k, v in d.items() if v is not None}


def members(**over) -> list[tuple[str, bytes]]:
    return [(f"{k}.npy", npy_bytes(np.asarray(v))) for k, v in arrays(**over).items()]


def _savez(**over):
    def build(path: Path) -> Path:
        np.savez(path, **arrays(**over))
        return path

    return build


def _change(fn):
    """Apply ``fn`` to the shipped arrays (it returns the replacement items)."""

    def build(path: Path) -> Path:
        d = arrays()
        d.update(fn(d))
        np.savez(path, **d)
        return path

    return build


def _zip(make):
    def build(path: Path) -> Path:
        return write_zip(path, make())

    return build


def _swap(key: str, data: bytes):
    return _zip(lambda: [(n, data if n == f"{key}.npy" else b) for n, b in members()])


def _text(data: bytes):
    def build(path: Path) -> Path:
        path.write_bytes(data)
        return path

    return build


def _npy(path: Path) -> Path:
    with path.open("wb") as fh:
        np.save(fh, arrays()["conv_weights"])
    return path


def _folder(path: Path) -> Path:
    path.mkdir()
    return path


def _truncated(path: Path) -> Path:
    return write_zip(path, [(n, b[:-3] if n == "fc_weights.npy" else b) for n, b in members()])


def _fc_thr(values):
    return _change(lambda d: {"fc_thresholds": np.asarray(values)})


CASES = [
    ("npy-not-npz", _npy, [".npy file", "is an .npz"]),
    ("text", _text(b"conv_weights = 1\n"), ["not a readable .npz parameter file"]),
    ("empty", _text(b""), ["not a readable .npz parameter file"]),
    ("folder", _folder, ["is a folder"]),
    ("missing", lambda p: p, ["digits parameter file does not exist"]),
    ("member-not-array", _zip(lambda: [*members(), ("README", b"x")]), ["'README'"]),
    (
        "duplicate-member",
        _zip(lambda: [*members(), ("fc_flip.npy", npy_bytes(np.zeros(32, bool)))]),
        ["two members named 'fc_flip.npy'"],
    ),
    (
        "pickled-member",
        _swap("conv_thresholds", npy_bytes(np.array([None] * 32, dtype=object))),
        ["'conv_thresholds'", "object arrays are refused; store plain integer/bool arrays"],
    ),
    ("not-npy-bytes", _swap("fc_weights", b"garbage!"), ["'fc_weights' is not a readable"]),
    ("negative-dim", _swap("fc_flip", header_only((-32,), bool)), ["fc_flip has shape (-32,)"]),
    ("empty-zip", _zip(lambda: []), ["missing key(s) input_levels, conv_weights"]),
    ("truncated-member", _truncated, ["'fc_weights' holds", "header declares"]),
    ("missing-key", _savez(fc_thresholds=None), ["missing key(s) fc_thresholds"]),
    ("missing-record", _savez(command=None), ["missing key(s) command"]),
    ("unknown-key", _savez(bias=np.zeros(3)), ["unknown key(s) bias"]),
    (
        "conv-weights-shape",
        _change(lambda d: {"conv_weights": d["conv_weights"][:, :2]}),
        ["conv_weights has shape (32, 2, 3, 3); expected (32, 3, 3, 3)"],
    ),
    (
        "fc-weights-rank",
        _change(lambda d: {"fc_weights": d["fc_weights"].reshape(32, 512)}),
        ["fc_weights has shape (32, 512)"],
    ),
    (
        "conv-weights-float",
        _change(lambda d: {"conv_weights": d["conv_weights"].astype(float)}),
        ["conv_weights has dtype float64; expected uint8"],
    ),
    (
        "out-weights-int64",
        _change(lambda d: {"out_weights": d["out_weights"].astype(np.int64)}),
        ["out_weights has dtype int64"],
    ),
    (
        "conv-weights-2",
        _change(lambda d: {"conv_weights": d["conv_weights"] * 2}),
        ["conv_weights holds 2"],
    ),
    ("fc-thr-float", _fc_thr(np.zeros(32)), ["fc_thresholds has dtype float64; expected int64"]),
    ("fc-thr-uint64", _fc_thr(np.full(32, BIG, np.uint64)), ["fc_thresholds has dtype uint64"]),
    ("fc-thr-0d", _fc_thr(np.int64(3)), ["fc_thresholds has shape (); expected (32,)"]),
    ("fc-thr-range", _fc_thr(np.full(32, 10**6)), ["'fc_thresholds' holds 1000000", "513"]),
    (
        "conv-thr-just-outside",
        _change(lambda d: {"conv_thresholds": np.full(32, -29, np.int64)}),
        ["'conv_thresholds' holds -29", "[-28, 28]"],
    ),
    (
        "conv-flip-uint8",
        _change(lambda d: {"conv_flip": d["conv_flip"].astype(np.uint8)}),
        ["conv_flip has dtype uint8"],
    ),
    ("levels-order", _savez(input_levels=np.array([8, 4, 12])), ["input_levels is [8, 4, 12]"]),
    ("levels-range", _savez(input_levels=np.array([0, 8, 17])), ["input_levels", "1..16"]),
    ("levels-float", _savez(input_levels=np.array([4.0, 8, 12])), ["input_levels has dtype"]),
    ("accuracy-nan", _savez(test_accuracy=np.float64("nan")), ["test_accuracy = nan"]),
    ("accuracy-wrong", _savez(train_accuracy=np.float64(1.5)), ["train_accuracy = 1.5"]),
    ("images-zero", _savez(test_images=np.int64(0)), ["test_accuracy", "test_images"]),
    ("seed-float", _savez(seed=np.float64(1.0)), ["seed has dtype float64"]),
    ("seed-vector", _savez(seed=np.array([1, 2])), ["seed has shape (2,); expected ()"]),
    ("command-int", _savez(command=np.int64(3)), ["command has dtype int64; expected a string"]),
    (
        "huge-fc-weights",
        _swap("fc_weights", header_only((32, 1, 1, 1 << 30), np.uint8, bytes(1000))),
        ["fc_weights has shape (32, 1, 1, 1073741824); expected (32, 1, 1, 512)"],
    ),
    (
        "huge-command",
        _swap("command", header_only((), np.dtype(f"<U{1 << 28}"))),
        ["command has dtype <U268435456", "at most 16384 characters"],
    ),
]


@pytest.fixture
def no_build(monkeypatch):
    """Making the simulator records it and raises: a bad file never gets that far."""
    made: list[object] = []

    def make(self, xpu, *_, **__):
        made.append(xpu)
        raise RuntimeError("simulator made")

    monkeypatch.setattr(cosim_module.Cosim, "__init__", make)
    return made


def _infer(tmp_path: Path, params: Path) -> int:
    return main(
        ["infer", "--preset", "oxbnn50", "--images", "1", "--params", str(params), "--out",
         str(tmp_path / "out")]
    )  # fmt: skip


@pytest.mark.parametrize(("build", "fragments"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_param_file_is_one_named_line(tmp_path, capsys, no_build, build, fragments):
    path = build(tmp_path / "bad params.npz")
    rc = _infer(tmp_path, path)
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("oxbnn infer: error: "), lines
    assert str(path) in lines[0], lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert "allow_pickle=True" not in lines[0]
    assert not no_build


def test_huge_declared_member_is_refused_without_allocating(tmp_path):
    """A member declaring 2 GiB under a key the layout does not have is refused by its name,
    from the headers, at once (every known key has one exact shape, which bounds its size)."""
    data = header_only((1 << 31,), np.uint8, bytes(1 << 16))
    path = write_zip(tmp_path / "p.npz", [*members(), ("junk.npy", data)])
    tracemalloc.start()
    try:
        with pytest.raises(DigitsParamsError, match="unknown key.*junk"):
            load_params(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20, f"{peak} bytes allocated: the declared member was loaded"
    assert (1 << 31) > MAX_MEMBER_BYTES


def test_legal_parameter_files_reach_the_simulator(tmp_path, capsys, no_build):
    """The shipped arrays, compressed, and with thresholds at exactly -(K+1) and K+1."""
    path = tmp_path / "edge.npz"
    d = arrays()
    d["conv_thresholds"] = np.where(np.arange(32) % 2, 28, -28).astype(np.int64)
    d["fc_thresholds"] = np.where(np.arange(32) % 2, 513, -513).astype(np.int64)
    np.savez_compressed(path, **d)
    net = load_params(path)
    assert net.thresholds[1].tolist()[:2] == [-513, 513]
    _infer(tmp_path, path)
    err = capsys.readouterr().err
    assert len(no_build) == 1, err
    assert "oxbnn infer: error:" not in err
