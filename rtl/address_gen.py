"""Address generator: im2col on the fly for the M XPEs of an XPU.

Each XPE owns one output *unit* of the current group (the weight-broadcast mapping of
:meth:`oxbnn.models.tiling.TilingPlan.units`: all XPEs on one filter) and keeps
its position incrementally: unit row and column, the word offset of its window's top-left tap
in the band, and the bounds a tap's row and column (relative to that tap) must keep to lie in
the image (from the tap's input row, relative to the band, and its absolute column).
Positions are placed at the start of a filter (XPE e on unit e, in closed form from the
descriptor: :class:`_UnitPlacement`) and advance by M units per group, with constants the driver
put in the descriptor, so the datapath has no multiplier or divider.

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
from ._arith import select, times
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
    bits go into the chunk (0 unless ``take``); ``end``: ``shift + placed``, the lane after its
    last one (the sequencer has it before the difference ``placed``, so the gearbox's lane mask
    does not wait for an adder: retiming).
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
            "end": range(xpu.n_lanes + 1),
        }
    )


def issue_layout(xpu: XpuParams) -> data.StructLayout:
    """What the sequencer tells the address generator in every cycle (stage I).

    ``pos_init`` / ``pos_advance`` move the XPEs' units at the end of the cycle (to units 0..M-1,
    or by the descriptor's step). ``band_rows``: unit rows of the current band (an XPE whose unit
    row is not below it is idle; at most ``rows_per_band``, a descriptor dimension).
    ``filters[e]``: XPE e has a filter in this step (else it is idle). ``word[s R + i]``: word i of
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
            "filters": xpu.n_xpes,
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


