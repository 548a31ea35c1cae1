"""The closed-form cycle model: hand-derived micro-cases, plan invariants and named errors.

The RTL equality is checked in ``tests/test_xpu.py``; here the expected numbers are derived by
hand (see the micro-cases in :mod:`oxbnn.models.timing`) or by an independent brute-force
emulation, never copied from the model's output.
"""

from __future__ import annotations

import numpy as np
import pytest
from _chunks import emulated_beat_cycles, emulated_chunk_cycles, emulated_strobes

from oxbnn.models.configs import XpuParams
from oxbnn.models.layer import LayerError, LayerSpec
from oxbnn.models.tiling import (
    DATAFLOWS,
    MAX_IMAGE_DIM,
    TilingError,
    beat_cycles,
    chunk_cycles,
    tiling_plan,
)
from oxbnn.models.timing import (
    MemoryModel,
    layer_cycles,
    plan_cycles,
    reset_slots,
    sample_slots,
    seconds,
)

XPU = XpuParams(n_lanes=4, n_xpes=2, gamma=2, adc_bits=4)
WB, AB = "weight_broadcast", "activation_broadcast"


# (name, spec, xpu, total, samples or None) -- every number derived by hand in the docstring of
# oxbnn.models.timing.
MICRO_CASES = [
    ("1x1 conv K=10", LayerSpec("conv", 1, 2, 10, 1), XPU, 16, [11, 12]),
    ("fc K=10 x 3", LayerSpec.fc(10, 3), XPU, 25, None),
    ("3x3 conv C=1 read bound", LayerSpec("conv", 3, 3, 1, 1, 3, 3, padding=1), XPU, 41, None),
    (
        "double-buffered bands",
        LayerSpec("conv", 4, 1, 4, 2),
        XPU.replace(act_buffer_depth=1),
        17,
        None,
    ),
    ("max-pool", LayerSpec("conv", 2, 4, 4, 1, pool=True), XPU.replace(gamma=1), 19, None),
    ("K > gamma N", LayerSpec("conv", 1, 1, 20, 1), XPU, 17, [10, 12, 13]),
]


# Micro-case 8 of the docstring: (name, spec, xpu, weight-broadcast total, activation-broadcast
# total), each derived by hand there.
AB_CASES = [
    ("fc K=10 x 3", LayerSpec.fc(10, 3), XPU, 25, 22),
    ("1x1 conv K=10 x 3", LayerSpec("conv", 1, 2, 10, 3), XPU, 25, 28),
    ("fc tiled weights", LayerSpec.fc(10, 5), XPU.replace(wgt_buffer_depth=6), 29, 27),
]


@pytest.mark.parametrize("name,spec,xpu,wb,ab", AB_CASES, ids=[c[0] for c in AB_CASES])
def test_activation_broadcast_micro_cases(name, spec, xpu, wb, ab):
    assert layer_cycles(spec, xpu, dataflow=WB).total == wb, name
    assert layer_cycles(spec, xpu, dataflow=AB).total == ab, name
    chosen = layer_cycles(spec, xpu)  # "auto": the faster of the two, weight broadcast on a tie
    assert (chosen.total, chosen.plan.dataflow) == (min(wb, ab), WB if wb <= ab else AB), name


def test_weights_outer_walk():
    """Micro-case 9: the weight tiles outside the bands, its loads and count, and the bands
    outside, derived by hand; the host takes the faster."""
    xpu = XPU.replace(act_buffer_depth=1, wgt_buffer_depth=2)
    spec = LayerSpec("conv", 2, 1, 4, 4)
    mem = MemoryModel(1, 4)
    plan = tiling_plan(spec, xpu, weights_outer=True)
    assert plan.weights_outer
    assert plan.pairs == ((0, 0), (1, 0), (0, 1), (1, 1))
    assert plan.act_loads == (0, 1, 0, 1) and plan.wgt_loads == (0, 1)
    assert [plan.pair_loads(p) for p in range(4)] == [(0, 0), (1, 0), (2, 1), (3, 1)]
    bd = plan_cycles(plan, mem)
    assert bd.total == 28 and bd.pair_starts == (15, 17, 19, 21)
    inner = tiling_plan(spec, xpu)
    assert not inner.weights_outer and inner.wgt_loads == (0, 1, 0, 1)
    assert plan_cycles(inner, mem).total == 36
    chosen = layer_cycles(spec, xpu, mem, dataflow=WB)
    assert chosen.total == 28 and chosen.plan.weights_outer
    # One word per cycle: weights outside 19 (pair starts 6, 8, 10, 12: band 0's second load is
    # requested in 8, when pair 0 frees its bank, and usable in 10); bands outside 21 (the third
    # weight load waits for bank 0 until 8 and is usable in 11, the fourth in 14).
    assert plan_cycles(plan).pair_starts == (6, 8, 10, 12) and plan_cycles(plan).total == 19
    assert plan_cycles(inner).pair_starts == (6, 8, 11, 14) and plan_cycles(inner).total == 21
    # A single band or a single weight tile has one walk.
    assert not tiling_plan(spec, xpu.replace(act_buffer_depth=2), weights_outer=True).weights_outer
    assert not tiling_plan(spec, xpu.replace(wgt_buffer_depth=4), weights_outer=True).weights_outer


