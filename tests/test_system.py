"""System model (models/system, system_preset, mapping, energy, comparison) and ``oxbnn report``.

Checked here: the roofline on every layer of every network on every accelerator, one ADC
conversion per readout, static power linear in X, the utilisation error, named errors for
malformed system presets (every value an OXBNN preset shares with its optics preset comes from
that preset only, and follows it), a micro-case whose every figure is derived by hand (and its
serializers at S = 2), a small
network whose energy and area are recomputed by hand from the preset's coefficients, the
geometric-mean ratios, and the report's files and JSON keys. No wall-clock timing is asserted.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import pytest

from oxbnn.models import comparison, energy, mapping, system, system_preset, timing
from oxbnn.models.configs import PRESET_DIR, PresetError, load_preset
from oxbnn.models.energy import AREA_COMPONENTS, COMPONENTS
from oxbnn.models.system import UtilizationError
from oxbnn.models.workloads import (
    NETWORKS,
    Network,
    WorkloadLayer,
    get_network,
    write_workload_csv,
)
from oxbnn.tools import report_cmd

SYSTEM_DIR = system_preset.SYSTEM_PRESET_DIR


@pytest.fixture(scope="module")
def grid() -> dict[str, dict[str, system.NetworkResult]]:
    """The whole 5 x 4 evaluation, once for this module."""
    return system.evaluate()


# ----------------------------------------------------------------------------------------------
# Whole grid
# ----------------------------------------------------------------------------------------------


def test_grid_covers_five_accelerators_and_four_networks(grid):
    assert list(grid) == ["oxbnn50", "oxbnn5", "robin_eo", "robin_po", "lightbulb"]
    for row in grid.values():
        assert sorted(row) == sorted(n.name for n in NETWORKS.values())


def test_roofline_every_layer(grid):
    """No layer exceeds the optical peak; no layer takes zero time (docs/reference.md defect 3)."""
    for acc, row in grid.items():
        model = mapping.accelerator_model(acc)
        for net, res in row.items():
            for layer in res.layers:
                where = f"{acc} {net} {layer.name}"
                assert layer.seconds > 0, where
                peak_work = model.peak_xnor_per_s * layer.seconds
                assert layer.xnors <= peak_work * (1 + 1e-9), where
                assert 0 <= layer.utilization <= 1, where
                if layer.share is not None:
                    assert layer.utilization > 0, where
                    # The busiest XPU can never beat its own share of the work at full rate.
                    assert layer.seconds >= layer.xpu_cycles / model.clock_hz * (1 - 1e-12)
            assert 0 < res.utilization <= 1, f"{acc} {net}"


def test_one_adc_conversion_per_readout(grid):
    """VGG-small conv2 on OXBNN_50, by hand.

    K = 3 * 3 * 128 = 1152 bits, N = 19: L = ceil(1152 / 19) = 61 chunks; gamma = 14 gives
    ceil(61 / 14) = 5 readouts per output. The layer computes 32 x 32 positions (before its fused
    2 x 2 pool) of 128 channels: 131072 dot products, 655360 readouts. Each is one conversion of
    the 3.6 GS/s, 12.5 mW ADC (12.5e-3 / 3.6e9 J) plus one 0.05 pJ add.
    """
    layer = next(x for x in grid["oxbnn50"]["VGG-small"].layers if x.name == "conv2")
    assert layer.readouts == 131072 * 5
    assert layer.xnors == 131072 * 1152
    e = 131072 * 5 * (12.5e-3 / 3.6e9 + 0.05e-12)
    assert math.isclose(layer.dynamic_J["readout"], e, rel_tol=1e-12)
    # ROBIN_EO converts every chunk: N = 10, L = ceil(1152 / 10) = 116 readouts per output.
    robin = next(x for x in grid["robin_eo"]["VGG-small"].layers if x.name == "conv2")
    assert robin.readouts == 131072 * 116


def test_residual_adds_and_pools_are_electronic_layers(grid):
    kinds = {
        net: [x.kind for x in res.layers if x.share is None] for net, res in grid["oxbnn50"].items()
    }
    # VGG-small's three 2 x 2 pools are fused into its convs; it has no residual adds.
    assert kinds["VGG-small"] == []
    # ResNet18: the stem max-pool, 8 basic-block adds, the global average pool.
    assert kinds["ResNet18"].count("add") == 8
    assert kinds["ResNet18"].count("maxpool") == 1 and kinds["ResNet18"].count("avgpool") == 1
    # MobileNet_V2: the stride-1 bottlenecks with equal channels (1 + 2 + 3 + 2 + 2 = 10).
    assert kinds["MobileNet_V2"].count("add") == 10
    assert kinds["ShuffleNet_V2"].count("add") == 0


def test_depthwise_groups_are_dealt_out_to_the_xpus(grid):
    """MobileNet_V2's last depthwise layers have 960 channels: ceil(960 / 224) = 5 per XPU."""
    layer = next(x for x in grid["oxbnn50"]["MobileNet_V2"].layers if x.name == "block17.dw")
    assert layer.repeat == 960
    assert layer.share.instances_per_xpu == 5 and layer.share.busy_xpus == 224


def test_static_power_is_linear_in_the_number_of_xpus():
    """docs/reference.md defect 1: static power grows with X, not X^2."""
    base = system_preset.load_system_preset("robin_po")
    one = energy.static_power_W(mapping.accelerator_model(base))
    two = energy.static_power_W(
        mapping.accelerator_model(base.replace("architecture", n_xpus=2 * base.architecture.n_xpus))
    )
    for c in COMPONENTS:
        assert math.isclose(two[c], 2 * one[c], rel_tol=1e-12), c


