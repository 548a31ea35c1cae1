"""The XPU in Amaranth's simulator, with the same per-cycle environment as the co-simulation.

One :class:`XpuHarness` runs any number of layers back to back on a freshly elaborated
:class:`~oxbnn.testbenches.cosim_top.CosimTop` (the XPU with every input behind one ``drive``
signal and every output behind one ``watch`` signal, as under cocotb), each layer from its own
``start``. Every cycle the testbench reads ``watch`` with one ``ctx.get``, steps the layer's
:class:`~oxbnn.testbenches.env.XpuEnv` (host, external memory, optical bridge and ADC delay
line) and writes ``drive`` with one ``ctx.set`` when it changed: every ``ctx.set`` settles the
whole design, so one per cycle is what keeps the simulation fast.

The optics are the co-simulation's :class:`~oxbnn.testbenches.optical_bridge.OpticalBridge`;
by default in ideal mode (``Effects.ideal()``: one '1' lane in one slot is one LSB, so every
code is the popcount of the XNORs since the reset, docs/design.md §3), which makes a run
comparable bit for bit with the golden model.
"""

from __future__ import annotations

import time
from typing import Any

from amaranth.hdl import Fragment
from amaranth.sim import Simulator

from ..models.configs import Preset, XpuParams
from ..models.optics import Effects
from ..models.timing import layer_cycles
from .cosim_top import CosimTop
from .env import ChainEnv, LayerResult, XpuEnv
from .optical_bridge import OpticalBridge
from .stimulus import LayerRun

__all__ = ["XpuHarness"]


class XpuHarness:
    """The XPU of ``xpu`` in Amaranth's simulator, ready to run layers.

    Parameters
    ----------
    xpu : XpuParams
    vcd : str, optional
        Write a VCD trace of the whole design over the whole run here.
    optics : "ideal" or "physical"
        The optical bridge's effects (default ideal: codes are popcounts).
    preset : Preset or str, optional
        The physics of the bridge (default: the shipped preset the XPU is named after, else
        oxbnn50, :func:`~oxbnn.testbenches.optical_bridge.default_preset`; built at the XPU's N).
    seed : int
        Seed of the bridge's noise.
    """

    def __init__(
        self,
        xpu: XpuParams,
        *,
        vcd: str | None = None,
        optics: str = "ideal",
        preset: Preset | str | None = None,
        seed: int = 0,
    ):
        self.xpu = xpu
        self.vcd = vcd
        self.effects = Effects.from_name(optics)
        self.preset = preset
        self.seed = seed

    def run(self, layers: list[LayerRun], *, max_cycles: int = 1_000_000) -> list[LayerResult]:
        """Run ``layers`` one after the other; return what was seen of each.

        Raises :class:`~oxbnn.models.tiling.TilingError` (before simulating) for a layer the
        XPU cannot run, and :class:`~oxbnn.testbenches.env.SimulationTimeout` for one that does
        not finish in ``max_cycles``.
        """
        xpu = self.xpu
        for run in layers:  # fail fast, outside the simulator, on a layer that cannot map
            layer_cycles(run.spec, xpu, run.mem, dataflow=run.dataflow, walk=run.walk)
        top = CosimTop(xpu=xpu)  # a fresh design per run: Amaranth elaborates it once
        drive, watch = top.drive_fields, top.watch_fields
        bridge = OpticalBridge(xpu, self.effects, preset=self.preset, seed=self.seed)
        results: list[LayerResult] = []

        async def testbench(ctx):
            for run in layers:
                env = XpuEnv(xpu, run, bridge, drive, watch, max_cycles=max_cycles)
                wall0 = time.perf_counter()
                await play(ctx, top, env)
                ctx.set(top.drive, env.idle_word)  # idle inputs for the next layer
                await ctx.tick()
                results.append(env.result(time.perf_counter() - wall0))

        self._simulate(top, testbench)
        return results

    def run_chain(
        self,
        layers: list[LayerRun],
        *,
        next_input: Any = None,
        dependent: Any = None,
        max_cycles: int = 1_000_000,
    ) -> ChainEnv:
        """Run ``layers`` as one chain through the descriptor queue (:class:`~oxbnn.testbenches.
        env.ChainEnv`, ``next_input`` and ``dependent`` as there); returns the finished chain:
        ``results`` (each layer counted from its own start), ``starts`` and ``taken``."""
        return self.run_chains(
            [layers], next_input=next_input, dependent=[dependent], max_cycles=max_cycles
        )[0]

    def run_chains(
        self,
        chains: list[list[LayerRun]],
        *,
        next_input: Any = None,
        dependent: list[Any] | None = None,
        max_cycles: int = 1_000_000,
    ) -> list[ChainEnv]:
        """Run several chains one after the other in one simulation, each from an idle XPU
        (one idle cycle between them); ``dependent[i]``: chain i's flags (default none)."""
        xpu = self.xpu
        for run in (r for chain in chains for r in chain):
            layer_cycles(run.spec, xpu, run.mem, dataflow=run.dataflow, walk=run.walk)
        top = CosimTop(xpu=xpu)
        bridge = OpticalBridge(xpu, self.effects, preset=self.preset, seed=self.seed)
        deps = dependent or [None] * len(chains)
        try:
            envs = [
                ChainEnv(
                    xpu,
                    layers,
                    bridge,
                    top.drive_fields,
                    top.watch_fields,
                    next_input=next_input,
                    dependent=dep,
                    max_cycles=max_cycles,
                )  # fmt: skip
                for layers, dep in zip(chains, deps, strict=True)
            ]
        except Exception:
            Fragment.get(top, None)  # a design built for nothing: elaborated, so none warns
            raise

        async def testbench(ctx):
            for chain in envs:
                word = await play(ctx, top, chain)
                ctx.set(top.drive, word & ~(1 << top.drive_fields.offset("start")))
                await ctx.tick()

        self._simulate(top, testbench)
        return envs

    def _simulate(self, top, testbench) -> None:
        simulate(top, testbench, self.vcd)


def simulate(top, testbench, vcd: str | None = None) -> None:
    """Run ``testbench`` on ``top`` in Amaranth's simulator (1 ns clock), tracing every signal
    into ``vcd`` when given (the XPU's and the chip's harnesses)."""
    sim = Simulator(top)
    sim.add_clock(1e-9)
    sim.add_testbench(testbench)
    if vcd:
        with sim.write_vcd(vcd):
            sim.run()
    else:
        sim.run()


async def play(ctx, top, env) -> int:
    """Step ``env`` (an :class:`XpuEnv`, a :class:`ChainEnv` or a chip's
    :class:`~oxbnn.testbenches.chip_tb.ChipEnv`) on ``top`` cycle by cycle until it is done
    (one ``ctx.get`` of ``watch`` per cycle, a ``ctx.set`` of ``drive`` only when it changed);
    returns the last drive word."""
    written = None
    while True:
        word = env.step(ctx.get(top.watch))
        if word != written:
            ctx.set(top.drive, word)
            written = word
        if env.done:
            return word
        await ctx.tick()
