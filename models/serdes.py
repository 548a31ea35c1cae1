"""Serializers (SerDes) between the S-slot optical port and the junction drivers.

A cycle of the digital back end carries S slots per lane (``XpuParams.symbols_per_cycle``,
docs/design.md §3): the optical port is the *parallel* side, S bits per driven junction per cycle
at the digital clock ``bit_rate / S``; each junction's driver needs the *serial* side, one bit per
slot at the bit rate. Between the two sits **one S:1 serializer per driven junction** (an OXG has
two: activation and weight, ``[gate] driven_junctions_per_gate``), so an accelerator has
``X * M * N * driven_junctions`` of them (:func:`serializers_per_xpu` times X). Full derivation and
sources: docs/serdes.md.

**S = 1 has no serializer.** The digital clock then runs at the slot rate (the labelled S = 1
idealisation): the port bit is the junction's bit, and the serializers cost no energy, no area
and no latency. This module is the one place that says so (:attr:`Serializer.present`).

Architecture (stated, not measured)
-----------------------------------
A tree of 2:1 cells (:attr:`Serializer.stages` = ``ceil(log2 S)`` levels, S - 1 cells: any binary
tree with S leaves has S - 1 inner nodes). A cell is two flip-flops (one per input; the second
input is retimed by half a period) and a 2:1 multiplexer; the cells of level ``j`` (``j = 1`` at
the parallel side) run at ``2^(j-1)`` times the digital clock, the last one at half the bit rate
(a half-rate final stage).

* **Latency** (:attr:`Serializer.latency_cycles`): a bit waits one period of the clock of every
  level it passes, ``1 + 1/2 + ... + 2^(1-L)`` cycles of the digital clock for L levels (less
  than 2), rounded up to whole cycles: 1 cycle for S = 2, 2 cycles for every S >= 3. Slot ``s`` of
  a cycle then leaves ``s`` slots after slot 0 (the slot order of docs/design.md §3, not latency).
  The latency delays the slots of every lane, and with them the PCA's strobes, by the same amount:
  it lengthens the path from the port to the ADC code, not the issue rate, and
  :func:`oxbnn.models.derive.xpu_params` adds it to the ADC latency the RTL is built with.
* **Energy** (:attr:`Serializer.energy_per_bit_J`): ``[serdes] energy_per_bit_J`` of the system
  preset for every serialized bit, whatever S (a measured serializer gives one figure at its own
  ratio; the fast levels near the output dominate it). **Serialized bits**
  (:func:`serialized_bits`): every serializer of an XPU is clocked in every issue cycle of that
  XPU (the cycles in which its port carries slots,
  :attr:`oxbnn.models.timing.CycleBreakdown.compute`) and shifts S bits each, dark lanes, dark
  slots past a vector's end and the idle XPEs of a partial group included (they drive the dark
  value); it is clock-gated in every other cycle, so it has no static power (the ADC of an idle
  XPE is taken clock-gated alike: :mod:`oxbnn.models.energy`).
  ``bits = driven_junctions * N * M * S * (issue cycles of the XPU)``, summed over the XPUs.
* **Area** (:attr:`Serializer.area_m2`): ``S - 1`` cells of ``[serdes] cell_area_m2`` each.

The coefficients live in the system preset's ``[serdes]`` section (value, unit, source; schema
:class:`oxbnn.models.system_preset.SystemSerdes`), given at the CMOS node ``[serdes] node_nm``,
which the loader holds equal to the accelerator's ``[architecture] target_node_nm``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the system model imports the XPU derivation, which imports this module
    from .mapping import AcceleratorModel

__all__ = ["Serializer", "serialized_bits", "serializer", "serializers_per_xpu"]


@dataclass(frozen=True)
class Serializer:
    """The S:1 serializer of one driven junction (see the module docstring).

    Parameters
    ----------
    symbols_per_cycle : int
        S, slots per lane per cycle: the serialization ratio.
    energy_per_bit_coefficient_J : float
        ``[serdes] energy_per_bit_J``: energy per serialized bit when a serializer is present.
    cell_area_coefficient_m2 : float
        ``[serdes] cell_area_m2``: area of one 2:1 cell of the tree.
    """

    symbols_per_cycle: int
    energy_per_bit_coefficient_J: float
    cell_area_coefficient_m2: float

    def __post_init__(self) -> None:
        s = self.symbols_per_cycle
        if isinstance(s, bool) or not isinstance(s, int) or s < 1:
            raise ValueError(f"symbols_per_cycle must be a positive integer, not {s!r}")

    @property
    def present(self) -> bool:
        """True when S > 1; S = 1 (the idealisation, clock = slot rate) has no serializer."""
        return self.symbols_per_cycle > 1

    @property
    def stages(self) -> int:
        """Levels of 2:1 cells, ``ceil(log2 S)``; 0 at S = 1."""
        return (self.symbols_per_cycle - 1).bit_length()

    @property
    def cells(self) -> int:
        """2:1 cells of the tree, ``S - 1``; 0 at S = 1."""
        return self.symbols_per_cycle - 1

    @property
    def latency_cycles(self) -> int:
        """Cycles of the digital clock from the port to the junction: ``ceil(sum 2^(1-j))``.

        The sum over the L levels is ``(2^L - 1) / 2^(L-1)``: 0 levels 0, one level 1, more
        levels between 1.5 and 2, so 0 at S = 1, 1 at S = 2 and 2 for every S >= 3.
        """
        levels = self.stages
        if levels == 0:
            return 0
        return -(-((1 << levels) - 1) // (1 << (levels - 1)))

    @property
    def energy_per_bit_J(self) -> float:
        """Energy per serialized bit (J); 0 at S = 1."""
        return self.energy_per_bit_coefficient_J if self.present else 0.0

    @property
    def area_m2(self) -> float:
        """Area of one serializer (m^2): ``S - 1`` cells; 0 at S = 1."""
        return self.cells * self.cell_area_coefficient_m2


def serializer(model: AcceleratorModel) -> Serializer:
    """The serializer of one driven junction of ``model``: its preset's ``[serdes]`` at its S."""
    sd = model.preset.serdes
    return Serializer(model.xpu.symbols_per_cycle, sd.energy_per_bit_J, sd.cell_area_m2)


def serializers_per_xpu(model: AcceleratorModel) -> int:
    """Serializers of one XPU: ``M * N * driven_junctions_per_gate``, or 0 at S = 1."""
    if not serializer(model).present:
        return 0
    return model.xpu.n_xpes * model.xpu.n_lanes * model.preset.gate.driven_junctions_per_gate


def serialized_bits(model: AcceleratorModel, xpu_issue_cycles: int) -> int:
    """Bits the serializers shift in ``xpu_issue_cycles`` issue cycles (summed over the XPUs).

    Each serializer of a busy XPU shifts S bits per issue cycle: ``serializers_per_xpu * S *
    xpu_issue_cycles`` (0 at S = 1).
    """
    return serializers_per_xpu(model) * model.xpu.symbols_per_cycle * xpu_issue_cycles
