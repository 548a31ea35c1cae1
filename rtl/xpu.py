"""The digital side of one OXBNN XPU: M XPEs of N lanes, their buffers, control and readout.

Block diagram (one block per file)::

    desc/start --> HostIf --(desc)--> Sequencer --ctl--> AddressGen --act/wgt--> xpe[e] (optics)
    thr_in ------> HostIf (threshold memory)   |            ^   |                    |
    act_in ------> TileBuffer (2 banks, 2M read ports) -----+   +--kv/active--+      |
    wgt_in ------> TileBuffer (2 banks, 1 read port) --weight word--^         v      v
                                                           PcaReadout <-- adc_valid/adc_code
    res_out <-------------------------------------------------- (result FIFO)

Architecture decisions (the cycle-level contract is in :mod:`oxbnn.models.timing`, which the
tests hold equal to this RTL):

* **Dataflow** (DESIGN.md §4, default): the M XPEs share one filter (weights broadcast) and work
  on M different output *units* (positions; 2 x 2 pooling windows when the layer pools, computed
  as four consecutive sub-jobs whose bits the readout ORs). Units are numbered row-major; a group
  of M consecutive units may span output rows. An FC layer is one unit, so it uses one XPE (the
  activation-broadcast alternative is not implemented).
* **Packing**: one vector is ``ceil(K/N)`` chunks in one PCA. Pixels are stored channel-chunk
  aligned (``ceil(C/N)`` words each); a per-XPE :class:`~oxbnn.rtl.gearbox.Gearbox` packs the
  words of the im2col vector into dense N-bit chunks. Each XPE has two read ports and the
  sequencer reads, per cycle, only the words the current chunk still needs, so a vector takes
  ``ceil(K/N)`` cycles unless ``C < N / 2`` (then it is read bound), and every vector's schedule
  is the same -- the timing model computes it once per layer.
* **Padding** is never stored: the address generator tests each tap against the image and
  substitutes dark lanes (``"dark"``) or the pad value (``"+1"`` / ``"-1"``, counted);
  ``K_valid`` is accumulated per XPE from the bit counts of the counted words.
* **Tiling**: activation tiles are bands of whole unit rows with their halo, weight tiles sets of
  whole filters; both buffers are double-buffered and filled by the host in plan order while the
  other bank is read. The descriptor carries the plan's derived constants (no divider in
  hardware); :func:`~oxbnn.rtl.host_if.encode_descriptor` rejects what cannot run.
* **Back-pressure**: the result FIFO holds ``adc_latency + 5`` results, and the sequencer starts
  a unit only with a free credit, so a stalled host stalls issue cleanly at a unit boundary
  (never inside a vector, where the PCAs integrate); an always-ready host never stalls it.
* **Memories**: the activation buffer is one logical memory with 2M synchronous read ports (a
  chip would bank it); synthesis keeps all memories as macros (``tools/synth``).

The optical port of XPE e (:func:`optical_port_signature`) carries S x N lanes per cycle; lane
``s * N + i`` is symbol s of wavelength i. Only S = 1 is implemented (``XpuParams`` rejects
others); a wider S keeps every member's meaning.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..models.configs import XpuParams
from ._checks import xpu_params
from .address_gen import AddressGen
from .host_if import HostIf, descriptor_layout, result_layout, threshold_layout
from .pca_readout import PcaReadout
from .sequencer import Sequencer, meta_layout
from .tile_buffer import TileBuffer

__all__ = ["Xpu", "optical_port_signature"]


def optical_port_signature(xpu: XpuParams) -> wiring.Signature:
    """The optical port of one XPE, seen from the XPU (DESIGN.md §3).

    Members
    -------
    act, wgt : Out(S * N)
        Activation and weight bits of this slot; an unused lane is dark (act 1, wgt 0).
    pca_reset : Out(1)
        Discharge the capacitor before this slot integrates.
    pca_sample : Out(1)
        The ADC samples the capacitor at the end of this slot.
    adc_valid : In(1)
        ``adc_latency`` cycles after ``pca_sample``.
    adc_code : In(adc_bits)
    """
    lanes = xpu.symbols_per_cycle * xpu.n_lanes
    return wiring.Signature(
        {
            "act": Out(lanes, init=(1 << lanes) - 1),
            "wgt": Out(lanes),
            "pca_reset": Out(1),
            "pca_sample": Out(1),
            "adc_valid": In(1),
            "adc_code": In(xpu.adc_bits),
        }
    )


class Xpu(wiring.Component):
    """One XPU: host interface, tile buffers, sequencer, address generator and PCA readout.

    A layer runs as: the host holds ``desc`` (from :func:`~oxbnn.rtl.host_if.encode_descriptor`)
    and pulses ``start`` (cycle 0); it then streams the thresholds (bit output only), the
    activation tiles and the weight tiles in the order of the tiling plan, each stream whenever
    its ``ready`` is high, and takes the result words from ``res_out``; ``done`` is high for one
    cycle after the last result. Cycle counts: :func:`oxbnn.models.timing.layer_cycles`.

    Parameters
    ----------
    xpu : XpuParams

    Members
    -------
    desc : In(descriptor_layout(xpu))
    start : In(1)
    busy : Out(1)
    done : Out(1)
    error : Out(1)
        An ADC code arrived in a cycle the XPU did not expect one (sticky until the next start).
    act_in, wgt_in : In(stream.Signature(N))
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
                "busy": Out(1),
                "done": Out(1),
                "error": Out(1),
                "act_in": In(stream.Signature(xpu.n_lanes)),
                "wgt_in": In(stream.Signature(xpu.n_lanes)),
                "thr_in": In(stream.Signature(threshold_layout(xpu))),
                "res_out": Out(stream.Signature(result_layout(xpu))),
                "xpe": Out(optical_port_signature(xpu)).array(xpu.n_xpes),
            }
        )

    @property
    def xpu(self) -> XpuParams:
        return self._xpu

    @property
    def issue_to_port(self) -> int:
        """Issue cycle of a chunk's last read -> cycle the chunk is on the optical port."""
        return AddressGen.LATENCY

    @property
    def code_to_result(self) -> int:
        """Cycle a unit's last ADC code arrives -> cycle its result is offered on ``res_out``."""
        return PcaReadout.CODE_TO_RESULT

    @property
    def result_depth(self) -> int:
        """Result FIFO words: enough that a host that is always ready never stalls the XPU.

        A unit holds a credit from its first issue cycle until its result is taken, at most
        ``issue_to_port + adc_latency + 2`` cycles after its last issue cycle; one more word of
        margin.
        """
        return self._xpu.adc_latency + 5

    def elaborate(self, platform):
        m = Module()
        xpu = self._xpu
        n, mm = xpu.n_lanes, xpu.n_xpes

        host = m.submodules.host_if = HostIf(xpu=xpu)
        seq = m.submodules.sequencer = Sequencer(xpu=xpu, result_depth=self.result_depth)
        act = m.submodules.act_buffer = TileBuffer(
            width=n, depth=xpu.act_buffer_depth, ports=2 * mm
        )
        wgt = m.submodules.wgt_buffer = TileBuffer(width=n, depth=xpu.wgt_buffer_depth, ports=1)
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
            self.error.eq(readout.error),
            readout.clear.eq(host.accept),
            seq.desc.eq(host.desc),
            seq.start.eq(host.accept),
            act.clear.eq(host.accept),
            wgt.clear.eq(host.accept),
            seq.act_valid.eq(act.rd_valid),
            seq.wgt_valid.eq(wgt.rd_valid),
            act.release.eq(seq.act_release),
            wgt.release.eq(seq.wgt_release),
            seq.thr_ready.eq(host.thr_ready),
            host.thr_addr.eq(seq.thr_addr),
            wgt.rd_addr[0].eq(seq.wgt_addr),
            seq.popped.eq(self.res_out.valid & self.res_out.ready),
            agen.desc.eq(host.desc),
            agen.ctl.eq(seq.ctl),
            agen.wgt_word.eq(wgt.rd_data[0]),
        ]
        for i in range(2 * mm):
            m.d.comb += [act.rd_addr[i].eq(agen.rd_addr[i]), agen.rd_data[i].eq(act.rd_data[i])]

        # Metadata of a chunk: stage I (sequencer) -> D (threshold read) -> P (on the port).
        meta_d = Signal(meta_layout)
        emit_d = Signal()
        meta_p = Signal(meta_layout)
        emit_p = Signal()
        thr_p = Signal(threshold_layout(xpu))
        m.d.sync += [
            meta_d.eq(seq.meta),
            emit_d.eq(seq.ctl.issue & seq.ctl.emit),
            meta_p.eq(meta_d),
            emit_p.eq(emit_d),
            thr_p.eq(host.thr_data),
        ]
        port = readout.port
        m.d.comb += [
            port.sample.eq(emit_p & meta_p.sample),
            port.last.eq(meta_p.last),
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
                self.xpe[e].pca_reset.eq(emit_p & meta_p.reset),
                self.xpe[e].pca_sample.eq(emit_p & meta_p.sample),
                readout.adc_valid[e].eq(self.xpe[e].adc_valid),
                readout.adc_code[e].eq(self.xpe[e].adc_code),
            ]
        return m
