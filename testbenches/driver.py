"""Host driver of the XPU: what software writes into the descriptor and streams into the buffers.

This is host software, not hardware: it turns a :class:`~oxbnn.models.layer.LayerSpec` and its
tensors into the descriptor's field values (:func:`encode_descriptor`), the threshold stream
(:func:`encode_thresholds`) and the N-bit words of the activation and weight tiles
(:func:`act_tiles`, :func:`wgt_tiles`), in the order of the tiling plan
(:func:`oxbnn.models.tiling.tiling_plan`). The descriptor carries the plan's derived constants, so
the hardware needs no divider: the divisions happen here, once, and every check that can fail is
a named error raised by the plan (:class:`~oxbnn.models.tiling.TilingError`). Both simulation
harnesses (cocotb and Amaranth's simulator) drive the XPU through these functions.
"""

from __future__ import annotations

import numpy as np

from ..models.configs import XpuParams
from ..models.layer import LayerSpec
from ..models.tiling import (
    MAX_KERNEL,
    PAD_MODES,
    TilingPlan,
    Widths,
    band_window_rows,
    tiling_plan,
)

__all__ = [
    "encode_descriptor",
    "encode_thresholds",
    "ThresholdError",
    "pack_bits",
    "act_tiles",
    "wgt_tiles",
]


def _wrap(value: int, width: int) -> int:
    """``value`` as a ``width``-bit two's complement number (modular arithmetic)."""
    value &= (1 << width) - 1
    return value - (1 << width) if value >> (width - 1) else value


def encode_descriptor(
    spec: LayerSpec, xpu: XpuParams, plan: TilingPlan | None = None
) -> dict[str, int]:
    """Field values of :func:`descriptor_layout` for ``spec`` on ``xpu``.

    Raises :class:`~oxbnn.models.tiling.TilingError` for a layer the XPU cannot run.
    """
    plan = tiling_plan(spec, xpu) if plan is None else plan
    w = Widths.of(xpu)
    m, n = xpu.n_xpes, xpu.n_lanes
    f, s, p = plan.pool_factor, spec.stride, spec.padding
    fs = f * s
    wp, rw, uw = plan.words_per_pixel, plan.row_words, plan.unit_w
    advance = 1 if plan.act_bcast else m  # units a group advances by
    dx, dy = advance % uw, advance // uw
    assert spec.kernel_h <= MAX_KERNEL and spec.kernel_w <= MAX_KERNEL  # tiling_plan checked
    last = plan.weight_tiles[-1]
    # One past the last input row of each band's windows, unclipped.
    hi = [band_window_rows(spec, f, b.unit_row0, b.unit_row1)[1] for b in plan.bands]
    return {
        "height": spec.height,
        "width": spec.width,
        "words_per_pixel": wp,
        "last_word_bits": plan.last_word_bits,
        "last_word": wp - 1,
        "row_words": rw,
        "row_skip": rw - spec.kernel_w * wp,
        "kernel_h": spec.kernel_h,
        "kernel_w": spec.kernel_w,
        "padding": p,
        "stride2": int(s == 2),
        "pad_mode": PAD_MODES[spec.pad],
        "int_output": int(spec.output == "int"),
        "pool": int(spec.pool),
        "chunks": plan.chunks,
        "last_chunk_bits": plan.last_chunk_bits,
        "unit_h": plan.unit_h,
        "unit_w": uw,
        "rows_per_band": plan.rows_per_band,
        "band_row_step": plan.rows_per_band * fs,
        "band_last_group": plan.bands[0].groups - 1,
        "last_band_last_group": plan.bands[-1].groups - 1,
        "band_base0": _wrap(-p * rw, w.offset),
        "band_base_step": _wrap(plan.rows_per_band * fs * rw, w.offset),
        "tile_hi0": _wrap(hi[0], w.geometry),
        "tile_hi0_words": _wrap(hi[0] * rw, w.offset),
        "last_hi_step": hi[-1] - hi[-2] if len(hi) > 1 else 0,
        "last_hi_step_words": _wrap((hi[-1] - hi[-2]) * rw if len(hi) > 1 else 0, w.offset),
        "image_words": _wrap(spec.height * rw, w.offset),
        "act_bcast": int(plan.act_bcast),
        "m_step_x": dx,
        "m_step_y": dy,
        "step_iy": _wrap(dy * fs, w.geometry),
        "step_ix": _wrap(dx * fs, w.geometry),
        "step_base": _wrap(dy * fs * rw + dx * fs * wp, w.offset),
        "wrap_iy": _wrap((dy + 1) * fs, w.geometry),
        "wrap_ix": _wrap((dx - uw) * fs, w.geometry),
        "wrap_base": _wrap((dy + 1) * fs * rw + (dx - uw) * fs * wp, w.offset),
        "unit_step": fs,
        "unit_base": _wrap(fs * wp, w.offset),
        "unit_wrap_base": _wrap(fs * rw - (uw - 1) * fs * wp, w.offset),
        "base0": _wrap(-p * wp, w.offset),
        "out_channels": spec.out_channels,
        "filters_per_tile": plan.filters_per_tile,
        "wgt_tile_words": plan.weight_tiles[0].words,
        "wgt_last_tile_words": last.words,
        "wgt_tiles": len(plan.weight_tiles),
        "wgt_loads": len(plan.wgt_loads),
        "wgt_outer": int(plan.weights_outer),
        "filter_step": plan.filter_step,
        # A step's words: at most a bank whenever a tile has more than one step (then it holds
        # at least two steps' filters); a one-step tile never adds it, so it is clipped there.
        "filter_words": min(plan.filter_step * plan.chunks, xpu.wgt_buffer_depth),
        "slot_start": [_chunk_origin(plan, si * n, w) for si in range(xpu.symbols_per_cycle)],
        **_jump(plan, xpu.symbols_per_cycle * n, w),
    }


