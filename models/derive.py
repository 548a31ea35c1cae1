"""Figures derived from a preset's physics: lane count N, gamma, and the XPU parameters.

N comes from the link budget (:func:`oxbnn.models.optics.max_lanes`), gamma from the PCA's
capacity at that N (:attr:`oxbnn.models.optics.Pca.gamma`). Both are derived, never written in a
preset, so changing a physical coefficient changes them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from .configs import Preset, PresetError, XpuParams, load_preset
from .optics import DwdmLink, Effects, Pca, max_lanes, sensitivity_W
from .serdes import Serializer

__all__ = ["OpticsDerivation", "derive_optics", "reset_dead_slots", "xpu_params"]


@dataclass(frozen=True)
class OpticsDerivation:
    """The link and PCA of one preset at its derived channel count."""

    preset: Preset
    n_lanes: int
    link: DwdmLink
    pca: Pca

    @property
    def gamma(self) -> int:
        return self.pca.gamma

    def summary(self) -> dict[str, Any]:
        """Every derived figure, with units in the key names."""
        oxg = self.link.oxg
        one, zero = self.link.isolated_levels_W()
        budget_margin = (
            10 * math.log10(one - zero)
            - self.link.crosstalk_penalty_dB
            - 10 * math.log10(sensitivity_W(self.preset))
            - self.preset.link.penalty_margin_dB
        )
        return {
            "preset": self.preset.name,
            "bit_rate_bps": self.preset.architecture.bit_rate_bps,
            "n_lanes": self.n_lanes,
            "n_xpes": self.preset.architecture.n_xpes,
            "n_xpus": self.preset.architecture.n_xpus,
            "gamma": self.gamma,
            "adc_bits": self.preset.pca.adc_bits,
            "extinction_ratio_dB": oxg.extinction_ratio_dB,
            "insertion_loss_dB": oxg.insertion_loss_dB,
            "crosstalk_penalty_dB": self.link.crosstalk_penalty_dB,
            "channel_spacing_nm": self.link.channel_spacing_m * 1e9,
            "fsr_nm": oxg.fsr_m * 1e9,
            "fwhm_nm": oxg.fwhm_m * 1e9,
            "loaded_q": oxg.loaded_q,
            "ring_bandwidth_GHz": oxg.optical_bandwidth_hz / 1e9,
            "shift_per_junction_nm": oxg.shift_m * 1e9,
            "laser_power_per_wavelength_dBm": 10
            * math.log10(self.preset.laser.power_per_wavelength_W * 1e3),
            "ring_input_power_dBm": 10 * math.log10(self.link.input_power_W * 1e3),
            "one_level_dBm": 10 * math.log10(one * 1e3),
            "zero_level_dBm": 10 * math.log10(zero * 1e3),
            "sensitivity_dBm": 10 * math.log10(sensitivity_W(self.preset) * 1e3),
            "link_margin_dB": budget_margin,
            "pca_capacity_counts": self.pca.capacity_counts,
            "count_charge_fC": self.pca.count_charge_C * 1e15,
            "lsb_mV": self.pca.lsb_V * 1e3,
            "capacitance_fF": self.preset.pca.capacitance_F * 1e15,
            # XpuParams.clock_hz's formula (bit rate / S), written here because the optics
            # summary must also work for a preset whose gamma builds no XPU (gamma < 1).
            "clock_hz": self.preset.architecture.bit_rate_bps
            / self.preset.architecture.symbols_per_cycle,
        }


def derive_optics(
    preset: Preset | str, effects: Effects | None = None, rng: Any = None
) -> OpticsDerivation:
    """Link budget -> N, then the PCA at N (calibrated for ``effects``, ideal by default)."""
    if isinstance(preset, str):
        preset = load_preset(preset)
    n, _ = max_lanes(preset)
    link = DwdmLink(preset, n)
    return OpticsDerivation(
        preset,
        n,
        link,
        Pca(link, effects or Effects.physical(), rng=rng if rng is not None else _NoRng()),
    )


class _NoRng:
    """Stands in for a Generator when only constants (not draws) of a noisy Pca are used."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError("this Pca was built for its constants only; pass a Generator to draw")


