"""Host interface of the XPU: layer descriptor, start/busy/done, and the threshold memory.

The descriptor is what a driver writes into the XPU's registers before a layer. It carries the
layer geometry *and* the derived constants of its tiling plan (:func:`oxbnn.models.timing.
tiling_plan`), so the hardware needs no divider: the driver (:func:`encode_descriptor`) does the
divisions once, in Python, and every check that can fail happens there, as a named error
(:class:`~oxbnn.models.timing.TilingError`, :class:`~oxbnn.models.layer.LayerError`). A
descriptor the hardware cannot run is therefore unreachable from the Python API.

All layouts here are functions of :class:`~oxbnn.models.configs.XpuParams` (widths follow N, M,
the buffer depths and ``max_out_channels``); :class:`Widths` collects them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..models.configs import XpuParams
from ..models.layer import LayerSpec
from ..models.timing import MAX_IMAGE_DIM, MAX_KERNEL, TilingPlan, tiling_plan
from ._checks import xpu_params

__all__ = [
    "Widths",
    "PAD_MODES",
    "descriptor_layout",
    "threshold_layout",
    "result_layout",
    "encode_descriptor",
    "encode_thresholds",
    "HostIf",
]

#: Descriptor code of each padding mode of :class:`~oxbnn.models.layer.LayerSpec`.
PAD_MODES = {"dark": 0, "+1": 1, "-1": 2}


def _check_xpu(xpu: object) -> XpuParams:
    if not isinstance(xpu, XpuParams):
        raise TypeError(f"xpu must be an XpuParams, not {type(xpu).__name__}")
    return xpu


@dataclass(frozen=True)
class Widths:
    """Bit widths of the XPU's datapath, derived from :class:`XpuParams`.

    Attributes
    ----------
    k_max : int
        Longest vector: one filter fills at most a whole weight bank, ``N * wgt_buffer_depth``.
    count : int
        Width of a popcount or ``K_valid`` (holds ``k_max``).
    dot : int
        Width of a signed dot product or threshold (holds ``+-(k_max + 1)``).
    geometry : int
        Width of the signed row/column registers of the address generator.
    offset : int
        Width of the signed word offsets (addresses before the bank is chosen); arithmetic on
        them is modular, exact for every address that is read.
    act_addr : int
        Address width of one activation bank.
    wgt_addr : int
        Address width of one weight bank.
    """

    k_max: int
    count: int
    dot: int
    geometry: int
    offset: int
    act_addr: int
    wgt_addr: int

    @classmethod
    def of(cls, xpu: XpuParams) -> Widths:
        xpu = _check_xpu(xpu)
        k_max = xpu.n_lanes * xpu.wgt_buffer_depth
        return cls(
            k_max=k_max,
            count=k_max.bit_length(),
            dot=(k_max + 1).bit_length() + 1,
            geometry=MAX_IMAGE_DIM.bit_length() + 4,
            offset=max(xpu.act_buffer_depth, xpu.wgt_buffer_depth).bit_length() + 6,
            act_addr=max(1, (xpu.act_buffer_depth - 1).bit_length()),
            wgt_addr=max(1, (xpu.wgt_buffer_depth - 1).bit_length()),
        )


@lru_cache(maxsize=64)
def descriptor_layout(xpu: XpuParams) -> data.StructLayout:
    """The descriptor register: geometry plus the derived constants of the tiling plan.

    Fields (u = unsigned, s = signed, modular where noted)
        ``height``, ``width`` (u16): input size. ``words_per_pixel``, ``last_word_bits``: a pixel
        is ``words_per_pixel`` N-bit words, the last holding ``last_word_bits`` channels.
        ``row_words``: words of one input row. ``row_skip``: ``row_words - kernel_w *
        words_per_pixel``, the jump from the end of one kernel row to the next.
        ``kernel_h``, ``kernel_w``, ``padding`` (u4), ``stride2``, ``pad_mode``
        (:data:`PAD_MODES`), ``int_output``, ``pool``.
        ``chunks``, ``last_chunk_bits``: ``ceil(K/N)`` and the bits of the last chunk.
        ``unit_h``, ``unit_w``: the unit grid (pooled grid when pooling). ``rows_per_band``,
        ``band_row_step`` (``rows_per_band * f * s``, input rows between bands).
        ``m_step_x``, ``m_step_y``: ``M mod unit_w`` and ``M // unit_w``.
        ``step_*`` / ``wrap_*`` (s): change of an XPE's (row, column, base offset) when its unit
        advances by M without / with a wrap to the next unit row; ``unit_step``, ``unit_base``,
        ``unit_wrap_base``, ``base0``: the same for one unit, used to place XPE e on unit e.
        ``out_channels``, ``filters_per_tile``, ``wgt_tile_words``, ``wgt_last_tile_words``,
        ``wgt_tiles``, ``wgt_loads``: the weight walk.
    """
    xpu = _check_xpu(xpu)
    w = Widths.of(xpu)
    n = xpu.n_lanes
    dim = unsigned(16)
    ad = range(xpu.act_buffer_depth + 1)
    wd = range(xpu.wgt_buffer_depth + 1)
    chan = range(xpu.max_out_channels + 1)
    geo = signed(w.geometry)
    off = signed(w.offset)
    return data.StructLayout(
        {
            "height": dim,
            "width": dim,
            "words_per_pixel": ad,
            "last_word_bits": range(n + 1),
            "row_words": ad,
            "row_skip": ad,
            "kernel_h": unsigned(4),
            "kernel_w": unsigned(4),
            "padding": unsigned(4),
            "stride2": unsigned(1),
            "pad_mode": unsigned(2),
            "int_output": unsigned(1),
            "pool": unsigned(1),
            "chunks": wd,
            "last_chunk_bits": range(n + 1),
            "unit_h": dim,
            "unit_w": dim,
            "rows_per_band": dim,
            "band_row_step": unsigned(18),
            "m_step_x": dim,
            "m_step_y": unsigned(17),
            "step_iy": geo,
            "step_ix": geo,
            "step_base": off,
            "wrap_iy": geo,
            "wrap_ix": geo,
            "wrap_base": off,
            "unit_step": unsigned(3),
            "unit_base": off,
            "unit_wrap_base": off,
            "base0": off,
            "out_channels": chan,
            "filters_per_tile": chan,
            "wgt_tile_words": wd,
            "wgt_last_tile_words": wd,
            "wgt_tiles": chan,
            "wgt_loads": unsigned(32),
        }
    )


@lru_cache(maxsize=64)
def threshold_layout(xpu: XpuParams) -> data.StructLayout:
    """One entry of the threshold stream: ``value`` (signed) and ``flip``."""
    return data.StructLayout({"value": signed(Widths.of(xpu).dot), "flip": unsigned(1)})


@lru_cache(maxsize=64)
def result_layout(xpu: XpuParams) -> data.StructLayout:
    """One result word: M output bits (``bits[e]`` from XPE e) and M integer dots.

    For ``output = "bit"`` the bits are the layer's output (pooled when pooling) and ``dots`` the
    dot products (zero when pooling); for ``"int"`` the dots are the output and the bits are
    zero. An XPE without a unit in this group gives 0 in both.
    """
    xpu = _check_xpu(xpu)
    return data.StructLayout(
        {
            "bits": unsigned(xpu.n_xpes),
            "dots": data.ArrayLayout(signed(Widths.of(xpu).dot), xpu.n_xpes),
        }
    )


def _wrap(value: int, width: int) -> int:
    """``value`` as a ``width``-bit two's complement number (modular arithmetic)."""
    value &= (1 << width) - 1
    return value - (1 << width) if value >> (width - 1) else value


