"""OXG: the optical XNOR gate, an add-drop microring resonator with two embedded PN junctions.

Physics (Bogaerts et al., "Silicon microring resonators", Laser Photonics Rev. 6, 47 (2012),
eqs. 5-6): a ring of circumference ``L`` with single-pass amplitude transmission ``a`` and
self-coupling coefficients ``r1`` (bus side) and ``r2`` (drop side) has, at round-trip phase
``theta`` away from resonance,

    T_through = (r2^2 a^2 - 2 r1 r2 a cos(theta) + r1^2) / (1 - 2 r1 r2 a cos(theta) + (r1 r2 a)^2)
    T_drop    = (1 - r1^2)(1 - r2^2) a / (1 - 2 r1 r2 a cos(theta) + (r1 r2 a)^2)

with ``theta = 2 pi (lambda - lambda_res) / FSR`` and ``FSR = lambda^2 / (n_g L)``.

Each PN junction driven with a '1' shifts the resonance by the same ``shift_per_junction_m``
(Δλ). The laser line of the gate is parked one shift above the undriven resonance, so the number
of driven junctions ``s = a + w`` (0, 1 or 2) leaves the resonance Δλ below the line (bright),
on the line (light dropped: dark), or Δλ above it (bright). The through port carries
XNOR(a, w); nothing here is a lookup table: the levels and the extinction ratio follow from
the transmission above.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..configs import RingParams

__all__ = ["Oxg", "drive_state", "xnor_from_states"]


def drive_state(act: np.ndarray, wgt: np.ndarray) -> np.ndarray:
    """Number of driven junctions per gate, ``a + w`` in {0, 1, 2} (uint8)."""
    return np.asarray(act, dtype=np.uint8) + np.asarray(wgt, dtype=np.uint8)


def xnor_from_states(states: np.ndarray) -> np.ndarray:
    """The logical value a bright through port stands for: 1 where ``s`` is 0 or 2."""
    return (np.asarray(states) != 1).astype(np.uint8)


@dataclass(frozen=True)
class Oxg:
    """Transmission of one OXG, from its ring parameters.

    Parameters
    ----------
    ring : RingParams
        Geometry, index, loss, couplings and junction shift (SI units).
    wavelength_m : float
        Wavelength at which the FSR is evaluated (the comb centre), in m.
    """

    ring: RingParams
    wavelength_m: float

    @property
    def circumference_m(self) -> float:
        """Ring circumference ``2 pi R`` in m."""
        return 2.0 * math.pi * self.ring.radius_m

    @property
    def a(self) -> float:
        """Single-pass amplitude transmission (1 = lossless)."""
        loss_dB = self.ring.loss_dB_per_cm * self.circumference_m * 100.0
        return 10.0 ** (-loss_dB / 20.0)

    @property
    def r1(self) -> float:
        """Bus-side self-coupling (amplitude)."""
        return math.sqrt(1.0 - self.ring.power_coupling_in)

    @property
    def r2(self) -> float:
        """Drop-side self-coupling (amplitude)."""
        return math.sqrt(1.0 - self.ring.power_coupling_drop)

    @property
    def fsr_m(self) -> float:
        """Free spectral range in m: ``lambda^2 / (n_g L)``."""
        return self.wavelength_m**2 / (self.ring.group_index * self.circumference_m)

    @property
    def fwhm_m(self) -> float:
        """Full width at half maximum of the resonance, in m (Bogaerts eq. 9)."""
        x = self.r1 * self.r2 * self.a
        return (
            (1.0 - x)
            * self.wavelength_m**2
            / (math.pi * self.ring.group_index * self.circumference_m * math.sqrt(x))
        )

    @property
    def loaded_q(self) -> float:
        """Loaded quality factor ``lambda / FWHM``."""
        return self.wavelength_m / self.fwhm_m

    @property
    def optical_bandwidth_hz(self) -> float:
        """Photon-lifetime-limited bandwidth ``c / (lambda Q)`` in Hz."""
        return 299_792_458.0 / (self.wavelength_m * self.loaded_q)

    @property
    def shift_m(self) -> float:
        """Δλ, resonance shift per driven junction, in m."""
        return self.ring.shift_per_junction_m

    def through(self, detuning_m: np.ndarray | float) -> np.ndarray:
        """Through-port power transmission at ``lambda - lambda_res = detuning_m``."""
        theta = 2.0 * np.pi * np.asarray(detuning_m, dtype=float) / self.fsr_m
        r1, r2, a = self.r1, self.r2, self.a
        c = np.cos(theta)
        return (r2 * r2 * a * a - 2 * r1 * r2 * a * c + r1 * r1) / (
            1 - 2 * r1 * r2 * a * c + (r1 * r2 * a) ** 2
        )

    def drop(self, detuning_m: np.ndarray | float) -> np.ndarray:
        """Drop-port power transmission at ``lambda - lambda_res = detuning_m``."""
        theta = 2.0 * np.pi * np.asarray(detuning_m, dtype=float) / self.fsr_m
        r1, r2, a = self.r1, self.r2, self.a
        c = np.cos(theta)
        return (1 - r1 * r1) * (1 - r2 * r2) * a / (1 - 2 * r1 * r2 * a * c + (r1 * r2 * a) ** 2)

    def detuning_at_line(self, states: np.ndarray | int) -> np.ndarray:
        """``lambda_line - lambda_res`` for ``s`` driven junctions: the line sits at rest + Δλ."""
        return (1 - np.asarray(states, dtype=float)) * self.shift_m

    def state_transmission(self) -> np.ndarray:
        """Through-port transmission at the gate's own laser line for s = 0, 1, 2."""
        return self.through(self.detuning_at_line(np.arange(3)))

    @property
    def extinction_ratio_dB(self) -> float:
        """Bright ('1') over dark ('0') through-port power at the laser line, in dB.

        The weaker of the two bright states (s = 0 and s = 2) is used.
        """
        t = self.state_transmission()
        return 10.0 * math.log10(min(t[0], t[2]) / t[1])

    @property
    def insertion_loss_dB(self) -> float:
        """Loss of a bright state at the laser line (own ring only), in dB."""
        t = self.state_transmission()
        return -10.0 * math.log10(min(t[0], t[2]))
