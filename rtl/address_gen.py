"""Address generator: im2col on the fly for the M XPEs of an XPU.

Each XPE owns one output *unit* of the current group (the weight-broadcast mapping of
:meth:`oxbnn.models.tiling.TilingPlan.units`: all XPEs on one filter) and keeps
its position incrementally: unit row and column, the input row and column of its window's
top-left tap (relative to the band, and absolute), and the word offset of that tap in the band.
Positions are placed at the start of a filter (XPE e on unit e, through a chain of one-unit
steps computed once per layer) and advance by M units per group, with constants the driver put
in the descriptor, so the datapath has no multiplier or divider.

Per issue cycle each of the S slot engines of the sequencer names up to
:data:`~oxbnn.models.tiling.READS_PER_SLOT` words of its chunk (the same for every XPE, which
work in lock-step): their kernel row/column, their offset in the band, the lane they land on and
the bits they give. Each XPE checks whether a word's tap lies in the image (else the word is
padding), reads it through its own read port, and one :class:`~oxbnn.rtl.gearbox.Gearbox` per
slot packs the words into that slot's chunk. A lane without a valid bit is driven dark (act 1,
weight 0).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Elaboratable, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..models.configs import XpuParams
from ..models.tiling import IMAGE_DIM_BITS, PAD_MODES, READS_PER_SLOT, Widths
from ._checks import fixed_latency, xpu_params
from .gearbox import Gearbox, gearbox_control_layout
from .host_if import descriptor_layout
from .tile_buffer import TileBuffer

__all__ = ["AddressGen", "issue_layout", "word_layout"]


def word_layout(xpu: XpuParams) -> data.StructLayout:
    """One word a slot engine names in an issue cycle (the same for every XPE).

    ``row``: input row of the tap relative to the XPE's window origin plus the band's first
    window row (signed); ``col``: input column relative to the window origin; ``offset``: the
    band's base offset + the sub-job's offset + the tap's word offset (signed, modular);
    ``shift``: the lane of the chunk its first used bit lands on; ``placed``: how many of its
    bits go into the chunk (0 unless ``take``).
    """
    w = Widths.of(xpu)
    return data.StructLayout(
        {
            "take": 1,
            "row": signed(w.geometry),
            "col": signed(w.geometry),
            "offset": signed(w.offset),
            "shift": range(xpu.n_lanes),
            "placed": range(xpu.n_lanes + 1),
        }
    )


def issue_layout(xpu: XpuParams) -> data.StructLayout:
    """What the sequencer tells the address generator in every cycle (stage I).

    ``pos_init`` / ``pos_advance`` move the XPEs' units at the end of the cycle (to units 0..M-1,
    or by M). ``band_rows``: unit rows of the current band (an XPE whose unit row is not below
    it is idle; at most ``rows_per_band``, a descriptor dimension). ``word[s R + i]``: word i of
    slot engine s (R = :data:`~oxbnn.models.tiling.READS_PER_SLOT`); ``skip[s]``: bits of engine
    s's first word that belong to the previous chunk (nonzero only in a beat's first cycle).
    ``emit``: the beat is complete this cycle; ``last``: it is the vector's last beat.
    """
    ss = xpu.symbols_per_cycle
    return data.StructLayout(
        {
            "issue": 1,
            "pos_init": 1,
            "pos_advance": 1,
            "band_rows": unsigned(IMAGE_DIM_BITS),
            "word": data.ArrayLayout(word_layout(xpu), ss * READS_PER_SLOT),
            "skip": data.ArrayLayout(range(xpu.n_lanes), ss),
            "emit": 1,
            "last": 1,
        }
    )


def _position_layout(xpu: XpuParams) -> data.StructLayout:
    """An XPE's unit: its row in the band (``Widths.unit_row``: an idle XPE of a band's last group
    may be up to M rows below it), its column (``Widths.unit_col``), and its window origin."""
    w = Widths.of(xpu)
    return data.StructLayout(
        {
            "uy": unsigned(w.unit_row),
            "ux": unsigned(w.unit_col),
            "iy": signed(w.geometry),  # window origin row relative to the band's first window row
            "ix": signed(w.geometry),  # absolute window origin column
            "base": signed(w.offset),  # word offset of the window origin in the band
        }
    )


class _UnitChain(Elaboratable):
    """Positions of units 0..M-1 (one-unit steps); constant during a layer, so kept apart."""

    def __init__(self, xpu: XpuParams, desc):
        self.desc = desc
        self.out = [Signal(_position_layout(xpu), name=f"unit{e}") for e in range(xpu.n_xpes)]

    def elaborate(self, platform):
        m = Module()
        d = self.desc
        first = self.out[0]
        m.d.comb += [
            first.uy.eq(0),
            first.ux.eq(0),
            first.iy.eq(0),
            first.ix.eq(-d.padding),
            first.base.eq(d.base0),
        ]
        for prev, cur in zip(self.out, self.out[1:], strict=False):
            with m.If(prev.ux + 1 == d.unit_w):
                m.d.comb += [
                    cur.uy.eq(prev.uy + 1),
                    cur.ux.eq(0),
                    cur.iy.eq(prev.iy + d.unit_step),
                    cur.ix.eq(-d.padding),
                    cur.base.eq(prev.base + d.unit_wrap_base),
                ]
            with m.Else():
                m.d.comb += [
                    cur.uy.eq(prev.uy),
                    cur.ux.eq(prev.ux + 1),
                    cur.iy.eq(prev.iy),
                    cur.ix.eq(prev.ix + d.unit_step),
                    cur.base.eq(prev.base + d.unit_base),
                ]
        return m


class AddressGen(wiring.Component):
    """Per-XPE addresses, padding checks and bit packing; drives the optical port's data lanes.

    Pipeline: the sequencer's issue control in cycle t (stage I) sets the read addresses; the
    words arrive from the tile buffers' synchronous read ports in t + 1 (stage D, with the
    weight words; this block's stage-D registers hold the control for that one cycle) and are
    packed, one :class:`~oxbnn.rtl.gearbox.Gearbox` per XPE and slot; an emitted beat is on
    ``act`` / ``wgt`` after the gearboxes' output registers, in t + :attr:`latency`, together
    with ``active`` and, after a vector's last beat, its ``kv`` (``K_valid``: the bits that
    count). In a cycle without a beat every lane of every slot is dark.

    Parameters
    ----------
    xpu : XpuParams

    Members
    -------
    desc : In(descriptor_layout(xpu))
    ctl : In(issue_layout(xpu))
    rd_addr : Out(ArrayLayout(act_addr, R S M))
        Read port ``(e S + s) R + i`` carries word ``i`` of slot engine ``s`` of XPE ``e``
        (an offset into the bank; R = :data:`~oxbnn.models.tiling.READS_PER_SLOT`).
    rd_data : In(ArrayLayout(N, R S M))
    wgt_word : In(ArrayLayout(N, S))
        The weight chunk of each slot, in stage D.
    act, wgt : Out(ArrayLayout(S N, M))
        The optical port's lanes, slot ``s`` in bits ``s N .. s N + N - 1``.
    kv : Out(ArrayLayout(count, M))
    active : Out(M)
        XPE e has a unit in this group.
    """

    def __init__(self, *, xpu: XpuParams):
        self._xpu = xpu_params(self, xpu)
        w = Widths.of(xpu)
        n, mm, ss = xpu.n_lanes, xpu.n_xpes, xpu.symbols_per_cycle
        ports = READS_PER_SLOT * ss * mm
        super().__init__(
            {
                "desc": In(descriptor_layout(xpu)),
                "ctl": In(issue_layout(xpu)),
                "rd_addr": Out(data.ArrayLayout(w.act_addr, ports)),
                "rd_data": In(data.ArrayLayout(n, ports)),
                "wgt_word": In(data.ArrayLayout(n, ss)),
                "act": Out(data.ArrayLayout(ss * n, mm)),
                "wgt": Out(data.ArrayLayout(ss * n, mm)),
                "kv": Out(data.ArrayLayout(w.count, mm)),
                "active": Out(mm),
            }
        )

    @property
    def xpu(self) -> XpuParams:
        return self._xpu

    @fixed_latency
    def latency(cls) -> int:
        """Issue cycle of a beat's last reads -> cycle the beat is on ``act`` / ``wgt``: the
        buffers' read latency (stage I -> D) plus the gearbox's output register (D -> P)."""
        return TileBuffer.read_latency + Gearbox.latency

    def elaborate(self, platform):
        m = Module()
        xpu = self._xpu
        n, mm, ss, rr = xpu.n_lanes, xpu.n_xpes, xpu.symbols_per_cycle, READS_PER_SLOT
        w = Widths.of(xpu)
        d = self.desc
        ctl = self.ctl
        all_lanes = (1 << n) - 1
        # Combinational values are written as expressions rather than named signals where they
        # feed one register: the simulator re-runs a block once per level of named signals.

        chain = m.submodules.chain = _UnitChain(xpu, d)

        # Shared gearbox control of each slot engine: computed in stage I, registered into D.
        gb_d = [Signal(gearbox_control_layout(n, rr), name=f"gb{s}_d") for s in range(ss)]
        placed_d = Signal(data.ArrayLayout(range(n + 1), ss * rr))
        for s in range(ss):
            m.d.sync += [gb_d[s].emit.eq(ctl.issue & ctl.emit), gb_d[s].skip.eq(ctl.skip[s])]
            for i in range(rr):
                word = ctl.word[s * rr + i]
                take = word.take & ctl.issue
                # Lanes [shift, shift + placed): one comparison pair per lane, in parallel, rather
                # than a decoder followed by a barrel shifter.
                end = word.shift + word.placed
                lanes = Cat(*((word.shift <= j) & (end > j) for j in range(n)))
                m.d.sync += [
                    gb_d[s].shift[i].eq(word.shift),
                    gb_d[s].mask[i].eq(Mux(take, lanes, 0)),
                    placed_d[s * rr + i].eq(Mux(take, word.placed, 0)),
                ]
        last_d = Signal()
        m.d.sync += last_d.eq(ctl.last)
        fill = Mux(d.pad_mode == PAD_MODES["+1"], all_lanes, 0)
        pad_counts = d.pad_mode != PAD_MODES["dark"]

        wgt_p = Signal(data.ArrayLayout(n, ss))
        m.d.sync += wgt_p.eq(self.wgt_word)
        active_d = Signal(mm)
        for e in range(mm):
            pos = Signal(_position_layout(xpu), name=f"pos{e}")
            with m.If(ctl.pos_init):
                m.d.sync += pos.eq(chain.out[e])
            with m.Elif(ctl.pos_advance):
                nx = pos.ux + d.m_step_x
                with m.If(nx >= d.unit_w):
                    m.d.sync += [
                        pos.ux.eq(nx - d.unit_w),
                        pos.uy.eq(pos.uy + d.m_step_y + 1),
                        pos.iy.eq(pos.iy + d.wrap_iy),
                        pos.ix.eq(pos.ix + d.wrap_ix),
                        pos.base.eq(pos.base + d.wrap_base),
                    ]
                with m.Else():
                    m.d.sync += [
                        pos.ux.eq(nx),
                        pos.uy.eq(pos.uy + d.m_step_y),
                        pos.iy.eq(pos.iy + d.step_iy),
                        pos.ix.eq(pos.ix + d.step_ix),
                        pos.base.eq(pos.base + d.step_base),
                    ]
            active = pos.uy < ctl.band_rows
            m.d.sync += active_d[e].eq(active)

            real_d = Signal(ss * rr, name=f"real{e}")
            count_d = Signal(ss * rr, name=f"count{e}")
            for j in range(ss * rr):
                word = ctl.word[j]
                take = word.take & ctl.issue
                iy = pos.iy + word.row
                ix = pos.ix + word.col
                inside = active & (iy >= 0) & (iy < d.height) & (ix >= 0) & (ix < d.width)
                m.d.comb += self.rd_addr[e * ss * rr + j].eq(pos.base + word.offset)
                m.d.sync += [
                    real_d[j].eq(take & inside),
                    count_d[j].eq(take & active & (inside | pad_counts)),
                ]

            # Stage D: substitute padding, pack, accumulate K_valid; the gearboxes register the
            # chunks onto the port (stage P).
            act_slots, wgt_slots = [], []
            for s in range(ss):
                gb = m.submodules[f"gearbox{e}_{s}"] = Gearbox(n_lanes=n, words=rr)
                m.d.comb += gb.ctl.eq(gb_d[s])
                for i in range(rr):
                    j = s * rr + i
                    m.d.comb += [
                        gb.word[i].eq(Mux(real_d[j], self.rd_data[e * ss * rr + j], fill)),
                        gb.count[i].eq(count_d[j]),
                    ]
                act_slots.append(gb.chunk | ~gb.lanes)
                wgt_slots.append(wgt_p[s] & gb.lanes)
            kv_acc = Signal(w.count, name=f"kv_acc{e}")
            kv_sum = kv_acc
            for j in range(ss * rr):
                kv_sum = kv_sum + Mux(count_d[j], placed_d[j], 0)
            with m.If(gb_d[0].emit & last_d):
                m.d.sync += [self.kv[e].eq(kv_sum), kv_acc.eq(0)]
            with m.Else():
                m.d.sync += kv_acc.eq(kv_sum)
            m.d.comb += [self.act[e].eq(Cat(*act_slots)), self.wgt[e].eq(Cat(*wgt_slots))]
        m.d.sync += self.active.eq(active_d)
        return m
