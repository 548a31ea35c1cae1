"""Host interface of the XPU: layer descriptor, start/busy/done, and the threshold memory.

The descriptor is what the host driver (:mod:`oxbnn.testbenches.driver`) writes into the XPU's
registers before a layer. It carries the layer geometry *and* the derived constants of its tiling
plan (:func:`oxbnn.models.tiling.tiling_plan`), so the hardware needs no divider: the driver does
the divisions once, in software, and every check that can fail happens there, as a named error
(:class:`~oxbnn.models.tiling.TilingError`, :class:`~oxbnn.models.layer.LayerError`). A
descriptor the hardware cannot run is therefore unreachable from the Python API.

All layouts here are functions of :class:`~oxbnn.models.configs.XpuParams` (widths follow N, M,
the buffer depths and ``max_out_channels``); :class:`~oxbnn.models.tiling.Widths` collects them.
"""

from __future__ import annotations

from functools import lru_cache

from amaranth.hdl import Cat, Module, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..models.configs import XpuParams
from ..models.tiling import IMAGE_DIM_BITS, KERNEL_BITS, PAD_MODE_BITS, Widths
from ._checks import fixed_latency, xpu_params

__all__ = [
    "descriptor_layout",
    "slot_origin_layout",
    "threshold_layout",
    "result_layout",
    "HostIf",
]


def _check_xpu(xpu: object) -> XpuParams:
    if not isinstance(xpu, XpuParams):
        raise TypeError(f"xpu must be an XpuParams, not {type(xpu).__name__}")
    return xpu


@lru_cache(maxsize=64)
def descriptor_layout(xpu: XpuParams) -> data.StructLayout:
    """The descriptor register: geometry plus the derived constants of the tiling plan.

    Fields (u = unsigned, s = signed, modular where noted)
        ``height``, ``width`` (u16): input size. ``words_per_pixel``, ``last_word_bits``: a pixel
        is ``words_per_pixel`` N-bit words, the last holding ``last_word_bits`` channels;
        ``last_word`` = ``words_per_pixel - 1`` (the index of a pixel's last word, so the walk
        compares, not subtracts).
        ``row_words``: words of one input row. ``row_skip``: ``row_words - kernel_w *
        words_per_pixel``, the jump from the end of one kernel row to the next.
        ``kernel_h``, ``kernel_w``, ``padding`` (u4), ``stride2``, ``pad_mode``
        (:data:`~oxbnn.models.tiling.PAD_MODES`), ``int_output``, ``pool``.
        ``chunks``, ``last_chunk_bits``: ``ceil(K/N)`` and the bits of the last chunk.
        ``unit_h``, ``unit_w``: the unit grid (pooled grid when pooling). ``rows_per_band``,
        ``band_row_step`` (``rows_per_band * f * s``, input rows between bands).
        ``band_last_group``, ``last_band_last_group``: the index of the last group of a full band
        and of the last band (``ceil(unit rows * unit_w / M) - 1``; below ``2 ** (unit_row +
        unit_col)``, the :class:`~oxbnn.models.tiling.Widths` bounds of a unit's row and
        column), what the sequencer's group down-counter is loaded with. ``band_base0``,
        ``band_base_step`` (s, modular): ``-padding * row_words`` and ``band_row_step *
        row_words``, the first band's window-row offset and its change per band, which the
        sequencer adds instead of multiplying. ``tile_hi0``
        (s): one past the first band's last window row (unclipped), ``last_hi_step``: its
        change from the last band but one to the last band (``band_row_step`` less the last
        band's missing rows times ``f * s``), ``tile_hi0_words``, ``last_hi_step_words``,
        ``image_words`` (s, modular): the same and ``height`` times ``row_words``.
        ``act_bcast``: the layer's dataflow (:data:`~oxbnn.models.tiling.DATAFLOWS`): 0 weight
        broadcast (XPE e on unit e of a group, one filter), 1 activation broadcast (every XPE on
        the group's one unit, XPE e on filter ``f + e``).
        ``m_step_x``, ``m_step_y``: ``A mod unit_w`` and ``A // unit_w`` for the units a group
        advances by, A = M (weight broadcast) or 1 (activation broadcast).
        ``step_*`` / ``wrap_*`` (s): change of an XPE's (row, column, base offset) when its unit
        advances by A without / with a wrap to the next unit row; ``unit_step``, ``unit_base``,
        ``unit_wrap_base``, ``base0``: the same for one unit, used to place XPE e on unit e.
        ``out_channels``, ``filters_per_tile``, ``wgt_tile_words``, ``wgt_last_tile_words``,
        ``wgt_tiles``, ``wgt_loads``: the weight walk; ``wgt_outer``: the walk order
        (:attr:`~oxbnn.models.tiling.TilingPlan.weights_outer`: 1 walks the bands inside each
        weight tile, reloading them); ``filter_step`` (1 or M) and
        ``filter_words`` (``filter_step * chunks``): the filters of one step of the walk and
        their words in the weight bank.
        ``slot_start[s]`` (:func:`slot_origin_layout`): where chunk s starts, the first chunk of
        slot engine s in every vector. ``jump_ky``, ``jump_kx``, ``jump_cw``, ``jump_bw``,
        ``jump_off``: the digits of S N bits (``divmod`` by C, then by N and by ``kernel_w``),
        and the offset change without carries, which the engines add per beat.

    Widths: the descriptor limits (``IMAGE_DIM_BITS``, ``KERNEL_BITS``, ``PAD_MODE_BITS`` of
    :mod:`oxbnn.models.tiling`), the buffer depths and ``max_out_channels``, and the fields of
    :class:`~oxbnn.models.tiling.Widths` (``row_step``, ``m_step_y``, ``unit_step``,
    ``wgt_loads``, ``geometry``, ``offset``), each of which says why it holds every value of a
    plan that exists. ``row_skip`` is negative when the kernel is wider than the image; like
    the offsets it is used modulo the bank's address width, which its width exceeds.
    """
    xpu = _check_xpu(xpu)
    w = Widths.of(xpu)
    n = xpu.n_lanes
    dim = unsigned(IMAGE_DIM_BITS)
    kernel = unsigned(KERNEL_BITS)
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
            "last_word": ad,
            "row_words": ad,
            "row_skip": ad,
            "kernel_h": kernel,
            "kernel_w": kernel,
            "padding": kernel,
            "stride2": unsigned(1),
            "pad_mode": unsigned(PAD_MODE_BITS),
            "int_output": unsigned(1),
            "pool": unsigned(1),
            "chunks": wd,
            "last_chunk_bits": range(n + 1),
            "unit_h": dim,
            "unit_w": dim,
            "rows_per_band": dim,
            "band_row_step": unsigned(w.row_step),
            "band_last_group": unsigned(w.unit_row + w.unit_col),
            "last_band_last_group": unsigned(w.unit_row + w.unit_col),
            "band_base0": off,
            "band_base_step": off,
            "tile_hi0": geo,
            "tile_hi0_words": off,
            "last_hi_step": unsigned(w.row_step),
            "last_hi_step_words": off,
            "image_words": off,
            "act_bcast": unsigned(1),
            "m_step_x": dim,
            "m_step_y": unsigned(w.m_step_y),
            "step_iy": geo,
            "step_ix": geo,
            "step_base": off,
            "wrap_iy": geo,
            "wrap_ix": geo,
            "wrap_base": off,
            "unit_step": unsigned(w.unit_step),
            "unit_base": off,
            "unit_wrap_base": off,
            "base0": off,
            "out_channels": chan,
            "filters_per_tile": chan,
            "wgt_tile_words": wd,
            "wgt_last_tile_words": wd,
            "wgt_tiles": chan,
            "wgt_loads": unsigned(w.wgt_loads),
            "wgt_outer": unsigned(1),
            "filter_step": range(xpu.n_xpes + 1),
            "filter_words": wd,
            "slot_start": data.ArrayLayout(slot_origin_layout(xpu), xpu.symbols_per_cycle),
            "jump_ky": kernel,
            "jump_kx": kernel,
            "jump_cw": ad,
            "jump_bw": range(n),
            "jump_off": off,
        }
    )


