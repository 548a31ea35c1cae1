"""Full-network evaluation: FPS, power, energy per frame and area of every configuration.

A configuration is a *system preset* (``models/configs/system/<name>.toml``, loaded by
:func:`load_system_preset`): the organisation of an accelerator (N, M, X, bit rate, readout) and
the coefficient of every component, each with its unit and source. The five shipped presets are
:data:`ACCELERATORS`: ``oxbnn50``, ``oxbnn5`` (the paper's OXBNN_50 / OXBNN_5), ``robin_eo``,
``robin_po`` (ROBIN, Sunny et al., ACM TECS 2021) and ``lightbulb`` (LightBulb, Zokaee et al.,
DATE 2020). :func:`evaluate_network` maps a :class:`~oxbnn.models.workloads.Network` onto one of
them and returns a :class:`NetworkResult`; :func:`evaluate` does the whole grid.

Where the numbers come from
---------------------------
**OXBNN physics.** An OXBNN preset names an optics preset (``[meta] optics_preset``). N and
gamma come from its link budget and PCA (:func:`oxbnn.models.derive.xpu_params`), the laser
power per line and wall-plug efficiency from its ``[laser]`` section, the PCA reset energy from
its capacitor (C V^2). The system preset restates these values so that every file has the same
keys; the loader checks that they agree and names the key when they do not (gamma is therefore
14 at 50 Gb/s and 5 at 5 Gb/s, never hard-coded: REFERENCE.md defect 5).

**Latency of a compute layer.** Every compute layer (conv, grouped, depthwise, fc) becomes
``(LayerSpec, repeat)`` jobs (:meth:`Network.to_layer_specs`, which also fuses a 2 x 2 max-pool
into the conv before it). Inside an XPU the dataflow is DESIGN.md §4's: weights broadcast to
the M XPEs, M output positions per group, a vector of K bits as ``L = ceil(K/N)`` chunks, one
readout every gamma chunks and at the vector's end. **The work of a layer is split over the X
XPUs as follows** (:func:`plan_split`):

* ``repeat >= X`` (depthwise and grouped layers with many groups): whole groups are dealt out,
  ``ceil(repeat / X)`` per XPU, run one after the other;
* otherwise each group gets ``g = X // repeat`` XPUs, split ``gc x gs``: the output channels in
  ``gc`` shares of ``ceil(C_out / gc)`` filters, the output rows in ``gs`` bands of
  ``ceil(rows / gs)`` rows (2-row units when the layer pools). Every XPU of a share loads the
  activations its rows need (halo included) and the weights of its filters. Among the channel
  counts ``ceil(C_out / gc)`` for ``gc = 1 .. g`` (each with the most row bands the remaining
  XPUs allow), a closed-form estimate keeps the three best and :func:`timing.layer_cycles`
  picks the fastest. A row band is timed as an interior band: an unpadded layer of the input
  rows it reads, with the left/right padding columns stored as data (its positions and vectors
  are exact; its loads exceed the real ones by ``2 * padding`` columns).

Each XPU's time is ``cycles / f_clk`` with ``cycles`` from :func:`oxbnn.models.timing.layer_cycles`
(the closed-form model that equals the RTL) at ``XpuParams.clock_hz`` = bit rate (S = 1), fed by
a :class:`~oxbnn.models.timing.MemoryModel` built from the eDRAM (:func:`memory_for`): latency
``ceil(t_access * f_clk)`` cycles and ``ceil(b * streams * t_access * f_clk / access_bits)``
cycles per word, where ``b`` is the number of bits a word of this layer carries (N for wide
layers, 1 for a depthwise pixel) and the activation and weight streams share the XPU's eDRAM.
Buffer refills are therefore inside the cycle count, as the double-buffered RTL sees them. Two
more terms bound a layer:

* **readout rate.** The RTL accepts a ``pca_sample`` every cycle (a pipelined ADC). The preset's
  readout unit converts ``units_per_xpe * sample_rate_Sps`` codes per second per XPE; an XPU
  share that needs ``jobs * ceil(L / gamma)`` conversions per XPE takes at least that many over
  this rate. OXBNN_50's ADC runs at 50 Gb/s / gamma = 3.6 GS/s, so a vector shorter than gamma
  chunks (L < 14: depthwise 3x3, thin 1x1 convs) can be readout bound. ``readout_bound=False`` drops
  this term (a what-if: an ADC as fast as the RTL assumes).
* **write-back.** Output bits go to the XPU's eDRAM while the layer runs (overlapped): a layer
  takes at least ``ceil(bits / access_bits) * t_access``.

So ``t_layer = max(instances * max(cycles / f_clk, t_readout), t_writeback)``.

**Electronic work** has a throughput of its own and is not shared by the whole chip (REFERENCE.md
defect 4): a pool that is not fused (ResNet's and ShuffleNet's 3 x 3 / 2 max-pool, every global
average pool) runs on X pool units of ``pool_outputs_per_s`` pooled outputs each; a residual
add (:func:`residual_adds`: ResNet basic blocks, MobileNet_V2 stride-1 bottlenecks with equal
channels) on X element-wise units. Layers run one after the other (batch 1, no inter-layer
pipelining); no layer takes zero time (defect 3: even a one-chunk layer pays its fill, pipeline
and drain cycles).

**Roofline.** The optical peak is ``X * M * N * bit_rate`` XNOR/s. Every layer's XNOR work
(computed positions x K, padded bits included: they occupy lanes) over its time must be at most
100 % of it; anything above raises :class:`UtilizationError` naming accelerator, network and layer.

Energy and power
----------------
Per frame, each component (:data:`COMPONENTS`) costs its static power times the frame latency
plus its dynamic energy; the components add up to the total. Static power grows linearly with
the number of units (defect 1); nothing is power-gated.

========================  =========================================================================
``laser``                 static: ``X * N * ceil(M / xpes_per_comb)`` lines x power / wall-plug eff.
``ring_tuning``           static: every ring's thermal tuning
``modulation``            static EO bias per ring + ``xnors * driven_junctions * eo_energy_per_use``
``drivers``               ``xnors * driven_junctions * driver_energy_per_bit`` (binary: no DAC)
``photodetection``        PD and front end (TIA; none for the PCA): static per PD + per busy slot
                          per PD; plus the PCA reset energy per readout
``readout``               **one conversion per readout** (``outputs * ceil(L / gamma)``), at
                          ``power_W / sample_rate_Sps`` J each, plus one digital add per readout
``vcsel``                 ROBIN: static per XPE + one use per output
``buffers``               SRAM tile buffers: bits written (loaded tiles) and read (M activation
                          words + 1 weight word per chunk)
``edram``                 static per unit + accesses of ``access_bits``: tile loads, write-back,
                          pool and residual-add traffic
``electronic``            activation unit (static + one threshold compare per output), pool and
                          element-wise operations
``control``               router, bus and IO per XPU (static)
========================  =========================================================================

Not charged: ADC power while idle (a conversion costs ``power_W / sample_rate_Sps``, nothing
else), SRAM leakage, the conversions of XPEs left idle in a partial group (their lanes are dark;
the ADC is assumed clock-gated), data movement on the on-chip network beyond its static power
(a layer's input is read from each XPU's own eDRAM), the one-time thermal calibration of the
rings (the authors add 4 us per inference), and weight programming before inference.

Area (:data:`AREA_COMPONENTS`): gates (ring area per XNOR gate), drivers, PDs and front ends,
readout units, VCSELs, splitters, eDRAM, pool and activation units, router/bus/IO. FPS = 1 /
latency, FPS/W = 1 / energy per frame, power = energy / latency.

The baselines (ROBIN, LightBulb)
--------------------------------
They have no RTL. They run on the same digital back end (tile buffers, sequencer, memory model)
and therefore the same cycle model, with their own N, M, X, bit rate and readout: no analog
temporal accumulation, so gamma = 1 and **every N-bit chunk is read out**, its partial popcount
added digitally into the output's sum (the authors' simulator also decomposes K into N-sized
partial sums added electronically). ROBIN reads a chunk with a photodetector, a TIA and a 5 GS/s
ADC (one conversion per 5 Gb/s slot: never readout bound) and re-emits each output with a VCSEL;
LightBulb detects each gate's output bit on its own photodetector and counts a chunk with a
popcount unit at the 50 Gb/s slot rate. LightBulb's phase-change weight cells are taken to follow
the weights-broadcast dataflow like OXBNN's weight junctions (as the authors' simulator does): the
time and energy of reprogramming them are not modelled. Their coefficients, and which ones are
assumptions, are in their preset files.
"""

