"""The whole XPU under Amaranth's simulator: bit-exact against models/bnn, cycle-exact against
models/timing, on hand-derived micro-cases and on seeded random layers.

Every run goes through the one scoreboard (:mod:`oxbnn.testbenches.scoreboard`), whose failure
messages name the seed, the layer, the first wrong output position and the cycle its result word
was taken (or the cycle counts and their breakdown). The scoreboard itself is tested here too: it
must catch a wrong bit, a wrong count and a misplaced strobe.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pytest
from amaranth.hdl import Fragment

from oxbnn.models import bnn, tiling, timing
from oxbnn.models.configs import PresetError, XpuParams
from oxbnn.models.layer import LayerError, LayerSpec
from oxbnn.models.tiling import TilingError
from oxbnn.models.timing import MemoryModel
from oxbnn.rtl.pca_readout import PcaReadout
from oxbnn.rtl.xpu import Xpu
from oxbnn.testbenches.pysim_harness import XpuHarness
from oxbnn.testbenches.scoreboard import assert_layers, check_layer
from oxbnn.testbenches.stimulus import LayerRun

WB, AB = "weight_broadcast", "activation_broadcast"

# Small XPUs with small buffers, so that layers are tiled; each is elaborated once per test.
CONFIGS = {
    "n4m2g2": XpuParams(
        n_lanes=4,
        n_xpes=2,
        gamma=2,
        adc_bits=4,
        adc_latency=2,
        act_buffer_depth=24,
        wgt_buffer_depth=16,
    ),
    "n5m3g3": XpuParams(
        n_lanes=5,
        n_xpes=3,
        gamma=3,
        adc_bits=4,
        adc_latency=1,
        act_buffer_depth=30,
        wgt_buffer_depth=12,
    ),
    "n8m4g2": XpuParams(
        n_lanes=8,
        n_xpes=4,
        gamma=2,
        adc_bits=5,
        adc_latency=3,
        act_buffer_depth=40,
        wgt_buffer_depth=10,
    ),
    "n6m3g2": XpuParams(
        n_lanes=6,
        n_xpes=3,
        gamma=2,
        adc_bits=4,
        adc_latency=2,
        act_buffer_depth=16,
        wgt_buffer_depth=8,
    ),
}
LAYERS_PER_CONFIG = 12

# S slots per cycle (issue 11): S in {2, 3, 8, 32}, gamma < S for several readouts per cycle.
S_CONFIGS = {
    "n4m2g2s2": CONFIGS["n4m2g2"].replace(symbols_per_cycle=2),
    "n5m3g3s3": CONFIGS["n5m3g3"].replace(symbols_per_cycle=3),
    "n4m2g3s8": XpuParams(
        n_lanes=4,
        n_xpes=2,
        gamma=3,
        adc_bits=4,
        adc_latency=2,
        symbols_per_cycle=8,
        act_buffer_depth=24,
        wgt_buffer_depth=16,
    ),
    "n4m2g2s32": XpuParams(
        n_lanes=4,
        n_xpes=2,
        gamma=2,
        adc_bits=4,
        adc_latency=1,
        symbols_per_cycle=32,
        act_buffer_depth=160,
        wgt_buffer_depth=64,
    ),
}
# ADC channels slower than the clock: beats that sample wait for their bank (one bank at S = 1,
# two banks at S = 3).
S_CONFIGS["n5m3g3c4"] = CONFIGS["n5m3g3"].replace(adc_conversion_cycles=4)
S_CONFIGS["n4m2g2s3c3b2"] = CONFIGS["n4m2g2"].replace(
    symbols_per_cycle=3, adc_conversion_cycles=3, adc_banks=2
)
# PCA reset dead slots (R = reset_dead_slots) and capacitors in rotation (P = pca_capacitors):
# one capacitor at S = 1 and at S = 2 with gamma % S == 0 (every run starts a beat); ping-pong at
# S = 8 and 32 with R <= gamma (the bound XpuParams requires when gamma % S != 0: only a vector's
# first run can wait) and at S = 2 and 3 with gamma % S == 0 and R > S (with R <= S no run there
# could ever wait), so runs inside a vector wait too; three capacitors at S = 3.
S_CONFIGS["n4m2g2r3"] = CONFIGS["n4m2g2"].replace(reset_dead_slots=3)
S_CONFIGS["n4m2g4s2r5"] = XpuParams(
    n_lanes=4,
    n_xpes=2,
    gamma=4,
    adc_bits=5,
    adc_latency=2,
    symbols_per_cycle=2,
    act_buffer_depth=24,
    wgt_buffer_depth=16,
    reset_dead_slots=5,
)
S_CONFIGS["n4m2g2s2r3p2"] = S_CONFIGS["n4m2g2s2"].replace(reset_dead_slots=3, pca_capacitors=2)
S_CONFIGS["n5m3g3s3r5p2"] = S_CONFIGS["n5m3g3s3"].replace(reset_dead_slots=5, pca_capacitors=2)
S_CONFIGS["n4m2g3s8r3p2"] = S_CONFIGS["n4m2g3s8"].replace(reset_dead_slots=3, pca_capacitors=2)
S_CONFIGS["n4m2g3s32r3p2"] = S_CONFIGS["n4m2g2s32"].replace(
    gamma=3, reset_dead_slots=3, pca_capacitors=2
)
S_CONFIGS["n4m2g2s3r4p3"] = CONFIGS["n4m2g2"].replace(
    symbols_per_cycle=3, reset_dead_slots=4, pca_capacitors=3
)
S_LAYERS_PER_CONFIG = 8


@dataclass(frozen=True)
class Case:
    seed: int
    category: str
    run: LayerRun


def _covers(category: str, run: LayerRun, xpu: XpuParams) -> bool:
    """Whether a layer exercises ``category`` (also used by the coverage test)."""
    spec = run.spec
    plan = timing.layer_cycles(spec, xpu, run.mem, dataflow=run.dataflow, walk=run.walk).plan
    n, m = xpu.n_lanes, xpu.n_xpes
    return {
        "act bcast": plan.act_bcast,
        "weights outer": plan.weights_outer,
        "partial filter step": plan.act_bcast
        and any(plan.filter_steps(t.index) * m > t.filter1 - t.filter0 for t in plan.weight_tiles),
        "chosen act bcast": run.dataflow == "auto" and plan.act_bcast,
        "K<N": spec.k < n,
        "K%N": spec.k % n != 0,
        "K>gN": spec.k > xpu.gamma * n,
        "padding": spec.padding > 0,
        "pad+-1": spec.padding > 0 and spec.pad != "dark",
        "stride2": spec.stride == 2,
        "Cout%M": spec.out_channels % m != 0,
        "partial group": not plan.act_bcast
        and any(((b.unit_row1 - b.unit_row0) * plan.unit_w) % m for b in plan.bands),
        "fc": spec.kind == "fc",
        "act tiles": len(plan.bands) > 1,
        "wgt tiles": len(plan.weight_tiles) > 1,
        "load stall": timing.layer_cycles(spec, xpu, run.mem).load > 0,
        "pool": spec.pool,
        "int": spec.output == "int",
        "read bound": plan.vector_cycles > plan.chunks,
        # Results faster than the host takes them (one per T_v cycles against 1 / 0.3) and no
        # wait for a tile to hide the host's drops behind, so they must delay the layer.
        "back-pressure": run.ready_probability < 1
        and len(list(plan.results())) >= 12
        and plan.vector_cycles * plan.subjobs <= 2
        and timing.layer_cycles(spec, xpu, run.mem, dataflow=run.dataflow, walk=run.walk).load == 0,
        "slow memory": run.mem.cycles_per_word > 1,
        "L<S": plan.chunks < xpu.symbols_per_cycle,
        "L%S": plan.chunks > xpu.symbols_per_cycle and plan.chunks % xpu.symbols_per_cycle != 0,
        "several readouts": plan.readouts > 1,
        "read bound S": plan.vector_cycles > plan.beats,
        "adc stall": timing.layer_cycles(spec, xpu, run.mem).adc_stall > 0,
        "reset stall": timing.layer_cycles(spec, xpu, run.mem).reset_stall > 0,
    }[category]


CATEGORIES = [
    "act bcast",
    "weights outer",
    "partial filter step",
    "chosen act bcast",
    "K<N",
    "K%N",
    "K>gN",
    "padding",
    "pad+-1",
    "stride2",
    "Cout%M",
    "partial group",
    "fc",
    "act tiles",
    "wgt tiles",
    "load stall",
    "pool",
    "int",
    "read bound",
    "back-pressure",
    "slow memory",
]
S_CATEGORIES = [
    "act bcast",
    "chosen act bcast",
    "L<S",
    "L%S",
    "several readouts",
    "read bound S",
    "adc stall",
    "reset stall",
    "K>gN",
    "pool",
    "fc",
    "act tiles",
    "padding",
    "back-pressure",
    "wgt tiles",
    "stride2",
]


def _random_spec(rng: np.random.Generator, category: str) -> LayerSpec:
    output = "int" if category == "int" or rng.random() < 0.15 else "bit"
    if category == "fc" or (category in ("K<N", "K%N") and rng.random() < 0.3):
        return LayerSpec.fc(int(rng.integers(1, 40)), int(rng.integers(1, 7)), output=output)
    k = int(rng.choice([1, 2, 3]))
    pool = output == "bit" and (category == "pool" or rng.random() < 0.2)
    stride = 2 if category == "stride2" else int(rng.choice([1, 1, 2]))
    padding = int(rng.integers(0, k))
    pad = (
        str(rng.choice(["+1", "-1"]))
        if category == "pad+-1"
        else str(rng.choice(["dark", "dark", "dark", "+1", "-1"]))
    )
    return LayerSpec(
        "conv",
        int(rng.integers(1, 11)),
        int(rng.integers(1, 11)),
        int(rng.integers(1, 20)),
        int(rng.integers(1, 9)),
        k,
        int(rng.choice([k, 1, 3])),
        stride=stride,
        padding=padding,
        pad=pad,
        output=output,
        pool=pool,
    )


def make_cases(
    config: str,
    count: int = LAYERS_PER_CONFIG,
    base: int = 1000,
    configs: dict[str, XpuParams] = CONFIGS,
    categories: list[str] = CATEGORIES,
) -> list[Case]:
    """Seeded random layers for one config; layer i targets category i (round robin)."""
    xpu = configs[config]
    offset = list(configs).index(config) * count
    # Categories this XPU cannot show: no wait at a conversion per cycle or without dead slots,
    # no partial beat at S = 1.
    impossible = set()
    if xpu.adc_conversion_cycles == 1:
        impossible.add("adc stall")
    if xpu.reset_dead_slots == 0:
        impossible.add("reset stall")
    if xpu.symbols_per_cycle == 1:
        impossible |= {"L<S", "L%S"}
    if xpu.act_buffer_depth >= 4 * xpu.wgt_buffer_depth:
        # An activation bank so much larger than a weight bank (n8m4g2: 40 and 10 words) that a
        # layer of this generator with several weight tiles nearly always fits one band: the
        # walk orders differ in about 1 in 20,000 draws.
        impossible.add("weights outer")
    categories = [c for c in categories if c not in impossible]
    cases = []
    for i in range(count):
        seed = base + offset + i
        category = categories[(offset + i) % len(categories)]
        rng = np.random.default_rng(seed)
        for _ in range(2000):
            try:
                spec = _random_spec(rng, category)
                tiling.tiling_plan(spec, xpu)
            except (LayerError, TilingError):
                continue
            mem = MemoryModel(
                int(rng.integers(1, 4)), 2 if category == "slow memory" else int(rng.integers(1, 3))
            )
            # The host's dataflow: its own choice, or either one forced (where it maps).
            dataflow = str(rng.choice(["auto", WB, AB]))
            if category in ("act bcast", "partial filter step"):
                dataflow = AB
            elif category == "chosen act bcast":
                dataflow = "auto"
            # And its walk order: its own choice, or either forced.
            walk = str(rng.choice(["auto", "auto", "bands_outer", "weights_outer"]))
            if category == "weights outer":
                walk = "weights_outer"
            try:
                timing.layer_cycles(spec, xpu, mem, dataflow=dataflow, walk=walk)
            except TilingError:
                continue
            ready = 0.3 if category == "back-pressure" else 1.0
            act, weights, thr, flip = bnn.random_layer(rng, spec)
            run = LayerRun(
                spec,
                act,
                weights,
                thr,
                flip,
                mem=mem,
                ready_probability=ready,
                seed=seed,
                name=f"seed {seed} ({category}, {dataflow}, {walk}): {spec}",
                dataflow=dataflow,
                walk=walk,
            )
            if _covers(category, run, xpu):
                cases.append(Case(seed, category, run))
                break
        else:
            raise AssertionError(f"no layer found for category {category!r} on {config}")
    return cases


def _run_cases(config: str, cases: list[Case], configs: dict[str, XpuParams] = CONFIGS) -> None:
    xpu = configs[config]
    results = XpuHarness(xpu).run([c.run for c in cases], max_cycles=100_000)
    assert_layers(xpu, [c.run for c in cases], results, where=f"config {config} ({xpu})")
    for c, r in zip(cases, results, strict=True):
        if c.category == "back-pressure":
            # The host really held results back, and the XPU really had to wait for it.
            predicted = timing.layer_cycles(
                c.run.spec, xpu, c.run.mem, dataflow=c.run.dataflow, walk=c.run.walk
            ).total
            assert r.not_ready_cycles > 0 and r.cycles > predicted, c.run.name


@pytest.mark.parametrize("config", list(CONFIGS))
def test_random_layers(config):
    _run_cases(config, make_cases(config))


@pytest.mark.parametrize("config", list(S_CONFIGS))
def test_random_layers_s_slots(config):
    """S slots per cycle: L < S, L not a multiple of S, several readouts in one cycle, read-bound
    beats, plus the layer shapes of the S = 1 categories."""
    cases = make_cases(config, S_LAYERS_PER_CONFIG, 3000, S_CONFIGS, S_CATEGORIES)
    _run_cases(config, cases, S_CONFIGS)


def test_s_layers_cover_every_s_category():
    seen = {cat: 0 for cat in S_CATEGORIES}
    two_samples_in_a_cycle = 0
    for config, xpu in S_CONFIGS.items():
        for case in make_cases(config, S_LAYERS_PER_CONFIG, 3000, S_CONFIGS, S_CATEGORIES):
            for cat in S_CATEGORIES:
                seen[cat] += _covers(cat, case.run, xpu)
            slots = timing.sample_slots(case.run.spec, xpu, case.run.mem)
            cycles = slots // xpu.symbols_per_cycle
            two_samples_in_a_cycle += bool(len(cycles) > len(set(cycles.tolist())))
    missing = [cat for cat, count in seen.items() if count == 0]
    assert not missing, f"categories never exercised: {missing} ({seen})"
    assert two_samples_in_a_cycle >= 4


@pytest.mark.slow
@pytest.mark.parametrize("config", list(CONFIGS))
def test_random_layers_wide_sweep(config):
    """Many more seeds (``make test-slow``)."""
    _run_cases(config, make_cases(config, count=60, base=50_000))


def test_random_layers_cover_every_category():
    seen = {cat: 0 for cat in CATEGORIES}
    total = 0
    for config, xpu in CONFIGS.items():
        for case in make_cases(config):
            total += 1
            for cat in CATEGORIES:
                seen[cat] += _covers(cat, case.run, xpu)
    assert total >= 30
    missing = [cat for cat, count in seen.items() if count == 0]
    assert not missing, f"categories never exercised: {missing} ({seen})"


# Micro-cases of models/timing's docstring, run on the RTL: the hand-derived counts (cases 1-6
# weight broadcast, case 8 activation broadcast).
MICRO = [
    ("1x1 conv K=10", LayerSpec("conv", 1, 2, 10, 1), {}, WB, 16),
    ("fc K=10 x 3", LayerSpec.fc(10, 3), {}, WB, 25),
    ("3x3 C=1 read bound", LayerSpec("conv", 3, 3, 1, 1, 3, 3, padding=1), {}, WB, 41),
    ("double-buffered bands", LayerSpec("conv", 4, 1, 4, 2), {"act_buffer_depth": 1}, WB, 17),
    ("max-pool", LayerSpec("conv", 2, 4, 4, 1, pool=True), {"gamma": 1}, WB, 19),
    ("K > gamma N", LayerSpec("conv", 1, 1, 20, 1), {}, WB, 17),
    ("fc K=10 x 3 act. broadcast", LayerSpec.fc(10, 3), {}, AB, 22),
    ("1x1 conv x 3 act. broadcast", LayerSpec("conv", 1, 2, 10, 3), {}, AB, 28),
    ("fc tiled act. broadcast", LayerSpec.fc(10, 5), {"wgt_buffer_depth": 6}, AB, 27),
    ("fc tiled weight broadcast", LayerSpec.fc(10, 5), {"wgt_buffer_depth": 6}, WB, 29),
]


@pytest.mark.parametrize("name,spec,changes,dataflow,total", MICRO, ids=[m[0] for m in MICRO])
def test_micro_cases_on_rtl(name, spec, changes, dataflow, total):
    xpu = XpuParams(n_lanes=4, n_xpes=2, gamma=2, adc_bits=4).replace(**changes)
    rng = np.random.default_rng(7)
    act, weights, thr, flip = bnn.random_layer(rng, spec)
    run = LayerRun(spec, act, weights, thr, flip, name=name, dataflow=dataflow)
    got = XpuHarness(xpu).run([run])[0]
    assert got.cycles == total, f"{name}: RTL done in cycle {got.cycles}, derived {total}"
    assert_layers(xpu, [run], [got])


# One layer of each class the dataflow choice separates, on a 3-XPE XPU: fc; a conv with many
# positions and one filter; a late conv with one position row and many filters; a pooled conv;
# a conv whose weights need several tiles and whose input several bands (both walk orders).
CHOICE_XPU = XpuParams(
    n_lanes=4, n_xpes=3, gamma=2, adc_bits=4, act_buffer_depth=24, wgt_buffer_depth=16
)
CHOICE_LAYERS = [
    LayerSpec.fc(20, 7),
    LayerSpec("conv", 6, 6, 4, 1, 3, 3, padding=1),
    LayerSpec("conv", 1, 3, 8, 9),
    LayerSpec("conv", 4, 4, 4, 4, pool=True),
    LayerSpec("conv", 8, 4, 2, 5, 3, 3, padding=1),
]


def test_the_chosen_dataflow_is_never_slower_in_the_rtl():
    """Each layer run in the RTL three times: weight broadcast, activation broadcast and the
    host's choice. The choice's measured count is the smaller of the two forced ones (and every
    run is bit- and cycle-exact); the layers are not all won by the same dataflow."""
    rng = np.random.default_rng(13)
    runs = []
    for spec in CHOICE_LAYERS:
        tensors = bnn.random_layer(rng, spec)
        for dataflow in (WB, AB, "auto"):
            runs.append(LayerRun(spec, *tensors, name=f"{spec} {dataflow}", dataflow=dataflow))
    results = XpuHarness(CHOICE_XPU).run(runs)
    assert_layers(CHOICE_XPU, runs, results)
    winners = set()
    for i in range(0, len(runs), 3):
        wb, ab, auto = (r.cycles for r in results[i : i + 3])
        assert auto == min(wb, ab), (runs[i].spec, wb, ab, auto)
        winners.add(WB if wb <= ab else AB)
    assert winners == {WB, AB}


def test_back_to_back_layers_and_pcas_see_the_data():
    """Two layers on one XPU; the ideal PCA must have counted something (non-trivial run)."""
    xpu = CONFIGS["n4m2g2"]
    rng = np.random.default_rng(3)
    specs = [
        LayerSpec("conv", 3, 3, 5, 2, 3, 3, padding=1, output="int"),
        LayerSpec("conv", 4, 4, 3, 3, 2, 2, stride=2),
    ]
    runs = [LayerRun(s, *bnn.random_layer(rng, s), name=str(s)) for s in specs]
    results = XpuHarness(xpu).run(runs)
    assert_layers(xpu, runs, results)
    assert np.abs(results[0].output).max() > 0


def _elaborated(component):
    """Elaborate a component built only to read its properties (Amaranth warns otherwise)."""
    Fragment.get(component, None)
    return component


def test_bad_parameters_are_named():
    with pytest.raises(PresetError, match="gamma must be a positive integer, not 0"):
        XpuParams(n_lanes=4, n_xpes=2, gamma=0, adc_bits=4)
    with pytest.raises(PresetError, match="adc_bits"):
        XpuParams(n_lanes=16, n_xpes=2, gamma=2, adc_bits=4)
    with pytest.raises(TypeError, match="xpu must be an XpuParams"):
        Xpu(xpu={"n_lanes": 4})
    with pytest.raises(ValueError, match="depth must be a positive integer, not 0"):
        PcaReadout(xpu=CONFIGS["n4m2g2"], depth=0)
    harness = XpuHarness(CONFIGS["n4m2g2"])
    spec = LayerSpec.fc(100, 2)  # 25 words per filter > 16 words per weight bank
    with pytest.raises(TilingError, match="weight bank"):
        harness.run(
            [
                LayerRun(
                    spec,
                    np.zeros(100, np.uint8),
                    np.zeros((2, 100), np.uint8),
                    np.zeros(2, np.int64),
                )
            ]
        )


@pytest.mark.parametrize(
    "preset,spec",
    [
        ("oxbnn50-s1", LayerSpec("conv", 6, 5, 40, 3, 3, 3, padding=1, pool=True)),
        ("oxbnn5-s1", LayerSpec("conv", 6, 6, 64, 2, 3, 3, stride=2, padding=1)),
    ],
)
def test_preset_sized_xpus(preset, spec):
    """The presets' own XPUs (N = M = 19 and 53) on small layers: wide datapaths work too."""
    from oxbnn.models.derive import xpu_params

    xpu = xpu_params(preset)
    rng = np.random.default_rng(11)
    run = LayerRun(spec, *bnn.random_layer(rng, spec), name=f"{preset}: {spec}")
    got = XpuHarness(xpu).run([run])[0]
    assert_layers(xpu, [run], [got])


