"""Configuration presets: validated, frozen dataclasses loaded from TOML files.

A preset is one TOML file in this folder (``oxbnn50.toml``, ``oxbnn5.toml``). Every preset has the
same sections and keys. Every physical coefficient is written as an inline table::

    capacitance_F = { value = 5.4e-13, unit = "F", source = "chosen so that ..." }

The loader checks, once, that every section and key is known and present, that the unit is the one
the field expects (so a value in mW cannot be read as W), that the value is of the right type and
inside its allowed range, and that a non-empty ``source`` is given. Any error names the file, the
key, the value and what was expected, and is raised as :class:`PresetError`.

Issue 10: the file is read by :func:`read_toml` (UTF-8, a BOM allowed; a directory, an empty,
oversized or undecodable file, a key written twice are each one named error); ``[meta] name``
must be a safe name (:data:`NAME_PATTERN`, :func:`check_name`) because it becomes part of file
names; and :func:`load_preset_file` runs the derivation's checks (link budget, gamma, ADC bits,
S) once, so every command refuses a preset the same way.

:class:`XpuParams` is the plain description of one XPU's digital side that ``rtl`` is parametrised
with; :func:`oxbnn.models.derive.xpu_params` builds it from a preset (N and gamma come from the
optics), and tests build small ones directly.
"""

from __future__ import annotations

import dataclasses
import math
import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..userfile import read_text

__all__ = [
    "MAX_XPUS",
    "PresetError",
    "XpuParams",
    "Architecture",
    "LaserParams",
    "RingParams",
    "LinkParams",
    "ReceiverParams",
    "PcaParams",
    "Preset",
    "PRESET_DIR",
    "preset_names",
    "load_preset",
    "S1_SUFFIX",
    "s1_preset",
    "resolve_preset_path",
    "load_preset_file",
    "parse_sections",
    "coefficient_rows",
    "check_name",
    "read_toml",
    "NAME_PATTERN",
    "MAX_PRESET_BYTES",
]

PRESET_DIR = Path(__file__).resolve().parent


class PresetError(ValueError):
    """A preset file or a parameter set is malformed; the message names file, key and value."""


#: What a preset's ``[meta] name`` may be: it becomes part of file and folder names
#: (``build/optics/<name>_oxg_spectra.png``, ``build/sim/<name>-...``, the Verilog top module),
#: so it is a letter or digit, then at most 63 letters, digits, ``.``, ``_`` or ``-``, and never
#: contains ``..``.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
#: Largest preset file, in bytes (a preset is a few kB; anything larger is not one).
MAX_PRESET_BYTES = 1 << 20
#: The most XPUs a chip may have (rtl/chip.py: its member masks and its arbiter grow with X).
MAX_XPUS = 16


def check_name(where: str, key: str, value: Any) -> str:
    """``value`` if it is a safe preset name (:data:`NAME_PATTERN`); a :class:`PresetError`
    naming ``where`` and ``key`` otherwise."""
    if not isinstance(value, str):
        raise PresetError(f"{where}: {key} must be a string, not {_show(value)}")
    if not NAME_PATTERN.fullmatch(value) or ".." in value:
        raise PresetError(
            f"{where}: {key} = {_show(value)} is not a valid name; expected a letter or digit "
            f"then at most 63 letters, digits, '.', '_' or '-' (no '..'): it becomes part of "
            f"file names"
        )
    return value


