"""Tests of the golden BNN model (models/bnn.py).

Directed cases whose expected numbers are derived by hand in the comments, then a seeded sweep
comparing the XNOR-popcount model with an independent +-1 convolution written here.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from oxbnn.models.bnn import (
    BnnError,
    conv_dot,
    im2col,
    layer_forward,
    maxpool_or,
    random_layer,
    threshold,
)
from oxbnn.models.layer import LayerSpec


def bits(rows: list) -> np.ndarray:
    return np.array(rows, dtype=np.uint8)


# ----------------------------------------------------------------------------------------------
# Independent reference: a +-1 convolution with explicit padding, looping over kernel offsets
# ----------------------------------------------------------------------------------------------


def ref_conv(act: np.ndarray, weights: np.ndarray, spec: LayerSpec) -> tuple[np.ndarray, ...]:
    """+-1 convolution; dark padding is a 0 in the +-1 domain, "+1"/"-1" pad with that value."""
    a = 2 * act.reshape(spec.height, spec.width, spec.in_channels).astype(np.int64) - 1
    w = (
        2
        * weights.reshape(spec.out_channels, spec.kernel_h, spec.kernel_w, spec.in_channels).astype(
            np.int64
        )
        - 1
    )
    p, s = spec.padding, spec.stride
    fill = {"dark": 0, "+1": 1, "-1": -1}[spec.pad]
    a_pad = np.full((spec.height + 2 * p, spec.width + 2 * p, spec.in_channels), fill, np.int64)
    a_pad[p : p + spec.height, p : p + spec.width] = a
    # 1 where a pixel counts in K_valid.
    counts = np.full(a_pad.shape[:2], 0 if spec.pad == "dark" else 1, np.int64)
    counts[p : p + spec.height, p : p + spec.width] = 1

    dot = np.zeros((spec.out_h, spec.out_w, spec.out_channels), np.int64)
    k_valid = np.zeros((spec.out_h, spec.out_w), np.int64)
    rows = s * (spec.out_h - 1) + 1
    cols = s * (spec.out_w - 1) + 1
    for ky in range(spec.kernel_h):
        for kx in range(spec.kernel_w):
            patch = a_pad[ky : ky + rows : s, kx : kx + cols : s]  # (out_h, out_w, C_in)
            dot += patch @ w[:, ky, kx, :].T
            k_valid += counts[ky : ky + rows : s, kx : kx + cols : s] * spec.in_channels
    return dot, k_valid


def ref_threshold(dot: np.ndarray, t: np.ndarray, flip: np.ndarray) -> np.ndarray:
    out = np.zeros(dot.shape, np.uint8)
    for idx in np.ndindex(dot.shape):
        c = idx[-1]
        out[idx] = (dot[idx] <= t[c]) if flip[c] else (dot[idx] >= t[c])
    return out


def ref_pool(b: np.ndarray) -> np.ndarray:
    h, w, c = b.shape
    out = np.zeros((h // 2, w // 2, c), np.uint8)
    for y in range(h // 2):
        for x in range(w // 2):
            for ch in range(c):
                out[y, x, ch] = int(
                    any(b[2 * y + dy, 2 * x + dx, ch] for dy in (0, 1) for dx in (0, 1))
                )
    return out


def random_spec(rng: np.random.Generator) -> LayerSpec:
    output = str(rng.choice(["bit", "int"]))
    if rng.random() < 0.15:
        return LayerSpec.fc(int(rng.integers(1, 70)), int(rng.integers(1, 6)), output=output)
    kh, kw = (int(v) for v in rng.integers(1, 4, size=2))
    padding = int(rng.integers(0, max(kh, kw)))
    spec = LayerSpec(
        kind="conv",
        height=int(rng.integers(max(1, kh - 2 * padding), 8)),
        width=int(rng.integers(max(1, kw - 2 * padding), 8)),
        in_channels=int(rng.integers(1, 6)),
        out_channels=int(rng.integers(1, 5)),
        kernel_h=kh,
        kernel_w=kw,
        stride=int(rng.choice([1, 2])),
        padding=padding,
        pad=str(rng.choice(["dark", "+1", "-1"])),
        output=output,
    )
    if output == "bit" and spec.out_h >= 2 and spec.out_w >= 2 and rng.random() < 0.5:
        spec = dataclasses.replace(spec, pool=True)
    return spec


# ----------------------------------------------------------------------------------------------
# Directed cases
# ----------------------------------------------------------------------------------------------

# 3 x 3 input, 1 channel, one 2 x 2 filter, padding 1, stride 1 -> out = (3 + 2 - 2) + 1 = 4.
# In +-1: A = [[+ - +], [- + -], [+ - +]] (checkerboard), w = [[+ +], [- +]].
# Output (oy, ox) sees input rows oy-1..oy, cols ox-1..ox. K_valid: a corner window holds 1 real
# pixel, an edge window 2, an inner one 4.
# Row 0 sees only input row 0 (+ - +) through w's bottom row (- +):
#   ox=0: A00*w11 = +1;  ox=1: A00*w10 + A01*w11 = -1 - 1 = -2;
#   ox=2: A01*w10 + A02*w11 = +1 + 1 = 2;  ox=3: A02*w10 = -1.
# Row 3 sees only input row 2 (+ - +) through w's top row (+ +):
#   ox=0: +1;  ox=1: +1 - 1 = 0;  ox=2: -1 + 1 = 0;  ox=3: +1.
# Row 1 (input rows 0, 1):
#   ox=0: A00*w01 + A10*w11 = 1 - 1 = 0;  ox=1: 1 - 1 + 1 + 1 = 2;
#   ox=2: A01 w00 + A02 w01 + A11 w10 + A12 w11 = -1 + 1 - 1 - 1 = -2;  ox=3: A02 w00 + A12 w10 = 2.
# Row 2 (input rows 1, 2):
#   ox=0: A10 w01 + A20 w11 = -1 + 1 = 0;  ox=1: -1 + 1 - 1 - 1 = -2;
#   ox=2: A11 w00 + A12 w01 + A21 w10 + A22 w11 = 1 - 1 + 1 + 1 = 2;  ox=3: A12 w00 + A22 w10 = -2.
SMALL_SPEC = LayerSpec("conv", 3, 3, 1, 1, kernel_h=2, kernel_w=2, padding=1, output="int")
SMALL_ACT = bits([[1, 0, 1], [0, 1, 0], [1, 0, 1]])[:, :, None]
SMALL_W = bits([[1, 1], [0, 1]])[None, :, :, None]
SMALL_DOT = [[1, -2, 2, -1], [0, 2, -2, 2], [0, -2, 2, -2], [1, 0, 0, 1]]
SMALL_K_VALID = [[1, 2, 2, 1], [2, 4, 4, 2], [2, 4, 4, 2], [1, 2, 2, 1]]


def test_small_conv_by_hand():
    dot, k_valid = conv_dot(SMALL_ACT, SMALL_W, SMALL_SPEC)
    assert dot.dtype == np.int64 and k_valid.dtype == np.int64
    assert dot.shape == (4, 4, 1)
    np.testing.assert_array_equal(dot[:, :, 0], SMALL_DOT)
    np.testing.assert_array_equal(k_valid, SMALL_K_VALID)
    out = layer_forward(SMALL_ACT, SMALL_W, None, SMALL_SPEC)
    np.testing.assert_array_equal(out[:, :, 0], SMALL_DOT)


def test_small_im2col_by_hand():
    vectors, valid = im2col(SMALL_ACT, SMALL_SPEC)
    assert vectors.shape == valid.shape == (16, 4)
    assert vectors.dtype == np.uint8 and valid.dtype == bool
    # Position (0, 0): only the window's bottom-right bit, A[0, 0] = 1, is real.
    np.testing.assert_array_equal(valid[0], [False, False, False, True])
    assert vectors[0, 3] == 1
    # Position (1, 1) = row 5: input rows 0..1, cols 0..1 = A00 A01 A10 A11 = 1 0 0 1.
    np.testing.assert_array_equal(vectors[5], [1, 0, 0, 1])
    assert valid[5].all()
    # Position (3, 3) = row 15: only the top-left bit, A[2, 2] = 1, is real.
    np.testing.assert_array_equal(valid[15], [True, False, False, False])
    assert vectors[15, 0] == 1
    np.testing.assert_array_equal(valid.sum(axis=1).reshape(4, 4), SMALL_K_VALID)


def test_im2col_order_is_ky_kx_c():
    # 2 x 2 x 2 input and a 2 x 2 kernel: one position whose vector is the whole input. A single
    # 1 at (y, x, c) must land at index (y * 2 + x) * 2 + c.
    spec = LayerSpec("conv", 2, 2, 2, 1, kernel_h=2, kernel_w=2)
    for y in range(2):
        for x in range(2):
            for c in range(2):
                act = np.zeros((2, 2, 2), np.uint8)
                act[y, x, c] = 1
                vectors, valid = im2col(act, spec)
                assert vectors.shape == (1, 8) and valid.all()
                assert list(np.flatnonzero(vectors[0])) == [(y * 2 + x) * 2 + c]


def test_im2col_positions_are_row_major():
    # 2 x 3 input, 1 x 1 kernel: position i is pixel (i // 3, i % 3).
    spec = LayerSpec("conv", 2, 3, 1, 1)
    act = np.zeros((2, 3, 1), np.uint8)
    act[1, 0, 0] = 1  # position 3
    vectors, _ = im2col(act, spec)
    assert list(vectors[:, 0]) == [0, 0, 0, 1, 0, 0]


@pytest.mark.parametrize(
    ("pad", "expected_dot", "expected_k", "pad_bit", "pad_valid"),
    [
        # 2 x 2 input of -1, 3 x 3 filter of +1, padding 1: every window holds the 4 real pixels
        # (each -1 * +1 = -1) and 5 padded ones.
        ("dark", -4, 4, 0, False),  # padding does not count: dot = -4, K_valid = 4
        ("+1", 5 - 4, 9, 1, True),  # 5 padded +1s agree with the filter
        ("-1", -5 - 4, 9, 0, True),  # 5 padded -1s disagree
    ],
)
def test_pad_values(pad, expected_dot, expected_k, pad_bit, pad_valid):
    spec = LayerSpec("conv", 2, 2, 1, 1, kernel_h=3, kernel_w=3, padding=1, pad=pad, output="int")
    act = np.zeros((2, 2, 1), np.uint8)
    w = np.ones((1, 3, 3, 1), np.uint8)
    dot, k_valid = conv_dot(act, w, spec)
    assert dot.shape == (2, 2, 1)
    assert (dot == expected_dot).all(), dot[:, :, 0]
    assert (k_valid == expected_k).all(), k_valid
    # Position (0, 0) sees padded row -1 (vector indices 0..2), padded column -1 (indices 3, 6)
    # and the real pixels at indices 4, 5, 7, 8.
    vectors, valid = im2col(act, spec)
    padded = [0, 1, 2, 3, 6]
    real = [4, 5, 7, 8]
    assert (valid[0, padded] == pad_valid).all() and valid[0, real].all()
    assert (vectors[0, padded] == pad_bit).all() and (vectors[0, real] == 0).all()


def test_stride_two():
    # 5 x 5 input of -1 with +1 at (0, 0) and along column 4; 3 x 3 filter of +1, stride 2, no
    # padding -> out = (5 - 3) // 2 + 1 = 2. Windows start at rows/cols 0 and 2:
    #   (0, 0): rows 0-2, cols 0-2 hold one +1      -> 1 - 8 = -7
    #   (0, 1): rows 0-2, cols 2-4 hold (0..2, 4)   -> 3 - 6 = -3
    #   (1, 0): rows 2-4, cols 0-2 hold none        -> -9
    #   (1, 1): rows 2-4, cols 2-4 hold (2..4, 4)   -> 3 - 6 = -3
    spec = LayerSpec("conv", 5, 5, 1, 1, kernel_h=3, kernel_w=3, stride=2, output="int")
    act = np.zeros((5, 5, 1), np.uint8)
    act[0, 0] = 1
    act[:, 4] = 1
    out = layer_forward(act, np.ones((1, 3, 3, 1), np.uint8), None, spec)
    np.testing.assert_array_equal(out[:, :, 0], [[-7, -3], [-9, -3]])


def test_stride_two_with_padding_k_valid():
    # 4 x 4 x 2 input, 3 x 3 kernel, stride 2, padding 1 -> out = (4 + 2 - 3) // 2 + 1 = 2.
    # Window (0, 0) covers input rows/cols -1..1: 2 x 2 real pixels; (0, 1) rows -1..1, cols 1..3:
    # 2 x 3; (1, 0): 3 x 2; (1, 1): 3 x 3. Times 2 channels.
    spec = LayerSpec("conv", 4, 4, 2, 3, kernel_h=3, kernel_w=3, stride=2, padding=1)
    _, k_valid = conv_dot(np.ones((4, 4, 2), np.uint8), np.ones((3, 3, 3, 2), np.uint8), spec)
    np.testing.assert_array_equal(k_valid, [[8, 12], [12, 18]])


def test_window_wholly_in_padding():
    # A 1 x 3 kernel with padding 2 on a 1 x 1 input: output row 0 sees input row -2 only, so
    # K_valid = 0 and dot = 0 there. Output is (1 + 4 - 1) + 1 = 5 rows by (1 + 4 - 3) + 1 = 3.
    spec = LayerSpec("conv", 1, 1, 1, 1, kernel_h=1, kernel_w=3, padding=2, output="int")
    dot, k_valid = conv_dot(np.ones((1, 1, 1), np.uint8), np.ones((1, 1, 3, 1), np.uint8), spec)
    # Only the middle output row (row 2) sees the input pixel, from all three columns.
    np.testing.assert_array_equal(k_valid, [[0, 0, 0], [0, 0, 0], [1, 1, 1], [0, 0, 0], [0, 0, 0]])
    np.testing.assert_array_equal(dot[:, :, 0], k_valid)  # +1 * +1 where real, 0 elsewhere


def test_threshold_and_flip():
    # Channel 0: normal, threshold 0 -> 1 for dot >= 0. Channel 1: flipped, threshold 0 -> 1 for
    # dot <= 0. Channel 2: normal, threshold 2. A dot equal to the threshold gives 1 both ways.
    dot = np.array([[d, d, d] for d in (-2, -1, 0, 1, 2)], np.int64)
    out = threshold(dot, np.array([0, 0, 2]), np.array([False, True, False]))
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out[:, 0], [0, 0, 1, 1, 1])
    np.testing.assert_array_equal(out[:, 1], [1, 1, 1, 0, 0])
    np.testing.assert_array_equal(out[:, 2], [0, 0, 0, 0, 1])
    # flip=None is no channel flipped; flip may be given as 0/1 integers.
    np.testing.assert_array_equal(threshold(dot, [0, 0, 2]), threshold(dot, [0, 0, 2], [0, 0, 0]))
    np.testing.assert_array_equal(threshold(dot, [0, 0, 2], [0, 1, 0]), out)


def test_maxpool_odd_sizes():
    # 5 x 3 x 2 -> 2 x 1 x 2: rows 4 and column 2 are dropped.
    b = np.zeros((5, 3, 2), np.uint8)
    b[4, 0, 0] = 1  # dropped row
    b[0, 2, 0] = 1  # dropped column
    b[3, 1, 0] = 1  # block (1, 0) of channel 0
    b[0, 0, 1] = 1  # block (0, 0) of channel 1
    out = maxpool_or(b)
    assert out.shape == (2, 1, 2) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[:, 0, 0], [0, 1])
    np.testing.assert_array_equal(out[:, 0, 1], [1, 0])


def test_maxpool_each_corner_of_a_block():
    for dy in (0, 1):
        for dx in (0, 1):
            b = np.zeros((4, 4, 1), np.uint8)
            b[2 + dy, dx, 0] = 1
            np.testing.assert_array_equal(maxpool_or(b)[:, :, 0], [[0, 0], [1, 0]])


def test_layer_with_pool():
    # 1 x 1 kernel of +1, threshold 1 (so output bit = input bit), 5 x 5 input -> pool 2 x 2.
    # Input +1 at (1, 1) and (4, 4): the first lands in block (0, 0), the second in the dropped
    # row 4.
    spec = LayerSpec("conv", 5, 5, 1, 1, pool=True)
    act = np.zeros((5, 5, 1), np.uint8)
    act[1, 1] = act[4, 4] = 1
    out = layer_forward(act, np.ones((1, 1, 1, 1), np.uint8), np.array([1]), spec)
    assert out.shape == spec.final_shape == (2, 2, 1)
    np.testing.assert_array_equal(out[:, :, 0], [[1, 0], [0, 0]])


@pytest.mark.parametrize("act_shape", [(5,), (1, 1, 5)])
@pytest.mark.parametrize("w_shape", [(3, 5), (3, 1, 1, 5)])
def test_fc_shapes(act_shape, w_shape):
    # a = + - + + -. Filter 0 equals a: 5 matches, dot = 5. Filter 1 is its complement: 0
    # matches, dot = -5. Filter 2 is all +1: 3 matches, dot = 2 * 3 - 5 = 1.
    act = bits([1, 0, 1, 1, 0]).reshape(act_shape)
    w = bits([[1, 0, 1, 1, 0], [0, 1, 0, 0, 1], [1, 1, 1, 1, 1]]).reshape(w_shape)
    dot = layer_forward(act, w, None, LayerSpec.fc(5, 3, output="int"))
    assert dot.shape == (1, 1, 3) and dot.dtype == np.int64
    np.testing.assert_array_equal(dot[0, 0], [5, -5, 1])
    # Thresholds 5, -5, 2 -> 1, 1, 0; flipping channel 2 (1 <= 2) -> 1.
    spec = LayerSpec.fc(5, 3)
    out = layer_forward(act, w, np.array([5, -5, 2]), spec)
    assert out.shape == spec.final_shape == (1, 1, 3)
    np.testing.assert_array_equal(out[0, 0], [1, 1, 0])
    out = layer_forward(act, w, np.array([5, -5, 2]), spec, flip=np.array([False, False, True]))
    np.testing.assert_array_equal(out[0, 0], [1, 1, 1])


def test_bool_and_int_inputs_match_uint8():
    rng = np.random.default_rng(7)
    spec = LayerSpec("conv", 4, 4, 3, 2, kernel_h=3, kernel_w=3, padding=1, output="int")
    act, w, _, _ = random_layer(rng, spec)
    expected = layer_forward(act, w, None, spec)
    np.testing.assert_array_equal(
        layer_forward(act.astype(bool), w.astype(np.int32), None, spec), expected
    )


# ----------------------------------------------------------------------------------------------
# Seeded sweep: two independent formulations agree
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(50))
def test_random_layers_match_reference(seed):
    rng = np.random.default_rng(seed)
    spec = random_spec(rng)
    act, w, t, flip = random_layer(rng, spec)
    where = f"seed={seed}, {spec}"

    ref_dot, ref_k = ref_conv(act, w, spec)
    dot, k_valid = conv_dot(act, w, spec)
    np.testing.assert_array_equal(dot, ref_dot, err_msg=where)
    np.testing.assert_array_equal(k_valid, ref_k, err_msg=where)

    # A third view: XNOR-popcount of each im2col vector with each flattened filter, by hand.
    vectors, valid = im2col(act, spec)
    filters = w.reshape(spec.out_channels, -1)
    for i in range(spec.n_positions):
        for co in range(spec.out_channels):
            matches = sum(
                1 for k in range(spec.k) if valid[i, k] and vectors[i, k] == filters[co, k]
            )
            expected = 2 * matches - int(valid[i].sum())
            assert expected == ref_dot.reshape(-1, spec.out_channels)[i, co], f"{where}, i={i}"

    out = layer_forward(act, w, t, spec, flip)
    assert out.shape == spec.final_shape, where
    if spec.output == "int":
        np.testing.assert_array_equal(out, ref_dot, err_msg=where)
    else:
        expected_bits = ref_threshold(ref_dot, t, flip)
        if spec.pool:
            expected_bits = ref_pool(expected_bits)
        assert out.dtype == np.uint8, where
        np.testing.assert_array_equal(out, expected_bits, err_msg=where)


def test_random_layer_shapes_and_both_bit_values():
    spec = LayerSpec("conv", 6, 6, 8, 4, kernel_h=3, kernel_w=3, padding=1)
    act, w, t, flip = random_layer(np.random.default_rng(1), spec)
    assert act.shape == (6, 6, 8) and act.dtype == np.uint8
    assert w.shape == (4, 3, 3, 8) and w.dtype == np.uint8
    assert t.shape == (4,) and t.dtype == np.int64 and (np.abs(t) <= 9).all()  # ceil(sqrt(72))
    assert flip.shape == (4,) and flip.dtype == bool
    out = layer_forward(act, w, t, spec, flip)
    for c in range(4):
        assert set(np.unique(out[:, :, c])) == {0, 1}, f"channel {c} is constant"
    # Same seed, same layer.
    again = random_layer(np.random.default_rng(1), spec)
    for x, y in zip((act, w, t, flip), again, strict=True):
        np.testing.assert_array_equal(x, y)


# ----------------------------------------------------------------------------------------------
# Errors name the argument, what was found and what was expected
# ----------------------------------------------------------------------------------------------

CONV = LayerSpec("conv", 5, 5, 3, 8, kernel_h=3, kernel_w=3, padding=1)
GOOD_ACT = np.zeros((5, 5, 3), np.uint8)
GOOD_W = np.zeros((8, 3, 3, 3), np.uint8)
GOOD_T = np.zeros(8, np.int64)


def test_error_weights_shape():
    with pytest.raises(BnnError) as info:
        layer_forward(GOOD_ACT, np.zeros((8, 3, 3, 4), np.uint8), GOOD_T, CONV)
    assert str(info.value) == (
        "weights has shape (8, 3, 3, 4); expected (8, 3, 3, 3) = (C_out, kh, kw, C_in) "
        "for this layer"
    )
    assert isinstance(info.value, ValueError)


def test_error_act_shape():
    with pytest.raises(BnnError, match=r"act has shape \(5, 5\); expected \(5, 5, 3\) = \(H, W"):
        conv_dot(np.zeros((5, 5), np.uint8), GOOD_W, CONV)


def test_error_fc_shapes():
    spec = LayerSpec.fc(16, 4)
    with pytest.raises(BnnError, match=r"act has shape \(15,\); expected \(16,\) = \(K,\) or "):
        conv_dot(np.zeros(15, np.uint8), np.zeros((4, 16), np.uint8), spec)
    with pytest.raises(
        BnnError,
        match=r"weights has shape \(16, 4\); expected \(4, 16\) = \(C_out, K\) or "
        r"\(4, 1, 1, 16\) = \(C_out, 1, 1, K\)",
    ):
        conv_dot(np.zeros(16, np.uint8), np.zeros((16, 4), np.uint8), spec)


def test_error_dtype():
    with pytest.raises(BnnError, match=r"act has dtype float64; expected bits"):
        layer_forward(GOOD_ACT.astype(float), GOOD_W, GOOD_T, CONV)
    with pytest.raises(BnnError, match=r"thresholds has dtype float64; expected integers"):
        layer_forward(GOOD_ACT, GOOD_W, GOOD_T + 0.5, CONV)
    with pytest.raises(BnnError, match=r"dot has dtype float64"):
        threshold(np.zeros((2, 3)), np.zeros(3, np.int64))


def test_error_values():
    act = GOOD_ACT.astype(np.int8)
    act[1, 2, 0] = -1  # a +-1 array passed by mistake
    with pytest.raises(BnnError, match=r"act holds -1 at index \(1, 2, 0\); bits must be 0"):
        layer_forward(act, GOOD_W, GOOD_T, CONV)
    w = GOOD_W.copy()
    w[7, 2, 2, 2] = 2
    with pytest.raises(BnnError, match=r"weights holds 2 at index \(7, 2, 2, 2\)"):
        layer_forward(GOOD_ACT, w, GOOD_T, CONV)
    with pytest.raises(BnnError, match=r"bits holds 3 at index"):
        maxpool_or(np.full((2, 2, 1), 3))


def test_error_thresholds_and_flip():
    with pytest.raises(BnnError, match=r"thresholds has shape \(7,\); expected \(8,\) = \(C,\)"):
        layer_forward(GOOD_ACT, GOOD_W, np.zeros(7, np.int64), CONV)
    with pytest.raises(BnnError, match=r"thresholds is None"):
        layer_forward(GOOD_ACT, GOOD_W, None, CONV)
    with pytest.raises(BnnError, match=r"flip has shape \(2, 4\); expected \(8,\) = \(C,\)"):
        layer_forward(GOOD_ACT, GOOD_W, GOOD_T, CONV, flip=np.zeros((2, 4), bool))
    with pytest.raises(BnnError, match=r"flip holds 5 at index \(0,\)"):
        threshold(np.zeros((1, 2), np.int64), [0, 0], [5, 0])


def test_error_other_arguments():
    with pytest.raises(BnnError, match=r"bits has shape \(4, 4\); expected \(H, W, C\)"):
        maxpool_or(np.zeros((4, 4), np.uint8))
    with pytest.raises(BnnError, match=r"dot has shape \(\); expected \(\.\.\., C\)"):
        threshold(np.int64(3), [0])
    with pytest.raises(TypeError, match=r"spec must be a LayerSpec, not dict"):
        im2col(GOOD_ACT, {"kind": "conv"})
    with pytest.raises(TypeError, match=r"rng must be a numpy.random.Generator, not int"):
        random_layer(3, CONV)