def test_gamma_comes_from_the_optics():
    """docs/reference.md defect 5: gamma is derived per preset, 14 at 50 Gb/s and 5 at 5 Gb/s."""
    assert mapping.accelerator_model("oxbnn50").xpu.gamma == 14
    assert mapping.accelerator_model("oxbnn5").xpu.gamma == 5


def test_ping_pong_pca_charges_two_capacitors():
    """oxbnn50's PCA is ping-pong ([pca] capacitors = 2 in its optics preset): the
    photodetection area per XPE is one PD (14.06 um^2) plus two 745 um^2 capacitors; the
    baselines' TIA front ends have one (and no area)."""
    model = mapping.accelerator_model("oxbnn50")
    rx = model.preset.receiver
    assert rx.frontend_capacitors == 2 and model.xpu.pca_capacitors == 2
    assert model.preset.sources["receiver.frontend_capacitors"].startswith(
        "from optics preset oxbnn50: "
    )
    xpes = model.n_xpus * model.xpu.n_xpes
    got = energy.area_m2(model)["photodetection"]
    assert math.isclose(got, xpes * (14.06e-12 + 2 * 745e-12), rel_tol=1e-12)
    assert mapping.accelerator_model("robin_eo").preset.receiver.frontend_capacitors == 1


# ----------------------------------------------------------------------------------------------
# A micro-case derived by hand
# ----------------------------------------------------------------------------------------------


def _tiny_preset(**readout) -> system_preset.SystemPreset:
    """N = 4, M = 2, X = 3 at 1 Gb/s, S = 1, gamma = 2, with round coefficients (the rest zero)."""
    p = system_preset.load_system_preset("robin_eo")
    p = p.replace(
        "architecture",
        symbols_per_cycle=1,
        n_lanes=4,
        n_xpes=2,
        n_xpus=3,
        bit_rate_bps=1e9,
        gamma=2,
        readout_latency_cycles=2,
        act_buffer_depth_words=64,
        wgt_buffer_depth_words=64,
    )
    p = p.replace("laser", power_per_wavelength_W=1e-3, wall_plug_efficiency=0.5, xpes_per_comb=1)
    p = p.replace(
        "gate",
        rings_per_gate=2,
        driven_junctions_per_gate=2,
        gate_area_m2=1e-12,
        thermal_tuning_power_W=0.5e-3,
        eo_static_power_W=0.0,
        eo_energy_per_use_J=0.1e-12,
        driver_energy_per_bit_J=10e-15,
        driver_area_m2=0.0,
    )
    p = p.replace(
        "receiver",
        pds_per_xpe=1,
        pd_power_W=1e-3,
        pd_energy_per_slot_J=0.1e-12,
        pd_area_m2=0.0,
        frontend_power_W=0.0,
        frontend_energy_per_slot_J=0.1e-12,
        frontend_area_m2=0.0,
        reset_energy_per_readout_J=0.0,
    )
    p = p.replace(
        "readout",
        **{
            "units_per_xpe": 1,
            "sample_rate_Sps": 1e9,
            "power_W": 1e-3,
            "area_m2": 0.0,
            "bits": 4,
            "accumulate_energy_per_readout_J": 0.5e-12,
            **readout,
        },
    )
    p = p.replace("vcsel", units_per_xpe=1, power_W=0.0, energy_per_output_J=10e-12, area_m2=0.0)
    p = p.replace(
        "memory",
        edram_units_per_xpu=1,
        edram_power_W=0.0,
        edram_energy_per_access_J=1e-12,
        edram_access_bits=8,
        edram_access_time_s=1e-9,
        edram_area_m2=0.0,
        streams_per_edram=2,
        sram_energy_per_bit_J=10e-15,
    )
    return p.replace(
        "electronics",
        activation_power_W=0.0,
        activation_energy_per_output_J=0.1e-12,
        router_power_W=1e-3,
        bus_power_W=0.0,
        io_power_W=0.0,
    )


def _micro_network() -> Network:
    return Network("micro", (1, 1, 10), "hand-derived", (WorkloadLayer.fc("fc", (1, 1, 10), 3),))


#: Dynamic energy of the micro case by component (J), derived by hand in
#: :func:`test_micro_case_by_hand`'s docstring; S does not change any of them.
_MICRO_DYNAMIC_J = {
    "modulation": 6e-12,
    "drivers": 0.6e-12,
    "photodetection": 1.8e-12,
    "readout": 9e-12,
    "vcsel": 30e-12,
    "buffers": 1.8e-12,
    "edram": 10.875e-12,
    "electronic": 0.3e-12,
}