def _show(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, for error messages."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


def read_toml(path: Path, what: str) -> dict[str, Any]:
    """The parsed TOML document of ``path`` (``what``: "preset", "system preset").

    UTF-8 (a BOM is allowed), at most :data:`MAX_PRESET_BYTES`. Every failure (missing,
    unreadable, a directory, empty, too large, not UTF-8, not TOML, a key written twice, nesting
    too deep, an integer of thousands of digits) is one :class:`PresetError` naming the file
    and what was expected.
    """
    where = str(path)
    text = read_text(
        path,
        what=f"{what} file",
        expected=f"a {what} .toml file",
        max_bytes=MAX_PRESET_BYTES,
        error=PresetError,
    )
    if not text.strip():
        raise PresetError(f"{where}: the file is empty; expected a {what} in TOML")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PresetError(
            f"{where}: not valid TOML ({exc}); a key may be written only once"
        ) from None
    except (ValueError, RecursionError) as exc:  # e.g. an integer of over 4300 digits
        raise PresetError(f"{where}: not a usable TOML document ({_show(str(exc), 120)})") from None


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise PresetError(f"{name} must be a positive integer, not {value!r}")
    return value


# ----------------------------------------------------------------------------------------------
# XPU digital-side parameters (what rtl/ and models/timing are parametrised with)
# ----------------------------------------------------------------------------------------------


@lru_cache(maxsize=256)
def _max_samples_per_cycle(s: int, gamma: int) -> int:
    """The most PCA samples one cycle of S slots holds, over every vector length.

    Beat b of a vector holds chunks ``b S .. b S + S - 1``, whose phase ``b S mod γ`` runs over
    the multiples of ``gcd(S, γ)``; a chunk k is sampled if ``(k + 1) mod γ = 0`` or it is the
    vector's last. For each phase, a beat either is full (no last chunk in it) or ends the
    vector after ``e`` chunks (samples of its first ``e - 1`` chunks, plus the last).
    """
    best = 0
    for phase in range(0, gamma, math.gcd(s, gamma)):
        before = 0  # γ-th chunks among the beat's first e - 1 chunks
        for e in range(1, s + 1):
            best = max(best, before + 1)
            before += (phase + e) % gamma == 0
        best = max(best, before)
    return best


@dataclass(frozen=True)
class XpuParams:
    """The digital side of one XPU: M XPEs of N lanes each.

    Parameters
    ----------
    n_lanes : int
        N, lanes per XPE (one OXG on one wavelength each), i.e. bits of one chunk.
    n_xpes : int
        M, XPEs per XPU.
    gamma : int
        γ, the most chunks per readout (a PCA integrates one chunk per slot between resets).
    adc_bits : int
        Width of an ADC code; must hold ``gamma * n_lanes`` counts.
    adc_latency : int
        Cycles from a ``pca_sample`` strobe to the matching ``adc_valid``; at least 1.
    symbols_per_cycle : int
        S, slots carried per lane per clock cycle (the optical port is S x N bits wide). The one
        parameter everything that depends on S reads.
    act_buffer_depth : int
        Words of ``n_lanes`` bits in each of the two activation buffer banks.
    wgt_buffer_depth : int
        Words of ``n_lanes`` bits in each of the two weight buffer banks.
    bit_rate_bps : float
        Optical bit rate in bit/s; the clock is ``bit_rate_bps / symbols_per_cycle``.
    max_out_channels : int
        Depth of the XPU's threshold memory: the most output channels one layer may have.
    adc_conversion_cycles : int
        Cycles one ADC channel is busy per conversion (``ceil(clock / sample rate)``, derived
        from the preset); 1 means a channel converts a sample every cycle.
    adc_banks : int
        Banks of ADC channels per XPE, used in rotation by the cycles that sample; each bank has
        as many channels as one cycle can sample (:attr:`adc_channels`). A cycle that samples
        waits until its bank has finished its previous conversion (``adc_conversion_cycles``
        after it started): more banks, fewer stalls.
    reset_dead_slots : int
        R, slots a PCA capacitor needs after its sample to discharge to within half an LSB
        (``ceil(t_settle * bit_rate)``, :func:`oxbnn.models.derive.reset_dead_slots`); a capacitor
        sampled in slot index ``a`` may start a run (its ``pca_reset`` slot) from ``a + 1 + R``.
        0: the reset is instantaneous (no wait, no logic).
    pca_capacitors : int
        P, capacitors per PCA used in rotation by the readout runs (a run = the chunks from a
        ``pca_reset`` to its ``pca_sample``): run j of a layer integrates on capacitor ``j mod
        P``, so a capacitor has ``(P - 1)`` runs of the others to discharge. 1: one capacitor
        and dead slots; 2: ping-pong.
    name : str
        Where these parameters come from (a preset name, or ``"custom"``).
    """

    n_lanes: int
    n_xpes: int
    gamma: int
    adc_bits: int
    adc_latency: int = 2
    symbols_per_cycle: int = 1
    act_buffer_depth: int = 1024
    wgt_buffer_depth: int = 1024
    bit_rate_bps: float = 50e9
    max_out_channels: int = 2048
    adc_conversion_cycles: int = 1
    adc_banks: int = 1
    reset_dead_slots: int = 0
    pca_capacitors: int = 1
    name: str = "custom"

    def __post_init__(self) -> None:
        for key in (
            "n_lanes",
            "n_xpes",
            "gamma",
            "adc_bits",
            "adc_latency",
            "symbols_per_cycle",
            "act_buffer_depth",
            "wgt_buffer_depth",
            "max_out_channels",
            "adc_conversion_cycles",
            "adc_banks",
            "pca_capacitors",
        ):
            _positive_int(key, getattr(self, key))
        r = self.reset_dead_slots
        if isinstance(r, bool) or not isinstance(r, int) or r < 0:
            raise PresetError(f"reset_dead_slots must be a non-negative integer, not {r!r}")
        self._check_reset_rotation()
        if (1 << self.adc_bits) - 1 < self.gamma * self.n_lanes:
            raise PresetError(
                f"adc_bits = {self.adc_bits} cannot hold gamma * n_lanes = "
                f"{self.gamma * self.n_lanes} counts; need at least "
                f"{(self.gamma * self.n_lanes).bit_length()} bits"
            )
        if not (isinstance(self.bit_rate_bps, (int, float)) and self.bit_rate_bps > 0):
            raise PresetError(f"bit_rate_bps must be a positive number, not {self.bit_rate_bps!r}")

    def _check_reset_rotation(self) -> None:
        """Refuse an R, P, gamma, S the beat schedule cannot serve with whole-beat waits.

        The sequencer waits only at whole beats (a beat leaves when every capacitor its resets
        use is free), so two runs on one capacitor inside one beat could not wait for each other.
        Accepted when ``R <= (P - 1) * gamma`` or ``gamma % S == 0``. Why that suffices: the
        runs of one vector take the capacitors in rotation, so two runs of that vector on one
        capacitor start ``P * gamma`` slots apart and the first one's sample is ``(P - 1) * gamma
        + 1`` slots before the second one's reset; the capacitor is free then iff ``R <= (P - 1)
        * gamma``, so inside a vector no run ever waits and a wait can only fall on a vector's
        first run, which starts at slot 0 of its own cycle, i.e. at the start of a beat. If
        ``gamma % S == 0`` every run starts at slot 0 of a beat (runs start at chunks 0, gamma,
        2 gamma, ... and a vector starts at slot 0), a beat holds at most one reset, and the wait
        before it is a whole-beat wait. S = 1 always passes.
        """
        r, p, g, s = self.reset_dead_slots, self.pca_capacitors, self.gamma, self.symbols_per_cycle
        if r > (p - 1) * g and g % s != 0:
            raise PresetError(
                f"reset_dead_slots = {r} with pca_capacitors = {p}, gamma = {g} and "
                f"symbols_per_cycle = {s}: a run may start inside a cycle on a capacitor still "
                f"discharging from a run of the same cycle, which the beat-wise wait cannot "
                f"serve; need reset_dead_slots <= (pca_capacitors - 1) * gamma = {(p - 1) * g} "
                f"(more capacitors, a smaller reset switch resistance) or gamma % "
                f"symbols_per_cycle == 0"
            )

    @property
    def clock_hz(self) -> float:
        """Clock frequency in Hz: bit rate / S (a cycle carries S slots per lane)."""
        return self.bit_rate_bps / self.symbols_per_cycle

    @property
    def samples_per_cycle(self) -> int:
        """The most readouts one XPE samples in one cycle (the channels of one ADC bank).

        A vector starts at slot 0 of a cycle and its chunk k is in slot ``k mod S`` of cycle
        ``k // S``; it is sampled after every γ-th chunk and after its last one. The count is
        exact (:func:`_max_samples_per_cycle`). S = 1 gives one.
        """
        return _max_samples_per_cycle(self.symbols_per_cycle, self.gamma)

    @property
    def adc_channels(self) -> int:
        """A, ADC code channels per XPE: ``adc_banks`` banks of :attr:`samples_per_cycle`.

        The j-th sample (in slot order) of a cycle that uses bank b is converted on channel
        ``b * samples_per_cycle + j`` (docs/design.md §3); the cycles that sample use the banks
        in rotation, from bank 0 at the start of a layer.
        """
        return self.adc_banks * self.samples_per_cycle

    def replace(self, **changes: Any) -> XpuParams:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


# ----------------------------------------------------------------------------------------------
# Preset sections
# ----------------------------------------------------------------------------------------------


def _p(
    unit: str,
    lo: float | None = None,
    hi: float | None = None,
    *,
    integer: bool = False,
    lo_open: bool = False,
    doc: str = "",
) -> Any:
    """A preset field: its unit, allowed range and whether it must be an integer."""
    return field(
        metadata={
            "unit": unit,
            "lo": lo,
            "hi": hi,
            "integer": integer,
            "lo_open": lo_open,
            "doc": doc,
        }
    )


@dataclass(frozen=True)
class Architecture:
    """How the accelerator is organised, and the digital side's fixed latencies."""

    n_xpes: int = _p("1", 1, 4096, integer=True, doc="M, XPEs per XPU")
    n_xpus: int = _p("1", 1, 100000, integer=True, doc="X, XPUs per accelerator")
    bit_rate_bps: float = _p("bit/s", 0, 1e12, lo_open=True, doc="optical bit rate per lane")
    symbols_per_cycle: int = _p(
        "1",
        1,
        1024,
        integer=True,
        doc="S, slots per lane per clock cycle (XpuParams says which S are built)",
    )
    adc_banks: int = _p(
        "1",
        1,
        64,
        integer=True,
        doc="banks of ADC channels per XPE, used in rotation by the cycles that sample "
        "(XpuParams.adc_banks); more banks, fewer waits for a converter",
    )
    target_node_nm: float = _p(
        "nm",
        3,
        1000,
        doc="CMOS node the digital back end is built in; `oxbnn timing` scales the critical "
        "path it measures in the synthesis library to this node (oxbnn.models.technology)",
    )
    act_buffer_depth_words: int = _p("word", 1, 1 << 24, integer=True, doc="per bank")
    wgt_buffer_depth_words: int = _p("word", 1, 1 << 24, integer=True, doc="per bank")
    max_lanes: int = _p(
        "1",
        1,
        256,
        integer=True,
        doc="largest N (lanes) the link-budget search may consider; the search costs about "
        "N^3 (256: a few seconds; 1024 took 80 s), and 256 lines in one FSR is beyond any ring's "
        "linewidth",
    )


@dataclass(frozen=True)
class LaserParams:
    """The DWDM comb laser."""

    power_per_wavelength_W: float = _p(
        "W", 0, 1, lo_open=True, doc="optical power per comb line at the laser output"
    )
    wall_plug_efficiency: float = _p("1", 0, 1, lo_open=True)
    center_wavelength_m: float = _p("m", 1.0e-6, 2.0e-6)
    rin_dB_per_Hz: float = _p("dB/Hz", -200, -100, doc="relative intensity noise")


@dataclass(frozen=True)
class RingParams:
    """One OXG: an add-drop microring with two embedded PN junctions."""

    radius_m: float = _p("m", 0.5e-6, 100e-6)
    group_index: float = _p("1", 1.0, 6.0)
    loss_dB_per_cm: float = _p(
        "dB/cm",
        0,
        100,
        lo_open=True,
        doc="round-trip propagation loss in the ring; > 0 (a lossless ring's through port is "
        "exactly dark at resonance, and the link budget's crosstalk is taken in the log domain)",
    )
    power_coupling_in: float = _p("1", 0, 1, lo_open=True, doc="kappa^2, bus to ring")
    power_coupling_drop: float = _p("1", 0, 1, lo_open=True, doc="kappa^2, ring to drop bus")
    shift_per_junction_m: float = _p(
        "m", 0, 10e-9, lo_open=True, doc="resonance shift when one junction is driven '1'"
    )
    through_loss_dB: float = _p("dB", 0, 3, doc="excess loss of passing one ring off resonance")
    pitch_m: float = _p("m", 1e-6, 1e-3, doc="ring-to-ring spacing along the bus")


@dataclass(frozen=True)
class LinkParams:
    """Insertion losses between the laser and the photodetector of one XPE."""

    coupler_loss_dB: float = _p("dB", 0, 20, doc="fibre-to-chip coupling")
    splitter_excess_loss_dB: float = _p("dB", 0, 10, doc="excess loss of the 1:M split")
    propagation_loss_dB_per_cm: float = _p("dB/cm", 0, 100, doc="bus waveguide")
    routing_length_m: float = _p("m", 0, 1, doc="bus length besides the ring array")
    penalty_margin_dB: float = _p("dB", 0, 20, doc="system margin kept in the budget")


@dataclass(frozen=True)
class ReceiverParams:
    """The photodetector that sums one XPE's lanes, and its sensitivity."""

    responsivity_A_per_W: float = _p("A/W", 0, 2, lo_open=True)
    dark_current_A: float = _p("A", 0, 1e-3)
    sensitivity_ref_W: float = _p(
        "W", 0, 1, lo_open=True, doc="least optical power per '1' lane at the reference rate"
    )
    sensitivity_ref_bit_rate_bps: float = _p("bit/s", 0, 1e12, lo_open=True)
    sensitivity_slope: float = _p(
        "1", 0, 3, doc="sensitivity grows as (bit rate / reference)^slope"
    )


@dataclass(frozen=True)
class PcaParams:
    """The photo-charge accumulator: capacitor, readout ADC and noise sources."""

    capacitance_F: float = _p("F", 0, 1e-9, lo_open=True)
    voltage_swing_V: float = _p("V", 0, 10, lo_open=True, doc="largest linear capacitor voltage")
    temperature_K: float = _p("K", 0, 1000, lo_open=True, doc="for kT/C reset noise")
    leakage_time_constant_s: float = _p(
        "s", 0, 1e3, lo_open=True, doc="capacitor self-discharge time constant"
    )
    adc_bits: int = _p("bit", 1, 24, integer=True)
    adc_sample_rate_Sps: float = _p(
        "S/s", 0, 1e12, lo_open=True, doc="conversions per second of one ADC channel"
    )
    adc_latency_s: float = _p(
        "s", 0, 1e-6, lo_open=True, doc="end of the sampled slot to its code at the converter"
    )
    reset_switch_ohm: float = _p(
        "Ohm",
        0,
        1e9,
        lo_open=True,
        doc="on-resistance of the switch that discharges the capacitor after a sample; the "
        "reset takes ceil(R_on C ln(2^(adc_bits + 1)) bit_rate) dead slots "
        "(oxbnn.models.derive.reset_dead_slots)",
    )
    capacitors: int = _p(
        "1",
        1,
        64,
        integer=True,
        doc="capacitors per PCA, used in rotation by the readout runs (1: one capacitor and "
        "dead slots; 2: ping-pong, twice the capacitor area)",
    )


_SECTIONS: dict[str, type] = {
    "architecture": Architecture,
    "laser": LaserParams,
    "ring": RingParams,
    "link": LinkParams,
    "receiver": ReceiverParams,
    "pca": PcaParams,
}


@dataclass(frozen=True)
class Preset:
    """A whole configuration: every section validated, with units and sources kept."""

    name: str
    description: str
    path: Path
    architecture: Architecture
    laser: LaserParams
    ring: RingParams
    link: LinkParams
    receiver: ReceiverParams
    pca: PcaParams
    units: dict[str, str] = field(default_factory=dict, compare=False, repr=False)
    sources: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    def replace(self, section: str, **changes: Any) -> Preset:
        """A copy with fields of one section changed, validated like a file would be.

        ``preset.replace("laser", power_per_wavelength_W=1e-4)``
        """
        if section not in _SECTIONS:
            raise PresetError(f"unknown section {section!r}; expected one of {sorted(_SECTIONS)}")
        cls = _SECTIONS[section]
        known = {f.name: f for f in dataclasses.fields(cls)}
        current = getattr(self, section)
        for key, value in changes.items():
            if key not in known:
                raise PresetError(
                    f"[{section}] has no key {key!r}; expected one of {sorted(known)}"
                )
            _check_value(f"{self.name} (override)", section, known[key], value)
        return dataclasses.replace(self, **{section: dataclasses.replace(current, **changes)})

    def coefficients(self) -> list[dict[str, Any]]:
        """Every coefficient as ``{"key", "value", "unit", "source"}``, for reports."""
        return coefficient_rows(self, _SECTIONS, self.units, self.sources)


def coefficient_rows(
    preset: Any,
    sections: dict[str, type],
    units: dict[str, str],
    sources: dict[str, str],
    missing_source: str = "",
) -> list[dict[str, Any]]:
    """``{"key", "value", "unit", "source"}`` of every field of every section of ``preset``."""
    rows = []
    for section in sections:
        obj = getattr(preset, section)
        for f in dataclasses.fields(obj):
            key = f"{section}.{f.name}"
            rows.append(
                {
                    "key": key,
                    "value": getattr(obj, f.name),
                    "unit": units.get(key, f.metadata["unit"]),
                    "source": sources.get(key, missing_source),
                }
            )
    return rows


def preset_names() -> list[str]:
    """Names of the presets shipped with oxbnn."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.toml"))


def resolve_preset_path(
    name: object, *, what: str, names: list[str], shipped_dir: Path, key=lambda n: n
) -> Path:
    """The file a ``--preset``-style text names: one rule for optics and system presets.

    A name ending in ``.toml`` is a path; otherwise a shipped preset whose ``key`` equals the
    name's ``key`` is that preset's file, and any other existing path is read as a file.
    Everything else is a :class:`PresetError` naming ``what`` and the shipped ``names``.
    """
    expected = f"expected one of {names} or a path to a .toml file"
    text = str(name) if isinstance(name, (str, Path)) else None
    if text is None or not text.strip() or "\0" in text:
        raise PresetError(f"{what} {_show(name)}: {expected}")
    path = Path(text)
    if path.suffix == ".toml":
        return path
    for candidate in names:
        if key(candidate) == key(text):
            return shipped_dir / f"{candidate}.toml"
    try:
        exists = path.exists()
    except OSError as exc:  # a name too long for the file system, ...
        raise PresetError(f"{what} {_show(text)}: {exc.strerror or exc}") from None
    if exists:
        return path
    raise PresetError(f"unknown {what} {_show(text)}; {expected}")


#: A shipped preset's name followed by this suffix (``oxbnn50-s1``) names that preset at its
#: S = 1 idealisation (:func:`s1_preset`).
S1_SUFFIX = "-s1"


def s1_preset(preset: Preset) -> Preset:
    """``preset`` at the S = 1 idealisation: ``[architecture] symbols_per_cycle`` = 1, so the
    digital clock runs at the slot rate and there are no serializers; everything derived from S
    (the ADC and reset in cycles, ...) follows it. Named ``<name>-s1`` and labelled so in its
    description and in the source of S; every other coefficient is the preset's.

    Decision (issue 11): the shipped presets take the S their static timing gives (S = 49 at 50
    Gb/s, 5 at 5 Gb/s); the idealisation stays available under its own preset name, for the
    reports that compare with it and for runs that need the S = 1 XPU (a far smaller Verilog).
    """
    p = preset.replace("architecture", symbols_per_cycle=1)
    sources = dict(p.sources)
    sources["architecture.symbols_per_cycle"] = (
        f"S = 1 idealisation of preset {preset.name} (configured S = "
        f"{preset.architecture.symbols_per_cycle}): the digital clock at the slot rate, no "
        f"serializers; not a clock a CMOS back end reaches"
    )
    return dataclasses.replace(
        p,
        name=preset.name + S1_SUFFIX,
        description=f"{preset.description} -- S = 1 idealisation (clock at the slot rate)",
        sources=sources,
    )


def load_preset(name: str) -> Preset:
    """Load a shipped preset by name, or a preset file by path (:func:`resolve_preset_path`);
    a shipped name followed by :data:`S1_SUFFIX` is that preset's :func:`s1_preset`."""
    if isinstance(name, str) and name.endswith(S1_SUFFIX):
        base = name[: -len(S1_SUFFIX)]
        if base in preset_names():
            return s1_preset(load_preset(base))
    return load_preset_file(
        resolve_preset_path(name, what="preset", names=preset_names(), shipped_dir=PRESET_DIR)
    )


def _check_value(where: str, section: str, f: dataclasses.Field, value: Any) -> Any:
    meta = f.metadata
    key = f"[{section}] {f.name}"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PresetError(f"{where}: {key} must be a number, not {_show(value)}")
    if meta["integer"] and not isinstance(value, int):
        raise PresetError(f"{where}: {key} must be an integer, not {_show(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise PresetError(f"{where}: {key} must be finite, not {value!r}")
    lo, hi = meta["lo"], meta["hi"]
    if lo is not None and (value < lo or (meta["lo_open"] and value == lo)):
        bound = f"> {lo}" if meta["lo_open"] else f">= {lo}"
        raise PresetError(
            f"{where}: {key} = {_show(value)} is out of range; expected {bound}"
            + (f" and <= {hi}" if hi is not None else "")
            + f" ({meta['unit']})"
        )
    if hi is not None and value > hi:
        raise PresetError(
            f"{where}: {key} = {_show(value)} is out of range; expected <= {hi} ({meta['unit']})"
        )
    return value


def parse_sections(
    where: str, data: dict[str, Any], schema: dict[str, type]
) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    """Check every ``{ value, unit, source }`` entry of ``data`` against ``schema``.

    ``schema`` maps section names to dataclasses whose fields carry unit and range metadata
    (see ``_p``). Returns the section objects and the unit and source of every
    ``"section.key"``. Errors are :class:`PresetError`s naming ``where``, the key and the value.
    """
    units: dict[str, str] = {}
    sources: dict[str, str] = {}
    sections: dict[str, Any] = {}
    for section, cls in schema.items():
        table = data.get(section)
        if table is None:
            raise PresetError(f"{where}: missing section [{section}]")
        if not isinstance(table, dict):
            raise PresetError(
                f"{where}: [{section}] must be a table of keys, not {type(table).__name__} "
                f"{_show(table)}"
            )
        fields = {f.name: f for f in dataclasses.fields(cls)}
        extra = set(table) - set(fields)
        if extra:
            raise PresetError(
                f"{where}: [{section}] has unknown key(s) {sorted(extra)}; "
                f"expected {sorted(fields)}"
            )
        values = {}
        for name, f in fields.items():
            key = f"[{section}] {name}"
            if name not in table:
                raise PresetError(
                    f"{where}: {key} is missing ({f.metadata['unit']}, "
                    f"{f.metadata['doc'] or 'see models/configs'})"
                )
            entry = table[name]
            if not isinstance(entry, dict) or set(entry) != {"value", "unit", "source"}:
                raise PresetError(
                    f"{where}: {key} must be an inline table "
                    f'{{ value = ..., unit = "{f.metadata["unit"]}", '
                    f'source = "..." }}, not {_show(entry)}'
                )
            if entry["unit"] != f.metadata["unit"]:
                raise PresetError(
                    f"{where}: {key} has unit {_show(entry['unit'])}; "
                    f"expected {f.metadata['unit']!r}"
                )
            if not isinstance(entry["source"], str) or not entry["source"].strip():
                raise PresetError(f"{where}: {key} needs a non-empty 'source'")
            values[name] = _check_value(where, section, f, entry["value"])
            units[f"{section}.{name}"] = entry["unit"]
            sources[f"{section}.{name}"] = entry["source"]
        sections[section] = cls(**values)
    return sections, units, sources


def load_preset_file(path: str | Path) -> Preset:
    """Read, check and freeze one preset file. Raises :class:`PresetError` naming file and key.

    Decision (issue 10): loading checks everything once, for every command, the derivation
    included: a preset whose link budget never closes, whose PCA holds less than one slot of N
    lanes (gamma = 0), or whose ADC cannot hold gamma * N counts is refused here, with the
    message :func:`oxbnn.models.derive.xpu_params` gives, so
    ``oxbnn optics``, ``export``, ``sim`` and every other command refuse it alike.
    :meth:`Preset.replace` checks only the changed values (a sweep may move the laser power to
    where the link does not close; it asks the derivation itself).
    """
    path = Path(path)
    where = str(path)
    data = read_toml(path, "preset")

    meta = data.pop("meta", None)
    if not isinstance(meta, dict):
        raise PresetError(f"{where}: missing [meta] section with a string 'name'")
    if "name" not in meta:
        raise PresetError(f"{where}: missing [meta] section with a string 'name'")
    name = check_name(where, "[meta] name", meta["name"])
    unknown_meta = set(meta) - {"name", "description"}
    if unknown_meta:
        raise PresetError(
            f"{where}: [meta] has unknown key(s) {sorted(unknown_meta)}; "
            f"expected 'name' and 'description'"
        )
    description = meta.get("description", "")
    if not isinstance(description, str):
        raise PresetError(f"{where}: [meta] description must be a string, not {_show(description)}")
    unknown = set(data) - set(_SECTIONS)
    if unknown:
        raise PresetError(
            f"{where}: unknown section(s) {sorted(unknown)}; expected "
            f"{sorted(_SECTIONS)} and [meta]"
        )

    sections, units, sources = parse_sections(where, data, _SECTIONS)

    preset = Preset(
        name=name,
        description=description,
        path=path,
        units=units,
        sources=sources,
        **sections,
    )
    from ..derive import xpu_params  # derive imports this module

    xpu_params(preset)  # the derivation's checks; cached, so a later call costs nothing
    return preset