class _UnitPlacement(Elaboratable):
    """Positions of units 0..M-1 (XPE e's at the start of a filter step); constant during a
    layer, so kept apart. Under activation broadcast every XPE is placed on unit 0.

    Unit e is column ``e mod unit_w`` of unit row ``q = floor(e / unit_w)``: window origin row
    ``q unit_step``, column ``ux unit_step - padding`` and word offset ``base0 + (e - q)
    unit_base + q unit_wrap_base`` (``e - q`` one-unit steps in a row, ``q`` wraps). Closed
    form (retiming): ``q`` from comparisons of ``unit_w`` with constants, in parallel, the
    multiples of the descriptor's steps by constants (shifts and additions) and one-hot
    selections (trees of depth log M), rather than M - 1 one-unit steps in series, whose depth
    grew with M; the same positions.
    """

    def __init__(self, xpu: XpuParams, desc):
        self.desc = desc
        self.xpu = xpu
        self.out = [Signal(_position_layout(xpu), name=f"unit{e}") for e in range(xpu.n_xpes)]

    def elaborate(self, platform):
        m = Module()
        d, xpu = self.desc, self.xpu
        uw = d.unit_w
        memo: dict = {}

        def mult(field: str, k: int):
            """``k`` times descriptor field ``field``, formed once for the whole XPU (every unit
            that needs the same multiple shares it: without the sharing the M units' copies made
            the M = 53 placement 10.8 MB of Verilog)."""
            if k == 0:
                return 0
            if (field, k) not in memo:
                value = times(d[field], k)
                sig = Signal(value.shape(), name=f"{field}_x{k}")
                m.d.comb += sig.eq(value)
                memo[field, k] = sig
            return memo[field, k]

        for e, out in enumerate(self.out):
            cur = out
            if e:  # activation broadcast (``act_bcast``): every XPE on unit 0, the group's one
                cur = Signal(_position_layout(xpu), name=f"unit{e}_own")
                m.d.comb += out.eq(Mux(d.act_bcast, self.out[0].as_value(), cur.as_value()))
            # q = floor(e / unit_w) is one of a few values; q iff e // (q + 1) < unit_w <= e // q.
            qs = sorted({e // k for k in range(1, e + 2)})
            hot = [(uw > e // (q + 1)) & ((uw <= e // q) if q else 1) for q in qs]
            ux = select(hot, [e - mult("unit_w", q) for q in qs])
            # ux < unit_w and ux <= e: the column's multiple of unit_step from a one-hot of ux
            # (of the signal, so that the tests share one copy of its selection).
            xs = list(range(e + 1))
            m.d.comb += [
                cur.uy.eq(select(hot, qs)),
                cur.ux.eq(ux),
                cur.iy.eq(select(hot, [mult("unit_step", q) for q in qs])),
                cur.ix.eq(
                    select([cur.ux == x for x in xs], [mult("unit_step", x) for x in xs])
                    - d.padding
                ),
                cur.base.eq(
                    d.base0
                    + select(hot, [mult("unit_base", e - q) for q in qs])
                    + select(hot, [mult("unit_wrap_base", q) for q in qs])
                ),
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
    wgt_word : In(ArrayLayout(N, S M))
        The weight chunk of slot s for XPE e (element ``e S + s``), in stage D.
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
                "wgt_word": In(data.ArrayLayout(n, ss * mm)),
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

        units = m.submodules.units = _UnitPlacement(xpu, d)

        # Shared gearbox control of each slot engine: computed in stage I, registered into D.
        gb_d = [Signal(gearbox_control_layout(n, rr), name=f"gb{s}_d") for s in range(ss)]
        placed_d = Signal(data.ArrayLayout(range(n + 1), ss * rr))
        for s in range(ss):
            m.d.sync += [gb_d[s].emit.eq(ctl.issue & ctl.emit), gb_d[s].skip.eq(ctl.skip[s])]
            for i in range(rr):
                word = ctl.word[s * rr + i]
                take = word.take & ctl.issue
                # Lanes [shift, end): one comparison pair per lane, in parallel, rather than a
                # decoder followed by a barrel shifter.
                lanes = Cat(*((word.shift <= j) & (word.end > j) for j in range(n)))
                m.d.sync += [
                    gb_d[s].shift[i].eq(word.shift),
                    gb_d[s].mask[i].eq(Mux(take, lanes, 0)),
                    placed_d[s * rr + i].eq(Mux(take, word.placed, 0)),
                ]
        last_d = Signal()
        m.d.sync += last_d.eq(ctl.last)
        fill = Mux(d.pad_mode == PAD_MODES["+1"], all_lanes, 0)
        pad_counts = d.pad_mode != PAD_MODES["dark"]

        active_d = Signal(mm)
        bound = signed(w.geometry + 1)
        unit_fields = _position_layout(xpu).members
        pos_layout = data.StructLayout({f: unit_fields[f] for f in ("uy", "ux", "base")})
        for e in range(mm):
            # The XPE's unit (uy, ux, base) and, instead of its window origin (iy, ix), the
            # bounds of a tap's (row, col) inside the image: -iy <= row < height - iy, -ix <= col
            # < width - ix (retiming: two comparisons per word and no adder before them); each
            # bound moves with the origin.
            pos = Signal(pos_layout, name=f"pos{e}")
            y_lo, y_hi = Signal(bound, name=f"y_lo{e}"), Signal(bound, name=f"y_hi{e}")
            x_lo, x_hi = Signal(bound, name=f"x_lo{e}"), Signal(bound, name=f"x_hi{e}")
            unit = units.out[e]
            # Whether the next advance wraps to the next unit row (ux + m_step_x >= unit_w): a
            # register (retiming: the advance selects with it rather than after an adder and a
            # comparison), updated with the position.
            wrap = Signal(name=f"wrap{e}")

            def move(dy, dx, y_lo=y_lo, y_hi=y_hi, x_lo=x_lo, x_hi=x_hi):
                return [
                    y_lo.eq(y_lo - dy),
                    y_hi.eq(y_hi - dy),
                    x_lo.eq(x_lo - dx),
                    x_hi.eq(x_hi - dx),
                ]

            with m.If(ctl.pos_init):
                m.d.sync += [
                    pos.uy.eq(unit.uy),
                    pos.ux.eq(unit.ux),
                    pos.base.eq(unit.base),
                    y_lo.eq(-unit.iy),
                    y_hi.eq(d.height - unit.iy),
                    x_lo.eq(-unit.ix),
                    x_hi.eq(d.width - unit.ix),
                    wrap.eq(unit.ux + d.m_step_x >= d.unit_w),
                ]
            with m.Elif(ctl.pos_advance):
                # The next wrap test for each value of this one: ux + m_step_x - unit_w +
                # m_step_x >= unit_w, or ux + 2 m_step_x >= unit_w, from the register ux.
                m.d.sync += wrap.eq(
                    Mux(
                        wrap,
                        pos.ux >= (d.unit_w - d.m_step_x) << 1,
                        pos.ux >= d.unit_w - (d.m_step_x << 1),
                    )
                )
                with m.If(wrap):
                    m.d.sync += [
                        pos.ux.eq(pos.ux + (d.m_step_x - d.unit_w)),
                        pos.uy.eq(pos.uy + d.m_step_y + 1),
                        pos.base.eq(pos.base + d.wrap_base),
                        *move(d.wrap_iy, d.wrap_ix),
                    ]
                with m.Else():
                    m.d.sync += [
                        pos.ux.eq(pos.ux + d.m_step_x),
                        pos.uy.eq(pos.uy + d.m_step_y),
                        pos.base.eq(pos.base + d.step_base),
                        *move(d.step_iy, d.step_ix),
                    ]
            active = (pos.uy < ctl.band_rows) & ctl.filters[e]
            m.d.sync += active_d[e].eq(active)

            real_d = Signal(ss * rr, name=f"real{e}")
            count_d = Signal(ss * rr, name=f"count{e}")
            for j in range(ss * rr):
                word = ctl.word[j]
                take = word.take & ctl.issue
                inside = (
                    active
                    & (word.row >= y_lo)
                    & (word.row < y_hi)
                    & (word.col >= x_lo)
                    & (word.col < x_hi)
                )
                m.d.comb += self.rd_addr[e * ss * rr + j].eq(pos.base + word.offset)
                m.d.sync += [
                    real_d[j].eq(take & inside),
                    count_d[j].eq(take & active & (inside | pad_counts)),
                ]

            # Stage D: substitute padding, pack, accumulate K_valid; the gearboxes register the
            # chunks onto the port (stage P), the weight chunks a register beside them.
            wgt_p = Signal(data.ArrayLayout(n, ss), name=f"wgt_p{e}")
            m.d.sync += wgt_p.eq(self.wgt_word.as_value()[e * ss * n : (e + 1) * ss * n])
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
