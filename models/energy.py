"""Power, energy and area of an accelerator: the terms and the coefficients they use.

Every coefficient comes from the system preset (:mod:`oxbnn.models.system_preset`), each with its
unit and source in the preset file; this module only says how they combine. The evaluation
(:mod:`oxbnn.models.system`) counts the events of a layer (XNORs, busy slots, readouts, outputs,
bits moved) and its time; here they become joules.

Per frame, each component (:data:`COMPONENTS`) costs its static power (:func:`static_power_W`)
times the frame latency plus its dynamic energy (:func:`compute_dynamic_J`,
:func:`electronic_dynamic_J`). Static power grows linearly with the number of units
(docs/reference.md defect 1); nothing is power-gated.

========================  =========================================================================
``laser``                 static: ``X * N * ceil(M / xpes_per_comb)`` lines x power / wall-plug eff.
``ring_tuning``           static: every ring's thermal tuning
``modulation``            static EO bias per ring + ``xnors * driven_junctions * eo_energy_per_use``
``drivers``               ``xnors * driven_junctions * driver_energy_per_bit`` (binary: no DAC)
``serdes``                the S:1 serializer of every driven junction (:mod:`oxbnn.models.serdes`;
                          none at S = 1): ``serialized_bits * energy_per_bit``, the bits being
                          ``driven_junctions * N * M * S`` per issue cycle of each busy XPU
``photodetection``        PD and front end (TIA; none for the PCA): static per PD + per busy slot
                          per PD; plus the PCA reset energy per readout
``readout``               **one conversion per readout** (``outputs * ceil(L / gamma)``), at
                          ``power_W / sample_rate_Sps`` J each, plus one digital add per readout
``vcsel``                 ROBIN: static per XPE + one use per output
``buffers``               SRAM tile buffers: bits written (loaded tiles) and read (per chunk, the
                          words :func:`oxbnn.models.mapping.sram_words_per_chunk` says)
``edram``                 static per unit + accesses of ``access_bits``: tile loads, write-back,
                          pool and residual-add traffic
``electronic``            activation unit (static + one threshold compare per output), pool and
                          element-wise operations
``control``               router, bus and IO per XPU (static)
========================  =========================================================================

Not charged: serializer power in cycles without issue (taken clock-gated, like the ADC), ADC
power while idle (a conversion costs ``power_W / sample_rate_Sps``, nothing else), SRAM
leakage, the conversions of XPEs left idle in a partial group (their lanes are dark; the ADC is
assumed clock-gated), data movement on the on-chip network beyond its static power (a layer's
input is read from each XPU's own eDRAM), the one-time thermal calibration of the
rings (the authors add 4 us per inference), and weight programming before inference.

Area (:data:`AREA_COMPONENTS`, :func:`area_m2`): gates (ring area per XNOR gate), drivers,
serializers (``S - 1`` 2:1 cells per driven junction, none at S = 1), PDs and front ends, readout
units, VCSELs, splitters, eDRAM, pool and activation units, router/bus/IO.
"""

from __future__ import annotations

from . import serdes
from .mapping import AcceleratorModel

__all__ = [
    "AREA_COMPONENTS",
    "COMPONENTS",
    "area_m2",
    "compute_dynamic_J",
    "electronic_dynamic_J",
    "energy_per_readout_J",
    "n_gates",
    "n_laser_lines",
    "static_power_W",
    "zero",
]

#: Energy components of a frame, in report order.
COMPONENTS = (
    "laser",
    "ring_tuning",
    "modulation",
    "drivers",
    "serdes",
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
    "serdes",
    "photodetection",
    "readout",
    "vcsel",
    "splitters",
    "edram",
    "electronic",
    "control",
)


def zero() -> dict[str, float]:
    """Every component at 0 J."""
    return dict.fromkeys(COMPONENTS, 0.0)


def n_gates(model: AcceleratorModel) -> int:
    """XNOR gates of the whole accelerator, ``X * M * N``."""
    return model.n_xpus * model.xpu.n_xpes * model.xpu.n_lanes


