"""cocotb test module: the host, the external memory and the optical bridge around the XPU.

:mod:`oxbnn.testbenches.cosim` builds :class:`~oxbnn.testbenches.cosim_top.CosimTop` with a
simulator and runs this module with two environment variables: ``OXBNN_COSIM_JOB`` (a pickled
:class:`~oxbnn.testbenches.cosim.CosimJob`) and ``OXBNN_COSIM_RESULT`` (where the pickled results
go). The module is not named ``test_*`` so that pytest does not collect it.

Each clock cycle ``t`` (cycle 0 holds ``start``) the testbench, at the falling edge:

1. reads every XPU output at once (``watch``);
2. plays the **host**: takes a result word if ``res_out`` is valid and the back-pressure pattern
   lets it be ready, and stops when ``done`` is high;
3. plays the **external memory**: each stream (thresholds, activation tiles, weight tiles) sends
   the tiles of the tiling plan in order, with the latency, bandwidth and stall knobs of its
   memory model;
4. plays the **optical bridge**: it keeps each cycle's optical port (``act``, ``wgt``,
   ``pca_reset``, ``pca_sample`` of every XPE) and, when a sample comes, runs the OXG + DWDM +
   PCA models on the slots since the last one; the ADC code is driven ``adc_latency`` cycles
   after the sample (DESIGN.md §3);
5. writes every XPU input at once (``drive``), if anything changed.

Inputs written at the falling edge of cycle ``t`` are sampled by the rising edge that ends ``t``,
exactly as in the Amaranth-simulator harness, so both see the same cycle numbers.
"""

from __future__ import annotations

import os
import pickle
import random
import time
from pathlib import Path

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, Timer

from ..models.optics import Effects
from ..models.tiling import Widths
from .cosim_top import Fields
from .optical_bridge import OpticalBridge
from .pysim_harness import LayerRun, decode_results, layer_stimulus


def _bits(words: list[int], width: int) -> np.ndarray:
    """Python ints of ``width`` bits as a (len, width) uint8 bit array (bit 0 first)."""
    nbytes = (width + 7) // 8
    raw = b"".join(w.to_bytes(nbytes, "little") for w in words)
    arr = np.frombuffer(raw, dtype=np.uint8).reshape(len(words), nbytes)
    return np.unpackbits(arr, axis=1, bitorder="little")[:, :width]


async def _run_network(run_layer, network: dict, image: np.ndarray) -> dict:
    """One input through every layer of ``network``; the host feeds each output to the next.

    Between layers the host reshapes: a conv output ``H x W x C`` becomes the next layer's input
    as is, or, for a fully-connected layer, flattened in (y, x, c) order to ``1 x 1 x K``.
    """
    act = np.asarray(image, dtype=np.uint8)
    layers = []
    for i, (spec, weights, thresholds, flip) in enumerate(network["layers"]):
        if spec.kind == "fc":
            act = act.reshape(1, 1, -1)
        res = await run_layer(LayerRun(spec, act, weights, thresholds, flip, name=f"layer{i}"))
        res.pop("trace", None)
        layers.append(
            {k: res[k] for k in ("cycles", "wall_s", "saturation_events", "clip_events", "error")}
        )
        layers[-1]["readouts"] = len(res["events"])
        act = res["output"]
    return {
        "output": act,
        "layers": layers,
        "cycles": sum(r["cycles"] for r in layers),
        "wall_s": sum(r["wall_s"] for r in layers),
    }


@cocotb.test()
async def run_job(dut):
    """Run every layer of the job; pickle what was seen.

    With ``OXBNN_PROFILE=<file>`` in the environment the run is profiled (cProfile) into that
    file, for finding where the testbench spends its time.
    """
    profile = os.environ.get("OXBNN_PROFILE")
    if profile:
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
        try:
            await _run_job(dut)
        finally:
            prof.disable()
            prof.dump_stats(profile)
    else:
        await _run_job(dut)


