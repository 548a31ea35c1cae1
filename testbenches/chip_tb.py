"""The chip of X XPUs (:class:`~oxbnn.rtl.chip.Chip`) in Amaranth's simulator, optics in the loop.

:class:`ChipTop` puts every input of the chip behind one ``drive`` word and every output behind
one ``watch`` word (as :class:`~oxbnn.testbenches.cosim_top.CosimTop` does for one XPU); XPU
``i``'s fields are named ``x{i}.<name>`` with the single XPU's names, so the per-cycle
environment of one XPU (:class:`~oxbnn.testbenches.env.XpuEnv`: optical bridge, ADC delay line,
result sink) plays each XPU of the chip unchanged, on a view of the chip's words
(:meth:`ChipTop.xpu_fields`).

:class:`ChipEnv` is the chip's host: it splits the layer (:func:`oxbnn.models.chip.chip_layer`),
writes each channel's stream once into the global buffer (one word per cycle, before the
layer: those cycles are not counted), starts the XPUs in cycle 0 with their descriptors and
channels, streams each XPU's thresholds, and stalls the global buffer at random when asked
(``LayerRun.stall_probability``: each cycle, ``gb_stall`` with that probability). The
activation and weight tiles come from the global buffer through the chip's interconnect; a
run's ``mem`` is not used (an XPU of the chip sees
:data:`~oxbnn.models.timing.GB_MEMORY`). The layer's output is the XPUs' outputs put back in
place.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from amaranth.hdl import Cat, Module
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..models import bnn
from ..models.chip import ChipLayer, ChipParams, chip_layer, choose_split, share_tensors
from ..models.optics import Effects
from ..models.timing import GB_MEMORY
from ..rtl.chip import Chip, channel_layout, gb_write_layout
from .cosim_top import Fields, _raw
from .env import LayerResult, SimulationTimeout, XpuEnv, drive_streams, stream_ports
from .optical_bridge import OpticalBridge
from .pysim_harness import play, simulate
from .stimulus import LayerRun

__all__ = ["ChipTop", "ChipEnv", "ChipResult", "ChipHarness", "check_chip"]

#: The per-XPU fields of :class:`ChipTop` (``x{i}.<name>``), as in the single XPU's words.
_XPU_DRIVE = ("res_ready", "thr_valid", "adc_valid", "thr_payload", "adc_code", "desc")
_XPU_WATCH = ("done", "thr_ready", "res_valid", "res_payload",
              "opt_reset", "opt_sample", "opt_act", "opt_wgt")  # fmt: skip


class ChipTop(wiring.Component):
    """:class:`~oxbnn.rtl.chip.Chip` with all inputs in ``drive`` and all outputs in ``watch``."""

    def __init__(self, chip: ChipParams):
        self.chip = chip
        dut = self._dut = Chip(
            xpu=chip.xpu, n_xpus=chip.n_xpus, gb_depth=chip.gb_depth, gb_ports=chip.gb_ports
        )
        mm = chip.xpu.n_xpes
        drive = [
            ("start", dut.start),
            ("enable", dut.enable),
            ("gb_stall", dut.gb_stall),
            ("gb_valid", dut.gb_w.valid),
            ("gb_payload", dut.gb_w.payload),
            ("channels", dut.channels),
        ]
        watch = [
            ("done", dut.done),
            ("busy", dut.busy),
            ("error", dut.error),
            ("start_ready", dut.start_ready),
        ]
        for i in range(chip.n_xpus):
            xpes = [dut.xpe[i][e] for e in range(mm)]
            drive += [
                (f"x{i}.res_ready", dut.res_out[i].ready),
                (f"x{i}.thr_valid", dut.thr_in[i].valid),
                (f"x{i}.adc_valid", Cat(*(p.adc_valid for p in xpes))),
                (f"x{i}.thr_payload", dut.thr_in[i].payload),
                (f"x{i}.adc_code", Cat(*(p.adc_code for p in xpes))),
                (f"x{i}.desc", dut.desc[i]),
            ]
            watch += [
                (f"x{i}.done", dut.xpu_done[i]),
                (f"x{i}.thr_ready", dut.thr_in[i].ready),
                (f"x{i}.res_valid", dut.res_out[i].valid),
                (f"x{i}.res_payload", dut.res_out[i].payload),
                (f"x{i}.opt_reset", Cat(*(p.pca_reset for p in xpes))),
                (f"x{i}.opt_sample", Cat(*(p.pca_sample for p in xpes))),
                (f"x{i}.opt_act", Cat(*(p.act for p in xpes))),
                (f"x{i}.opt_wgt", Cat(*(p.wgt for p in xpes))),
            ]
        self._drive_parts = [(n, _raw(v)) for n, v in drive]
        self._watch_parts = [(n, _raw(v)) for n, v in watch]
        self.drive_fields = Fields.from_parts([(n, len(v)) for n, v in self._drive_parts])
        self.watch_fields = Fields.from_parts([(n, len(v)) for n, v in self._watch_parts])
        super().__init__(
            {"drive": In(self.drive_fields.width), "watch": Out(self.watch_fields.width)}
        )

    def xpu_fields(self, i: int) -> tuple[Fields, Fields]:
        """XPU ``i``'s view of ``drive`` and ``watch``: its fields under the single XPU's names
        (``error`` is the chip's)."""
        views = []
        for fields, names in ((self.drive_fields, _XPU_DRIVE), (self.watch_fields, _XPU_WATCH)):
            layout = {name: fields.layout[f"x{i}.{name}"] for name in names}
            if fields is self.watch_fields:
                layout["error"] = fields.layout["error"]
            views.append(Fields(layout))
        return views[0], views[1]

    def elaborate(self, platform):
        m = Module()
        m.submodules.chip = self._dut
        m.d.comb += [
            Cat(*(v for _, v in self._drive_parts)).eq(self.drive),
            self.watch.eq(Cat(*(v for _, v in self._watch_parts))),
        ]
        return m


@dataclass
class ChipResult:
    """What was seen of one layer on the chip.

    Attributes
    ----------
    output : ndarray
        The layer's result (``spec.final_shape``), the XPUs' outputs put back in place.
    cycles : int
        Cycle of the chip's ``done`` (cycle 0: ``start``).
    xpus : list of LayerResult
        Each busy XPU's run of its share, counted from the chip's start.
    stall_cycles : int
        Cycles the global buffer was stalled before ``done``.
    gb_words : int
        Words the host wrote into the global buffer (one per cycle, before cycle 0).
    wall_s : float
    """

    output: np.ndarray
    cycles: int
    xpus: list[LayerResult]
    stall_cycles: int
    gb_words: int
    wall_s: float


class ChipEnv:
    """Host of one layer on the chip (module docstring); step it once per cycle.

    Parameters
    ----------
    top : ChipTop
    run : LayerRun
        The whole layer; ``stall_probability`` stalls the global buffer, ``ready_probability``
        the result sinks.
    layer : ChipLayer
        The split and plans (:func:`~oxbnn.models.chip.chip_layer`).
    bridges : list of OpticalBridge
        One per XPU of the chip.
    max_cycles : int
    """

    def __init__(
        self,
        top: ChipTop,
        run: LayerRun,
        layer: ChipLayer,
        bridges: list[OpticalBridge],
        *,
        max_cycles: int = 1_000_000,
    ) -> None:
        chip, spec = top.chip, run.spec
        self.top, self.run, self.layer = top, run, layer
        self.max_cycles = max_cycles
        drive, watch = top.drive_fields, top.watch_fields
        self.envs: dict[int, XpuEnv] = {}  # by XPU
        self._thr: list[tuple[list[tuple], list[int]]] = []
        descs = {}
        for share in layer.shares:
            plan = layer.plans[share.xpu]
            act, w, thr, flip = share_tensors(
                spec, share, run.act, run.weights, run.thresholds, run.flip
            )
            sub = LayerRun(
                spec=share.spec, act=act, weights=w, thresholds=thr, flip=flip, mem=GB_MEMORY,
                ready_probability=run.ready_probability, seed=run.seed + 7 * share.xpu,
                name=f"{run.label} on XPU {share.xpu}", dataflow=plan.dataflow,
                walk="weights_outer" if plan.weights_outer else "bands_outer",
            )  # fmt: skip
            d, w_ = top.xpu_fields(share.xpu)
            env = XpuEnv(chip.xpu, sub, bridges[share.xpu], d, w_, max_cycles=max_cycles,
                         host=False)  # fmt: skip
            if env.plan != plan:
                raise AssertionError(f"{sub.label}: the host's plan is not the model's")
            self.envs[share.xpu] = env
            thr_feeder = {"thr": env.feeders["thr"]}
            self._thr.append((stream_ports(thr_feeder, d, w_), [0]))
            descs[f"x{share.xpu}.desc"] = env.desc
        # The global buffer: each channel's stream once, activation channels then weight ones.
        words: list[int] = []
        channels = [{"base": 0, "words": 0, "members": 0} for _ in range(2 * chip.n_xpus)]
        for kind, groups, first in (("act", layer.act_groups, 0), ("wgt", layer.wgt_groups,
                                                                    chip.n_xpus)):  # fmt: skip
            for g, members in enumerate(groups):
                streams = [self.envs[x].feeders[kind].tiles for x in members]
                if any(s != streams[0] for s in streams):
                    raise AssertionError(f"{kind} channel {g}: its members' streams differ")
                flat = [v for tile in streams[0] for v in tile]
                channels[first + g] = {
                    "base": len(words), "words": len(flat),
                    "members": sum(1 << x for x in members),
                }  # fmt: skip
                words.extend(flat)
        self.gb_words = words
        ch_layout = data.ArrayLayout(channel_layout(chip.n_xpus, chip.gb_depth), 2 * chip.n_xpus)
        enable = sum(1 << s.xpu for s in layer.shares)
        self._base = drive.pack(
            {"channels": ch_layout.const(channels).as_value().value, "enable": enable}
        )
        for name, value in descs.items():
            self._base |= value << drive.offset(name)
        self._start = 1 << drive.offset("start")
        self._stall = 1 << drive.offset("gb_stall")
        self._gb_valid = 1 << drive.offset("gb_valid")
        self._gb_at = drive.offset("gb_payload")
        self._data_at = gb_write_layout(chip.xpu, chip.gb_depth)["data"].offset
        self._done = watch.offset("done")
        self._rng = random.Random(run.seed + 11)
        self.stall_cycles = 0
        self.t = 0
        self.done = False

    def preload(self) -> list[int]:
        """The drive words that write the global buffer, one word per cycle."""
        return [
            self._gb_valid | ((a | (v << self._data_at)) << self._gb_at)
            for a, v in enumerate(self.gb_words)
        ]

    @property
    def idle_word(self) -> int:
        return self._base

    def step(self, w: int) -> int:
        """Cycle ``t`` of the layer (0: ``start``): the chip's ``watch`` word in, ``drive`` out."""
        t = self.t
        if t > self.max_cycles:
            raise SimulationTimeout(f"{self.run.label} on the chip did not finish in "
                                    f"{self.max_cycles} cycles")  # fmt: skip
        word = self._base | (self._start if t == 0 else 0)
        for env, (streams, held) in zip(self.envs.values(), self._thr, strict=True):
            if not env.done:
                word |= env.step(w)
            word |= drive_streams(streams, held, t, w)
        if self.run.stall_probability and self._rng.random() < self.run.stall_probability:
            word |= self._stall
            self.stall_cycles += 1
        if t > 0 and (w >> self._done) & 1:
            self.done = True
        else:
            self.t = t + 1
        return word

    def result(self, wall_s: float) -> ChipResult:
        spec = self.run.spec
        parts = [self.envs[share.xpu].result() for share in self.layer.shares]
        out = None
        for share, res in zip(self.layer.shares, parts, strict=True):
            if out is None:
                out = np.zeros(spec.final_shape, dtype=res.output.dtype)
            (u0, u1), (c0, c1) = share.unit_rows, share.filters
            out[u0:u1, :, c0:c1] = res.output
        return ChipResult(out, self.t, parts, self.stall_cycles, len(self.gb_words), wall_s)


class ChipHarness:
    """A chip of ``chip`` in Amaranth's simulator, ready to run layers one after the other.

    Parameters
    ----------
    chip : ChipParams
    optics : "ideal" or "physical"
    seed : int
        Seed of the optical bridges' noise (XPU i: ``seed + i``).
    vcd : str, optional
        Write a VCD trace of the whole run here.
    """

    def __init__(self, chip: ChipParams, *, optics: str = "ideal", seed: int = 0,
                 vcd: str | None = None):  # fmt: skip
        self.chip = chip
        self.effects = Effects.from_name(optics)
        self.seed = seed
        self.vcd = vcd

    def layer(self, run: LayerRun, split: tuple[int, int] | None = None) -> ChipLayer:
        """How the host runs ``run`` on the chip: ``split`` ``(gc, gs)``, or the fastest."""
        if split is None:
            return choose_split(run.spec, self.chip, dataflow=run.dataflow, walk=run.walk)
        return chip_layer(run.spec, self.chip, split, dataflow=run.dataflow, walk=run.walk)

    def run(
        self,
        runs: list[LayerRun],
        splits: list[tuple[int, int] | None] | None = None,
        *,
        max_cycles: int = 1_000_000,
    ) -> list[tuple[ChipLayer, ChipResult]]:
        """Run ``runs`` one after the other (each split as ``splits[i]``, default the fastest);
        return each layer's plan and what was seen of it."""
        splits = splits or [None] * len(runs)
        layers = [self.layer(r, s) for r, s in zip(runs, splits, strict=True)]
        top = ChipTop(self.chip)
        bridges = [
            OpticalBridge(self.chip.xpu, self.effects, seed=self.seed + i)
            for i in range(self.chip.n_xpus)
        ]
        envs = [ChipEnv(top, r, lay, bridges, max_cycles=max_cycles)
                for r, lay in zip(runs, layers, strict=True)]  # fmt: skip
        out: list[tuple[ChipLayer, ChipResult]] = []

        async def testbench(ctx):
            for env in envs:
                for word in env.preload():
                    ctx.set(top.drive, word)
                    await ctx.tick()
                for bridge in bridges:
                    bridge.start_layer()
                wall0 = time.perf_counter()
                await play(ctx, top, env)
                ctx.set(top.drive, env.idle_word)
                await ctx.tick()
                out.append((env.layer, env.result(time.perf_counter() - wall0)))

        simulate(top, testbench, self.vcd)
        return out


def check_chip(run: LayerRun, layer: ChipLayer, got: ChipResult) -> list[str]:
    """The problems of one chip run against the golden model (:func:`oxbnn.models.bnn.
    layer_forward` of the whole layer) and the chip cycle model
    (:func:`oxbnn.models.timing.chip_cycles`); empty when it agrees.

    Without stalls or back-pressure the chip's count and every XPU's must be the model's to the
    cycle, contention included. With them the chip's count must be at least the model's.
    """
    problems: list[str] = []
    spec, name = run.spec, run.label
    golden = bnn.layer_forward(run.act, run.weights, run.thresholds, spec, run.flip)
    if got.output.shape != golden.shape:
        return [f"{name}: chip output of shape {got.output.shape}, golden {golden.shape}"]
    wrong = np.argwhere(got.output != golden)
    if len(wrong):
        y, x, c = (int(i) for i in wrong[0])
        problems.append(f"{name}: {len(wrong)} of {golden.size} outputs differ from models/bnn; "
                        f"first at (y, x, c) = ({y}, {x}, {c})")  # fmt: skip
    model = layer.cycles
    if run.stalls:
        if got.cycles < model.total:
            problems.append(f"{name}: chip done in cycle {got.cycles} under stalls, before the "
                            f"no-stall prediction {model.total}")  # fmt: skip
    else:
        if got.cycles != model.total:
            problems.append(f"{name}: chip done in cycle {got.cycles}, models/timing predicts "
                            f"{model.total}")  # fmt: skip
        for share, res in zip(layer.shares, got.xpus, strict=True):
            want = model.xpus[share.xpu].total
            if res.cycles != want:
                problems.append(f"{name}: XPU {share.xpu} done in cycle {res.cycles}, the "
                                f"model says {want}")  # fmt: skip
    if any(r.error for r in got.xpus):
        problems.append(f"{name}: an XPU flagged an unexpected ADC code")
    return problems


def run_summary(layer: ChipLayer, got: ChipResult) -> dict[str, Any]:
    """A JSON-able line of one chip run (for reports and benches)."""
    return {
        "split": list(layer.split),
        "busy_xpus": layer.cycles.busy_xpus,
        "channels": layer.cycles.channels,
        "gb_ports": layer.cycles.gb_ports,
        "cycles": got.cycles,
        "cycles_model": layer.cycles.total,
        "contended": layer.cycles.contended,
        "arbiter_waits": layer.cycles.waits,
        "stall_cycles": got.stall_cycles,
        "gb_words": got.gb_words,
    }
