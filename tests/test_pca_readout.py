"""PcaReadout: code sums, dot = 2 count - K_valid, thresholds with flip, OR-pool, int output.

With S slots per cycle a cycle may hold several samples (at most A = ``adc_channels``); their
codes arrive ``adc_latency`` cycles later, the j-th sample of the cycle (in slot order) on ADC
channel j. Here the samples of each vector are spread over cycles at random (one to A per cycle,
in random slots; a vector's last cycle is the one flagged ``last``).
"""

from __future__ import annotations

import random

import pytest
from amaranth.sim import Simulator

from oxbnn.models.configs import XpuParams
from oxbnn.models.tiling import Widths
from oxbnn.rtl.pca_readout import PcaReadout, PcaReadoutModel

XPU = XpuParams(n_lanes=4, n_xpes=3, gamma=2, adc_bits=4, adc_latency=2, wgt_buffer_depth=16)
# (S, gamma) -> A (XpuParams.adc_channels): (1, 2) -> 1; (3, 2) -> 2; (3, 1) -> 3; (8, 2) -> 4.
SLOTS = [(1, 2), (3, 2), (3, 1), (8, 2)]


def _units(rng: random.Random, pool: bool, int_output: bool, count: int):
    """Random units: per sub-job, per XPE its codes and K_valid; a threshold; an active mask."""
    units = []
    for _ in range(count):
        readouts = rng.randint(1, 6)
        subs = []
        for _ in range(4 if pool else 1):
            codes = [[rng.randint(0, 8) for _ in range(readouts)] for _ in range(XPU.n_xpes)]
            kv = [rng.randint(sum(c), min(64, 2 * sum(c) + 9)) for c in codes]
            subs.append((codes, kv))
        units.append(
            {
                "readouts": readouts,
                "subs": subs,
                # One threshold entry per XPE (its own filter under activation broadcast).
                "threshold": [rng.randint(-20, 20) for _ in range(XPU.n_xpes)],
                "flip": [rng.random() < 0.5 for _ in range(XPU.n_xpes)],
                "active": rng.getrandbits(XPU.n_xpes) | 1,
                "pool": pool,
                "int": int_output,
            }
        )
    return units


def _expected(unit):
    bits, dots = 0, [0] * XPU.n_xpes
    thr, flip = unit["threshold"], unit["flip"]
    for e in range(XPU.n_xpes):
        if not unit["active"] >> e & 1:
            continue
        value = 0
        for codes, kv in unit["subs"]:
            model = PcaReadoutModel()
            for j, code in enumerate(codes[e]):
                out = model.feed(code, j == len(codes[e]) - 1, kv[e], thr[e], flip[e])
            dot = 2 * sum(codes[e]) - kv[e]
            bit = int(dot <= thr[e] if flip[e] else dot >= thr[e])
            assert out == (dot, bit)  # the documented model agrees with the contract
            value |= bit
        if not unit["int"]:
            bits |= value << e
        if not unit["pool"]:
            dots[e] = dot
    return bits, dots


def _cycles(rng: random.Random, readouts: int, ss: int, a: int):
    """Spread one vector's readouts over cycles: per cycle the S-bit sample mask (1 to A bits,
    random slots) and the readout indices it carries, in slot order."""
    out, j = [], 0
    while j < readouts:
        count = rng.randint(1, min(a, readouts - j))
        slots = sorted(rng.sample(range(ss), count))
        out.append((sum(1 << s for s in slots), list(range(j, j + count))))
        j += count
    return out


