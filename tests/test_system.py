"""System model (models/system) and ``oxbnn report`` (tools/report_cmd).

Checked here: the roofline on every layer of every network on every accelerator, energy
breakdowns that add up, one ADC conversion per readout, static power linear in X, the utilisation
error, named errors for malformed system presets, a micro-case whose every figure is derived by
hand, and the report's files and JSON keys. No wall-clock timing is asserted.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import pytest

from oxbnn.models import system, timing
from oxbnn.models.configs import PresetError
from oxbnn.models.system import COMPONENTS, UtilizationError
from oxbnn.models.workloads import (
    NETWORKS,
    Network,
    WorkloadLayer,
    get_network,
    write_workload_csv,
)
from oxbnn.tools import report_cmd

SYSTEM_DIR = system.SYSTEM_PRESET_DIR


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
    """No layer exceeds the optical peak; no layer takes zero time (REFERENCE.md defect 3)."""
    for acc, row in grid.items():
        model = system.accelerator_model(acc)
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


def test_energy_breakdown_sums_to_total(grid):
    for acc, row in grid.items():
        for net, res in row.items():
            parts = res.energy_J
            assert set(parts) == set(COMPONENTS)
            assert all(v >= 0 for v in parts.values()), (acc, net, parts)
            assert math.isclose(sum(parts.values()), res.energy_per_frame_J, rel_tol=1e-12)
            # The layers' energies (static power over each layer's time + dynamic) add up too.
            per_layer = [layer.energy_J(res.static_power_W) for layer in res.layers]
            for c in COMPONENTS:
                assert math.isclose(
                    sum(e[c] for e in per_layer), parts[c], rel_tol=1e-9, abs_tol=1e-18
                ), (acc, net, c)
            assert math.isclose(res.power_W * res.latency_s, res.energy_per_frame_J)
            assert math.isclose(res.fps_per_w, 1 / res.energy_per_frame_J)
            assert math.isclose(res.area_mm2, sum(res.area_m2.values()) * 1e6)


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
    """REFERENCE.md defect 1: static power grows with X, not X^2."""
    base = system.load_system_preset("robin_po")
    one = system.accelerator_model(base).static_power_W()
    two = system.accelerator_model(
        base.replace("architecture", n_xpus=2 * base.architecture.n_xpus)
    ).static_power_W()
    for c in COMPONENTS:
        assert math.isclose(two[c], 2 * one[c], rel_tol=1e-12), c


def test_gamma_comes_from_the_optics():
    """REFERENCE.md defect 5: gamma is derived per preset, 14 at 50 Gb/s and 5 at 5 Gb/s."""
    assert system.accelerator_model("oxbnn50").xpu.gamma == 14
    assert system.accelerator_model("oxbnn5").xpu.gamma == 5


# ----------------------------------------------------------------------------------------------
# A micro-case derived by hand
# ----------------------------------------------------------------------------------------------


def _tiny_preset(**readout) -> system.SystemPreset:
    """N = 4, M = 2, X = 3 at 1 Gb/s, gamma = 2, with round coefficients (the rest zero)."""
    p = system.load_system_preset("robin_eo")
    p = p.replace(
        "architecture",
        n_lanes=4,
        n_xpes=2,
        n_xpus=3,
        bit_rate_bps=1e9,
        chunks_per_readout=2,
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


def test_micro_case_by_hand():
    """One fc layer, K = 10, 3 outputs, on N = 4, M = 2, X = 3, 1 GHz, gamma = 2.

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
    model = system.accelerator_model(_tiny_preset())
    assert model.xpu.n_lanes == 4 and model.xpu.gamma == 2
    res = system.evaluate_network(model, _micro_network())
    (layer,) = res.layers
    spec = layer.share.spec
    assert (spec.kind, spec.k, spec.out_channels, spec.output) == ("fc", 10, 1, "int")
    assert system.memory_for(spec, model) == timing.MemoryModel(1, 1)
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
    want_dynamic = {
        "modulation": 6e-12,
        "drivers": 0.6e-12,
        "photodetection": 1.8e-12,
        "readout": 9e-12,
        "vcsel": 30e-12,
        "buffers": 1.8e-12,
        "edram": 10.875e-12,
        "electronic": 0.3e-12,
    }
    for c in COMPONENTS:
        want = want_static.get(c, 0.0) * t + want_dynamic.get(c, 0.0)
        assert math.isclose(res.energy_J[c], want, rel_tol=1e-9, abs_tol=1e-24), c
    total = sum(want_static.values()) * t + sum(want_dynamic.values())
    assert math.isclose(res.energy_per_frame_J, total, rel_tol=1e-9)


