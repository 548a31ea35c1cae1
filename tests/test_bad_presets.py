"""Bad optics and system presets through the real commands (issue 10).

Each case runs ``oxbnn optics`` / ``oxbnn export`` (``--preset F``) or ``oxbnn report``
(``--accelerators F``) through :func:`oxbnn.tools.cli.main` and asserts the exit status 2, no
traceback, one error line naming the file (or the option) and the key, and a word of what was
expected. Every bad preset is refused while the options are parsed or before any evaluation, so
no case runs a simulation. Legal edge inputs (a BOM, a safe unusual name) stay accepted.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from oxbnn.models.configs import PRESET_DIR, PresetError, load_preset
from oxbnn.models.system_preset import SYSTEM_PRESET_DIR
from oxbnn.tools.cli import main

OPTICS = (PRESET_DIR / "oxbnn50.toml").read_text(encoding="utf-8")
SYSTEM = (SYSTEM_PRESET_DIR / "oxbnn50.toml").read_text(encoding="utf-8")
BASELINE = (SYSTEM_PRESET_DIR / "lightbulb.toml").read_text(encoding="utf-8")


def sub(text: str, pattern: str, repl: str) -> str:
    """``text`` with the first match of ``pattern`` (a line-anchored regex) replaced."""
    new, count = re.subn(pattern, repl, text, count=1, flags=re.M)
    assert count == 1, pattern
    return new


def value(text: str, key: str, new: str) -> str:
    """``text`` with the value of coefficient ``key`` (the first one) set to ``new``."""
    return sub(text, rf"^{key} = \{{ value = [^,]+,", f"{key} = {{ value = {new},")


def run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str]:
    """Exit status and stderr of ``oxbnn argv``; never a traceback, one error line."""
    code = main(argv)
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    return code, err


# A case: file name, its content (text, bytes, or None for "do not create"), and the fragments
# the one error line must contain ("{path}" stands for the file).
Case = tuple[str, str | bytes | None, tuple[str, ...]]

OPTICS_CASES: dict[str, Case] = {
    # -- names that would reach file paths ([meta] name) -----------------------------------------
    "name-dotdot": (
        "a.toml", sub(OPTICS, r'^name = "oxbnn50"$', 'name = "../X"'), ("[meta] name", "'../X'")
    ),
    "name-slash": (
        "a.toml", sub(OPTICS, r'^name = "oxbnn50"$', 'name = "a/b"'), ("[meta] name", "'a/b'")
    ),
    "name-empty": ("a.toml", sub(OPTICS, r'^name = "oxbnn50"$', 'name = ""'), ("[meta] name",)),
    "name-dot-first": (
        "a.toml", sub(OPTICS, r'^name = "oxbnn50"$', 'name = ".hidden"'), ("[meta] name",)
    ),
    "name-inner-dotdot": (
        "a.toml", sub(OPTICS, r'^name = "oxbnn50"$', 'name = "a..b"'), ("[meta] name",)
    ),
    "name-too-long": (
        "a.toml", sub(OPTICS, r'^name = "oxbnn50"$', f'name = "{"n" * 65}"'), ("[meta] name",)
    ),
    "name-not-string": (
        "a.toml", sub(OPTICS, r'^name = "oxbnn50"$', "name = 50"), ("[meta] name", "string")
    ),
    "description-not-string": (
        "a.toml",
        sub(OPTICS, r"^description = .*$", "description = [1, 2]"),
        ("[meta] description", "string"),
    ),
    # -- encodings and files ---------------------------------------------------------------------
    "latin-1": ("a.toml", OPTICS.replace("# ", "# \xe9 ", 1).encode("latin-1"), ("UTF-8",)),
    "utf-16": ("a.toml", OPTICS.encode("utf-16"), ("UTF-8",)),
    "empty-file": ("a.toml", "", ("empty",)),
    "blank-file": ("a.toml", "\n  \n", ("empty",)),
    "not-toml": ("a.toml", "this is = not toml [", ("TOML",)),
    "binary": ("a.toml", bytes(range(256)) * 4, ("UTF-8",)),
    "missing-file": ("absent.toml", None, ("cannot read",)),
    "duplicate-key": (
        "a.toml",
        sub(OPTICS, r"^\[pca\]$", '[pca]\nadc_bits = { value = 9, unit = "bit", source = "x" }'),
        ("TOML", "once"),
    ),
    "duplicate-section": ("a.toml", OPTICS + "\n[pca]\n", ("TOML",)),
    "huge-integer-literal": ("a.toml", value(OPTICS, "n_xpes", "9" * 5000), ("digits",)),
    "deep-nesting": ("a.toml", OPTICS + "\nx = " + "[" * 50000 + "]" * 50000 + "\n", ("TOML",)),
    # -- value types -----------------------------------------------------------------------------
    "bool-for-int": ("a.toml", value(OPTICS, "n_xpes", "true"), ("[architecture] n_xpes",)),
    "string-for-float": (
        "a.toml", value(OPTICS, "capacitance_F", '"1.49e-12"'), ("[pca] capacitance_F", "number")
    ),
    "array-value": ("a.toml", value(OPTICS, "n_xpes", "[19]"), ("[architecture] n_xpes",)),
    "table-value": (
        "a.toml", value(OPTICS, "adc_bits", "{ x = 9 }"), ("[pca] adc_bits", "number")
    ),
    "float-for-int": ("a.toml", value(OPTICS, "adc_bits", "9.0"), ("[pca] adc_bits", "integer")),
    "inf": ("a.toml", value(OPTICS, "capacitance_F", "inf"), ("[pca] capacitance_F", "finite")),
    "nan": ("a.toml", value(OPTICS, "capacitance_F", "nan"), ("[pca] capacitance_F", "finite")),
    "huge-int": ("a.toml", value(OPTICS, "n_xpes", "9" * 30), ("[architecture] n_xpes", "range")),
    "huge-int-for-float": (
        "a.toml", value(OPTICS, "capacitance_F", "9" * 400), ("[pca] capacitance_F", "range")
    ),
    "negative": (
        "a.toml", value(OPTICS, "voltage_swing_V", "-1.0"), ("[pca] voltage_swing_V", "range")
    ),
    "bare-value": (
        "a.toml",
        sub(OPTICS, r"^bit_rate_bps = \{ value = 50e9.*$", "bit_rate_bps = 50e9"),
        ("[architecture] bit_rate_bps", "inline table"),
    ),
    "inline-table-extra-key": (
        "a.toml",
        sub(OPTICS, r"^adc_bits = \{ value = 9,", "adc_bits = { value = 9, note = 1,"),
        ("[pca] adc_bits", "inline table"),
    ),
    "inline-table-no-unit": (
        "a.toml",
        sub(OPTICS, r'^adc_bits = \{ value = 9, unit = "bit",', "adc_bits = { value = 9,"),
        ("[pca] adc_bits", "inline table"),
    ),
    "unit-not-string": (
        "a.toml",
        OPTICS.replace(
            'adc_bits = { value = 9, unit = "bit",', "adc_bits = { value = 9, unit = 0,", 1
        ),
        ("[pca] adc_bits", "unit"),
    ),
    "max-lanes-too-large": (
        "a.toml", value(OPTICS, "max_lanes", "1000"), ("[architecture] max_lanes", "256")
    ),
    "lossless-ring": (
        "a.toml", value(OPTICS, "loss_dB_per_cm", "0.0"), ("[ring] loss_dB_per_cm", "> 0")
    ),
    # -- sections --------------------------------------------------------------------------------
    "unknown-section": ("a.toml", sub(OPTICS, r"^\[link\]$", "[lnk]"), ("'lnk'", "section")),
    "missing-section": ("a.toml", OPTICS.split("[pca]")[0], ("missing section [pca]",)),
    "array-of-tables": ("a.toml", sub(OPTICS, r"^\[pca\]$", "[[pca]]"), ("[pca]", "table")),
    "unknown-meta-key": (
        "a.toml", sub(OPTICS, r'^name = "oxbnn50"$', 'name = "x"\nversion = 2'), ("[meta]",)
    ),
    # -- the derivation's checks, refused at load by every command -------------------------------
    "gamma-0": ("a.toml", value(OPTICS, "capacitance_F", "1e-16"), ("[pca] capacitance_F",)),
    "adc-too-narrow": ("a.toml", value(OPTICS, "adc_bits", "3"), ("[pca] adc_bits", "counts")),
    # -- the PCA reset (issue 11) -----------------------------------------------------------------
    "reset-switch-zero": (
        "a.toml", value(OPTICS, "reset_switch_ohm", "0.0"), ("[pca] reset_switch_ohm", "> 0")
    ),
    "reset-switch-negative": (
        "a.toml", value(OPTICS, "reset_switch_ohm", "-10.0"), ("[pca] reset_switch_ohm", "range")
    ),
    "reset-switch-string": (
        "a.toml", value(OPTICS, "reset_switch_ohm", '"10"'), ("[pca] reset_switch_ohm", "number")
    ),
    "capacitors-zero": ("a.toml", value(OPTICS, "capacitors", "0"), ("[pca] capacitors", ">= 1")),
    "capacitors-negative": (
        "a.toml", value(OPTICS, "capacitors", "-2"), ("[pca] capacitors", "range")
    ),
    "capacitors-float": (
        "a.toml", value(OPTICS, "capacitors", "2.0"), ("[pca] capacitors", "integer")
    ),
    # S = 32 with gamma = 14 (runs start inside cycles) and one capacitor: R = 6 > 0.
    "reset-rotation": (
        "a.toml",
        value(value(OPTICS, "symbols_per_cycle", "32"), "capacitors", "1"),
        ("[pca] reset_dead_slots = 6", "pca_capacitors = 1", "gamma = 14",
         "symbols_per_cycle = 32", "<= (pca_capacitors - 1) * gamma = 0"),
    ),
    "link-never-closes": (
        "a.toml",
        value(OPTICS, "power_per_wavelength_W", "1e-9"),
        ("link budget", "[laser] power_per_wavelength_W"),
    ),
}  # fmt: skip


def _make(tmp_path: Path, name: str, content: str | bytes | None) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    return path


@pytest.mark.parametrize("case", list(OPTICS_CASES))
@pytest.mark.parametrize("command", ["optics", "export"])
def test_bad_optics_preset(case, command, tmp_path, capsys):
    name, content, fragments = OPTICS_CASES[case]
    path = _make(tmp_path, name, content)
    out = tmp_path / "out"
    code, err = run(capsys, [command, "--preset", str(path), "--out", str(out)])
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith(f"oxbnn {command}: error: argument --preset:")
    assert str(path) in err, err
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    assert not out.exists()  # refused before anything is written


def test_every_command_refuses_a_preset_alike(tmp_path, capsys):
    """gamma = 0 gets the same message from optics and export, and from the library loader."""
    path = _make(tmp_path, "g0.toml", value(OPTICS, "capacitance_F", "1e-16"))
    messages = {}
    for command in ("optics", "export"):
        code, err = run(capsys, [command, "--preset", str(path)])
        assert code == 2, err
        body = err.split("argument --preset: ", 1)[1]
        messages[command] = body.replace(f" (see oxbnn {command} --help)\n", "")
    with pytest.raises(PresetError) as info:
        load_preset(str(path))
    assert messages["optics"] == messages["export"] == str(info.value)


def test_name_dotdot_writes_nothing_outside_out(tmp_path, capsys):
    path = _make(tmp_path, "a.toml", sub(OPTICS, r'^name = "oxbnn50"$', 'name = "../X"'))
    out = tmp_path / "deep" / "out"
    code, _ = run(capsys, ["optics", "--preset", str(path), "--out", str(out)])
    assert code == 2
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.toml"]


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("", ("--preset", "oxbnn50")),
        ("nope", ("--preset", "unknown preset 'nope'", "oxbnn50")),
        ("a\0b", ("--preset", "oxbnn50")),
        ("x" * 5000, ("--preset", "too long")),
    ],
    ids=["empty", "unknown", "nul", "too-long"],
)
def test_bad_preset_option(text, fragments, capsys):
    code, err = run(capsys, ["optics", "--preset", text, "--no-plots"])
    assert code == 2 and err.count("\n") == 1, err
    for fragment in fragments:
        assert fragment in err, (fragment, err)


def test_directory_as_preset(tmp_path, capsys):
    code, err = run(capsys, ["export", "--preset", str(tmp_path)])
    assert code == 2 and str(tmp_path) in err and "directory" in err, err


# ----------------------------------------------------------------------------------------------
# System presets: oxbnn report --accelerators F
# ----------------------------------------------------------------------------------------------


def _report(capsys: pytest.CaptureFixture[str], tmp_path: Path, *accelerators: str):
    out = tmp_path / "report"
    argv = ["report", "--accelerators", *accelerators, "--networks", "vgg_small", "--no-plots"]
    code, err = run(capsys, [*argv, "--out", str(out)])
    return code, err, out


def _bad_optics(tmp_path: Path) -> str:
    path = _make(tmp_path, "weak.toml", value(OPTICS, "power_per_wavelength_W", "1e-9"))
    return str(path)


SystemCase = tuple[Callable[[Path], str | bytes | None], tuple[str, ...]]

SYSTEM_CASES: dict[str, SystemCase] = {
    "unknown-family": (
        lambda t: sub(SYSTEM, r'^family = "oxbnn"$', 'family = "photon"'),
        ("[meta] family", "'photon'", "oxbnn"),
    ),
    "optics-preset-missing": (
        lambda t: sub(SYSTEM, r'^optics_preset = "oxbnn50"$', 'optics_preset = "oxbnn51"'),
        ("[meta] optics_preset", "'oxbnn51'", "unknown preset"),
    ),
    "optics-preset-bad": (
        lambda t: sub(
            SYSTEM, r'^optics_preset = "oxbnn50"$', f'optics_preset = "{_bad_optics(t)}"'
        ),
        ("[meta] optics_preset", "weak.toml", "link budget"),
    ),
    "baseline-with-optics": (
        lambda t: sub(BASELINE, r'^optics_preset = ""$', 'optics_preset = "oxbnn50"'),
        ("[meta] optics_preset",),
    ),
    "name-dotdot": (
        lambda t: sub(SYSTEM, r'^name = "oxbnn50"$', 'name = "../../x"'),
        ("[meta] name", "'../../x'"),
    ),
    "name-space": (
        lambda t: sub(SYSTEM, r'^name = "oxbnn50"$', 'name = "ox bnn"'), ("[meta] name",)
    ),
    "label-newline": (
        lambda t: SYSTEM.replace('label = "OXBNN_50"', 'label = "OX\\nBNN"'), ("[meta] label",)
    ),
    "label-pipe": (
        lambda t: sub(SYSTEM, r'^label = "OXBNN_50"$', 'label = "OX|BNN"'), ("[meta] label",)
    ),
    "label-missing": (
        lambda t: sub(SYSTEM, r'^label = "OXBNN_50"$', ""), ("[meta] label", "missing")
    ),
    "no-meta": (lambda t: sub(SYSTEM, r"^\[meta\]$", "[mta]"), ("[meta]",)),
    "duplicate-key": (
        lambda t: sub(SYSTEM, r'^family = "oxbnn"$', 'family = "oxbnn"\nfamily = "oxbnn"'),
        ("TOML", "once"),
    ),
    "shared-key-written": (
        lambda t: sub(
            SYSTEM, r"^\[readout\]$", '[readout]\nbits = { value = 9, unit = "bit", source = "x" }'
        ),
        ("[readout] bits", "optics preset"),
    ),
    "bits-too-few": (
        lambda t: value(BASELINE, "bits", "3"), ("[readout] bits", "counts")
    ),
    "bool-value": (
        lambda t: value(BASELINE, "n_xpus", "false"), ("[architecture] n_xpus", "number")
    ),
    "unknown-section": (lambda t: SYSTEM + "\n[extra]\n", ("'extra'", "section")),
    "latin-1": (lambda t: SYSTEM.replace("# ", "# \xe9 ", 1).encode("latin-1"), ("UTF-8",)),
    "empty": (lambda t: "", ("empty",)),
    "missing-file": (lambda t: None, ("cannot read",)),
}  # fmt: skip


@pytest.mark.parametrize("case", list(SYSTEM_CASES))
def test_bad_system_preset(case, tmp_path, capsys):
    make, fragments = SYSTEM_CASES[case]
    path = _make(tmp_path, "sys.toml", make(tmp_path))
    code, err, out = _report(capsys, tmp_path, str(path))
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("oxbnn report: error: "), err
    assert str(path) in err, err
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    assert not out.exists()


def test_system_preset_directory(tmp_path, capsys):
    code, err, _ = _report(capsys, tmp_path, str(tmp_path))
    assert code == 2 and str(tmp_path) in err and "directory" in err, err


@pytest.mark.parametrize(
    "names",
    [("oxbnn50", "oxbnn50"), ("oxbnn50", "OXBNN_50"), ("robin_eo", "lightbulb", "robin-eo")],
    ids=["same", "two-spellings", "three"],
)
def test_accelerator_given_twice(names, tmp_path, capsys):
    code, err, out = _report(capsys, tmp_path, *names)
    assert code == 2 and "--accelerators" in err and "same accelerator" in err, err
    assert not out.exists()


def test_two_files_with_one_name(tmp_path, capsys):
    """Two system preset files whose [meta] name agree would overwrite each other's results."""
    a = _make(tmp_path, "a.toml", BASELINE)
    b = _make(tmp_path, "b.toml", sub(BASELINE, r'^label = "LIGHTBULB"$', 'label = "LB2"'))
    code, err, _ = _report(capsys, tmp_path, str(a), str(b))
    assert code == 2 and "--accelerators" in err and "'lightbulb'" in err, err
    c = _make(tmp_path, "c.toml", sub(BASELINE, r'^name = "lightbulb"$', 'name = "lb2"'))
    code, err, _ = _report(capsys, tmp_path, str(a), str(c))
    assert code == 2 and "--accelerators" in err and "label 'LIGHTBULB'" in err, err