def test_micro_case_by_hand():
    """One fc layer, K = 10, 3 outputs, on N = 4, M = 2, X = 3, 1 GHz, gamma = 2.

    S = 1 (set by ``_tiny_preset``): the clock is the 1 Gb/s bit rate,
    and there are no serializers (``serdes`` is 0 J and 0 m^2 below).

    *Memory.* An eDRAM access takes 1 ns = 1 cycle and carries 8 bits; two streams share it. A
    word of this layer carries 10 / ceil(10 / 4) = 3.33 bits, so 3.33 * 2 * 1 / 8 < 1: one word
    per cycle, latency 1 cycle (timing's micro-case memory).

    *Split.* One group (repeat 1) gets all 3 XPUs. The candidates are 3, 2 or 1 filter per XPU.
    With 1 filter: activations 3 words (requested in cycle 1, complete in 1 + 1 + 2 = 4), weights
    3 words (complete in 4), no thresholds (the classifier outputs integers); first issue in 5;
    one job of L = 3 chunks, one cycle each (one word per chunk): issue 5, 6, 7; port 9, code 11
    (ADC latency 2), result 12, done in cycle **13**. With 2 filters the weights (6 words) are
    complete in 7: issue 8..13, done 19; with 3 (timing's micro-case 2 without thresholds), 25.
    So one filter on each of the 3 XPUs: 13 ns. Readout bound: ceil(3 / 2) = 2 conversions at
    1 GS/s = 2 ns. Write-back: 1 output of a 5-bit dot (-10..10) is one 8-bit access = 1 ns.
    Latency **13 ns**.

    *Roofline.* 3 outputs x 10 XNORs = 30 against 3 * 2 * 4 * 1e9 * 13e-9 = 312: 30 / 312.

    *Energy.* Static: laser 3 XPUs x 4 lines x 2 XPEs (one comb per XPE) = 24 lines x 1 mW /
    0.5 = 48 mW; rings 3 * 2 * 4 * 2 = 48 x 0.5 mW = 24 mW; PDs 6 x 1 mW = 6 mW; routers 3 x
    1 mW = 3 mW; each times 13 ns. Dynamic: modulation 30 x 2 x 0.1 pJ = 6 pJ; drivers
    30 x 2 x 10 fJ = 0.6 pJ; photodetection 3 outputs x 3 slots x (0.1 + 0.1) pJ = 1.8 pJ;
    readout 3 x 2 readouts x (1 mW / 1 GS/s + 0.5 pJ) = 9 pJ; VCSEL 3 x 10 pJ = 30 pJ; SRAM:
    each of the 3 XPUs writes 6 words x 4 bits = 24 and reads 3 chunks x (2 + 1) words x 4 bits
    = 36 bits, 180 bits x 10 fJ = 1.8 pJ; eDRAM: 72 bits loaded + 3 x 5 bits written = 87 bits
    = 10.875 accesses x 1 pJ; activation 3 x 0.1 pJ.
    """
    model = mapping.accelerator_model(_tiny_preset())
    assert model.xpu.n_lanes == 4 and model.xpu.gamma == 2
    res = system.evaluate_network(model, _micro_network())
    (layer,) = res.layers
    spec = layer.share.spec
    assert (spec.kind, spec.k, spec.out_channels, spec.output) == ("fc", 10, 1, "int")
    assert mapping.memory_for(spec, model) == timing.MemoryModel(1, 1)
    assert layer.share.busy_xpus == 3 and layer.share.instances_per_xpu == 1
    assert layer.xpu_cycles == 13
    assert math.isclose(layer.seconds, 13e-9)
    assert math.isclose(layer.readout_s, 2e-9) and math.isclose(layer.writeback_s, 1e-9)
    assert layer.bound in ("compute", "memory")
    assert res.cycles == 13 and math.isclose(res.fps, 1 / 13e-9)
    assert (layer.xnors, layer.readouts, layer.outputs) == (30, 6, 3)
    assert math.isclose(res.utilization, 30 / 312)

    t = 13e-9
    want_static = {"laser": 48e-3, "ring_tuning": 24e-3, "photodetection": 6e-3, "control": 3e-3}
    want_dynamic = _MICRO_DYNAMIC_J
    for c in COMPONENTS:
        want = want_static.get(c, 0.0) * t + want_dynamic.get(c, 0.0)
        assert math.isclose(res.energy_J[c], want, rel_tol=1e-9, abs_tol=1e-24), c
    total = sum(want_static.values()) * t + sum(want_dynamic.values())
    assert math.isclose(res.energy_per_frame_J, total, rel_tol=1e-9)


def test_micro_case_serializers_at_two_slots_per_cycle():
    """The micro case at S = 2: the serializers, by hand, and nothing else charged twice.

    S = 2 halves the clock (0.5 GHz) and puts two chunks in a cycle; the fc vector of L = 3
    chunks takes ceil(3 / 2) = 2 issue cycles, and one filter per XPU on the 3 XPUs is still the
    fastest split (the weights of 2 filters are 6 words, 3 more load cycles than 1 filter's).
    Serializers: 2 junctions x N = 4 lanes x M = 2 XPEs = 16 per XPU, 48 in all, each of S - 1 = 1
    cell of 2 um^2: 96 um^2. They shift 16 x S = 32 bits per issue cycle of a busy XPU, 3 XPUs x
    2 cycles = 6 XPU issue cycles: 192 bits x 0.1 pJ = 19.2 pJ. Every other dynamic term counts
    XNORs, slots, readouts, outputs and tile bits, which S does not change: they are the S = 1
    micro case's (:func:`test_micro_case_by_hand`), so the serializer energy is in ``serdes``
    alone.
    """
    p = _tiny_preset().replace("architecture", symbols_per_cycle=2)
    p = p.replace("serdes", energy_per_bit_J=0.1e-12, cell_area_m2=2e-12)
    model = mapping.accelerator_model(p)
    assert model.clock_hz == 0.5e9
    res = system.evaluate_network(model, _micro_network())
    (layer,) = res.layers
    assert layer.share.busy_xpus == 3 and layer.share.instances_per_xpu == 1
    assert layer.cycle_parts["compute"] == 2
    assert layer.serialized_bits == 192
    want_dynamic = {**_MICRO_DYNAMIC_J, "serdes": 19.2e-12}
    for c in COMPONENTS:
        want = want_dynamic.get(c, 0.0)
        assert math.isclose(res.dynamic_J[c], want, rel_tol=1e-9, abs_tol=1e-24), c
    assert math.isclose(res.area_m2["serdes"], 96e-12, rel_tol=1e-12)
    assert res.static_power_W["serdes"] == 0.0  # clock-gated outside issue cycles
    # The same preset at S = 1: no serializer, whatever its [serdes] coefficients.
    flat = mapping.accelerator_model(p.replace("architecture", symbols_per_cycle=1))
    (free,) = system.evaluate_network(flat, _micro_network()).layers
    assert free.serialized_bits == 0 and free.dynamic_J["serdes"] == 0.0
    assert energy.area_m2(flat)["serdes"] == 0.0