def adc_cycles(preset: Preset) -> tuple[int, int]:
    """The ADC's latency and conversion time in cycles of the preset's clock (bit rate / S).

    **Latency** (port cycle of a sample -> cycle its code is on ``adc_code``): the serializer's
    latency (:attr:`oxbnn.models.serdes.Serializer.latency_cycles`; the port's slots reach the
    junctions that many cycles later), plus 1 (the sampled slot ends at the latest at the end of
    that serialized cycle, slot S - 1), plus ``[pca] adc_latency_s`` at the clock, rounded up to
    whole cycles (the code is taken at the next clock edge). **Conversion**: a channel that starts
    a conversion in cycle t can start the next in ``t + ceil(clock / [pca]
    adc_sample_rate_Sps)``, at least 1 (a channel faster than the clock still takes one sample
    per cycle). Both are rounded up; a rounding never makes the hardware faster than its parts.
    """
    a, pca = preset.architecture, preset.pca
    clock = a.bit_rate_bps / a.symbols_per_cycle
    serial = Serializer(a.symbols_per_cycle, 0.0, 0.0).latency_cycles
    latency = serial + 1 + math.ceil(pca.adc_latency_s * clock * (1 - 1e-12))
    conversion = max(1, math.ceil(clock / pca.adc_sample_rate_Sps * (1 - 1e-12)))
    return latency, conversion


def reset_dead_slots(preset: Preset) -> int:
    """R, the slots a PCA capacitor needs after its sample to discharge to within half an LSB.

    The reset switch (on-resistance ``[pca] reset_switch_ohm`` = R_on) discharges the capacitor
    ``C`` (``[pca] capacitance_F``) from at most full scale; an RC discharge falls from full scale
    to half an LSB, ``2^-(adc_bits + 1)`` of it, in ``t_settle = R_on C ln(2^(adc_bits + 1))``,
    so ``R = ceil(t_settle * bit_rate)`` slots (rounded up: never faster than the parts). A
    first-order estimate: the switch is taken as a linear resistor over the whole discharge; it
    starts saturated at full swing, where it carries less than V / R_on (optimistic there), but
    the tail, which decides the half LSB, is in its linear region (docs/design.md §2).
    Example: 10 Ohm, 1 pF, 9 bits, 50 Gb/s: ``ceil(6.93e-11 s * 5e10 /s) = 4``.
    """
    pca = preset.pca
    t_settle = pca.reset_switch_ohm * pca.capacitance_F * math.log(2.0 ** (pca.adc_bits + 1))
    return math.ceil(t_settle * preset.architecture.bit_rate_bps * (1 - 1e-12))


def _compute_xpu_params(preset: Preset) -> XpuParams:
    d = derive_optics(preset)
    a = preset.architecture
    gamma = d.gamma
    if gamma < 1:
        raise PresetError(
            f"{preset.path}: the PCA holds {d.pca.capacity_counts} counts, fewer "
            f"than one slot of N = {d.n_lanes}; raise [pca] capacitance_F or "
            f"voltage_swing_V"
        )
    if (1 << preset.pca.adc_bits) - 1 < gamma * d.n_lanes:
        raise PresetError(
            f"{preset.path}: [pca] adc_bits = {preset.pca.adc_bits} cannot hold "
            f"gamma * N = {gamma * d.n_lanes} counts"
        )
    adc_latency, conversion = adc_cycles(preset)
    try:
        return XpuParams(
            n_lanes=d.n_lanes,
            n_xpes=a.n_xpes,
            gamma=gamma,
            adc_bits=preset.pca.adc_bits,
            adc_latency=adc_latency,
            adc_conversion_cycles=conversion,
            adc_banks=a.adc_banks,
            reset_dead_slots=reset_dead_slots(preset),
            pca_capacitors=preset.pca.capacitors,
            symbols_per_cycle=a.symbols_per_cycle,
            act_buffer_depth=a.act_buffer_depth_words,
            wgt_buffer_depth=a.wgt_buffer_depth_words,
            bit_rate_bps=a.bit_rate_bps,
            name=preset.name,
        )
    except PresetError as exc:  # XpuParams does not know the file: name it here
        section = "[pca]" if "reset_dead_slots" in str(exc) else "[architecture]"
        raise PresetError(f"{preset.path}: {section} {exc}") from None


@lru_cache(maxsize=64)
def _cached_xpu_params(preset: Preset) -> XpuParams:
    """:func:`_compute_xpu_params`, once per distinct preset (a frozen, hashable dataclass).

    :func:`oxbnn.models.configs.load_preset_file` derives every preset it loads (its checks
    are the derivation's), so the command that then asks for the XPU finds it here.
    """
    try:
        with np.errstate(divide="raise", over="raise", invalid="raise"):
            return _compute_xpu_params(preset)
    except (ArithmeticError, FloatingPointError) as exc:  # values in range, physics out of it
        raise PresetError(
            f"{preset.path}: the optics cannot be derived from these coefficients ({exc})"
        ) from None


def xpu_params(preset: Preset | str) -> XpuParams:
    """The XPU parameters of a preset (name, path or loaded Preset), with N and gamma derived."""
    if isinstance(preset, Preset):
        return _cached_xpu_params(preset)
    return _cached_xpu_params(load_preset(preset))
