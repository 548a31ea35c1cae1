"""cocotb test module: the XPU's per-cycle environment under cocotb + Verilator or Icarus.

:mod:`oxbnn.testbenches.cosim` builds :class:`~oxbnn.testbenches.cosim_top.CosimTop` with a
simulator and runs this module with two environment variables: ``OXBNN_COSIM_JOB`` (a pickled
:class:`~oxbnn.testbenches.cosim.CosimJob`) and ``OXBNN_COSIM_RESULT`` (where the pickled results
go). The module is not named ``test_*`` so that pytest does not collect it.

Each clock cycle ``t`` (cycle 0 holds ``start``) the testbench, at the falling edge, reads every
XPU output at once (``watch``), steps the layer's :class:`~oxbnn.testbenches.env.XpuEnv` (host,
external memory, optical bridge, ADC delay line: the same environment as Amaranth's simulator
runs) and writes every XPU input at once (``drive``) if anything changed. Inputs written at the
falling edge of cycle ``t`` are sampled by the rising edge that ends ``t``, exactly as in the
Amaranth-simulator harness, so both see the same cycle numbers. A network job walks its layers
with :func:`oxbnn.models.network.run_network_async` (the host's reshaping between layers).

If the job fails (an assertion, a timeout, an X on an output), the one-line root cause is
written to ``OXBNN_COSIM_RESULT`` + ``.error`` before cocotb records the failure, so that
:class:`~oxbnn.testbenches.cosim.Cosim` can raise it as the message of its ``CosimError``.
"""

from __future__ import annotations

import os
import pickle
import time
from pathlib import Path

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, Timer

from ..models.network import run_network_async
from ..models.optics import Effects
from .cosim import error_path
from .cosim_top import Fields
from .env import (
    ChainEnv,
    XpuEnv,
    network_chain,
    network_chain_result,
    network_layer,
    network_result,
    network_run,
)
from .optical_bridge import OpticalBridge
from .stimulus import LayerRun


@cocotb.test()
async def run_job(dut):
    """Run every layer of the job; pickle what was seen.

    With ``OXBNN_PROFILE=<file>`` in the environment the run is profiled (cProfile) into that
    file, for finding where the testbench spends its time.
    """
    result_path = Path(os.environ["OXBNN_COSIM_RESULT"])
    profile = os.environ.get("OXBNN_PROFILE")
    prof = None
    if profile:
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
    try:
        await _run_job(dut, result_path)
    except BaseException as exc:
        text = " ".join(str(exc).split()) or "(no message)"
        error_path(result_path).write_text(f"{type(exc).__name__}: {text}\n")
        raise
    finally:
        if prof is not None:
            prof.disable()
            prof.dump_stats(profile)


async def _run_job(dut, result_path: Path):
    job = pickle.loads(Path(os.environ["OXBNN_COSIM_JOB"]).read_bytes())
    xpu = job.xpu
    drive_f = Fields.from_json(job.fields["drive"])
    watch_f = Fields.from_json(job.fields["watch"])
    bridge = OpticalBridge(xpu, Effects.from_name(job.optics), preset=job.preset, seed=job.seed)

    # Every input is driven before the clock's first edge: an X there can reach state that
    # reset does not clear (memories) under a four-state simulator such as Icarus.
    await Timer(1, unit="ns")  # writes in the very first time step can be lost (Icarus)
    dut.rst.value = 1
    dut.drive.value = 0
    dut.clk.value = 0
    await Timer(1, unit="ns")
    cocotb.start_soon(Clock(dut.clk, 2, unit="ns").start(start_high=False))
    for _ in range(3):
        await FallingEdge(dut.clk)
    dut.rst.value = 0

    progress = Path(job.progress_path) if job.progress_path else None
    watch_h, drive_h = dut.watch, dut.drive  # handles looked up once: this loop is hot
    falling = FallingEdge(dut.clk)
    window = job.waves_window if job.waves_path else None
    done_cycles = 0

    async def run_layer(run: LayerRun):
        nonlocal done_cycles
        wall0 = time.perf_counter()
        env = XpuEnv(
            xpu, run, bridge, drive_f, watch_f, max_cycles=job.max_cycles, trace_window=window
        )
        step = env.step
        written = None
        while True:
            raw = watch_h.value
            try:
                w = int(raw)
            except ValueError:  # X or Z on an output: name the fields
                raise AssertionError(
                    f"layer {run.label}, cycle {env.t}: XPU outputs {watch_f.not_01(str(raw))} "
                    f"are not 0/1"
                ) from None
            word = step(w)
            if word != written:
                drive_h.value = word
                written = word
            if env.done:
                break
            await falling
            if progress is not None and env.t & 0x1FFF == 0:
                progress.write_text(f"{done_cycles + env.t}\n")
        # One idle cycle before the next layer's start (the bridge keeps its state).
        drive_h.value = env.idle_word
        await falling
        res = env.result(time.perf_counter() - wall0)
        done_cycles += res.cycles
        if progress is not None:
            progress.write_text(f"{done_cycles}\n")
        return res

    async def run_chain(runs: list[LayerRun], next_input) -> ChainEnv:
        nonlocal done_cycles
        chain = ChainEnv(
            xpu, runs, bridge, drive_f, watch_f, next_input=next_input, max_cycles=job.max_cycles
        )
        written = None
        while True:
            word = chain.step(int(watch_h.value))
            if word != written:
                drive_h.value = word
                written = word
            if chain.done:
                break
            await falling
        drive_h.value = word & ~(1 << drive_f.offset("start"))
        await falling
        done_cycles += sum(r.cycles for r in chain.results)
        if progress is not None:
            progress.write_text(f"{done_cycles}\n")
        return chain

    if job.network is None:
        results = [(await run_layer(run)).as_dict() for run in job.layers]
    elif job.network.get("chain", True):
        results = []
        for image in job.network["images"]:
            runs, next_input = network_chain(job.network["layers"], image)
            results.append(network_chain_result(await run_chain(runs, next_input)))
    else:
        results = [
            await _run_network(run_layer, job.network, image) for image in job.network["images"]
        ]
    result_path.write_bytes(pickle.dumps(results))


async def _run_network(run_layer, network: dict, image) -> dict:
    """One input through every layer of ``network`` (:func:`run_network_async`)."""

    async def layer_fn(i: int, layer, act):
        return network_layer(await run_layer(network_run(i, layer, act)))

    return network_result(*await run_network_async(network["layers"], image, layer_fn))
