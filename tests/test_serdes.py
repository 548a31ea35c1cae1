"""Serializers (models/serdes), the clock at S > 1 and the S = 1 idealisation (issue 11).

Checked here: the tree serializer's stages, cells and latency derived by hand for S in {1, 2, 3,
4, 8, 32}; S = 1 costs nothing (the idealisation of every shipped preset); the shipped OXBNN_50 at
S = 49 and its serializers; the eDRAM in cycles of the real clock (1.56 ns at 1.5625 GHz is 3
cycles, not 78); the S = 1 idealisation does not depend on the S a
preset is configured with; the ``[serdes]`` section's errors name the file and the key; and the
report's serializer rows, clock columns and idealisation ratios. The micro case with its
serializer energy worked out by hand is ``tests/test_system.py``
(``test_micro_case_serializers_at_two_slots_per_cycle``).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
from pathlib import Path

import pytest
from test_system import _OX, _RB, _line, _sub

from oxbnn.models import energy, mapping, serdes, system, system_preset, timing
from oxbnn.models.configs import PRESET_DIR, PresetError
from oxbnn.models.workloads import Network, WorkloadLayer
from oxbnn.tools import report_cmd

SYSTEM_DIR = system_preset.SYSTEM_PRESET_DIR


def _oxbnn50_at(tmp_path: Path, s: int) -> system_preset.SystemPreset:
    """OXBNN_50 whose optics preset asks for S slots per cycle (nothing else changed)."""
    optics = (PRESET_DIR / "oxbnn50.toml").read_text()
    line = _line(optics, "symbols_per_cycle")
    optics_path = tmp_path / f"optics_s{s}.toml"
    optics_path.write_text(optics.replace(line, re.sub(r"value = \d+,", f"value = {s},", line)))
    text = _sub(_OX, 'optics_preset = "oxbnn50"', f'optics_preset = "{optics_path}"')
    text = _sub(text, '\nname = "oxbnn50"\n', f'\nname = "oxbnn50s{s}"\n')
    text = _sub(text, 'label = "OXBNN_50"', f'label = "OXBNN_50 at S = {s}"')
    path = tmp_path / f"system_s{s}.toml"
    path.write_text(text)
    return system_preset.load_system_preset(path)


def _small_network() -> Network:
    """A 3 x 3 conv (K = 72 bits: 4 chunks of 19) with a fused pool, then an fc layer."""
    conv = WorkloadLayer.conv("conv", (8, 8, 8), 16, 3, padding=1)
    pool = WorkloadLayer.pool("pool", "maxpool", conv.out_shape, 2, stride=2)
    fc = WorkloadLayer.fc("fc", pool.out_shape, 10)
    return Network("small", (8, 8, 8), "test", (conv, pool, fc))


# ----------------------------------------------------------------------------------------------
# The serializer
# ----------------------------------------------------------------------------------------------

#: S -> (levels ceil(log2 S), cells S - 1, latency cycles). Latency: a bit waits one period of
#: each level's clock, 1 + 1/2 + ... cycles: 1 for one level, 1.5 .. < 2 for more, rounded up.
_BY_HAND = {1: (0, 0, 0), 2: (1, 1, 1), 3: (2, 2, 2), 4: (2, 3, 2), 8: (3, 7, 2), 32: (5, 31, 2)}


@pytest.mark.parametrize("s", list(_BY_HAND))
def test_serializer_tree_by_hand(s):
    ser = serdes.Serializer(s, energy_per_bit_coefficient_J=1e-12, cell_area_coefficient_m2=3e-12)
    levels, cells, latency = _BY_HAND[s]
    assert (ser.stages, ser.cells, ser.latency_cycles) == (levels, cells, latency)
    assert ser.present == (s > 1)
    assert math.isclose(ser.area_m2, cells * 3e-12, abs_tol=1e-30)
    assert ser.energy_per_bit_J == (1e-12 if s > 1 else 0.0)


@pytest.mark.parametrize("s", [0, -2, 1.5, True])
def test_serializer_refuses_a_bad_ratio(s):
    with pytest.raises(ValueError, match="symbols_per_cycle must be a positive integer"):
        serdes.Serializer(s, 1e-12, 1e-12)


@pytest.mark.parametrize("name", system_preset.ACCELERATORS)
def test_no_serializer_at_the_s1_idealisation_of_the_shipped_presets(name):
    """The S = 1 idealisation of every shipped preset: no serializer, no serializer energy or
    area."""
    preset = system_preset.load_system_preset(name)
    assert preset.architecture.symbols_per_cycle > 1
    model = mapping.accelerator_model(system_preset.s1_idealisation(preset))
    assert model.xpu.symbols_per_cycle == 1
    assert serdes.serializers_per_xpu(model) == 0
    assert serdes.serialized_bits(model, 10**6) == 0
    assert serdes.serializer(model).latency_cycles == 0
    assert energy.area_m2(model)["serdes"] == 0.0
    res = system.evaluate_network(model, _small_network())
    assert res.energy_J["serdes"] == 0.0 and res.serialized_bits == 0


def test_serializers_of_oxbnn50_at_s32(tmp_path):
    """S = 32: 2 junctions x N = 19 x M = 19 per XPU, 224 XPUs: 161,728 serializers of 31 cells
    of 15 um^2 (the preset's cell) = 75.2 mm^2; 2 cycles of latency; 722 x 32 bits per issue cycle
    of an XPU."""
    model = mapping.accelerator_model(_oxbnn50_at(tmp_path, 32))
    assert serdes.serializers_per_xpu(model) == 722
    assert model.n_xpus * serdes.serializers_per_xpu(model) == 161728
    assert serdes.serializer(model).latency_cycles == 2
    assert math.isclose(energy.area_m2(model)["serdes"], 161728 * 31 * 15e-12, rel_tol=1e-12)
    assert serdes.serialized_bits(model, 5) == 722 * 32 * 5


def test_serializers_of_the_shipped_oxbnn50_at_s49():
    """The shipped OXBNN_50 (S = 49, 50 GHz / 49 = 1.0204 GHz): 722 serializers per XPU of
    S - 1 = 48 cells (6 levels, 2 cycles); 161,728 x 48 x 15 um^2 = 116.4 mm^2."""
    model = mapping.accelerator_model("oxbnn50")
    assert model.xpu.symbols_per_cycle == 49 and model.clock_hz == 50e9 / 49
    ser = serdes.serializer(model)
    assert (ser.stages, ser.cells, ser.latency_cycles) == (6, 48, 2)
    assert math.isclose(energy.area_m2(model)["serdes"], 161728 * 48 * 15e-12, rel_tol=1e-12)
    assert serdes.serialized_bits(model, 3) == 722 * 49 * 3
    res = system.evaluate_network(model, _small_network())
    assert res.energy_J["serdes"] > 0 and res.serialized_bits > 0


# ----------------------------------------------------------------------------------------------
# The clock at S > 1
# ----------------------------------------------------------------------------------------------


def test_edram_in_cycles_of_the_real_clock(tmp_path):
    """One 1.56 ns eDRAM access: at S = 1 (50 GHz) 78 cycles, a 19-bit word of each of the two
    streams 19 * 2 * 78 / 256 = 11.6 -> 12 cycles; at S = 32 (1.5625 GHz) 2.4375 -> 3 cycles and
    19 * 2 * 2.4375 / 256 = 0.36 -> 1 cycle per word (the stream's peak); at the shipped S = 49
    (1.0204 GHz) 1.592 -> 2 cycles and 0.24 -> 1 cycle per word."""
    shipped = system_preset.load_system_preset("oxbnn50")
    ideal = mapping.accelerator_model(system_preset.s1_idealisation(shipped))
    assert ideal.memory == timing.MemoryModel(78, 12)
    model = mapping.accelerator_model(_oxbnn50_at(tmp_path, 32))
    assert model.clock_hz == 50e9 / 32
    assert model.memory == timing.MemoryModel(3, 1)
    assert mapping.accelerator_model(shipped).memory == timing.MemoryModel(2, 1)


def test_s1_idealisation_does_not_depend_on_the_configured_s(tmp_path):
    """OXBNN_50 configured at S = 2 and its S = 1 idealisation: the idealisation is OXBNN_50
    configured at S = 1 (same XPU, clock, memory, figures), and so is the shipped S = 49 one's;
    the S = 2 one runs at 25 GHz and pays its serializers."""
    at1 = _oxbnn50_at(tmp_path, 1)
    at2 = _oxbnn50_at(tmp_path, 2)
    ideal = system_preset.s1_idealisation(at2)
    assert ideal.label == "OXBNN_50 at S = 2" + system_preset.S1_LABEL
    m_ideal, m_shipped = mapping.accelerator_model(ideal), mapping.accelerator_model(at1)
    ideal49 = system_preset.s1_idealisation(system_preset.load_system_preset("oxbnn50"))
    m49 = mapping.accelerator_model(ideal49)
    assert m49.xpu == m_shipped.xpu and m49.memory == m_shipped.memory
    assert m_ideal.xpu == m_shipped.xpu and m_ideal.memory == m_shipped.memory
    assert m_ideal.clock_hz == 50e9
    a = system.evaluate_network(m_ideal, _small_network())
    b = system.evaluate_network(m_shipped, _small_network())
    assert a.fps == b.fps and a.energy_J == b.energy_J and a.area_m2 == b.area_m2

    m2 = mapping.accelerator_model(at2)
    assert m2.clock_hz == 25e9 and m2.xpu.symbols_per_cycle == 2
    c = system.evaluate_network(m2, _small_network())
    assert c.clock_hz == 25e9 and c.symbols_per_cycle == 2
    assert c.energy_J["serdes"] > 0
    # 2 x 19 x 19 per XPU, 224 XPUs, one 15 um^2 cell each at S = 2.
    assert math.isclose(c.area_m2["serdes"], 224 * 722 * 15e-12, rel_tol=1e-12)
    # The idealisation of a preset already at S = 1 is that preset, relabelled.
    again = system_preset.s1_idealisation(at1)
    assert again.architecture == at1.architecture and again.serdes == at1.serdes
    assert again.label == "OXBNN_50 at S = 1" + system_preset.S1_LABEL


# ----------------------------------------------------------------------------------------------
# [serdes] in the presets
# ----------------------------------------------------------------------------------------------

_BAD = [
    (_sub(_OX, _line(_OX, "cell_area_m2") + "\n", ""), r"\[serdes\] cell_area_m2 is missing"),
    (
        _sub(_OX, "[serdes]\n", '[serdes]\nratio = { value = 2, unit = "1", source = "x" }\n'),
        r"\[serdes\] has unknown key\(s\) \['ratio'\]",
    ),
    (
        _sub(_RB, 'value = 0.526e-12, unit = "J"', 'value = 0.526, unit = "pJ"'),
        r"\[serdes\] energy_per_bit_J has unit 'pJ'; expected 'J'",
    ),
    (
        _sub(_RB, "energy_per_bit_J = { value = 0.526e-12", "energy_per_bit_J = { value = -1e-12"),
        r"\[serdes\] energy_per_bit_J = -1e-12 is out of range",
    ),
    (
        _sub(_OX, 'node_nm = { value = 45, unit = "nm"', 'node_nm = { value = 28, unit = "nm"'),
        r"\[serdes\] node_nm = 28 differs from \[architecture\] target_node_nm = 45 \(from "
        r"optics preset oxbnn50\)",
    ),
    (
        _sub(_RB, _line(_RB, "target_node_nm"), _line(_RB, "target_node_nm").replace("45", "65")),
        r"\[serdes\] node_nm = 45 differs from \[architecture\] target_node_nm = 65;",
    ),
    (
        _sub(_RB, _line(_RB, "symbols_per_cycle") + "\n", ""),
        r"\[architecture\] symbols_per_cycle is missing",
    ),
    (
        _sub(_OX, "\n[serdes]\n", "\n[serdes_]\n"),
        r"unknown section\(s\) \['serdes_'\]",
    ),
]


@pytest.mark.parametrize(("text", "pattern"), _BAD)
def test_bad_serdes_keys_are_named(tmp_path, text, pattern):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(PresetError, match=pattern) as info:
        system_preset.load_system_preset(path)
    assert str(info.value).startswith(str(path))


def test_every_preset_lists_its_serdes_coefficients_with_sources():
    for name in system_preset.ACCELERATORS:
        rows = {c["key"]: c for c in system_preset.load_system_preset(name).coefficients()}
        for key, unit in (("node_nm", "nm"), ("energy_per_bit_J", "J"), ("cell_area_m2", "m^2")):
            row = rows[f"serdes.{key}"]
            assert row["unit"] == unit and row["source"].strip(), (name, key)
        assert "Fan, Yu, Mak, Martins" in rows["serdes.energy_per_bit_J"]["source"]
        assert "osu018" in rows["serdes.cell_area_m2"]["source"]


def test_override_keeps_the_node_rule():
    p = system_preset.load_system_preset("robin_po")
    with pytest.raises(PresetError, match=r"\(override\): \[serdes\] node_nm = 28 differs"):
        p.replace("serdes", node_nm=28)


# ----------------------------------------------------------------------------------------------
# oxbnn report
# ----------------------------------------------------------------------------------------------


def _report(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="oxbnn")
    sub = parser.add_subparsers(dest="command")
    report_cmd.register(sub)
    args = parser.parse_args(["report", *argv])
    return args.func(args)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _robin_eo_at_s1(tmp_path: Path) -> Path:
    line = _line(_RB, "symbols_per_cycle")
    path = tmp_path / "robin_eo_s1.toml"
    path.write_text(_sub(_RB, line, re.sub(r"value = \d+,", "value = 1,", line)))
    return path


def test_report_serializer_rows_and_clock_columns_at_s1(tmp_path, capsys):
    """Two accelerators configured at S = 1: no serializer terms, each its own idealisation."""
    out = tmp_path / "r"
    at1 = str(_oxbnn50_at(tmp_path, 1).path)
    rc = _report(["--accelerators", at1, str(_robin_eo_at_s1(tmp_path)), "--networks",
                  "vgg_small", "--out", str(out), "--no-plots", "--json"])  # fmt: skip
    assert rc == 0
    data = json.loads(capsys.readouterr().out)
    nets = _rows(out / "networks.csv")
    assert {r["accelerator"] for r in nets} == {"OXBNN_50 at S = 1", "ROBIN_EO"}
    for r in nets:
        assert r["symbols_per_cycle"] == "1" and float(r["energy_serdes_J"]) == 0.0
        assert float(r["area_serdes_mm2"]) == 0.0 and r["serialized_bits"] == "0"
        assert float(r["fps_s1_idealisation"]) == float(r["fps"])
    assert float(next(r for r in nets if r["accelerator"] != "ROBIN_EO")["clock_Hz"]) == 50e9
    assert float(next(r for r in nets if r["accelerator"] == "ROBIN_EO")["clock_Hz"]) == 5e9
    assert "energy_serdes_J" in _rows(out / "layers.csv")[0]
    coefficients = (out / "coefficients.csv").read_text()
    assert "serdes.energy_per_bit_J" in coefficients and "serdes.cell_area_m2" in coefficients
    ideal = data["ratios"]["s1_idealisation"]
    assert ideal["OXBNN_50 at S = 1"]["fps"] == 1.0 and ideal["ROBIN_EO"]["fps_per_w"] == 1.0
    assert data["results"]["OXBNN_50 at S = 1"]["VGG-small"]["symbols_per_cycle"] == 1
    assert data["configuration"]["OXBNN_50 at S = 1"]["serializers"] == 0
    ratios = _rows(out / "ratios.csv")
    assert any(r["baseline"] == "OXBNN_50 at S = 1 (S = 1 idealisation)" for r in ratios)
    summary = (out / "summary.md").read_text()
    assert "## The realistic clock against the S = 1 idealisation" in summary
    assert "1 (S = 1 idealisation)" in summary


def test_report_at_s2_against_its_idealisation(tmp_path):
    """A configured S = 2 accelerator: its clock halves, its serializers appear in the energy and
    area columns, and its idealisation row is the S = 1 accelerator's."""
    at2, at1 = _oxbnn50_at(tmp_path, 2), _oxbnn50_at(tmp_path, 1)
    out = tmp_path / "r"
    rc = _report(["--accelerators", str(at2.path), str(at1.path), "--networks", "vgg_small",
                  "--out", str(out), "--no-plots"])  # fmt: skip
    assert rc == 0
    nets = {r["accelerator"]: r for r in _rows(out / "networks.csv")}
    two, one = nets["OXBNN_50 at S = 2"], nets["OXBNN_50 at S = 1"]
    assert float(two["clock_Hz"]) == 25e9 and two["symbols_per_cycle"] == "2"
    assert float(two["energy_serdes_J"]) > 0 and float(two["area_serdes_mm2"]) > 0
    assert int(two["serialized_bits"]) > 0
    assert float(two["fps_s1_idealisation"]) == float(one["fps"])
    assert float(two["fps_per_W_s1_idealisation"]) == float(one["fps_per_W"])
    data = json.loads((out / "report.json").read_text())
    r = data["ratios"]["s1_idealisation"]["OXBNN_50 at S = 2"]
    assert r["clock_hz"] == 25e9 and r["clock_hz_s1"] == 50e9
    assert math.isclose(r["fps"], float(two["fps"]) / float(one["fps"]), rel_tol=1e-5)
    summary = (out / "summary.md").read_text()
    assert "**OXBNN_50 at S = 2** at S = 2 (25 GHz instead of 50)" in summary
    assert "OXBNN_50 at S = 1 is configured at S = 1" in summary


def test_report_of_the_shipped_presets_at_their_clock(tmp_path):
    """The shipped OXBNN_50 (S = 49) and ROBIN_EO (S = 5): clocks 50 GHz / 49 and 5 GHz / 5,
    serializer energy and area, and an idealisation faster than the configuration."""
    out = tmp_path / "r"
    rc = _report(["--accelerators", "oxbnn50", "robin_eo", "--networks", "vgg_small", "--out",
                  str(out), "--no-plots"])  # fmt: skip
    assert rc == 0
    nets = {r["accelerator"]: r for r in _rows(out / "networks.csv")}
    ox, rb = nets["OXBNN_50"], nets["ROBIN_EO"]
    assert (ox["symbols_per_cycle"], rb["symbols_per_cycle"]) == ("49", "5")
    assert math.isclose(float(ox["clock_Hz"]), 50e9 / 49, rel_tol=1e-5)  # 6 digits in the CSV
    assert float(rb["clock_Hz"]) == 1e9
    for r in (ox, rb):
        assert float(r["energy_serdes_J"]) > 0 and float(r["area_serdes_mm2"]) > 0
        assert float(r["fps_s1_idealisation"]) > float(r["fps"])
    summary = (out / "summary.md").read_text()
    assert "**OXBNN_50** at S = 49 (1.02041 GHz instead of 50)" in summary