from __future__ import annotations

import dataclasses
import math
import re
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from . import tiling, timing
from .configs import (
    PRESET_DIR,
    PresetError,
    XpuParams,
    _check_value,
    _p,
    coefficient_rows,
    load_preset,
    parse_sections,
)
from .derive import xpu_params
from .layer import LayerSpec
from .workloads import NETWORKS, Network, WorkloadLayer, get_network

__all__ = [
    "ACCELERATORS",
    "AREA_COMPONENTS",
    "COMPONENTS",
    "FAMILIES",
    "SYSTEM_PRESET_DIR",
    "AcceleratorModel",
    "LayerResult",
    "NetworkResult",
    "Share",
    "SystemArchitecture",
    "SystemElectronics",
    "SystemGate",
    "SystemLaser",
    "SystemMemory",
    "SystemPreset",
    "SystemReadout",
    "SystemReceiver",
    "SystemVcsel",
    "UtilizationError",
    "accelerator_model",
    "check_utilization",
    "clear_cache",
    "evaluate",
    "evaluate_network",
    "load_system_preset",
    "load_system_preset_file",
    "memory_for",
    "parse_system_preset",
    "plan_split",
    "residual_adds",
    "system_preset_names",
]

SYSTEM_PRESET_DIR = PRESET_DIR / "system"

#: The five configurations of the paper's comparison, in report order.
ACCELERATORS = ("oxbnn50", "oxbnn5", "robin_eo", "robin_po", "lightbulb")
#: Accelerator families; an ``oxbnn`` preset must name an optics preset, the others must not.
FAMILIES = ("oxbnn", "robin", "lightbulb")
#: Energy components of a frame, in report order; they sum to the total.
COMPONENTS = (
    "laser",
    "ring_tuning",
    "modulation",
    "drivers",
    "photodetection",
    "readout",
    "vcsel",
    "buffers",
    "edram",
    "electronic",
    "control",
)
#: Area components, in report order.
AREA_COMPONENTS = (
    "gates",
    "drivers",
    "photodetection",
    "readout",
    "vcsel",
    "splitters",
    "edram",
    "electronic",
    "control",
)

#: Relative slack allowed on the utilisation check (floating-point rounding only).
_UTILIZATION_SLACK = 1e-9
#: Split candidates evaluated with the exact cycle model after the closed-form estimate.
_EXACT_CANDIDATES = 3


class UtilizationError(ValueError):
    """A layer would do more XNORs per second than the optical peak ``X * M * N * bit_rate``."""


# ----------------------------------------------------------------------------------------------
# System presets
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SystemArchitecture:
    """Organisation and digital side: what the cycle model is parametrised with."""

    n_lanes: int = _p("1", 1, 1024, integer=True, doc="N, XNOR gates (wavelengths) per XPE")
    n_xpes: int = _p("1", 1, 4096, integer=True, doc="M, XPEs per XPU")
    n_xpus: int = _p("1", 1, 100000, integer=True, doc="X, XPUs per accelerator")
    bit_rate_bps: float = _p("bit/s", 0, 1e12, lo_open=True, doc="bit slots per second per lane")
    chunks_per_readout: int = _p("1", 1, 4096, integer=True, doc="gamma: chunks per readout")
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
    pd_energy_per_slot_J: float = _p("J", 0, 1e-9, doc="per PD per busy bit slot")
    pd_area_m2: float = _p("m^2", 0, 1e-6)
    frontend_power_W: float = _p("W", 0, 1, doc="per PD, static")
    frontend_energy_per_slot_J: float = _p("J", 0, 1e-9, doc="per PD per busy bit slot")
    frontend_area_m2: float = _p("m^2", 0, 1e-6, doc="per PD")
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