def _chunk_origin(plan: TilingPlan, bit: int, w: Widths) -> dict[str, int]:
    """``slot_origin_layout`` fields of the chunk starting at vector bit ``bit`` (zeros past
    the vector: that slot is dark)."""
    spec = plan.spec
    if bit >= spec.k:
        return {"ky": 0, "kx": 0, "cw": 0, "bw": 0, "off": 0}
    n, c, wp = plan.xpu.n_lanes, spec.in_channels, plan.words_per_pixel
    pixel, ch = divmod(bit, c)
    ky, kx = divmod(pixel, spec.kernel_w)
    cw, bw = divmod(ch, n)
    skip = plan.row_words - spec.kernel_w * wp
    return {
        "ky": ky,
        "kx": kx,
        "cw": cw,
        "bw": bw,
        "off": _wrap(pixel * wp + cw + ky * skip, w.offset),
    }


def _jump(plan: TilingPlan, bits: int, w: Widths) -> dict[str, int]:
    """The ``jump_*`` digits of ``bits`` (S N) for the slot engines' mixed-radix adder.

    A jump whose kernel-row digit does not fit ``KERNEL_BITS`` always lands past the vector's
    end (``bits // C >= kernel_h * kernel_w``), where a slot is dark whatever its registers
    hold, so that digit is clipped."""
    spec = plan.spec
    n, c, wp = plan.xpu.n_lanes, spec.in_channels, plan.words_per_pixel
    dp, dc = divmod(bits, c)
    dcw, dbw = divmod(dc, n)
    dky, dkx = divmod(dp, spec.kernel_w)
    skip = plan.row_words - spec.kernel_w * wp
    return {
        "jump_ky": min(dky, MAX_KERNEL),
        "jump_kx": dkx,
        "jump_cw": dcw,
        "jump_bw": dbw,
        "jump_off": _wrap(dp * wp + dcw + dky * skip, w.offset),
    }


class ThresholdError(ValueError):
    """Thresholds or flips a threshold word cannot hold; the message names the value and why."""


