"""The per-layer lower bound (models/bounds.py): hand-worked micro layers, and a property test
that no schedule the cycle model counts (the RTL's) is below it.

Every expected value is worked out here from the definitions in the module docstring (N = 4,
M = 2, gamma = 2, ADC latency 2 unless stated; ``fixed = RUN_START_CYCLE + (lat + 1) +
ISSUE_TO_PORT_CYCLES + adc_latency + CODE_TO_RESULT_CYCLES + RESULT_TO_DONE_CYCLES = 1 + (lat +
1) + 2 + 2 + 1 + 1``, i.e. 9 at memory latency 1).
"""

from __future__ import annotations

import numpy as np
import pytest

from oxbnn.models import timing
from oxbnn.models.bounds import (
    LowerBound,
    computed_outputs,
    fixed_cycles,
    layer_lower_bound,
    stream_words,
)
from oxbnn.models.configs import XpuParams
from oxbnn.models.layer import LayerError, LayerSpec
from oxbnn.models.tiling import DATAFLOWS, TilingError
from oxbnn.models.timing import MemoryModel, layer_cycles

XPU = XpuParams(n_lanes=4, n_xpes=2, gamma=2, adc_bits=5)


def conv(h, w, c, f, k=1, stride=1, padding=0, **kw) -> LayerSpec:
    return LayerSpec("conv", h, w, c, f, k, k, stride, padding, **kw)


def _counts(spec, xpu, mem=None) -> list[int]:
    """The cycle model's count of ``spec`` by default and with every dataflow that maps it."""
    out = [layer_cycles(spec, xpu, mem).total]
    for name in DATAFLOWS:
        try:
            out.append(layer_cycles(spec, xpu, mem, dataflow=name).total)
        except TilingError:  # not built, or this layer does not map with it
            pass
    return out


def test_lower_bound_is_the_largest_term():
    b = LowerBound(compute=5, memory=9, fixed=9)
    assert b.cycles == 9
    assert b.terms == {"compute": 5, "memory": 9, "fixed": 9}
    assert b.binding == "memory"  # ties go to the first term in the order reported
    assert b.efficiency(18) == 2.0
    with pytest.raises(AttributeError):
        b.compute = 1  # frozen


def test_1x1_conv():
    # 1 x 2 x 10, one filter: L = ceil(10/4) = 3 chunks; 2 outputs x 3 chunks on 2 x 1 places.
    spec = conv(1, 2, 10, 1)
    b = layer_lower_bound(spec, XPU)
    # Activations: 2 pixels x 3 words; weights 1 x 3; thresholds 1.
    assert stream_words(spec, XPU) == {"activations": 6, "weights": 3, "thresholds": 1}
    assert (b.compute, b.memory, b.fixed) == (3, 6, 9)
    assert b.cycles == 9 and b.binding == "fixed"
    # Memory latency 3, two cycles per word: 6 words x 2; fixed 1 + 4 + 2 + 2 + 1 + 1.
    b = layer_lower_bound(spec, XPU, MemoryModel(latency_cycles=3, cycles_per_word=2))
    assert (b.compute, b.memory, b.fixed) == (3, 12, 11)
    assert all(b.cycles <= n for n in _counts(spec, XPU, MemoryModel(3, 2)))


def test_fc_layer_and_symbols_per_cycle():
    # K = 10, 3 outputs: L = 3; activations ceil(10/4) = 3 words, weights 3 x 3 = 9.
    spec = LayerSpec.fc(10, 3)
    b = layer_lower_bound(spec, XPU)
    assert stream_words(spec, XPU) == {"activations": 3, "weights": 9, "thresholds": 3}
    assert (b.compute, b.memory, b.fixed) == (5, 9, 9)  # compute ceil(3 * 3 / 2)
    assert b.binding == "memory"
    # S = 2: four places a cycle, ceil(9 / 4) = 3.
    b2 = layer_lower_bound(spec, XPU.replace(symbols_per_cycle=2))
    assert b2.compute == 3
    assert all(b.cycles <= n for n in _counts(spec, XPU))


