"""Control path of the XPU: tile walks, the job walk, the chunk schedule and the PCA strobes.

The walk of the weight-broadcast dataflow (the plan's, :mod:`oxbnn.models.tiling`; the only
dataflow built: the M XPEs share each filter and a group is M units), which
:mod:`oxbnn.models.timing` counts in closed form::

    for band: for weight tile: for filter in tile: for group in band: for sub-job: one vector

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

Inside a job the sequencer packs the vector: every cycle it names up to two words per XPE
(``take``), only as many as the current chunk still needs, and says whether the chunk is complete
(``emit``). It raises ``pca_reset`` on the first chunk of every run of γ chunks and
``pca_sample`` on the last one and on the vector's last chunk.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..models.configs import XpuParams
from ..models.tiling import POOL_SUBJOBS, Widths
from ._checks import fixed_latency, positive_int, xpu_params
from .address_gen import issue_layout
from .host_if import descriptor_layout

__all__ = ["Sequencer", "meta_layout"]

#: Metadata of an issue cycle that travels with the chunk to the port and the readout.
meta_layout = data.StructLayout(
    {
        "reset": 1,  # pca_reset with this chunk
        "sample": 1,  # pca_sample with this chunk
        "last": 1,  # the vector's last chunk
        "unit_first": 1,  # first sub-job of a unit
        "unit_last": 1,  # last sub-job of a unit: its result is complete with this vector
    }
)


class Sequencer(wiring.Component):
    """Walks tiles, jobs and chunks; issues the address generator and the PCA strobes.

    Timing contract (used by :mod:`oxbnn.models.timing`): ``start`` in cycle 0 arms all walkers
    (tile announcements from cycle :attr:`start_latency`); a job's issue cycles follow each other
    without a gap; the activation bank is released in the last issue cycle of its band and a
    weight bank (when tiles are reloaded) in the last issue cycle of its pair; ``done`` is high
    :attr:`result_to_done` cycles after the last result is taken (``popped``).

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
    act_cmd, wgt_cmd : Out(stream.Signature(...))
        Tile lengths for the activation / weight buffers.
    act_valid, wgt_valid : In(1)
        The buffer's oldest bank holds a complete tile.
    act_release, wgt_release : Out(1)
    thr_ready : In(1)
    ctl : Out(issue_layout(xpu))
        Stage I control of the address generator.
    meta : Out(meta_layout)
        Stage I metadata, meaningful in a cycle with ``ctl.emit``.
    wgt_addr : Out(range(wgt_buffer_depth))
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
                "act_cmd": Out(stream.Signature(range(xpu.act_buffer_depth + 1))),
                "wgt_cmd": Out(stream.Signature(range(xpu.wgt_buffer_depth + 1))),
                "act_valid": In(1),
                "wgt_valid": In(1),
                "act_release": Out(1),
                "wgt_release": Out(1),
                "thr_ready": In(1),
                "ctl": Out(issue_layout(xpu)),
                "meta": Out(meta_layout),
                "wgt_addr": Out(w.wgt_addr),
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
        fs_shift = d.pool + d.stride2

        def min_(a, b):
            return Mux(a < b, a, b)

        # ---------------------------------------------------------------- activation tile walker
        a_active = Signal()
        a_u0 = Signal(unsigned(w.unit_row))
        a_iy = Signal(unsigned(w.input_row))  # u0 * f * s
        a_rows = min_(d.unit_h - a_u0, d.rows_per_band)
        a_lo = a_iy - d.padding
        a_hi = a_lo + (a_rows << fs_shift) - (d.stride2 + 1) + d.kernel_h
        a_top = Mux(a_lo < 0, 0, a_lo)
        a_bot = Mux(a_hi > d.height, d.height, a_hi)
        m.d.comb += [
            self.act_cmd.valid.eq(a_active),
            self.act_cmd.payload.eq((a_bot - a_top) * d.row_words),
        ]
        with m.If(self.act_cmd.valid & self.act_cmd.ready):
            m.d.sync += [a_u0.eq(a_u0 + d.rows_per_band), a_iy.eq(a_iy + d.band_row_step)]
            with m.If(a_u0 + d.rows_per_band >= d.unit_h):
                m.d.sync += a_active.eq(0)

        # -------------------------------------------------------------------- weight tile walker
        w_active = Signal()
        w_tile = Signal.like(d.wgt_tiles)
        w_count = Signal(unsigned(w.wgt_loads))
        w_tile_last = w_tile + 1 == d.wgt_tiles
        m.d.comb += [
            self.wgt_cmd.valid.eq(w_active),
            self.wgt_cmd.payload.eq(Mux(w_tile_last, d.wgt_last_tile_words, d.wgt_tile_words)),
        ]
        with m.If(self.wgt_cmd.valid & self.wgt_cmd.ready):
            m.d.sync += [w_count.eq(w_count + 1), w_tile.eq(Mux(w_tile_last, 0, w_tile + 1))]
            with m.If(w_count + 1 == d.wgt_loads):
                m.d.sync += w_active.eq(0)

        # ---------------------------------------------------------------------------- job walker
        running = Signal()
        flushing = Signal()
        first = Signal()
        outstanding = Signal(range(self._result_depth + 1))
        u0 = Signal(unsigned(w.unit_row))
        iy0 = Signal(unsigned(w.input_row))  # u0 * f * s
        f0 = Signal.like(d.out_channels)
        filt = Signal.like(d.out_channels)
        wf_off = Signal(w.wgt_addr + 1)
        sub = Signal(unsigned(w.subjob))
        uy0 = Signal(unsigned(w.unit_row))  # XPE 0's unit, to find the band's last group
        ux0 = Signal(unsigned(w.unit_col))
        in_job = Signal()

        band_rows = min_(d.unit_h - u0, d.rows_per_band)
        band_iy = Signal(geo)  # named: used by several words and the base below
        m.d.comb += band_iy.eq(iy0 - d.padding)
        band_base = Mux(band_iy < 0, band_iy * d.row_words, 0)
        f_end = min_(f0 + d.filters_per_tile, d.out_channels)
        nx0 = ux0 + d.m_step_x
        ny0 = uy0 + d.m_step_y + (nx0 >= d.unit_w)
        sub_last = Mux(d.pool, sub == POOL_SUBJOBS - 1, 1)
        group_last = ny0 >= band_rows
        filter_last = filt + 1 == f_end
        wtile_last = f_end == d.out_channels
        band_last = u0 + d.rows_per_band >= d.unit_h

        issue = Signal()
        m.d.comb += issue.eq(
            running
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

        # ------------------------------------------------------------------------ chunk schedule
        k = Signal.like(d.chunks)
        g = Signal(range(max(2, xpu.gamma)))
        have = Signal(range(n))
        ky = Signal(unsigned(w.kernel))
        kx = Signal(unsigned(w.kernel))
        cw = Signal.like(d.words_per_pixel)
        woff = Signal(unsigned(w.offset))

        def step(ky, kx, cw, off):
            """The word after (ky, kx, cw) at offset ``off``."""
            pixel_end = cw + 1 == d.words_per_pixel
            row_end = pixel_end & (kx + 1 == d.kernel_w)
            return (
                Mux(row_end, ky + 1, ky)[: w.kernel],
                Mux(pixel_end, Mux(row_end, 0, kx + 1), kx)[: w.kernel],
                Mux(pixel_end, 0, cw + 1)[: len(cw)],
                (off + 1 + Mux(row_end, d.row_skip, 0))[: w.offset],
            )

        def bits_of(cw):
            return Mux(cw + 1 == d.words_per_pixel, d.last_word_bits, n)

        ky1, kx1, cw1, off1 = step(ky, kx, cw, woff)
        ky2, kx2, cw2, off2 = step(ky1, kx1, cw1, off1)

        last = k + 1 == d.chunks
        need = Mux(last, d.last_chunk_bits, n)
        b0 = bits_of(cw)
        b1 = bits_of(cw1)
        take0 = have < need
        take1 = take0 & (have + b0 < need)
        got = have + Mux(take0, b0, 0) + Mux(take1, b1, 0)
        emit = got >= need
        sample = emit & ((g == xpu.gamma - 1) | last)

        # Sub-job (pool window element) offsets: (dy, dx) = (sub[1], sub[0]).
        sub_row = sub[1] << d.stride2
        sub_col = sub[0] << d.stride2
        sub_off = Mux(sub[1], d.row_words << d.stride2, 0) + Mux(
            sub[0], d.words_per_pixel << d.stride2, 0
        )
        ctl = self.ctl
        # Named: if `ctl` itself were driven under an If, it would become one Verilog `reg` set
        # slice by slice in `always @*` blocks that Icarus (-g2012) never runs at time 0 (X).
        pos_init, pos_advance = Signal(), Signal()
        for i, (tk, wky, wkx, woffi, bits) in enumerate(
            [(take0, ky, kx, woff, b0), (take1, ky1, kx1, off1, b1)]
        ):
            m.d.comb += [
                ctl.word[i].take.eq(tk),
                ctl.word[i].row.eq(band_iy + sub_row + wky),
                ctl.word[i].col.eq(sub_col + wkx),
                ctl.word[i].offset.eq(band_base + sub_off + woffi),
                ctl.word[i].bits.eq(bits),
            ]
        m.d.comb += [
            ctl.issue.eq(issue),
            ctl.pos_init.eq(pos_init),
            ctl.pos_advance.eq(pos_advance),
            ctl.band_rows.eq(band_rows),
            ctl.have.eq(have),
            ctl.emit.eq(emit),
            ctl.last.eq(last),
            self.meta.reset.eq(emit & (g == 0)),
            self.meta.sample.eq(sample),
            self.meta.last.eq(last),
            self.meta.unit_first.eq(sub == 0),
            self.meta.unit_last.eq(sub_last),
            self.wgt_addr.eq(wf_off + k),
            self.thr_addr.eq(filt),
        ]

        # The per-vector walk state, cleared at the end of every job and at start.
        job_state = [in_job, k, g, have, ky, kx, cw, woff]
        job_end = issue & emit & last
        with m.If(issue):
            with m.If(emit & last):
                m.d.sync += [r.eq(0) for r in job_state]
            with m.Else():
                m.d.sync += in_job.eq(1)
                with m.If(emit):
                    m.d.sync += [k.eq(k + 1), have.eq(got - need), g.eq(Mux(sample, 0, g + 1))]
                with m.Else():
                    m.d.sync += have.eq(got)
                with m.If(take1):
                    m.d.sync += [ky.eq(ky2), kx.eq(kx2), cw.eq(cw2), woff.eq(off2)]
                with m.Elif(take0):
                    m.d.sync += [ky.eq(ky1), kx.eq(kx1), cw.eq(cw1), woff.eq(off1)]

        # The walk advances at the end of a job's last issue cycle.
        with m.If(job_end):
            with m.If(~sub_last):
                m.d.sync += sub.eq(sub + 1)
            with m.Else():
                m.d.sync += sub.eq(0)
                with m.If(~group_last):
                    m.d.comb += pos_advance.eq(1)
                    m.d.sync += [ux0.eq(Mux(nx0 >= d.unit_w, nx0 - d.unit_w, nx0)), uy0.eq(ny0)]
                with m.Else():
                    m.d.comb += pos_init.eq(1)
                    m.d.sync += [ux0.eq(0), uy0.eq(0)]
                    with m.If(~filter_last):
                        m.d.sync += [filt.eq(filt + 1), wf_off.eq(wf_off + d.chunks)]
                    with m.Else():
                        m.d.comb += self.wgt_release.eq(d.wgt_tiles != 1)
                        m.d.sync += wf_off.eq(0)
                        with m.If(~wtile_last):
                            m.d.sync += [f0.eq(f_end), filt.eq(f_end)]
                        with m.Else():
                            m.d.comb += self.act_release.eq(1)
                            m.d.sync += [f0.eq(0), filt.eq(0)]
                            with m.If(~band_last):
                                m.d.sync += [
                                    u0.eq(u0 + d.rows_per_band),
                                    iy0.eq(iy0 + d.band_row_step),
                                ]
                            with m.Else():
                                m.d.sync += [running.eq(0), flushing.eq(1)]

        with m.If(first):
            m.d.comb += pos_init.eq(1)
            m.d.sync += first.eq(0)

        m.d.sync += outstanding.eq(outstanding + unit_start - self.popped)
        m.d.comb += self.done.eq(flushing & (outstanding == 0))
        with m.If(self.done):
            m.d.sync += flushing.eq(0)

        with m.If(self.start):
            m.d.sync += [
                a_active.eq(1),
                a_u0.eq(0),
                a_iy.eq(0),
                w_active.eq(1),
                w_tile.eq(0),
                w_count.eq(0),
                running.eq(1),
                flushing.eq(0),
                first.eq(1),
                outstanding.eq(0),
                u0.eq(0),
                iy0.eq(0),
                f0.eq(0),
                filt.eq(0),
                wf_off.eq(0),
                sub.eq(0),
                uy0.eq(0),
                ux0.eq(0),
                *(r.eq(0) for r in job_state),
            ]
        return m
