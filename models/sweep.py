"""The accuracy sweeps: their points, the evaluation of one point, and the sweep's CSV file.

Every point runs the test split (or its first images) through the fast path
(:func:`oxbnn.models.accuracy.forward_optical`: the golden network with every PCA readout through
the physical optical models) with **one knob** moved from the preset's nominal value and all the
other physics at nominal, every effect on. The hardware stays the nominal XPU (its N, γ and
schedule): the sweep asks what the chip as built does when its optics degrade.

Sweeps (:data:`SWEEPS`; :func:`sweep_points` gives ``points`` points of each, the nominal one
first):

``laser_power``
    Laser power per wavelength from nominal down by :data:`POWER_SPAN_DB` (30 dB), evenly spaced
    in dB (log spaced in W). The ADC reference tracks the laser (see
    :mod:`oxbnn.models.optics.pca`), so a weaker laser does not shift codes: fewer
    photo-electrons per count raise the shot and kT/C noise in LSB.
``channel_spacing``
    Comb spacing from the preset's ``FSR / N`` down to the rings' linewidth (FWHM), log spaced:
    neighbouring rings' state-dependent crosstalk grows (the ADC is recalibrated to the link's
    mean levels at each spacing).
``pca_noise``
    The knob is a **noise scale** ``s``, from 1 to :data:`NOISE_SCALE_MAX` (300), log spaced:
    every Gaussian draw of the PCA model (photodetector shot noise, kT/C reset noise and the
    laser RIN it integrates) is multiplied by ``s``, i.e. the noise variance by ``s**2``, the
    signal unchanged (:class:`oxbnn.models.accuracy.OpticalPoint`). No physical parameter does
    this alone: a larger capacitor or a hotter one only raises the kT/C term, which is not the
    largest.
``adc_bits``
    ADC resolution from the preset's bits down to :data:`ADC_BITS_MIN` (3), with one LSB still
    one count: an ADC of ``b`` bits clips every readout above ``2**b - 1`` counts. Fewer than
    ``log2(γ N + 1)`` bits (9 for γ N = 266) can therefore clip a full readout; whether it does
    depends on the data.

Columns of a point (:func:`evaluate_point`), after the knob columns of its
:class:`SweepPoint`: ``accuracy`` (fraction of images classified right), ``accuracy_ideal``
(ideal optics, = the golden model), ``prediction_agreement`` and ``logit_agreement`` (fraction
of images whose prediction / all logits equal the golden model's), ``wrong_readout_fraction``
(readouts whose code differs from their popcount), ``saturated_readouts``,
``adc_clipped_readouts`` (codes clipped at 0 or at the ADC's full scale),
``noise_rms_half_readout_LSB`` (analytic shot + RIN + kT/C noise of a readout of γ slots holding
γ N / 2 counts, times the noise scale), ``photoelectrons_per_count``, ``images``, ``seed``,
``wall_s``.

:class:`SweepCsv` writes a sweep's rows, one flushed row per finished point, so an interrupted
sweep keeps the points it finished.
"""

from __future__ import annotations

import csv
import math
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import numpy as np

from .accuracy import OpticalPoint, forward_optical
from .configs import Preset, XpuParams
from .digits import DigitsBnn, predict
from .optics import DwdmLink, Effects, Pca
from .optics.pca import ELEMENTARY_CHARGE_C

__all__ = [
    "ADC_BITS_MIN",
    "NOISE_SCALE_MAX",
    "POWER_SPAN_DB",
    "SWEEPS",
    "SweepCsv",
    "SweepError",
    "SweepPoint",
    "attenuated",
    "evaluate_point",
    "format_value",
    "noise_columns",
    "sweep_points",
]

#: Sweep names, in the order they run; each gives ``accuracy_vs_<name>.csv``.
SWEEPS = ("laser_power", "channel_spacing", "pca_noise", "adc_bits")
#: Attenuation of the laser at the end of the power sweep, in dB.
POWER_SPAN_DB = 30.0
#: Largest PCA noise scale of the noise sweep (dimensionless, multiplies a standard deviation).
NOISE_SCALE_MAX = 300.0
#: Fewest ADC bits of the ADC sweep.
ADC_BITS_MIN = 3


class SweepError(ValueError):
    """A bad argument of a sweep (unknown sweep, too few points, ...)."""


@dataclass(frozen=True)
class SweepPoint:
    """One point of a sweep: its knob columns (units in the names) and its optics."""

    sweep: str
    columns: dict[str, float | int | bool]
    optics: OpticalPoint


# ----------------------------------------------------------------------------------------------
# Points
# ----------------------------------------------------------------------------------------------


def attenuated(preset: Preset, attenuation_dB: float) -> Preset:
    """``preset`` with its laser power per wavelength lowered by ``attenuation_dB`` (dB)."""
    power = preset.laser.power_per_wavelength_W * 10 ** (-attenuation_dB / 10)
    return preset.replace("laser", power_per_wavelength_W=power)


