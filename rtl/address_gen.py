"""Address generator: im2col on the fly for the M XPEs of an XPU.

Each XPE owns one output *unit* of the current group (the weight-broadcast mapping of
:meth:`oxbnn.models.tiling.TilingPlan.units`: all XPEs on one filter) and keeps
its position incrementally: unit row and column, the input row and column of its window's
top-left tap (relative to the band, and absolute), and the word offset of that tap in the band.
Positions are placed at the start of a filter (XPE e on unit e, through a chain of one-unit
steps computed once per layer) and advance by M units per group, with constants the driver put
in the descriptor, so the datapath has no multiplier or divider.

Per issue cycle the sequencer names up to two words of the vector (the same for every XPE,
which work in lock-step): their kernel row/column, their offset in the band and their bit count.
Each XPE checks whether its tap lies in the image (else the word is padding), reads the word
through its two read ports, and its :class:`~oxbnn.rtl.gearbox.Gearbox` packs the words into
chunks. A lane without a valid bit is driven dark (act 1, weight 0).
"""

from __future__ import annotations

from amaranth.hdl import Elaboratable, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..models.configs import XpuParams
from ..models.tiling import IMAGE_DIM_BITS, PAD_MODES, Widths
from ._checks import fixed_latency, xpu_params
from .gearbox import Gearbox, gearbox_control_layout
from .host_if import descriptor_layout
from .tile_buffer import TileBuffer

__all__ = ["AddressGen", "issue_layout", "word_layout"]


def word_layout(xpu: XpuParams) -> data.StructLayout:
    """One word of the vector named by the sequencer in an issue cycle.

    ``row``: input row of the tap relative to the XPE's window origin plus the band's first
    window row (signed); ``col``: input column relative to the window origin; ``offset``: the
    band's base offset + the sub-job's offset + the tap's word offset (signed, modular);
    ``bits``: the word's bit count (N, or the pixel's remainder for its last word).
    """
    w = Widths.of(xpu)
    return data.StructLayout(
        {
            "take": 1,
            "row": signed(w.geometry),
            "col": signed(w.geometry),
            "offset": signed(w.offset),
            "bits": range(xpu.n_lanes + 1),
        }
    )


