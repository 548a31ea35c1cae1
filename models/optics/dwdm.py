"""DWDM link of one XPE: N OXGs on one bus waveguide, their comb lines, losses and crosstalk.

The comb's N lines fill one FSR of the rings (spacing ``FSR / N`` unless given). Ring ``j`` rests
one shift Δλ below its line. Every line passes every ring on the bus before the photodetector, so
the power lane ``i`` delivers is

    P_i = P_in * prod_j T_j(lambda_i - lambda_res_j - s_j Δλ) * 10^(-N * through_loss / 10)

where ``s_j`` is ring ``j``'s drive state. The factors ``j != i`` are the inter-lane crosstalk:
they depend on what the neighbours are driven with (the Airy function is periodic, so rings one
FSR away are included too). ``P_in`` is the laser line after the chip coupler, the 1:M splitter
and the bus propagation loss.

The link budget asks, for each N, whether the worst-case eye of a lane (its '1' level with every
neighbour in the state that hurts most, against its '0' level with every neighbour in the state
that helps it most) still exceeds the photodetector's sensitivity at the bit rate, after the
system margin. The largest N that does is the lane count N.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ..configs import Preset, PresetError
from .oxg import Oxg

__all__ = ["DwdmLink", "LinkBudget", "sensitivity_W", "link_budget", "max_lanes"]

#: Row ``s`` is the one-hot code of drive state ``s`` (0, 1, 2).
_ONE_HOT = np.eye(3)


def sensitivity_W(preset: Preset, bit_rate_bps: float | None = None) -> float:
    """Least optical '1'-'0' power per lane at the photodetector, in W, at a bit rate.

    The receiver's noise bandwidth grows with the bit rate, so its sensitivity worsens as
    ``(B / B_ref) ** slope`` from the reference point in the preset.
    """
    rx = preset.receiver
    b = preset.architecture.bit_rate_bps if bit_rate_bps is None else bit_rate_bps
    return rx.sensitivity_ref_W * (b / rx.sensitivity_ref_bit_rate_bps) ** rx.sensitivity_slope


def _db(x: float) -> float:
    return 10.0 * math.log10(x)


@dataclass(frozen=True)
class DwdmLink:
    """One XPE's bus: ``n_lanes`` OXGs, their laser lines and the losses before the PD.

    Parameters
    ----------
    preset : Preset
        Physical parameters (laser, ring, link, architecture).
    n_lanes : int
        N, gates (wavelengths) on the bus.
    spacing_m : float, optional
        Channel spacing in m; ``FSR / N`` when not given.
    """

    preset: Preset
    n_lanes: int
    spacing_m: float | None = None

    def __post_init__(self) -> None:
        if isinstance(self.n_lanes, bool) or not isinstance(self.n_lanes, int) or self.n_lanes < 1:
            raise PresetError(f"n_lanes must be a positive integer, not {self.n_lanes!r}")
        if self.spacing_m is not None and not (self.spacing_m > 0):
            raise PresetError(f"spacing_m must be positive (m), not {self.spacing_m!r}")

    # ---------------------------------------------------------------- geometry
    @cached_property
    def oxg(self) -> Oxg:
        """The gate model shared by every ring on the bus."""
        return Oxg(self.preset.ring, self.preset.laser.center_wavelength_m)

    @property
    def channel_spacing_m(self) -> float:
        """Spacing of the comb lines, in m."""
        return self.oxg.fsr_m / self.n_lanes if self.spacing_m is None else self.spacing_m

    @cached_property
    def line_wavelengths_m(self) -> np.ndarray:
        """Laser line of each lane, in m, centred on the preset's centre wavelength."""
        n = self.n_lanes
        offsets = (np.arange(n) - (n - 1) / 2.0) * self.channel_spacing_m
        return self.preset.laser.center_wavelength_m + offsets

    @property
    def bus_length_m(self) -> float:
        """Waveguide length the light travels on chip: routing plus the ring array, in m."""
        return self.preset.link.routing_length_m + self.n_lanes * self.preset.ring.pitch_m

    # ---------------------------------------------------------------- losses
    def loss_breakdown_dB(self) -> dict[str, float]:
        """Every insertion loss between the laser and the PD, in dB (bright own ring excluded)."""
        lk, m = self.preset.link, self.preset.architecture.n_xpes
        return {
            "coupler_dB": lk.coupler_loss_dB,
            "splitter_1_to_M_dB": _db(m) + lk.splitter_excess_loss_dB,
            "propagation_dB": lk.propagation_loss_dB_per_cm * self.bus_length_m * 100.0,
            "ring_through_dB": self.n_lanes * self.preset.ring.through_loss_dB,
        }

    @property
    def input_power_W(self) -> float:
        """Power of one line entering the ring array, after coupler, splitter and bus, in W."""
        b = self.loss_breakdown_dB()
        loss = b["coupler_dB"] + b["splitter_1_to_M_dB"] + b["propagation_dB"]
        return self.preset.laser.power_per_wavelength_W * 10.0 ** (-loss / 10.0)

    @property
    def _through_excess(self) -> float:
        return 10.0 ** (-self.n_lanes * self.preset.ring.through_loss_dB / 10.0)

    # ---------------------------------------------------------------- transmission
    @cached_property
    def transmission_table(self) -> np.ndarray:
        """``T[j, i, s]``: ring ``j`` in state ``s`` at lane ``i``'s line (Airy only)."""
        lines = self.line_wavelengths_m
        rest = lines - self.oxg.shift_m
        s = np.arange(3)
        detuning = lines[None, :, None] - rest[:, None, None] - s[None, None, :] * self.oxg.shift_m
        return self.oxg.through(detuning)

    @cached_property
    def _log_table(self) -> np.ndarray:
        # (3N, N): row 3*j + s holds log T_j(lane i; s), so a one-hot of the states times this
        # matrix sums every ring's effect on every lane in one matrix product.
        n = self.n_lanes
        return np.log(self.transmission_table).transpose(0, 2, 1).reshape(3 * n, n)

    def lane_powers_W(
        self, states: np.ndarray, *, crosstalk: bool = True, power_scale: float | np.ndarray = 1.0
    ) -> np.ndarray:
        """Power each lane delivers to the photodetector, in W.

        Parameters
        ----------
        states : array (..., N) of {0, 1, 2}
            Drive state ``a + w`` of every gate.
        crosstalk : bool
            Include the other rings' transmission at each line (state-dependent crosstalk);
            when False only the lane's own ring and the fixed through losses act.
        power_scale : float or array broadcastable to (..., N)
            Multiplies the laser power (e.g. laser relative-intensity noise).
        """
        states = np.asarray(states)
        n = self.n_lanes
        if states.shape[-1:] != (n,):
            raise ValueError(f"states has shape {states.shape}; expected (..., {n})")
        base = self.input_power_W * self._through_excess
        if crosstalk:
            onehot = _ONE_HOT[states.astype(np.intp)]  # (..., N, 3): row s of the identity
            logp = onehot.reshape(states.shape[:-1] + (3 * n,)) @ self._log_table
            p = base * np.exp(logp)
        else:
            own = self.oxg.state_transmission()
            p = base * own[states.astype(np.intp)]
        return p * power_scale

    # ---------------------------------------------------------------- levels and crosstalk
    def isolated_levels_W(self) -> tuple[float, float]:
        """('1', '0') power of a lane with no neighbours (only its own ring), in W."""
        t = self.oxg.state_transmission()
        base = self.input_power_W * self._through_excess
        return base * min(t[0], t[2]), base * t[1]

    def mean_levels_W(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-lane ('1', '0') power averaged over neighbour states, in W.

        Neighbours are taken as independent and uniformly random data bits, so ``s`` is 0, 1, 2
        with probability 1/4, 1/2, 1/4; the bright level averages s = 0 and s = 2 equally.
        This is what a receiver calibrated on random traffic expects.
        """
        t = self.transmission_table
        n = self.n_lanes
        w = np.array([0.25, 0.5, 0.25])
        mean_neigh = t @ w  # (j, i)
        idx = np.arange(n)
        logm = np.log(mean_neigh)
        others = logm.sum(axis=0) - logm[idx, idx]
        base = self.input_power_W * self._through_excess * np.exp(others)
        own = t[idx, idx, :]
        return base * 0.5 * (own[:, 0] + own[:, 2]), base * own[:, 1]

    def worst_case_levels_W(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-lane worst ('1', '0') levels over all neighbour states, in W."""
        t = self.transmission_table
        n = self.n_lanes
        idx = np.arange(n)
        lmin = np.log(t.min(axis=2))
        lmax = np.log(t.max(axis=2))
        others_min = lmin.sum(axis=0) - lmin[idx, idx]
        others_max = lmax.sum(axis=0) - lmax[idx, idx]
        base = self.input_power_W * self._through_excess
        own = t[idx, idx, :]
        one = base * np.minimum(own[:, 0], own[:, 2]) * np.exp(others_min)
        zero = base * own[:, 1] * np.exp(others_max)
        return one, zero

    @property
    def crosstalk_penalty_dB(self) -> float:
        """Eye closure of the worst lane caused by neighbouring rings, in dB (inf if closed)."""
        one_i, zero_i = self.isolated_levels_W()
        one_w, zero_w = self.worst_case_levels_W()
        eye = np.min(one_w - zero_w)
        if eye <= 0:
            return math.inf
        return _db((one_i - zero_i) / eye)


@dataclass(frozen=True)
class LinkBudget:
    """The link budget of one XPE at ``n_lanes`` lanes; powers in W, ratios in dB."""

    n_lanes: int
    channel_spacing_m: float
    input_power_W: float
    eye_power_W: float
    crosstalk_penalty_dB: float
    sensitivity_W: float
    penalty_margin_dB: float
    margin_dB: float

    @property
    def closes(self) -> bool:
        """True when the budget is met (margin >= 0 dB)."""
        return self.margin_dB >= 0.0


def link_budget(preset: Preset, n_lanes: int, spacing_m: float | None = None) -> LinkBudget:
    """Budget of one XPE's bus at ``n_lanes`` lanes."""
    link = DwdmLink(preset, n_lanes, spacing_m)
    one, zero = link.isolated_levels_W()
    penalty = link.crosstalk_penalty_dB
    sens = sensitivity_W(preset)
    margin_keep = preset.link.penalty_margin_dB
    margin = _db(one - zero) - penalty - _db(sens) - margin_keep if one > zero else -math.inf
    return LinkBudget(
        n_lanes,
        link.channel_spacing_m,
        link.input_power_W,
        one - zero,
        penalty,
        sens,
        margin_keep,
        margin,
    )


def max_lanes(preset: Preset) -> tuple[int, list[LinkBudget]]:
    """Largest N whose link budget closes, and the budget of every N tried (1 .. max_lanes).

    Raises :class:`PresetError` if not even one lane closes the budget.
    """
    budgets = [link_budget(preset, n) for n in range(1, preset.architecture.max_lanes + 1)]
    ok = [b.n_lanes for b in budgets if b.closes]
    if not ok:
        raise PresetError(
            f"{preset.path}: the link budget does not close even for one lane "
            f"(margin {budgets[0].margin_dB:.1f} dB at N = 1); raise "
            f"[laser] power_per_wavelength_W or lower the losses"
        )
    return max(ok), budgets