def test_activation_broadcast_plan():
    """Filter steps of M, groups of one unit, tiles of whole steps, and what cannot map."""
    xpu = XPU.replace(n_xpes=3, wgt_buffer_depth=8)
    plan = tiling_plan(LayerSpec.fc(8, 7), xpu, dataflow=AB)  # 2 words a filter, 4 a bank
    assert plan.filter_step == 3 and plan.filters_per_tile == 3
    assert [(t.filter0, t.filter1) for t in plan.weight_tiles] == [(0, 3), (3, 6), (6, 7)]
    assert plan.jobs == 3 and [b.groups for b in plan.bands] == [1]
    # The last tile's step has one filter: XPEs 1 and 2 idle.
    assert plan.targets(0, 6, 0) == [(0, 0, 6), None, None]
    conv = tiling_plan(LayerSpec("conv", 2, 3, 4, 4), xpu.replace(wgt_buffer_depth=64), dataflow=AB)
    assert conv.filters_per_tile == 4 and conv.bands[0].groups == 6 and conv.jobs == 2 * 6
    assert conv.targets(0, 3, 4) == [(1, 1, 3), None, None]
    assert conv.targets(0, 0, 5) == [(1, 2, 0), (1, 2, 1), (1, 2, 2)]
    with pytest.raises(TilingError, match="activation broadcast needs 3 filters"):
        tiling_plan(LayerSpec.fc(12, 9), xpu, dataflow=AB)  # 3 words a filter: 2 per bank
    assert tiling_plan(LayerSpec.fc(12, 9), xpu).filters_per_tile == 2  # weight broadcast maps
    assert layer_cycles(LayerSpec.fc(12, 9), xpu).plan.dataflow == WB  # so "auto" takes it
    with pytest.raises(TilingError, match="unknown dataflow 'rows'"):
        layer_cycles(LayerSpec.fc(12, 9), xpu, dataflow="rows")


@pytest.mark.parametrize(
    "name,spec,xpu,total,samples", MICRO_CASES, ids=[c[0] for c in MICRO_CASES]
)
def test_micro_cases(name, spec, xpu, total, samples):
    bd = layer_cycles(spec, xpu, dataflow=WB)
    assert bd.total == total, f"{name}: {bd}"
    if samples is not None:
        assert list(sample_slots(spec, xpu, dataflow=WB)) == samples


# S > 1 (N = 4, M = 2, gamma = 2 unless stated), derived by hand like the cases above. A vector
# of L chunks is ceil(L/S) beats (chunk k in slot k mod S of beat k // S); strobes are slot
# indices t S + s of port cycle t.
S_CASES = [
    # 1x1 conv K = 10, S = 2: L = 3, beats (chunks 0-1, chunk 2), one cycle each. Loads as in
    # case 1 (first issue 8); issue 8, 9; last beat on the port in 11, code 13, result 14,
    # done 15. Samples: chunk 1 (port 10, slot 1) and the last chunk 2 (port 11, slot 0);
    # resets: chunk 0 (port 10, slot 0) and chunk 2.
    ("K=10 S=2", LayerSpec("conv", 1, 2, 10, 1), XPU.replace(symbols_per_cycle=2), 15,
     [21, 22], [20, 22]),
    # 1x1x20 (L = 5), S = 8: one beat, slots 5-7 dark. Act and weights (5 words) complete in 6,
    # first issue 7, port 9, code 11, result 12, done 13. Three samples in one cycle: chunks 1,
    # 3 and 4 (slots 72 + 1, 3, 4); resets with chunks 0, 2, 4.
    ("K=20 S=8", LayerSpec("conv", 1, 1, 20, 1), XPU.replace(symbols_per_cycle=8), 13,
     [73, 75, 76], [72, 74, 76]),
    # 3x3 conv C = 1, padding 1, S = 2: chunks 0 and 1 touch 4 one-bit words each (2 cycles),
    # chunk 2 one word: beats of 2 and 1 cycles, T_v = 3. Nine units, five groups; act (9
    # words) complete in 10, first issue 11, 5 jobs x 3: last issue 25; done 25 + 6 = 31.
    ("3x3 C=1 S=2 read bound", LayerSpec("conv", 3, 3, 1, 1, 3, 3, padding=1),
     XPU.replace(symbols_per_cycle=2), 31, None, None),
]  # fmt: skip