def test_unknown_system_preset_name(tmp_path, capsys):
    code, err, _ = _report(capsys, tmp_path, "oxbnn_99")
    assert code == 2 and "'oxbnn_99'" in err and "lightbulb" in err, err


# ----------------------------------------------------------------------------------------------
# Legal edge inputs stay accepted
# ----------------------------------------------------------------------------------------------


def test_bom_and_safe_unusual_name_are_accepted(tmp_path, capsys):
    text = "\ufeff" + sub(OPTICS, r'^name = "oxbnn50"$', 'name = "my-Preset.v2_0"')
    path = _make(tmp_path, "bom.toml", text)
    preset = load_preset(str(path))
    assert preset.name == "my-Preset.v2_0"
    assert preset.pca == load_preset("oxbnn50").pca
    code, err = run(capsys, ["optics", "--preset", str(path), "--no-plots"])
    assert code == 0, err


def test_system_preset_with_bom_and_own_optics_file(tmp_path, capsys):
    optics = _make(tmp_path, "optics.toml", sub(OPTICS, r'^name = "oxbnn50"$', 'name = "mine"'))
    text = "\ufeff" + sub(SYSTEM, r'^optics_preset = "oxbnn50"$', f'optics_preset = "{optics}"')
    text = sub(text, r'^name = "oxbnn50"$', 'name = "mine50"')
    text = sub(text, r'^label = "OXBNN_50"$', 'label = "MINE (50 Gb/s)"')
    path = _make(tmp_path, "sys.toml", text)
    code, err, out = _report(capsys, tmp_path, "oxbnn50", str(path))
    assert code == 0, err
    assert "MINE (50 Gb/s)" in (out / "comparison.csv").read_text()