@pytest.mark.parametrize("ss,gamma", SLOTS, ids=[f"S{s}g{g}" for s, g in SLOTS])
@pytest.mark.parametrize("pool,int_output", [(False, False), (True, False), (False, True)])
def test_results_and_latency(pool, int_output, ss, gamma):
    xpu = XPU.replace(symbols_per_cycle=ss, gamma=gamma)
    a = xpu.adc_channels
    rng = random.Random(int(pool) * 2 + int(int_output) + 10 * ss + 100 * gamma)
    units = _units(rng, pool, int_output, 12)
    dut = PcaReadout(xpu=xpu, depth=8)
    dw = Widths.of(xpu).dot
    lat = xpu.adc_latency
    port_events, adc_events, last_samples = {}, {}, []
    t = 2
    for unit in units:
        for s, (codes, kv) in enumerate(unit["subs"]):
            cycles = _cycles(rng, unit["readouts"], ss, a)
            for c, (mask, readouts) in enumerate(cycles):
                last = c == len(cycles) - 1
                port_events[t] = {
                    "sample": mask,
                    "last": int(last),
                    "unit_first": int(s == 0),
                    "unit_last": int(s == len(unit["subs"]) - 1),
                    "int_output": int(unit["int"]),
                    "pool": int(unit["pool"]),
                    "active": unit["active"],
                    "kv": kv if last else [0] * XPU.n_xpes,
                    "threshold": [
                        {"value": v, "flip": int(f)}
                        for v, f in zip(unit["threshold"], unit["flip"], strict=True)
                    ],
                }
                # XPE e's codes of this cycle on channels 0, 1, ... (random on idle channels)
                adc_events[t + lat] = [[c[j] for j in readouts] for c in codes]
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
                mine = codes[e] if codes else []
                ctx.set(dut.adc_valid[e], (1 << len(mine)) - 1)
                for ch in range(a):
                    ctx.set(dut.adc_code[e][ch], mine[ch] if ch < len(mine) else rng.randrange(16))
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
    if ss > 1:  # several samples did share a cycle
        assert any(bin(ev["sample"]).count("1") > 1 for ev in port_events.values())


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


# S = 8, gamma = 2: A = 4 channels (a beat starts at an even chunk, so at most its four odd
# chunks are sampled, or three and the vector's last). Cases: (sample mask of port cycle P,
# adc_valid of XPE 0 and of the other XPEs in P + adc_latency, error expected); the valid
# channels must be the first ``count`` of the cycle's samples.
CHANNEL_CASES = [
    (0b0000_0101, 0b0011, 0b0011, False),  # two samples, channels 0 and 1
    (0b1001_0101, 0b1111, 0b1111, False),  # four samples in slots 0, 2, 4, 7
    (0b0000_0101, 0b0001, 0b0011, True),  # XPE 0 misses its second code
    (0b0000_0100, 0b0010, 0b0010, True),  # one sample answered on channel 1, not 0
    (0b0000_0011, 0b0111, 0b0111, True),  # a third code nobody sampled
    (0b0000_0000, 0b0000, 0b0001, True),  # a code on XPE 1 without a sample
]


@pytest.mark.parametrize("mask,valid0,valid_rest,error", CHANNEL_CASES)
def test_adc_channels_must_match_the_samples_of_the_cycle(mask, valid0, valid_rest, error):
    xpu = XPU.replace(symbols_per_cycle=8)
    assert xpu.adc_channels == 4
    dut = PcaReadout(xpu=xpu, depth=2)
    seen = []

    async def tb(ctx):
        ctx.set(dut.port, {"sample": mask, "active": 0b111})
        await ctx.tick()
        ctx.set(dut.port, {"sample": 0})
        for _ in range(xpu.adc_latency - 1):
            await ctx.tick()
        ctx.set(dut.adc_valid[0], valid0)
        for e in range(1, XPU.n_xpes):
            ctx.set(dut.adc_valid[e], valid_rest)
        seen.append(ctx.get(dut.error))
        await ctx.tick()
        for e in range(XPU.n_xpes):
            ctx.set(dut.adc_valid[e], 0)
        seen.append(ctx.get(dut.error))
        await ctx.tick()
        seen.append(ctx.get(dut.error))

    sim = Simulator(dut)
    sim.add_clock(1e-9)
    sim.add_testbench(tb)
    sim.run()
    assert seen == [0, int(error), int(error)]


def test_parameters_are_checked():
    with pytest.raises(ValueError, match="depth must be a positive integer, not 0"):
        PcaReadout(xpu=XPU, depth=0)
    with pytest.raises(TypeError, match="xpu must be an XpuParams, not dict"):
        PcaReadout(xpu={}, depth=2)