def test_padded_3x3_conv():
    # 3 x 3 x 1, padding 1, one filter: 3 x 3 outputs, K = 9, L = 3: ceil(9 * 3 / 2) = 14.
    spec = conv(3, 3, 1, 1, k=3, padding=1)
    b = layer_lower_bound(spec, XPU)
    # Every pixel is read; a 1-channel pixel is one word; padding is not stored.
    assert stream_words(spec, XPU) == {"activations": 9, "weights": 3, "thresholds": 1}
    assert (b.compute, b.memory, b.fixed) == (14, 9, 9)
    assert b.binding == "compute"
    assert all(b.cycles <= n for n in _counts(spec, XPU))


def test_pixels_no_window_reads_are_not_counted():
    # 3 x 3, stride 2, no padding on 4 x 4 x 4: one output, its window rows/cols 0..2: 9 pixels.
    spec = conv(4, 4, 4, 1, k=3, stride=2)
    assert stream_words(spec, XPU)["activations"] == 9
    # 1 x 1, stride 2 on 4 x 4 x 4: outputs read rows and columns 0 and 2: 4 pixels.
    spec = conv(4, 4, 4, 1, stride=2)
    assert stream_words(spec, XPU)["activations"] == 4
    # Memory-bound (4 cycles a word): 8 x 8 x 4, 1 x 1 stride 2 reads 16 of the 64 pixels.
    spec, mem = conv(8, 8, 4, 1, stride=2), MemoryModel(latency_cycles=3, cycles_per_word=4)
    b = layer_lower_bound(spec, XPU, mem)
    assert b.memory == 16 * 4
    assert all(b.cycles <= n for n in _counts(spec, XPU, mem))


def test_pooled_layer():
    # 2 x 4 x 4 1 x 1 conv, one filter, pooled to 1 x 2 (gamma = 1): 8 outputs computed, L = 1.
    xpu = XPU.replace(gamma=1)
    spec = conv(2, 4, 4, 1, pool=True)
    b = layer_lower_bound(spec, xpu)
    assert computed_outputs(spec) == 8
    assert stream_words(spec, xpu) == {"activations": 8, "weights": 1, "thresholds": 1}
    assert (b.compute, b.memory, b.fixed) == (4, 8, 9)
    assert all(b.cycles <= n for n in _counts(spec, xpu))
    # An odd output (3 x 5) pooled drops its last row and column: 2 x 4 positions computed and
    # read, 3 filters: 24 outputs of one chunk, ceil(24 / 2) = 12; 8 pixels of one word.
    spec = conv(3, 5, 4, 3, pool=True)
    b = layer_lower_bound(spec, xpu)
    assert computed_outputs(spec) == 24
    assert stream_words(spec, xpu)["activations"] == 8
    assert (b.compute, b.memory) == (12, 8)  # activations 8, weights 3 x 1, thresholds 3
    # 5 x 5 x 64 -> 20 pooled: 4 x 4 of the 5 x 5 positions, L = 16: 16 x 20 x 16 / 2 = 2560
    # (with all 25 positions it would be 4000, above the count).
    spec = conv(5, 5, 64, 20, pool=True)
    b = layer_lower_bound(spec, XPU)
    assert b.compute == 2560
    assert all(b.cycles <= n for n in _counts(spec, XPU))


