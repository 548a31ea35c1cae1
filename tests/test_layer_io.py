"""Layer files for `oxbnn sim`: a good file round-trips, every bad one gets a named error."""

from __future__ import annotations

import numpy as np
import pytest

from oxbnn.models.configs import XpuParams
from oxbnn.models.layer import LayerSpec
from oxbnn.models.layer_io import LayerData, LayerFileError, load_layer_file, save_layer_file
from oxbnn.testbenches.driver import ThresholdError, encode_thresholds


def _good(**over):
    rng = np.random.default_rng(0)
    d = {
        "activations": rng.integers(0, 2, (5, 6, 3), dtype=np.uint8),
        "weights": rng.integers(0, 2, (4, 3, 3, 3), dtype=np.uint8),
        "thresholds": np.array([0, 1, -2, 3]),
        "flip": np.array([False, True, False, False]),
        "stride": 2,
        "padding": 1,
        "output": "bit",
        "pool": False,
    }
    d.update(over)
    return {k: v for k, v in d.items() if v is not None}


def test_round_trip(tmp_path):
    np.savez(tmp_path / "a.npz", **_good())
    data = load_layer_file(tmp_path / "a.npz")
    assert data.spec == LayerSpec(
        kind="conv",
        height=5,
        width=6,
        in_channels=3,
        out_channels=4,
        kernel_h=3,
        kernel_w=3,
        stride=2,
        padding=1,
    )
    save_layer_file(tmp_path / "b.npz", data)
    again = load_layer_file(tmp_path / "b.npz")
    assert again.spec == data.spec
    assert np.array_equal(again.weights, data.weights)
    assert np.array_equal(again.flip, data.flip)


def test_defaults(tmp_path):
    np.savez(
        tmp_path / "a.npz", **_good(flip=None, stride=None, padding=None, output=None, pool=None)
    )
    data = load_layer_file(tmp_path / "a.npz")
    assert (data.spec.stride, data.spec.padding, data.spec.output, data.spec.pool) == (
        1,
        0,
        "bit",
        False,
    )
    assert not data.flip.any()


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"weights": None}, r"missing key\(s\) \['weights'\]"),
        ({"extra": np.zeros(2)}, r"unknown key\(s\) \['extra'\]"),
        (
            {"activations": np.zeros((5, 6, 3), dtype=np.float32)},
            r"'activations' has dtype float32; expected uint8 0/1",
        ),
        (
            {"activations": np.full((5, 6, 3), 2, dtype=np.uint8)},
            r"'activations' holds 2 at \(0, 0, 0\)",
        ),
        (
            {"weights": np.zeros((4, 3, 3), dtype=np.uint8)},
            r"'weights' has shape \(4, 3, 3\); expected \(C_out, kh, kw, C_in\)",
        ),
        (
            {"weights": np.zeros((4, 3, 3, 2), dtype=np.uint8)},
            r"'weights' has C_in = 2 .* 'activations' has C_in = 3",
        ),
        (
            {"thresholds": np.zeros(3, dtype=int)},
            r"'thresholds' .* expected integers of shape \(4,\)",
        ),
        ({"thresholds": np.zeros(4)}, r"'thresholds' has dtype float64"),
        ({"flip": np.zeros(4, dtype=int)}, r"'flip' has dtype int64 .* expected bool"),
        ({"stride": 3}, r"stride must be 1 or 2, not 3"),
        ({"stride": 1.5}, r"'stride' = 1.5; expected an integer"),
        ({"output": "float"}, r"output must be one of \('bit', 'int'\), not 'float'"),
        ({"pool": np.array([True, False])}, r"'pool' has shape \(2,\); expected a scalar"),
        ({"padding": 3}, r"padding = 3 must be smaller than the kernel"),
    ],
)
def test_bad_files(tmp_path, over, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **_good(**over))
    with pytest.raises(LayerFileError, match=message) as info:
        load_layer_file(path)
    assert str(path) in str(info.value)


def test_unreadable(tmp_path):
    with pytest.raises(LayerFileError, match="no such layer file"):
        load_layer_file(tmp_path / "absent.npz")
    (tmp_path / "junk.npz").write_text("not a zip")
    with pytest.raises(LayerFileError, match="not a readable .npz"):
        load_layer_file(tmp_path / "junk.npz")


def test_save_refuses_unsupported_padding(tmp_path):
    spec = LayerSpec(
        kind="conv",
        height=3,
        width=3,
        in_channels=1,
        out_channels=1,
        kernel_h=3,
        kernel_w=3,
        padding=1,
        pad="+1",
    )
    data = LayerData(
        spec,
        np.zeros((3, 3, 1), np.uint8),
        np.zeros((1, 3, 3, 1), np.uint8),
        np.zeros(1, np.int64),
        np.zeros(1, bool),
    )
    with pytest.raises(LayerFileError, match="only 'dark' padding"):
        save_layer_file(tmp_path / "x.npz", data)


# The driver's own check, for library users (the threshold word is Widths.dot bits, signed).
# The XPU below has N = 4 lanes and 1024-word weight banks: the longest vector is 4096 bits, so
# the word holds +-4097 and needs 14 bits: [-8192, 8191].
_XPU = XpuParams(n_lanes=4, n_xpes=2, gamma=2, adc_bits=4, max_out_channels=8)


def test_encode_thresholds_refuses_what_the_word_cannot_hold():
    spec = LayerSpec.fc(6, 2)
    ok = encode_thresholds(np.array([8191, -8192]), None, spec, _XPU)
    assert [e["value"] for e in ok] == [7, -7]  # clamped to +-(K+1), K = 6
    for bad, match in [
        (np.array([8192, 0]), r"thresholds\[0\] = 8192 does not fit the 14-bit signed"),
        (np.array([0, -8193]), r"thresholds\[1\] = -8193 does not fit"),
        (np.array([0, 2**63], np.uint64), r"thresholds\[1\] = 9223372036854775808 does not fit"),
        (np.array([0, 2**70], object), r"thresholds\[1\] = 1180591620717411303424 does not"),
        (np.array([0.0, 1.0]), r"thresholds have dtype float64; expected integers"),
        (np.array([True, False]), r"thresholds have dtype bool"),
        (np.array([0, "1"], object), r"thresholds\[1\] = '1'; expected an integer"),
    ]:
        with pytest.raises(ThresholdError, match=match):
            encode_thresholds(bad, None, spec, _XPU)
    with pytest.raises(ThresholdError, match="flip must be bool or integer 0/1"):
        encode_thresholds(np.array([0, 1]), np.array([0, 2]), spec, _XPU)
    assert [e["flip"] for e in encode_thresholds([0, 1], np.array([1, 0]), spec, _XPU)] == [1, 0]