def test_micro_case_readout_bound():
    """The same layer with a 0.1 GS/s ADC: 2 conversions take 20 ns > 13 ns of cycles.

    Every share is now readout bound at 20 ns: one filter per XPU (3 XPUs, 13 cycles), or two
    filters per XPU in activation broadcast, one job on both XPEs (2 XPUs: weights 6 words
    complete in 7, issue 8, 9, 10, done in 16; still 2 conversions per XPE). Ties go to fewer
    runs: 2 XPUs of 16 cycles."""
    model = mapping.accelerator_model(_tiny_preset(sample_rate_Sps=1e8, power_W=1e-4))
    (layer,) = system.evaluate_network(model, _micro_network()).layers
    assert layer.xpu_cycles == 16 and layer.bound == "readout"
    assert layer.share.busy_xpus == 2
    assert math.isclose(layer.seconds, 20e-9)
    (free,) = system.evaluate_network(model, _micro_network(), readout_bound=False).layers
    assert math.isclose(free.seconds, 13e-9)


def _one_xpu_preset() -> system_preset.SystemPreset:
    """The micro-case preset on one XPU, with round electronic and area coefficients."""
    p = _tiny_preset().replace("architecture", n_xpus=1)
    p = p.replace("gate", driver_area_m2=0.5e-12)
    p = p.replace("readout", area_m2=2e-12)
    p = p.replace("memory", edram_area_m2=9e-12)
    return p.replace(
        "electronics",
        pool_units_per_xpu=1,
        pool_outputs_per_s=1e9,
        pool_energy_per_element_J=0.3e-12,
        pool_area_m2=3e-12,
        eltwise_units_per_xpu=1,
        eltwise_elements_per_s=1e9,
        eltwise_energy_per_element_J=0.2e-12,
        activation_area_m2=4e-12,
        router_area_m2=5e-12,
        bus_area_m2=6e-12,
        io_area_m2=7e-12,
        splitter_area_m2=1e-12,
    )


def _residual_network() -> Network:
    """1x1 conv 2x2x4 -> 4 with a residual add of its input, global avg pool, fc 4 -> 2."""
    conv = WorkloadLayer.conv("conv", (2, 2, 4), 4, 1, residual="input")
    pool = WorkloadLayer.pool("avgpool", "avgpool", conv.out_shape, 2, stride=1)
    fc = WorkloadLayer.fc("fc", pool.out_shape, 2)
    return Network("residual", (2, 2, 4), "hand-derived", (conv, pool, fc))


def test_network_energy_and_area_by_hand():
    """Energy and area of a 4-layer frame recomputed from the preset's coefficients.

    The preset: N = 4, M = 2, X = 1, gamma = 2 (the micro-case's, on one XPU), so each compute
    layer runs whole on the one XPU (one run). Counts, derived here:

    *conv* (1x1, K = 4, 4 filters on 2 x 2 positions): L = ceil(4/4) = 1 chunk, ceil(1/2) = 1
    readout per output; 16 dot products: 64 XNORs, 16 busy slots, 16 readouts, 16 output bits.
    Tile buffers: 4 pixels x 1 word + 4 filters x 1 word = 8 words of 4 bits, plus 4 thresholds
    of 5 bits (a dot of K = 4 bits is -4..4: 4 bits, and the flip bit) = 52 bits written; read:
    4 filters x ceil(4 units / 2 XPEs) = 8 jobs x 1 chunk x (2 activation + 1 weight words) x 4
    bits = 96 bits. eDRAM: 52 bits loaded + 16 written.
    *add* (after conv, from its ``residual``): 16 elements at 1e9/s = 16 ns; eDRAM 2 x 16 read +
    16 written.
    *avgpool* (2 x 2 window, 4 channels): 4 outputs at 1e9/s = 4 ns, 16 window elements; eDRAM
    16 bits read + 4 written.
    *fc* (K = 4 -> 2 integers): 8 XNORs, 2 slots, 2 readouts; loads 1 + 2 words = 12 bits (no
    thresholds); it runs in activation broadcast (both filters in one job on the two XPEs; weight
    broadcast would take 2 jobs on one XPE), so it reads 1 job x 1 chunk x (1 activation + 2
    weight words) x 4 bits = 12 bits; writes 2 x 4 bits. (The conv takes 8 jobs either way:
    4 filters x 2 groups, or 2 filter steps x 4 units; the tie goes to weight broadcast.)

    Energy = static power x time + energy per event x events. Static: 1 x 4 x 2 = 8 laser lines x
    1 mW / 0.5; 16 rings x 0.5 mW; 2 PDs x 1 mW; one router, 1 mW. The compute layers' times are
    the cycle model's (checked against the RTL by tests/test_system_rtl.py); the electronic
    ones are derived above. Area: the unit counts (8 gates with 2 drivers each, 2 XPEs, 1
    XPU) times the area coefficients of :func:`_one_xpu_preset`.
    """
    model = mapping.accelerator_model(_one_xpu_preset())
    res = system.evaluate_network(model, _residual_network())
    assert [x.name for x in res.layers] == ["conv", "conv+add", "avgpool", "fc"]
    conv, add, pool, fc = res.layers
    assert math.isclose(add.seconds, 16e-9) and math.isclose(pool.seconds, 4e-9)
    assert (conv.xnors, conv.readouts, conv.outputs) == (64, 16, 16)
    assert (fc.xnors, fc.readouts, fc.outputs) == (8, 2, 2)
    assert conv.dataflow == "weight_broadcast"
    assert fc.dataflow == "activation_broadcast"

    eo, drv, pd_fe, vcsel, act = 0.1e-12, 10e-15, 0.1e-12 + 0.1e-12, 10e-12, 0.1e-12
    per_readout = 1e-3 / 1e9 + 0.5e-12
    sram, edram_bit = 10e-15, 1e-12 / 8
    dynamic = {
        "conv": {
            "modulation": 64 * 2 * eo,
            "drivers": 64 * 2 * drv,
            "photodetection": 16 * pd_fe,
            "readout": 16 * per_readout,
            "vcsel": 16 * vcsel,
            "buffers": (52 + 96) * sram,
            "edram": (52 + 16) * edram_bit,
            "electronic": 16 * act,
        },
        "conv+add": {"electronic": 16 * 0.2e-12, "edram": (32 + 16) * edram_bit},
        "avgpool": {"electronic": 16 * 0.3e-12, "edram": (16 + 4) * edram_bit},
        "fc": {
            "modulation": 8 * 2 * eo,
            "drivers": 8 * 2 * drv,
            "photodetection": 2 * pd_fe,
            "readout": 2 * per_readout,
            "vcsel": 2 * vcsel,
            "buffers": (12 + 12) * sram,
            "edram": (12 + 8) * edram_bit,
            "electronic": 2 * act,
        },
    }
    static = {"laser": 8 * 1e-3 / 0.5, "ring_tuning": 16 * 0.5e-3, "photodetection": 2e-3,
              "control": 1e-3}  # fmt: skip
    frame_s = conv.seconds + 16e-9 + 4e-9 + fc.seconds
    for layer in res.layers:
        got = layer.energy_J(res.static_power_W)
        for c in COMPONENTS:
            want = static.get(c, 0.0) * layer.seconds + dynamic[layer.name].get(c, 0.0)
            assert math.isclose(got[c], want, rel_tol=1e-9, abs_tol=1e-24), (layer.name, c)
    for c in COMPONENTS:
        want = static.get(c, 0.0) * frame_s + sum(d.get(c, 0.0) for d in dynamic.values())
        assert math.isclose(res.energy_J[c], want, rel_tol=1e-9, abs_tol=1e-24), c
    total = sum(static.values()) * frame_s + sum(sum(d.values()) for d in dynamic.values())
    assert math.isclose(res.energy_per_frame_J, total, rel_tol=1e-9)
    assert math.isclose(res.fps_per_w, 1 / total, rel_tol=1e-9)

    area = {
        "gates": 8 * 1e-12,
        "drivers": 8 * 2 * 0.5e-12,
        "readout": 2 * 2e-12,
        "splitters": 2 * 1e-12,
        "edram": 9e-12,
        "electronic": 3e-12 + 4e-12,
        "control": 5e-12 + 6e-12 + 7e-12,
    }
    assert set(res.area_m2) == set(AREA_COMPONENTS)
    for c in AREA_COMPONENTS:
        assert math.isclose(res.area_m2[c], area.get(c, 0.0), abs_tol=1e-24), c
    assert math.isclose(res.area_mm2, sum(area.values()) * 1e6, rel_tol=1e-12)


