"""The chip of X XPUs (rtl/chip.py): bit-exact against the golden model of the whole layer and
cycle-exact against :func:`oxbnn.models.timing.chip_cycles`, with and without contention for
the global buffer's ports, with random memory stalls, on random layers and on the trained
digits network. The hand-worked arbiter case comes from the arbitration rule in
``models/timing.py`` worked by hand, not from a run.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from amaranth.sim import Simulator
from test_xpu import CONFIGS, make_cases

from oxbnn.models import bnn, timing
from oxbnn.models.chip import ChipError, ChipParams, chip_layer, choose_split, split_layer
from oxbnn.models.configs import XpuParams
from oxbnn.models.digits import load_params, load_split
from oxbnn.models.layer import LayerSpec
from oxbnn.models.network import layer_input
from oxbnn.rtl.chip import RoundRobin
from oxbnn.testbenches.chip_tb import ChipHarness, check_chip
from oxbnn.testbenches.stimulus import LayerRun

XPU = CONFIGS["n4m2g2"]


def _random_runs(config: str, count: int, base: int) -> list[LayerRun]:
    """``count`` random layers of the XPU test generator (the host's back-pressure category
    dropped: the chip's result sinks are always ready unless a test says otherwise)."""
    cases = [c for c in make_cases(config, count=count + 4, base=base)
             if c.category != "back-pressure"]  # fmt: skip
    return [c.run for c in cases[:count]]


def _assert_runs(chip: ChipParams, runs, splits=None):
    results = ChipHarness(chip).run(runs, splits)
    problems = [p for r, (lay, got) in zip(runs, results, strict=True)
                for p in check_chip(r, lay, got)]  # fmt: skip
    assert not problems, "\n".join(problems)
    return results


@pytest.mark.parametrize("ports", [None, 2, 1])
def test_random_layers_on_a_chip_of_four(ports):
    """Twelve random layers on X = 4 (tiled layers, both dataflows and walks, pooling, padding,
    integer outputs), each split as the host picks: the outputs equal the golden model's and
    the chip's and every XPU's cycles the chip model's, from P = X + 1 ports (no contention) to
    one port (every channel waits for it)."""
    chip = ChipParams(XPU, 4, gb_depth=4096, gb_ports=ports)
    runs = _random_runs("n4m2g2", 12, 7000)
    results = _assert_runs(chip, runs)
    splits = {lay.split for lay, _ in results}
    assert any(gc > 1 for gc, _ in splits) and any(gs > 1 for _, gs in splits)
    if ports == 1:  # contention really happened, and the model really counted it
        assert all(lay.cycles.contended for lay, _ in results if lay.cycles.channels > 1)
        assert sum(lay.cycles.waits for lay, _ in results) > 100
    if ports is None:
        assert not any(lay.cycles.contended for lay, _ in results)


@pytest.mark.parametrize(("config", "x"), [("n5m3g3", 3), ("n8m4g2", 8), ("n6m3g2", 2)])
def test_memory_stalls_only_delay_the_chip(config, x):
    """Other XPUs and chip sizes, half of the layers with the global buffer stalled at random
    (15 % of cycles): always bit-exact; a stalled layer is no earlier than the model's count
    and later by at most its stall cycles; the others are exact."""
    chip = ChipParams(CONFIGS[config], x, gb_depth=4096, gb_ports=2)
    runs = [dataclasses.replace(r, stall_probability=0.15 if i % 2 else 0.0)
            for i, r in enumerate(_random_runs(config, 6, 7100))]  # fmt: skip
    results = _assert_runs(chip, runs)
    stalled = [(lay, got) for r, (lay, got) in zip(runs, results, strict=True) if r.stalls]
    assert sum(got.stall_cycles for _, got in stalled) > 0
    for lay, got in stalled:
        assert lay.cycles.total <= got.cycles <= lay.cycles.total + got.stall_cycles


def test_every_split_runs_as_the_model_says_and_the_chosen_is_fastest():
    """One padded (+1) conv under every split of X = 4: each bit-exact and cycle-exact; the
    split the host picks is the fastest of them, in the model and in the RTL."""
    spec = LayerSpec("conv", 8, 6, 6, 6, 3, 3, padding=1, pad="+1")
    rng = np.random.default_rng(3)
    tensors = bnn.random_layer(rng, spec)
    xpu = dataclasses.replace(XPU, act_buffer_depth=96)  # a band of 1 row is 48 words
    chip = ChipParams(xpu, 4, gb_depth=4096, gb_ports=3)
    splits = [(gc, gs) for gc in range(1, 5) for gs in range(1, 5) if gc * gs <= 4]
    runs = [LayerRun(spec, *tensors, name=f"split {s}") for s in splits]
    results = _assert_runs(chip, runs, splits)
    rtl = {s: got.cycles for s, (_, got) in zip(splits, results, strict=True)}
    best = choose_split(spec, chip)
    assert rtl[best.split] == min(rtl.values()) == best.cycles.total
    assert len(set(rtl.values())) > 2  # the splits really differ


def test_arbiter_by_hand():
    """Two channels with one 3-word load each, requested in cycles 1 and 2, one read port.

    By the rule (grant the first asker from the one after the last granted; a load ends the
    cycle after its last grant): cycle 1, only 0 asks -> 0 (pointer 1); 2, both ask, from 1 ->
    1 (pointer 0); 3 -> 0; 4 -> 1; 5 -> 0, its last word (ends in 6); 6, only 1 -> its last
    (ends in 7). One channel waits in each of cycles 2 to 5. With two ports nobody waits:
    0 is granted in 1, 2, 3 (ends in 4) and 1 in 2, 3, 4 (ends in 5)."""
    ends, waits = timing._arbitrate({0: [(1, 3)], 1: [(2, 3)]}, 2, 1)
    assert ends == {0: [6], 1: [7]}
    assert waits == 4  # cycles 2, 3, 4, 5: one channel waits in each
    ends, waits = timing._arbitrate({0: [(1, 3)], 1: [(2, 3)]}, 2, 2)
    assert ends == {0: [4], 1: [5]} and waits == 0


def _round_robin(reqs, n, ports):
    """The arbitration rule, serially: rank the asking requesters from the one after the last
    granted (from 0 at first), grant the first ``ports`` of them."""
    start, out = 0, []
    for req in reqs:
        ranked = sorted((c for c in range(n) if req >> c & 1), key=lambda c: (c - start) % n)
        out.append(ranked[:ports])
        if ranked:
            start = (ranked[:ports][-1] + 1) % n
    return out


@pytest.mark.parametrize(("n", "ports"), [(2, 1), (4, 3), (6, 2), (8, 5), (16, 9), (5, 5)])
def test_the_arbiter_rtl_follows_the_rule(n, ports):
    """``RoundRobin`` on 200 random request vectors (restarted once in the middle) grants,
    port by port, the requesters the serial rule ranks first."""
    rnd = np.random.default_rng(n * 100 + ports)
    reqs = [int(v) for v in rnd.integers(0, 1 << n, size=200)]
    want = _round_robin(reqs[:100], n, ports) + _round_robin(reqs[100:], n, ports)
    dut = RoundRobin(n=n, ports=ports)
    got = []

    async def tb(ctx):
        for t, req in enumerate(reqs):
            ctx.set(dut.req, req)
            ctx.set(dut.restart, t == 99)
            grants = [ctx.get(dut.grant[k]) for k in range(ports)]
            assert all(g & (g - 1) == 0 for g in grants), f"cycle {t}: not one-hot {grants}"
            got.append([g.bit_length() - 1 for g in grants if g])
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-9)
    sim.add_testbench(tb)
    sim.run()
    assert got == want


