"""The link between the levels: the system model's per-XPU cycle counts equal RTL runs.

For every compute layer of a network, :func:`oxbnn.models.system.evaluate_network` decides what
the busiest XPU runs (``LayerResult.share.spec``, ``instances_per_xpu`` times) and with which
memory model (:func:`oxbnn.models.mapping.memory_for`, from the eDRAM coefficients), and reports
``xpu_cycles`` from :mod:`oxbnn.models.timing`. Here that share runs on the RTL
(:class:`oxbnn.testbenches.pysim_harness.XpuHarness`, Amaranth's simulator) fed by that memory
model, and ``xpu_cycles`` must equal ``instances_per_xpu`` times the measured count. Like every
RTL run, each one also goes through the scoreboard (:mod:`oxbnn.testbenches.scoreboard`): its
outputs against the golden model, its cycles and strobes against the cycle model.

Layers: at least 20 seeded random layers (conv, strided, padded, 1 x 1, pooled, depthwise, fc)
and at least 3 real layers per network, shrunk to small H, W and C so that the RTL runs fast
(kernel, stride, padding, pooling and kind kept). Each sits in a tiny network with a 1 x 1 head
behind it, so that it emits bits (thresholds streamed) while the head emits integers. The
accelerators are tiny system presets (N, M, X of a few units, small buffers so that layers are
tiled, eDRAM slow enough that loads take several cycles per word).
"""

from __future__ import annotations

import numpy as np
import pytest

from oxbnn.models import bnn, mapping, system, tiling
from oxbnn.models.system_preset import SystemPreset, load_system_preset
from oxbnn.models.workloads import Network, WorkloadLayer, get_network
from oxbnn.testbenches.pysim_harness import XpuHarness
from oxbnn.testbenches.scoreboard import assert_chain, assert_layers
from oxbnn.testbenches.stimulus import LayerRun

SEED = 20240


def _preset(
    n: int, m: int, x: int, gamma: int, latency: int, act: int, wgt: int, bits: int,
    t_access: float, access_bits: int,
) -> SystemPreset:  # fmt: skip
    p = load_system_preset("robin_eo")
    p = p.replace("readout", bits=bits)
    p = p.replace(
        "architecture",
        n_lanes=n,
        n_xpes=m,
        n_xpus=x,
        bit_rate_bps=1e9,
        gamma=gamma,
        readout_latency_cycles=latency,
        act_buffer_depth_words=act,
        wgt_buffer_depth_words=wgt,
    )
    return p.replace("memory", edram_access_time_s=t_access, edram_access_bits=access_bits)


# N, M, X, gamma, ADC latency, act / wgt buffer words, code bits, eDRAM access (s, bits).
CONFIGS = {
    "n4m2x3": _preset(4, 2, 3, 2, 2, 24, 16, 4, 3e-9, 8),
    "n5m3x2": _preset(5, 3, 2, 3, 1, 30, 12, 4, 2e-9, 16),
    "n6m3x3": _preset(6, 3, 3, 2, 3, 96, 32, 4, 1e-9, 8),
}
RANDOM_LAYERS = 21
REAL_LAYERS = {
    "vgg_small": ("conv1", "conv2", "fc"),
    "resnet18": ("conv1", "layer2.0.conv1", "layer2.0.downsample", "fc"),
    "mobilenet_v2": ("conv_stem", "block2.expand", "block2.dw", "fc"),
    "shufflenet_v2": ("conv1", "stage2.0.branch1.dw", "stage2.0.branch2.pw1", "fc"),
}


def _wrap(name: str, layer: WorkloadLayer, pool: bool) -> Network:
    """``layer`` (+ a fused 2 x 2 max-pool) + a 1 x 1 head, as a network."""
    layers = [layer]
    if pool:
        layers.append(WorkloadLayer.pool(f"{layer.name}.pool", "maxpool", layer.out_shape, 2,
                                          stride=2))  # fmt: skip
    layers.append(WorkloadLayer.conv("head", layers[-1].out_shape, 1, 1))
    return Network(name, layer.in_shape, "test", tuple(layers))


