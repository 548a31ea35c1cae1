"""Golden BNN arithmetic: im2col, XNOR-popcount dot products, thresholds and OR max-pooling.

This is the reference every RTL run is compared with bit for bit (docs/design.md §5). It is plain
integer numpy, written from the layer contract in :mod:`oxbnn.models.layer` and nothing else: it
does not know about lanes, chunks, PCA readouts or cycles.

Conventions (those of :mod:`oxbnn.models.layer`):

* bits are 0/1 with 1 standing for +1 and 0 for -1. Inputs may be any integer or bool array
  holding only 0 and 1 (``uint8`` is preferred); bit outputs are always ``uint8``;
* activations are ``H x W x C_in``, weights ``C_out x kh x kw x C_in``; an im2col vector is
  ordered ``(ky, kx, c)`` with ``c`` fastest; output positions are row-major over
  ``(out_h, out_w)``;
* ``dot = 2 * popcount(XNOR over the valid bits) - K_valid`` as ``int64``. With ``pad = "dark"`` a
  padded bit is not valid (it is not counted in ``K_valid``), which equals zero padding in the
  +-1 domain; with ``"+1"`` / ``"-1"`` the padded bit takes that value and is valid. A position
  whose window lies wholly in the padding has ``K_valid = 0`` and ``dot = 0``;
* ``bit = 1`` iff ``dot >= threshold[c]``, or iff ``dot <= threshold[c]`` where ``flip[c]`` is set
  (a batch-norm with a negative scale, folded). Thresholds are integers, like the hardware's;
* pooling is a 2 x 2, stride-2 OR; an odd last row or column is dropped.

Every argument is checked; a wrong shape, dtype or value raises :class:`BnnError` (a
``ValueError``) that names the argument, what was found and what was expected.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .layer import LayerSpec

__all__ = [
    "BnnError",
    "im2col",
    "conv_dot",
    "threshold",
    "maxpool_or",
    "layer_forward",
    "random_layer",
]


class BnnError(ValueError):
    """A malformed argument; the message names it, what was found and what was expected."""


# ----------------------------------------------------------------------------------------------
# Argument checks
# ----------------------------------------------------------------------------------------------


def _check_spec(spec: object) -> LayerSpec:
    if not isinstance(spec, LayerSpec):
        raise TypeError(f"spec must be a LayerSpec, not {type(spec).__name__}")
    return spec


def _check_shape(
    name: str, arr: np.ndarray, accepted: list[tuple[tuple[int, ...], str]]
) -> tuple[int, ...]:
    """Return the first of ``accepted`` (shape, meaning) that ``arr`` has, or raise."""
    for shape, _ in accepted:
        if arr.shape == shape:
            return shape
    expected = " or ".join(f"{shape} = {meaning}" for shape, meaning in accepted)
    raise BnnError(f"{name} has shape {arr.shape}; expected {expected} for this layer")


def _check_bits(name: str, arr: np.ndarray) -> NDArray[np.uint8]:
    """Check that ``arr`` is an integer or bool array of 0/1 and return it as ``uint8``."""
    if arr.dtype != np.bool_ and arr.dtype.kind not in "iu":
        raise BnnError(
            f"{name} has dtype {arr.dtype}; expected bits as an integer or bool array of 0/1 "
            f"(uint8 preferred)"
        )
    bad = (arr != 0) & (arr != 1)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        raise BnnError(
            f"{name} holds {arr[index].item()} at index {index}; bits must be 0 (for -1) "
            f"or 1 (for +1)"
        )
    return arr.astype(np.uint8)


def _check_act(act: ArrayLike, spec: LayerSpec) -> NDArray[np.uint8]:
    """Return the activations as ``uint8`` of shape ``(H, W, C_in)``."""
    arr = np.asarray(act)
    canonical = (spec.height, spec.width, spec.in_channels)
    if spec.kind == "fc":
        accepted = [((spec.k,), "(K,)"), (canonical, "(1, 1, K)")]
    else:
        accepted = [(canonical, "(H, W, C_in)")]
    _check_shape("act", arr, accepted)
    return _check_bits("act", arr).reshape(canonical)


def _check_weights(weights: ArrayLike, spec: LayerSpec) -> NDArray[np.uint8]:
    """Return the weights as ``uint8`` of shape ``(C_out, kh, kw, C_in)``."""
    arr = np.asarray(weights)
    canonical = (spec.out_channels, spec.kernel_h, spec.kernel_w, spec.in_channels)
    if spec.kind == "fc":
        accepted = [((spec.out_channels, spec.k), "(C_out, K)"), (canonical, "(C_out, 1, 1, K)")]
    else:
        accepted = [(canonical, "(C_out, kh, kw, C_in)")]
    _check_shape("weights", arr, accepted)
    return _check_bits("weights", arr).reshape(canonical)


def _check_thresholds(thresholds: ArrayLike, channels: int) -> NDArray[np.int64]:
    arr = np.asarray(thresholds)
    if arr.shape != (channels,):
        raise BnnError(
            f"thresholds has shape {arr.shape}; expected ({channels},) = (C,), one per channel"
        )
    if arr.dtype.kind not in "iu":
        raise BnnError(
            f"thresholds has dtype {arr.dtype}; expected integers (dot is an integer, so round a "
            f"fractional threshold first: ceil for a normal channel, floor for a flipped one)"
        )
    return arr.astype(np.int64)


def _check_flip(flip: ArrayLike | None, channels: int) -> NDArray[np.bool_]:
    if flip is None:
        return np.zeros(channels, dtype=bool)
    arr = np.asarray(flip)
    if arr.shape != (channels,):
        raise BnnError(
            f"flip has shape {arr.shape}; expected ({channels},) = (C,), one per channel"
        )
    return _check_bits("flip", arr).astype(bool)


# ----------------------------------------------------------------------------------------------
# The model
# ----------------------------------------------------------------------------------------------


def im2col(act: ArrayLike, spec: LayerSpec) -> tuple[NDArray[np.uint8], NDArray[np.bool_]]:
    """The im2col vector of every output position, and which of its bits are real.

    Parameters
    ----------
    act : array of bits
        Activations ``(H, W, C_in)``; for an fc layer also ``(K,)``.
    spec : LayerSpec
        The layer.

    Returns
    -------
    vectors : ndarray of uint8, shape ``(out_h * out_w, K)``
        Row ``oy * out_w + ox`` is the window of output ``(oy, ox)`` in ``(ky, kx, c)`` order,
        ``c`` fastest. A bit from the padding is 1 for ``pad = "+1"`` and 0 otherwise; for
        ``"dark"`` its value is meaningless (0) and ``valid`` is False there.
    valid : ndarray of bool, shape ``(out_h * out_w, K)``
        False exactly where the bit is dark padding; ``valid.sum(axis=1)`` is ``K_valid``.
    """
    spec = _check_spec(spec)
    act = _check_act(act, spec)
    p, s = spec.padding, spec.stride
    kh, kw = spec.kernel_h, spec.kernel_w

    # The input surrounded by `padding` rows and columns of the pad value; `real` marks the bits
    # that count. Only "dark" padding is not counted.
    fill = 1 if spec.pad == "+1" else 0
    padded = np.full((spec.height + 2 * p, spec.width + 2 * p, spec.in_channels), fill, np.uint8)
    padded[p : p + spec.height, p : p + spec.width] = act
    real = np.full(padded.shape, spec.pad != "dark")
    real[p : p + spec.height, p : p + spec.width] = True

    vectors = np.empty((spec.n_positions, spec.k), dtype=np.uint8)
    valid = np.empty((spec.n_positions, spec.k), dtype=bool)
    for oy in range(spec.out_h):
        for ox in range(spec.out_w):
            i = oy * spec.out_w + ox
            window = (slice(oy * s, oy * s + kh), slice(ox * s, ox * s + kw))
            # C-order flattening of a (kh, kw, C_in) window is (ky, kx, c) with c fastest.
            vectors[i] = padded[window].reshape(-1)
            valid[i] = real[window].reshape(-1)
    return vectors, valid


def conv_dot(
    act: ArrayLike, weights: ArrayLike, spec: LayerSpec
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """The integer dot product of every output position with every filter.

    ``dot[oy, ox, co] = 2 * popcount(XNOR(a, w) over the valid bits) - K_valid[oy, ox]``, which
    equals the +-1 dot product with dark padding taken as 0.

    Parameters
    ----------
    act : array of bits
        Activations ``(H, W, C_in)``; for an fc layer also ``(K,)``.
    weights : array of bits
        Filters ``(C_out, kh, kw, C_in)``; for an fc layer also ``(C_out, K)``.
    spec : LayerSpec
        The layer.

    Returns
    -------
    dot : ndarray of int64, shape ``(out_h, out_w, C_out)``
    k_valid : ndarray of int64, shape ``(out_h, out_w)``
        Bits that count at each position (``K`` unless the window covers dark padding).
    """
    spec = _check_spec(spec)
    vectors, valid = im2col(act, spec)
    filters = _check_weights(weights, spec).reshape(spec.out_channels, spec.k)

    # XNOR is 1 where activation and weight are both +1 or both -1, so the popcount over the
    # valid bits is (valid +1 activations) . (+1 weights) + (valid -1 activations) . (-1 weights).
    act_plus = ((vectors == 1) & valid).astype(np.int64)
    act_minus = ((vectors == 0) & valid).astype(np.int64)
    w_plus = (filters == 1).astype(np.int64)
    w_minus = (filters == 0).astype(np.int64)
    count = act_plus @ w_plus.T + act_minus @ w_minus.T

    k_valid = valid.sum(axis=1, dtype=np.int64)
    dot = 2 * count - k_valid[:, np.newaxis]
    shape = (spec.out_h, spec.out_w)
    return dot.reshape(*shape, spec.out_channels), k_valid.reshape(shape)


def threshold(
    dot: ArrayLike, thresholds: ArrayLike, flip: ArrayLike | None = None
) -> NDArray[np.uint8]:
    """Per-channel threshold of integer dot products.

    Parameters
    ----------
    dot : integer array, shape ``(..., C)``
        Channels last.
    thresholds : integer array, shape ``(C,)``
    flip : array of bits or bools, shape ``(C,)``, optional
        Where set, the comparison is reversed. ``None`` means no channel is flipped.

    Returns
    -------
    ndarray of uint8, the shape of ``dot``
        1 iff ``dot >= thresholds[c]``, or iff ``dot <= thresholds[c]`` where ``flip[c]``. A dot
        equal to the threshold gives 1 either way.
    """
    dot = np.asarray(dot)
    if dot.ndim < 1:
        raise BnnError(f"dot has shape {dot.shape}; expected (..., C) with channels last")
    if dot.dtype.kind not in "iu":
        raise BnnError(f"dot has dtype {dot.dtype}; expected integers")
    channels = dot.shape[-1]
    limit = _check_thresholds(thresholds, channels)
    reverse = _check_flip(flip, channels)
    dot = dot.astype(np.int64)
    bits = np.where(reverse, dot <= limit, dot >= limit)
    return bits.astype(np.uint8)


def maxpool_or(bits: ArrayLike) -> NDArray[np.uint8]:
    """Binary 2 x 2, stride-2 max-pool: the OR of each 2 x 2 block.

    Parameters
    ----------
    bits : array of bits, shape ``(H, W, C)``

    Returns
    -------
    ndarray of uint8, shape ``(H // 2, W // 2, C)``
        An odd last row or column is dropped.
    """
    arr = np.asarray(bits)
    if arr.ndim != 3:
        raise BnnError(f"bits has shape {arr.shape}; expected (H, W, C)")
    arr = _check_bits("bits", arr)
    h, w = 2 * (arr.shape[0] // 2), 2 * (arr.shape[1] // 2)
    top_left = arr[0:h:2, 0:w:2]
    top_right = arr[0:h:2, 1:w:2]
    bottom_left = arr[1:h:2, 0:w:2]
    bottom_right = arr[1:h:2, 1:w:2]
    return top_left | top_right | bottom_left | bottom_right


def layer_forward(
    act: ArrayLike,
    weights: ArrayLike,
    thresholds: ArrayLike | None,
    spec: LayerSpec,
    flip: ArrayLike | None = None,
) -> NDArray[np.uint8] | NDArray[np.int64]:
    """One whole layer: dot products, then thresholds and pooling or the integers themselves.

    Parameters
    ----------
    act : array of bits
        Activations ``(H, W, C_in)``; for an fc layer also ``(K,)``.
    weights : array of bits
        Filters ``(C_out, kh, kw, C_in)``; for an fc layer also ``(C_out, K)``.
    thresholds : integer array, shape ``(C_out,)``, or None
        Required for ``spec.output == "bit"``. Unused for ``"int"``, but checked if given.
    spec : LayerSpec
        The layer.
    flip : array of bits or bools, shape ``(C_out,)``, optional
        Channels whose comparison is reversed (see :func:`threshold`). Unused for ``"int"``, but
        checked if given.

    Returns
    -------
    ndarray, shape ``spec.final_shape``
        ``uint8`` bits for ``output = "bit"`` (pooled if ``spec.pool``), ``int64`` dot products for
        ``output = "int"``. An fc layer returns ``(1, 1, C_out)`` whichever input shape it got.
    """
    spec = _check_spec(spec)
    dot, _ = conv_dot(act, weights, spec)
    if spec.output == "int":
        if thresholds is not None:
            _check_thresholds(thresholds, spec.out_channels)
        _check_flip(flip, spec.out_channels)
        return dot
    if thresholds is None:
        raise BnnError("thresholds is None; a layer with output = 'bit' needs (C_out,) integers")
    bits = threshold(dot, thresholds, flip)
    if spec.pool:
        bits = maxpool_or(bits)
    return bits


def random_layer(
    rng: np.random.Generator, spec: LayerSpec
) -> tuple[NDArray[np.uint8], NDArray[np.uint8], NDArray[np.int64], NDArray[np.bool_]]:
    """Random activations, weights, thresholds and flips for ``spec``.

    Bits are uniform. The dot of random bits has mean 0 and standard deviation ``sqrt(K_valid)``,
    so thresholds are uniform integers in ``[-ceil(sqrt(K)), ceil(sqrt(K))]``: each channel then
    gives both output values with good probability (a range of +-K would leave most channels
    constant for a long vector). Each channel is flipped with probability 1/2.

    Parameters
    ----------
    rng : numpy.random.Generator
        The only source of randomness, so a seed reproduces the layer.
    spec : LayerSpec
        The layer.

    Returns
    -------
    act : ndarray of uint8, shape ``(H, W, C_in)`` (``(1, 1, K)`` for fc)
    weights : ndarray of uint8, shape ``(C_out, kh, kw, C_in)`` (``(C_out, 1, 1, K)`` for fc)
    thresholds : ndarray of int64, shape ``(C_out,)``
        Returned for ``output = "int"`` too; :func:`layer_forward` does not use them there.
    flip : ndarray of bool, shape ``(C_out,)``
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, not {type(rng).__name__}")
    spec = _check_spec(spec)
    act = rng.integers(0, 2, size=(spec.height, spec.width, spec.in_channels), dtype=np.uint8)
    weights = rng.integers(
        0,
        2,
        size=(spec.out_channels, spec.kernel_h, spec.kernel_w, spec.in_channels),
        dtype=np.uint8,
    )
    spread = math.ceil(math.sqrt(spec.k))
    thresholds = rng.integers(
        -spread, spread, endpoint=True, size=spec.out_channels, dtype=np.int64
    )
    flip = rng.random(spec.out_channels) < 0.5
    return act, weights, thresholds, flip