@pytest.mark.parametrize("name,spec,xpu,total,samples,resets", S_CASES, ids=[c[0] for c in S_CASES])
def test_s_cases(name, spec, xpu, total, samples, resets):
    bd = layer_cycles(spec, xpu, dataflow=WB)
    assert bd.total == total, f"{name}: {bd}"
    assert bd.slots == total * xpu.symbols_per_cycle
    assert bd.seconds == pytest.approx(total * xpu.symbols_per_cycle / 50e9)
    if samples is not None:
        assert list(sample_slots(spec, xpu, dataflow=WB)) == samples
        assert list(reset_slots(spec, xpu, dataflow=WB)) == resets


def test_adc_bank_stalls_by_hand():
    """1x1x20 (L = 5) at S = 2, gamma = 2: beats (0, 1), (2, 3), (4) each sample (chunks 1, 3
    and the last, 4). Loads complete in 6: the first beat leaves in 7. A bank converting for 3
    cycles makes each later beat wait for it; two banks halve the wait."""
    spec = LayerSpec("conv", 1, 1, 20, 1)
    xpu = XPU.replace(symbols_per_cycle=2, adc_conversion_cycles=3)
    bd = layer_cycles(spec, xpu, dataflow=WB)
    # Beats leave in 7, 10 and 13 (not 7, 8, 9): done 13 + 2 + 2 + 1 + 1 = 19, 4 stalled.
    assert (bd.total, bd.compute, bd.adc_stall) == (19, 3, 4)
    # Samples on the port 2 cycles later: chunk 1 in slot 9*2 + 1, chunk 3 in 12*2 + 1 and
    # chunk 4 in 15*2 + 0.
    assert list(sample_slots(spec, xpu, dataflow=WB)) == [19, 25, 30]
    # Two banks: 7 (bank 0, free from 10), 8 (bank 1), 10 (bank 0 again).
    two = layer_cycles(spec, xpu.replace(adc_banks=2), dataflow=WB)
    assert (two.total, two.adc_stall) == (16, 1)
    assert xpu.replace(adc_banks=2).adc_channels == 2 * xpu.adc_channels
    # Two filters (weights complete in 11, first issue 12), one bank: the second job's first
    # beat waits for the bank the first job's last beat took in 18: beats 12, 15, 18, 21, 24,
    # 27; done 27 + 6 = 33; stalls 4 + 6.
    spec2 = LayerSpec("conv", 1, 1, 20, 2)
    bd2 = layer_cycles(spec2, xpu, dataflow=WB)
    assert (bd2.total, bd2.fill, bd2.compute, bd2.adc_stall) == (33, 12, 6, 10)
    assert bd2.total == bd2.fill + bd2.compute + bd2.adc_stall + bd2.load + bd2.readout + 1


# Micro-case 7 of oxbnn.models.timing (PCA reset dead slots R = 3, capacitors P in rotation),
# derived by hand there: (name, spec, xpu, total, reset_stall, samples or None, resets or None).
RESET_CASES = [
    ("case 1 P=1", LayerSpec("conv", 1, 2, 10, 1), XPU.replace(reset_dead_slots=3), 19, 3,
     [11, 15], [10, 15]),
    ("case 1 P=2", LayerSpec("conv", 1, 2, 10, 1),
     XPU.replace(reset_dead_slots=3, pca_capacitors=2), 16, 0, [11, 12], [10, 12]),
    ("case 2 P=2", LayerSpec.fc(10, 3), XPU.replace(reset_dead_slots=3, pca_capacitors=2), 29, 4,
     [14, 15, 19, 20, 24, 25], [13, 15, 18, 20, 23, 25]),
    ("case 2 P=1", LayerSpec.fc(10, 3), XPU.replace(reset_dead_slots=3), 40, 15, None, None),
    ("case 1 S=2 P=1", LayerSpec("conv", 1, 2, 10, 1),
     XPU.replace(reset_dead_slots=3, symbols_per_cycle=2), 17, 2, [21, 26], [20, 26]),
]  # fmt: skip