def issue_layout(xpu: XpuParams) -> data.StructLayout:
    """What the sequencer tells the address generator in every cycle (stage I).

    ``pos_init`` / ``pos_advance`` move the XPEs' units at the end of the cycle (to units 0..M-1,
    or by M). ``band_rows``: unit rows of the current band (an XPE whose unit row is not below
    it is idle; at most ``rows_per_band``, a descriptor dimension). ``have``: bits of the current
    chunk already held; ``emit``: the chunk is complete this cycle; ``last``: it is the vector's
    last chunk.
    """
    return data.StructLayout(
        {
            "issue": 1,
            "pos_init": 1,
            "pos_advance": 1,
            "band_rows": unsigned(IMAGE_DIM_BITS),
            "word": data.ArrayLayout(word_layout(xpu), 2),
            "have": range(xpu.n_lanes),
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
    words arrive from the tile buffers' synchronous read ports in t + 1 (stage D, with the weight
    word; this block's stage-D registers hold the control for that one cycle) and are packed; an
    emitted chunk is on ``act`` / ``wgt`` after the gearbox's output register, in t +
    :attr:`latency`, together with ``active`` and, after a vector's last chunk, its ``kv``
    (``K_valid``: the bits that count). In a cycle without a chunk every lane is dark.

    Parameters
    ----------
    xpu : XpuParams

    Members
    -------
    desc : In(descriptor_layout(xpu))
    ctl : In(issue_layout(xpu))
    rd_addr : Out(ArrayLayout(act_addr, 2 M))
        Read port ``2 e + i`` carries word ``i`` of XPE ``e`` (an offset into the bank).
    rd_data : In(ArrayLayout(N, 2 M))
    wgt_word : In(N)
        The weight chunk, in stage D.
    act, wgt : Out(ArrayLayout(N, M))
    kv : Out(ArrayLayout(count, M))
    active : Out(M)
        XPE e has a unit in this group.
    """

    def __init__(self, *, xpu: XpuParams):
        self._xpu = xpu_params(self, xpu)
        w = Widths.of(xpu)
        n, mm = xpu.n_lanes, xpu.n_xpes
        super().__init__(
            {
                "desc": In(descriptor_layout(xpu)),
                "ctl": In(issue_layout(xpu)),
                "rd_addr": Out(data.ArrayLayout(w.act_addr, 2 * mm)),
                "rd_data": In(data.ArrayLayout(n, 2 * mm)),
                "wgt_word": In(n),
                "act": Out(data.ArrayLayout(n, mm)),
                "wgt": Out(data.ArrayLayout(n, mm)),
                "kv": Out(data.ArrayLayout(w.count, mm)),
                "active": Out(mm),
            }
        )

    @property
    def xpu(self) -> XpuParams:
        return self._xpu

    @fixed_latency
    def latency(cls) -> int:
        """Issue cycle of a chunk's last read -> cycle the chunk is on ``act`` / ``wgt``: the
        buffers' read latency (stage I -> D) plus the gearbox's output register (D -> P)."""
        return TileBuffer.read_latency + Gearbox.latency

    def elaborate(self, platform):
        m = Module()
        xpu = self._xpu
        n, mm = xpu.n_lanes, xpu.n_xpes
        w = Widths.of(xpu)
        d = self.desc
        ctl = self.ctl
        all_lanes = (1 << n) - 1
        # Combinational values are written as expressions rather than named signals where they
        # feed one register: the simulator re-runs a block once per level of named signals.

        chain = m.submodules.chain = _UnitChain(xpu, d)

        # Shared gearbox control: computed in stage I, registered into stage D.
        gb_d = Signal(gearbox_control_layout(n))
        bits_d = Signal(data.ArrayLayout(range(n + 1), 2))
        take = [ctl.word[i].take & ctl.issue for i in range(2)]
        shift1 = ctl.have + ctl.word[0].bits
        m.d.sync += [
            gb_d.shift[0].eq(ctl.have),
            gb_d.shift[1].eq(shift1),
            gb_d.emit.eq(ctl.issue & ctl.emit),
            gb_d.last.eq(ctl.last),
            gb_d.mask[0].eq(Mux(take[0], ((1 << ctl.word[0].bits) - 1) << ctl.have, 0)),
            gb_d.mask[1].eq(Mux(take[1], ((1 << ctl.word[1].bits) - 1) << shift1, 0)),
            bits_d[0].eq(ctl.word[0].bits),
            bits_d[1].eq(ctl.word[1].bits),
        ]
        fill = Mux(d.pad_mode == PAD_MODES["+1"], all_lanes, 0)
        pad_counts = d.pad_mode != PAD_MODES["dark"]

        wgt_p = Signal(n)
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

            real_d = Signal(2, name=f"real{e}")
            count_d = Signal(2, name=f"count{e}")
            for i in range(2):
                iy = pos.iy + ctl.word[i].row
                ix = pos.ix + ctl.word[i].col
                inside = active & (iy >= 0) & (iy < d.height) & (ix >= 0) & (ix < d.width)
                m.d.comb += self.rd_addr[2 * e + i].eq(pos.base + ctl.word[i].offset)
                m.d.sync += [
                    real_d[i].eq(take[i] & inside),
                    count_d[i].eq(take[i] & active & (inside | pad_counts)),
                ]

            # Stage D: substitute padding, pack, accumulate K_valid; the gearbox registers the
            # chunk onto the port (stage P).
            gb = m.submodules[f"gearbox{e}"] = Gearbox(n_lanes=n)
            m.d.comb += gb.ctl.eq(gb_d)
            for i in range(2):
                m.d.comb += [
                    gb.word[i].eq(Mux(real_d[i], self.rd_data[2 * e + i], fill)),
                    gb.count[i].eq(count_d[i]),
                ]
            kv_acc = Signal(w.count, name=f"kv_acc{e}")
            kv_sum = kv_acc + Mux(count_d[0], bits_d[0], 0) + Mux(count_d[1], bits_d[1], 0)
            with m.If(gb_d.emit & gb_d.last):
                m.d.sync += [self.kv[e].eq(kv_sum), kv_acc.eq(0)]
            with m.Else():
                m.d.sync += kv_acc.eq(kv_sum)
            m.d.comb += [
                self.act[e].eq(gb.chunk | ~gb.lanes),
                self.wgt[e].eq(wgt_p & gb.lanes),
            ]
        m.d.sync += self.active.eq(active_d)
        return m