def encode_thresholds(
    thresholds: np.ndarray, flip: np.ndarray | None, spec: LayerSpec, xpu: XpuParams
) -> list[dict[str, int]]:
    """Threshold stream entries, clamped to ``[-K-1, K+1]`` (which keeps every comparison).

    Every threshold is checked on its exact integer value, before any cast, against the signed
    range of the threshold word (``Widths.of(xpu).dot`` bits): a value the word cannot hold
    (for example a uint64 of 2**63 or more, which a cast to int64 would wrap to a negative
    number) raises :class:`ThresholdError` instead of being wrapped. Values inside the word's
    range but beyond ``+-(K+1)`` are clamped, which keeps every comparison (every dot product
    lies in ``[-K, K]``). Thresholds must be integers (bool and float arrays are refused) and
    flips bool or integer 0/1.
    """
    k = spec.k
    width = Widths.of(xpu).dot
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    arr = np.asarray(thresholds)
    if arr.dtype.kind not in "iuO":
        raise ThresholdError(f"thresholds have dtype {arr.dtype}; expected integers")
    values = arr.reshape(-1).tolist()  # exact Python ints: no wrap, no overflow
    for i, t in enumerate(values):
        if isinstance(t, bool) or not isinstance(t, int):
            raise ThresholdError(f"thresholds[{i}] = {t!r}; expected an integer")
        if not lo <= t <= hi:
            raise ThresholdError(
                f"thresholds[{i}] = {t} does not fit the {width}-bit signed threshold word of "
                f"{xpu.name or 'this XPU'} ([{lo}, {hi}]); it is refused, not wrapped"
            )
    fl = np.zeros(len(values), bool) if flip is None else np.asarray(flip)
    if fl.dtype.kind not in "biu" or ((fl != 0) & (fl != 1)).any():
        raise ThresholdError(f"flip must be bool or integer 0/1, not {fl.dtype} {fl.tolist()}")
    fl = fl.astype(bool).reshape(-1)
    if len(values) != spec.out_channels or fl.shape != (len(values),):
        raise ThresholdError(
            f"thresholds and flip must have shape ({spec.out_channels},), not "
            f"{arr.shape} and {fl.shape}"
        )
    return [
        {"value": min(max(t, -k - 1), k + 1), "flip": int(x)}
        for t, x in zip(values, fl.tolist(), strict=True)
    ]


def pack_bits(bits: np.ndarray, n: int) -> list[int]:
    """A bit vector as ``ceil(len/n)`` words of ``n`` bits, bit ``i`` at lane ``i mod n``."""
    bits = np.asarray(bits, dtype=np.uint8).reshape(-1)
    return pack_rows(bits[None, :], n)[0]


def pack_rows(bits: np.ndarray, n: int) -> list[list[int]]:
    """:func:`pack_bits` of every row of a 2-D bit array at once (rows of equal length)."""
    bits = np.asarray(bits, dtype=np.uint8)
    rows, length = bits.shape
    count = -(-length // n)
    padded = np.zeros((rows, count * n), dtype=np.uint8)
    padded[:, :length] = bits
    packed = np.packbits(padded.reshape(rows * count, n), axis=1, bitorder="little")
    words = [int.from_bytes(w.tobytes(), "little") for w in packed]
    return [words[r * count : (r + 1) * count] for r in range(rows)]


def act_tiles(plan: TilingPlan, act: np.ndarray) -> list[list[int]]:
    """Word lists of the activation tiles, in load order (:attr:`TilingPlan.act_loads`: a band
    is sent again for each weight tile when the weights are outside the bands)."""
    spec, n = plan.spec, plan.xpu.n_lanes
    act = np.asarray(act, dtype=np.uint8).reshape(spec.height * spec.width, spec.in_channels)
    pixel = pack_rows(act, n)  # pixel y * W + x
    tiles = []
    for band in plan.bands:
        words: list[int] = []
        for y in range(band.in_row0, band.in_row1):
            for x in range(spec.width):
                words.extend(pixel[y * spec.width + x])
        assert len(words) == band.words
        tiles.append(words)
    return [tiles[b] for b in plan.act_loads]


def wgt_tiles(plan: TilingPlan, weights: np.ndarray) -> list[list[int]]:
    """Word lists of the weight loads, in load order."""
    spec, n = plan.spec, plan.xpu.n_lanes
    w = np.asarray(weights, dtype=np.uint8).reshape(spec.out_channels, spec.k)
    filters = pack_rows(w, n)
    per_tile = []
    for tile in plan.weight_tiles:
        words: list[int] = []
        for f in range(tile.filter0, tile.filter1):
            words.extend(filters[f])
        assert len(words) == tile.words
        per_tile.append(words)
    return [per_tile[i] for i in plan.wgt_loads]