def test_micro_case_readout_bound():
    """The same layer with a 0.1 GS/s ADC: 2 conversions take 20 ns > 13 ns of cycles."""
    model = system.accelerator_model(_tiny_preset(sample_rate_Sps=1e8, power_W=1e-4))
    (layer,) = system.evaluate_network(model, _micro_network()).layers
    assert layer.xpu_cycles == 13 and layer.bound == "readout"
    assert math.isclose(layer.seconds, 20e-9)
    (free,) = system.evaluate_network(model, _micro_network(), readout_bound=False).layers
    assert math.isclose(free.seconds, 13e-9)


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
    """A cycle model that claims 1 cycle per layer breaks the roofline: a named error."""
    real = timing.layer_cycles

    def too_fast(spec, xpu, mem=None):
        bd = real(spec, xpu, mem)
        return timing.CycleBreakdown(
            total=1, fill=0, compute=1, load=0, readout=0, drain=0, clock_hz=bd.clock_hz,
            plan=bd.plan, pair_starts=bd.pair_starts,
        )  # fmt: skip

    system.clear_cache()
    monkeypatch.setattr(timing, "layer_cycles", too_fast)
    try:
        net = Network(
            "big", (4, 4, 8), "test", (WorkloadLayer.conv("c", (4, 4, 8), 6, 3, padding=1),)
        )
        model = system.accelerator_model(_tiny_preset().replace("readout", sample_rate_Sps=1e12))
        with pytest.raises(UtilizationError, match=r"big, layer 'c'"):
            system.evaluate_network(model, net)
    finally:
        system.clear_cache()


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
        _sub(_OX, "wall_plug_efficiency = { value = 0.2,", "wall_plug_efficiency = { value = 1.5,"),
        r"\[laser\] wall_plug_efficiency = 1.5 is out of range",
    ),
    (_sub(_OX, _line(_OX, "n_xpus"), "n_xpus = 224"), r"\[architecture\] n_xpus must be an inline"),
    (
        _sub(_OX, _line(_OX, "bits"), 'bits = { value = 9, unit = "bit", source = " " }'),
        r"\[readout\] bits needs a non-empty 'source'",
    ),
    (_OX + "\n[cooling]\nfan_W = 1\n", r"unknown section\(s\) \['cooling'\]"),
    (
        _sub(_OX, "[vcsel]\n", '[vcsel]\ncolor = { value = 1, unit = "1", source = "x" }\n'),
        r"\[vcsel\] has unknown key\(s\) \['color'\]",
    ),
    (
        _sub(_OX, "n_lanes = { value = 19,", "n_lanes = { value = 20,"),
        r"\[architecture\] n_lanes = 20 disagrees with optics preset 'oxbnn50' \(N .* = 19\)",
    ),
    (
        _sub(_OX, "chunks_per_readout = { value = 14,", "chunks_per_readout = { value = 13,"),
        r"\[architecture\] chunks_per_readout = 13 disagrees .*\(gamma .* = 14\)",
    ),
    (
        _sub(
            _OX,
            "reset_energy_per_readout_J = { value = 1.49e-12",
            "reset_energy_per_readout_J = { value = 1e-12",
        ),
        r"\[receiver\] reset_energy_per_readout_J .*\(C \* V\^2 .* = 1.49e-12\)",
    ),
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
        system.load_system_preset(path)
    assert str(path) in str(info.value)


def test_preset_errors_for_files_and_names(tmp_path):
    with pytest.raises(PresetError, match="unknown system preset 'tpu'"):
        system.load_system_preset("tpu")
    bad = tmp_path / "broken.toml"
    bad.write_text("[meta\n")
    with pytest.raises(PresetError, match=r"broken.toml: not valid TOML"):
        system.load_system_preset(bad)
    with pytest.raises(PresetError, match=r"\(override\): \[gate\] has no key 'size'"):
        system.load_system_preset("robin_po").replace("gate", size=1)
    with pytest.raises(PresetError, match=r"n_xpus = 0 is out of range"):
        system.load_system_preset("robin_po").replace("architecture", n_xpus=0)


def test_shipped_presets_share_keys_and_cite_sources():
    presets = [system.load_system_preset(n) for n in system.ACCELERATORS]
    keys = [[c["key"] for c in p.coefficients()] for p in presets]
    assert all(k == keys[0] for k in keys)
    for p in presets:
        for c in p.coefficients():
            assert c["source"].strip() and c["unit"], (p.name, c["key"])
    assert system.load_system_preset("OXBNN_50").name == "oxbnn50"


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