def test_geometric_mean_ratios():
    """FPS ratios 2 and 8 over ROBIN_EO: geometric mean 4 (not the arithmetic 5); ratios 0.5
    and 2 over ROBIN_PO: 1. Over both baselines sqrt(4 * 1) = 2; "up to" is the best pair."""

    class _R:
        def __init__(self, fps: float, fps_per_w: float) -> None:
            self.fps, self.fps_per_w = fps, fps_per_w

    ox, eo, po = (mapping.accelerator_model(n) for n in ("oxbnn50", "robin_eo", "robin_po"))
    by_label = {
        ox.label: {"a": _R(2.0, 9.0), "b": _R(8.0, 1.0)},
        eo.label: {"a": _R(1.0, 1.0), "b": _R(1.0, 1.0)},
        po.label: {"a": _R(4.0, 1.0), "b": _R(4.0, 1.0)},
    }
    figures = comparison.ratios([ox, eo, po], by_label, ["a", "b"])
    pairs = figures["pairs"]["OXBNN_50"]
    assert math.isclose(pairs["ROBIN_EO"]["fps"], 4.0)
    assert math.isclose(pairs["ROBIN_EO"]["fps_per_w"], 3.0)
    assert math.isclose(pairs["ROBIN_PO"]["fps"], 1.0)
    assert math.isclose(figures["over_all_baselines"]["OXBNN_50"]["fps"], 2.0)
    up = figures["up_to"]["fps"]
    assert (up["oxbnn"], up["baseline"]) == ("OXBNN_50", "ROBIN_EO")
    assert math.isclose(up["ratio"], 4.0)


# ----------------------------------------------------------------------------------------------
# Errors
# ----------------------------------------------------------------------------------------------


def test_utilization_error_is_named():
    with pytest.raises(UtilizationError, match=r"layer 'x'.*100"):
        system.check_utilization(1000, 1e9, 1e-7, "layer 'x'")
    with pytest.raises(UtilizationError, match="zero time"):
        system.check_utilization(5, 1e9, 0.0, "layer 'y'")
    assert system.check_utilization(100, 1e9, 1e-7, "ok") == 1.0


def test_utilization_above_peak_raises_from_the_model(monkeypatch):
    """A cycle model that claims 1 cycle per layer breaks the roofline: a named error (each
    run timed on its own, ``chaining=False``, so the patched ``layer_cycles`` is the count)."""
    real = timing.layer_cycles

    def too_fast(spec, xpu, mem=None, **kwargs):
        bd = real(spec, xpu, mem, **kwargs)
        return timing.CycleBreakdown(
            total=1, fill=0, compute=1, load=0, readout=0, drain=0, clock_hz=bd.clock_hz,
            plan=bd.plan, pair_starts=bd.pair_starts,
        )  # fmt: skip

    mapping.clear_cache()
    monkeypatch.setattr(timing, "layer_cycles", too_fast)
    try:
        net = Network(
            "big", (4, 4, 8), "test", (WorkloadLayer.conv("c", (4, 4, 8), 6, 3, padding=1),)
        )
        model = mapping.accelerator_model(_tiny_preset().replace("readout", sample_rate_Sps=1e12))
        with pytest.raises(UtilizationError, match=r"big, layer 'c'"):
            system.evaluate_network(model, net, chaining=False)
    finally:
        mapping.clear_cache()