def _fits(net: Network, model: mapping.AcceleratorModel) -> bool:
    try:
        system.evaluate_network(model, net)
    except tiling.TilingError:
        return False
    return True


def _random_layer(rng: np.random.Generator, i: int) -> tuple[WorkloadLayer, bool]:
    kind = ["conv3", "conv1", "strided", "pool", "depthwise", "fc"][i % 6]
    h, w = int(rng.integers(2, 6)), int(rng.integers(2, 6))
    c_in, c_out = int(rng.integers(1, 10)), int(rng.integers(1, 6))
    name = f"rand{i}.{kind}"
    if kind == "conv3":
        return WorkloadLayer.conv(name, (h, w, c_in), c_out, 3, padding=int(rng.integers(0, 2))
                                  if min(h, w) >= 3 else 1), False  # fmt: skip
    if kind == "conv1":
        return WorkloadLayer.conv(name, (h, w, c_in), c_out, 1), False
    if kind == "strided":
        return WorkloadLayer.conv(name, (h + 1, w + 1, c_in), c_out, 3, stride=2, padding=1), False
    if kind == "pool":
        shape = (4, int(rng.integers(4, 7)), int(rng.integers(1, 5)))
        return WorkloadLayer.conv(name, shape, c_out, 3, padding=1), True
    if kind == "depthwise":
        c = int(rng.integers(1, 8))
        return WorkloadLayer.depthwise(name, (h + 1, w + 1, c), 3, stride=int(rng.integers(1, 3))
                                       ), False  # fmt: skip
    return WorkloadLayer.fc(name, (1, int(rng.integers(1, 3)), int(rng.integers(3, 12))), c_out
                            ), False  # fmt: skip


def _shrink(layer: WorkloadLayer, pooled: bool) -> WorkloadLayer:
    """A real layer with small H, W and C; kernel, stride, padding, pooling and kind kept."""
    if layer.kind == "fc":
        return WorkloadLayer.fc(layer.name, (1, 1, min(layer.k, 23)), min(layer.out_c, 4))
    side = min(layer.in_h, 6 if layer.stride == 2 or pooled else 5)
    if layer.kind == "depthwise":
        return WorkloadLayer.depthwise(layer.name, (side, side, min(layer.in_c, 3)),
                                       layer.kernel_h, stride=layer.stride,
                                       padding=layer.padding)  # fmt: skip
    return WorkloadLayer.conv(layer.name, (side, side, min(layer.in_c, 5)), min(layer.out_c, 4),
                              (layer.kernel_h, layer.kernel_w), stride=layer.stride,
                              padding=layer.padding)  # fmt: skip


def _cases() -> list[tuple[str, str, Network]]:
    """``(config, case name, network)``: random layers over the configs, then real ones."""
    rng = np.random.default_rng(SEED)
    names = list(CONFIGS)
    cases = []
    i = 0
    while len(cases) < RANDOM_LAYERS:
        cfg = names[len(cases) % len(names)]
        layer, pool = _random_layer(rng, i)
        i += 1
        net = _wrap(f"random-{i}", layer, pool)
        if _fits(net, mapping.accelerator_model(CONFIGS[cfg])):
            cases.append((cfg, f"seed {SEED} #{i}: {layer.name} {layer.in_shape}->"
                               f"{layer.out_shape}", net))  # fmt: skip
    for key, layer_names in REAL_LAYERS.items():
        full = get_network(key)
        pooled = {job.layer.name for job in full.to_layer_specs() if job.spec.pool}
        for name in layer_names:
            small = _shrink(full.layer(name), name in pooled)
            net = _wrap(f"{key}-{name}", small, name in pooled)
            cfg = "n6m3x3"
            assert _fits(net, mapping.accelerator_model(CONFIGS[cfg])), (key, name)
            cases.append((cfg, f"{full.name} {name} shrunk to {small.in_shape}", net))
    return cases


CASES = _cases()