@lru_cache(maxsize=64)
def slot_origin_layout(xpu: XpuParams) -> data.StructLayout:
    """Where a chunk starts in the im2col vector: kernel tap ``ky``, ``kx``; word ``cw`` of the
    pixel and bit ``bw`` in it; ``off``, the word's offset from the window origin in the band
    (signed, modular: ``pixel * words_per_pixel + cw + ky * row_skip``)."""
    xpu = _check_xpu(xpu)
    w = Widths.of(xpu)
    return data.StructLayout(
        {
            "ky": unsigned(KERNEL_BITS),
            "kx": unsigned(KERNEL_BITS),
            "cw": range(xpu.act_buffer_depth + 1),
            "bw": range(xpu.n_lanes),
            "off": signed(w.offset),
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


class HostIf(wiring.Component):
    """Descriptor registers, start/busy/done handshake and the per-channel threshold memory.

    **Queue.** ``start`` asks for a layer to be taken, with its descriptor on ``desc_in``; it is
    taken (``accept``) in a cycle with ``start_ready``, a valid/ready handshake (``start_ready``
    depends on registers only, never on ``start``). While idle a layer is taken at once and starts
    (``run``) in the same cycle: ``desc_in`` is latched into ``desc`` and, for a layer with bit
    output, the threshold loader takes ``out_channels`` entries from ``thr_in``, both from
    :attr:`start_latency` cycles after ``start``. While busy, one more layer is taken into the queue
    (``desc_next``, ``queued``) once the loader has finished the running layer's thresholds (and not
    in the cycle of ``done``); its thresholds load at once, into the other bank of the threshold
    memory, while the running layer computes. In the cycle of ``done`` a queued layer starts
    (``run``, ``desc`` takes ``desc_next``) and ``busy`` stays high; without one ``busy`` ends.
    ``thr_ready`` is high once the running layer's thresholds are all stored (or at once for integer
    output).

    The threshold memory has two banks of ``max_out_channels`` entries (the running layer's and
    the queued layer's; bank ``b`` at addresses ``b * 2 ** ceil(log2(max_out_channels))`` up, so
    a bank is one address bit and the read path has no adder) and one synchronous read port per
    XPE: ``thr_addr[e]`` in cycle t gives the running layer's ``thr_data[e]`` in cycle t +
    :attr:`threshold_latency` (the XPEs read one channel's entry under weight broadcast and M
    channels' under activation broadcast).

    Parameters
    ----------
    xpu : XpuParams

    Members
    -------
    desc_in : In(descriptor_layout(xpu))
    start : In(1)
    start_ready : Out(1)
        A ``start`` in this cycle is taken.
    accept : Out(1)
        ``start & start_ready``: the layer on ``desc_in`` is taken this cycle.
    run : Out(1)
        A layer starts this cycle: taken while idle, or promoted from the queue on ``done``.
    desc : Out(descriptor_layout(xpu))
        The running layer's descriptor (from the cycle after ``run``).
    desc_next : Out(descriptor_layout(xpu))
        The queued layer's descriptor (while ``queued``).
    queued : Out(1)
    done : In(1)
        From the sequencer; ends the running layer.
    busy : Out(1)
    thr_in : In(stream.Signature(threshold_layout(xpu)))
    thr_ready : Out(1)
    thr_addr : In(ArrayLayout(range(max_out_channels), M))
    thr_data : Out(ArrayLayout(threshold_layout(xpu), M))
    """

    def __init__(self, *, xpu: XpuParams):
        self._xpu = xpu_params(self, xpu)
        super().__init__(
            {
                "desc_in": In(descriptor_layout(xpu)),
                "start": In(1),
                "start_ready": Out(1),
                "accept": Out(1),
                "run": Out(1),
                "desc": Out(descriptor_layout(xpu)),
                "desc_next": Out(descriptor_layout(xpu)),
                "queued": Out(1),
                "done": In(1),
                "busy": Out(1),
                "thr_in": In(stream.Signature(threshold_layout(xpu))),
                "thr_ready": Out(1),
                "thr_addr": In(data.ArrayLayout(range(max(2, xpu.max_out_channels)), xpu.n_xpes)),
                "thr_data": Out(data.ArrayLayout(threshold_layout(xpu), xpu.n_xpes)),
            }
        )

    @property
    def xpu(self) -> XpuParams:
        return self._xpu

    @fixed_latency
    def start_latency(cls) -> int:
        """Cycle of ``start`` -> first cycle of the run: the descriptor register and the
        threshold loader's state are set at the end of the ``start`` cycle."""
        return 1

    @fixed_latency
    def threshold_latency(cls) -> int:
        """``thr_addr`` -> ``thr_data``: the threshold memory's synchronous read port."""
        return 1

    def elaborate(self, platform):
        m = Module()
        xpu = self._xpu
        abits = len(self.thr_addr[0])  # a bank is 2 ** abits entries
        mem = m.submodules.thresholds = Memory(
            shape=threshold_layout(xpu), depth=2 << abits, init=[]
        )
        load_bank = Signal()  # the bank of the last layer taken (the loader fills it)
        run_bank = Signal()  # the running layer's bank
        wr = mem.write_port()
        for e in range(xpu.n_xpes):
            rd = mem.read_port()
            m.d.comb += [rd.addr.eq(Cat(self.thr_addr[e], run_bank)), self.thr_data[e].eq(rd.data)]

        busy = Signal()
        queued = Signal()
        loading = Signal()
        count = Signal(range(xpu.max_out_channels + 1))
        load_n = Signal.like(self.desc.out_channels)  # entries of the layer being loaded
        start_ready = ~busy | (~queued & ~loading & ~self.done)
        accept = self.start & start_ready
        promote = self.done & queued

        m.d.comb += [
            self.busy.eq(busy),
            self.queued.eq(queued),
            # Loading while a layer is queued is the queued layer's load.
            self.thr_ready.eq(~loading | queued),
            self.thr_in.ready.eq(loading),
            wr.addr.eq(Cat(count[:abits], load_bank)),
            wr.data.eq(self.thr_in.payload),
            wr.en.eq(self.thr_in.valid & loading),
            self.start_ready.eq(start_ready),
            self.accept.eq(accept),
            self.run.eq((accept & ~busy) | promote),
        ]
        with m.If(accept):
            m.d.sync += [
                load_bank.eq(~load_bank),
                count.eq(0),
                load_n.eq(self.desc_in.out_channels),
                loading.eq(self.desc_in.int_output == 0),
            ]
            with m.If(~busy):
                m.d.sync += [self.desc.eq(self.desc_in), busy.eq(1), run_bank.eq(~load_bank)]
            with m.Else():
                m.d.sync += [self.desc_next.eq(self.desc_in), queued.eq(1)]
        with m.Elif(promote):
            m.d.sync += [self.desc.eq(self.desc_next), queued.eq(0), run_bank.eq(~run_bank)]
        with m.Elif(self.done):
            m.d.sync += busy.eq(0)
        with m.If(self.thr_in.valid & loading):
            m.d.sync += count.eq(count + 1)
            with m.If(count + 1 == load_n):
                m.d.sync += loading.eq(0)
        return m