def test_the_trained_digits_network_on_a_chip():
    """The trained digits BNN on two test images, layer by layer on a chip of X = 4 (its
    conv split by output channels, its dark padding admitting no row bands, its fc layers over
    the XPUs by channels), each layer's input formed from the chip's own output of the one
    before: every layer bit- and cycle-exact, and the logits the golden network's."""
    net = load_params()
    images = net.binarize(load_split().test_images[:2])
    xpu = XpuParams(
        n_lanes=8, n_xpes=4, gamma=4, adc_bits=6, act_buffer_depth=256, wgt_buffer_depth=512
    )
    chip = ChipParams(xpu, 4, gb_depth=8192)
    for i, image in enumerate(images):
        act = image
        for k, layer in enumerate(net.network):
            name = f"digits image {i} layer {k}"
            run = LayerRun(layer.spec, layer_input(layer.spec, act), layer.weights,
                           layer.thresholds, layer.flip, name=name)  # fmt: skip
            ((lay, got),) = _assert_runs(chip, [run])
            assert lay.cycles.busy_xpus > 1
            act = got.output
        assert np.array_equal(act.reshape(-1), net.forward_golden(image))


def test_the_chip_is_faster_than_one_xpu():
    """A conv that fills one XPU: on X = 4 its count is below 1/3.5 of one XPU's."""
    spec = LayerSpec("conv", 10, 8, 4, 8, 3, 3, padding=1, pad="-1")
    xpu = dataclasses.replace(XPU, act_buffer_depth=96)
    one = timing.layer_cycles(spec, xpu, timing.GB_MEMORY).total
    four = choose_split(spec, ChipParams(xpu, 4)).cycles.total
    assert four * 3.5 < one


def test_bad_chips_and_splits_are_named():
    with pytest.raises(ChipError, match="n_xpus must be a positive integer"):
        ChipParams(XPU, 0)
    with pytest.raises(ChipError, match="n_xpus must be at most 16"):
        ChipParams(XPU, 17)
    with pytest.raises(ChipError, match="gb_ports must be an integer in 1 .. 2 \\* n_xpus = 4"):
        ChipParams(XPU, 2, gb_ports=5)
    with pytest.raises(ChipError, match="xpu must be an XpuParams"):
        ChipParams("n4m2g2", 2)
    conv = LayerSpec("conv", 6, 6, 3, 4, 3, 3, padding=1)
    with pytest.raises(ChipError, match="cannot be split into row bands"):
        split_layer(conv, 1, 2)
    with pytest.raises(ChipError, match="row_shares must be an integer in 1 .. 6"):
        split_layer(dataclasses.replace(conv, pad="+1"), 1, 7)
    with pytest.raises(ChipError, match="channel_shares must be an integer in 1 .. 4"):
        split_layer(conv, 0, 1)
    with pytest.raises(ChipError, match="needs 4 XPUs; the chip has 2"):
        chip_layer(conv, ChipParams(XPU, 2), (4, 1))
    with pytest.raises(ChipError, match="the global buffer holds gb_depth = 16"):
        chip_layer(conv, ChipParams(XPU, 2, gb_depth=16), (2, 1))
    with pytest.raises(ValueError, match="must hold each busy XPU"):
        plan = timing.layer_cycles(conv, XPU).plan
        timing.chip_cycles([plan, plan], act_groups=[[0]], wgt_groups=[[0], [1]], gb_ports=2)
