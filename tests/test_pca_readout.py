"""PcaReadout: code sums, dot = 2 count - K_valid, thresholds with flip, OR-pool, int output."""

from __future__ import annotations

import random

import pytest
from amaranth.sim import Simulator

from oxbnn.models.configs import XpuParams
from oxbnn.models.tiling import Widths
from oxbnn.rtl.pca_readout import PcaReadout, PcaReadoutModel

XPU = XpuParams(n_lanes=4, n_xpes=3, gamma=2, adc_bits=4, adc_latency=2, wgt_buffer_depth=16)


def _units(rng: random.Random, pool: bool, int_output: bool, count: int):
    """Random units: per sub-job, per XPE its codes and K_valid; a threshold; an active mask."""
    units = []
    for _ in range(count):
        readouts = rng.randint(1, 3)
        subs = []
        for _ in range(4 if pool else 1):
            codes = [[rng.randint(0, 8) for _ in range(readouts)] for _ in range(XPU.n_xpes)]
            kv = [rng.randint(sum(c), min(64, 2 * sum(c) + 9)) for c in codes]
            subs.append((codes, kv))
        units.append(
            {
                "readouts": readouts,
                "subs": subs,
                "threshold": rng.randint(-20, 20),
                "flip": rng.random() < 0.5,
                "active": rng.getrandbits(XPU.n_xpes) | 1,
                "pool": pool,
                "int": int_output,
            }
        )
    return units


def _expected(unit):
    bits, dots = 0, [0] * XPU.n_xpes
    for e in range(XPU.n_xpes):
        if not unit["active"] >> e & 1:
            continue
        value = 0
        for codes, kv in unit["subs"]:
            model = PcaReadoutModel()
            for j, code in enumerate(codes[e]):
                out = model.feed(
                    code, j == len(codes[e]) - 1, kv[e], unit["threshold"], unit["flip"]
                )
            dot = 2 * sum(codes[e]) - kv[e]
            bit = int(dot <= unit["threshold"] if unit["flip"] else dot >= unit["threshold"])
            assert out == (dot, bit)  # the documented model agrees with the contract
            value |= bit
        if not unit["int"]:
            bits |= value << e
        if not unit["pool"]:
            dots[e] = dot
    return bits, dots


@pytest.mark.parametrize("pool,int_output", [(False, False), (True, False), (False, True)])
def test_results_and_latency(pool, int_output):
    rng = random.Random(int(pool) * 2 + int(int_output))
    units = _units(rng, pool, int_output, 12)
    dut = PcaReadout(xpu=XPU, depth=8)
    dw = Widths.of(XPU).dot
    lat = XPU.adc_latency
    port_events, adc_events, last_samples = {}, {}, []
    t = 2
    for unit in units:
        for s, (codes, kv) in enumerate(unit["subs"]):
            for j in range(unit["readouts"]):
                last = j == unit["readouts"] - 1
                port_events[t] = {
                    "sample": 1,
                    "last": int(last),
                    "unit_first": int(s == 0),
                    "unit_last": int(s == len(unit["subs"]) - 1),
                    "int_output": int(unit["int"]),
                    "pool": int(unit["pool"]),
                    "active": unit["active"],
                    "kv": kv if last else [0] * XPU.n_xpes,
                    "threshold": {"value": unit["threshold"], "flip": int(unit["flip"])},
                }
                adc_events[t + lat] = [c[j] for c in codes]
                if last and s == len(unit["subs"]) - 1:
                    last_samples.append(t)
                t += rng.choice([1, 1, 2, 3])
    end = t + lat + 4
    taken = []

    async def tb(ctx):
        ctx.set(dut.result.ready, 1)
        for cycle in range(end):
            ev = port_events.get(cycle)
            ctx.set(dut.port, ev if ev else {"sample": 0})
            codes = adc_events.get(cycle)
            for e in range(XPU.n_xpes):
                ctx.set(dut.adc_valid[e], int(codes is not None))
                ctx.set(dut.adc_code[e], codes[e] if codes else 0)
            if ctx.get(dut.result.valid):
                raw = ctx.get(dut.result.payload.as_value())
                dots = []
                for e in range(XPU.n_xpes):
                    v = (raw >> (XPU.n_xpes + e * dw)) & ((1 << dw) - 1)
                    dots.append(v - (1 << dw) if v >> (dw - 1) else v)
                taken.append((cycle, raw & ((1 << XPU.n_xpes) - 1), dots))
            assert ctx.get(dut.error) == 0
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-9)
    sim.add_testbench(tb)
    sim.run()
    assert len(taken) == len(units)
    for unit, sample_cycle, (cycle, bits, dots) in zip(units, last_samples, taken, strict=True):
        assert cycle == sample_cycle + dut.latency
        assert (bits, dots) == _expected(unit)


def test_unexpected_code_sets_error_until_cleared():
    dut = PcaReadout(xpu=XPU, depth=2)

    async def tb(ctx):
        await ctx.tick()
        assert ctx.get(dut.error) == 0
        ctx.set(dut.adc_valid[1], 1)  # a code nobody sampled
        await ctx.tick()
        ctx.set(dut.adc_valid[1], 0)
        assert ctx.get(dut.error) == 1
        await ctx.tick()
        assert ctx.get(dut.error) == 1
        ctx.set(dut.clear, 1)
        await ctx.tick()
        assert ctx.get(dut.error) == 0

    sim = Simulator(dut)
    sim.add_clock(1e-9)
    sim.add_testbench(tb)
    sim.run()


def test_parameters_are_checked():
    with pytest.raises(ValueError, match="depth must be a positive integer, not 0"):
        PcaReadout(xpu=XPU, depth=0)
    with pytest.raises(TypeError, match="xpu must be an XpuParams, not dict"):
        PcaReadout(xpu={}, depth=2)