def n_laser_lines(model: AcceleratorModel) -> int:
    """Comb lines: ``N`` per ``xpes_per_comb`` XPEs, in every XPU."""
    las = model.preset.laser
    return model.n_xpus * model.xpu.n_lanes * -(-model.xpu.n_xpes // las.xpes_per_comb)


def energy_per_readout_J(model: AcceleratorModel) -> float:
    """Energy of one conversion (J): readout power / sample rate (defect 2: not per ring)."""
    r = model.preset.readout
    return r.power_W / r.sample_rate_Sps


def static_power_W(model: AcceleratorModel) -> dict[str, float]:
    """Static power of every component (W), linear in the unit counts (defect 1)."""
    p = model.preset
    g, rx = p.gate, p.receiver
    x = model.n_xpus
    xpes = x * model.xpu.n_xpes
    rings = n_gates(model) * g.rings_per_gate
    el = p.electronics
    out = zero()
    out["laser"] = (
        n_laser_lines(model) * p.laser.power_per_wavelength_W / p.laser.wall_plug_efficiency
    )
    out["ring_tuning"] = rings * g.thermal_tuning_power_W
    out["modulation"] = rings * g.eo_static_power_W
    out["photodetection"] = xpes * rx.pds_per_xpe * (rx.pd_power_W + rx.frontend_power_W)
    out["vcsel"] = xpes * p.vcsel.units_per_xpe * p.vcsel.power_W
    out["edram"] = x * p.memory.edram_units_per_xpu * p.memory.edram_power_W
    out["electronic"] = x * el.activation_power_W
    out["control"] = x * (el.router_power_W + el.bus_power_W + el.io_power_W)
    return out


def area_m2(model: AcceleratorModel) -> dict[str, float]:
    """Area of every component (m^2)."""
    p = model.preset
    g, rx, el = p.gate, p.receiver, p.electronics
    x = model.n_xpus
    xpes = x * model.xpu.n_xpes
    gates = n_gates(model)
    out = dict.fromkeys(AREA_COMPONENTS, 0.0)
    out["gates"] = gates * g.gate_area_m2
    out["drivers"] = gates * g.driven_junctions_per_gate * g.driver_area_m2
    out["serdes"] = x * serdes.serializers_per_xpu(model) * serdes.serializer(model).area_m2
    frontend = rx.frontend_capacitors * rx.frontend_area_m2  # each capacitor of the rotation
    out["photodetection"] = xpes * rx.pds_per_xpe * (rx.pd_area_m2 + frontend)
    out["readout"] = xpes * p.readout.units_per_xpe * p.readout.area_m2
    out["vcsel"] = xpes * p.vcsel.units_per_xpe * p.vcsel.area_m2
    out["splitters"] = xpes * el.splitter_area_m2
    out["edram"] = x * p.memory.edram_units_per_xpu * p.memory.edram_area_m2
    out["electronic"] = x * (el.pool_units_per_xpu * el.pool_area_m2 + el.activation_area_m2)
    out["control"] = x * (el.router_area_m2 + el.bus_area_m2 + el.io_area_m2)
    return out


def compute_dynamic_J(
    model: AcceleratorModel,
    *,
    xnors: int,
    slots: int,
    readouts: int,
    outputs: int,
    loaded_bits: int,
    read_bits: int,
    written_bits: int,
    serialized_bits: int,
) -> dict[str, float]:
    """Dynamic energy of a compute layer from its event counts.

    Parameters
    ----------
    xnors : int
        XNORs computed (lanes x slots, padding lanes included).
    slots : int
        Busy slots of the XPEs' photodetectors (one per chunk of every vector).
    readouts : int
        Readouts (one conversion, or popcount, each).
    outputs : int
        Output values (after pooling).
    loaded_bits, read_bits, written_bits : int
        Bits loaded into the tile buffers (from the eDRAM), read from them, and written back to
        the eDRAM.
    serialized_bits : int
        Bits shifted by the serializers (:func:`oxbnn.models.serdes.serialized_bits`; 0 at
        S = 1).
    """
    p = model.preset
    g, rx, ro, mem = p.gate, p.receiver, p.readout, p.memory
    d = zero()
    d["modulation"] = xnors * g.driven_junctions_per_gate * g.eo_energy_per_use_J
    d["drivers"] = xnors * g.driven_junctions_per_gate * g.driver_energy_per_bit_J
    d["serdes"] = serialized_bits * serdes.serializer(model).energy_per_bit_J
    d["photodetection"] = (
        slots * rx.pds_per_xpe * (rx.pd_energy_per_slot_J + rx.frontend_energy_per_slot_J)
        + readouts * rx.reset_energy_per_readout_J
    )
    d["readout"] = readouts * (energy_per_readout_J(model) + ro.accumulate_energy_per_readout_J)
    if p.vcsel.units_per_xpe:
        d["vcsel"] = outputs * p.vcsel.energy_per_output_J
    d["buffers"] = (loaded_bits + read_bits) * mem.sram_energy_per_bit_J
    d["edram"] = (
        (loaded_bits + written_bits) / mem.edram_access_bits * mem.edram_energy_per_access_J
    )
    d["electronic"] = outputs * p.electronics.activation_energy_per_output_J
    return d


def electronic_dynamic_J(
    model: AcceleratorModel, kind: str, elements: int, in_bits: int, out_bits: int
) -> dict[str, float]:
    """Dynamic energy of a pool (per window element) or a residual add (``kind == "add"``, per
    element), and of its eDRAM traffic (``in_bits`` read, ``out_bits`` written)."""
    el, mem = model.preset.electronics, model.preset.memory
    d = zero()
    if kind == "add":
        d["electronic"] = elements * el.eltwise_energy_per_element_J
    else:
        d["electronic"] = elements * el.pool_energy_per_element_J
    d["edram"] = (in_bits + out_bits) / mem.edram_access_bits * mem.edram_energy_per_access_J
    return d
