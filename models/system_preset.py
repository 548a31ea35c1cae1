"""System presets: the schema, loader and consistency checks of ``models/configs/system/*.toml``.

A *system preset* describes one accelerator at system level: its organisation (N, M, X, bit rate,
readout granularity gamma, buffer depths) and the coefficient of every component, each an inline
table ``{ value, unit, source }`` with the conventions of :mod:`oxbnn.models.configs`. The five
shipped presets are :data:`ACCELERATORS`: ``oxbnn50``, ``oxbnn5`` (the paper's OXBNN_50 /
OXBNN_5), ``robin_eo``, ``robin_po`` (ROBIN, Sunny et al., ACM TECS 2021) and ``lightbulb``
(LightBulb, Zokaee et al., DATE 2020).

One source for every value shared with the optics preset
--------------------------------------------------------
An OXBNN preset (family ``oxbnn``) names an optics preset (``[meta] optics_preset``, a shipped
name or a path). Every value the two files share is written **only in the optics preset**
(:data:`OPTICS_KEYS`): N (``[architecture] n_lanes``, from the link budget) and gamma (from the
PCA capacity), both derived by ``oxbnn.models.derive.xpu_params``; M (``n_xpes``), X
(``n_xpus``), the bit rate, S (``symbols_per_cycle``, so the clock ``bit_rate / S``), the CMOS
node of the back end (``target_node_nm``), the ADC latency (``readout_latency_cycles``), the
buffer depths, the laser's power per wavelength and wall-plug efficiency, ``xpes_per_comb`` (M:
one comb of N lines per XPU split 1:M, the split its link budget charges), the PCA reset energy
C V^2 (of its ``[pca]`` capacitance and swing), the PCA's capacitors in rotation
(``[receiver] frontend_capacitors``, its ``[pca] capacitors``; the area charges each) and the ADC
code width (``[readout] bits``, its
``[pca] adc_bits``). The loader fills them in from the optics preset and rejects a file that
writes any of them, naming the file, the key and the optics preset it comes from (even when the
written value agrees: a second copy is what is refused). :meth:`SystemPreset.replace` refuses to
override them likewise. They appear in :meth:`SystemPreset.coefficients` with their value, unit
and the source "from optics preset <name>: <that preset's source>". gamma is therefore 14 at 50
Gb/s and 5 at 5 Gb/s, never hard-coded (docs/reference.md defect 5).

Decision: the values are copied into the :class:`SystemPreset` when it is loaded, so the energy
model reads ``preset.laser``, ``preset.receiver`` and ``preset.architecture`` the same way for
every family; there is still one place they are written, the optics preset file.

Not shared, so still written in the system preset: the ADC's sample rate, power and area (the
authors' ADC entry at about bit rate / gamma), and the area of the PCA capacitor (its
capacitance at an assumed MIM density); both quote the optics figures in their sources.

The baselines (ROBIN, LightBulb) have no optics preset: they write N and their readout
granularity ``gamma`` (1: every N-bit chunk is read out) and code width themselves, and their S
and CMOS node.

Serializers (``[serdes]``, :mod:`oxbnn.models.serdes`)
-----------------------------------------------------
One rule for every accelerator: a driven junction needs an S:1 serializer exactly when its
accelerator's slot rate exceeds its digital clock, i.e. S > 1. Every configuration here runs on
the same digital back end (docs/design.md §4) at ``bit_rate / S``, so every preset has a
``[serdes]`` section (energy per serialized bit, area of one 2:1 cell, and the node they are given
at, which must equal ``[architecture] target_node_nm``: a preset whose node moves must rescale
them); the cost appears as soon as a preset's S exceeds 1. :func:`s1_idealisation` gives the
labelled S = 1 variant of any preset, which ``oxbnn report`` evaluates beside it.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .configs import (
    PRESET_DIR,
    Preset,
    PresetError,
    XpuParams,
    _check_value,
    _p,
    _show,
    check_name,
    coefficient_rows,
    load_preset,
    parse_sections,
    read_toml,
    resolve_preset_path,
    s1_preset,
)
from .derive import xpu_params

__all__ = [
    "ACCELERATORS",
    "FAMILIES",
    "OPTICS_KEYS",
    "OpticsKey",
    "SYSTEM_PRESET_DIR",
    "SystemArchitecture",
    "SystemElectronics",
    "SystemGate",
    "SystemLaser",
    "SystemMemory",
    "SystemPreset",
    "SystemReadout",
    "SystemReceiver",
    "SystemSerdes",
    "SystemVcsel",
    "load_system_preset",
    "load_system_preset_file",
    "parse_system_preset",
    "preset_xpu_params",
    "S1_LABEL",
    "s1_idealisation",
    "system_preset_names",
]

SYSTEM_PRESET_DIR = PRESET_DIR / "system"

#: The five configurations of the paper's comparison, in report order.
ACCELERATORS = ("oxbnn50", "oxbnn5", "robin_eo", "robin_po", "lightbulb")
#: Accelerator families; an ``oxbnn`` preset must name an optics preset, the others must not.
FAMILIES = ("oxbnn", "robin", "lightbulb")


@dataclass(frozen=True)
class SystemArchitecture:
    """Organisation and digital side: what the cycle model is parametrised with."""

    n_lanes: int = _p("1", 1, 1024, integer=True, doc="N, lanes (XNOR gates) per XPE")
    n_xpes: int = _p("1", 1, 4096, integer=True, doc="M, XPEs per XPU")
    n_xpus: int = _p("1", 1, 100000, integer=True, doc="X, XPUs per accelerator")
    bit_rate_bps: float = _p("bit/s", 0, 1e12, lo_open=True, doc="slots per second per lane")
    symbols_per_cycle: int = _p(
        "1", 1, 1024, integer=True, doc="S, slots per lane per cycle; clock = bit rate / S"
    )
    target_node_nm: float = _p("nm", 3, 1000, doc="CMOS node of the digital back end")
    gamma: int = _p("1", 1, 4096, integer=True, doc="gamma, the most chunks per readout")
    readout_latency_cycles: int = _p("cycle", 1, 64, integer=True, doc="sample to code")
    act_buffer_depth_words: int = _p("word", 1, 1 << 24, integer=True, doc="per bank")
    wgt_buffer_depth_words: int = _p("word", 1, 1 << 24, integer=True, doc="per bank")


@dataclass(frozen=True)
class SystemLaser:
    """The comb lasers."""

    power_per_wavelength_W: float = _p("W", 0, 1, lo_open=True, doc="optical power per line")
    wall_plug_efficiency: float = _p("1", 0, 1, lo_open=True)
    xpes_per_comb: int = _p("1", 1, 4096, integer=True, doc="XPEs one set of N lines feeds")


@dataclass(frozen=True)
class SystemGate:
    """One optical XNOR gate: its rings, their tuning, modulation and drivers."""

    rings_per_gate: int = _p("1", 1, 8, integer=True)
    driven_junctions_per_gate: int = _p("1", 0, 8, integer=True, doc="driven per XNOR")
    gate_area_m2: float = _p("m^2", 0, 1e-6, lo_open=True, doc="ring area of one gate")
    thermal_tuning_power_W: float = _p("W", 0, 0.1, doc="per ring, static")
    eo_static_power_W: float = _p("W", 0, 0.1, doc="per ring, static")
    eo_energy_per_use_J: float = _p("J", 0, 1e-9, doc="per driven junction per XNOR")
    driver_energy_per_bit_J: float = _p("J", 0, 1e-9, doc="per driven junction per XNOR")
    driver_area_m2: float = _p("m^2", 0, 1e-6, doc="per driver (one per driven junction)")


@dataclass(frozen=True)
class SystemReceiver:
    """Photodetectors and their front end (TIA, or the PCA's capacitor)."""

    pds_per_xpe: int = _p("1", 1, 1024, integer=True)
    pd_power_W: float = _p("W", 0, 1, doc="per PD, static")
    pd_energy_per_slot_J: float = _p("J", 0, 1e-9, doc="per PD per busy slot")
    pd_area_m2: float = _p("m^2", 0, 1e-6)
    frontend_power_W: float = _p("W", 0, 1, doc="per PD, static")
    frontend_energy_per_slot_J: float = _p("J", 0, 1e-9, doc="per PD per busy slot")
    frontend_area_m2: float = _p("m^2", 0, 1e-6, doc="per PD, one capacitor of the PCA")
    frontend_capacitors: int = _p(
        "1",
        1,
        64,
        integer=True,
        doc="capacitors per front end, used in rotation (a PCA's [pca] capacitors: 2 for "
        "ping-pong); the area charges frontend_area_m2 for each",
    )
    reset_energy_per_readout_J: float = _p("J", 0, 1e-9, doc="integrator reset, per readout")


@dataclass(frozen=True)
class SystemReadout:
    """The unit that turns an XPE's count into a code: an ADC, or a digital popcount."""

    units_per_xpe: int = _p("1", 1, 64, integer=True)
    sample_rate_Sps: float = _p("S/s", 0, 1e12, lo_open=True, doc="conversions per second")
    power_W: float = _p("W", 0, 10, doc="at sample_rate_Sps; energy per readout = power / rate")
    area_m2: float = _p("m^2", 0, 1e-4)
    bits: int = _p("bit", 1, 24, integer=True, doc="code width; holds gamma * N counts")
    accumulate_energy_per_readout_J: float = _p("J", 0, 1e-9, doc="digital add of each code")


@dataclass(frozen=True)
class SystemVcsel:
    """Output re-emission (ROBIN); zero units elsewhere."""

    units_per_xpe: int = _p("1", 0, 64, integer=True)
    power_W: float = _p("W", 0, 1, doc="per unit, static")
    energy_per_output_J: float = _p("J", 0, 1e-9)
    area_m2: float = _p("m^2", 0, 1e-4)


@dataclass(frozen=True)
class SystemMemory:
    """eDRAM (one bank set per XPU) and the SRAM tile buffers."""

    edram_units_per_xpu: int = _p("1", 1, 64, integer=True)
    edram_power_W: float = _p("W", 0, 10, doc="per unit, static")
    edram_energy_per_access_J: float = _p("J", 0, 1e-6)
    edram_access_bits: int = _p("bit", 1, 65536, integer=True)
    edram_access_time_s: float = _p("s", 0, 1e-3, lo_open=True, doc="one access per this time")
    edram_area_m2: float = _p("m^2", 0, 1e-3)
    streams_per_edram: int = _p("1", 1, 8, integer=True, doc="tile streams sharing a unit")
    sram_energy_per_bit_J: float = _p("J", 0, 1e-9, doc="tile buffers, read or write")


@dataclass(frozen=True)
class SystemElectronics:
    """Electronic units per XPU: pooling, element-wise adds, activation, on-chip network."""

    pool_units_per_xpu: int = _p("1", 1, 64, integer=True)
    pool_outputs_per_s: float = _p("1/s", 0, 1e13, lo_open=True, doc="pooled outputs, per unit")
    pool_energy_per_element_J: float = _p("J", 0, 1e-9)
    pool_area_m2: float = _p("m^2", 0, 1e-4)
    eltwise_units_per_xpu: int = _p("1", 1, 64, integer=True)
    eltwise_elements_per_s: float = _p("1/s", 0, 1e13, lo_open=True, doc="per unit")
    eltwise_energy_per_element_J: float = _p("J", 0, 1e-9)
    activation_power_W: float = _p("W", 0, 1, doc="per XPU, static")
    activation_energy_per_output_J: float = _p("J", 0, 1e-9)
    activation_area_m2: float = _p("m^2", 0, 1e-4)
    router_power_W: float = _p("W", 0, 10, doc="per XPU, static")
    bus_power_W: float = _p("W", 0, 10, doc="per XPU, static")
    io_power_W: float = _p("W", 0, 10, doc="per XPU, static")
    router_area_m2: float = _p("m^2", 0, 1e-3)
    bus_area_m2: float = _p("m^2", 0, 1e-3)
    io_area_m2: float = _p("m^2", 0, 1e-3)
    splitter_area_m2: float = _p("m^2", 0, 1e-4, doc="per XPE waveguide")


@dataclass(frozen=True)
class SystemSerdes:
    """The S:1 serializer of every driven junction (:mod:`oxbnn.models.serdes`; none at S = 1)."""

    node_nm: float = _p("nm", 3, 1000, doc="node of the two coefficients below; = target_node_nm")
    energy_per_bit_J: float = _p("J", 0, 1e-9, doc="per serialized bit, when S > 1")
    cell_area_m2: float = _p("m^2", 0, 1e-6, doc="one 2:1 cell; an S:1 tree has S - 1")


_SECTIONS: dict[str, type] = {
    "architecture": SystemArchitecture,
    "laser": SystemLaser,
    "gate": SystemGate,
    "receiver": SystemReceiver,
    "readout": SystemReadout,
    "vcsel": SystemVcsel,
    "memory": SystemMemory,
    "electronics": SystemElectronics,
    "serdes": SystemSerdes,
}
_META_KEYS = ("name", "label", "family", "optics_preset", "description")
# A label: one line of printable text (it heads CSV columns and the summary's Markdown tables).
_LABEL_RE = re.compile(r"[^\x00-\x1f\x7f|]{1,64}")


@dataclass(frozen=True)
class OpticsKey:
    """One key an OXBNN system preset takes from its optics preset and must not write.

    Attributes
    ----------
    section, key : str
        Where the value sits in the system preset (``[section] key``).
    what : str
        What it is, for the error and the coefficient's source.
    cites : tuple of str
        The optics preset's keys (``"section.key"``) the value is read from, whose sources the
        coefficient's source quotes; empty for a figure derived by
        :func:`oxbnn.models.derive.xpu_params` (N, gamma).
    value : callable
        ``value(optics, xpu)``: the value, from the optics :class:`~oxbnn.models.configs.Preset`
        and its derived :class:`~oxbnn.models.configs.XpuParams` (XpuParams where it holds the
        value: what the cycle model runs with).
    """

    section: str
    key: str
    what: str
    cites: tuple[str, ...]
    value: Callable[[Preset, XpuParams], int | float] = field(repr=False, compare=False)

    @property
    def description(self) -> str:
        """``what``, and the optics keys it is read from: for error messages."""
        if not self.cites:
            return self.what
        keys = " and ".join("[{}] {}".format(*c.split(".")) for c in self.cites)
        return f"{self.what}, its {keys}"

    def source(self, name: str, optics: Preset) -> str:
        """The coefficient's source: "from optics preset <name>: <that preset's source>"."""
        head = f"from optics preset {name}: "
        if self.cites == (f"{self.section}.{self.key}",):
            return head + optics.sources[self.cites[0]]
        quoted = ["[{}] {}: {}".format(*c.split("."), optics.sources[c]) for c in self.cites]
        return head + "; ".join([self.what, *quoted])


#: Every value an OXBNN system preset shares with its optics preset, in schema order (see the
#: module docstring): the loader fills them in and rejects a file that writes them.
OPTICS_KEYS: tuple[OpticsKey, ...] = (
    OpticsKey(
        "architecture", "n_lanes",
        "N, derived from its link budget (oxbnn.models.derive.xpu_params; docs/design.md §1.2)",
        (), lambda o, x: x.n_lanes,
    ),
    OpticsKey(
        "architecture", "n_xpes", "M", ("architecture.n_xpes",), lambda o, x: x.n_xpes
    ),
    OpticsKey(
        "architecture", "n_xpus", "X", ("architecture.n_xpus",),
        lambda o, x: o.architecture.n_xpus,
    ),
    OpticsKey(
        "architecture", "bit_rate_bps", "the bit rate", ("architecture.bit_rate_bps",),
        lambda o, x: x.bit_rate_bps,
    ),
    OpticsKey(
        "architecture", "symbols_per_cycle", "S, slots per lane per cycle",
        ("architecture.symbols_per_cycle",), lambda o, x: x.symbols_per_cycle,
    ),
    OpticsKey(
        "architecture", "target_node_nm", "the CMOS node of the digital back end",
        ("architecture.target_node_nm",), lambda o, x: o.architecture.target_node_nm,
    ),
    OpticsKey(
        "architecture", "gamma",
        "gamma, derived from its PCA capacity at N (oxbnn.models.derive.xpu_params; "
        "docs/design.md §1.3)",
        (), lambda o, x: x.gamma,
    ),
    OpticsKey(
        "architecture", "readout_latency_cycles",
        "the ADC latency the RTL is built with: serializer + 1 + [pca] adc_latency_s at the "
        "clock, rounded up (oxbnn.models.derive.adc_cycles)",
        ("pca.adc_latency_s",), lambda o, x: x.adc_latency,
    ),
    OpticsKey(
        "architecture", "act_buffer_depth_words", "the activation buffer depth",
        ("architecture.act_buffer_depth_words",), lambda o, x: x.act_buffer_depth,
    ),
    OpticsKey(
        "architecture", "wgt_buffer_depth_words", "the weight buffer depth",
        ("architecture.wgt_buffer_depth_words",), lambda o, x: x.wgt_buffer_depth,
    ),
    OpticsKey(
        "laser", "power_per_wavelength_W", "the laser power per wavelength",
        ("laser.power_per_wavelength_W",), lambda o, x: o.laser.power_per_wavelength_W,
    ),
    OpticsKey(
        "laser", "wall_plug_efficiency", "the laser's wall-plug efficiency",
        ("laser.wall_plug_efficiency",), lambda o, x: o.laser.wall_plug_efficiency,
    ),
    OpticsKey(
        "laser", "xpes_per_comb",
        "M: one comb of N lines per XPU split 1:M over its XPEs, the split its link budget "
        "charges (docs/design.md §1)",
        ("architecture.n_xpes",), lambda o, x: x.n_xpes,
    ),
    OpticsKey(
        "receiver", "reset_energy_per_readout_J",
        "C * V^2 of its PCA, the charge dumped by each reset (upper bound)",
        ("pca.capacitance_F", "pca.voltage_swing_V"),
        lambda o, x: o.pca.capacitance_F * o.pca.voltage_swing_V**2,
    ),
    OpticsKey(
        "receiver", "frontend_capacitors",
        "the capacitors of its PCA, in rotation (XpuParams.pca_capacitors)",
        ("pca.capacitors",), lambda o, x: x.pca_capacitors,
    ),
    OpticsKey("readout", "bits", "the ADC code width", ("pca.adc_bits",), lambda o, x: x.adc_bits),
    OpticsKey(
        "readout", "units_per_xpe",
        "ADC channels per XPE: adc_banks banks of the most samples one cycle holds "
        "(XpuParams.adc_channels)",
        ("architecture.adc_banks",), lambda o, x: x.adc_channels,
    ),
    OpticsKey(
        "readout", "sample_rate_Sps", "the conversion rate of one ADC channel",
        ("pca.adc_sample_rate_Sps",), lambda o, x: o.pca.adc_sample_rate_Sps,
    ),
)  # fmt: skip


def _optics_key(section: str, key: str) -> OpticsKey | None:
    return next((k for k in OPTICS_KEYS if (k.section, k.key) == (section, key)), None)


def _load_optics(optics_preset: str, where: str) -> tuple[Preset, XpuParams]:
    """The optics preset an OXBNN system preset names, and its derived XPU parameters."""
    try:
        return load_preset(optics_preset), xpu_params(optics_preset)
    except PresetError as exc:
        raise PresetError(f"{where}: [meta] optics_preset = {optics_preset!r}: {exc}") from None


def _fill_from_optics(data: dict[str, Any], meta: dict[str, Any], where: str) -> dict[str, Any]:
    """An OXBNN document with :data:`OPTICS_KEYS` filled in from its optics preset.

    Raises :class:`PresetError` naming the file, the key and the optics preset when the
    document writes one of them, or when a value the optics preset gives is out of this
    schema's range. Documents of other families are returned unchanged (they write their own).
    """
    name = meta["optics_preset"]
    if not name:
        return data
    for k in OPTICS_KEYS:
        table = data.get(k.section)
        if isinstance(table, dict) and k.key in table:
            raise PresetError(
                f"{where}: [{k.section}] {k.key} must not be written in an 'oxbnn' system "
                f"preset: it comes from optics preset {name} ({k.description})"
            )
    optics, xpu = _load_optics(name, where)
    data = {s: dict(v) if isinstance(v, dict) else v for s, v in data.items()}
    for k in OPTICS_KEYS:
        # A section all of whose keys come from the optics preset ([architecture], [laser]) is
        # left out of the file; parse_sections names any other missing key or bad section.
        if not isinstance(data.setdefault(k.section, {}), dict):
            continue
        f = next(f for f in dataclasses.fields(_SECTIONS[k.section]) if f.name == k.key)
        value = _check_value(
            f"{where} (from optics preset {name})", k.section, f, k.value(optics, xpu)
        )
        data[k.section][k.key] = {
            "value": value,
            "unit": f.metadata["unit"],
            "source": k.source(name, optics),
        }
    return data


@dataclass(frozen=True)
class SystemPreset:
    """One accelerator at system level: every section validated, with units and sources kept.

    Build it with :func:`load_system_preset` (a shipped name or a path) or
    :func:`parse_system_preset` (an already-parsed TOML document).
    """

    name: str
    label: str
    family: str
    optics_preset: str
    description: str
    path: Path | None
    architecture: SystemArchitecture
    laser: SystemLaser
    gate: SystemGate
    receiver: SystemReceiver
    readout: SystemReadout
    vcsel: SystemVcsel
    memory: SystemMemory
    electronics: SystemElectronics
    serdes: SystemSerdes
    units: dict[str, str] = field(default_factory=dict, compare=False, repr=False)
    sources: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def where(self) -> str:
        """The file this preset came from (or its name), for error messages."""
        return str(self.path) if self.path is not None else f"system preset {self.name!r}"

    def replace(self, section: str, **changes: Any) -> SystemPreset:
        """A copy with fields of one section changed, validated like a file would be.

        ``preset.replace("architecture", n_xpus=2)``
        """
        if section not in _SECTIONS:
            raise PresetError(f"unknown section {section!r}; expected one of {sorted(_SECTIONS)}")
        known = {f.name: f for f in dataclasses.fields(_SECTIONS[section])}
        for key, value in changes.items():
            shared = _optics_key(section, key) if self.optics_preset else None
            if shared is not None:
                raise PresetError(
                    f"{self.where} (override): [{section}] {key} of an 'oxbnn' preset comes "
                    f"from optics preset {self.optics_preset} ({shared.description}); change "
                    f"that preset instead"
                )
            if key not in known:
                raise PresetError(
                    f"{self.where} (override): [{section}] has no key {key!r}; "
                    f"expected one of {sorted(known)}"
                )
            _check_value(f"{self.where} (override)", section, known[key], value)
        new = dataclasses.replace(
            self, **{section: dataclasses.replace(getattr(self, section), **changes)}
        )
        _check_consistency(new, f"{self.where} (override)")
        return new

    def coefficients(self) -> list[dict[str, Any]]:
        """Every coefficient as ``{"key", "value", "unit", "source"}``, for reports."""
        return coefficient_rows(self, _SECTIONS, self.units, self.sources, "(override)")


def system_preset_names() -> list[str]:
    """Names of the system presets shipped with oxbnn, in :data:`ACCELERATORS` order first."""
    found = {p.stem for p in SYSTEM_PRESET_DIR.glob("*.toml")}
    return [n for n in ACCELERATORS if n in found] + sorted(found - set(ACCELERATORS))


def load_system_preset(name: str | Path) -> SystemPreset:
    """Load a shipped system preset by name (case-insensitive, ``OXBNN_50`` works), or a file."""
    path = resolve_preset_path(
        name,
        what="system preset",
        names=system_preset_names(),
        shipped_dir=SYSTEM_PRESET_DIR,
        key=lambda n: n.strip().lower().replace("_", "").replace("-", ""),
    )
    return load_system_preset_file(path)


def load_system_preset_file(path: str | Path) -> SystemPreset:
    """Read, check and freeze one system preset file; errors name the file and the key.

    The file is read as :func:`oxbnn.models.configs.read_toml` reads an optics preset (UTF-8,
    a BOM allowed, every failure one named error).
    """
    path = Path(path)
    return parse_system_preset(read_toml(path, "system preset"), str(path), path=path)


def parse_system_preset(
    data: dict[str, Any], where: str = "<system preset>", *, path: Path | None = None
) -> SystemPreset:
    """Validate a parsed TOML document (the conventions of :mod:`oxbnn.models.configs`).

    Every section and key must be present and known; every coefficient is an inline table
    ``{ value, unit, source }`` with the expected unit, a value in range and a non-empty source.
    An OXBNN preset must not write :data:`OPTICS_KEYS`: they are filled in from the optics
    preset it names.

    Raises
    ------
    PresetError
        Naming ``where`` (the file), the section, the key, the value and what was expected.
    """
    data = dict(data)
    meta = data.pop("meta", None)
    if not isinstance(meta, dict):
        raise PresetError(f"{where}: missing [meta] section with keys {list(_META_KEYS)}")
    for key in _META_KEYS:
        if not isinstance(meta.get(key), str):
            raise PresetError(
                f"{where}: [meta] {key} must be a string, not {_show(meta.get(key))}"
                + (" (missing)" if key not in meta else "")
            )
    check_name(where, "[meta] name", meta["name"])
    if not _LABEL_RE.fullmatch(meta["label"]) or not meta["label"].strip():
        raise PresetError(
            f"{where}: [meta] label = {_show(meta['label'])} is not a valid label; expected "
            f"1 to 64 printable characters on one line, without '|' (it heads report columns)"
        )
    extra_meta = set(meta) - set(_META_KEYS)
    if extra_meta:
        raise PresetError(
            f"{where}: [meta] has unknown key(s) {sorted(extra_meta)}; expected {list(_META_KEYS)}"
        )
    unknown = set(data) - set(_SECTIONS)
    if unknown:
        raise PresetError(
            f"{where}: unknown section(s) {sorted(unknown)}; expected {list(_SECTIONS)} and [meta]"
        )
    _check_family(meta["family"], meta["optics_preset"], where)
    data = _fill_from_optics(data, meta, where)
    sections, units, sources = parse_sections(where, data, _SECTIONS)
    preset = SystemPreset(
        name=meta["name"],
        label=meta["label"],
        family=meta["family"],
        optics_preset=meta["optics_preset"],
        description=meta["description"],
        path=path,
        units=units,
        sources=sources,
        **sections,
    )
    _check_consistency(preset, where)
    return preset


def _check_family(family: str, optics_preset: str, where: str) -> None:
    if family not in FAMILIES:
        raise PresetError(f"{where}: [meta] family = {_show(family)}; expected one of {FAMILIES}")
    if (family == "oxbnn") != bool(optics_preset):
        raise PresetError(
            f"{where}: [meta] optics_preset = {optics_preset!r}: an 'oxbnn' preset must name "
            f"the optics preset its N, gamma and laser come from, and no other family may"
        )


def _check_consistency(p: SystemPreset, where: str) -> None:
    """Checks across keys: the family, a code width that holds ``gamma * N`` counts, and
    serializer coefficients given at the accelerator's CMOS node."""
    _check_family(p.family, p.optics_preset, where)
    a = p.architecture
    if p.serdes.node_nm != a.target_node_nm:
        origin = f" (from optics preset {p.optics_preset})" if p.optics_preset else ""
        raise PresetError(
            f"{where}: [serdes] node_nm = {p.serdes.node_nm:g} differs from [architecture] "
            f"target_node_nm = {a.target_node_nm:g}{origin}; expected the serializer's "
            f"coefficients at the node the back end is built in (rescale them and set node_nm)"
        )
    counts = a.gamma * a.n_lanes
    if (1 << p.readout.bits) - 1 < counts:
        raise PresetError(
            f"{where}: [readout] bits = {p.readout.bits} cannot hold gamma * "
            f"n_lanes = {counts} counts; need at least {counts.bit_length()} bits"
        )


def preset_xpu_params(preset: SystemPreset) -> XpuParams:
    """The XPU's digital side for a system preset: what :func:`timing.layer_cycles` runs with.

    An OXBNN preset's come from its optics preset (:func:`oxbnn.models.derive.xpu_params`, the
    one source of N and gamma), derived at the preset's ``[architecture] symbols_per_cycle``
    (the optics preset's S, or 1 for :func:`s1_idealisation`); a baseline's from its
    ``[architecture]`` (S included) and ``[readout] bits``.
    """
    a = preset.architecture
    if preset.optics_preset:
        optics, xpu = _load_optics(preset.optics_preset, preset.where)
        if xpu.symbols_per_cycle == a.symbols_per_cycle:
            return xpu
        return xpu_params(optics.replace("architecture", symbols_per_cycle=a.symbols_per_cycle))
    return XpuParams(
        n_lanes=a.n_lanes,
        n_xpes=a.n_xpes,
        gamma=a.gamma,
        adc_bits=preset.readout.bits,
        adc_latency=a.readout_latency_cycles,
        symbols_per_cycle=a.symbols_per_cycle,
        act_buffer_depth=a.act_buffer_depth_words,
        wgt_buffer_depth=a.wgt_buffer_depth_words,
        bit_rate_bps=a.bit_rate_bps,
        name=preset.name,
    )


#: What :func:`s1_idealisation` appends to a label.
S1_LABEL = " (S = 1 idealisation)"


def s1_idealisation(preset: SystemPreset) -> SystemPreset:
    """The same accelerator at S = 1: the digital clock at the slot rate, no serializers.

    The labelled idealisation the realistic clock is compared with (``oxbnn report``): every
    coefficient is the preset's, but ``[architecture] symbols_per_cycle`` is 1 and the label
    ends in :data:`S1_LABEL`. For an OXBNN preset the values it shares with its optics preset
    (:data:`OPTICS_KEYS`) are those of that optics preset at S = 1 (derived again, so anything
    that depends on S follows it); N and gamma do not depend on S. A preset already at S = 1 is
    returned with only its label changed. The name stays the preset's (results of the two
    evaluations are kept apart by the caller).
    """
    changes: dict[str, dict[str, Any]] = {"architecture": {"symbols_per_cycle": 1}}
    if preset.optics_preset:
        optics = s1_preset(_load_optics(preset.optics_preset, preset.where)[0])
        xpu = xpu_params(optics)
        for k in OPTICS_KEYS:
            changes.setdefault(k.section, {})[k.key] = k.value(optics, xpu)
    sources = dict(preset.sources)
    sources["architecture.symbols_per_cycle"] = (
        f"S = 1 idealisation of {preset.label}: the digital clock at the slot rate, no "
        f"serializers (oxbnn.models.serdes); as configured: "
        f"{preset.sources.get('architecture.symbols_per_cycle', '')}"
    )
    sections = {s: dataclasses.replace(getattr(preset, s), **c) for s, c in changes.items()}
    return dataclasses.replace(preset, label=preset.label + S1_LABEL, sources=sources, **sections)