def sweep_points(preset: Preset, xpu: XpuParams, sweep: str, points: int) -> list[SweepPoint]:
    """The ``points`` points of ``sweep``, the nominal one first (see the module docstring)."""
    if sweep not in SWEEPS:
        raise SweepError(f"unknown sweep {sweep!r}; expected one of {', '.join(SWEEPS)}")
    if isinstance(points, bool) or not isinstance(points, int) or points < 2:
        raise SweepError(f"--points must be an integer >= 2, not {points!r}")
    out = []
    if sweep == "laser_power":
        for db in np.linspace(0.0, POWER_SPAN_DB, points):
            p = attenuated(preset, float(db))
            watts = p.laser.power_per_wavelength_W
            cols = {
                "attenuation_dB": float(db),
                "laser_power_per_wavelength_W": watts,
                "laser_power_per_wavelength_dBm": 10 * math.log10(watts * 1e3),
            }
            out.append(SweepPoint(sweep, cols, OpticalPoint(p)))
    elif sweep == "channel_spacing":
        link = DwdmLink(preset, xpu.n_lanes)
        fwhm = link.oxg.fwhm_m
        for spacing in np.geomspace(link.channel_spacing_m, fwhm, points):
            at = DwdmLink(preset, xpu.n_lanes, float(spacing))
            cols = {
                "channel_spacing_nm": float(spacing) * 1e9,
                "spacing_over_fwhm": float(spacing / fwhm),
                "crosstalk_penalty_dB": at.crosstalk_penalty_dB,
            }
            out.append(SweepPoint(sweep, cols, OpticalPoint(preset, spacing_m=float(spacing))))
    elif sweep == "pca_noise":
        for scale in np.geomspace(1.0, NOISE_SCALE_MAX, points):
            cols = {"noise_scale": float(scale), "noise_variance_scale": float(scale) ** 2}
            out.append(SweepPoint(sweep, cols, OpticalPoint(preset, noise_scale=float(scale))))
    else:
        nominal = preset.pca.adc_bits
        low = min(ADC_BITS_MIN, nominal)
        bits = sorted(
            {int(round(b)) for b in np.linspace(nominal, low, min(points, nominal - low + 1))},
            reverse=True,
        )
        for b in bits:
            full_scale = (1 << b) - 1
            cols = {
                "adc_bits": b,
                "adc_full_scale_counts": full_scale,
                "can_clip_full_readout": full_scale < xpu.gamma * xpu.n_lanes,
            }
            out.append(SweepPoint(sweep, cols, OpticalPoint(preset.replace("pca", adc_bits=b))))
    return out


def noise_columns(point: OpticalPoint, xpu: XpuParams) -> dict[str, float]:
    """Analytic readout noise at ideal lane levels, and photo-electrons per count."""
    link = point.link(xpu)
    pca = Pca(
        link,
        Effects(shot_noise=True, reset_noise=True, rin=True),
        rng=np.random.default_rng(0),  # constants only: expected_stats draws nothing
    )
    _, var = pca.expected_stats(xpu.gamma * xpu.n_lanes / 2, xpu.gamma)
    return {
        "noise_rms_half_readout_LSB": point.noise_scale * float(np.sqrt(var)),
        "photoelectrons_per_count": pca.count_charge_C / ELEMENTARY_CHARGE_C,
    }


# ----------------------------------------------------------------------------------------------
# Evaluation
# ----------------------------------------------------------------------------------------------


def evaluate_point(
    net: DigitsBnn,
    bits: np.ndarray,
    labels: np.ndarray,
    golden: np.ndarray,
    xpu: XpuParams,
    point: OpticalPoint,
    seed: int,
) -> dict[str, Any]:
    """Accuracy and agreement with the golden logits of the fast path at one point.

    ``bits`` are the binarised images, ``labels`` their classes and ``golden`` their golden
    logits; the columns are those of the module docstring.
    """
    t0 = time.perf_counter()
    run = forward_optical(net, bits, xpu, point, seed=seed)
    pred = run.predictions
    return {
        "accuracy": float(np.mean(pred == labels)),
        "accuracy_ideal": float(np.mean(predict(golden) == labels)),
        "prediction_agreement": float(np.mean(pred == predict(golden))),
        "logit_agreement": float(np.mean(np.all(run.logits == golden, axis=1))),
        "wrong_readout_fraction": run.wrong_readouts / run.readouts,
        "saturated_readouts": run.saturated,
        "adc_clipped_readouts": run.adc_clipped,
        **noise_columns(point, xpu),
        "images": len(bits),
        "seed": seed,
        "wall_s": time.perf_counter() - t0,
    }


# ----------------------------------------------------------------------------------------------
# The CSV file
# ----------------------------------------------------------------------------------------------


def format_value(value: Any) -> Any:
    """A float with 6 significant digits (as the CSV holds it); anything else as it is."""
    return f"{value:.6g}" if isinstance(value, float) else value


class SweepCsv:
    """One sweep's CSV file, written a row at a time (a context manager).

    The file is created anew; the header is the keys of the first row; every row is flushed as
    it is written, so an interrupted sweep leaves the points it finished. Floats are written
    with :func:`format_value`.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._fh: IO[str] | None = None
        self._writer: csv.DictWriter | None = None

    def __enter__(self) -> SweepCsv:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "w", newline="")
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def write(self, row: dict[str, Any]) -> None:
        """Append ``row`` (the header first, from the first row's keys) and flush."""
        if self._fh is None:
            raise SweepError(f"{self.path}: SweepCsv.write outside its 'with' block")
        if self._writer is None:
            self._writer = csv.DictWriter(self._fh, fieldnames=list(row))
            self._writer.writeheader()
        self._writer.writerow({k: format_value(v) for k, v in row.items()})
        self._fh.flush()