async def _run_job(dut):
    job = pickle.loads(Path(os.environ["OXBNN_COSIM_JOB"]).read_bytes())
    result_path = Path(os.environ["OXBNN_COSIM_RESULT"])
    xpu = job.xpu
    n, mm, lat = xpu.n_lanes, xpu.n_xpes, xpu.adc_latency
    drive_f = Fields({k: tuple(v) for k, v in job.fields["drive"].items()})
    watch_f = Fields({k: tuple(v) for k, v in job.fields["watch"].items()})
    dw = Widths.of(xpu).dot
    bits = xpu.adc_bits

    # Where the optical port sits in `watch`: reset | sample | act | wgt, contiguous at the top.
    opt_base = watch_f.layout["opt_reset"][0]
    opt_width = 2 * mm + 2 * mm * n
    m_mask = (1 << mm) - 1
    sample_shift = watch_f.layout["opt_sample"][0] - opt_base
    get = {k: (off, (1 << w) - 1) for k, (off, w) in watch_f.layout.items()}

    effects = Effects.from_name(job.optics)
    bridge = OpticalBridge(xpu, effects, preset=job.preset, seed=job.seed)

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
    done_cycles = 0

    async def run_layer(run: LayerRun) -> dict:
        nonlocal done_cycles
        wall0 = time.perf_counter()
        sat0, clip0 = bridge.saturation_events, bridge.clip_events
        spec = run.spec
        plan, desc, feeders = layer_stimulus(run, xpu)
        rng = random.Random(run.seed)
        inputs = dict.fromkeys(drive_f.layout, 0)
        inputs["desc"] = desc
        written = None
        window: list[int] = []  # optical port words since the last sample
        due: dict[int, tuple[int, int]] = {}  # cycle -> (adc_valid bits, adc_code bits)
        words: list[tuple[int, int]] = []
        samples: list[int] = []
        events: list[tuple[int, int, int]] = []  # (sample cycle, xpe, code)
        trace: list[tuple[int, int]] = []
        w_from, w_to = job.waves_window if job.waves_path else (0, -1)
        not_ready = 0
        error = False
        t = 0
        while True:
            raw = watch_h.value
            try:
                w = int(raw)
            except ValueError:  # X or Z on an output: name the fields
                text = str(raw)[::-1]
                bad = [
                    k
                    for k, (off, wd) in watch_f.layout.items()
                    if any(c not in "01" for c in text[off : off + wd])
                ]
                raise AssertionError(f"cycle {t}: XPU outputs {bad} are not 0/1: {raw}") from None
            opt = w >> opt_base
            window.append(opt & ((1 << opt_width) - 1))
            sampled = (opt >> sample_shift) & m_mask
            if sampled:
                samples.append(t)
                port = _bits(window, opt_width)
                T = len(window)
                reset = port[:, :mm].astype(bool)
                smp = port[:, mm : 2 * mm].astype(bool)
                act = port[:, 2 * mm : 2 * mm + mm * n].reshape(T, mm, n)
                wgt = port[:, 2 * mm + mm * n :].reshape(T, mm, n)
                codes = bridge.run(act, wgt, reset, smp)[-1]
                valid_bits = sampled
                code_bits = 0
                for e in range(mm):
                    if sampled >> e & 1:
                        code_bits |= int(codes[e]) << (e * bits)
                        events.append((t, e, int(codes[e])))
                due[t + lat] = (valid_bits, code_bits)
                window = []
            inputs["start"] = int(t == 0)
            for key, feeder in feeders.items():
                off, mask = get[f"{key}_ready"]
                valid, payload = feeder.drive(t, (w >> off) & 1)
                inputs[f"{key}_valid"] = valid
                if valid:
                    inputs[f"{key}_payload"] = payload
            ready = 1 if run.ready_probability >= 1 else int(rng.random() < run.ready_probability)
            inputs["res_ready"] = ready
            if (w >> get["res_valid"][0]) & 1:
                if ready:
                    off, mask = get["res_payload"]
                    words.append(((w >> off) & mask, t))
                else:
                    not_ready += 1
            adc = due.pop(t, (0, 0))
            inputs["adc_valid"], inputs["adc_code"] = adc
            word = drive_f.pack(inputs)
            if word != written:
                drive_h.value = word
                written = word
            if w_from <= t <= w_to:
                trace.append((w, word))
            error |= bool((w >> get["error"][0]) & 1)
            if (w >> get["done"][0]) & 1:
                break
            await falling
            t += 1
            if progress is not None and t & 0x1FFF == 0:
                progress.write_text(f"{done_cycles + t}\n")
            if t > job.max_cycles:
                raise AssertionError(
                    f"layer {run.name or spec} did not finish in "
                    f"{job.max_cycles} cycles ({len(words)} results taken)"
                )
        # Idle inputs for the next layer; the bridge finishes what is in flight.
        dut.drive.value = drive_f.pack({"desc": desc})
        await FallingEdge(dut.clk)
        wall = time.perf_counter() - wall0
        output, out_cycle = decode_results(plan, words, n, mm, dw)
        done_cycles += t
        if progress is not None:
            progress.write_text(f"{done_cycles}\n")
        return {
            "name": run.name,
            "output": output,
            "output_cycle": out_cycle,
            "cycles": t,
            "sample_cycles": samples,
            "result_cycles": [c for _, c in words],
            "events": events,
            "not_ready_cycles": not_ready,
            "error": error,
            "saturation_events": bridge.saturation_events - sat0,
            "clip_events": bridge.clip_events - clip0,
            "wall_s": wall,
            "trace": trace,
            "trace_from": w_from,
        }

    if job.network is None:
        results = [await run_layer(run) for run in job.layers]
    else:
        results = [
            await _run_network(run_layer, job.network, image) for image in job.network["images"]
        ]
    result_path.write_bytes(pickle.dumps(results))
