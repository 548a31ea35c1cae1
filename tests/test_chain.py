"""Layer chaining on one XPU: the descriptor queue, the prefetch of the next layer's tiles and
thresholds, against the golden model and :func:`oxbnn.models.timing.chain_cycles`.

Every chain runs on the RTL (Amaranth's simulator) through the queue, and each layer's output
must equal the golden model's and each layer's cycles, strobes, start and take cycle the chain
model's. The cycle counts in the hand-worked case come from the schedule in
``models/timing.py`` worked by hand, not from a run.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_xpu import CONFIGS, make_cases

from oxbnn.models import bnn, timing
from oxbnn.models.configs import XpuParams
from oxbnn.models.digits import load_params, load_split
from oxbnn.models.layer import LayerSpec
from oxbnn.models.network import layer_input
from oxbnn.models.timing import MemoryModel
from oxbnn.testbenches.pysim_harness import XpuHarness
from oxbnn.testbenches.scoreboard import assert_chain
from oxbnn.testbenches.stimulus import LayerRun

SMALL = XpuParams(n_lanes=4, n_xpes=2, gamma=2, adc_bits=4)


def _chain_of(config: str, count: int, base: int, mem: MemoryModel) -> list[LayerRun]:
    """``count`` random layers of the XPU test generator (no back-pressure: the chain's counts
    are then exact), all on one memory model."""
    runs = []
    for case in make_cases(config, count=count * 2, base=base):
        if case.category == "back-pressure" or len(runs) == count:
            continue
        run = case.run
        run.mem = mem
        try:  # the chain's memory model may change nothing the plan needs: re-check it maps
            timing.layer_cycles(run.spec, CONFIGS[config], mem, dataflow=run.dataflow)
        except Exception:
            continue
        runs.append(run)
    return runs


@pytest.mark.parametrize("config", list(CONFIGS))
def test_random_chains_are_bit_and_cycle_exact(config):
    """Six random layers of each test XPU (tiled layers, both dataflows and walks, pooling,
    integer outputs) run as one chain: each layer equals the golden model and its schedule in
    the chain model; the chain is shorter than the layers one at a time."""
    xpu = CONFIGS[config]
    mem = MemoryModel(1 + list(CONFIGS).index(config) % 3, 1 + list(CONFIGS).index(config) % 2)
    runs = _chain_of(config, 6, 5000, mem)
    assert len(runs) == 6
    chain = XpuHarness(xpu).run_chain(runs, max_cycles=100_000)
    model = assert_chain(xpu, runs, chain, where=f"chain on {config}")
    alone = sum(timing.layer_cycles(r.spec, xpu, mem, dataflow=r.dataflow, walk=r.walk).total
                for r in runs)  # fmt: skip
    assert model.total < alone
    # The queue really overlapped: some layer after the first was taken before it started.
    assert any(t < s for t, s in zip(model.taken[1:], model.starts[1:], strict=True))


def _flatten(k: int, out: np.ndarray) -> np.ndarray:
    """The host's reshaping of a layer's output into the next layer's input: an fc layer takes
    the whole map as one pixel."""
    return out.reshape(1, 1, -1) if CHAIN_NET[k].kind == "fc" else out


# A small network, each layer's input the previous one's output: conv, pooled conv, fc, fc.
CHAIN_NET = [
    LayerSpec("conv", 6, 6, 3, 6, 3, 3, padding=1),
    LayerSpec("conv", 6, 6, 6, 8, 3, 3, padding=1, pool=True),
    LayerSpec.fc(72, 10),
    LayerSpec.fc(10, 4, output="int"),
]


def test_a_dependent_chain_feeds_each_output_to_the_next_layer():
    """The host streams each layer's activations from the RTL's own output of the layer before
    (so they load only once it is done) while the queue prefetches the weights and thresholds:
    bit-exact layer by layer against the golden chain, cycle-exact against the dependent chain
    model, and faster than without the queue."""
    xpu = XpuParams(
        n_lanes=4, n_xpes=2, gamma=2, adc_bits=6, act_buffer_depth=64, wgt_buffer_depth=64
    )
    rng = np.random.default_rng(21)
    runs = []
    for i, spec in enumerate(CHAIN_NET):
        act, weights, thr, flip = bnn.random_layer(rng, spec)
        runs.append(LayerRun(spec, act, weights, thr, flip, name=f"net layer {i}"))
    chain = XpuHarness(xpu).run_chain(runs, next_input=_flatten)
    model = assert_chain(xpu, runs, chain, next_input=_flatten, where="dependent chain")
    alone = sum(timing.layer_cycles(r.spec, xpu).total for r in runs)
    assert model.total < alone
    # The dependent model is slower than prefetching the activations too (they exist only later).
    assert timing.chain_cycles([b.plan for b in model.layers]).total < model.total


def test_two_fc_layers_by_hand():
    """Micro-case 10 of models/timing.py: case 2's layer (fc, K = 10, 3 filters) twice. Alone
    each is done in 25. Chained, the second is taken in 5 (once the first's 3 thresholds are
    stored, in 4), its thresholds are stored by 5 + 1 + 1 + 2 = 9; its activations (3 words)
    are requested once the first's are complete (4), in 6 (the cycle after it is taken): complete
    in 9; its weights (9 words) once the first's are complete (10), in 11: complete in 20. It
    starts in the first's done, 25, issues from 27 (the cycle after its ``first``) to 35, and
    is done in 35 + 6 = 41, so 16 of its own cycles: the chain takes 41 against 50."""
    spec = LayerSpec.fc(10, 3)
    plan = timing.layer_cycles(spec, SMALL, dataflow="weight_broadcast").plan
    model = timing.chain_cycles([plan, plan])
    assert model.taken == (0, 5) and model.starts == (0, 25) and model.total == 41
    assert [b.total for b in model.layers] == [25, 16]
    assert model.loaded[1] == {"thr": 9, "act": 9, "wgt": 20}
    assert model.prefetched(1) == {"thr": True, "act": True, "wgt": True}
    rng = np.random.default_rng(5)
    runs = [
        LayerRun(spec, *bnn.random_layer(rng, spec), name=f"fc {i}", dataflow="weight_broadcast")
        for i in range(2)
    ]
    chain = XpuHarness(SMALL).run_chain(runs)
    assert chain.taken == [0, 5] and chain.starts == [0, 25]
    assert [r.cycles for r in chain.results] == [25, 16]
    assert_chain(SMALL, runs, chain)


def test_layers_with_their_own_memory_and_held_activations():
    """Each layer served by its own memory model, and the second's activations held until the
    first is done (``dependent`` without a data dependence, as the system model's chain times
    a share): bit- and cycle-exact against the chain model with the same per-layer memories."""
    rng = np.random.default_rng(8)
    specs = [
        LayerSpec("conv", 3, 4, 5, 3, 3, 3, padding=1),
        LayerSpec.fc(12, 5),
        LayerSpec.fc(9, 2),
    ]
    runs = [
        LayerRun(s, *bnn.random_layer(rng, s), mem=MemoryModel(1 + i, 2 - i % 2), name=f"l{i}")
        for i, s in enumerate(specs)
    ]
    dependent = [False, True, False]
    chain = XpuHarness(SMALL).run_chain(runs, dependent=dependent)
    model = assert_chain(SMALL, runs, chain, dependent=dependent)
    free = timing.chain_cycles([b.plan for b in model.layers], [r.mem for r in runs])
    assert free.total < model.total  # holding the activations costs cycles


def test_bad_chains_are_named():
    with pytest.raises(ValueError, match="at least one layer"):
        timing.chain_cycles([])
    plan = timing.layer_cycles(LayerSpec.fc(10, 3), SMALL).plan
    with pytest.raises(ValueError, match="2 layers, 1 memory models and 2 dependent flags"):
        timing.chain_cycles([plan, plan], [MemoryModel()])


def test_the_trained_digits_network_chained():
    """The trained digits BNN on a test image, its three layers one dependent chain
    (each layer's input formed from the RTL's own output of the one before): the logits equal
    the golden network's, and every layer's cycles the dependent chain model's."""
    net = load_params()
    images = net.binarize(load_split().test_images[:1])
    xpu = XpuParams(
        n_lanes=8, n_xpes=4, gamma=4, adc_bits=6, act_buffer_depth=256, wgt_buffer_depth=512
    )
    specs = [layer.spec for layer in net.network]

    def next_input(k, out):
        return layer_input(specs[k], out)

    for i, image in enumerate(images):
        runs = [
            LayerRun(layer.spec, image if k == 0 else None, layer.weights, layer.thresholds,
                     layer.flip, name=f"digits image {i} layer {k}")
            for k, layer in enumerate(net.network)
        ]  # fmt: skip
        chain = XpuHarness(xpu).run_chain(runs, next_input=next_input)
        assert_chain(xpu, runs, chain, next_input=next_input, where=f"digits image {i}")
        assert np.array_equal(chain.results[-1].output.reshape(-1), net.forward_golden(image))
