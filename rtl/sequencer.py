"""Control path of the XPU: tile walks, the job walk, the chunk schedule and the PCA strobes.

The walk of the plan (:mod:`oxbnn.models.tiling`), which :mod:`oxbnn.models.timing` counts in
closed form, the same loop nest in both dataflows::

    for band: for weight tile: for filter step in tile: for group in band: for sub-job: one vector

A filter step is ``filter_step`` filters (1 under weight broadcast, where a group is M units; M
under activation broadcast, where a group is one unit and XPE e takes filter ``f + e``, with
``ctl.filters`` saying which XPEs have one). The descriptor carries the step and its words
(``filter_step``, ``filter_words``) and the units a group advances by, so the walk is the same
logic for both.

Three walkers run concurrently:

* the **activation tile walker** announces each band's tile length (input rows it needs, clipped
  to the image, times the row's words) to the activation :class:`~oxbnn.rtl.tile_buffer.
  TileBuffer`, in band order, as soon as the previous one is complete;
* the **weight tile walker** announces the weight loads: one tile if all filters fit a bank,
  else one per (band, weight tile) pair;
* the **job walker** issues vectors. A job starts only in a cycle in which the tiles of its pair
  are in the buffers, the thresholds are loaded and, for the first sub-job of a unit, the result
  FIFO is sure to have room for the unit (credits); once started, a job runs to its end without
  a stall, and the next job can start in the cycle after.

Inside a job the sequencer walks the vector in *beats* of S chunks (beat b: chunk b S + s on
slot s; S = ``XpuParams.symbols_per_cycle``). Slot engine s (shared by all XPEs, which work in
lock-step) knows where its chunk starts in the im2col vector and names, per cycle, up to
:data:`~oxbnn.models.tiling.READS_PER_SLOT` words per XPE (``take``), only as many as its chunk
still needs, with the lane each lands on (``shift``) and the bits it gives (``placed``); the
beat leaves (``emit``) when every engine's chunk is complete, its ADC bank is free (if it
samples) and the PCA capacitor of each run it starts has discharged (:class:`_CapacitorRotation`,
generated only when ``reset_dead_slots > 0``). ``pca_reset`` comes with the first chunk of
every run of γ chunks and ``pca_sample`` with the last one and with the vector's last chunk,
each in its chunk's slot.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..models.configs import XpuParams
from ..models.tiling import POOL_SUBJOBS, READS_PER_SLOT, Widths
from ._arith import pick, times
from ._checks import fixed_latency, positive_int, xpu_params
from .address_gen import issue_layout
from .host_if import descriptor_layout

__all__ = ["Sequencer", "meta_layout"]


def meta_layout(xpu: XpuParams) -> data.StructLayout:
    """Metadata of an issue cycle that travels with its beat to the port and the readout."""
    return data.StructLayout(
        {
            "reset": xpu.symbols_per_cycle,  # pca_reset mask (bit s: slot s); 0 without emit
            "sample": xpu.symbols_per_cycle,  # pca_sample mask; 0 without emit
            "last": 1,  # the vector's last beat
            "bank": range(max(2, xpu.adc_banks)),  # the ADC bank of the beat's samples
            "unit_first": 1,  # first sub-job of a unit
            "unit_last": 1,  # last sub-job of a unit: its result is complete with this vector
        }
    )


class Sequencer(wiring.Component):
    """Walks tiles, jobs and chunks; issues the address generator and the PCA strobes.

    Timing contract (used by :mod:`oxbnn.models.timing`): ``start`` in cycle 0 arms all walkers
    (tile announcements from cycle :attr:`start_latency`, issue from the cycle after it, when the
    slot engines hold the latched descriptor's values; in the XPU no tile is complete sooner);
    a job's issue cycles follow each other without a gap; the activation bank is released in
    the last issue cycle of its band and a weight bank (when tiles are reloaded) in the last
    issue cycle of its pair; ``done`` is high :attr:`result_to_done` cycles after the last
    result is taken (``popped``).

    Register widths come from :class:`~oxbnn.models.tiling.Widths` (each field says why it holds
    every value of a plan that exists).

    Parameters
    ----------
    xpu : XpuParams
    result_depth : int
        Results the readout can buffer; the sequencer keeps at most this many units in flight.

    Members
    -------
    desc : In(descriptor_layout(xpu))
        The latched descriptor (valid from cycle 1).
    start : In(1)
    desc_next, queued : In(descriptor_layout(xpu)), In(1)
        The queued layer's descriptor (:class:`~oxbnn.rtl.host_if.HostIf`), while ``queued``.
    act_cmd, wgt_cmd : Out(stream.Signature(...))
        Tile lengths for the activation / weight buffers.
    act_valid, wgt_valid : In(1)
        The buffer's oldest bank holds a complete tile.
    act_release, wgt_release : Out(1)
    thr_ready : In(1)
    ctl : Out(issue_layout(xpu))
        Stage I control of the address generator.
    meta : Out(meta_layout(xpu))
        Stage I metadata of the beat (its strobe masks are zero unless ``ctl.emit``).
    wgt_addr : Out(ArrayLayout(range(wgt_buffer_depth), S))
        Weight word of slot s's chunk.
    thr_addr : Out(range(max_out_channels))
    popped : In(1)
        The host took a result this cycle.
    done : Out(1)
    """

    def __init__(self, *, xpu: XpuParams, result_depth: int):
        xpu_params(self, xpu)
        positive_int(self, "result_depth", result_depth)
        self._xpu = xpu
        self._result_depth = result_depth
        w = Widths.of(xpu)
        super().__init__(
            {
                "desc": In(descriptor_layout(xpu)),
                "start": In(1),
                "desc_next": In(descriptor_layout(xpu)),
                "queued": In(1),
                "act_cmd": Out(stream.Signature(range(xpu.act_buffer_depth + 1))),
                "wgt_cmd": Out(stream.Signature(range(xpu.wgt_buffer_depth + 1))),
                "act_valid": In(1),
                "wgt_valid": In(1),
                "act_release": Out(1),
                "wgt_release": Out(1),
                "thr_ready": In(1),
                "ctl": Out(issue_layout(xpu)),
                "meta": Out(meta_layout(xpu)),
                "wgt_addr": Out(data.ArrayLayout(w.wgt_addr, xpu.symbols_per_cycle)),
                "thr_addr": Out(range(max(2, xpu.max_out_channels))),
                "popped": In(1),
                "done": Out(1),
            }
        )

    @property
    def xpu(self) -> XpuParams:
        return self._xpu

    @property
    def result_depth(self) -> int:
        return self._result_depth

    @fixed_latency
    def start_latency(cls) -> int:
        """Cycle of ``start`` -> first cycle the walkers act (announce tiles, may issue): the
        walkers' state registers are set at the end of the ``start`` cycle."""
        return 1

    @fixed_latency
    def result_to_done(cls) -> int:
        """Cycle the last result is taken (``popped``) -> cycle ``done`` is high: the credit
        counter registers the pop, and ``done`` decodes the counter."""
        return 1

    def elaborate(self, platform):
        m = Module()
        xpu = self._xpu
        n = xpu.n_lanes
        w = Widths.of(xpu)
        d = self.desc
        geo = signed(w.geometry)
        # Combinational values are Python expressions rather than named signals: the simulator
        # re-runs a block once per level of named signals, and yosys shares the duplicates.

        def min_(a, b):
            return Mux(a < b, a, b)

        # Retimed (cycle for cycle the same walk): every "last" test of the walks is a register,
        # updated at the end of each job from the walker registers alone (never from the job's
        # end), so the end of a vector reaches the walker's state through a flag and a
        # multiplexer, not through a chain of adders and comparators. The groups of a band are a
        # down-counter loaded from the descriptor (``band_last_group``, ``last_band_last_group``)
        # and the band's base offset an incremental sum (``band_base0``, ``band_base_step``): no
        # multiplier. The descriptor is latched only at the end of the ``start`` cycle, so in the
        # cycle after it (``first``, which may issue) each such register reads as its value for
        # the first band, tile, filter, sub-job and beat, decoded from the descriptor by a single
        # comparison or sum (``early``), and takes that value unless the cycle ends a job.
        early = []

        def early_reg(shape, name):
            """A walker register ``q`` and the value ``e`` the cycle reads (see above)."""
            q = Signal(shape, name=f"{name}_q")
            e = Signal(shape, name=name)
            early.append((q, e))
            m.d.sync += q.eq(e)  # held unless a later statement of the cycle updates it
            return q, e

        # ---------------------------------------------------------------- activation tile walker
        # A band's tile is its input rows [max(lo, 0), min(hi, height)), lo and hi the first and
        # one past the last input row of its windows, kept with their offsets lo * row_words and
        # hi * row_words as incremental sums (descriptor: ``band_base0``, ``band_base_step``,
        # ``tile_hi0``, ``tile_hi0_words``, ``last_hi_step``, ``last_hi_step_words``,
        # ``image_words``), so the tile's length needs no multiplier.
        a_active = Signal()
        # Passes over the bands done (weights outside the bands: one pass per weight tile), and
        # whether the current one is followed by another.
        a_pass = Signal.like(d.wgt_tiles)
        a_again = d.wgt_outer & (a_pass + 1 != d.wgt_tiles)
        # The first unit row of the band after the next (u0 + 2 rows_per_band, one bit wider).
        a_u2_q, a_u2 = early_reg(unsigned(w.unit_row + 1), "a_u2")
        a_lo_q, a_lo = early_reg(geo, "a_lo")
        a_hi_q, a_hi = early_reg(geo, "a_hi")
        a_lo_w_q, a_lo_w = early_reg(signed(w.offset), "a_lo_words")
        a_hi_w_q, a_hi_w = early_reg(signed(w.offset), "a_hi_words")
        a_last_q, a_last = early_reg(1, "a_last")  # the band is the last
        a_bot_w = Mux(a_hi > d.height, d.image_words, a_hi_w)
        a_top_w = Mux(a_lo < 0, 0, a_lo_w)
        # Prefetch (layer chaining): once this layer's walker has announced its last tile, the
        # queued layer's first tile (band 0 of pass 0: its rows from 0 to min(tile_hi0,
        # height)) is announced from its descriptor, so it loads while this layer computes; in
        # the queued layer's ``first`` cycle its walker then steps past that tile (``a_skip``)
        # as if it had announced it. A prefetch still loading when the layer starts simply
        # continues as the walker's own first announcement (the same length).
        dn = self.desc_next
        first = Signal()
        pre_a = Signal()  # the queued layer's first activation tile is announced
        pf_a = self.queued & ~a_active & ~pre_a
        a_skip = first & pre_a
        pf_a_words = Mux(dn.tile_hi0 > dn.height, dn.image_words, dn.tile_hi0_words) - Mux(
            dn.padding != 0, 0, dn.band_base0
        )
        m.d.comb += [
            self.act_cmd.valid.eq((a_active & ~a_skip) | pf_a),
            self.act_cmd.payload.eq(Mux(a_active, a_bot_w - a_top_w, pf_a_words)),
        ]
        with m.If(pf_a & self.act_cmd.ready):
            m.d.sync += pre_a.eq(1)
        with m.If(first):
            m.d.sync += pre_a.eq(0)
        # The walker's tile is announced (transferred, or stepped past as prefetched).
        a_step = (a_active & ~a_skip & self.act_cmd.ready) | a_skip
        with m.If(a_step):
            a_next_last = a_u2 >= d.unit_h
            m.d.sync += [
                a_u2_q.eq(a_u2 + d.rows_per_band),
                a_lo_q.eq(a_lo + d.band_row_step),
                a_lo_w_q.eq(a_lo_w + d.band_base_step),
                a_hi_q.eq(a_hi + Mux(a_next_last, d.last_hi_step, d.band_row_step)),
                a_hi_w_q.eq(a_hi_w + Mux(a_next_last, d.last_hi_step_words, d.band_base_step)),
                a_last_q.eq(a_next_last),
            ]
            with m.If(a_last & ~a_again):
                m.d.sync += a_active.eq(0)

        # -------------------------------------------------------------------- weight tile walker
        w_active = Signal()
        w_tile = Signal.like(d.wgt_tiles)
        w_count = Signal(unsigned(w.wgt_loads))
        w_tile_last = w_tile + 1 == d.wgt_tiles
        # Prefetch of the queued layer's first weight tile, as for the activations.
        pre_w = Signal()
        pf_w = self.queued & ~w_active & ~pre_w
        w_skip = first & pre_w
        pf_w_words = Mux(dn.wgt_tiles == 1, dn.wgt_last_tile_words, dn.wgt_tile_words)
        m.d.comb += [
            self.wgt_cmd.valid.eq((w_active & ~w_skip) | pf_w),
            self.wgt_cmd.payload.eq(
                Mux(
                    w_active,
                    Mux(w_tile_last, d.wgt_last_tile_words, d.wgt_tile_words),
                    pf_w_words,
                )
            ),
        ]
        with m.If(pf_w & self.wgt_cmd.ready):
            m.d.sync += pre_w.eq(1)
        with m.If(first):
            m.d.sync += pre_w.eq(0)
        with m.If((w_active & ~w_skip & self.wgt_cmd.ready) | w_skip):
            m.d.sync += [w_count.eq(w_count + 1), w_tile.eq(Mux(w_tile_last, 0, w_tile + 1))]
            with m.If(w_count + 1 == d.wgt_loads):
                m.d.sync += w_active.eq(0)

        # ---------------------------------------------------------------------------- job walker
        running = Signal()
        flushing = Signal()
        outstanding = Signal(range(self._result_depth + 1))
        # The first unit rows of the next band and of the one after (u0 + rows_per_band and
        # u0 + 2 rows_per_band, u0 the band's), so a band's tests compare registers.
        u1_q, u1 = early_reg(unsigned(w.unit_row + 1), "u1")
        u2_q, u2 = early_reg(unsigned(w.unit_row + 1), "u2")
        f0 = Signal.like(d.out_channels)
        filt = Signal.like(d.out_channels)
        wf_off = Signal(w.wgt_addr + 1)
        sub = Signal(unsigned(w.subjob))
        in_job = Signal()
        # The band's first window row, iy0 - padding (iy0 = u0 * f * s), and band_iy * row_words.
        band_iy_q, band_iy = early_reg(geo, "band_iy")
        band_off_q, band_off = early_reg(signed(w.offset), "band_off")
        band_base_q, band_base = early_reg(signed(w.offset), "band_base")  # band_off if < 0
        band_rows_q, band_rows = early_reg(d.rows_per_band.shape(), "band_rows")  # rows left
        band_last_q, band_last = early_reg(1, "band_last")  # u1 >= unit_h
        f_end_q, f_end = early_reg(d.out_channels.shape(), "f_end")  # the tile's end filter
        wtile_last_q, wtile_last = early_reg(1, "wtile_last")  # f_end == out_channels
        filter_last_q, filter_last = early_reg(1, "filter_last")  # filt + filter_step >= f_end
        # XPE e has a filter in this step: filt + e < f_end (activation broadcast; all XPEs share
        # the one filter under weight broadcast).
        fmask_q, fmask = early_reg(xpu.n_xpes, "fmask")
        groups_left_q, groups_left = early_reg(d.band_last_group.shape(), "groups_left")
        group_last_q, group_last = early_reg(1, "group_last")  # groups_left == 0
        sub_last_q, sub_last = early_reg(1, "sub_last")  # not pool, or sub == POOL_SUBJOBS - 1
        # The sub-job's window row and base offset: band_iy + sub_row(sub), band_base + sub_off.
        job_row_q, job_row = early_reg(geo, "job_row")
        job_base_q, job_base = early_reg(signed(w.offset), "job_base")

        def sub_row_of(sb):
            """Input rows of sub-job ``sb`` (pool window element (dy, dx) = (sb[1], sb[0]))
            below the unit's window origin."""
            return sb[1] << d.stride2

        def sub_off_of(sb):
            """Word offset of sub-job ``sb``'s window origin from the unit's."""
            return Mux(sb[1], d.row_words << d.stride2, 0) + Mux(
                sb[0], d.words_per_pixel << d.stride2, 0
            )

        def band_walk(new_u0, new_u1, new_iy, new_off):
            """Walker registers for the band of unit rows from ``new_u0``, the next band's
            from ``new_u1``."""
            nl = new_u1 >= d.unit_h
            left = Mux(nl, d.last_band_last_group, d.band_last_group)
            return [
                (band_iy_q, new_iy),
                (band_off_q, new_off),
                (band_rows_q, min_(d.unit_h - new_u0, d.rows_per_band)),
                (band_last_q, nl),
                (band_base_q, Mux(new_iy < 0, new_off, 0)),
                (job_row_q, new_iy),
                (job_base_q, Mux(new_iy < 0, new_off, 0)),
                (groups_left_q, left),
                (group_last_q, left == 0),
            ]

        def tile_walk(new_f0):
            """Walker registers for the weight tile starting at filter ``new_f0``."""
            fe = min_(new_f0 + d.filters_per_tile, d.out_channels)
            return [
                (f_end_q, fe),
                (wtile_last_q, fe == d.out_channels),
                (filter_last_q, new_f0 + d.filter_step >= fe),
                (fmask_q, filter_mask(new_f0, fe)),
            ]

        def filter_mask(f, fe):
            """Which XPEs have a filter in the step from filter ``f`` (tile end ``fe``)."""
            return Cat(*(~d.act_bcast | (f + e < fe) for e in range(xpu.n_xpes)))

        def load(pairs):
            return [q.eq(v) for q, v in pairs]

        issue = Signal()
        # No issue in ``first``: the descriptor is latched at its start, so registers loaded from
        # it (the slot engines') hold it only from the next cycle. In the XPU this costs nothing:
        # the tile buffers are cleared in the ``start`` cycle, so no tile is complete before the
        # cycle after ``first``.
        m.d.comb += issue.eq(
            running
            & ~first
            & (
                in_job
                | (
                    self.act_valid
                    & self.wgt_valid
                    & self.thr_ready
                    & ((sub != 0) | (outstanding < self._result_depth))
                )
            )
        )
        unit_start = issue & ~in_job & (sub == 0)

        # ------------------------------------------------------------------------- beat schedule
        # A vector is ceil(L / S) beats; beat b puts chunk b S + s on slot s. Slot engine s keeps
        # the start of its chunk (tap row/column ky/kx, word cw of the pixel, bit bw in that
        # word, word offset in the band) and jumps S N bits per beat with the descriptor's
        # mixed-radix constants; beat 0 starts from the descriptor's ``slot_start``.
        ss, rr, gamma = xpu.symbols_per_cycle, READS_PER_SLOT, xpu.gamma
        kb = Signal.like(d.chunks)  # chunk in slot 0 of the current beat
        gph = Signal(range(max(2, gamma)))  # kb mod gamma
        # Registered tests of kb (retiming): ``rem`` = chunks - kb; ``last`` = (kb + S >=
        # chunks); ``valid[s]`` = (kb + s < chunks); ``tail[s]`` = (kb + s + 1 == chunks). Each
        # is loaded with the next beat's value from ``rem``.
        rem_q, rem = early_reg(d.chunks.shape(), "rem")
        last_q, last = early_reg(1, "last")
        valid_q, valid_r = early_reg(ss, "valid")
        tail_q, tail_r = early_reg(ss, "tail")

        def beat_tests(r):
            """The registered tests of kb for the beat with ``r`` chunks remaining."""
            return [
                (rem_q, r),
                (last_q, r <= ss),
                (valid_q, Cat(*(r > e for e in range(ss)))),
                (tail_q, Cat(*(r == e + 1 for e in range(ss)))),
            ]

        initial = {
            id(q): v
            for q, v in band_walk(0, d.rows_per_band, -d.padding, d.band_base0)
            + tile_walk(0)
            + [(sub_last_q, ~d.pool)]
            + beat_tests(d.chunks)
            + [
                (a_lo_q, -d.padding),
                (a_hi_q, d.tile_hi0),
                (a_lo_w_q, d.band_base0),
                (a_hi_w_q, d.tile_hi0_words),
                (a_last_q, d.rows_per_band >= d.unit_h),
                (a_u2_q, d.rows_per_band << 1),
                (u1_q, d.rows_per_band),
                (u2_q, d.rows_per_band << 1),
            ]
        }
        for q, e in early:
            m.d.comb += e.eq(Mux(first, initial[id(q)], q))
        # The next pass over the bands starts again from the first band's tile.
        with m.If(a_step & a_last & a_again):
            m.d.sync += a_pass.eq(a_pass + 1)
            m.d.sync += [
                q.eq(initial[id(q)]) for q in (a_u2_q, a_lo_q, a_hi_q, a_lo_w_q, a_hi_w_q, a_last_q)
            ]

        wp_last = d.last_word
        r_bits = d.last_word_bits

        def const(value, name):
            """A register holding ``value``, a function of the descriptor alone (retiming: the
            descriptor's sums and multiples leave the paths that use them). The descriptor is
            constant from ``first`` on, so the register holds it from the cycle after ``first``,
            the first that may issue, and every user of it is under ``issue``."""
            if isinstance(value, int):
                return value
            reg = Signal(value.shape(), name=name)
            m.d.sync += reg.eq(value)
            return reg

        def onehot(ge):
            """One-hot of a count j in 0..len(ge) from its monotone tests ``ge[k - 1]`` = j >= k."""
            ge = [1, *ge, 0]
            return [ge[k] & ~ge[k + 1] for k in range(len(ge) - 2)] + [ge[-2]]

        wpp, kw = d.words_per_pixel, d.kernel_w
        # Walk constants: word i of a cycle is cw + i words into the pixel; it is past k pixel
        # ends iff cw >= k W - i, the last word of one iff cw == k W - i - 1; the kernel column
        # after p pixel ends is past j row ends iff kx >= j kernel_w - p.
        w_ge = {
            (i, k): const(times(wpp, k) - i, f"walk_ge{i}_{k}")
            for i in range(1, rr + 1)
            for k in range(1, i + 1)
        }
        w_end = {
            (i, k): const(times(wpp, k) - i - 1, f"walk_end{i}_{k}")
            for i in range(rr)
            for k in range(1, i + 2)
        }
        w_kx = {
            (p, j): const(times(kw, j) - p, f"walk_kx{p}_{j}")
            for p in range(1, rr + 1)
            for j in range(1, p + 1)
        }
        w_row = [const(times(d.row_skip, j), f"walk_row{j}") for j in range(1, rr + 1)]

        def walk(ky, kx, cw):
            """Words 0..R of a cycle from its first, (ky, kx, cw), in closed form (retiming: the
            same words as stepping word by word, one pixel end and one kernel-row end at a time,
            without the steps in series). Word i is ``cw + i`` words into the pixel: ``p`` =
            floor((cw + i) / W) pixel ends before it (cw < W), then kernel column ``kx + p``
            with ``r`` = floor((kx + p) / kernel_w) row ends (kx < kernel_w). Each word: ``rh``
            (one-hot r), its (ky, kx, cw), the offset it adds to the first word's (``i + r
            row_skip``, one per r) and whether it is a pixel's last word (``end``)."""
            cols = [([1], kx)]  # kernel column after p pixel ends: (one-hot r, kx)
            for p in range(1, rr + 1):
                hot = onehot([kx >= w_kx[p, j] for j in range(1, p + 1)])
                cols.append((hot, pick(hot, [kx + p - times(kw, r) for r in range(p + 1)])))
            ends = [Cat(*(cw == w_end[i, k] for k in range(1, i + 2))).any() for i in range(rr)]
            out = [{"rh": [1], "ky": ky, "kx": kx, "cw": cw, "steps": [0]}]
            for i in range(1, rr + 1):
                ph = onehot([cw >= w_ge[i, k] for k in range(1, i + 1)])
                # r == j iff p == k and the column's r == j.
                rh = [
                    Cat(*(ph[k] & cols[k][0][j] for k in range(j, i + 1))).any()
                    for j in range(i + 1)
                ]
                out.append(
                    {
                        "rh": rh,
                        "ky": pick(rh, [ky + j for j in range(i + 1)])[: w.kernel],
                        "kx": pick(ph, [cols[k][1] for k in range(i + 1)])[: w.kernel],
                        "cw": pick(ph, [cw + i - times(wpp, k) for k in range(i + 1)])[: len(cw)],
                        "steps": [i] + [i + w_row[j - 1] for j in range(1, i + 1)],
                    }
                )
            for i in range(rr):
                out[i]["end"] = ends[i]
            return out

        # Jump constants, with c1 the carry from the bit digit, pc the pixel carry and kc the
        # kernel column carry: the tests of each carry and each sum for each value of the
        # carries into it.
        jb = d.jump_bw
        j_c1 = const(n - jb, "jump_c1")  # c1 iff bw >= n - jump_bw
        j_ge = [const(r_bits - jb, "jump_ge0"), const(r_bits + n - jb, "jump_ge1")]
        j_gt = [const(wp_last - d.jump_cw - c, f"jump_gt{c}") for c in (0, 1)]
        j_bw = [const(jb - n * c, f"jump_bw{c}") for c in (0, 1)]
        j_kc = [const(d.kernel_w - d.jump_kx - p, f"jump_kc{p}") for p in (0, 1)]
        j_kx = [
            const(d.jump_kx + p - d.kernel_w * c, f"jump_kx{p}{c}") for p in (0, 1) for c in (0, 1)
        ]
        j_cw = [const(d.jump_cw + c, f"jump_cw{c}") for c in (0, 1)]
        j_cwr = [const(d.jump_cw - wp_last + v, f"jump_cwr{v + 1}") for v in (-1, 0, 1)]
        j_off = [
            const(d.jump_off + inc + Mux(kc, d.row_skip, 0), f"jump_off{inc}{kc}")
            for kc in (0, 1)
            for inc in (0, 1, 2)
        ]

        def jump(ky, kx, cw, bw, off):
            """The start of the chunk S chunks (S N bits) later: mixed-radix addition of the
            descriptor's ``jump_*`` digits (bit, word, pixel, kernel column, kernel row).
            Retiming: carry-select; each carry's test and each sum is formed for every value
            of the carries into it, in parallel, against constants (``const``), and the carries
            only select."""
            c1 = bw >= j_c1
            ge = Mux(c1, bw >= j_ge[1], bw >= j_ge[0])  # bw1 >= last_word_bits
            pc = Mux(
                c1, (cw > j_gt[1]) | ((cw == j_gt[1]) & ge), (cw > j_gt[0]) | ((cw == j_gt[0]) & ge)
            )
            borrow = ~ge
            bw1 = bw + Mux(c1, j_bw[1], j_bw[0])
            bw2 = bw1 - r_bits + Mux(borrow, n, 0)
            kc_p = [kx >= j_kc[p] for p in (0, 1)]
            kc = Mux(pc, kc_p[1], kc_p[0])
            kx_w = [Mux(kc_p[p], kx + j_kx[2 * p + 1], kx + j_kx[2 * p]) for p in (0, 1)]
            cw_w = Mux(c1, cw + j_cw[1], cw + j_cw[0])
            # cw1 - wp_last - borrow = cw + jump_cw - wp_last + c1 - borrow
            cw_p = Mux(
                c1,
                Mux(borrow, cw + j_cwr[1], cw + j_cwr[2]),
                Mux(borrow, cw + j_cwr[0], cw + j_cwr[1]),
            )
            # off + jump_off + inc + (kc ? row_skip : 0), inc = c1 + (pc ? 1 - borrow : 0)
            pb = pc & ~borrow
            two, one = c1 & pb, c1 ^ pb
            sums = [
                pick(
                    [two, one, 1],
                    [off + j_off[3 * c + 2], off + j_off[3 * c + 1], off + j_off[3 * c]],
                )
                for c in (0, 1)
            ]
            return (
                Mux(kc, ky + d.jump_ky + 1, ky + d.jump_ky)[: w.kernel],
                Mux(pc, kx_w[1], kx_w[0])[: w.kernel],
                Mux(pc, cw_p, cw_w)[: len(cw)],
                Mux(pc, bw2, bw1)[: len(bw)],
                Mux(kc, sums[1], sums[0])[: w.offset],
            )

        def chunk_done(ends, skip, pos, need):
            """Whether the chunk is complete after this cycle's R words, in closed form.

            The words give ``R N - skip - lost`` bits, ``lost = count (N - last_word_bits)``
            where ``count`` is how many of them are a pixel's last word (``ends``), and the
            engine places them until ``need``: the chunk completes iff ``pos`` plus that sum
            reaches ``need``. Retiming: the same test as ``pos`` after placing the words reaching
            ``need`` (they take and place the same bits), without the placement in series, so
            the beat's ``emit``, and with it the end of a job, does not wait for it."""
            count = sum(ends)
            lost = sum(Mux(count[j], (n - r_bits) << j, 0) for j in range(len(count)))
            return pos + rr * n >= need + skip + lost

        done_all = []
        engine_updates = []
        # Sub-job (pool window element) offsets: (dy, dx) = (sub[1], sub[0]).
        sub_col = sub[0] << d.stride2
        ctl = self.ctl
        reset_bits, sample_bits = [], []
        for e_s in range(ss):
            st = d.slot_start[e_s]
            # The chunk's start (the descriptor's in beat 0) and this cycle's first word, skip
            # and placed bits: registers, loaded at the end of every cycle for the next one.
            s_regs = [Signal.like(st[f], name=f"s{e_s}_{f}") for f in ("ky", "kx", "cw", "bw")]
            s_regs.append(Signal.like(st.off, name=f"s{e_s}_off"))
            c_regs = [Signal.like(st[f], name=f"c{e_s}_{f}") for f in ("ky", "kx", "cw", "off")]
            c_skip = Signal(range(n), name=f"c{e_s}_skip")
            hv = Signal(range(n + 1), name=f"c{e_s}_have")
            cky, ckx, ccw, coff = c_regs
            valid = valid_q[e_s]  # issue is low in ``first``: the registered test
            is_last = tail_q[e_s]
            need = Mux(is_last, d.last_chunk_bits, n)
            words = walk(cky, ckx, ccw)
            skip, pos = c_skip, hv
            done_all.append(~valid | chunk_done([wd["end"] for wd in words[:rr]], skip, pos, need))
            # Where word i's bits start in the chunk: pos_0 = pos, pos_{i+1} = min(need, pos -
            # skip + bits of words 0..i), a prefix sum clipped once (retiming: the same values
            # as placing the words one after the other, min(avail, need - pos) each, without a
            # subtraction and a minimum per word in series).
            acc, starts = pos - skip, [pos]
            for i in range(rr):
                acc = acc + Mux(words[i]["end"], r_bits, n)
                starts.append(Mux(valid, min_(acc, need), pos))
            # Rows and offsets: one sum per value of r, in parallel, which r only selects.
            row0 = job_row_q + cky
            off0 = job_base_q + coff
            for i in range(rr):
                wd = words[i]
                pos = starts[i]
                take = valid & (pos < need)
                placed = starts[i + 1] - pos
                word = ctl.word[e_s * rr + i]
                m.d.comb += [
                    word.take.eq(take),
                    word.row.eq(pick(wd["rh"], [row0 + j for j in range(i + 1)])),
                    word.col.eq(sub_col + wd["kx"]),
                    word.offset.eq(pick(wd["rh"], [off0 + c for c in wd["steps"]])),
                    word.shift.eq(pos),
                    word.placed.eq(Mux(take, placed, 0)),
                    # pos + placed (equal to pos when the word is not taken, see ``starts``)
                    word.end.eq(starts[i + 1]),
                ]
            pos = starts[rr]
            after = words[rr]
            after_off = pick(after["rh"], [coff + c for c in after["steps"]])
            m.d.comb += ctl.skip[e_s].eq(skip)
            reset_bits.append(valid & (gph == (-e_s) % gamma))
            sample_bits.append(valid & ((gph == (gamma - 1 - e_s) % gamma) | is_last))
            jumped = jump(*s_regs)
            origin = [st.ky, st.kx, st.cw, st.bw, st.off]
            engine_updates.append(
                {
                    "start": [r.eq(v) for r, v in zip(s_regs, origin, strict=True)]
                    + [r.eq(v) for r, v in zip(c_regs, origin[:3] + origin[4:], strict=True)]
                    + [c_skip.eq(st.bw), hv.eq(0)],
                    "jump": [r.eq(v) for r, v in zip(s_regs, jumped, strict=True)]
                    + [r.eq(v) for r, v in zip(c_regs, jumped[:3] + jumped[4:], strict=True)]
                    + [c_skip.eq(jumped[3]), hv.eq(0)],
                    "within": [
                        cky.eq(after["ky"]),
                        ckx.eq(after["kx"]),
                        ccw.eq(after["cw"]),
                        coff.eq(after_off),
                        c_skip.eq(0),
                        hv.eq(pos),
                    ],
                }
            )
            m.d.comb += self.wgt_addr[e_s].eq(wf_off + kb + e_s)
        # ADC banks: a beat that samples leaves only when the bank it will use (the banks take
        # the sampling beats in rotation) has finished its previous conversion.
        conv, banks = xpu.adc_conversion_cycles, xpu.adc_banks
        samples = Cat(*sample_bits).any()
        bank = Signal(range(max(2, banks)))
        bank_free = 1
        busy = []
        if conv > 1:
            busy = [Signal(range(conv), name=f"adc_bank{i}_busy") for i in range(banks)]
            # An OR of products, not an Array: an Array becomes a Verilog `case` in an `always @*`
            # block, which Icarus (-g2012) does not run at time 0, so the value would stay X.
            bank_free = Cat(*((bank == i) & (b == 0) for i, b in enumerate(busy))).any()
        caps = _CapacitorRotation(m, xpu, gph, reset_bits, sample_bits)
        emit = Signal()
        m.d.comb += emit.eq(Cat(*done_all).all() & (~samples | bank_free) & caps.free)
        caps.advance(issue & emit)
        sampled = issue & emit & samples
        for i, b in enumerate(busy):
            with m.If(sampled & (bank == i)):
                m.d.sync += b.eq(conv - 1)
            with m.Elif(b != 0):
                m.d.sync += b.eq(b - 1)
        if banks > 1:
            with m.If(sampled):
                m.d.sync += bank.eq(Mux(bank == banks - 1, 0, bank + 1))

        # Named: if `ctl` itself were driven under an If, it would become one Verilog `reg` set
        # slice by slice in `always @*` blocks that Icarus (-g2012) never runs at time 0 (X).
        pos_init, pos_advance = Signal(), Signal()
        m.d.comb += [
            ctl.issue.eq(issue),
            ctl.pos_init.eq(pos_init),
            ctl.pos_advance.eq(pos_advance),
            ctl.band_rows.eq(band_rows),
            ctl.filters.eq(fmask),
            ctl.emit.eq(emit),
            ctl.last.eq(last),
            self.meta.reset.eq(Mux(emit, Cat(*reset_bits), 0)),
            self.meta.sample.eq(Mux(emit, Cat(*sample_bits), 0)),
            self.meta.last.eq(last),
            self.meta.bank.eq(bank),
            self.meta.unit_first.eq(sub == 0),
            self.meta.unit_last.eq(sub_last),
            self.thr_addr.eq(filt),
        ]

        # The per-vector walk state, cleared at the end of every job and at start.
        job_state = [in_job, kb, gph]
        job_end = issue & emit & last_q  # issue is low in ``first``: the registered test
        with m.If(issue):
            with m.If(emit & last_q):
                m.d.sync += [r.eq(0) for r in job_state]
                m.d.sync += load(beat_tests(d.chunks))
                for upd in engine_updates:
                    m.d.sync += upd["start"]
            with m.Else():
                m.d.sync += in_job.eq(1)
                with m.If(emit):
                    g_next = gph + ss % gamma
                    m.d.sync += load(beat_tests(rem_q - ss))
                    m.d.sync += [
                        kb.eq(kb + ss),
                        gph.eq(Mux(g_next >= gamma, g_next - gamma, g_next)),
                    ]
                    for upd in engine_updates:
                        m.d.sync += upd["jump"]
                with m.Else():
                    for upd in engine_updates:
                        m.d.sync += upd["within"]

        # The filter of the next step, chosen from the registered "last" flags alone before the
        # job ends (retiming: the threshold memory's read port takes this register's input as
        # its address, so the end of the vector reaches it through one multiplexer, not through
        # the walk's nested choices): the next step of the tile; else, bands outside the weight
        # tiles, the next tile's first filter or 0 after the last tile; weights outside, the
        # tile's first filter for the next band, the next tile's after the last band.
        tile_next = Mux(wtile_last, 0, f_end)
        n_filt = filt + d.filter_step
        filt_next = Mux(
            ~filter_last,
            n_filt,
            Mux(d.wgt_outer, Mux(band_last, tile_next, f0), tile_next),
        )
        with m.If(job_end & sub_last & group_last):
            m.d.sync += filt.eq(filt_next)

        # The walk advances at the end of a job's last issue cycle.
        with m.If(job_end):
            with m.If(~sub_last):
                n_sub = (sub + 1)[: len(sub)]
                m.d.sync += [
                    sub.eq(n_sub),
                    sub_last_q.eq(sub == POOL_SUBJOBS - 2),
                    job_row_q.eq(band_iy + sub_row_of(n_sub)),
                    job_base_q.eq(band_base + sub_off_of(n_sub)),
                ]
            with m.Else():
                m.d.sync += [
                    sub.eq(0),
                    sub_last_q.eq(~d.pool),
                    job_row_q.eq(band_iy),
                    job_base_q.eq(band_base),
                ]
                with m.If(~group_last):
                    m.d.comb += pos_advance.eq(1)
                    m.d.sync += [
                        groups_left_q.eq(groups_left - 1),
                        group_last_q.eq(groups_left == 1),
                    ]
                with m.Else():
                    m.d.comb += pos_init.eq(1)
                    left = Mux(band_last, d.last_band_last_group, d.band_last_group)
                    m.d.sync += [groups_left_q.eq(left), group_last_q.eq(left == 0)]
                    with m.If(~filter_last):
                        m.d.sync += [
                            filter_last_q.eq(n_filt + d.filter_step >= f_end),
                            fmask_q.eq(filter_mask(n_filt, f_end)),
                            wf_off.eq(wf_off + d.filter_words),
                        ]
                    with m.Else():
                        m.d.sync += wf_off.eq(0)
                        next_band = [
                            u1_q.eq(u2),
                            u2_q.eq(u2 + d.rows_per_band),
                            *load(
                                band_walk(
                                    u1,
                                    u2,
                                    band_iy + d.band_row_step,
                                    band_off + d.band_base_step,
                                )
                            ),
                        ]
                        with m.If(d.wgt_outer):
                            # for weight tile: for band -- every pair has its own band load.
                            m.d.comb += self.act_release.eq(1)
                            with m.If(~band_last):
                                m.d.sync += [*load(tile_walk(f0)), *next_band]
                            with m.Else():
                                m.d.comb += self.wgt_release.eq(1)
                                m.d.sync += [
                                    u1_q.eq(initial[id(u1_q)]),
                                    u2_q.eq(initial[id(u2_q)]),
                                    *load(band_walk(0, d.rows_per_band, -d.padding, d.band_base0)),
                                ]
                                with m.If(~wtile_last):
                                    m.d.sync += f0.eq(f_end)
                                    m.d.sync += load(tile_walk(f_end))
                                with m.Else():
                                    m.d.sync += [running.eq(0), flushing.eq(1)]
                        with m.Elif(~wtile_last):  # for band: for weight tile
                            m.d.comb += self.wgt_release.eq(d.wgt_tiles != 1)
                            m.d.sync += [f0.eq(f_end), *load(tile_walk(f_end))]
                        with m.Else():
                            # A single weight tile stays for every band and goes with the last
                            # one (the buffers are empty at the end of a layer: chaining).
                            m.d.comb += [
                                self.wgt_release.eq((d.wgt_tiles != 1) | band_last),
                                self.act_release.eq(1),
                            ]
                            m.d.sync += [f0.eq(0), *load(tile_walk(0))]
                            with m.If(~band_last):
                                m.d.sync += next_band
                            with m.Else():
                                m.d.sync += [running.eq(0), flushing.eq(1)]

        with m.If(first):
            m.d.comb += pos_init.eq(1)
            m.d.sync += first.eq(0)
            for upd in engine_updates:
                m.d.sync += upd["start"]

        m.d.sync += outstanding.eq(outstanding + unit_start - self.popped)
        m.d.comb += self.done.eq(flushing & (outstanding == 0))
        with m.If(self.done):
            m.d.sync += flushing.eq(0)

        with m.If(self.start):
            m.d.sync += [
                a_active.eq(1),
                a_pass.eq(0),
                w_active.eq(1),
                w_tile.eq(0),
                w_count.eq(0),
                running.eq(1),
                flushing.eq(0),
                first.eq(1),
                outstanding.eq(0),
                f0.eq(0),
                filt.eq(0),
                wf_off.eq(0),
                sub.eq(0),
                *(r.eq(0) for r in job_state),
                bank.eq(0),
                *(b.eq(0) for b in busy),
                *caps.clear(),
            ]
        return m


class _CapacitorRotation:
    """The PCA capacitors' rotation and discharge, as the sequencer sees it (docs/design.md §4).

    Each PCA has ``P = pca_capacitors`` capacitors; the readout runs (a run = the chunks from a
    ``pca_reset`` to its ``pca_sample``) take capacitors 0, 1, ..., P - 1, 0, ... in order over
    the whole layer (from capacitor 0 at ``start``; all discharged). The switches are inside the
    PCA, which follows the same rotation from the strobes, so no port signal says which
    capacitor a run uses. A capacitor sampled in slot ``s`` of cycle ``t`` is free from slot
    index ``t S + s + 1 + R`` (``R = reset_dead_slots``), and a beat leaves (``emit``) only when
    every reset slot ``s`` of it is on a free capacitor (a whole-beat wait, like the ADC bank's;
    :meth:`XpuParams._check_reset_rotation` is why it is exact).

    State: ``ptr`` (the capacitor of the next run, only for P > 1) and per capacitor ``rem[c]``,
    the slots until it is free counted from the current cycle's slot 0 (0: free), at most R. A
    reset in slot ``s`` waits iff ``rem[cap(s)] > s``, ``cap(s) = (ptr + n_lt(s)) mod P`` with
    ``n_lt(s)`` the resets in slots < s of the beat, which is ``s // gamma`` (resets are gamma
    slots apart, and the first one is in a slot < gamma). A sample in slot ``s`` is on capacitor
    ``(ptr + n_le(s) - 1) mod P``, ``n_le(s)`` the resets in slots 0..s, ``floor((gph + s) /
    gamma) + (gph == 0)`` for the beat's phase ``gph = kb mod gamma`` (0 resets: the run began
    in an earlier beat, ``ptr - 1``). On ``emit`` ``ptr`` advances by the beat's resets and
    each capacitor with a sample gets ``rem = max(a + 1 + R - S, 0)`` (``a`` its last sample
    slot), every other ``rem`` counts down by S (saturating at 0), emit or not.

    With R = 0 a capacitor is free by the next slot, and nothing is generated: ``free`` is 1.
    """

    def __init__(self, m: Module, xpu: XpuParams, gph, reset_bits, sample_bits) -> None:
        self.m = m
        self.r, self.p = xpu.reset_dead_slots, xpu.pca_capacitors
        self.s, self.gamma = xpu.symbols_per_cycle, xpu.gamma
        self.gph, self.reset_bits, self.sample_bits = gph, reset_bits, sample_bits
        self.free = 1
        self.rem: list[Signal] = []
        self.ptr = None
        if self.r == 0:
            return
        self.rem = [Signal(range(self.r + 1), name=f"pca_cap{c}_rem") for c in range(self.p)]
        if self.p > 1:
            self.ptr = Signal(range(self.p), name="pca_cap_ptr")
        waits = [
            bit & self._on(self._reset_cap(e_s), lambda r, e_s=e_s: r > e_s)
            for e_s, bit in enumerate(reset_bits)
        ]
        self.free = ~Cat(*waits).any()

    def _add(self, offset):
        """``(ptr + offset) mod P`` for a constant or a value below P."""
        if self.ptr is None:
            return 0
        total = self.ptr + offset
        return Mux(total >= self.p, total - self.p, total)

    def _reset_cap(self, e_s: int):
        return self._add((e_s // self.gamma) % self.p)

    def _sample_cap(self, e_s: int):
        if self.ptr is None:
            return 0
        g = self.gamma
        offset = (e_s // g) % self.p  # gph == 0: n_le = e_s // g + 1
        for ph in range(1, g):
            offset = Mux(self.gph == ph, ((ph + e_s) // g - 1) % self.p, offset)
        return self._add(offset)

    def _on(self, cap, test):
        """``test(rem[cap])`` as an OR of products (no Array: see the ADC banks' note)."""
        if self.ptr is None:
            return test(self.rem[0])
        return Cat(*((cap == c) & test(r) for c, r in enumerate(self.rem))).any()

    def advance(self, fire) -> None:
        """The state after this cycle; ``fire``: the beat leaves (``issue & emit``)."""
        if self.r == 0:
            return
        m, s = self.m, self.s
        for c, rem in enumerate(self.rem):
            nxt = Mux(rem > s, rem - s, 0)
            for e_s, bit in enumerate(self.sample_bits):  # the last sample slot wins
                hit = bit if self.ptr is None else bit & (self._sample_cap(e_s) == c)
                nxt = Mux(fire & hit, max(e_s + 1 + self.r - s, 0), nxt)
            m.d.sync += rem.eq(nxt)
        if self.ptr is not None:
            count = sum(self.reset_bits)  # at most ceil(S / gamma)
            step = 0
            for j in range(1, -(-s // self.gamma) + 1):
                step = Mux(count == j, j % self.p, step)
            with m.If(fire):
                m.d.sync += self.ptr.eq(self._add(step))

    def clear(self) -> list:
        """Statements for ``start``: capacitor 0 next, all discharged."""
        regs = self.rem + ([self.ptr] if self.ptr is not None else [])
        return [r.eq(0) for r in regs]