def encode_descriptor(
    spec: LayerSpec, xpu: XpuParams, plan: TilingPlan | None = None
) -> dict[str, int]:
    """Field values of :func:`descriptor_layout` for ``spec`` on ``xpu``.

    Raises :class:`~oxbnn.models.timing.TilingError` for a layer the XPU cannot run.
    """
    plan = tiling_plan(spec, xpu) if plan is None else plan
    w = Widths.of(xpu)
    m = xpu.n_xpes
    f, s, p = plan.pool_factor, spec.stride, spec.padding
    fs = f * s
    wp, rw, uw = plan.words_per_pixel, plan.row_words, plan.unit_w
    dx, dy = m % uw, m // uw
    assert spec.kernel_h <= MAX_KERNEL and spec.kernel_w <= MAX_KERNEL  # tiling_plan checked
    last = plan.weight_tiles[-1]
    return {
        "height": spec.height,
        "width": spec.width,
        "words_per_pixel": wp,
        "last_word_bits": plan.last_word_bits,
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
    }


def encode_thresholds(
    thresholds: np.ndarray, flip: np.ndarray | None, spec: LayerSpec, xpu: XpuParams
) -> list[dict[str, int]]:
    """Threshold stream entries, clamped to ``[-K-1, K+1]`` (which keeps every comparison)."""
    k = spec.k
    thr = np.asarray(thresholds, dtype=np.int64).reshape(-1)
    fl = np.zeros(thr.shape, bool) if flip is None else np.asarray(flip, bool).reshape(-1)
    if thr.shape != (spec.out_channels,) or fl.shape != thr.shape:
        raise ValueError(
            f"thresholds and flip must have shape ({spec.out_channels},), not "
            f"{thr.shape} and {fl.shape}"
        )
    return [
        {"value": int(np.clip(t, -k - 1, k + 1)), "flip": int(x)}
        for t, x in zip(thr, fl, strict=True)
    ]