def test_case_counts():
    real = [c for c in CASES if not c[2].name.startswith("random")]
    assert len(CASES) - len(real) >= 20
    for key in REAL_LAYERS:
        assert sum(c[2].name.startswith(f"{key}-") for c in real) >= 3, key


@pytest.mark.parametrize("config", list(CONFIGS))
def test_system_xpu_cycles_equal_rtl(config):
    """Every compute layer of every case on this configuration, each run on its own from an
    idle XPU (``chaining=False``): system cycles == RTL cycles."""
    model = mapping.accelerator_model(CONFIGS[config])
    rng = np.random.default_rng(SEED + len(config))
    runs: list[LayerRun] = []
    expected: list[tuple[str, int, int, mapping.Share]] = []
    for cfg, label, net in CASES:
        if cfg != config:
            continue
        for layer in system.evaluate_network(model, net, chaining=False).layers:
            if layer.share is None:
                continue
            spec = layer.share.spec
            act = rng.integers(0, 2, (spec.height, spec.width, spec.in_channels), dtype=np.uint8)
            shape = (spec.out_channels, spec.kernel_h, spec.kernel_w, spec.in_channels)
            wgt = rng.integers(0, 2, shape, dtype=np.uint8)
            thr = rng.integers(-spec.k, spec.k + 1, spec.out_channels)
            runs.append(LayerRun(spec, act, wgt, thresholds=thr,
                                 mem=mapping.memory_for(spec, model), name=label))  # fmt: skip
            expected.append((f"{label}: {layer.name}", layer.xpu_cycles,
                             layer.share.instances_per_xpu, layer.share))  # fmt: skip
    assert runs, config
    results = XpuHarness(model.xpu).run(runs)
    assert_layers(model.xpu, runs, results, where=config)
    for (label, cycles, instances, share), run, got in zip(expected, runs, results, strict=True):
        assert cycles == instances * got.cycles, (
            f"{config}, {label} ({share.describe()}, {run.spec}, {run.mem}): system model "
            f"{cycles} cycles for {instances} run(s), RTL {got.cycles} per run"
        )


@pytest.mark.parametrize("config", list(CONFIGS))
def test_system_chained_cycles_equal_rtl(config):
    """Every case network on this configuration with chaining (the default): the busiest XPU's
    runs of each network, the share of each layer ``instances_per_xpu`` times, run on the RTL
    as one chain through the descriptor queue, a layer's first run holding its activations
    until the previous run is done (they are that run's outputs): each layer's
    ``xpu_cycles`` == the sum of its runs' measured cycles, and every run is bit- and
    cycle-exact (:func:`~oxbnn.testbenches.scoreboard.assert_chain`)."""
    model = mapping.accelerator_model(CONFIGS[config])
    rng = np.random.default_rng(SEED + 7 * len(config))
    chains, deps, expected = [], [], []
    for cfg, label, net in CASES:
        if cfg != config:
            continue
        runs, dep, want = [], [], []
        for layer in system.evaluate_network(model, net).layers:
            if layer.share is None:
                continue
            spec = layer.share.spec
            for r in range(layer.share.instances_per_xpu):
                act, wgt, thr, flip = bnn.random_layer(rng, spec)
                runs.append(LayerRun(spec, act, wgt, thr, flip, mem=mapping.memory_for(spec, model),
                                     name=f"{label}: {layer.name} run {r}"))  # fmt: skip
                dep.append(r == 0)
            want.append((layer.name, layer.xpu_cycles, layer.share.instances_per_xpu))
        chains.append(runs)
        deps.append(dep)
        expected.append((label, want))
    assert chains, config
    done = XpuHarness(model.xpu).run_chains(chains, dependent=deps)
    for runs, dep, chain, (label, want) in zip(chains, deps, done, expected, strict=True):
        assert_chain(model.xpu, runs, chain, dependent=dep, where=f"{config}, {label}")
        k = 0
        for name, cycles, instances in want:
            measured = sum(r.cycles for r in chain.results[k : k + instances])
            assert cycles == measured, (
                f"{config}, {label}, {name}: system model {cycles} chained cycles for "
                f"{instances} run(s), RTL {measured}"
            )
            k += instances