_OX = (SYSTEM_DIR / "oxbnn50.toml").read_text()
_RB = (SYSTEM_DIR / "robin_eo.toml").read_text()


def _line(text: str, key: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(f"{key} = "))


def _sub(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new)


_MALFORMED = [
    (_sub(_OX, _line(_OX, "edram_area_m2") + "\n", ""), r"\[memory\] edram_area_m2 is missing"),
    (
        _sub(_OX, 'value = 41.4e-3, unit = "W"', 'value = 41.4, unit = "mW"'),
        r"\[memory\] edram_power_W has unit 'mW'; expected 'W'",
    ),
    (
        _sub(_RB, "wall_plug_efficiency = { value = 0.2,", "wall_plug_efficiency = { value = 1.5,"),
        r"\[laser\] wall_plug_efficiency = 1.5 is out of range",
    ),
    (
        _sub(_OX, _line(_OX, "edram_units_per_xpu"), "edram_units_per_xpu = 1"),
        r"\[memory\] edram_units_per_xpu must be an inline",
    ),
    (
        _sub(_RB, _line(_RB, "bits"), 'bits = { value = 4, unit = "bit", source = " " }'),
        r"\[readout\] bits needs a non-empty 'source'",
    ),
    (_OX + "\n[cooling]\nfan_W = 1\n", r"unknown section\(s\) \['cooling'\]"),
    (
        _sub(_OX, "[vcsel]\n", '[vcsel]\ncolor = { value = 1, unit = "1", source = "x" }\n'),
        r"\[vcsel\] has unknown key\(s\) \['color'\]",
    ),
    (
        _sub(_OX, 'optics_preset = "oxbnn50"', 'optics_preset = "nosuch"'),
        r"\[meta\] optics_preset = 'nosuch': unknown preset",
    ),
    (_sub(_RB, _line(_RB, "gamma") + "\n", ""), r"\[architecture\] gamma is missing"),
    (_sub(_RB, "bits = { value = 4,", "bits = { value = 3,"), r"\[readout\] bits = 3 cannot hold"),
    (_sub(_RB, 'family = "robin"', 'family = "oxbnn"'), r"optics_preset = ''.*must name"),
    (_sub(_RB, 'family = "robin"', 'family = "tpu"'), r"family = 'tpu'"),
    (_sub(_OX, 'label = "OXBNN_50"\n', ""), r"\[meta\] label must be a string"),
]


@pytest.mark.parametrize(("text", "pattern"), _MALFORMED)
def test_malformed_presets_give_named_errors(tmp_path, text, pattern):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(PresetError, match=pattern) as info:
        system_preset.load_system_preset(path)
    assert str(path) in str(info.value)


#: Every value an OXBNN system preset shares with its optics preset, as the old OXBNN_50 file
#: restated it (an agreeing value: a second copy is refused all the same).
_FROM_OPTICS = {
    ("architecture", "n_lanes"): ("19", "1"),
    ("architecture", "n_xpes"): ("19", "1"),
    ("architecture", "n_xpus"): ("224", "1"),
    ("architecture", "bit_rate_bps"): ("50e9", "bit/s"),
    ("architecture", "symbols_per_cycle"): ("1", "1"),
    ("architecture", "target_node_nm"): ("45", "nm"),
    ("architecture", "gamma"): ("14", "1"),
    ("architecture", "readout_latency_cycles"): ("2", "cycle"),
    ("architecture", "act_buffer_depth_words"): ("4096", "word"),
    ("architecture", "wgt_buffer_depth_words"): ("4096", "word"),
    ("laser", "power_per_wavelength_W"): ("12.74e-3", "W"),
    ("laser", "wall_plug_efficiency"): ("0.2", "1"),
    ("laser", "xpes_per_comb"): ("19", "1"),
    ("receiver", "reset_energy_per_readout_J"): ("1.49e-12", "J"),
    ("readout", "bits"): ("9", "bit"),
}


def _with_entry(text: str, section: str, key: str, value: str, unit: str) -> str:
    """``text`` with ``key`` written in ``[section]`` (the section added when the file has none)."""
    entry = f'{key} = {{ value = {value}, unit = "{unit}", source = "restated" }}\n'
    header = f"\n[{section}]\n"
    if header in text:
        return text.replace(header, header + entry)
    return text + header + entry


@pytest.mark.parametrize(("section", "key"), list(_FROM_OPTICS))
def test_oxbnn_preset_may_not_write_a_value_of_its_optics_preset(tmp_path, section, key):
    """Writing any shared value in an OXBNN system preset is refused, naming file, key and the
    optics preset it comes from; the same entry in a baseline is read."""
    value, unit = _FROM_OPTICS[(section, key)]
    path = tmp_path / "restates.toml"
    path.write_text(_with_entry(_OX, section, key, value, unit))
    with pytest.raises(PresetError) as info:
        system_preset.load_system_preset(path)
    assert str(info.value).startswith(
        f"{path}: [{section}] {key} must not be written in an 'oxbnn' system preset: "
        f"it comes from optics preset oxbnn50 ("
    )
    with pytest.raises(PresetError, match=rf"\[{section}\] {key} of an 'oxbnn' preset comes from"):
        system_preset.load_system_preset("oxbnn5").replace(section, **{key: 3})


