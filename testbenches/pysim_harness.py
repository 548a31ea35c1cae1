"""Host, external memory and ideal PCA around :class:`~oxbnn.rtl.xpu.Xpu` in Amaranth's simulator.

One :class:`XpuHarness` elaborates an XPU once and runs any number of layers on it, back to back
(each from its own ``start``). Per layer the testbench acts, every cycle, as

* the **host**: it holds the descriptor, pulses ``start`` in cycle 0 and takes result words from
  ``res_out``, with ``ready`` always high or following a seeded random pattern (back-pressure);
* the **external memory** (:class:`~oxbnn.models.timing.MemoryModel`): one channel per stream
  (thresholds, activation tiles, weight tiles), streaming tiles in the order of the tiling plan
  (:func:`~oxbnn.models.tiling.tiling_plan`). A tile is requested in the first cycle the stream
  is ready after the previous tile was complete; word ``i`` is valid from cycle
  ``request + latency + i * cycles_per_word``;
* the **ideal PCA** of every XPE: each cycle it adds the popcount of XNOR(act, wgt) over the
  N lanes to its charge (a dark lane, act 1 / wgt 0, adds nothing), after discharging it if
  ``pca_reset`` is high; on ``pca_sample`` it returns the charge as the ADC code
  ``adc_latency`` cycles later (one LSB per lane per slot, DESIGN.md §3, ideal mode).

The packing of tensors into stream words lives here too: activation tiles are bands of input
rows, each pixel ``ceil(C/N)`` words with channel ``c`` at lane ``c mod N`` of word ``c // N``;
a filter is its im2col vector (``(ky, kx, c)``, ``c`` fastest) cut into ``ceil(K/N)`` words.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import numpy as np
from amaranth.hdl import Cat, Elaboratable, Module, Signal, Value
from amaranth.sim import Simulator

from ..models.configs import XpuParams
from ..models.layer import LayerSpec
from ..models.tiling import TilingPlan, Widths, tiling_plan
from ..models.timing import MemoryModel
from ..rtl.host_if import descriptor_layout, threshold_layout
from ..rtl.xpu import Xpu
from .driver import act_tiles, encode_descriptor, encode_thresholds, wgt_tiles
from .stimulus import Feeder

__all__ = [
    "LayerRun",
    "LayerResult",
    "XpuHarness",
    "SimulationTimeout",
    "decode_results",
    "layer_stimulus",
]


class SimulationTimeout(RuntimeError):
    """A layer did not finish within the cycle budget."""


def layer_stimulus(run: LayerRun, xpu: XpuParams) -> tuple[TilingPlan, int, dict[str, Feeder]]:
    """What the host and the memory send for ``run``: its tiling plan, its descriptor word, and
    one memory channel per stream (thresholds, activation tiles, weight tiles)."""
    spec = run.spec
    plan = tiling_plan(spec, xpu)
    desc = descriptor_layout(xpu).const(encode_descriptor(spec, xpu, plan)).as_value().value
    thr_words: list[int] = []
    if spec.output == "bit":
        layout = threshold_layout(xpu)
        thr_words = [
            layout.const(e).as_value().value
            for e in encode_thresholds(run.thresholds, run.flip, spec, xpu)
        ]
    stall = run.stall_probability
    feeders = {
        "thr": Feeder([thr_words], run.mem, stall, random.Random(run.seed + 1)),
        "act": Feeder(act_tiles(plan, run.act), run.mem, stall, random.Random(run.seed + 2)),
        "wgt": Feeder(wgt_tiles(plan, run.weights), run.mem, stall, random.Random(run.seed + 3)),
    }
    return plan, desc, feeders


@dataclass
class LayerRun:
    """One layer to run: the spec, its tensors, the memory model and the host's back-pressure.

    ``ready_probability`` < 1 makes the host drop ``res_out.ready`` at random (seeded by
    ``seed``); 1 means always ready. ``stall_probability`` > 0 makes the external memory withhold
    a due word for a cycle at random (:class:`~oxbnn.testbenches.stimulus.Feeder`).
    """

    spec: LayerSpec
    act: np.ndarray
    weights: np.ndarray
    thresholds: np.ndarray | None = None
    flip: np.ndarray | None = None
    mem: MemoryModel = field(default_factory=MemoryModel)
    ready_probability: float = 1.0
    stall_probability: float = 0.0
    seed: int = 0
    name: str = ""


@dataclass
class LayerResult:
    """What the harness saw of one layer.

    ``output`` has shape ``spec.final_shape`` (uint8 bits or int64 dots); ``output_cycle`` gives,
    per element, the cycle its result word was taken. Cycles count from the ``start`` cycle.
    """

    output: np.ndarray
    output_cycle: np.ndarray
    cycles: int
    sample_cycles: list[int]
    reset_cycles: list[int]
    result_cycles: list[int]
    not_ready_cycles: int
    error: bool


def _raw(value):
    """The plain signal under a struct view (a plain signal is returned as is)."""
    return value.as_value() if hasattr(value, "as_value") else value


class _Bus:
    """Named fields packed into one :class:`Cat`, so a testbench reads or writes them at once."""

    def __init__(self, fields: list[tuple[str, object]]):
        self.fields: dict[str, tuple[int, int]] = {}
        parts = []
        offset = 0
        for name, value in fields:
            raw = Value.cast(_raw(value))
            self.fields[name] = (offset, len(raw))
            parts.append(raw)
            offset += len(raw)
        self.value = Cat(*parts)

    def unpack(self, word: int) -> dict[str, int]:
        out = {
            name: (word >> off) & ((1 << width) - 1) for name, (off, width) in self.fields.items()
        }
        out["_raw"] = word
        return out

    def pack(self, values: dict[str, int]) -> int:
        word = 0
        for name, (off, width) in self.fields.items():
            word |= (values[name] & ((1 << width) - 1)) << off
        return word


class _Probe(Elaboratable):
    """The DUT with all testbench inputs behind one signal and all outputs behind another.

    A testbench ``get`` of a :class:`Cat` walks every part in Python; one wide signal is read
    and written in one step.
    """

    def __init__(self, dut, drive: _Bus, watch: _Bus):
        self.dut = dut
        self.drive_bus = drive
        self.watch_bus = watch
        self.drive = Signal(len(drive.value))
        self.watch = Signal(len(watch.value))

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = self.dut
        m.d.comb += [self.drive_bus.value.eq(self.drive), self.watch.eq(self.watch_bus.value)]
        return m


class XpuHarness:
    """An elaborated :class:`Xpu` plus the testbench that runs layers on it.

    Parameters
    ----------
    xpu : XpuParams
    vcd : str, optional
        Write a VCD trace of the whole run here.
    """

    def __init__(self, xpu: XpuParams, *, vcd: str | None = None):
        self.xpu = xpu
        self.vcd = vcd
        self.widths = Widths.of(xpu)

    def run(self, layers: list[LayerRun], *, max_cycles: int = 1_000_000) -> list[LayerResult]:
        """Run ``layers`` one after the other; return what was seen of each."""
        results: list[LayerResult] = []
        for run in layers:  # fail fast, outside the simulator, on a layer that cannot map
            tiling_plan(run.spec, self.xpu)
        dut = Xpu(xpu=self.xpu)  # a fresh design per run: Amaranth elaborates it once
        xpu = self.xpu
        n, mm, lat = xpu.n_lanes, xpu.n_xpes, xpu.adc_latency
        dw = self.widths.dot
        lane_mask = (1 << n) - 1
        streams = {"thr": dut.thr_in, "act": dut.act_in, "wgt": dut.wgt_in}

        # Every ctx.set settles the whole design, so the testbench writes all its inputs with one
        # set per cycle (a Cat) and reads all outputs with one get.
        drive = _Bus(
            [("start", dut.start), ("res_ready", dut.res_out.ready)]
            + [(f"{k}_valid", p.valid) for k, p in streams.items()]
            + [(f"{k}_payload", p.payload) for k, p in streams.items()]
            + [(f"adc_valid{e}", dut.xpe[e].adc_valid) for e in range(mm)]
            + [(f"adc_code{e}", dut.xpe[e].adc_code) for e in range(mm)]
        )
        watch = _Bus(
            [
                ("done", dut.done),
                ("error", dut.error),
                ("res_valid", dut.res_out.valid),
                ("res_payload", dut.res_out.payload),
            ]
            + [(f"{k}_ready", p.ready) for k, p in streams.items()]
            + [
                (
                    f"port{e}",
                    Cat(
                        dut.xpe[e].act, dut.xpe[e].wgt, dut.xpe[e].pca_reset, dut.xpe[e].pca_sample
                    ),
                )
                for e in range(mm)
            ]
        )
        port_fields = [watch.fields[f"port{e}"] for e in range(mm)]
        top = _Probe(dut, drive, watch)

        async def testbench(ctx):
            inputs = dict.fromkeys(drive.fields, 0)
            for run in layers:
                spec = run.spec
                plan, desc, feeders = layer_stimulus(run, xpu)
                rng = random.Random(run.seed)
                result_words: list[tuple[int, int]] = []
                samples: list[int] = []
                resets: list[int] = []
                charge = [0] * mm
                pending: dict[int, list[int]] = {}
                not_ready = 0
                error = False
                written = None

                ctx.set(_raw(dut.desc), desc)
                t = 0
                while True:
                    out = watch.unpack(ctx.get(top.watch))
                    inputs["start"] = int(t == 0)
                    for key, feeder in feeders.items():
                        valid, payload = feeder.drive(t, out[f"{key}_ready"])
                        inputs[f"{key}_valid"] = valid
                        if valid:
                            inputs[f"{key}_payload"] = payload
                    # Host result sink.
                    ready = (
                        1
                        if run.ready_probability >= 1
                        else int(rng.random() < run.ready_probability)
                    )
                    inputs["res_ready"] = ready
                    if out["res_valid"]:
                        if ready:
                            result_words.append((out["res_payload"], t))
                        else:
                            not_ready += 1
                    # Ideal PCAs: popcount of XNOR per slot, accumulated from a reset.
                    codes = []
                    for e, (offset, _) in enumerate(port_fields):
                        word = out["_raw"] >> offset
                        act, wgt = word & lane_mask, (word >> n) & lane_mask
                        if (word >> (2 * n)) & 1:
                            charge[e] = 0
                            if e == 0:
                                resets.append(t)
                        charge[e] += (~(act ^ wgt) & lane_mask).bit_count()
                        if (word >> (2 * n + 1)) & 1:
                            codes.append(charge[e])
                    if codes:
                        samples.append(t)
                        pending[t + lat] = codes
                    due = pending.pop(t, None)
                    for e in range(mm):
                        inputs[f"adc_valid{e}"] = int(due is not None)
                        if due is not None:
                            inputs[f"adc_code{e}"] = due[e]
                    word = drive.pack(inputs)
                    if word != written:
                        ctx.set(top.drive, word)
                        written = word
                    error |= bool(out["error"])
                    if out["done"]:
                        break
                    await ctx.tick()
                    t += 1
                    if t > max_cycles:
                        raise SimulationTimeout(
                            f"layer {run.name or spec} did not finish in {max_cycles} cycles "
                            f"({len(result_words)} results taken)"
                        )
                # Leave the inputs idle for the next layer.
                for key in inputs:
                    if key.endswith("valid") or key == "start":
                        inputs[key] = 0
                ctx.set(top.drive, drive.pack(inputs))
                await ctx.tick()
                output, out_cycle = decode_results(plan, result_words, n, mm, dw)
                results.append(
                    LayerResult(
                        output=output,
                        output_cycle=out_cycle,
                        cycles=t,
                        sample_cycles=samples,
                        reset_cycles=resets,
                        result_cycles=[c for _, c in result_words],
                        not_ready_cycles=not_ready,
                        error=error,
                    )
                )

        sim = Simulator(top)
        sim.add_clock(1e-9)
        sim.add_testbench(testbench)
        if self.vcd:
            with sim.write_vcd(self.vcd):
                sim.run()
        else:
            sim.run()
        return results


def decode_results(
    plan: TilingPlan, words: list[tuple[int, int]], n: int, mm: int, dw: int
) -> tuple[np.ndarray, np.ndarray]:
    """Result words ``(payload, cycle)`` of a layer as its output array and, per element, the
    cycle its word was taken (the order is :meth:`TilingPlan.results`)."""
    spec = plan.spec
    shape = spec.final_shape
    is_int = spec.output == "int"
    out = np.zeros(shape, dtype=np.int64 if is_int else np.uint8)
    out_cycle = np.full(shape, -1, dtype=np.int64)
    order = list(plan.results())
    if len(words) != len(order):
        raise AssertionError(f"{len(words)} result words for {len(order)} expected by the plan")
    dmask = (1 << dw) - 1
    for (raw, cycle), (band, f, group) in zip(words, order, strict=True):
        for e, unit in enumerate(plan.units(band, group)):
            if unit is None:
                continue
            uy, ux = unit
            if is_int:
                v = (raw >> (mm + e * dw)) & dmask
                out[uy, ux, f] = v - (1 << dw) if v >> (dw - 1) else v
            else:
                out[uy, ux, f] = (raw >> e) & 1
            out_cycle[uy, ux, f] = cycle
    return out, out_cycle
