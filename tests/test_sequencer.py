"""Sequencer alone: tile announcements, the job walk, the chunk schedule and the strobes.

Tiles are always available here, so the walk runs at full speed; the expected sequence comes
from the tiling plan (bands, weight loads, jobs) and from the chunk schedule's definition
(demand-driven reads, two per cycle) via the brute-force emulation in ``test_timing``.
"""

from __future__ import annotations

import pytest
from _chunks import emulated_chunk_cycles
from amaranth.sim import Simulator

from oxbnn.models.configs import XpuParams
from oxbnn.models.layer import LayerSpec
from oxbnn.models.tiling import tiling_plan
from oxbnn.rtl.sequencer import Sequencer
from oxbnn.testbenches.driver import encode_descriptor

XPU = XpuParams(n_lanes=4, n_xpes=2, gamma=2, adc_bits=4, act_buffer_depth=24, wgt_buffer_depth=16)

LAYERS = [
    LayerSpec("conv", 5, 3, 5, 3, 3, 3, padding=1),  # K = 45, 3 weight tiles, 2+ bands
    LayerSpec("conv", 4, 4, 2, 2, 2, 2, stride=2, pool=False),
    LayerSpec("conv", 4, 5, 3, 2, pool=True),
    LayerSpec.fc(13, 3),
]


@pytest.mark.parametrize("spec", LAYERS, ids=[f"layer{i}" for i in range(len(LAYERS))])
def test_walk_matches_plan(spec):
    plan = tiling_plan(spec, XPU)
    dut = Sequencer(xpu=XPU, result_depth=2)
    rec = {
        "act_cmd": [],
        "wgt_cmd": [],
        "jobs": [],
        "act_release": 0,
        "wgt_release": 0,
        "pos_init": 0,
        "pos_advance": 0,
        "done": None,
    }

    async def tb(ctx):
        ctx.set(dut.desc, encode_descriptor(spec, XPU, plan))
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        for sig in (
            dut.act_valid,
            dut.wgt_valid,
            dut.thr_ready,
            dut.act_cmd.ready,
            dut.wgt_cmd.ready,
        ):
            ctx.set(sig, 1)
        job, results, popped = [], 0, 0
        for cycle in range(1, 20_000):
            for name in ("act_cmd", "wgt_cmd"):
                port = getattr(dut, name)
                if ctx.get(port.valid):
                    rec[name].append(ctx.get(port.payload))
            for name in ("act_release", "wgt_release"):
                rec[name] += ctx.get(getattr(dut, name))
            rec["pos_init"] += ctx.get(dut.ctl.pos_init)
            rec["pos_advance"] += ctx.get(dut.ctl.pos_advance)
            # The host takes each result one cycle after the unit's last issue cycle.
            ctx.set(dut.popped, int(popped < results))
            popped += int(popped < results)
            if ctx.get(dut.ctl.issue):
                ctl = ctx.get(dut.ctl)
                meta = ctx.get(dut.meta)
                job.append(
                    (
                        ctl.word[0].take + ctl.word[1].take,
                        ctl.emit,
                        meta.reset if ctl.emit else 0,
                        meta.sample if ctl.emit else 0,
                    )
                )
                if ctl.emit and ctl.last:
                    rec["jobs"].append(job)
                    job = []
                    results += meta.unit_last
            if ctx.get(dut.done):
                rec["done"] = cycle
                break
            await ctx.tick()
        rec["results"] = results

    sim = Simulator(dut)
    sim.add_clock(1e-9)
    sim.add_testbench(tb)
    sim.run()

    assert rec["done"] is not None
    assert rec["act_cmd"] == [b.words for b in plan.bands]
    assert rec["wgt_cmd"] == [plan.weight_tiles[i].words for i in plan.wgt_loads]
    assert rec["act_release"] == len(plan.bands)
    assert rec["wgt_release"] == (len(plan.pairs) if len(plan.weight_tiles) > 1 else 0)
    assert rec["results"] == len(list(plan.results()))
    assert len(rec["jobs"]) == plan.jobs
    filter_walks = sum(t.filter1 - t.filter0 for _, w in plan.pairs for t in [plan.weight_tiles[w]])
    assert rec["pos_init"] == 1 + filter_walks  # cycle 1, then after each filter's last group
    assert rec["pos_advance"] == sum(
        (plan.bands[b].groups - 1) * (plan.weight_tiles[w].filter1 - plan.weight_tiles[w].filter0)
        for b, w in plan.pairs
    )
    expected_cycles = emulated_chunk_cycles(
        spec.in_channels, XPU.n_lanes, spec.kernel_h * spec.kernel_w
    )
    words = -(-spec.in_channels // XPU.n_lanes) * spec.kernel_h * spec.kernel_w
    for job in rec["jobs"]:
        assert sum(t for t, *_ in job) == words
        emits = [i for i, (_, e, _, _) in enumerate(job) if e]
        assert [b - a for a, b in zip([-1] + emits, emits, strict=False)] == expected_cycles
        resets = [k for k, i in enumerate(emits) if job[i][2]]
        samples = [k for k, i in enumerate(emits) if job[i][3]]
        chunks = len(emits)
        assert resets == list(range(0, chunks, XPU.gamma))
        assert samples == sorted({*range(XPU.gamma - 1, chunks, XPU.gamma), chunks - 1})


def test_parameters_are_checked():
    with pytest.raises(ValueError, match="result_depth must be a positive integer, not 0"):
        Sequencer(xpu=XPU, result_depth=0)