class HostIf(wiring.Component):
    """Descriptor register, start/busy/done handshake and the per-channel threshold memory.

    On a cycle with ``start`` high while idle, ``desc_in`` is latched into ``desc`` (visible from
    the next cycle) and, for a layer with bit output, the threshold loader takes
    ``out_channels`` entries from ``thr_in`` (ready from the next cycle on). ``thr_ready`` is high
    once they are all stored (or at once for integer output). ``busy`` is high from the cycle
    after ``start`` until ``done`` (driven by the sequencer).

    The threshold memory has one synchronous read port: ``thr_addr`` in cycle t gives
    ``thr_data`` in cycle t + 1.

    Parameters
    ----------
    xpu : XpuParams

    Members
    -------
    desc_in : In(descriptor_layout(xpu))
    start : In(1)
    desc : Out(descriptor_layout(xpu))
        The latched descriptor.
    accept : Out(1)
        ``start`` while idle: the layer starts (combinational, in the ``start`` cycle).
    done : In(1)
        From the sequencer; ends ``busy``.
    busy : Out(1)
    thr_in : In(stream.Signature(threshold_layout(xpu)))
    thr_ready : Out(1)
    thr_addr : In(range(max_out_channels))
    thr_data : Out(threshold_layout(xpu))
    """

    def __init__(self, *, xpu: XpuParams):
        self._xpu = xpu_params(self, xpu)
        super().__init__(
            {
                "desc_in": In(descriptor_layout(xpu)),
                "start": In(1),
                "desc": Out(descriptor_layout(xpu)),
                "accept": Out(1),
                "done": In(1),
                "busy": Out(1),
                "thr_in": In(stream.Signature(threshold_layout(xpu))),
                "thr_ready": Out(1),
                "thr_addr": In(range(max(2, xpu.max_out_channels))),
                "thr_data": Out(threshold_layout(xpu)),
            }
        )

    @property
    def xpu(self) -> XpuParams:
        return self._xpu

    def elaborate(self, platform):
        m = Module()
        xpu = self._xpu
        mem = m.submodules.thresholds = Memory(
            shape=threshold_layout(xpu), depth=xpu.max_out_channels, init=[]
        )
        wr = mem.write_port()
        rd = mem.read_port()

        busy = Signal()
        loading = Signal()
        count = Signal(range(xpu.max_out_channels + 1))
        accept = self.start & ~busy

        m.d.comb += [
            self.busy.eq(busy),
            self.thr_ready.eq(~loading),
            self.thr_in.ready.eq(loading),
            wr.addr.eq(count),
            wr.data.eq(self.thr_in.payload),
            wr.en.eq(self.thr_in.valid & loading),
            rd.addr.eq(self.thr_addr),
            self.thr_data.eq(rd.data),
        ]
        m.d.comb += self.accept.eq(accept)
        with m.If(accept):
            m.d.sync += [
                self.desc.eq(self.desc_in),
                busy.eq(1),
                count.eq(0),
                loading.eq(self.desc_in.int_output == 0),
            ]
        with m.Elif(self.done):
            m.d.sync += busy.eq(0)
        with m.If(self.thr_in.valid & loading):
            m.d.sync += count.eq(count + 1)
            with m.If(count + 1 == self.desc.out_channels):
                m.d.sync += loading.eq(0)
        return m