@pytest.mark.parametrize(
    "name,spec,xpu,total,stall,samples,resets", RESET_CASES, ids=[c[0] for c in RESET_CASES]
)
def test_reset_dead_slots_by_hand(name, spec, xpu, total, stall, samples, resets):
    bd = layer_cycles(spec, xpu, dataflow=WB)
    assert (bd.total, bd.reset_stall, bd.adc_stall) == (total, stall, 0), f"{name}: {bd}"
    assert bd.total == bd.fill + bd.compute + bd.reset_stall + bd.load + bd.readout + bd.drain
    if samples is not None:
        assert list(sample_slots(spec, xpu, dataflow=WB)) == samples
        assert list(reset_slots(spec, xpu, dataflow=WB)) == resets


def test_adc_and_reset_waits_in_one_beat_count_first_as_adc_stall():
    """1x1x20 (L = 5) at S = 2 with a 3-cycle ADC bank (test_adc_bank_stalls_by_hand) and R = 5,
    P = 1. Beat 0 leaves in 7 (bank free from 10) and samples in slot index 15 (capacitor free
    from 21). Beat 1's reads end in 8; the bank holds it to 10 (2 ADC stall), its reset in slot
    0 needs 2 e >= 21: e = 11 (1 reset stall); it samples in 23 (free from 29), bank free from 14.
    Beat 2: reads end in 12, bank 14 (2), reset needs 2 e >= 29: 15 (1). Done 15 + 6 = 21,
    adc_stall 4, reset_stall 2; resets on the port (cycles 9, 13, 17) in slots 18, 26, 34."""
    spec = LayerSpec("conv", 1, 1, 20, 1)
    xpu = XPU.replace(symbols_per_cycle=2, adc_conversion_cycles=3, reset_dead_slots=5)
    bd = layer_cycles(spec, xpu, dataflow=WB)
    assert (bd.total, bd.compute, bd.adc_stall, bd.reset_stall) == (21, 3, 4, 2)
    assert list(reset_slots(spec, xpu, dataflow=WB)) == [18, 26, 34]


def _reset_xpu(rng: np.random.Generator) -> XpuParams:
    """A random small XPU with R > 0 that XpuParams accepts."""
    while True:
        s = int(rng.choice([1, 2, 3, 4, 8]))
        gamma = int(rng.integers(1, 6))
        p = int(rng.integers(1, 4))
        r = int(rng.integers(1, 3 * gamma + 2))
        if r <= (p - 1) * gamma or gamma % s == 0:
            return XpuParams(
                n_lanes=4, n_xpes=2, gamma=gamma, adc_bits=5, symbols_per_cycle=s,
                reset_dead_slots=r, pca_capacitors=p,
            )  # fmt: skip


@pytest.mark.parametrize("seed", range(6))
def test_reset_waits_match_the_slot_by_slot_brute_force(seed):
    """Random layers of one (band, weight tile) pair on random R, P, gamma, S: every strobe, the
    count and the reset stall against :func:`_chunks.emulated_strobes` (the pair's first issue
    cycle, which only the loads decide, is its input)."""
    rng = np.random.default_rng(500 + seed)
    checked = waited = 0
    while checked < 25:
        xpu = _reset_xpu(rng)
        kh = int(rng.choice([1, 3]))
        c = int(rng.integers(1, 30))
        spec = LayerSpec("conv", int(rng.integers(kh, 5)), int(rng.integers(kh, 5)), c,
                         int(rng.integers(1, 4)), kh, kh)  # fmt: skip
        plan = tiling_plan(spec, xpu)
        if len(plan.pairs) != 1:
            continue
        checked += 1
        bd = layer_cycles(spec, xpu, dataflow=WB)
        beats = emulated_beat_cycles(c, xpu.n_lanes, kh * kh, xpu.symbols_per_cycle)
        issue, resets, samples = emulated_strobes(
            beats, plan.chunks, xpu.gamma, xpu.symbols_per_cycle, xpu.reset_dead_slots,
            xpu.pca_capacitors, plan.jobs, bd.pair_starts[0],
        )  # fmt: skip
        where = (xpu, spec)
        assert list(reset_slots(spec, xpu, dataflow=WB)) == resets, where
        assert list(sample_slots(spec, xpu, dataflow=WB)) == samples, where
        assert bd.total == issue[-1] + 2 + xpu.adc_latency + 2, where
        assert bd.reset_stall == issue[-1] + 1 - bd.pair_starts[0] - plan.jobs * sum(beats)
        waited += bd.reset_stall > 0
    assert waited >= 5  # the waits really happen