_SECTIONS: dict[str, type] = {
    "architecture": SystemArchitecture,
    "laser": SystemLaser,
    "gate": SystemGate,
    "receiver": SystemReceiver,
    "readout": SystemReadout,
    "vcsel": SystemVcsel,
    "memory": SystemMemory,
    "electronics": SystemElectronics,
}
_META_KEYS = ("name", "label", "family", "optics_preset", "description")


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
    path = Path(name)
    if path.suffix == ".toml" or path.exists():
        return load_system_preset_file(path)
    key = str(name).strip().lower().replace("_", "").replace("-", "")
    for candidate in system_preset_names():
        if candidate.replace("_", "") == key:
            return load_system_preset_file(SYSTEM_PRESET_DIR / f"{candidate}.toml")
    raise PresetError(
        f"unknown system preset {str(name)!r}; expected one of {system_preset_names()} "
        f"or a path to a .toml file"
    )


def load_system_preset_file(path: str | Path) -> SystemPreset:
    """Read, check and freeze one system preset file; errors name the file and the key."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PresetError(f"{path}: cannot read system preset file ({exc.strerror})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PresetError(f"{path}: not valid TOML ({exc})") from None
    return parse_system_preset(data, str(path), path=path)


def parse_system_preset(
    data: dict[str, Any], where: str = "<system preset>", *, path: Path | None = None
) -> SystemPreset:
    """Validate a parsed TOML document (the conventions of :mod:`oxbnn.models.configs`).

    Every section and key must be present and known; every coefficient is an inline table
    ``{ value, unit, source }`` with the expected unit, a value in range and a non-empty source.
    An OXBNN preset is also checked against the optics preset it names.

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
                f"{where}: [meta] {key} must be a string, not {meta.get(key)!r}"
                + (" (missing)" if key not in meta else "")
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


def _check_consistency(p: SystemPreset, where: str) -> None:
    """Checks across keys, and of an OXBNN preset against the physics of its optics preset."""
    if p.family not in FAMILIES:
        raise PresetError(f"{where}: [meta] family = {p.family!r}; expected one of {FAMILIES}")
    if (p.family == "oxbnn") != bool(p.optics_preset):
        raise PresetError(
            f"{where}: [meta] optics_preset = {p.optics_preset!r}: an 'oxbnn' preset must name "
            f"the optics preset its N, gamma and laser come from, and no other family may"
        )
    a = p.architecture
    counts = a.chunks_per_readout * a.n_lanes
    if (1 << p.readout.bits) - 1 < counts:
        raise PresetError(
            f"{where}: [readout] bits = {p.readout.bits} cannot hold chunks_per_readout * "
            f"n_lanes = {counts} counts; need at least {counts.bit_length()} bits"
        )
    if not p.optics_preset:
        return
    try:
        optics = load_preset(p.optics_preset)
        xpu = xpu_params(p.optics_preset)
    except PresetError as exc:
        raise PresetError(f"{where}: [meta] optics_preset = {p.optics_preset!r}: {exc}") from None
    pca = optics.pca
    expected: list[tuple[str, str, float, str]] = [
        ("architecture", "n_lanes", xpu.n_lanes, "N from its link budget"),
        ("architecture", "n_xpes", xpu.n_xpes, "M"),
        ("architecture", "n_xpus", optics.architecture.n_xpus, "X"),
        ("architecture", "bit_rate_bps", xpu.bit_rate_bps, "bit rate"),
        ("architecture", "chunks_per_readout", xpu.gamma, "gamma from its PCA capacity"),
        ("architecture", "readout_latency_cycles", xpu.adc_latency, "adc_latency_cycles"),
        ("architecture", "act_buffer_depth_words", xpu.act_buffer_depth, "act buffer depth"),
        ("architecture", "wgt_buffer_depth_words", xpu.wgt_buffer_depth, "wgt buffer depth"),
        ("laser", "power_per_wavelength_W", optics.laser.power_per_wavelength_W, "laser power"),
        ("laser", "wall_plug_efficiency", optics.laser.wall_plug_efficiency, "wall-plug eff."),
        ("laser", "xpes_per_comb", xpu.n_xpes, "M (its link budget splits a line 1:M)"),
        ("readout", "bits", pca.adc_bits, "[pca] adc_bits"),
        (
            "receiver",
            "reset_energy_per_readout_J",
            pca.capacitance_F * pca.voltage_swing_V**2,
            "C * V^2 of its PCA",
        ),
    ]
    for section, key, want, what in expected:
        got = getattr(getattr(p, section), key)
        if not math.isclose(got, want, rel_tol=1e-3, abs_tol=0.0):
            raise PresetError(
                f"{where}: [{section}] {key} = {got!r} disagrees with optics preset "
                f"{p.optics_preset!r} ({what} = {want!r}); the system preset must restate it"
            )