def test_shared_keys_are_filled_from_the_optics_preset():
    """The shipped OXBNN presets write none of the shared keys, yet list each one with a unit and
    the optics preset's own source; a baseline writes and may change them."""
    for name in ("oxbnn50", "oxbnn5"):
        text = (SYSTEM_DIR / f"{name}.toml").read_text()
        optics = load_preset(name)
        rows = {c["key"]: c for c in system_preset.load_system_preset(name).coefficients()}
        for (section, key), (_, unit) in _FROM_OPTICS.items():
            assert not any(line.startswith(f"{key} = ") for line in text.splitlines()), key
            row = rows[f"{section}.{key}"]
            assert row["unit"] == unit, key
            assert row["source"].startswith(f"from optics preset {name}: "), key
        for key in ("n_xpus", "bit_rate_bps"):
            assert optics.sources[f"architecture.{key}"] in rows[f"architecture.{key}"]["source"]
        assert (
            optics.sources["pca.capacitance_F"]
            in rows["receiver.reset_energy_per_readout_J"]["source"]
        )
    robin = system_preset.load_system_preset("robin_po").replace("readout", bits=7)
    assert mapping.accelerator_model(robin.replace("architecture", gamma=2)).xpu.gamma == 2


def _optics_variant(tmp_path: Path, **scale: float) -> tuple[Path, dict[str, float]]:
    """The oxbnn50 optics file with some values scaled; returns its path and the new values."""
    text = (PRESET_DIR / "oxbnn50.toml").read_text()
    new = {}
    for key, factor in scale.items():
        line = next(x for x in text.splitlines() if x.startswith(f"{key} = "))
        old = line.split("value =")[1].split(",")[0]
        new[key] = factor * float(old)
        value = repr(int(new[key]) if key == "n_xpus" else new[key])
        text = text.replace(line, line.replace(f"value ={old},", f"value = {value},"))
    path = tmp_path / "variant.toml"
    path.write_text(text)
    return path, new


def test_system_model_follows_its_optics_preset(tmp_path):
    """Change X, the wall-plug efficiency and the PCA capacitor in the optics file only: the
    system model's X, laser and ring power and reset energy follow.

    X x 2 and efficiency x 0.5 make the laser's wall power 4 x (2 x the lines, 2 x the watts
    per line) and the ring tuning 2 x. The capacitor x 2 at half the swing holds the same
    charge (C V, so the same N and gamma) but dumps C V^2 / 2 at each reset.
    """
    base = load_preset("oxbnn50")
    variant, new = _optics_variant(
        tmp_path, n_xpus=2, wall_plug_efficiency=0.5, capacitance_F=2, voltage_swing_V=0.5
    )
    path = tmp_path / "sys.toml"
    path.write_text(_sub(_OX, 'optics_preset = "oxbnn50"', f'optics_preset = "{variant}"'))
    a = mapping.accelerator_model("oxbnn50")
    b = mapping.accelerator_model(system_preset.load_system_preset(path))
    assert (b.xpu.n_lanes, b.xpu.gamma) == (a.xpu.n_lanes, a.xpu.gamma)

    assert b.n_xpus == new["n_xpus"] == 2 * base.architecture.n_xpus
    assert math.isclose(b.peak_xnor_per_s, 2 * a.peak_xnor_per_s, rel_tol=1e-12)
    pa, pb = energy.static_power_W(a), energy.static_power_W(b)
    assert math.isclose(pb["laser"], 4 * pa["laser"], rel_tol=1e-12)
    assert math.isclose(pb["ring_tuning"], 2 * pa["ring_tuning"], rel_tol=1e-12)

    def reset_J(model: mapping.AcceleratorModel) -> float:
        counts = dict.fromkeys(("xnors", "slots", "outputs", "loaded_bits", "read_bits",
                                "written_bits", "serialized_bits"), 0)  # fmt: skip
        return energy.compute_dynamic_J(model, readouts=1, **counts)["photodetection"]

    cv2 = new["capacitance_F"] * new["voltage_swing_V"] ** 2
    assert math.isclose(reset_J(b), cv2, rel_tol=1e-12)
    assert math.isclose(reset_J(b), reset_J(a) / 2, rel_tol=1e-12)


def test_oxbnn_n_and_gamma_follow_the_optics_preset(tmp_path):
    """An OXBNN system preset naming another optics preset gets that preset's N and gamma.

    A receiver 5 % (0.2 dB) less sensitive closes the oxbnn50 link budget for fewer lanes (the
    budget is tight: that is how N = 19 was fitted); gamma = floor(capacity / N) then grows.
    Nothing in the system preset changes but the optics file it names.
    """
    optics_text = (PRESET_DIR / "oxbnn50.toml").read_text()
    line = next(x for x in optics_text.splitlines() if x.startswith("sensitivity_ref_W "))
    value = line.split("value =")[1].split(",")[0]
    weaker = tmp_path / "weaker.toml"
    weaker.write_text(optics_text.replace(line, line.replace(value, f" {1.05 * float(value)!r}")))
    text = _sub(_OX, 'optics_preset = "oxbnn50"', f'optics_preset = "{weaker}"')
    path = tmp_path / "sys.toml"
    path.write_text(text)
    preset = system_preset.load_system_preset(path)
    model = mapping.accelerator_model(preset)
    assert model.xpu.n_lanes < 19 and model.xpu.gamma > 14
    assert (preset.architecture.n_lanes, preset.architecture.gamma) == (
        model.xpu.n_lanes,
        model.xpu.gamma,
    )
    source = {c["key"]: c["source"] for c in preset.coefficients()}["architecture.n_lanes"]
    assert source.startswith(f"from optics preset {weaker}: N, derived from its link budget")


