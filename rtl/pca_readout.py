"""PCA readout: sums ADC codes per XPE, forms the dot product, thresholds, pools, queues results."""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out

from ..models.configs import XpuParams
from ..models.tiling import Widths
from ._checks import fixed_latency, positive_int, xpu_params
from .host_if import result_layout, threshold_layout

__all__ = ["PcaReadout", "sample_layout", "PcaReadoutModel"]


def sample_layout(xpu: XpuParams) -> data.StructLayout:
    """What the readout learns in the port cycle of a chunk (stage P).

    ``sample``: the S-bit mask of the slots at whose end the PCAs are sampled; ``bank``: the ADC
    bank that converts them. ``last``: it is the
    vector's last beat (``kv`` is then its ``K_valid``). ``unit_first`` / ``unit_last``: first /
    last sub-job of a unit (for pooling; both for a layer without pooling). ``active``: XPEs with
    a unit (and a filter). ``threshold[e]``: the threshold entry of XPE e's filter.
    ``int_output`` / ``pool``: from the descriptor.
    """
    w = Widths.of(xpu)
    return data.StructLayout(
        {
            "sample": xpu.symbols_per_cycle,
            "bank": range(max(2, xpu.adc_banks)),
            "last": 1,
            "unit_first": 1,
            "unit_last": 1,
            "int_output": 1,
            "pool": 1,
            "active": xpu.n_xpes,
            "kv": data.ArrayLayout(w.count, xpu.n_xpes),
            "threshold": data.ArrayLayout(threshold_layout(xpu), xpu.n_xpes),
        }
    )


class PcaReadout(wiring.Component):
    """Adds each XPE's ADC codes over a vector and turns the sum into the output.

    The ``port`` description of a port cycle P with samples is delayed internally by
    ``adc_latency`` cycles to meet the codes, which arrive in P + ``adc_latency``: the j-th
    sample of the cycle (in slot order) on ADC channel j, with ``adc_valid`` bit j (A =
    ``XpuParams.adc_channels`` channels per XPE). Per XPE, codes are summed until the vector's
    last one; then
    ``dot = 2 * count - K_valid`` and ``bit = dot >= threshold`` (``dot <= threshold`` if
    ``flip``). With pooling the bits of a unit's four sub-jobs are ORed. When a unit is complete
    its result enters a FIFO of ``depth`` words, offered on ``result`` :attr:`code_to_result`
    cycles after its last code (:attr:`latency` = ``adc_latency + code_to_result`` cycles after
    the sample). ``adc_valid`` channels that do not match the cycle's samples set the sticky
    ``error``.

    Parameters
    ----------
    xpu : XpuParams
    depth : int
        Results the FIFO holds; the sequencer's credit limit.

    Members
    -------
    port : In(sample_layout(xpu))
    adc_valid : In(ArrayLayout(A, M))
    adc_code : In(ArrayLayout(ArrayLayout(adc_bits, A), M))
    result : Out(stream.Signature(result_layout(xpu)))
    error : Out(1)
    clear : In(1)
        Clears ``error`` (at the start of a layer).
    """

    def __init__(self, *, xpu: XpuParams, depth: int):
        xpu_params(self, xpu)
        positive_int(self, "depth", depth)
        self._xpu = xpu
        self._depth = depth
        super().__init__(
            {
                "port": In(sample_layout(xpu)),
                "adc_valid": In(data.ArrayLayout(xpu.adc_channels, xpu.n_xpes)),
                "adc_code": In(
                    data.ArrayLayout(data.ArrayLayout(xpu.adc_bits, xpu.adc_channels), xpu.n_xpes)
                ),
                "result": Out(stream.Signature(result_layout(xpu))),
                "error": Out(1),
                "clear": In(1),
            }
        )

    @property
    def xpu(self) -> XpuParams:
        return self._xpu

    @property
    def depth(self) -> int:
        return self._depth

    @fixed_latency
    def code_to_result(cls) -> int:
        """Cycle a unit's last ADC code arrives -> cycle its result is offered on ``result``: the
        result is formed in the code's cycle and written into the FIFO, which offers a word
        from the cycle after its write (first-word fall-through)."""
        return 1

    @property
    def latency(self) -> int:
        """Port cycle of a unit's last sample -> cycle its result is offered on ``result``."""
        return self._xpu.adc_latency + self.code_to_result

    def elaborate(self, platform):
        m = Module()
        xpu = self._xpu
        mm = xpu.n_xpes
        w = Widths.of(xpu)
        layout = result_layout(xpu)

        # Delay the slot description to the cycle its codes arrive.
        stages = [self.port]
        for i in range(xpu.adc_latency):
            stage = Signal(sample_layout(xpu), name=f"delay{i}")
            m.d.sync += stage.eq(stages[-1])
            stages.append(stage)
        at = stages[-1]

        fifo = m.submodules.fifo = SyncFIFO(width=layout.size, depth=self._depth)
        res = Signal(layout)
        m.d.comb += [
            fifo.w_data.eq(res),
            fifo.w_en.eq(at.sample.any() & at.last & at.unit_last),
            self.result.valid.eq(fifo.r_rdy),
            self.result.payload.eq(fifo.r_data),
            fifo.r_en.eq(self.result.ready),
        ]

        # The channels a cycle's samples use: bank b's channels b * per_bank .. , as many as the
        # cycle has samples (a thermometer code of their count, shifted to the bank).
        a, per_bank = xpu.adc_channels, xpu.samples_per_cycle
        count = sum(at.sample[i] for i in range(xpu.symbols_per_cycle))
        expect = Cat(*((at.bank == c // per_bank) & (count > c % per_bank) for c in range(a)))
        mismatch = Signal()
        m.d.comb += mismatch.eq(Cat(*(self.adc_valid[e] != expect for e in range(mm))).any())
        with m.If(self.clear):
            m.d.sync += self.error.eq(0)
        with m.Elif(mismatch):
            m.d.sync += self.error.eq(1)

        for e in range(mm):
            thr = at.threshold[e]
            acc = Signal(w.count, name=f"acc{e}")
            pooled = Signal(name=f"pooled{e}")
            # Expressions rather than named signals (the simulator re-runs a block once per
            # level of named combinational signals).
            total = acc
            for c in range(a):
                total = total + Mux(self.adc_valid[e][c], self.adc_code[e][c], 0)
            total = total[: w.count]
            dot = (total << 1) - at.kv[e]
            bit = Mux(thr.flip, dot <= thr.value, dot >= thr.value)
            out_bit = Mux(at.unit_first, bit, bit | pooled)
            m.d.comb += [
                res.bits[e].eq(at.active[e] & ~at.int_output & out_bit),
                res.dots[e].eq(Mux(at.active[e] & ~at.pool, dot, 0)),
            ]
            with m.If(at.sample.any()):
                m.d.sync += acc.eq(Mux(at.last, 0, total))
                with m.If(at.last):
                    m.d.sync += pooled.eq(out_bit)
        return m


class PcaReadoutModel:
    """Bit-exact Python model of one XPE's readout (for unit tests and documentation).

    ``feed(code, last, kv, threshold, flip)`` per sample; returns ``(dot, bit)`` after the
    vector's last code, else ``None``.
    """

    def __init__(self) -> None:
        self.acc = 0

    def feed(
        self, code: int, last: bool, kv: int = 0, threshold: int = 0, flip: bool = False
    ) -> tuple[int, int] | None:
        self.acc += code
        if not last:
            return None
        dot = 2 * self.acc - kv
        self.acc = 0
        return dot, int(dot <= threshold if flip else dot >= threshold)
