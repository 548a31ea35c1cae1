"""cocotb co-simulation: the XPU RTL with the optical models in the loop.

Every run is checked bit for bit against the golden BNN (:mod:`oxbnn.models.bnn`, ideal optics)
and cycle for cycle against the closed-form cycle model (:mod:`oxbnn.models.timing`). The
simulators build once per (simulator, XPU) under ``build/cosim`` and are reused.

Configurations: the full oxbnn50 XPU (N = 19, M = 19) under Verilator; an oxbnn5 XPU with its
N = 53 but M reduced to 8 (a 53 x 53 XPU's activation buffer has 106 read ports of 53-bit words,
and its Verilator build takes minutes: the lanes, which are what N changes, are kept, and M only
replicates XPEs); and a small N = 4, M = 2 XPU under Icarus.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from oxbnn.models import bnn
from oxbnn.models.configs import load_preset
from oxbnn.models.derive import xpu_params
from oxbnn.models.layer import LayerSpec
from oxbnn.models.timing import MemoryModel, layer_cycles, sample_cycles
from oxbnn.testbenches.cosim import Cosim
from oxbnn.testbenches.pysim_harness import LayerRun
from oxbnn.tools.waves_cmd import events, load_trace

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


def _check(xpu, runs: list[LayerRun], results: list[dict], mem=None) -> None:
    for run, res in zip(runs, results, strict=True):
        gold = bnn.layer_forward(run.act, run.weights, run.thresholds, run.spec, run.flip)
        bad = np.argwhere(res["output"] != gold)
        if bad.size:
            pos = tuple(int(i) for i in bad[0])
            raise AssertionError(
                f"{run.name} {run.spec}: output {pos} is {res['output'][pos]}, golden "
                f"{gold[pos]} (result taken in cycle {res['output_cycle'][pos]}); "
                f"{len(bad)} outputs differ"
            )
        predicted = layer_cycles(run.spec, xpu, mem or run.mem).total
        assert res["cycles"] == predicted, (
            f"{run.name} {run.spec}: {res['cycles']} cycles measured, {predicted} predicted"
        )
        assert not res["error"], f"{run.name}: the XPU flagged an unexpected ADC code"
        assert res["saturation_events"] == 0


@pytest.fixture(scope="module")
def oxbnn50():
    xpu = xpu_params("oxbnn50").replace(act_buffer_depth=256, wgt_buffer_depth=256)
    cosim = Cosim(xpu, sim="verilator", build_root=BUILD)
    cosim.build()
    return cosim


def test_oxbnn50_ideal_random_layers(oxbnn50):
    """The full 19 x 19 XPU (buffers of 256 words so that tiling happens) on random layers."""
    xpu = oxbnn50.xpu
    runs = _runs(xpu, SEED, 12, max_hw=9, max_c=70, max_out=24)
    _check(xpu, runs, oxbnn50.run(runs, optics="ideal", seed=SEED))


def test_oxbnn50_backpressure_and_memory_stalls(oxbnn50):
    """Results stay bit-exact under a slow host and a stalling memory; only time is lost."""
    xpu = oxbnn50.xpu
    runs = _runs(xpu, SEED + 100, 3, max_hw=7, max_c=50, max_out=10)
    for r in runs:
        r.ready_probability = 0.4
        r.stall_probability = 0.2
    results = oxbnn50.run(runs, optics="ideal", seed=SEED)
    for run, res in zip(runs, results, strict=True):
        gold = bnn.layer_forward(run.act, run.weights, run.thresholds, run.spec, run.flip)
        assert np.array_equal(res["output"], gold), run.name
        assert res["cycles"] > layer_cycles(run.spec, xpu, run.mem).total, run.name


def test_oxbnn5_ideal_random_layers():
    """N = 53 lanes (oxbnn5's derived N and gamma), M reduced to 8 (module docstring)."""
    xpu = xpu_params("oxbnn5").replace(n_xpes=8, act_buffer_depth=256, wgt_buffer_depth=256)
    assert (xpu.n_lanes, xpu.gamma) == (53, 5)
    cosim = Cosim(xpu, sim="verilator", build_root=BUILD)
    runs = _runs(xpu, SEED + 5, 6, max_hw=6, max_c=120, max_out=10)
    _check(xpu, runs, cosim.run(runs, optics="ideal", seed=SEED))


def test_icarus_small_xpu():
    xpu = xpu_params("oxbnn50").replace(
        n_lanes=4, n_xpes=2, gamma=2, adc_bits=4, act_buffer_depth=32, wgt_buffer_depth=32
    )
    cosim = Cosim(xpu, sim="icarus", build_root=BUILD)
    runs = _runs(xpu, SEED + 7, 4, max_hw=5, max_c=9, max_out=5)
    _check(xpu, runs, cosim.run(runs, optics="ideal", seed=SEED))


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
    gold = bnn.layer_forward(act, w, thr, spec, flip)
    preset = load_preset("oxbnn50")
    nominal = preset.laser.power_per_wavelength_W
    bers = []
    for scale in (1.0, 1 / 64, 1 / 256, 1 / 1024):
        p = preset.replace("laser", power_per_wavelength_W=nominal * scale)
        [res] = oxbnn50.run(
            [LayerRun(spec, act, w, thr, flip, name=f"power x{scale}")],
            optics="physical",
            preset=p,
            seed=SEED,
        )
        assert res["cycles"] == layer_cycles(spec, xpu).total
        bers.append(float((res["output"] != gold).mean()))
    assert bers[0] == 0.0, bers
    assert bers[1] > 0.0, bers
    assert all(b >= a for a, b in zip(bers, bers[1:], strict=False)), bers
    assert bers[-1] > bers[1], bers


def test_waves_show_samples_where_the_cycle_model_says(tmp_path):
    """Micro-case 1 of models/timing (N = 4, M = 2, gamma = 2, 1x1 conv with K = 10)."""
    xpu = xpu_params("oxbnn50").replace(
        n_lanes=4, n_xpes=2, gamma=2, adc_bits=4, act_buffer_depth=64, wgt_buffer_depth=64
    )
    spec = LayerSpec(kind="conv", height=1, width=2, in_channels=10, out_channels=1)
    rng = np.random.default_rng(3)
    act, w, thr, flip = bnn.random_layer(rng, spec)
    cosim = Cosim(xpu, sim="verilator", build_root=BUILD)
    vcd = tmp_path / "micro.vcd"
    [res] = cosim.run([LayerRun(spec, act, w, thr, flip, mem=MemoryModel())], waves=vcd)
    assert vcd.exists() and vcd.with_suffix(".gtkw").exists()
    trace = load_trace(vcd)
    seen = sorted({r["cycle"] for r in events(trace, "pca_sample", 0, trace.n_cycles - 1)})
    assert seen == [11, 12]  # derived by hand in models/timing, micro-case 1
    assert seen == sample_cycles(spec, xpu).tolist()
    codes = [r["code"] for r in events(trace, "pca_sample", 0, trace.n_cycles - 1) if r["xpe"] == 0]
    x = (act.reshape(2, 10)[0] == w.reshape(10)).astype(int)
    assert codes == [int(x[:8].sum()), int(x[8:].sum())]
    assert res["cycles"] == 16