def test_bit_and_int_outputs():
    bit, intl = LayerSpec.fc(10, 3), LayerSpec.fc(10, 3, output="int")
    assert stream_words(bit, XPU)["thresholds"] == 3
    assert stream_words(intl, XPU)["thresholds"] == 0
    # Weights dominate the memory either way.
    assert layer_lower_bound(bit, XPU) == layer_lower_bound(intl, XPU)
    # Everything else on chip: the bit layer still loads its 3 thresholds (and pays the first
    # load's latency + 1 = 2 in its fixed term); the int layer loads nothing: fixed 1 + 2 + 2 +
    # 1 + 1 = 7, compute 5.
    kw = {"activations_on_chip": True, "weights_on_chip": True}
    assert layer_lower_bound(bit, XPU, **kw) == LowerBound(compute=5, memory=3, fixed=9)
    assert layer_lower_bound(intl, XPU, **kw) == LowerBound(compute=5, memory=0, fixed=7)


def test_on_chip_flags():
    # The 1 x 2 x 10 conv with a slow memory (latency 5, 3 cycles a word): act 6, wgt 3, thr 1.
    spec, mem = conv(1, 2, 10, 1), MemoryModel(latency_cycles=5, cycles_per_word=3)
    assert layer_lower_bound(spec, XPU, mem).memory == 6 * 3
    assert layer_lower_bound(spec, XPU, mem, activations_on_chip=True).memory == 3 * 3
    assert layer_lower_bound(spec, XPU, mem, weights_on_chip=True).memory == 6 * 3
    both = layer_lower_bound(spec, XPU, mem, activations_on_chip=True, weights_on_chip=True)
    assert (both.memory, both.fixed) == (1 * 3, 1 + 6 + 2 + 2 + 1 + 1)


def test_slow_words_count_at_most_latency_plus_one():
    # Words 20 cycles apart but a new request's first word 1 + 1 cycles after it: 8 bands of one
    # 8-word row each restart the stream, so 64 x 20 = 1280 is above the real count; the term
    # takes min(20, 1 + 1) = 2 cycles a word.
    xpu, mem = XPU.replace(act_buffer_depth=8), MemoryModel(latency_cycles=1, cycles_per_word=20)
    spec = conv(8, 8, 4, 1)
    b = layer_lower_bound(spec, xpu, mem)
    assert b.memory == 64 * 2
    counts = _counts(spec, xpu, mem)
    assert all(b.cycles <= n < 64 * 20 for n in counts), counts


@pytest.mark.parametrize("lat", [1, 2, 7])
@pytest.mark.parametrize("output", ["bit", "int"])
def test_fixed_term_is_the_count_of_the_least_layer(lat, output):
    """A 1 x 1 x 1 fc layer: one word per stream, one vector of one beat: the count is the
    fixed term, lat + adc_latency + 6 with today's constants."""
    spec = LayerSpec.fc(1, 1, output=output)
    for xpu in (XPU, XPU.replace(symbols_per_cycle=3, adc_latency=5), XPU.replace(n_xpes=1)):
        mem = MemoryModel(latency_cycles=lat, cycles_per_word=3)
        assert fixed_cycles(xpu, mem) == lat + xpu.adc_latency + 6
        b = layer_lower_bound(spec, xpu, mem)
        assert b.fixed == fixed_cycles(xpu, mem) == b.cycles
        assert set(_counts(spec, xpu, mem)) == {b.fixed}


def _random_layer(rng: np.random.Generator) -> LayerSpec:
    if rng.random() < 0.3:
        out = str(rng.choice(["bit", "int"]))
        return LayerSpec.fc(int(rng.integers(1, 40)), int(rng.integers(1, 10)), output=out)
    k = int(rng.choice([1, 2, 3]))
    pool = bool(rng.random() < 0.3)
    return conv(
        int(rng.integers(1, 9)),
        int(rng.integers(1, 9)),
        int(rng.integers(1, 13)),
        int(rng.integers(1, 6)),
        k=k,
        stride=int(rng.choice([1, 2])),
        padding=int(rng.integers(0, k)),
        output="bit" if pool else str(rng.choice(["bit", "int"])),
        pool=pool,
    )


