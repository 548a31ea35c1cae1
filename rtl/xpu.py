"""The digital side of one OXBNN XPU: M XPEs of N lanes, their buffers, control and readout.

Block diagram (one block per file)::

    desc/start --> HostIf --(desc)--> Sequencer --ctl--> AddressGen --act/wgt--> xpe[e] (optics)
    thr_in ------> HostIf (threshold memory)   |            ^   |                    |
    act_in ------> TileBuffer (2 banks, 3SM read ports) ----+   +--kv/active--+      |
    wgt_in ------> TileBuffer (2 banks, SM read ports) -weight words^         v      v
                                                           PcaReadout <-- adc_valid/adc_code
    res_out <-------------------------------------------------- (result FIFO)

Architecture decisions (the cycle-level contract is in :mod:`oxbnn.models.timing`, which the
tests hold equal to this RTL):

* **Dataflow** (docs/design.md §4.2, :data:`oxbnn.models.tiling.DATAFLOWS`), per layer by the
  descriptor's ``act_bcast``: weight broadcast, the M XPEs share one filter and work on M
  different output *units* (positions; 2 x 2 pooling windows when the layer pools, computed as
  four consecutive sub-jobs whose bits the readout ORs), numbered row-major, a group of M
  consecutive units possibly spanning output rows; or activation broadcast, the M XPEs share
  one unit and XPE e works on filter ``f + e`` of the step (its own weight read ports, its own
  threshold read port), so an FC layer uses all M XPEs.
* **Packing and slots**: one vector is ``L = ceil(K/N)`` chunks in one PCA, ``ceil(L/S)``
  *beats* of S chunks: chunk ``b S + s`` goes out in slot s of beat b (S =
  ``XpuParams.symbols_per_cycle``; slots past the vector's end are dark, and the next vector
  starts in slot 0 of the next beat). Pixels are stored channel-chunk aligned (``ceil(C/N)``
  words each). Each XPE has S *slot engines*: engine s reads the words its chunk touches through
  its own :data:`~oxbnn.models.tiling.READS_PER_SLOT` = 3 read ports and its
  :class:`~oxbnn.rtl.gearbox.Gearbox` packs them into the dense N-bit chunk; the engines' word
  positions are shared by all XPEs and jump S N bits per beat (a mixed-radix adder with the
  descriptor's constants, no divider). A beat takes one cycle unless a pixel is thinner than
  about N / 2 (read bound), and every vector's schedule is the same -- the timing model computes
  it once per layer.
* **Readout**: a beat may sample several PCAs' readouts (γ < S, or a γ-th chunk and the vector's
  last): the j-th sample of a cycle goes to ADC channel j of the bank the cycle uses
  (``XpuParams.adc_banks`` banks of ``samples_per_cycle`` channels, in rotation); a beat that
  samples waits until its bank has finished its previous conversion
  (``XpuParams.adc_conversion_cycles``).
* **Padding** is never stored: the address generator tests each tap against the image and
  substitutes dark lanes (``"dark"``) or the pad value (``"+1"`` / ``"-1"``, counted);
  ``K_valid`` is accumulated per XPE from the bit counts of the counted words.
* **Tiling**: activation tiles are bands of whole unit rows with their halo, weight tiles sets of
  whole filters; both buffers are double-buffered and filled by the host in plan order while the
  other bank is read. The descriptor carries the plan's derived constants (no divider in
  hardware); the tiling plan (:func:`oxbnn.models.tiling.tiling_plan`, which the host driver
  :func:`oxbnn.testbenches.driver.encode_descriptor` calls) rejects what cannot run.
* **Back-pressure**: the result FIFO holds :attr:`Xpu.result_depth` results, and the sequencer
  starts a unit only with a free credit, so a stalled host stalls issue cleanly at a unit
  boundary (never inside a vector, where the PCAs integrate); an always-ready host never stalls
  it.
* **Memories**: the activation buffer is one logical memory with 3 S M synchronous read ports
  (a chip would bank it); synthesis keeps all memories as macros (``tools/synth``).

The optical port of XPE e (:func:`optical_port_signature`, which defines the slot order) carries
S slots of each of the N lanes per cycle, and the S-bit PCA strobe masks.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..models.configs import XpuParams
from ..models.tiling import READS_PER_SLOT, Widths
from ._arith import times
from ._checks import xpu_params
from .address_gen import AddressGen
from .host_if import HostIf, descriptor_layout, result_layout, threshold_layout
from .pca_readout import PcaReadout
from .sequencer import Sequencer, meta_layout
from .tile_buffer import TileBuffer

__all__ = ["Xpu", "optical_port_signature"]


def optical_port_signature(xpu: XpuParams) -> wiring.Signature:
    """The optical port of one XPE, seen from the XPU (docs/design.md §3), for one cycle.

    A cycle carries S slots (S = ``xpu.symbols_per_cycle``) of each of the N lanes. **Slot
    order**: bit ``s * N + i`` of ``act`` / ``wgt`` is slot s of lane i (slot 0 is the earliest
    in time), and bit s of ``pca_reset`` / ``pca_sample`` is slot s. This is the one place the
    order is defined; the optical models unpack the port the same way.

    Members
    -------
    act, wgt : Out(S * N)
        Activation and weight bits of each slot; an unused lane is dark (act 1, wgt 0).
    pca_reset : Out(S)
        Bit s: discharge the capacitor before slot s integrates.
    pca_sample : Out(S)
        Bit s: the ADC samples the capacitor at the end of slot s.
    adc_valid : In(A)
        A = ``xpu.adc_channels``: ``adc_banks`` banks of ``samples_per_cycle`` channels. The
        cycles that sample use the banks in rotation (bank 0 first after ``start``); the j-th
        sample (in slot order) of a cycle P that uses bank b is converted on channel ``b *
        samples_per_cycle + j``, whose bit is high ``adc_latency`` cycles after P.
    adc_code : In(ArrayLayout(adc_bits, A))
    """
    s = xpu.symbols_per_cycle
    lanes = s * xpu.n_lanes
    a = xpu.adc_channels
    return wiring.Signature(
        {
            "act": Out(lanes, init=(1 << lanes) - 1),
            "wgt": Out(lanes),
            "pca_reset": Out(s),
            "pca_sample": Out(s),
            "adc_valid": In(a),
            "adc_code": In(data.ArrayLayout(xpu.adc_bits, a)),
        }
    )


class Xpu(wiring.Component):
    """One XPU: host interface, tile buffers, sequencer, address generator and PCA readout.

    A layer runs as: the host holds ``desc`` (from
    :func:`~oxbnn.testbenches.driver.encode_descriptor`) and ``start`` in a cycle with
    ``start_ready`` (cycle 0; an idle XPU is always ready); it then streams the thresholds (bit
    output only), the activation tiles and the weight tiles in the order of the tiling plan, each
    stream whenever its ``ready`` is high, and takes the result words from ``res_out``; ``done`` is
    high for one cycle after the last result. Cycle counts:
    :func:`oxbnn.models.timing.layer_cycles`.

    **Chaining** (:func:`oxbnn.models.timing.chain_cycles`): while a layer runs, the host may
    offer the next one; it is taken once the running layer's thresholds are loaded, its
    thresholds load into the other threshold bank, its first activation tile and first weight
    tile load as soon as the running layer has announced its last ones and a bank is free, and
    it starts in the cycle of the running layer's ``done``. Each stream carries the layers'
    words one after the other, in order.

    Parameters
    ----------
    xpu : XpuParams

    Members
    -------
    desc : In(descriptor_layout(xpu))
    start : In(1)
        With the layer's ``desc``: the layer is taken in a cycle with ``start_ready``.
    start_ready : Out(1)
        A ``start`` now is taken (from registers only): while idle the layer starts in this
        cycle; while busy it is queued, one deep, and starts in the cycle of the running
        layer's ``done``.
    busy : Out(1)
    done : Out(1)
    error : Out(1)
        An ADC code arrived in a cycle the XPU did not expect one (sticky until the next start).
    act_in, wgt_in : In(stream.Signature(N))
    act_next_ready, wgt_next_ready : Out(1)
        ``act_in`` / ``wgt_in`` is ready in the next cycle, from registers and this cycle's
        ``valid`` only (:class:`TileBuffer`'s ``w_next_ready``): a source that reads a memory one
        cycle ahead of the stream (the chip's global buffer, :class:`~oxbnn.rtl.chip.Chip`)
        reads while it is high. It is low in the first cycle the stream is ready and in the
        cycle after a tile's last word.
    thr_in : In(stream.Signature(threshold_layout(xpu)))
    res_out : Out(stream.Signature(result_layout(xpu)))
    xpe : Out(optical_port_signature(xpu)).array(M)
    """

    def __init__(self, *, xpu: XpuParams):
        xpu_params(self, xpu)
        self._xpu = xpu
        super().__init__(
            {
                "desc": In(descriptor_layout(xpu)),
                "start": In(1),
                "start_ready": Out(1),
                "busy": Out(1),
                "done": Out(1),
                "error": Out(1),
                "act_in": In(stream.Signature(xpu.n_lanes)),
                "wgt_in": In(stream.Signature(xpu.n_lanes)),
                "act_next_ready": Out(1),
                "wgt_next_ready": Out(1),
                "thr_in": In(stream.Signature(threshold_layout(xpu))),
                "res_out": Out(stream.Signature(result_layout(xpu))),
                "xpe": Out(optical_port_signature(xpu)).array(xpu.n_xpes),
            }
        )

    @property
    def xpu(self) -> XpuParams:
        return self._xpu

    @property
    def run_start(self) -> int:
        """Cycle of ``start`` (0) -> first cycle the loaders and the sequencer act
        (:attr:`HostIf.start_latency`; the sequencer, started in the same cycle, arms its
        walkers in :attr:`Sequencer.start_latency`, the same number)."""
        return HostIf.start_latency

    @property
    def issue_to_port(self) -> int:
        """Issue cycle of a chunk's last read -> cycle the chunk is on the optical port
        (:attr:`AddressGen.latency`; the chunk's metadata is delayed as much)."""
        return AddressGen.latency

    @property
    def code_to_result(self) -> int:
        """Cycle a unit's last ADC code arrives -> cycle its result is offered on ``res_out``
        (:attr:`PcaReadout.code_to_result`)."""
        return PcaReadout.code_to_result

    @property
    def result_to_done(self) -> int:
        """Cycle the last result is taken -> cycle ``done`` is high
        (:attr:`Sequencer.result_to_done`)."""
        return Sequencer.result_to_done

    @property
    def result_depth(self) -> int:
        """Result FIFO words (and the sequencer's credits): an always-ready host never stalls.

        The sequencer takes a credit in a unit's first issue cycle (its counter shows it from
        the next cycle) and gets it back in the cycle after the host takes the unit's result. A
        unit whose last issue cycle is t has its last chunk on the port in ``t +
        issue_to_port``, its last code in ``+ adc_latency`` and its result offered (and, by an
        always-ready host, taken) in ``+ code_to_result``. Units are shortest (one issue cycle)
        when they follow each other every cycle; then the units started in the ``L =
        issue_to_port + adc_latency + code_to_result`` cycles before a cycle still hold their
        credits in it, and a unit starts in it only if a credit is free: ``L + 1`` credits
        never stall. The FIFO holds one more (``L + 2``, which is ``adc_latency + 5`` with
        today's latencies): the depth the XPU was built with, kept so no cycle of a host that
        drops ``ready`` changes.
        """
        return self.issue_to_port + self._xpu.adc_latency + self.code_to_result + 2

    def elaborate(self, platform):
        m = Module()
        xpu = self._xpu
        n, mm = xpu.n_lanes, xpu.n_xpes

        host = m.submodules.host_if = HostIf(xpu=xpu)
        seq = m.submodules.sequencer = Sequencer(xpu=xpu, result_depth=self.result_depth)
        ss = xpu.symbols_per_cycle
        reads = READS_PER_SLOT * ss * mm
        act = m.submodules.act_buffer = TileBuffer(width=n, depth=xpu.act_buffer_depth, ports=reads)
        wgt = m.submodules.wgt_buffer = TileBuffer(
            width=n, depth=xpu.wgt_buffer_depth, ports=ss * mm
        )
        agen = m.submodules.address_gen = AddressGen(xpu=xpu)
        readout = m.submodules.pca_readout = PcaReadout(xpu=xpu, depth=self.result_depth)

        wiring.connect(m, wiring.flipped(self.thr_in), host.thr_in)
        wiring.connect(m, wiring.flipped(self.act_in), act.w)
        wiring.connect(m, wiring.flipped(self.wgt_in), wgt.w)
        wiring.connect(m, seq.act_cmd, act.cmd)
        wiring.connect(m, seq.wgt_cmd, wgt.cmd)
        wiring.connect(m, readout.result, wiring.flipped(self.res_out))
        m.d.comb += [
            host.desc_in.eq(self.desc),
            host.start.eq(self.start),
            host.done.eq(seq.done),
            self.busy.eq(host.busy),
            self.done.eq(seq.done),
            self.start_ready.eq(host.start_ready),
            self.error.eq(readout.error),
            self.act_next_ready.eq(act.w_next_ready),
            self.wgt_next_ready.eq(wgt.w_next_ready),
            readout.clear.eq(host.run),
            seq.desc.eq(host.desc),
            seq.start.eq(host.run),
            seq.desc_next.eq(host.desc_next),
            seq.queued.eq(host.queued),
            # Only a layer taken while idle clears the buffers: a queued layer's first tiles
            # are already in them (every bank of the previous layer is released by its end).
            act.clear.eq(host.accept & ~host.busy),
            wgt.clear.eq(host.accept & ~host.busy),
            seq.act_valid.eq(act.rd_valid),
            seq.wgt_valid.eq(wgt.rd_valid),
            act.release.eq(seq.act_release),
            wgt.release.eq(seq.wgt_release),
            seq.thr_ready.eq(host.thr_ready),
            seq.popped.eq(self.res_out.valid & self.res_out.ready),
            agen.desc.eq(host.desc),
            agen.ctl.eq(seq.ctl),
        ]
        # Weight port e S + s: slot s of XPE e. Weight broadcast: every XPE reads the step's one
        # filter; activation broadcast: XPE e reads filter f + e, e chunks-long filters further
        # into the bank (a constant of the layer, registered from the latched descriptor; the
        # first issue is at least one cycle after the latch).
        w_addr = Widths.of(xpu).wgt_addr
        for e in range(mm):
            off = 0
            if e:
                off = Signal(w_addr, name=f"wgt_filter_off{e}")
                m.d.sync += off.eq(Mux(host.desc.act_bcast, times(host.desc.chunks, e), 0))
            for i in range(ss):
                j = e * ss + i
                m.d.comb += [
                    wgt.rd_addr[j].eq(seq.wgt_addr[i] + off),
                    agen.wgt_word[j].eq(wgt.rd_data[j]),
                ]
        for i in range(reads):
            m.d.comb += [act.rd_addr[i].eq(agen.rd_addr[i]), agen.rd_data[i].eq(act.rd_data[i])]

        # Threshold entry of XPE e: the step's filter, or under activation broadcast filter
        # f + e (an idle XPE, past the tile's last filter, reads f's: its result is masked).
        for e in range(mm):
            own = seq.ctl.filters[e] & host.desc.act_bcast if e else 0
            m.d.comb += host.thr_addr[e].eq(Mux(own, seq.thr_addr + e, seq.thr_addr))

        # Metadata of a chunk, from the sequencer (stage I) to the cycle the chunk is on the port
        # (stage P): one register stage per cycle of the address generator's latency. The
        # threshold entry (read in stage I) leaves the threshold memory in stage
        # I + threshold_latency and needs the remaining stages.
        meta_p, emit_p = seq.meta, seq.ctl.issue & seq.ctl.emit
        for k in range(1, agen.latency + 1):
            meta_k = Signal(meta_layout(xpu), name=f"meta_d{k}")
            emit_k = Signal(name=f"emit_d{k}")
            m.d.sync += [meta_k.eq(meta_p), emit_k.eq(emit_p)]
            meta_p, emit_p = meta_k, emit_k
        thr_p = host.thr_data
        for k in range(host.threshold_latency + 1, agen.latency + 1):
            thr_k = Signal(data.ArrayLayout(threshold_layout(xpu), mm), name=f"thr_d{k}")
            m.d.sync += thr_k.eq(thr_p)
            thr_p = thr_k
        port = readout.port
        m.d.comb += [
            port.sample.eq(Mux(emit_p, meta_p.sample, 0)),
            port.last.eq(meta_p.last),
            port.bank.eq(meta_p.bank),
            port.unit_first.eq(meta_p.unit_first),
            port.unit_last.eq(meta_p.unit_last),
            port.int_output.eq(host.desc.int_output),
            port.pool.eq(host.desc.pool),
            port.active.eq(agen.active),
            port.kv.eq(agen.kv),
            port.threshold.eq(thr_p),
        ]
        for e in range(mm):
            m.d.comb += [
                self.xpe[e].act.eq(agen.act[e]),
                self.xpe[e].wgt.eq(agen.wgt[e]),
                self.xpe[e].pca_reset.eq(Mux(emit_p, meta_p.reset, 0)),
                self.xpe[e].pca_sample.eq(Mux(emit_p, meta_p.sample, 0)),
                readout.adc_valid[e].eq(self.xpe[e].adc_valid),
                readout.adc_code[e].eq(self.xpe[e].adc_code),
            ]
        return m
