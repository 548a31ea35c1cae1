"""Preset loading: every malformed file gets an error naming the file, the key and the value."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from oxbnn.models.configs import PRESET_DIR, PresetError, XpuParams, load_preset, preset_names
from oxbnn.models.derive import reset_dead_slots, xpu_params


def test_shipped_presets_share_keys_and_have_sources():
    presets = [load_preset(n) for n in preset_names()]
    assert {p.name for p in presets} >= {"oxbnn50", "oxbnn5"}
    keys = [[row["key"] for row in p.coefficients()] for p in presets]
    assert all(k == keys[0] for k in keys)
    for p in presets:
        for row in p.coefficients():
            assert row["unit"] and row["source"].strip(), row


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    return path


BASE = (PRESET_DIR / "oxbnn50.toml").read_text()


def _sub(pattern: str, repl: str) -> str:
    new, count = re.subn(pattern, repl, BASE, count=1, flags=re.M)
    assert count == 1, pattern
    return new


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            _sub(r"capacitance_F = \{ value = [^,]+,", "capacitance_F = { value = -1e-12,"),
            r"\[pca\] capacitance_F = -1e-12 is out of range; expected > 0",
        ),
        (
            _sub(r"n_xpes = \{ value = 19,", "n_xpes = { value = 0,"),
            r"\[architecture\] n_xpes = 0 is out of range; expected >= 1",
        ),
        (
            _sub(r"max_lanes = \{ value = 120,", "max_lanes = { value = 0,"),
            r"\[architecture\] max_lanes = 0 is out of range",
        ),
        (
            _sub(r"^\[pca\]$", '[pca]\nbogus_key = { value = 1, unit = "1", source = "x" }'),
            r"\[pca\] has unknown key\(s\) \['bogus_key'\]",
        ),
        (_sub(r"^temperature_K = .*$", ""), r"\[pca\] temperature_K is missing"),
        (
            _sub(
                r'capacitance_F = \{ value = ([^,]+), unit = "F"',
                r'capacitance_F = { value = \1, unit = "pF"',
            ),
            r"\[pca\] capacitance_F has unit 'pF'; expected 'F'",
        ),
        (
            _sub(r"adc_bits = \{ value = 9,", "adc_bits = { value = 9.5,"),
            r"\[pca\] adc_bits must be an integer, not 9.5",
        ),
        (
            _sub(r"adc_bits = \{ value = 9,", 'adc_bits = { value = "nine",'),
            r"\[pca\] adc_bits must be a number, not 'nine'",
        ),
        (
            _sub(
                r'(radius_m = \{ value = [^,]+, unit = "m"), source = "[^"]*"', r'\1, source = ""'
            ),
            r"\[ring\] radius_m needs a non-empty 'source'",
        ),
        (_sub(r"^\[link\]$", "[lnk]"), r"unknown section\(s\) \['lnk'\]"),
        (_sub(r'^name = "oxbnn50"$', ""), r"missing \[meta\] section with a string 'name'"),
        (
            _sub(r"^bit_rate_bps = \{ value = 50e9", "bit_rate_bps = 50e9 #"),
            r"\[architecture\] bit_rate_bps must be an inline table",
        ),
        ("this is = not toml [", r"not valid TOML"),
    ],
    ids=[
        "negative-C",
        "M=0",
        "N-bound=0",
        "unknown-key",
        "missing-key",
        "wrong-unit",
        "float-int",
        "string",
        "no-source",
        "unknown-section",
        "no-name",
        "bare-value",
        "bad-toml",
    ],
)
def test_bad_preset_gets_named_error(tmp_path, text, message):
    path = _write(tmp_path, text)
    with pytest.raises(PresetError, match=message) as info:
        load_preset(str(path))
    assert str(path) in str(info.value)


def test_unknown_preset_and_missing_file(tmp_path):
    with pytest.raises(PresetError, match=r"unknown preset 'nope'; expected one of"):
        load_preset("nope")
    with pytest.raises(PresetError, match="cannot read preset file"):
        load_preset(str(tmp_path / "absent.toml"))


def test_override_is_validated():
    p = load_preset("oxbnn50")
    with pytest.raises(PresetError, match=r"\[pca\] capacitance_F = 0 is out of range"):
        p.replace("pca", capacitance_F=0)
    with pytest.raises(PresetError, match=r"\[pca\] has no key 'cap'"):
        p.replace("pca", cap=1.0)
    assert p.replace("pca", capacitance_F=2e-12).pca.capacitance_F == 2e-12


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"gamma": 0}, "gamma must be a positive integer, not 0"),
        ({"n_lanes": 4.0}, "n_lanes must be a positive integer, not 4.0"),
        ({"adc_bits": 3}, r"adc_bits = 3 cannot hold gamma \* n_lanes = 8 counts"),
        ({"reset_dead_slots": -1}, "reset_dead_slots must be a non-negative integer, not -1"),
        ({"reset_dead_slots": 1.0}, "reset_dead_slots must be a non-negative integer, not 1.0"),
        ({"reset_dead_slots": True}, "reset_dead_slots must be a non-negative integer, not True"),
        ({"pca_capacitors": 0}, "pca_capacitors must be a positive integer, not 0"),
        # gamma = 2 at S = 3: runs start inside cycles; one capacitor cannot wait for itself.
        (
            {"reset_dead_slots": 1, "symbols_per_cycle": 3},
            r"reset_dead_slots = 1 with pca_capacitors = 1, gamma = 2 and symbols_per_cycle = 3"
            r".*need reset_dead_slots <= \(pca_capacitors - 1\) \* gamma = 0",
        ),
        (
            {"reset_dead_slots": 3, "pca_capacitors": 2, "symbols_per_cycle": 3},
            r"reset_dead_slots <= \(pca_capacitors - 1\) \* gamma = 2 .* or gamma % "
            r"symbols_per_cycle == 0",
        ),
    ],
)
def test_xpu_params_validation(kwargs, message):
    base = {"n_lanes": 4, "n_xpes": 2, "gamma": 2, "adc_bits": 4}
    with pytest.raises(PresetError, match=message):
        XpuParams(**{**base, **kwargs})


def test_reset_rotation_accepts_what_the_beat_wait_serves():
    """R <= (P - 1) gamma, or gamma % S == 0 (every run starts a beat), or S = 1."""
    base = XpuParams(n_lanes=4, n_xpes=2, gamma=2, adc_bits=4)
    for s, r, p in [(1, 50, 1), (2, 9, 1), (4, 2, 2), (3, 2, 2), (3, 4, 3), (32, 2, 2)]:
        xpu = base.replace(symbols_per_cycle=s, reset_dead_slots=r, pca_capacitors=p)
        assert (xpu.reset_dead_slots, xpu.pca_capacitors) == (r, p)
    assert (base.reset_dead_slots, base.pca_capacitors) == (0, 1)  # the default: no dead slots


def test_reset_dead_slots_from_the_switch_and_the_capacitor():
    """R = ceil(R_on C ln(2^(bits + 1)) bit_rate): 10 Ohm, 1 pF, 9 bits at 50 Gb/s is
    ceil(10 * 1e-12 * 6.931 * 5e10) = ceil(3.47) = 4; at 5 Gb/s ceil(0.347) = 1; 100 Ohm
    ceil(34.7) = 35. The presets (10 Ohm, 9 bits): oxbnn50's 1.49 pF at 50 Gb/s, 103.3 ps,
    5.16 slots: R = 6 <= gamma = 14; oxbnn5's 5.65 pF at 5 Gb/s, 391.6 ps, 1.96 slots: R = 2 <=
    gamma = 5; both ping-pong (P = 2)."""
    p = load_preset("oxbnn50")
    one_pf = p.replace("pca", reset_switch_ohm=10.0, capacitance_F=1e-12)
    assert reset_dead_slots(one_pf) == 4
    assert reset_dead_slots(one_pf.replace("architecture", bit_rate_bps=5e9)) == 1
    assert reset_dead_slots(one_pf.replace("pca", reset_switch_ohm=100.0)) == 35
    for name, r, gamma in [("oxbnn50", 6, 14), ("oxbnn5", 2, 5)]:
        xpu = xpu_params(name)
        assert (xpu.reset_dead_slots, xpu.pca_capacitors, xpu.gamma) == (r, 2, gamma)


def test_preset_s_sets_the_clock_and_the_adc_channels(tmp_path):
    """S = 2 in the preset: the XPU carries two slots per cycle at half the bit rate. With
    gamma = 14 (even) the gamma-th chunks 13, 27, ... sit in slot 1 and a vector's last chunk in
    slot 1 follows a chunk that is not gamma-th, so a cycle holds one sample: one ADC channel."""
    path = tmp_path / "s2.toml"
    path.write_text(
        _sub(r"symbols_per_cycle = \{ value = \d+,", "symbols_per_cycle = { value = 2,")
    )
    xpu = xpu_params(load_preset(str(path)))
    assert xpu.symbols_per_cycle == 2
    assert xpu.clock_hz == 25e9
    assert xpu.gamma == 14
    assert xpu.adc_channels == 1


@pytest.mark.parametrize("name", ["oxbnn50", "oxbnn5"])
def test_s1_idealisation_preset(name):
    """``<name>-s1`` is the shipped preset at S = 1, labelled: the clock at the slot rate, the ADC
    recounted in cycles of that clock, every coefficient but S the preset's."""
    real, ideal = load_preset(name), load_preset(name + "-s1")
    assert real.architecture.symbols_per_cycle > 1
    assert ideal.name == name + "-s1" and "S = 1 idealisation" in ideal.description
    assert "idealisation" in ideal.sources["architecture.symbols_per_cycle"]
    s = real.architecture.symbols_per_cycle
    assert dataclasses.replace(ideal.architecture, symbols_per_cycle=s) == real.architecture
    assert ideal.pca == real.pca
    x = xpu_params(ideal)
    bit_rate, rate = real.architecture.bit_rate_bps, real.pca.adc_sample_rate_Sps
    assert x.symbols_per_cycle == 1 and x.clock_hz == bit_rate
    # One conversion at the slot rate: 50e9 / 3.6e9 = 13.9 -> 14 cycles; 5e9 / 1e9 = 5 cycles.
    assert x.adc_conversion_cycles == {"oxbnn50": 14, "oxbnn5": 5}[name]
    assert x.adc_conversion_cycles == -(-bit_rate // rate)
    assert (x.n_lanes, x.gamma) == (xpu_params(real).n_lanes, xpu_params(real).gamma)


def test_s1_suffix_of_an_unknown_preset_is_refused():
    with pytest.raises(PresetError, match="nosuch-s1"):
        load_preset("nosuch-s1")