def test_adc_channels_hold_the_samples_of_a_cycle():
    """A = the most samples one cycle holds, by brute force over vector lengths L."""
    for n, g, s in [(4, 2, 1), (4, 2, 2), (4, 2, 8), (3, 3, 8), (5, 14, 32), (4, 1, 3)]:
        xpu = XpuParams(n_lanes=n, n_xpes=1, gamma=g, adc_bits=8, symbols_per_cycle=s)
        most = 0
        for chunks in range(1, 2 * s * g + 2 * s):
            per_cycle: dict[int, int] = {}
            for c in range(chunks):
                if (c + 1) % g == 0 or c == chunks - 1:
                    per_cycle[c // s] = per_cycle.get(c // s, 0) + 1
            most = max(most, *per_cycle.values())
        assert xpu.adc_channels == most, (n, g, s, most, xpu.adc_channels)


def test_micro_case_1_parts():
    """Case 1 in detail: first issue 8, 3 issue cycles, readout 2 + 2, drain 1."""
    bd = layer_cycles(LayerSpec("conv", 1, 2, 10, 1), XPU, dataflow=WB)
    assert (bd.fill, bd.compute, bd.load, bd.readout, bd.drain) == (8, 3, 0, 4, 1)
    assert list(reset_slots(LayerSpec("conv", 1, 2, 10, 1), XPU, dataflow=WB)) == [10, 12]
    assert bd.seconds == pytest.approx(16 / 50e9)
    assert bd.slots == 16  # S = 1: one slot per lane per cycle
    assert seconds(LayerSpec("conv", 1, 2, 10, 1), XPU) == pytest.approx(16 / 50e9)


def test_micro_case_4_pair_starts():
    """Case 4: bands start in 4, 6, 8 and 10 (each waits for nothing but the previous)."""
    bd = layer_cycles(LayerSpec("conv", 4, 1, 4, 2), XPU.replace(act_buffer_depth=1), dataflow=WB)
    assert bd.pair_starts == (4, 6, 8, 10)
    assert len(bd.plan.bands) == 4


def test_memory_bandwidth_and_latency_slow_loads():
    """Case 1 with 3 cycles per word and latency 4: the 6-word tile completes in 1+4+15 = 20."""
    bd = layer_cycles(LayerSpec("conv", 1, 2, 10, 1), XPU, MemoryModel(4, 3), dataflow=WB)
    assert bd.fill == 21
    assert bd.total == 21 + 3 + 4 + 1


@pytest.mark.parametrize("seed", range(8))
def test_chunk_cycles_closed_form_matches_emulation(seed):
    rng = np.random.default_rng(seed)
    for _ in range(40):
        n = int(rng.integers(1, 24))
        c = int(rng.integers(1, 60))
        kh, kw = (int(x) for x in rng.integers(1, 4, size=2))
        spec = LayerSpec("conv", kh, kw, c, 1, kh, kw)
        xpu = XpuParams(n_lanes=n, n_xpes=1, gamma=1, adc_bits=max(1, n.bit_length()))
        assert list(chunk_cycles(spec, xpu)) == emulated_chunk_cycles(c, n, kh * kw), (n, c)


def test_full_rate_when_words_are_wide():
    """ceil(C/N) >= 2 or 2C >= N: every chunk touches at most three words, one cycle each."""
    xpu = XpuParams(n_lanes=19, n_xpes=19, gamma=14, adc_bits=9)
    for c in (10, 19, 20, 37, 128):
        spec = LayerSpec("conv", 3, 3, c, 1, 3, 3)
        cyc = chunk_cycles(spec, xpu)
        assert len(cyc) == -(-9 * c // 19) and set(cyc) == {1}
    # C = 3 on 19 lanes is read bound: 27 one-pixel words of 3 bits, three per cycle per slot.
    cyc = chunk_cycles(LayerSpec("conv", 3, 3, 3, 1, 3, 3), xpu)
    # chunk 0 (bits 0-18) touches words 0-6 (3 cycles), chunk 1 (bits 19-26) words 6-8 (1)
    assert list(cyc) == [3, 1]
    # At S = 2 both chunks are one beat, as slow as its slowest chunk.
    assert beat_cycles(LayerSpec("conv", 3, 3, 3, 1, 3, 3), xpu.replace(symbols_per_cycle=2)) == (
        3,
    )


@pytest.mark.parametrize("seed", range(6))
def test_plan_invariants(seed):
    rng = np.random.default_rng(100 + seed)
    checked = 0
    while checked < 30:
        xpu = XpuParams(
            n_lanes=int(rng.integers(2, 9)),
            n_xpes=int(rng.integers(1, 6)),
            gamma=2,
            adc_bits=6,
            act_buffer_depth=int(rng.integers(4, 60)),
            wgt_buffer_depth=int(rng.integers(2, 40)),
        )
        k = int(rng.integers(1, 4))
        try:
            spec = LayerSpec(
                "conv",
                int(rng.integers(1, 10)),
                int(rng.integers(1, 10)),
                int(rng.integers(1, 10)),
                int(rng.integers(1, 9)),
                k,
                k,
                stride=int(rng.integers(1, 3)),
                padding=int(rng.integers(0, k)),
                pool=bool(rng.integers(0, 2)),
            )
            plan = tiling_plan(spec, xpu)
        except (LayerError, TilingError):
            continue
        checked += 1
        # Bands tile the unit rows exactly and fit a bank; their rows cover every window.
        rows = [r for b in plan.bands for r in range(b.unit_row0, b.unit_row1)]
        assert rows == list(range(plan.unit_h))
        for b in plan.bands:
            assert 0 < b.words <= xpu.act_buffer_depth
            f, s, p = plan.pool_factor, spec.stride, spec.padding
            top = b.unit_row0 * f * s - p
            bottom = ((b.unit_row1 * f) - 1) * s - p + spec.kernel_h
            assert b.in_row0 == max(0, top) and b.in_row1 == min(spec.height, bottom)
            assert b.groups * xpu.n_xpes >= (b.unit_row1 - b.unit_row0) * plan.unit_w
        # Weight tiles hold whole filters and cover them all once.
        filt = [f for t in plan.weight_tiles for f in range(t.filter0, t.filter1)]
        assert filt == list(range(spec.out_channels))
        assert all(t.words <= xpu.wgt_buffer_depth for t in plan.weight_tiles)
        # Every output unit appears in exactly one result word per filter.
        seen = set()
        for band, f, group in plan.results():
            for unit in plan.units(band, group):
                if unit is not None:
                    assert (unit, f) not in seen
                    seen.add((unit, f))
        assert len(seen) == plan.unit_h * plan.unit_w * spec.out_channels
        groups = sum(b.groups for b in plan.bands)
        assert plan.jobs == groups * spec.out_channels * (4 if spec.pool else 1)


def test_named_errors():
    xpu = XPU.replace(act_buffer_depth=8, wgt_buffer_depth=3)
    with pytest.raises(TilingError, match="weight bank"):
        tiling_plan(LayerSpec.fc(13, 2), xpu)  # 4 words per filter > 3
    with pytest.raises(TilingError, match="activation bank"):
        tiling_plan(
            LayerSpec("conv", 4, 4, 4, 1, 3, 3, padding=1), xpu.replace(wgt_buffer_depth=64)
        )  # 3 rows x 4 pixels = 12 words > 8
    with pytest.raises(TilingError, match="threshold memory"):
        tiling_plan(LayerSpec.fc(4, 9), XPU.replace(max_out_channels=8))
    with pytest.raises(TilingError, match="kernel_h"):
        tiling_plan(LayerSpec("conv", 16, 16, 1, 1, 16, 1), XPU.replace(act_buffer_depth=4096))
    with pytest.raises(LayerError, match="stride"):
        LayerSpec("conv", 4, 4, 1, 1, stride=3)
    with pytest.raises(LayerError, match="height"):
        LayerSpec("conv", 0, 4, 1, 1)
    with pytest.raises(ValueError, match="latency_cycles must be a positive integer, not 0"):
        MemoryModel(latency_cycles=0)
    with pytest.raises(ValueError, match="cycles_per_word"):
        MemoryModel(cycles_per_word=1.5)
    with pytest.raises(TypeError):
        tiling_plan("conv", XPU)


def test_weight_tiles_reloaded_per_band():
    """Two bands and two weight tiles: four weight loads, in walk order."""
    xpu = XPU.replace(act_buffer_depth=4, wgt_buffer_depth=2)
    spec = LayerSpec("conv", 2, 2, 4, 3)  # one word per pixel, one word per filter
    plan = tiling_plan(spec, xpu)
    assert plan.rows_per_band == 2 and len(plan.bands) == 1
    plan = tiling_plan(spec, xpu.replace(act_buffer_depth=2))
    assert len(plan.bands) == 2
    assert [(t.filter0, t.filter1) for t in plan.weight_tiles] == [(0, 2), (2, 3)]
    assert plan.wgt_loads == (0, 1, 0, 1)
    assert plan.pairs == ((0, 0), (0, 1), (1, 0), (1, 1))


def test_dataflow_seam():
    """Both dataflows are built and every entry point takes them by name; unknown names are
    refused by name (the plan's list, or with "auto" the cycle model's)."""
    spec = LayerSpec("conv", 3, 3, 4, 2, 3, 3, padding=1)
    assert DATAFLOWS == ("weight_broadcast", "activation_broadcast")
    assert tiling_plan(spec, XPU).dataflow == "weight_broadcast"
    assert tiling_plan(spec, XPU, dataflow=AB).dataflow == AB
    for call in (layer_cycles, sample_slots, reset_slots, seconds):
        with pytest.raises(TilingError, match=r"unknown dataflow 'row_stationary'; expected one of "
                           r"\['auto', 'weight_broadcast', 'activation_broadcast'\]"):  # fmt: skip
            call(spec, XPU, dataflow="row_stationary")
    with pytest.raises(
        TilingError,
        match=r"unknown dataflow 'row_stationary'; expected one of "
        r"\['weight_broadcast', 'activation_broadcast'\]",
    ):
        tiling_plan(spec, XPU, dataflow="row_stationary")
    # Weight broadcast: the 9 units go 2 per group to the 2 XPEs, in row-major order.
    plan = tiling_plan(spec, XPU)
    assert plan.bands[0].groups == 5
    assert plan.units(0, 0) == [(0, 0), (0, 1)] and plan.units(0, 4) == [(2, 2), None]
    assert plan.targets(0, 1, 4) == [(2, 2, 1), None]
    # Activation broadcast: one unit per group, both filters at once.
    ab = tiling_plan(spec, XPU, dataflow=AB)
    assert ab.bands[0].groups == 9 and ab.jobs == 9
    assert ab.targets(0, 0, 4) == [(1, 1, 0), (1, 1, 1)]


def test_unit_grid_limit():
    """The descriptor holds at most MAX_IMAGE_DIM unit rows: exactly that many map, more do not.

    A 65535-row input with a 1-row kernel has 65535 output rows; with a 3-row kernel and padding
    2 it has 65535 + 2 * 2 - 3 + 1 = 65537 (more than the input), which cannot be described.
    """
    assert MAX_IMAGE_DIM == 65535
    plan = tiling_plan(LayerSpec("conv", 65535, 1, 1, 1), XPU)
    assert plan.unit_h == 65535 and plan.bands[-1].unit_row1 == 65535
    with pytest.raises(TilingError, match=r"65537 unit rows .* limit of 65535"):
        tiling_plan(LayerSpec("conv", 65535, 1, 1, 1, 3, 1, padding=2), XPU)
    with pytest.raises(TilingError, match=r"65537 unit columns"):
        tiling_plan(LayerSpec("conv", 1, 65535, 1, 1, 1, 3, padding=2), XPU)
    # Pooling halves the grid: 65537 output rows are 32768 units, which fit.
    pooled = LayerSpec("conv", 65535, 2, 1, 1, 3, 1, padding=2, pool=True)
    assert tiling_plan(pooled, XPU).unit_h == 32768