def test_preset_errors_for_files_and_names(tmp_path):
    with pytest.raises(PresetError, match="unknown system preset 'tpu'"):
        system_preset.load_system_preset("tpu")
    bad = tmp_path / "broken.toml"
    bad.write_text("[meta\n")
    with pytest.raises(PresetError, match=r"broken.toml: not valid TOML"):
        system_preset.load_system_preset(bad)
    with pytest.raises(PresetError, match=r"\(override\): \[gate\] has no key 'size'"):
        system_preset.load_system_preset("robin_po").replace("gate", size=1)
    with pytest.raises(PresetError, match=r"n_xpus = 0 is out of range"):
        system_preset.load_system_preset("robin_po").replace("architecture", n_xpus=0)


def test_shipped_presets_share_keys_and_cite_sources():
    presets = [system_preset.load_system_preset(n) for n in system_preset.ACCELERATORS]
    keys = [[c["key"] for c in p.coefficients()] for p in presets]
    assert all(k == keys[0] for k in keys)
    for p in presets:
        for c in p.coefficients():
            assert c["source"].strip() and c["unit"], (p.name, c["key"])
    assert system_preset.load_system_preset("OXBNN_50").name == "oxbnn50"


# ----------------------------------------------------------------------------------------------
# oxbnn report
# ----------------------------------------------------------------------------------------------


def _report(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="oxbnn")
    sub = parser.add_subparsers(dest="command")
    report_cmd.register(sub)
    args = parser.parse_args(["report", *argv])
    return args.func(args)


_JSON_KEYS = {
    "fps",
    "fps_per_w",
    "energy_per_frame_J",
    "power_W",
    "area_mm2",
    "utilization",
    "cycles",
}


def test_report_writes_its_files(tmp_path, capsys):
    out = tmp_path / "report"
    rc = _report(
        ["--accelerators", "oxbnn50", "robin_po", "lightbulb", "--networks", "vgg_small",
         "resnet18", "--out", str(out), "--json"]
    )  # fmt: skip
    assert rc == 0
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert "[1/6] OXBNN_50: VGG-small" in captured.err  # progress on stderr
    for name in ("layers.csv", "networks.csv", "comparison.csv", "ratios.csv",
                 "coefficients.csv", "report.json", "summary.md"):  # fmt: skip
        assert (out / name).stat().st_size > 0, name
    for name in ("fps.png", "fps_per_w.png", "energy_breakdown.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    assert json.loads((out / "report.json").read_text()) == data
    assert set(data["results"]) == {"OXBNN_50", "ROBIN_PO", "LIGHTBULB"}
    for row in data["results"].values():
        assert set(row) == {"VGG-small", "ResNet18"}
        for figures in row.values():
            assert _JSON_KEYS <= set(figures)
            assert figures["fps"] > 0 and 0 < figures["utilization"] <= 1
    assert data["paper"]["fps_ratio"] == 62 and data["paper"]["fps_per_w_ratio"] == 7.6
    assert {"python", "numpy", "matplotlib"} <= set(data["versions"])
    header = (out / "layers.csv").read_text().splitlines()[0].split(",")
    assert {"xpu_cycles", "clock_Hz", "latency_s", "utilization_pct", "energy_J"} <= set(header)
    assert "energy_laser_J" in header
    nets_header = (out / "networks.csv").read_text().splitlines()[0].split(",")
    assert {"fps", "fps_per_W", "energy_per_frame_J", "power_W", "area_mm2"} <= set(nets_header)
    summary = (out / "summary.md").read_text()
    assert "62x FPS" in summary and "7.6x" in summary and "Why the numbers differ" in summary
    assert "authors' simulator" in summary  # coefficient sources are listed
    coefficients = (out / "coefficients.csv").read_text()
    assert "optics.laser.power_per_wavelength_W" in coefficients


def test_report_default_grid_and_workload_csv(tmp_path, capsys):
    out = tmp_path / "r"
    assert _report(["--out", str(out), "--no-plots", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert list(data["results"]) == ["OXBNN_50", "OXBNN_5", "ROBIN_EO", "ROBIN_PO", "LIGHTBULB"]
    assert all(len(row) == 4 for row in data["results"].values())
    assert not (out / "fps.png").exists()
    assert data["ratios"]["up_to"]["fps"]["oxbnn"] in ("OXBNN_50", "OXBNN_5")

    csv_path = write_workload_csv(get_network("vgg_small"), tmp_path / "vgg.csv")
    out2 = tmp_path / "r2"
    rc = _report(
        ["--workload-csv", str(csv_path), "--accelerators", "robin_eo", "--out", str(out2),
         "--no-plots", "--json"]
    )  # fmt: skip
    assert rc == 0
    data = json.loads(capsys.readouterr().out)
    assert list(data["results"]["ROBIN_EO"]) == ["VGG-small"]


def test_report_rejects_bad_inputs(tmp_path):
    with pytest.raises(ValueError, match="unknown network"):
        _report(["--networks", "alexnet", "--out", str(tmp_path)])
    with pytest.raises(PresetError, match="unknown system preset"):
        _report(["--accelerators", "tpu", "--out", str(tmp_path)])
    bad = tmp_path / "bad.csv"
    bad.write_text("model_name,name\n")
    with pytest.raises(ValueError, match=str(bad)):
        _report(["--workload-csv", str(bad), "--out", str(tmp_path)])


def test_report_file_paths_are_relative_to_out(tmp_path, monkeypatch):
    """The default output folder is build/report under the working directory."""
    monkeypatch.chdir(tmp_path)
    assert _report(["--accelerators", "robin_eo", "--networks", "vgg_small", "--no-plots"]) == 0
    assert (Path("build") / "report" / "summary.md").exists()