# ----------------------------------------------------------------------------------------------
# An accelerator ready to evaluate
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AcceleratorModel:
    """A system preset with its XPU parameters and memory model, and its static power and area.

    Parameters
    ----------
    preset : SystemPreset
    xpu : XpuParams
        What :func:`timing.layer_cycles` is run with (derived from the optics for OXBNN).
    memory : timing.MemoryModel
        The eDRAM as the XPU's tile streams see it for full N-bit words (a layer whose words
        carry fewer bits streams faster: :func:`memory_for`).
    """

    preset: SystemPreset
    xpu: XpuParams
    memory: timing.MemoryModel

    @property
    def name(self) -> str:
        return self.preset.name

    @property
    def label(self) -> str:
        return self.preset.label

    @property
    def clock_hz(self) -> float:
        """Clock of the cycle counts, ``XpuParams.clock_hz`` (bit rate / S)."""
        return self.xpu.clock_hz

    @property
    def n_xpus(self) -> int:
        return self.preset.architecture.n_xpus

    @property
    def peak_xnor_per_s(self) -> float:
        """Optical peak ``X * M * N * bit_rate`` XNOR/s."""
        a = self.preset.architecture
        return a.n_xpus * a.n_xpes * a.n_lanes * a.bit_rate_bps

    @property
    def n_gates(self) -> int:
        """XNOR gates of the whole accelerator, ``X * M * N``."""
        a = self.preset.architecture
        return a.n_xpus * a.n_xpes * a.n_lanes

    @property
    def n_laser_lines(self) -> int:
        """Comb lines: ``N`` per ``xpes_per_comb`` XPEs, in every XPU."""
        a, las = self.preset.architecture, self.preset.laser
        return a.n_xpus * a.n_lanes * -(-a.n_xpes // las.xpes_per_comb)

    @property
    def energy_per_readout_J(self) -> float:
        """Energy of one conversion (J): readout power / sample rate (defect 2: not per ring)."""
        r = self.preset.readout
        return r.power_W / r.sample_rate_Sps

    def static_power_W(self) -> dict[str, float]:
        """Static power of every component (W), linear in the unit counts (defect 1)."""
        p = self.preset
        a, g, rx = p.architecture, p.gate, p.receiver
        x, xpes = a.n_xpus, a.n_xpus * a.n_xpes
        rings = self.n_gates * g.rings_per_gate
        el = p.electronics
        out = dict.fromkeys(COMPONENTS, 0.0)
        out["laser"] = (
            self.n_laser_lines * p.laser.power_per_wavelength_W / p.laser.wall_plug_efficiency
        )
        out["ring_tuning"] = rings * g.thermal_tuning_power_W
        out["modulation"] = rings * g.eo_static_power_W
        out["photodetection"] = xpes * rx.pds_per_xpe * (rx.pd_power_W + rx.frontend_power_W)
        out["vcsel"] = xpes * p.vcsel.units_per_xpe * p.vcsel.power_W
        out["edram"] = x * p.memory.edram_units_per_xpu * p.memory.edram_power_W
        out["electronic"] = x * el.activation_power_W
        out["control"] = x * (el.router_power_W + el.bus_power_W + el.io_power_W)
        return out

    def area_m2(self) -> dict[str, float]:
        """Area of every component (m^2)."""
        p = self.preset
        a, g, rx, el = p.architecture, p.gate, p.receiver, p.electronics
        x, xpes = a.n_xpus, a.n_xpus * a.n_xpes
        out = dict.fromkeys(AREA_COMPONENTS, 0.0)
        out["gates"] = self.n_gates * g.gate_area_m2
        out["drivers"] = self.n_gates * g.driven_junctions_per_gate * g.driver_area_m2
        out["photodetection"] = xpes * rx.pds_per_xpe * (rx.pd_area_m2 + rx.frontend_area_m2)
        out["readout"] = xpes * p.readout.units_per_xpe * p.readout.area_m2
        out["vcsel"] = xpes * p.vcsel.units_per_xpe * p.vcsel.area_m2
        out["splitters"] = xpes * el.splitter_area_m2
        out["edram"] = x * p.memory.edram_units_per_xpu * p.memory.edram_area_m2
        out["electronic"] = x * (el.pool_units_per_xpu * el.pool_area_m2 + el.activation_area_m2)
        out["control"] = x * (el.router_area_m2 + el.bus_area_m2 + el.io_area_m2)
        return out

    @property
    def edram_bits_per_s(self) -> float:
        """eDRAM bandwidth of one XPU (bit/s)."""
        m = self.preset.memory
        return m.edram_units_per_xpu * m.edram_access_bits / m.edram_access_time_s


def _memory_model(p: SystemPreset, clock_hz: float, word_bits: float) -> timing.MemoryModel:
    """The eDRAM as a tile stream sees it, for words carrying ``word_bits`` bits on average."""
    m = p.memory
    per_access = m.edram_access_time_s * clock_hz  # cycles per eDRAM access
    latency = max(1, math.ceil(per_access - 1e-9))
    per_word = word_bits * m.streams_per_edram * per_access / m.edram_access_bits
    return timing.MemoryModel(
        latency_cycles=latency, cycles_per_word=max(1, math.ceil(per_word - 1e-9))
    )


def memory_for(spec: LayerSpec, model: AcceleratorModel) -> timing.MemoryModel:
    """The memory model of one layer share: eDRAM bandwidth over the bits its words carry.

    A pixel of C channels is ``ceil(C / N)`` words and a filter ``ceil(K / N)`` words, so a word
    carries ``C / ceil(C / N)`` (activations) or ``K / ceil(K / N)`` (weights) bits on average;
    the eDRAM, which stores the maps packed, must deliver the larger of the two per word.
    A single-channel (depthwise) pixel is a 1-bit word and streams at one word per cycle.
    """
    n = model.preset.architecture.n_lanes
    act = spec.in_channels / -(-spec.in_channels // n)
    wgt = spec.k / -(-spec.k // n)
    return _memory_model(model.preset, model.clock_hz, max(act, wgt))


def _build_model(preset: SystemPreset) -> AcceleratorModel:
    a = preset.architecture
    if preset.optics_preset:
        xpu = xpu_params(preset.optics_preset)
    else:
        xpu = XpuParams(
            n_lanes=a.n_lanes,
            n_xpes=a.n_xpes,
            gamma=a.chunks_per_readout,
            adc_bits=preset.readout.bits,
            adc_latency=a.readout_latency_cycles,
            act_buffer_depth=a.act_buffer_depth_words,
            wgt_buffer_depth=a.wgt_buffer_depth_words,
            bit_rate_bps=a.bit_rate_bps,
            name=preset.name,
        )
    return AcceleratorModel(preset, xpu, _memory_model(preset, xpu.clock_hz, a.n_lanes))


@lru_cache(maxsize=32)
def _model_by_name(name: str) -> AcceleratorModel:
    return _build_model(load_system_preset(name))


def accelerator_model(preset: SystemPreset | AcceleratorModel | str) -> AcceleratorModel:
    """The :class:`AcceleratorModel` of a preset (shipped name, path, or loaded preset)."""
    if isinstance(preset, AcceleratorModel):
        return preset
    if isinstance(preset, SystemPreset):
        return _build_model(preset)
    return _model_by_name(str(preset))


# ----------------------------------------------------------------------------------------------
# Splitting a layer over the XPUs
# ----------------------------------------------------------------------------------------------


@lru_cache(maxsize=65536)
def _breakdown(spec: LayerSpec, xpu: XpuParams, mem: timing.MemoryModel) -> timing.CycleBreakdown:
    """Cycles of one XPU share (cached: networks repeat the same shapes)."""
    return timing.layer_cycles(spec, xpu, mem)


def clear_cache() -> None:
    """Forget cached cycle counts (after monkeypatching :mod:`timing` in a test)."""
    _breakdown.cache_clear()


@dataclass(frozen=True)
class Share:
    """How one ``(spec, repeat)`` job is dealt out to the XPUs.

    Attributes
    ----------
    spec : LayerSpec
        What one XPU runs (``instances_per_xpu`` times, back to back).
    channel_shares, row_shares : int
        Splits of one group's output channels and output rows.
    instances_per_xpu : int
        Runs of ``spec`` on the busiest XPU.
    busy_xpus : int
        XPUs with work.
    runs : int
        Runs of ``spec`` over the whole layer (each a share of work; for energy).
    """

    spec: LayerSpec
    channel_shares: int
    row_shares: int
    instances_per_xpu: int
    busy_xpus: int
    runs: int

    def describe(self) -> str:
        """``"3 ch x 2 rows"``-style summary for tables."""
        text = f"{self.spec.out_channels} ch"
        if self.row_shares > 1:
            f = 2 if self.spec.pool else 1
            text += f" x {self.spec.out_h // f} rows"
        if self.instances_per_xpu > 1:
            text += f" x{self.instances_per_xpu}"
        return f"{text} on {self.busy_xpus} XPUs"


def _units(spec: LayerSpec) -> tuple[int, int, int]:
    """``(unit rows, unit columns, pool factor)``: units are pooled positions when pooling."""
    f = 2 if spec.pool else 1
    return spec.out_h // f, spec.out_w // f, f


def _row_share(spec: LayerSpec, rows: int) -> LayerSpec:
    """``spec`` cut to a band of ``rows`` unit rows, as an interior band sees it.

    The band reads the input rows its outputs need, halo included (no padding rows), and the
    layer's left and right padding become stored columns: an unpadded layer of height
    ``(rows * f - 1) * stride + kernel_h`` and width ``W + 2 * padding``. Its positions and
    vectors are exactly the band's; its tile loads exceed the real ones by the ``2 * padding``
    padding columns.
    """
    unit_h, _, f = _units(spec)
    if rows >= unit_h:
        return spec
    return dataclasses.replace(
        spec,
        height=(rows * f - 1) * spec.stride + spec.kernel_h,
        width=spec.width + 2 * spec.padding,
        padding=0,
    )


def _estimate(spec: LayerSpec, model: AcceleratorModel) -> float:
    """Closed-form estimate (cycles) of a share, to rank split candidates."""
    xpu, mem = model.xpu, memory_for(spec, model)
    unit_h, unit_w, f = _units(spec)
    groups = -(-(unit_h * unit_w) // xpu.n_xpes)
    chunks = -(-spec.k // xpu.n_lanes)
    jobs = spec.out_channels * groups * f * f
    compute = jobs * chunks
    r = model.preset.readout
    readout = jobs * -(-chunks // xpu.gamma) * xpu.clock_hz / (r.units_per_xpe * r.sample_rate_Sps)
    in_rows = min(spec.height, (unit_h * f - 1) * spec.stride + spec.kernel_h)
    act_words = in_rows * spec.width * -(-spec.in_channels // xpu.n_lanes)
    wgt_words = spec.out_channels * chunks
    load = (act_words + wgt_words) * mem.cycles_per_word + mem.latency_cycles
    first = min(act_words, xpu.act_buffer_depth) * mem.cycles_per_word
    return max(compute + first, readout, load)


def plan_split(
    spec: LayerSpec, repeat: int, model: AcceleratorModel, *, readout_bound: bool = True
) -> Share:
    """Deal ``repeat`` runs of ``spec`` out to the XPUs (see the module docstring).

    Returns the :class:`Share` whose busiest XPU finishes first (by :func:`timing.layer_cycles`
    and the readout-rate bound) among the best few by estimate that fit the XPU's buffers; ties
    go to fewer runs. Raises :class:`~oxbnn.models.tiling.TilingError` if no share fits.
    """
    x = model.n_xpus
    if repeat >= x:
        return Share(spec, 1, 1, -(-repeat // x), x, repeat)
    g = x // repeat
    c_out = spec.out_channels
    unit_h, _, _ = _units(spec)
    per_xpu: list[int] = []
    for gc in range(1, min(g, c_out) + 1):
        c = -(-c_out // gc)
        if not per_xpu or per_xpu[-1] != c:
            per_xpu.append(c)
    candidates: list[Share] = []
    for c in per_xpu:
        gc = -(-c_out // c)
        gs = min(g // gc, unit_h)
        rows = -(-unit_h // gs)
        gs = -(-unit_h // rows)
        share_spec = _row_share(dataclasses.replace(spec, out_channels=c), rows)
        candidates.append(Share(share_spec, gc, gs, 1, gc * gs * repeat, gc * gs * repeat))
    candidates.sort(key=lambda s: (_estimate(s.spec, model), s.runs))
    timed: list[tuple[float, int, Share]] = []
    error: tiling.TilingError | None = None
    for share in candidates:  # the best few by estimate that the XPU can run at all
        try:
            seconds = _share_seconds(share.spec, model, readout_bound)[0]
        except tiling.TilingError as exc:
            error = error or exc
            continue
        timed.append((seconds, share.runs, share))
        if len(timed) == _EXACT_CANDIDATES:
            break
    if not timed:
        assert error is not None
        raise error
    return min(timed, key=lambda t: (t[0], t[1]))[2]


def _share_seconds(
    spec: LayerSpec, model: AcceleratorModel, readout_bound: bool
) -> tuple[float, float, timing.CycleBreakdown]:
    """``(seconds, readout-bound seconds, breakdown)`` of one run of a share on one XPU."""
    bd = _breakdown(spec, model.xpu, memory_for(spec, model))
    plan = bd.plan
    r = model.preset.readout
    t_readout = plan.jobs * plan.readouts / (r.units_per_xpe * r.sample_rate_Sps)
    t_cycles = bd.total / model.clock_hz
    return (max(t_cycles, t_readout) if readout_bound else t_cycles), t_readout, bd


# ----------------------------------------------------------------------------------------------
# Results
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerResult:
    """One layer of one network on one accelerator.

    Attributes
    ----------
    name, kind : str
        The workload layer (``kind`` is ``"add"`` for a residual add).
    repeat : int
        Runs of the XPU job (groups); 0 for electronic layers.
    share : Share or None
        How the work is dealt out (None for electronic layers).
    xpu_cycles : int
        Cycles of the busiest XPU from :func:`timing.layer_cycles` (``instances x`` one run).
    cycle_parts : dict
        ``fill``, ``compute``, ``load``, ``readout``, ``drain`` of one run (cycles).
    xpu_s, readout_s, writeback_s, electronic_s : float
        The latency terms (seconds); ``readout_s`` is the readout-rate bound of the busiest XPU.
    seconds : float
        The layer's latency.
    bound : str
        Which term sets it: ``compute``, ``memory`` (tile loads), ``readout``, ``writeback``,
        ``pool`` or ``eltwise``.
    xnors, readouts, outputs : int
        XNORs computed (lanes x slots, padding included), readouts (one ADC conversion or
        popcount each), output values.
    utilization : float
        ``xnors / (peak * seconds)``, at most 1.
    dynamic_J : dict
        Dynamic energy of every component (J).
    """

    name: str
    kind: str
    repeat: int
    share: Share | None
    xpu_cycles: int
    cycle_parts: dict[str, int]
    xpu_s: float
    readout_s: float
    writeback_s: float
    electronic_s: float
    seconds: float
    bound: str
    xnors: int
    readouts: int
    outputs: int
    utilization: float
    dynamic_J: dict[str, float]

    def energy_J(self, static_power_W: dict[str, float]) -> dict[str, float]:
        """Energy of every component: static power over this layer's time plus dynamic."""
        return {c: static_power_W[c] * self.seconds + self.dynamic_J[c] for c in COMPONENTS}


@dataclass(frozen=True)
class NetworkResult:
    """One network (one frame, batch 1) on one accelerator.

    ``energy_J`` (per component) sums to ``energy_per_frame_J``; ``area_m2`` (per component) to
    ``area_mm2 * 1e-6``. ``cycles`` is the frame latency in clock cycles (``latency_s * clock``);
    ``xpu_cycles`` the sum over compute layers of the busiest XPU's cycle count.
    """

    accelerator: str
    label: str
    network: str
    clock_hz: float
    peak_xnor_per_s: float
    layers: tuple[LayerResult, ...]
    static_power_W: dict[str, float]
    dynamic_J: dict[str, float]
    area_m2: dict[str, float]
    readout_bound: bool = True

    @property
    def latency_s(self) -> float:
        return sum(layer.seconds for layer in self.layers)

    @property
    def cycles(self) -> int:
        return round(self.latency_s * self.clock_hz)

    @property
    def xpu_cycles(self) -> int:
        return sum(layer.xpu_cycles for layer in self.layers)

    @property
    def energy_J(self) -> dict[str, float]:
        t = self.latency_s
        return {c: self.static_power_W[c] * t + self.dynamic_J[c] for c in COMPONENTS}

    @property
    def energy_per_frame_J(self) -> float:
        return sum(self.energy_J.values())

    @property
    def power_W(self) -> float:
        return self.energy_per_frame_J / self.latency_s

    @property
    def area_mm2(self) -> float:
        return sum(self.area_m2.values()) * 1e6

    @property
    def fps(self) -> float:
        return 1.0 / self.latency_s

    @property
    def fps_per_w(self) -> float:
        return self.fps / self.power_W

    @property
    def fps_per_w_per_mm2(self) -> float:
        return self.fps_per_w / self.area_mm2

    @property
    def xnors(self) -> int:
        return sum(layer.xnors for layer in self.layers)

    @property
    def readouts(self) -> int:
        return sum(layer.readouts for layer in self.layers)

    @property
    def utilization(self) -> float:
        """Frame XNORs over ``peak * latency``."""
        return self.xnors / (self.peak_xnor_per_s * self.latency_s)

    def summary(self) -> dict[str, float | int]:
        """The figures the report's JSON carries (SI units; ``utilization`` as a fraction)."""
        return {
            "fps": self.fps,
            "fps_per_w": self.fps_per_w,
            "fps_per_w_per_mm2": self.fps_per_w_per_mm2,
            "energy_per_frame_J": self.energy_per_frame_J,
            "power_W": self.power_W,
            "area_mm2": self.area_mm2,
            "utilization": self.utilization,
            "cycles": self.cycles,
            "latency_s": self.latency_s,
            "xpu_cycles": self.xpu_cycles,
            "clock_hz": self.clock_hz,
        }


def check_utilization(xnors: int, peak_xnor_per_s: float, seconds: float, where: str) -> float:
    """``xnors / (peak * seconds)``; raise :class:`UtilizationError` above 100 %.

    A layer that takes no time, or less time than its XNOR work needs at the optical peak,
    means the model is wrong somewhere: it is never clipped.
    """
    if seconds <= 0:
        if xnors:
            raise UtilizationError(
                f"{where}: {xnors} XNORs in {seconds!r} s; a layer cannot take zero time"
            )
        return 0.0
    u = xnors / (peak_xnor_per_s * seconds)
    if u > 1.0 + _UTILIZATION_SLACK:
        raise UtilizationError(
            f"{where}: utilisation {100 * u:.3f} % of the optical peak "
            f"({peak_xnor_per_s:.4g} XNOR/s = X * M * N * bit rate): {xnors} XNORs in "
            f"{seconds:.6g} s exceed 100 %"
        )
    return u


# ----------------------------------------------------------------------------------------------
# Evaluating a network
# ----------------------------------------------------------------------------------------------


_RESNET_BLOCK = re.compile(r"^(layer\d+\.\d+)\.conv2$")
_MOBILENET_PROJECT = re.compile(r"^(block\d+)\.project$")


def residual_adds(network: Network) -> dict[str, int]:
    """Residual adds of a built-in network: ``{layer after which the add runs: elements}``.

    Recognised from the layer names :mod:`oxbnn.models.workloads` writes: every ResNet basic
    block (``layerS.B.conv2``; after the block's downsample conv when it has one) and every
    MobileNet_V2 bottleneck whose input and output shapes are equal (``blockN.project``).
    ShuffleNet_V2's channel split, concatenation and shuffle are address remapping (no adds);
    networks read from CSV carry no dataflow, so none is found there.
    """
    names = {layer.name: i for i, layer in enumerate(network.layers)}
    adds: dict[str, int] = {}
    for layer in network.layers:
        m = _RESNET_BLOCK.match(layer.name)
        if m:
            after = f"{m.group(1)}.downsample"
            adds[after if after in names else layer.name] = layer.n_outputs
            continue
        m = _MOBILENET_PROJECT.match(layer.name)
        if m:
            first = next(
                (network.layers[names[f"{m.group(1)}.{part}"]] for part in ("expand", "dw")
                 if f"{m.group(1)}.{part}" in names),
                None,
            )  # fmt: skip
            if first is not None and first.in_shape == layer.out_shape:
                adds[layer.name] = layer.n_outputs
    return adds


def _int_bits(k: int) -> int:
    """Width of a signed dot product of K bits (``-K .. K``)."""
    return (k + 1).bit_length() + 1


def _zero() -> dict[str, float]:
    return dict.fromkeys(COMPONENTS, 0.0)


def _compute_layer(
    layer: WorkloadLayer,
    spec: LayerSpec,
    repeat: int,
    model: AcceleratorModel,
    readout_bound: bool,
    where: str,
) -> LayerResult:
    p = model.preset
    a, g, rx, ro, mem = p.architecture, p.gate, p.receiver, p.readout, p.memory
    n, m = a.n_lanes, a.n_xpes
    share = plan_split(spec, repeat, model, readout_bound=readout_bound)
    t_run, t_ro_run, bd = _share_seconds(share.spec, model, readout_bound)
    plan = bd.plan

    # Exact work of the layer (not of the rounded-up shares).
    unit_h, unit_w, f = _units(spec)
    positions = unit_h * f * unit_w * f
    chunks = -(-spec.k // n)
    per_output = -(-chunks // a.chunks_per_readout)
    pre = repeat * spec.out_channels * positions
    xnors = pre * spec.k
    slots = pre * chunks
    readouts = pre * per_output
    outputs = repeat * spec.out_channels * unit_h * unit_w
    out_bits = 1 if spec.output == "bit" else _int_bits(spec.k)

    # Time: busiest XPU, then the overlapped write-back of its outputs.
    xpu_s = share.instances_per_xpu * t_run
    share_outputs = share.spec.out_channels * (share.spec.out_h // f) * (share.spec.out_w // f)
    wb_bits = share.instances_per_xpu * share_outputs * out_bits
    accesses = -(-wb_bits // (mem.edram_units_per_xpu * mem.edram_access_bits))
    writeback_s = accesses * mem.edram_access_time_s
    seconds = max(xpu_s, writeback_s)
    if writeback_s > xpu_s:
        bound = "writeback"
    elif readout_bound and t_ro_run > bd.total / model.clock_hz:
        bound = "readout"
    elif bd.fill + bd.load > bd.compute:
        bound = "memory"
    else:
        bound = "compute"
    utilization = check_utilization(xnors, model.peak_xnor_per_s, seconds, where)

    # Dynamic energy.
    thr_bits = plan.threshold_words * (_int_bits(spec.k) + 1)
    loaded_words = sum(b.words for b in plan.bands) + sum(
        plan.weight_tiles[w].words for w in plan.wgt_loads
    )
    loaded_bits = share.runs * (loaded_words * n + thr_bits)
    read_bits = share.runs * plan.jobs * plan.chunks * (m + 1) * n
    written_bits = outputs * out_bits
    d = _zero()
    d["modulation"] = xnors * g.driven_junctions_per_gate * g.eo_energy_per_use_J
    d["drivers"] = xnors * g.driven_junctions_per_gate * g.driver_energy_per_bit_J
    d["photodetection"] = (
        slots * rx.pds_per_xpe * (rx.pd_energy_per_slot_J + rx.frontend_energy_per_slot_J)
        + readouts * rx.reset_energy_per_readout_J
    )
    d["readout"] = readouts * (model.energy_per_readout_J + ro.accumulate_energy_per_readout_J)
    if p.vcsel.units_per_xpe:
        d["vcsel"] = outputs * p.vcsel.energy_per_output_J
    d["buffers"] = (loaded_bits + read_bits) * mem.sram_energy_per_bit_J
    d["edram"] = (
        (loaded_bits + written_bits) / mem.edram_access_bits * mem.edram_energy_per_access_J
    )
    d["electronic"] = outputs * p.electronics.activation_energy_per_output_J
    return LayerResult(
        name=layer.name,
        kind=layer.kind,
        repeat=repeat,
        share=share,
        xpu_cycles=share.instances_per_xpu * bd.total,
        cycle_parts={
            "fill": bd.fill,
            "compute": bd.compute,
            "load": bd.load,
            "readout": bd.readout,
            "drain": bd.drain,
        },
        xpu_s=xpu_s,
        readout_s=share.instances_per_xpu * t_ro_run,
        writeback_s=writeback_s,
        electronic_s=0.0,
        seconds=seconds,
        bound=bound,
        xnors=xnors,
        readouts=readouts,
        outputs=outputs,
        utilization=utilization,
        dynamic_J=d,
    )


def _electronic_layer(
    name: str,
    kind: str,
    elements: int,
    in_bits: int,
    out_bits: int,
    outputs: int,
    model: AcceleratorModel,
) -> LayerResult:
    """A pool or a residual add on the X electronic units of its kind.

    A pool unit delivers ``pool_outputs_per_s`` pooled outputs and spends
    ``pool_energy_per_element_J`` per window element (``elements``); an element-wise unit adds
    ``eltwise_elements_per_s`` elements.
    """
    p = model.preset
    el, mem = p.electronics, p.memory
    x = model.n_xpus
    if kind == "add":
        rate = x * el.eltwise_units_per_xpu * el.eltwise_elements_per_s
        energy = elements * el.eltwise_energy_per_element_J
        seconds = elements / rate
        bound = "eltwise"
    else:
        rate = x * el.pool_units_per_xpu * el.pool_outputs_per_s
        energy = elements * el.pool_energy_per_element_J
        seconds = outputs / rate
        bound = "pool"
    d = _zero()
    d["electronic"] = energy
    d["edram"] = (in_bits + out_bits) / mem.edram_access_bits * mem.edram_energy_per_access_J
    return LayerResult(
        name=name,
        kind=kind,
        repeat=0,
        share=None,
        xpu_cycles=0,
        cycle_parts={},
        xpu_s=0.0,
        readout_s=0.0,
        writeback_s=0.0,
        electronic_s=seconds,
        seconds=seconds,
        bound=bound,
        xnors=0,
        readouts=0,
        outputs=outputs,
        utilization=0.0,
        dynamic_J=d,
    )


def evaluate_network(
    accelerator: AcceleratorModel | SystemPreset | str,
    network: Network | str,
    *,
    readout_bound: bool = True,
) -> NetworkResult:
    """One frame of ``network`` on ``accelerator`` (see the module docstring).

    Parameters
    ----------
    accelerator : AcceleratorModel, SystemPreset or str
        A model, a preset, or a shipped preset name / path.
    network : Network or str
        A network, or the name of a built-in one.
    readout_bound : bool
        Bound each layer by its readout unit's conversion rate (default). False is a what-if:
        a readout as fast as the RTL's pipelined ADC.

    Raises
    ------
    UtilizationError
        If a layer would exceed the optical peak.
    ValueError
        :class:`~oxbnn.models.tiling.TilingError` or a workload error, naming the layer.
    """
    model = accelerator_model(accelerator)
    if isinstance(network, str):
        network = get_network(network)
    adds = residual_adds(network)
    mappings = {}
    for job in network.to_layer_specs():
        mappings.setdefault(job.layer.name, []).append(job)
    fused = set()
    for i, layer in enumerate(network.layers):
        jobs = mappings.get(layer.name, [])
        if jobs and jobs[0].spec.pool and i + 1 < len(network.layers):
            fused.add(network.layers[i + 1].name)
    layers: list[LayerResult] = []
    for layer in network.layers:
        where = f"{model.label}, {network.name}, layer {layer.name!r}"
        if layer.is_compute:
            for job in mappings[layer.name]:
                try:
                    layers.append(
                        _compute_layer(layer, job.spec, job.repeat, model, readout_bound, where)
                    )
                except tiling.TilingError as exc:
                    raise tiling.TilingError(f"{where}: {exc}") from exc
        elif layer.name not in fused:
            layers.append(
                _electronic_layer(
                    layer.name,
                    layer.kind,
                    layer.n_outputs * layer.kernel_h * layer.kernel_w,
                    layer.input_bits,
                    layer.output_bits,
                    layer.n_outputs,
                    model,
                )
            )
        if layer.name in adds:
            n_add = adds[layer.name]
            layers.append(
                _electronic_layer(f"{layer.name}+add", "add", n_add, 2 * n_add, n_add, n_add, model)
            )
    dynamic = _zero()
    for result in layers:
        for c in COMPONENTS:
            dynamic[c] += result.dynamic_J[c]
    return NetworkResult(
        accelerator=model.name,
        label=model.label,
        network=network.name,
        clock_hz=model.clock_hz,
        peak_xnor_per_s=model.peak_xnor_per_s,
        layers=tuple(layers),
        static_power_W=model.static_power_W(),
        dynamic_J=dynamic,
        area_m2=model.area_m2(),
        readout_bound=readout_bound,
    )


def evaluate(
    accelerators: Iterable[AcceleratorModel | SystemPreset | str] = ACCELERATORS,
    networks: Iterable[Network | str] = tuple(NETWORKS),
    *,
    readout_bound: bool = True,
    progress: Callable[[int, int, str, str], None] | None = None,
) -> dict[str, dict[str, NetworkResult]]:
    """Every network on every accelerator: ``{accelerator name: {network name: result}}``.

    ``progress(done, total, accelerator label, network name)`` is called before each pair.
    """
    models = [accelerator_model(a) for a in accelerators]
    nets: Sequence[Network] = [get_network(n) if isinstance(n, str) else n for n in networks]
    total = len(models) * len(nets)
    out: dict[str, dict[str, NetworkResult]] = {}
    done = 0
    for model in models:
        row = out.setdefault(model.name, {})
        for net in nets:
            if progress is not None:
                progress(done, total, model.label, net.name)
            row[net.name] = evaluate_network(model, net, readout_bound=readout_bound)
            done += 1
    return out
