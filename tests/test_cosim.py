"""cocotb co-simulation: the XPU RTL with the optical models in the loop.

Every run is checked by the one scoreboard (:mod:`oxbnn.testbenches.scoreboard`): bit for bit
against the golden BNN (:mod:`oxbnn.models.bnn`, ideal optics) and cycle for cycle against the
closed-form cycle model (:mod:`oxbnn.models.timing`: the count and every ``pca_sample`` and
``pca_reset`` strobe). The simulators build once per (simulator, XPU) under ``build/cosim`` and
are reused.

Configurations: the full oxbnn50 XPU (N = 19, M = 19) and the full oxbnn5 XPU (N = 53, M = 53;
its Verilog takes about 30 s to generate and its model 90 s to build on 2 cores) at S = 1 under
Verilator, and the shipped oxbnn5 XPU at its S = 5 in ``make test-slow``; a small N = 4, M = 2
XPU under Icarus; and small XPUs at S = 2, 3, 8 and 32 slots per cycle under Verilator
(the S = 1 runs are the ones above).

Testbenches: every Verilator run here uses the event-driven testbench
(:mod:`oxbnn.testbenches.event_tb`, the default) unless it says ``testbench="cycle"``; Icarus
runs the per-cycle cocotb one, and ``test_event_and_per_cycle_testbenches_agree`` holds the two
equal on random layers.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

from oxbnn.models import bnn
from oxbnn.models.configs import XpuParams, load_preset
from oxbnn.models.derive import xpu_params
from oxbnn.models.layer import LayerSpec
from oxbnn.models.optics import Effects
from oxbnn.models.timing import MemoryModel, chain_cycles, layer_cycles, sample_slots
from oxbnn.testbenches.cosim import Cosim, CosimError
from oxbnn.testbenches.optical_bridge import OpticalBridge
from oxbnn.testbenches.pysim_harness import XpuHarness
from oxbnn.testbenches.scoreboard import assert_chain, assert_layers, check_layer
from oxbnn.testbenches.stimulus import LayerRun
from oxbnn.testbenches.waves import events, load_trace

SEED = int(os.environ.get("SEED", "1"))
BUILD = Path(os.environ.get("OXBNN_COSIM_BUILD", "build/cosim"))


def _random_spec(
    rng: np.random.Generator, xpu, *, max_hw: int = 7, max_c: int = 40, max_out: int = 12
) -> LayerSpec:
    kind = rng.choice(["conv", "conv", "conv", "fc"])
    if kind == "fc":
        return LayerSpec.fc(
            int(rng.integers(1, 4 * xpu.n_lanes * xpu.gamma)),
            int(rng.integers(1, max_out)),
            output=str(rng.choice(["bit", "int"])),
        )
    k = int(rng.choice([1, 3]))
    pad = int(rng.integers(0, 2)) if k == 3 else 0
    stride = int(rng.choice([1, 2]))
    h = int(rng.integers(max(k - 2 * pad, 2), max_hw + 1))
    w = int(rng.integers(max(k - 2 * pad, 2), max_hw + 1))
    out = str(rng.choice(["bit", "int"]))
    spec = LayerSpec(
        kind="conv",
        height=h,
        width=w,
        in_channels=int(rng.integers(1, max_c)),
        out_channels=int(rng.integers(1, max_out)),
        kernel_h=k,
        kernel_w=k,
        stride=stride,
        padding=pad,
        output=out,
    )
    if out == "bit" and spec.out_h >= 2 and spec.out_w >= 2 and rng.random() < 0.3:
        spec = LayerSpec(**{**spec.__dict__, "pool": True})
    return spec


def _runs(xpu, seed: int, count: int, **kw) -> list[LayerRun]:
    rng = np.random.default_rng(seed)
    runs = []
    for i in range(count):
        spec = _random_spec(rng, xpu, **kw)
        act, w, thr, flip = bnn.random_layer(rng, spec)
        runs.append(LayerRun(spec, act, w, thr, flip, name=f"seed{seed}-layer{i}"))
    return runs


@pytest.fixture(scope="module")
def oxbnn50():
    xpu = xpu_params("oxbnn50-s1").replace(act_buffer_depth=256, wgt_buffer_depth=256)
    cosim = Cosim(xpu, sim="verilator", build_root=BUILD)
    cosim.build()
    return cosim


def test_oxbnn50_ideal_random_layers(oxbnn50):
    """The full 19 x 19 XPU (buffers of 256 words so that tiling happens) on random layers."""
    xpu = oxbnn50.xpu
    runs = _runs(xpu, SEED, 12, max_hw=9, max_c=70, max_out=24)
    assert_layers(xpu, runs, oxbnn50.run(runs, optics="ideal", seed=SEED))


def test_oxbnn50_backpressure_and_memory_stalls(oxbnn50):
    """Results stay bit-exact under a slow host and a stalling memory; only time is lost."""
    xpu = oxbnn50.xpu
    runs = _runs(xpu, SEED + 100, 3, max_hw=7, max_c=50, max_out=10)
    for r in runs:
        r.ready_probability = 0.4
        r.stall_probability = 0.2
    results = oxbnn50.run(runs, optics="ideal", seed=SEED)
    for check in assert_layers(xpu, runs, results):
        assert check.cycles > check.cycles_predicted, check.name


def test_oxbnn5_ideal_random_layers():
    """The full 53 x 53 oxbnn5 XPU (its derived N, M and gamma) at S = 1, buffers of 256 words
    so that tiling happens."""
    xpu = xpu_params("oxbnn5-s1").replace(act_buffer_depth=256, wgt_buffer_depth=256)
    assert (xpu.n_lanes, xpu.n_xpes, xpu.gamma) == (53, 53, 5)
    cosim = Cosim(xpu, sim="verilator", build_root=BUILD)
    runs = _runs(xpu, SEED + 5, 6, max_hw=6, max_c=120, max_out=10)
    assert_layers(xpu, runs, cosim.run(runs, optics="ideal", seed=SEED))


@pytest.mark.slow
def test_shipped_oxbnn5_xpu_at_s5():
    """The shipped oxbnn5 XPU itself (53 x 53, S = 5, its buffers), ideal and physical optics
    (no bit may flip at the preset's laser power). In ``make test-slow``: its Verilog takes about
    4 min to generate and its model about 4 min to build on 2 cores."""
    xpu = xpu_params("oxbnn5")
    assert (xpu.n_lanes, xpu.n_xpes, xpu.symbols_per_cycle) == (53, 53, 5)
    cosim = Cosim(xpu, build_root=BUILD)
    runs = _runs(xpu, SEED + 31, 4, max_hw=6, max_c=120, max_out=10)
    assert_layers(xpu, runs, cosim.run(runs, optics="ideal", seed=SEED))
    physical = cosim.run(runs, optics="physical", preset="oxbnn5", seed=SEED)
    for run, res in zip(runs, physical, strict=True):
        check = check_layer(xpu, run, res, optics="physical")
        assert check.ok and check.bit_error_rate == 0.0, (run.name, check.problems)


def test_icarus_small_xpu():
    xpu = xpu_params("oxbnn50-s1").replace(
        n_lanes=4, n_xpes=2, gamma=2, adc_bits=4, act_buffer_depth=32, wgt_buffer_depth=32
    )
    cosim = Cosim(xpu, sim="icarus", build_root=BUILD)
    runs = _runs(xpu, SEED + 7, 4, max_hw=5, max_c=9, max_out=5)
    assert_layers(xpu, runs, cosim.run(runs, optics="ideal", seed=SEED))


def test_icarus_ping_pong_pca_at_s3():
    """PCA reset dead slots with two capacitors at S = 3 (gamma = 3, so every run starts a beat;
    R = 5 > S, so runs wait for their capacitor inside vectors too), on the Verilog: bit- and
    cycle-exact, every strobe where the cycle model puts it, and the bridge's own capacitor check
    never fires. Some layer must really wait."""
    xpu = XpuParams(
        n_lanes=4, n_xpes=2, gamma=3, adc_bits=4, symbols_per_cycle=3, act_buffer_depth=32,
        wgt_buffer_depth=32, reset_dead_slots=5, pca_capacitors=2,
    )  # fmt: skip
    cosim = Cosim(xpu, sim="icarus", build_root=BUILD)
    runs = _runs(xpu, SEED + 9, 4, max_hw=5, max_c=9, max_out=5)
    assert any(layer_cycles(r.spec, xpu, r.mem).reset_stall > 0 for r in runs)
    assert_layers(xpu, runs, cosim.run(runs, optics="ideal", seed=SEED))


# Verilated XPUs at S slots per cycle: the small configurations of tests/test_xpu.py (S = 2; S = 3
# with ADC conversions of 3 cycles on two banks; S = 8; S = 32) on the S categories there (L < S,
# L not a multiple of S, several readouts per cycle, read-bound beats, ADC stalls, tiling, ...).
# S = 2, 3 and 8 run in `make test`; S = 32 is in `make test-slow`: its lean Verilator build takes
# about 2 min on this 2-core machine (S = 2: 23 s, S = 8: 36 s, build and run), and `make test`
# runs every S in the Amaranth simulator (tests/test_xpu.py).
S_COSIM = [
    "n4m2g2s2",
    "n4m2g2s3c3b2",
    "n4m2g3s8",
    pytest.param("n4m2g2s32", marks=pytest.mark.slow),
]


@pytest.mark.parametrize("config", S_COSIM)
def test_s_slots_per_cycle_under_verilator(config):
    """The same layers as the Amaranth-simulator runs of tests/test_xpu.py, here through the
    generated Verilog, cocotb and the optical bridge; S = 3 also with physical optics (no bit
    may flip at the preset's laser power)."""
    from test_xpu import S_CATEGORIES, S_CONFIGS, make_cases

    xpu = S_CONFIGS[config]
    cases = make_cases(config, 6, 5000, S_CONFIGS, S_CATEGORIES)
    runs = [c.run for c in cases]
    cosim = Cosim(xpu, sim="verilator", build_root=BUILD)
    assert_layers(xpu, runs, cosim.run(runs, optics="ideal", seed=SEED), where=config)
    if xpu.symbols_per_cycle == 3:
        for run, res in zip(runs, cosim.run(runs, optics="physical", seed=SEED), strict=True):
            check = check_layer(xpu, run, res, optics="physical")
            assert check.ok and check.bit_error_rate == 0.0, (run.name, check.problems)


def test_physical_optics_ber(oxbnn50):
    """BER is 0 at the preset's laser power and rises as the laser is starved (fixed seed)."""
    xpu = oxbnn50.xpu
    rng = np.random.default_rng(SEED + 11)
    spec = LayerSpec(
        kind="conv",
        height=6,
        width=6,
        in_channels=64,
        out_channels=12,
        kernel_h=3,
        kernel_w=3,
        padding=1,
        output="int",
    )
    act, w, thr, flip = bnn.random_layer(rng, spec)
    preset = load_preset("oxbnn50-s1")
    nominal = preset.laser.power_per_wavelength_W
    bers = []
    for scale in (1.0, 1 / 64, 1 / 256, 1 / 1024):
        p = preset.replace("laser", power_per_wavelength_W=nominal * scale)
        run = LayerRun(spec, act, w, thr, flip, name=f"power x{scale}")
        [res] = oxbnn50.run([run], optics="physical", preset=p, seed=SEED)
        check = check_layer(xpu, run, res, optics="physical")
        assert check.ok, check.problems  # the cycle model holds whatever the optics do
        bers.append(check.bit_error_rate)
    assert bers[0] == 0.0, bers
    assert bers[1] > 0.0, bers
    assert all(b >= a for a, b in zip(bers, bers[1:], strict=False)), bers
    assert bers[-1] > bers[1], bers


def test_waves_show_samples_where_the_cycle_model_says(tmp_path):
    """Micro-case 1 of models/timing (N = 4, M = 2, gamma = 2, 1x1 conv with K = 10; its ADC:
    a code 2 cycles after its sample, a conversion per cycle)."""
    xpu = _small_xpu(adc_latency=2, adc_conversion_cycles=1)
    spec = LayerSpec(kind="conv", height=1, width=2, in_channels=10, out_channels=1)
    rng = np.random.default_rng(3)
    act, w, thr, flip = bnn.random_layer(rng, spec)
    cosim = Cosim(xpu, sim="verilator", build_root=BUILD)
    vcd = tmp_path / "micro.vcd"
    run = LayerRun(spec, act, w, thr, flip, mem=MemoryModel(), name="micro-case 1")
    [res] = cosim.run([run], waves=vcd)
    assert_layers(xpu, [run], [res])
    assert vcd.exists() and vcd.with_suffix(".gtkw").exists()
    trace = load_trace(vcd)
    rows = events(trace, "pca_sample", 0, trace.n_cycles - 1)
    seen = sorted({(r["cycle"], r["slot"]) for r in rows})
    assert seen == [(11, 0), (12, 0)]  # derived by hand in models/timing, micro-case 1
    assert [c for c, _ in seen] == sample_slots(spec, xpu).tolist()  # S = 1: slot index = cycle
    codes = [r["code"] for r in rows if r["xpe"] == 0]
    x = (act.reshape(2, 10)[0] == w.reshape(10)).astype(int)
    assert codes == [int(x[:8].sum()), int(x[8:].sum())]
    assert res["cycles"] == 16


def _small_xpu(**changes):
    """The N = 4, M = 2 XPU of the micro-cases (shares the waves test's Verilator build)."""
    return (
        xpu_params("oxbnn50-s1")
        .replace(n_lanes=4, n_xpes=2, gamma=2, adc_bits=4, act_buffer_depth=64, wgt_buffer_depth=64)
        .replace(**changes)
    )


def test_network_run_feeds_each_output_to_the_next_layer():
    """conv (+ pool) -> fc through ``Cosim.run_network``; the golden chain is written out here."""
    cosim = Cosim(_small_xpu(), sim="verilator", build_root=BUILD)
    xpu = cosim.xpu
    rng = np.random.default_rng(SEED + 13)
    conv = LayerSpec("conv", 4, 4, 3, 4, 3, 3, padding=1, pool=True)
    fc = LayerSpec.fc(16, 3, output="int")
    layers = [(spec, *bnn.random_layer(rng, spec)[1:]) for spec in (conv, fc)]
    images = rng.integers(0, 2, (2, 4, 4, 3), dtype=np.uint8)
    alone = [layer_cycles(spec, xpu).total for spec in (conv, fc)]
    plans = [layer_cycles(spec, xpu).plan for spec in (conv, fc)]
    chained = [b.total for b in chain_cycles(plans, dependent=True).layers]
    assert chained[1] < alone[1]  # the fc layer's weights were prefetched
    for chain, predicted in ((False, alone), (True, chained)):
        results = cosim.run_network(layers, list(images), seed=SEED, chain=chain)
        for image, res in zip(images, results, strict=True):
            (_, w1, t1, f1), (_, w2, t2, f2) = layers
            hidden = bnn.layer_forward(image, w1, t1, conv, f1)  # 2 x 2 x 4, flattened (y, x, c)
            logits = bnn.layer_forward(hidden.reshape(1, 1, 16), w2, t2, fc, f2)
            assert np.array_equal(res["output"], logits), (res["output"], logits)
            assert [layer["cycles"] for layer in res["layers"]] == predicted, chain
            assert res["cycles"] == sum(predicted)
            assert all(layer["readouts"] > 0 and not layer["error"] for layer in res["layers"])


@pytest.mark.parametrize("dependent", [False, True], ids=["independent", "dependent"])
def test_event_testbench_chains_as_the_model_and_amaranth_say(dependent):
    """Random chains through the event-driven testbench's descriptor-queue host (with memory
    stalls off, back-pressure off): each layer bit-exact against the golden model and cycle- and
    strobe-exact against the chain model, and the same starts and take cycles as the same chain
    in Amaranth's simulator (:class:`~oxbnn.testbenches.env.ChainEnv`)."""
    cosim = Cosim(_small_xpu(), build_root=BUILD)
    xpu = cosim.xpu
    runs = _runs(xpu, SEED + 31 + dependent, 5, max_c=6, max_out=5)
    for i, r in enumerate(runs):
        r.mem = MemoryModel(1 + i % 2, 1 + i % 3)  # each layer its own memory
    deps = [i % 2 == 1 for i in range(len(runs))] if dependent else None
    tb = cosim.event_testbench()
    try:
        chain = tb.run_chain(runs, OpticalBridge(xpu, Effects.ideal()), dependent=deps)
    finally:
        tb.close()
    model = assert_chain(xpu, runs, chain, dependent=deps, where="event chain")
    assert len(set(model.taken)) == len(runs)
    amaranth = XpuHarness(xpu).run_chain(runs, dependent=deps)
    assert (chain.starts, chain.taken) == (amaranth.starts, amaranth.taken)
    for got, want in zip(chain.results, amaranth.results, strict=True):
        assert got.cycles == want.cycles and got.sample_slots == want.sample_slots
        assert got.events == want.events


def test_verilated_models_are_lean():
    """The per-cycle testbench's Verilator build is the lean one: Verilator ran without
    ``--public-flat-rw`` and with the configuration that makes only the top's ports public (its
    own record of the command line, ``Vtop__verFiles.dat``); the full build is apart. The
    event-driven testbench's model has no public signal at all (its C++ reads the ports)."""
    event = Cosim(_small_xpu(), build_root=BUILD)
    assert event.testbench == "event"
    event.build()
    command = (event.build_dir / "obj" / "Vxpu_cosim__verFiles.dat").read_text().splitlines()[1]
    assert "public" not in command and "--cc" in command and "--exe" in command, command
    cosim = Cosim(_small_xpu(), sim="verilator", build_root=BUILD, testbench="cycle")
    cosim.build()
    command = (cosim.build_dir / "Vtop__verFiles.dat").read_text().splitlines()[1]
    assert "--public-flat-rw" not in command, command
    assert str(cosim.build_dir / "ports.vlt") in command, command
    vlt = (cosim.build_dir / "ports.vlt").read_text()
    assert sorted(re.findall(r'-var "(\w+)"', vlt)) == ["clk", "drive", "rst", "watch"], vlt
    full = Cosim(_small_xpu(), sim="verilator", build_root=BUILD, lean=False)
    assert full.build_dir != cosim.build_dir


@pytest.mark.parametrize("testbench", ["event", "cycle"])
def test_testbench_failure_raises_its_root_cause(testbench):
    """A layer that overruns its cycle budget: the CosimError names the layer and the budget,
    under either testbench."""
    cosim = Cosim(_small_xpu(), sim="verilator", build_root=BUILD, testbench=testbench)
    spec = LayerSpec("conv", 1, 2, 10, 1)
    run = LayerRun(spec, *bnn.random_layer(np.random.default_rng(3), spec), name="budget")
    with pytest.raises(CosimError) as info:
        cosim.run([run], max_cycles=10)
    message = str(info.value)
    assert "\n" not in message, message
    assert "SimulationTimeout: layer budget did not finish in 10 cycles" in message, message


def test_unknown_testbench_is_refused():
    with pytest.raises(ValueError, match="testbench must be one of"):
        Cosim(_small_xpu(), build_root=BUILD, testbench="fast")
    with pytest.raises(ValueError, match="event-driven testbench needs Verilator"):
        Cosim(_small_xpu(), sim="icarus", build_root=BUILD, testbench="event")


# What both testbenches report of a layer (the wall time and the cocotb-only fields aside).
SAME_FIELDS = (
    "cycles", "sample_slots", "reset_slots", "result_cycles", "events", "not_ready_cycles",
    "error", "saturation_events", "clip_events",
)  # fmt: skip


@pytest.mark.parametrize("config", ["n4m2g2s1", "n4m2g2s3c3b2"])
def test_event_and_per_cycle_testbenches_agree(config):
    """Random layers through both testbenches, on the same Verilog and seeds: ideal and physical
    optics, some layers with a slow host and a stalling memory. They must see the same cycles,
    every strobe slot, every result's cycle, every readout's code (physical: the same noise
    draws), the same waits for the host, the same outputs; and both are bit- and cycle-exact
    against the golden model and the cycle model."""
    from test_xpu import S_CONFIGS

    xpu = _small_xpu() if config == "n4m2g2s1" else S_CONFIGS[config]
    size = {"max_hw": 6, "max_c": 20, "max_out": 6} if config == "n4m2g2s1" else {}
    runs = _runs(xpu, SEED + 19, 6, **{"max_hw": 5, "max_c": 9, "max_out": 5, **size})
    for r in runs[1::2]:
        r.ready_probability, r.stall_probability, r.seed = 0.5, 0.25, SEED + 23
    event = Cosim(xpu, build_root=BUILD)
    cycle = Cosim(xpu, build_root=BUILD, testbench="cycle")
    assert (event.testbench, cycle.testbench) == ("event", "cycle")
    for optics in ("ideal", "physical"):
        got = event.run(runs, optics=optics, seed=SEED)
        want = cycle.run(runs, optics=optics, seed=SEED)
        for run, a, b in zip(runs, got, want, strict=True):
            for key in SAME_FIELDS:
                assert a[key] == b[key], (config, optics, run.name, key)
            assert np.array_equal(a["output"], b["output"]), (config, optics, run.name)
            assert np.array_equal(a["output_cycle"], b["output_cycle"]), (config, run.name)
        if optics == "ideal":
            assert_layers(xpu, runs, got, where=config)
            stalled = [c for r, c in zip(runs, got, strict=True) if r.stalls]
            assert any(c["not_ready_cycles"] > 0 for c in stalled), config  # it did stall
        else:
            for run, res in zip(runs, got, strict=True):
                assert check_layer(xpu, run, res, optics="physical").ok, (config, run.name)


def test_replay_is_the_bare_model_on_the_same_stimulus():
    """The event-driven testbench records every drive word it clocks; a fresh model clocked
    with those words alone sees the same outputs, cycle for cycle (the benchmark's bare
    model), and a model clocked with one word changed does not."""
    from oxbnn.testbenches.optical_bridge import OpticalBridge

    cosim = Cosim(_small_xpu(), build_root=BUILD)
    xpu = cosim.xpu
    tb = cosim.event_testbench(record=True)
    try:
        bridge = OpticalBridge(xpu)
        runs = _runs(xpu, SEED + 29, 2, max_hw=5, max_c=12, max_out=4)
        cycles = sum(tb.run_layer(run, bridge).cycles for run in runs)
        n, _, same = tb.replay()
        assert same
        assert n == cycles + 2  # and one idle cycle after each layer
        tb.corrupt_recording()  # the start bit of the first cycle cleared
        assert not tb.replay()[2]
    finally:
        tb.close()


def test_an_xpu_that_stops_sampling_fails_before_the_memory_fills():
    """The event-driven testbench keeps the port rows since the last sample; past its bound
    (here 64 bytes, less than the layer's fill) the run stops with an error naming the layer
    and the cycles without a sample, instead of growing until the cycle budget."""
    from oxbnn.testbenches.env import SimulationTimeout
    from oxbnn.testbenches.optical_bridge import OpticalBridge

    cosim = Cosim(_small_xpu(), build_root=BUILD)
    spec = LayerSpec("conv", 1, 2, 10, 1)
    run = LayerRun(spec, *bnn.random_layer(np.random.default_rng(3), spec), name="quiet")
    tb = cosim.event_testbench()
    try:
        with pytest.raises(SimulationTimeout, match=r"layer quiet, cycle \d+: no PCA sample"):
            tb.run_layer(run, OpticalBridge(cosim.xpu), max_window_bytes=64)
        with pytest.raises(RuntimeError, match="stopped inside layer quiet"):
            tb.run_layer(run, OpticalBridge(cosim.xpu))  # its model is mid-layer
    finally:
        tb.close()
    tb = cosim.event_testbench()  # a fresh model runs the layer with the default bound
    try:
        res = tb.run_layer(run, OpticalBridge(cosim.xpu))
        assert res.cycles == layer_cycles(spec, cosim.xpu).total
    finally:
        tb.close()


def test_verilog_cache_key_covers_what_the_wrapper_imports():
    """Every oxbnn module that generating the co-simulation Verilog imports is hashed into its
    cache key (:data:`RTL_SOURCES`): a change there regenerates, a change elsewhere does not."""
    import subprocess
    import sys

    from oxbnn.testbenches import cosim_top

    code = (
        "import sys, oxbnn.testbenches.cosim_top\n"
        "print('\\n'.join(m.__file__ for n, m in sys.modules.items() if n.startswith('oxbnn.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    root = Path(cosim_top.__file__).resolve().parent.parent
    covered = [root / name for name in cosim_top.RTL_SOURCES]
    for line in out.stdout.split():
        path = Path(line).resolve()
        assert any(path == c or c in path.parents for c in covered), path
    assert not any((root / "models" / "optics") == c for c in covered)


def test_build_failure_raises_the_compilers_first_error(tmp_path):
    xpu = _small_xpu(act_buffer_depth=32, wgt_buffer_depth=32)
    cosim = Cosim(xpu, sim="icarus", build_root=tmp_path)
    text = cosim.verilog.read_text()
    cosim.verilog.write_text(text.replace("endmodule", "endmodul e", 1))
    with pytest.raises(CosimError) as info:
        cosim.build()
    message = str(info.value)
    assert "\n" not in message, message
    assert "xpu_cosim.v:" in message and "error" in message, message


def test_sim_command_takes_a_relative_preset_path(tmp_path, capsys):
    """``oxbnn sim --preset rel/my.toml``: the simulator process runs in another directory, yet
    the run uses the file (a copy of oxbnn50 at S = 1, so the XPU and its build are those of
    the shipped oxbnn50-s1) and gives
    what the shipped preset gives, noise draws included."""
    import json

    from oxbnn.models.configs import PRESET_DIR
    from oxbnn.tools.cli import main

    # A copy of oxbnn50 at S = 1 under the idealisation's name: the same XpuParams as the
    # shipped "oxbnn50-s1", so one (fast, S = 1) build serves both.
    text = (PRESET_DIR / "oxbnn50.toml").read_text()
    s_key = r"(?m)^symbols_per_cycle = \{ value = \d+,"
    text = re.sub(s_key, "symbols_per_cycle = { value = 1,", text)
    text = text.replace('name = "oxbnn50"', 'name = "oxbnn50-s1"', 1)
    assert "symbols_per_cycle = { value = 1," in text
    (tmp_path / "my.toml").write_text(text)
    spec = LayerSpec("conv", 3, 3, 40, 4, 3, 3, padding=1, output="int")
    act, w, _, _ = bnn.random_layer(np.random.default_rng(SEED + 17), spec)
    layer = tmp_path / "layer.npz"
    np.savez(layer, activations=act, weights=w, thresholds=np.zeros(4, np.int64), output="int",
             padding=1)  # fmt: skip
    relative = os.path.relpath(tmp_path / "my.toml")
    assert not os.path.isabs(relative)
    reports = {}
    for name, preset in (("copy", relative), ("shipped", "oxbnn50-s1")):
        argv = ["sim", "--preset", preset, "--layer", str(layer), "--optics", "physical"]
        assert main([*argv, "--out", str(tmp_path), "--name", name, "--json"]) == 0
        reports[name] = json.loads(capsys.readouterr().out)
    copy, shipped = reports["copy"], reports["shipped"]
    assert copy["cycles"] == copy["cycles_predicted"] == shipped["cycles"]
    assert copy["readouts"] == shipped["readouts"] > 0
    assert copy["cycles_per_s"] > 0 and copy["slots_per_s"] > 0
    # oxbnn50: 50 Gb/s at the S = 1 idealisation, so the clock is the bit rate.
    assert (copy["symbols_per_cycle"], copy["clock_hz"]) == (1, 50e9)
    assert copy["simulated_time_s"] == copy["cycles"] / 50e9
    parts = copy["cycles_breakdown_predicted"]
    assert {"fill", "compute", "adc_stall", "reset_stall", "load", "readout", "drain"} <= set(parts)
    # The preset's ping-pong PCA: two capacitors, 10 Ohm x 1.49 pF x ln 1024 = 103 ps = 6 slots.
    assert (copy["pca_capacitors"], copy["reset_dead_slots"]) == (2, 6)
    outputs = [np.load(r["outputs_file"]) for r in (copy, shipped)]
    assert np.array_equal(*outputs)
    assert np.array_equal(outputs[0], bnn.layer_forward(act, w, None, spec))


def test_sim_command_prints_a_cosim_failure_as_one_line(tmp_path, monkeypatch, capsys):
    """A failed build or run reaches the user as one line with its root cause, no traceback."""
    from oxbnn.tools.cli import main

    cause = "verilator build of x.v failed: %Error: x.v:3:1: syntax error (log: build.log)"

    def broken_build(self):
        raise CosimError(cause)

    monkeypatch.setattr(Cosim, "build", broken_build)
    assert main(["sim", "--preset", "oxbnn50-s1", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == f"oxbnn sim: error: {cause}", err
    assert not any("Traceback" in line for line in err), err


# The refused generations leave their CosimTop unelaborated, which Amaranth warns about.
@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")
def test_cosim_verilog_is_reused_while_its_sources_are_unchanged(tmp_path, monkeypatch):
    """A second generation for the same XPU and sources reads the files back (Amaranth is not
    run); another XPU, or a record written by other sources, generates again."""
    from oxbnn.testbenches import cosim_top

    xpu = _small_xpu()
    first = cosim_top.write_cosim_verilog(xpu, tmp_path)
    real_convert = cosim_top.verilog.convert

    def refuse(*args, **kwargs):
        raise AssertionError("the Verilog was generated again")

    monkeypatch.setattr(cosim_top.verilog, "convert", refuse)
    again = cosim_top.write_cosim_verilog(xpu, tmp_path)
    assert again[0] == first[0] and again[3] == first[3]
    assert again[1].layout == first[1].layout and again[2].layout == first[2].layout
    with pytest.raises(AssertionError, match="generated again"):
        cosim_top.write_cosim_verilog(xpu.replace(gamma=3), tmp_path)
    meta_path = tmp_path / "fields.json"
    meta = json.loads(meta_path.read_text())
    meta["source_key"] = "0" * 64  # as if the RTL had changed since
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(AssertionError, match="generated again"):
        cosim_top.write_cosim_verilog(xpu, tmp_path)
    monkeypatch.setattr(cosim_top.verilog, "convert", real_convert)
    assert cosim_top.write_cosim_verilog(xpu, tmp_path)[3] == first[3]
    assert json.loads(meta_path.read_text())["source_key"] == cosim_top.source_key(xpu)


def test_sim_network_runs_the_busiest_xpus_share_of_resnet18(tmp_path, capsys):
    """``oxbnn sim --network resnet18`` on the S = 1 idealisation of oxbnn50: every compute
    layer of ResNet18 (counted here from the network's definition), each share bit-exact, cycle-
    exact against the cycle model and equal to the system model's count."""
    from oxbnn.models import mapping
    from oxbnn.models.workloads import get_network
    from oxbnn.tools.cli import main
    from oxbnn.tools.sim_network import accelerator_for

    argv = ["sim", "--preset", "oxbnn50-s1", "--network", "resnet18", "--out", str(tmp_path)]
    assert main([*argv, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    compute = [la for la in get_network("resnet18").layers if la.kind in ("conv", "fc")]
    assert [r["name"] for r in report["layers"]] == [la.name for la in compute]
    model = accelerator_for("oxbnn50-s1")
    xpu = xpu_params("oxbnn50-s1")
    for row in report["layers"]:
        spec = LayerSpec(**row["spec"])
        want = layer_cycles(spec, xpu, mapping.memory_for(spec, model)).total
        assert row["cycles"] == row["cycles_predicted"] == want, row["name"]
        assert row["match_golden"] and row["cycles_match"] and row["system_match"], row["name"]
    assert report["ok"] and report["cycles"] == report["system_xpu_cycles"]
    assert report["testbench"] == "event" and report["clock_hz"] == 50e9


def test_sim_network_refuses_what_it_cannot_run(tmp_path, capsys):
    from oxbnn.models.configs import PRESET_DIR
    from oxbnn.tools.cli import main

    base = ["sim", "--network", "resnet18", "--out", str(tmp_path)]
    assert main([*base, "--preset", "oxbnn50-s1", "--layer", "x.npz"]) == 2
    assert "--network and --layer are exclusive" in capsys.readouterr().err
    mine = tmp_path / "mine.toml"
    text = (PRESET_DIR / "oxbnn50.toml").read_text().replace('name = "oxbnn50"', 'name = "mine"')
    mine.write_text(text)
    assert main([*base, "--preset", str(mine)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no accelerator (system preset) uses the optics preset" in err[0]
