"""PCA: the photo-charge accumulator of an XPE, with its photodetector and ADC.

All lanes of an XPE reach one photodetector (responsivity ``R``, dark current ``I_d``). During a
bit slot of ``T = 1 / bit_rate`` the photocurrent deposits ``Q = (R * sum_i P_i + I_d) * T`` on a
capacitor ``C`` that is not reset between slots, so its voltage tracks the running popcount. An
ADC samples it at the end of a readout and the capacitor is reset.

Calibration. The ADC is calibrated once for the link as built: one LSB is the mean charge
difference between a '1' and a '0' lane (averaged over lanes and over random neighbour states,
see :meth:`DwdmLink.mean_levels_W`), and the offset of the '0' light and the dark current over the
integrated slots is subtracted (the controller knows how many slots it integrated). The reference
tracks the laser's operating power, as a receiver with a monitor photodiode does, so a weaker
laser does not shift codes systematically: it lowers the signal against the noise. In ideal mode a
'1' lane deposits exactly one LSB and a '0' lane nothing, so the code equals the popcount.

Capacity. The capacitor is linear up to ``voltage_swing_V``; the capacity in counts is the swing
over the charge of one '1' lane (plus its share of dark charge), and gamma, the most slots between
resets, is ``floor(capacity / N)`` (a slot can carry N ones).

Effects (each switchable, all driven by one seeded ``numpy.random.Generator``), Gaussian
approximations so that a fixed seed gives the same standard-normal draws whatever the power:

* ``shot_noise``: variance ``q * Q`` per slot (Poisson statistics of the photo-electrons);
* ``reset_noise``: kT/C noise, variance ``k T / C`` on the voltage after each reset;
* ``rin``: laser relative intensity noise, each lane's power varies by ``RIN * B / 2`` (relative
  variance, the noise bandwidth of integrating over one slot);
* ``leakage``: the voltage decays by ``exp(-T / tau)`` each slot;
* ``saturation``: the voltage clips at the swing. Whether clipped or not, a readout that exceeds
  the capacity is *reported* (``saturated``), never silently wrapped.

The ADC has ``adc_bits`` bits and clips at full scale (also reported, ``adc_clipped``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from functools import cached_property

import numpy as np

from ..configs import Preset, PresetError
from .dwdm import DwdmLink
from .oxg import xnor_from_states

__all__ = [
    "Effects",
    "Pca",
    "Readout",
    "PcaBank",
    "CapacitorBusyError",
    "ELEMENTARY_CHARGE_C",
    "BOLTZMANN_J_PER_K",
]

#: Elementary charge in C (CODATA 2018, exact).
ELEMENTARY_CHARGE_C = 1.602176634e-19
#: Boltzmann constant in J/K (CODATA 2018, exact).
BOLTZMANN_J_PER_K = 1.380649e-23


@dataclass(frozen=True)
class Effects:
    """Which non-idealities the optical models apply.

    ``ring_physics`` uses the rings' real transmission (finite extinction, insertion loss) for the
    lane powers instead of ideal 1/0 levels; ``crosstalk`` adds the other rings on the bus (needs
    ``ring_physics``). The rest are the PCA effects of the module docstring.
    """

    ring_physics: bool = False
    crosstalk: bool = False
    shot_noise: bool = False
    reset_noise: bool = False
    rin: bool = False
    leakage: bool = False
    saturation: bool = False

    def __post_init__(self) -> None:
        if self.crosstalk and not self.ring_physics:
            raise ValueError("Effects: crosstalk=True needs ring_physics=True")

    @classmethod
    def ideal(cls) -> Effects:
        """Every lane exactly 1 or 0 LSB, no noise: the code is the popcount."""
        return cls()

    @classmethod
    def physical(cls) -> Effects:
        """Every effect on."""
        return cls(**{f.name: True for f in fields(cls)})

    @classmethod
    def from_name(cls, name: str) -> Effects:
        """``"ideal"`` or ``"physical"``."""
        if name == "ideal":
            return cls.ideal()
        if name == "physical":
            return cls.physical()
        raise ValueError(f"optics mode must be 'ideal' or 'physical', not {name!r}")

    @property
    def noisy(self) -> bool:
        return self.shot_noise or self.reset_noise or self.rin


@dataclass(frozen=True)
class Readout:
    """Result of integrating slots on a batch of PCAs; voltages in V, codes in LSB."""

    codes: np.ndarray
    analog_codes: np.ndarray
    voltages_V: np.ndarray
    saturated: np.ndarray
    adc_clipped: np.ndarray


class Pca:
    """Photodetector + capacitor + ADC of one XPE, for a link and a preset.

    Parameters
    ----------
    link : DwdmLink
        The XPE's bus (gives N, lane powers and calibration levels).
    effects : Effects
        Which non-idealities apply.
    rng : numpy.random.Generator, optional
        Source of every random draw; required when a noise effect is on.
    """

    def __init__(
        self, link: DwdmLink, effects: Effects | None = None, rng: np.random.Generator | None = None
    ) -> None:
        self.link = link
        self.preset: Preset = link.preset
        self.effects = effects or Effects.ideal()
        if self.effects.noisy and rng is None:
            raise ValueError("Pca: a noise effect is on, so pass a seeded numpy.random.Generator")
        self.rng = rng
        self.n = link.n_lanes
        if self.preset.pca.adc_bits < 1:
            raise PresetError("adc_bits must be positive")

    # ---------------------------------------------------------------- constants
    @property
    def slot_s(self) -> float:
        """One bit slot, in s."""
        return 1.0 / self.preset.architecture.bit_rate_bps

    @property
    def capacitance_F(self) -> float:
        return self.preset.pca.capacitance_F

    @cached_property
    def device_levels_W(self) -> tuple[float, float]:
        """Mean ('1', '0') lane power at the PD of the link as built (with crosstalk), in W.

        These set the capacity (and so gamma) whatever effects are simulated.
        """
        one, zero = self.link.mean_levels_W()
        return float(np.mean(one)), float(np.mean(zero))

    @cached_property
    def calibration_levels_W(self) -> tuple[float, float]:
        """('1', '0') lane power the ADC is calibrated for, in W.

        With crosstalk: the device's mean levels. Rings without crosstalk: the isolated ring's
        levels. Ideal: a '1' lane carries exactly the device's '1' - '0' difference and a '0'
        lane nothing, so one count is one LSB and the voltage scale is the device's.
        """
        if self.effects.crosstalk:
            return self.device_levels_W
        if self.effects.ring_physics:
            return self.link.isolated_levels_W()
        one, zero = self.device_levels_W
        return one - zero, 0.0

    @property
    def count_charge_C(self) -> float:
        """Charge of one count (one LSB): R * (P1 - P0) * T, in C."""
        one, zero = self.calibration_levels_W
        return self.preset.receiver.responsivity_A_per_W * (one - zero) * self.slot_s

    @property
    def dark_charge_C(self) -> float:
        """Dark-current charge per slot, in C (0 in ideal mode: dark current is a device effect)."""
        if not self.effects.ring_physics:
            return 0.0
        return self.preset.receiver.dark_current_A * self.slot_s

    @property
    def lsb_V(self) -> float:
        """ADC LSB in V (one count)."""
        return self.count_charge_C / self.capacitance_F

    @property
    def capacity_counts(self) -> int:
        """Counts the capacitor holds within its linear swing (worst case: every lane '1')."""
        one, _ = self.device_levels_W
        r = self.preset.receiver
        per_count = (
            r.responsivity_A_per_W * one * self.slot_s + r.dark_current_A * self.slot_s / self.n
        )
        return math.floor(self.preset.pca.voltage_swing_V * self.capacitance_F / per_count)

    @property
    def gamma(self) -> int:
        """Most slots between resets: ``floor(capacity / N)``."""
        return self.capacity_counts // self.n

    @property
    def adc_full_scale(self) -> int:
        return (1 << self.preset.pca.adc_bits) - 1

    def offset_V(self, n_slots: np.ndarray | int) -> np.ndarray:
        """Calibrated zero-count voltage after ``n_slots`` slots: '0' light and dark charge."""
        _, zero = self.calibration_levels_W
        q0 = self.preset.receiver.responsivity_A_per_W * zero * self.slot_s
        return np.asarray(n_slots) * (self.n * q0 + self.dark_charge_C) / self.capacitance_F

    # ---------------------------------------------------------------- one slot
    def slot_charge_C(self, act: np.ndarray, wgt: np.ndarray) -> np.ndarray:
        """Charge one slot deposits on each PCA of a batch, in C.

        ``act``, ``wgt``: arrays (..., N) of 0/1. Returns shape (...).
        """
        states = np.asarray(act, dtype=np.uint8) + np.asarray(wgt, dtype=np.uint8)
        eff = self.effects
        r = self.preset.receiver.responsivity_A_per_W
        if eff.ring_physics:
            scale: float | np.ndarray = 1.0
            if eff.rin:
                sigma = math.sqrt(
                    10 ** (self.preset.laser.rin_dB_per_Hz / 10)
                    * self.preset.architecture.bit_rate_bps
                    / 2
                )
                scale = 1.0 + sigma * self.rng.standard_normal(states.shape)
            powers = self.link.lane_powers_W(states, crosstalk=eff.crosstalk, power_scale=scale)
        else:
            one, _ = self.calibration_levels_W
            powers = xnor_from_states(states) * one
            if eff.rin:
                sigma = math.sqrt(
                    10 ** (self.preset.laser.rin_dB_per_Hz / 10)
                    * self.preset.architecture.bit_rate_bps
                    / 2
                )
                powers = powers * (1.0 + sigma * self.rng.standard_normal(states.shape))
        q = r * powers.sum(axis=-1) * self.slot_s + self.dark_charge_C
        if eff.shot_noise:
            mean = np.maximum(q, 0.0)
            q = q + np.sqrt(ELEMENTARY_CHARGE_C * mean) * self.rng.standard_normal(q.shape)
        return q

    def reset_voltage_V(self, shape: tuple[int, ...]) -> np.ndarray:
        """Voltage right after a reset: 0, or kT/C noise when ``reset_noise`` is on."""
        if not self.effects.reset_noise:
            return np.zeros(shape)
        sigma = math.sqrt(BOLTZMANN_J_PER_K * self.preset.pca.temperature_K / self.capacitance_F)
        return sigma * self.rng.standard_normal(shape)

    @cached_property
    def leak_factor(self) -> float | None:
        """What a slot's leakage leaves of the voltage, ``exp(-T / tau)``; None without
        leakage."""
        if not self.effects.leakage:
            return None
        return math.exp(-self.slot_s / self.preset.pca.leakage_time_constant_s)

    def accumulate_V(self, v: np.ndarray, charge_C: np.ndarray) -> np.ndarray:
        """Voltage after one more slot (leakage over the slot, then the new charge)."""
        if self.leak_factor is not None:
            v = v * self.leak_factor
        return v + charge_C / self.capacitance_F

    def convert(self, v: np.ndarray, n_slots: np.ndarray | int) -> tuple[np.ndarray, ...]:
        """ADC: (codes, analog codes, saturated, adc_clipped) for voltages after ``n_slots``."""
        swing = self.preset.pca.voltage_swing_V
        saturated = v > swing
        if self.effects.saturation:
            v = np.minimum(v, swing)
        analog = (v - self.offset_V(n_slots)) / self.lsb_V
        rounded = np.rint(analog)
        clipped = (rounded < 0) | (rounded > self.adc_full_scale)
        codes = np.clip(rounded, 0, self.adc_full_scale).astype(np.int64)
        return codes, analog, saturated, clipped

    # ---------------------------------------------------------------- a whole readout
    def integrate(self, act: np.ndarray, wgt: np.ndarray) -> Readout:
        """Reset, integrate every slot, sample: a batch of readouts.

        ``act``, ``wgt``: arrays (..., n_slots, N) of 0/1. Returns codes of shape (...), and the
        voltage after each slot, shape (..., n_slots).
        """
        act = np.asarray(act)
        wgt = np.asarray(wgt)
        if act.shape != wgt.shape or act.ndim < 2 or act.shape[-1] != self.n:
            raise ValueError(
                f"act {act.shape} and wgt {wgt.shape} must have the same shape "
                f"(..., n_slots, {self.n})"
            )
        n_slots = act.shape[-2]
        v = self.reset_voltage_V(act.shape[:-2])
        trace = np.empty(act.shape[:-1])
        saturated = np.zeros(act.shape[:-2], dtype=bool)
        for t in range(n_slots):
            v = self.accumulate_V(v, self.slot_charge_C(act[..., t, :], wgt[..., t, :]))
            saturated |= v > self.preset.pca.voltage_swing_V
            if self.effects.saturation:
                v = np.minimum(v, self.preset.pca.voltage_swing_V)
            trace[..., t] = v
        codes, analog, sat_end, clipped = self.convert(v, n_slots)
        return Readout(codes, analog, trace, saturated | sat_end, clipped)

    # ---------------------------------------------------------------- analytic statistics
    def expected_stats(self, ones: np.ndarray | int, n_slots: int) -> tuple[np.ndarray, np.ndarray]:
        """Analytic mean and variance of the analog code (in LSB) of a readout.

        Valid for ``ring_physics=False`` (ideal levels), without leakage or saturation: ``ones``
        lanes of ``n_slots`` slots are bright. Mean = ones; variance = shot + RIN + kT/C terms.
        """
        if self.effects.ring_physics or self.effects.leakage or self.effects.saturation:
            raise ValueError("expected_stats covers ideal lane levels without leakage/saturation")
        ones = np.asarray(ones, dtype=float)
        q1 = self.count_charge_C
        var_q = np.zeros_like(ones)
        if self.effects.shot_noise:
            var_q = var_q + ELEMENTARY_CHARGE_C * ones * q1
        if self.effects.rin:
            rel = (
                10 ** (self.preset.laser.rin_dB_per_Hz / 10)
                * self.preset.architecture.bit_rate_bps
                / 2
            )
            var_q = var_q + ones * rel * q1 * q1
        var_v = var_q / self.capacitance_F**2
        if self.effects.reset_noise:
            var_v = var_v + BOLTZMANN_J_PER_K * self.preset.pca.temperature_K / self.capacitance_F
        return ones, var_v / self.lsb_V**2


class CapacitorBusyError(RuntimeError):
    """A readout run started on a PCA capacitor that was still discharging from its last sample
    (the XPU broke the reset contract: ``XpuParams.reset_dead_slots``, ``pca_capacitors``)."""


class PcaBank:
    """M PCAs stepped one slot (one clock cycle at S = 1) at a time, as the RTL drives them.

    Each :meth:`step` applies, per XPE: reset (before this slot integrates), the slot's charge,
    and a sample (at the end of this slot). Codes of the sampled XPEs are returned at once; the
    caller delays them by the ADC latency. ``saturation_events`` counts readouts that went past
    the capacity.

    **Capacitors in rotation** (docs/design.md §3): each PCA has ``capacitors`` = P capacitors;
    its readout runs (a ``pca_reset`` and the slots up to its ``pca_sample``) take capacitors 0,
    1, ..., P - 1, 0, ... in order, from capacitor 0 at :meth:`start_layer`, all discharged. A
    run integrates on its capacitor, which its reset has discharged, so one voltage per XPE is
    the state of the run. After a sample in slot ``a`` the capacitor's reset switch discharges
    it for ``reset_dead_slots`` = R slots: it is free from slot ``a + 1 + R``, and a reset that
    starts a run on it earlier raises :class:`CapacitorBusyError` naming the XPE, the slot, the
    capacitor and its free slot. Slots are counted from :meth:`start_layer` (the layer's slot
    indices ``t S + s`` when every cycle's slots are run, as the optical bridge does). This is
    the optics' own check of the sequencer's capacitor waits, from the strobes alone.
    """

    def __init__(
        self, pca: Pca, n_xpes: int, *, capacitors: int = 1, reset_dead_slots: int = 0
    ) -> None:
        for key, value, lo in (
            ("capacitors", capacitors, 1),
            ("reset_dead_slots", reset_dead_slots, 0),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < lo:
                raise ValueError(f"PcaBank: {key} must be an integer >= {lo}, not {value!r}")
        self.pca = pca
        self.m = n_xpes
        self.capacitors = capacitors
        self.reset_dead_slots = reset_dead_slots
        self.v = np.zeros(n_xpes)
        self.slots = np.zeros(n_xpes, dtype=np.int64)
        self.saturated = np.zeros(n_xpes, dtype=bool)
        self.saturation_events = 0
        self.clip_events = 0
        self.start_layer()

    def start_layer(self) -> None:
        """A layer starts: slot 0, capacitor 0 next, every capacitor discharged (the XPU's
        ``start`` clears its rotation the same way; the voltages are kept)."""
        self.now = 0
        self.next_cap = np.zeros(self.m, dtype=np.int64)
        self.active = np.zeros(self.m, dtype=np.int64)
        self.cap_free = np.zeros((self.m, self.capacitors), dtype=np.int64)

    def _rotate(self, reset: np.ndarray, sample: np.ndarray) -> None:
        """Slot ``self.now``: the runs its resets start, the capacitors its samples free."""
        xpes = np.flatnonzero(reset)
        if len(xpes):
            cap = self.next_cap[xpes]
            free = self.cap_free[xpes, cap]
            busy = np.flatnonzero(free > self.now)
            if len(busy):
                e, c, f = int(xpes[busy[0]]), int(cap[busy[0]]), int(free[busy[0]])
                raise CapacitorBusyError(
                    f"XPE {e}, slot {self.now}: a run starts on PCA capacitor {c}, which is "
                    f"discharging until slot {f} (sampled in slot {f - 1 - self.reset_dead_slots},"
                    f" reset_dead_slots = {self.reset_dead_slots}, capacitors = "
                    f"{self.capacitors})"
                )
            self.active[xpes] = cap
            self.next_cap[xpes] = (cap + 1) % self.capacitors
        xpes = np.flatnonzero(sample)
        if len(xpes):
            self.cap_free[xpes, self.active[xpes]] = self.now + 1 + self.reset_dead_slots

    def _follow_strobes(self, reset: np.ndarray, sample: np.ndarray) -> None:
        """The capacitor rotation alone over T slots (``reset``/``sample`` (T, M)), stepped at
        the slots with a strobe; ``now`` advances by T."""
        now0 = self.now
        for t in np.flatnonzero(reset.any(axis=1) | sample.any(axis=1)).tolist():
            self.now = now0 + t
            self._rotate(reset[t], sample[t])
        self.now = now0 + reset.shape[0]

    def run(
        self, act: np.ndarray, wgt: np.ndarray, reset: np.ndarray, sample: np.ndarray
    ) -> np.ndarray:
        """T slots at once: ``act``/``wgt`` (T, M, N), ``reset``/``sample`` (T, M) bool.

        The same as T calls of :meth:`step`, but the slot charges of all T slots are drawn in
        one vectorised call (so noise draws come in another order than step by step).
        Returns the codes (T, M); entries that were not sampled are 0.

        Only the slots with a reset or a sample of some XPE are stepped one by one; the quiet
        slots between them (most of them: a readout is gamma chunks long) are integrated at
        once (:meth:`_quiet`), with the same voltages, bit for bit, and the same random draws.
        """
        reset = np.asarray(reset, dtype=bool)
        sample = np.asarray(sample, dtype=bool)
        if self.counts_only:
            same = np.asarray(act) == np.asarray(wgt)
            return self.run_counts(np.count_nonzero(same, axis=-1), reset, sample)
        codes = np.zeros(sample.shape, dtype=np.int64)
        skip = self._discarded(reset, sample)
        if skip:
            # No later code depends on these slots: only their strobes are followed.
            self._follow_strobes(reset[:skip], sample[:skip])
            self.slots += skip
            act, wgt = act[skip:], wgt[skip:]
            reset, sample = reset[skip:], sample[skip:]
        charges = self.pca.slot_charge_C(act, wgt)  # (T, M)
        n_slots = charges.shape[0]
        start = 0
        out = codes[skip:]
        for t in [*np.flatnonzero(reset.any(axis=1) | sample.any(axis=1)).tolist(), n_slots]:
            if t > start:
                self._quiet(charges[start:t])
            if t == n_slots:
                break
            self._event(charges[t], reset[t], sample[t], out[t])
            start = t + 1
        return codes

    @staticmethod
    def _discarded(reset: np.ndarray, sample: np.ndarray) -> int:
        """How many leading slots of a window no code depends on: on every XPE they come before
        its first reset in the window and it takes no sample among them (a reset replaces the
        voltage, the slot count and the saturation flag; only a sample reads them).

        :meth:`run` integrates only the slots after them, following their strobes for the
        capacitor rotation alone. The codes' distribution is the same; what changes is the
        noise: those slots' charges, and so their random draws, are never drawn, so every
        later draw comes at another place in the generator's stream than slot by slot
        (:meth:`step`). A readout window that begins with a layer's fill (the buffers loading,
        the port dark) or with the slots after a sample that the next run's reset discards is
        mostly such slots."""
        n_slots = reset.shape[0]
        if not n_slots:
            return 0
        has_reset = reset.any(axis=0)
        if not has_reset.all():
            return 0
        first_reset = reset.argmax(axis=0)  # per XPE
        first_sample = np.where(sample.any(axis=0), sample.argmax(axis=0), n_slots)
        if (first_sample < first_reset).any():
            return 0
        return int(first_reset.min())

    @cached_property
    def counts_only(self) -> bool:
        """Ideal optics: a slot's charge is its count of bright lanes, so :meth:`run_counts`
        needs nothing else of the slots."""
        return self.pca.effects == Effects.ideal()

    def run_counts(self, x: np.ndarray, reset: np.ndarray, sample: np.ndarray) -> np.ndarray:
        """:meth:`run` for ideal optics (:attr:`counts_only`), from ``x`` (T, M): each slot's
        number of lanes whose OXG is bright (activation bit = weight bit), in whole counts and
        without a loop over slots.

        Ideal, a slot deposits exactly one LSB per lane whose OXG is bright (XNOR = 1) and
        nothing else (no dark charge, no leakage, no noise, no clamp), so the voltage after a
        slot is its count since the last reset times the LSB, and the code is that count,
        clipped to the ADC's full scale. Every slot's count comes from one cumulative sum; only
        the capacitor rotation (:meth:`_rotate`) is stepped, at the slots with a strobe. The
        codes, saturation and clip counts equal :meth:`run`'s slot-by-slot float path, which
        rounds the same voltages back to these counts.
        """
        if not self.counts_only:
            raise ValueError("PcaBank.run_counts: only for ideal optics (Effects.ideal())")
        reset = np.asarray(reset, dtype=bool)
        sample = np.asarray(sample, dtype=bool)
        n_slots, m = reset.shape
        codes = np.zeros((n_slots, m), dtype=np.int64)
        if not n_slots:
            return codes
        lsb, swing, full = self._ideal_scale
        carried = np.rint(self.v / lsb).astype(np.int64)  # the count before the window
        # ext[t + 1] = the count of slots 0 .. t; the count at slot t since the last reset r
        # <= t (slot r integrates after it) is ext[t + 1] - ext[r], else carried + ext[t + 1].
        ext = np.zeros((n_slots + 1, m), dtype=np.int64)
        np.cumsum(x, axis=0, out=ext[1:])
        slot = np.arange(n_slots)[:, None]
        last = np.maximum.accumulate(np.where(reset, slot, -1), axis=0)  # last reset <= t

        def count_at(t: np.ndarray, e: np.ndarray) -> np.ndarray:
            r = last[t, e]
            return ext[t + 1, e] - ext[np.maximum(r, 0), e] + np.where(r < 0, carried[e], 0)

        self._follow_strobes(reset, sample)
        ts, es = np.nonzero(sample)
        if len(ts):
            got = count_at(ts, es)
            self.saturation_events += int(np.count_nonzero(got * lsb > swing))
            self.clip_events += int(np.count_nonzero(got > full))
            codes[ts, es] = np.minimum(got, full)
        xpes = np.arange(m)
        final = count_at(np.full(m, n_slots - 1), xpes)
        r = last[-1]
        self.v = final * lsb
        self.slots = np.where(r >= 0, n_slots - r, self.slots + n_slots).astype(np.int64)
        self.saturated = self.v > swing
        return codes

    @cached_property
    def _ideal_scale(self) -> tuple[float, float, int]:
        """(LSB in V, swing in V, ADC full scale) of :meth:`run_counts`."""
        return self.pca.lsb_V, self.pca.preset.pca.voltage_swing_V, self.pca.adc_full_scale

    def _event(
        self, charge: np.ndarray, reset: np.ndarray, sample: np.ndarray, codes: np.ndarray
    ) -> None:
        """One slot with a reset or a sample of some XPE (``codes`` (M,) filled in place)."""
        self._rotate(reset, sample)
        self.now += 1
        if reset.any():
            self.v = np.where(reset, self.pca.reset_voltage_V((self.m,)), self.v)
            self.slots = np.where(reset, 0, self.slots)
            self.saturated = np.where(reset, False, self.saturated)
        self._accumulate(charge[None])
        self.slots += 1
        if sample.any():
            c, _, sat, clipped = self.pca.convert(self.v, self.slots)
            codes[:] = np.where(sample, c, 0)
            self.saturation_events += int(np.count_nonzero(sample & (self.saturated | sat)))
            self.clip_events += int(np.count_nonzero(sample & clipped))

    def _quiet(self, charges: np.ndarray) -> None:
        """K slots (``charges`` (K, M)) without a reset or a sample: no rotation, no draw.

        Without leakage the voltages are one running sum (``np.add.accumulate``, a strict left
        fold, so each equals the slot-by-slot sum exactly); the clamp at the swing applies only
        if a voltage reaches it, and then, as with leakage, the slots are stepped one by one.
        """
        k = charges.shape[0]
        self.now += k
        self.slots += k
        swing = self.pca.preset.pca.voltage_swing_V
        if not self.pca.effects.leakage:
            steps = charges / self.pca.capacitance_F
            path = np.add.accumulate(np.concatenate([self.v[None], steps]), axis=0)[1:]
            over = path > swing
            if not (self.pca.effects.saturation and over.any()):
                self.saturated |= over.any(axis=0)
                self.v = path[-1]
                return
        self._accumulate(charges)

    def _accumulate(self, charges: np.ndarray) -> None:
        """K slots' charges (K, M) onto the running voltages, slot by slot: leakage, charge,
        saturation (:meth:`Pca.accumulate_V`'s arithmetic, in its order, so the same voltages;
        written out here so that a long run of slots makes no call per slot)."""
        swing = self.pca.preset.pca.voltage_swing_V
        steps = charges / self.pca.capacitance_F
        leak = self.pca.leak_factor
        clamp = self.pca.effects.saturation
        v, saturated = self.v, self.saturated
        for step in steps:
            if leak is not None:
                v = v * leak
            v = v + step
            saturated = saturated | (v > swing)
            if clamp:
                v = np.minimum(v, swing)
        self.v, self.saturated = v, saturated

    def step(
        self, act: np.ndarray, wgt: np.ndarray, reset: np.ndarray, sample: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """One slot. ``act``/``wgt`` (M, N) 0/1; ``reset``/``sample`` (M,) bool.

        Returns (codes (M,), sampled mask (M,)); codes of unsampled XPEs are 0.
        """
        sample = np.asarray(sample, dtype=bool)
        codes = self.run(
            np.asarray(act)[None],
            np.asarray(wgt)[None],
            np.asarray(reset, dtype=bool)[None],
            sample[None],
        )
        return codes[0], sample