def _scored_run():
    """A small integer-output layer with results in several cycles, run on the RTL."""
    xpu = XpuParams(n_lanes=4, n_xpes=2, gamma=2, adc_bits=4)
    spec = LayerSpec("conv", 2, 2, 10, 3, output="int")
    run = LayerRun(spec, *bnn.random_layer(np.random.default_rng(5), spec), name="scored")
    return xpu, run, XpuHarness(xpu).run([run])[0]


def test_scoreboard_names_what_is_wrong():
    """The scoreboard catches one wrong output, one cycle too many and one misplaced strobe."""
    xpu, run, got = _scored_run()
    good = check_layer(xpu, run, got)
    assert good.ok and good.match_golden and good.cycles_match, good.problems
    assert check_layer(xpu, run, got.as_dict()).ok  # a Cosim result dict reads the same

    output = got.output.copy()
    output[1, 0, 2] += 1
    bad = check_layer(xpu, run, replace(got, output=output))
    assert (bad.output_errors, bad.outputs) == (1, 12) and len(bad.problems) == 1
    assert "(y, x, c) = (1, 0, 2)" in bad.problems[0], bad.problems
    assert f"taken in cycle {got.output_cycle[1, 0, 2]}" in bad.problems[0], bad.problems
    physical = check_layer(xpu, run, replace(got, output=output), optics="physical")
    assert physical.ok and physical.output_errors == 1 and physical.bit_error_rate == 1 / 12

    late = check_layer(xpu, run, replace(got, cycles=got.cycles + 1))
    assert not late.cycles_match and "done in cycle" in late.problems[0], late.problems

    moved = [*got.sample_slots[:2], got.sample_slots[2] + 1, *got.sample_slots[3:]]
    strobe = check_layer(xpu, run, replace(got, sample_slots=moved))
    assert strobe.problems == (  # S = 1: slot index = cycle, slot 0
        f"scored: pca_sample #2 in cycle {moved[2]} slot 0, models/timing predicts cycle "
        f"{got.sample_slots[2]} slot 0 ({len(moved)} measured, {len(moved)} predicted)",
    )
    missing = check_layer(xpu, run, replace(got, reset_slots=got.reset_slots[:-1]))
    assert "pca_reset #" in missing.problems[0] and "missing" in missing.problems[0]
    flagged = check_layer(xpu, run, replace(got, error=True))
    assert flagged.problems == ("scored: the XPU flagged an unexpected ADC code",)


def test_scoreboard_bounds_stalled_runs():
    """Under back-pressure the count is only bounded below by the cycle model."""
    xpu, run, got = _scored_run()
    slow = replace(run, ready_probability=0.5)
    assert check_layer(xpu, slow, replace(got, cycles=got.cycles + 7, sample_slots=[])).ok
    early = check_layer(xpu, slow, replace(got, cycles=got.cycles - 1))
    assert "before the no-stall prediction" in early.problems[0], early.problems