@pytest.mark.parametrize("s", [1, 2, 3])
def test_bound_is_below_every_count(s):
    """~100 random small layers per S, buffers small enough to tile, memories of several
    latencies and rates: every term is at most the cycle model's count (the RTL's), by default
    and for every dataflow that maps the layer."""
    rng = np.random.default_rng(13 + s)
    checked, binding = 0, set()
    while checked < 100:
        xpu = XpuParams(
            n_lanes=4,
            n_xpes=int(rng.integers(1, 4)),
            gamma=2,
            adc_bits=5,
            symbols_per_cycle=s,
            adc_latency=int(rng.integers(1, 4)),
            act_buffer_depth=int(rng.choice([16, 64, 512])),
            wgt_buffer_depth=int(rng.choice([8, 64, 512])),
        )
        mem = MemoryModel(int(rng.integers(1, 5)), int(rng.integers(1, 7)))
        try:
            spec = _random_layer(rng)
            counts = _counts(spec, xpu, mem)
        except (LayerError, TilingError):
            continue
        b = layer_lower_bound(spec, xpu, mem)
        for n in counts:
            assert max(b.terms.values()) == b.cycles <= n, (spec, xpu, mem, b, n)
        binding.add(b.binding)
        checked += 1
    assert binding == {"compute", "memory", "fixed"}  # the draw exercises every term


def test_bound_rejects_what_is_not_a_layer():
    with pytest.raises(TypeError):
        layer_lower_bound("fc", XPU)
    with pytest.raises(TypeError):
        layer_lower_bound(LayerSpec.fc(4, 1), "xpu")


def test_bench_efficiency_runs_and_the_choice_is_never_slower(capsys):
    """tools/bench_efficiency.py on a few layers of every class: the default call (the host's
    choice of dataflow and walk) is never slower than either dataflow forced, and every ratio
    is at least 1; the text names the columns."""
    import json

    from oxbnn.tools import bench_efficiency

    assert bench_efficiency.main(["--presets", "oxbnn5", "--layers", "5"]) == 0
    out = capsys.readouterr().out
    assert "weight_broadcast" in out and "activation_broadcast" in out and "default" in out
    argv = ["--presets", "oxbnn50", "oxbnn5-s1", "--layers", "150", "--seed", "1", "--json"]
    assert bench_efficiency.main(argv) == 0
    results = json.loads(capsys.readouterr().out)["presets"]
    for result in results:
        assert result["layers_mapped"] + result["layers_skipped"] == 150
        assert result["classes"]["all"]["count"] == result["layers_mapped"]
        for row in result["layers"]:
            cycles = row["cycles"]
            forced = [cycles[d] for d in DATAFLOWS if cycles[d] is not None]
            assert cycles["default"] == min(forced) and cycles["default"] >= row["bound"], row
    classes = {row["class"] for r in results for row in r["layers"]}
    assert {"fc", "large conv"} <= classes  # both special classes are exercised


def test_a_prefetched_layer_of_a_chain_is_above_its_on_chip_bound():
    """Micro-case 10 of models/timing.py: the second fc layer, its thresholds, weights and
    activations prefetched, takes 16 cycles of its own; with every stream on chip its bound is
    compute ceil(3 x 3 / 2) = 5 and the fixed 1 + 2 + 2 + 1 + 1 = 7 (no load), and without the
    thresholds flag the 3 threshold words and the first load's latency + 1 come back."""
    spec = LayerSpec.fc(10, 3)
    plan = timing.layer_cycles(spec, XPU, dataflow="weight_broadcast").plan
    second = timing.chain_cycles([plan, plan]).layers[1].total
    kw = {"activations_on_chip": True, "weights_on_chip": True}
    on_chip = layer_lower_bound(spec, XPU, thresholds_on_chip=True, **kw)
    assert on_chip == LowerBound(compute=5, memory=0, fixed=7)
    assert layer_lower_bound(spec, XPU, **kw) == LowerBound(compute=5, memory=3, fixed=9)
    assert second == 16 >= on_chip.cycles
