"""``oxbnn accuracy-sweep``: accuracy of the digits BNN as the optics get worse.

Every point runs the test split (the first ``--images``) through the fast path
(:func:`oxbnn.models.accuracy.forward_optical`: the golden network with every PCA readout through
the physical optical models) with **one knob** moved from the preset's nominal value and all the
other physics at nominal, every effect on. The hardware stays the nominal XPU (its N, γ and
schedule): the sweep asks what the chip as built does when its optics degrade.

Sweeps (``--sweeps``, default all four; ``--points K`` points each):

``laser_power``
    Laser power per wavelength from nominal down by 30 dB, evenly spaced in dB (log spaced in
    W). The ADC reference tracks the laser (see :mod:`oxbnn.models.optics.pca`), so a weaker
    laser does not shift codes: fewer photo-electrons per count raise the shot and kT/C noise in
    LSB.
``channel_spacing``
    Comb spacing from the preset's ``FSR / N`` down to the rings' linewidth (FWHM), log spaced:
    neighbouring rings' state-dependent crosstalk grows (the ADC is recalibrated to the link's
    mean levels at each spacing).
``pca_noise``
    The knob is a **noise scale** ``s``, from 1 to 300, log spaced: every Gaussian draw of the PCA
    model (photodetector shot noise, kT/C reset noise and the laser RIN it integrates) is
    multiplied by ``s``, i.e. the noise variance by ``s**2``, the signal unchanged
    (:class:`oxbnn.models.accuracy.OpticalPoint`). No physical parameter does this alone: a
    larger capacitor or a hotter one only raises the kT/C term, which is not the largest.
``adc_bits``
    ADC resolution from the preset's bits down to 3, with one LSB still one count: an ADC of
    ``b`` bits clips every readout above ``2**b - 1`` counts. Fewer than ``log2(γ N + 1)`` bits
    (9 for γ N = 266) can therefore clip a full readout; whether it does depends on the data.

Every point uses the same ``--seed`` (image ``i`` draws from ``default_rng([seed, i])``), so the
curves differ only by the knob. Each sweep writes ``<out>/<preset>/accuracy_vs_<sweep>.csv``
(units in the column names; one row appended and flushed per finished point, so an interrupted
sweep keeps what it finished) and ``accuracy_vs_<sweep>.png`` (redrawn after every point), plus
``accuracy_sweeps.png`` (all curves) and ``summary.json``.

Columns common to every sweep: ``accuracy`` (fraction of images classified right),
``accuracy_ideal`` (ideal optics, = the golden model), ``prediction_agreement`` and
``logit_agreement`` (fraction of images whose prediction / all logits equal the golden model's),
``wrong_readout_fraction`` (readouts whose code differs from their popcount),
``saturated_readouts``, ``adc_clipped_readouts`` (codes clipped at 0 or at the ADC's full
scale), ``noise_rms_half_readout_LSB`` (analytic
shot + RIN + kT/C noise of a readout of γ slots holding γ N / 2 counts, times the noise scale),
``photoelectrons_per_count``, ``images``, ``seed``, ``wall_s``.

``--check-cosim`` runs the full co-simulation (XPU RTL + optical bridge, ``optics="physical"``)
with the same preset overrides at the laser attenuations of ``--check-db`` (default 0, 15 and
20 dB) on the first ``--check-images`` images, and compares it with the fast path:

* **network**: accuracy, predictions and logits of both. At nominal (0 dB) both must give the
  golden logits on every image. Elsewhere the noise draws differ, so logits need not match; the
  two accuracies must agree within ``max(3 sigma, 1 / n)``, sigma the binomial standard error of
  their difference over ``n`` images;
* **readouts** (the tight test): every layer is also run alone on its golden input, once with
  ideal and once with physical optics, so each ADC code of the RTL run has its popcount. Per
  layer, the mean and standard deviation of ``code - popcount`` over the readouts with a
  non-zero popcount must agree between the fast path and the co-simulation within four standard
  errors plus 0.02 LSB.

The check writes ``cosim_check.json`` and exits with 1 if a criterion fails. The spacing and
noise-scale knobs cannot be checked this way: the co-simulation's optical bridge builds its link
at the preset's spacing and draws unscaled noise.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..models.accuracy import OpticalPoint, forward_optical, layer_readouts
from ..models.bnn import layer_forward
from ..models.configs import Preset, XpuParams, load_preset, preset_names
from ..models.derive import xpu_params
from ..models.digits import DigitsBnn, flatten, load_params, load_split, predict
from ..models.optics import DwdmLink, Effects, Pca
from ..models.optics.pca import ELEMENTARY_CHARGE_C

__all__ = [
    "SWEEPS",
    "SweepError",
    "SweepPoint",
    "register",
    "run",
    "sweep_points",
    "evaluate_point",
    "check_cosim",
]

#: Sweep names, in the order they run; each gives ``accuracy_vs_<name>.csv``.
SWEEPS = ("laser_power", "channel_spacing", "pca_noise", "adc_bits")
#: Attenuation of the laser at the end of the power sweep, in dB.
POWER_SPAN_DB = 30.0
#: Largest PCA noise scale of the noise sweep.
NOISE_SCALE_MAX = 300.0
#: Fewest ADC bits of the ADC sweep.
ADC_BITS_MIN = 3
#: Readout-statistics tolerance of the co-simulation check: standard errors, plus LSB.
CHECK_SIGMAS = 4.0
CHECK_SLACK_LSB = 0.02
TEST_IMAGES = 360


class SweepError(ValueError):
    """A bad argument of ``oxbnn accuracy-sweep``."""


@dataclass(frozen=True)
class SweepPoint:
    """One point of a sweep: its knob columns (units in the names) and its optics."""

    sweep: str
    columns: dict[str, float | int | bool]
    optics: OpticalPoint


# ----------------------------------------------------------------------------------------------
# Points
# ----------------------------------------------------------------------------------------------


def _attenuated(preset: Preset, attenuation_dB: float) -> Preset:
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
            p = _attenuated(preset, float(db))
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


def _noise_columns(point: OpticalPoint, xpu: XpuParams) -> dict[str, float]:
    """Analytic readout noise at ideal lane levels and photo-electrons per count."""
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
    """Accuracy and agreement with the golden logits of the fast path at one point."""
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
        **_noise_columns(point, xpu),
        "images": len(bits),
        "seed": seed,
        "wall_s": time.perf_counter() - t0,
    }


# ----------------------------------------------------------------------------------------------
# Plots
# ----------------------------------------------------------------------------------------------

_X = {
    "laser_power": ("laser_power_per_wavelength_dBm", "laser power per wavelength [dBm]", False),
    "channel_spacing": ("channel_spacing_nm", "channel spacing [nm]", True),
    "pca_noise": ("noise_scale", "PCA noise scale s (std x s)", True),
    "adc_bits": ("adc_bits", "ADC bits (1 LSB = 1 count)", False),
}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _draw(ax: Any, sweep: str, rows: list[dict[str, Any]], marks: dict[str, float]) -> None:
    key, label, log = _X[sweep]
    x = [float(r[key]) for r in rows]
    ax.plot(x, [100 * float(r["accuracy"]) for r in rows], "o-", label="physical optics")
    if rows:
        ideal = 100 * float(rows[0]["accuracy_ideal"])
        ax.axhline(ideal, color="g", ls="--", lw=0.8, label=f"ideal optics ({ideal:.1f} %)")
        ax.plot([x[0]], [100 * float(rows[0]["accuracy"])], "s", ms=9, mfc="none", mec="k")
        ax.text(
            x[0], 100 * float(rows[0]["accuracy"]) - 4, "nominal", ha="center", va="top", fontsize=7
        )
    ax.axhline(10.0, color="0.5", ls=":", lw=0.8, label="chance (10 %)")
    for text, value in marks.items():
        ax.axvline(value, color="r", ls=":", lw=0.8)
        ax.text(value, 50, f" {text}", color="r", rotation=90, va="center", fontsize=7)
    if log:
        ax.set_xscale("log")
    ax.set_xlabel(label)
    ax.set_ylabel("test accuracy [%]")
    ax.set_ylim(0, 105)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=7)


def _marks(sweep: str, preset: Preset, xpu: XpuParams) -> dict[str, float]:
    if sweep == "channel_spacing":
        oxg = DwdmLink(preset, xpu.n_lanes).oxg
        return {"FWHM": oxg.fwhm_m * 1e9}
    if sweep == "adc_bits":
        return {"log2(gamma N + 1)": math.log2(xpu.gamma * xpu.n_lanes + 1)}
    return {}


def plot_sweep(
    sweep: str, rows: list[dict[str, Any]], preset: Preset, xpu: XpuParams, path: Path
) -> Path:
    """One curve: accuracy against the sweep's knob; ideal accuracy dashed, chance dotted."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    _draw(ax, sweep, rows, _marks(sweep, preset, xpu))
    ax.set_title(f"{preset.name}: digits BNN accuracy vs {sweep.replace('_', ' ')}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_all(
    results: dict[str, list[dict[str, Any]]], preset: Preset, xpu: XpuParams, path: Path
) -> Path:
    """The finished sweeps side by side."""
    plt = _pyplot()
    names = [s for s in SWEEPS if results.get(s)]
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.8), squeeze=False)
    for ax, sweep in zip(axes[0], names, strict=True):
        _draw(ax, sweep, results[sweep], _marks(sweep, preset, xpu))
    fig.suptitle(f"{preset.name}: digits BNN test accuracy, one knob at a time", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


# ----------------------------------------------------------------------------------------------
# The co-simulation check
# ----------------------------------------------------------------------------------------------


def _error_stats(errors: np.ndarray) -> dict[str, float]:
    n = int(errors.size)
    return {
        "readouts": n,
        "mean_LSB": float(errors.mean()) if n else 0.0,
        "std_LSB": float(errors.std(ddof=1)) if n > 1 else 0.0,
        "wrong_fraction": float(np.mean(errors != 0)) if n else 0.0,
    }


def _stats_agree(fast: dict[str, float], cosim: dict[str, float]) -> tuple[bool, float, float]:
    """(agree, z of the means, z of the standard deviations) of two error samples."""
    nf, nc = max(fast["readouts"], 1), max(cosim["readouts"], 1)
    sf, sc = fast["std_LSB"], cosim["std_LSB"]
    se_mean = math.sqrt(sf**2 / nf + sc**2 / nc)
    se_std = math.sqrt(sf**2 / (2 * nf) + sc**2 / (2 * nc))
    d_mean = abs(fast["mean_LSB"] - cosim["mean_LSB"])
    d_std = abs(sf - sc)
    ok = d_mean <= CHECK_SIGMAS * se_mean + CHECK_SLACK_LSB and (
        d_std <= CHECK_SIGMAS * se_std + CHECK_SLACK_LSB
    )
    z_mean = d_mean / se_mean if se_mean > 0 else 0.0
    z_std = d_std / se_std if se_std > 0 else 0.0
    return ok, z_mean, z_std


def _golden_inputs(net: DigitsBnn, image: np.ndarray) -> list[np.ndarray]:
    """Each layer's input on the golden model, shaped as the XPU takes it."""
    inputs = []
    act: np.ndarray = image
    for spec, w, t, f in zip(net.layers, net.weights, net.thresholds, net.flips, strict=True):
        if spec.kind == "fc":
            act = flatten(act).reshape(1, 1, -1)
        inputs.append(act)
        act = layer_forward(act, w, t, spec, f)
    return inputs


def check_cosim(
    net: DigitsBnn,
    preset: Preset,
    xpu: XpuParams,
    bits: np.ndarray,
    labels: np.ndarray,
    attenuations_dB: Sequence[float],
    seed: int,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Compare the fast path with the co-simulation (criteria in the module docstring)."""
    from ..testbenches.cosim import Cosim
    from ..testbenches.pysim_harness import LayerRun

    n = len(bits)
    golden = net.forward_golden(bits)
    layers = list(zip(net.layers, net.weights, net.thresholds, net.flips, strict=True))
    cosim = Cosim(xpu)
    cosim.build()
    runs = []
    inputs = [_golden_inputs(net, image) for image in bits]
    for i in range(n):
        for li, (spec, w, t, f) in enumerate(layers):
            runs.append(LayerRun(spec, inputs[i][li], w, t, f, name=f"image{i}-layer{li}"))
    log(f"  check: {n} images x {len(layers)} layers with ideal optics (popcount reference)")
    ideal_res = cosim.run(runs, optics="ideal", preset=preset, seed=seed)
    points = []
    for db in attenuations_dB:
        p = _attenuated(preset, float(db))
        point = OpticalPoint(p)
        where = "nominal" if float(db) == 0.0 else f"laser {db:g} dB down"
        log(f"  check: {where}: co-simulation of the network and of each layer alone...")
        net_res = cosim.run_network(layers, list(bits), optics="physical", preset=p, seed=seed)
        sim_logits = np.stack([np.asarray(r["output"]).reshape(-1) for r in net_res])
        phys_res = cosim.run(runs, optics="physical", preset=p, seed=seed)
        fast = forward_optical(net, bits, xpu, point, seed=seed)

        layer_rows = []
        readouts_ok = True
        for li, (spec, w, _, _) in enumerate(layers):
            sim_err, fast_err = [], []
            for i in range(n):
                ri = i * len(layers) + li
                ev_i, ev_p = ideal_res[ri]["events"], phys_res[ri]["events"]
                if [e[:2] for e in ev_i] != [e[:2] for e in ev_p]:
                    raise RuntimeError(f"ideal and physical runs of {runs[ri].name} sampled apart")
                ideal_codes = np.asarray([e[2] for e in ev_i])
                codes = np.asarray([e[2] for e in ev_p])
                keep = ideal_codes > 0  # idle XPEs read out dark lanes: popcount 0
                sim_err.append(codes[keep] - ideal_codes[keep])
                rng = np.random.default_rng([seed, i, 1 + li])
                ro = layer_readouts(inputs[i][li], w, spec, xpu, point.pca(xpu, rng))
                keep = ro.ideal > 0
                fast_err.append(ro.codes[keep] - ro.ideal[keep])
            s_sim = _error_stats(np.concatenate(sim_err))
            s_fast = _error_stats(np.concatenate(fast_err))
            ok, z_mean, z_std = _stats_agree(s_fast, s_sim)
            readouts_ok &= ok
            layer_rows.append(
                {
                    "layer": li,
                    "fast": s_fast,
                    "cosim": s_sim,
                    "z_mean": z_mean,
                    "z_std": z_std,
                    "agree": ok,
                }
            )

        acc_fast = float(np.mean(fast.predictions == labels))
        acc_sim = float(np.mean(predict(sim_logits) == labels))
        sigma = math.sqrt((acc_fast * (1 - acc_fast) + acc_sim * (1 - acc_sim)) / n)
        tolerance = max(3 * sigma, 1 / n)
        nominal = float(db) == 0.0
        exact_fast = bool(np.array_equal(fast.logits, golden))
        exact_sim = bool(np.array_equal(sim_logits, golden))
        accuracy_ok = abs(acc_fast - acc_sim) <= tolerance + 1e-12
        network_ok = (exact_fast and exact_sim) if nominal else accuracy_ok
        row = {
            "attenuation_dB": float(db),
            "laser_power_per_wavelength_W": p.laser.power_per_wavelength_W,
            "images": n,
            "accuracy_fast": acc_fast,
            "accuracy_cosim": acc_sim,
            "accuracy_tolerance": tolerance,
            "prediction_agreement_fast_cosim": float(
                np.mean(fast.predictions == predict(sim_logits))
            ),
            "prediction_agreement_fast_golden": float(np.mean(fast.predictions == predict(golden))),
            "prediction_agreement_cosim_golden": float(
                np.mean(predict(sim_logits) == predict(golden))
            ),
            "logit_rms_error_fast": float(np.sqrt(np.mean((fast.logits - golden) ** 2))),
            "logit_rms_error_cosim": float(np.sqrt(np.mean((sim_logits - golden) ** 2))),
            "logits_equal_golden_fast": exact_fast,
            "logits_equal_golden_cosim": exact_sim,
            "criterion": "fast and co-simulation logits equal the golden model's"
            if nominal
            else "accuracies within max(3 sigma, 1/n); readout error mean/std within "
            f"{CHECK_SIGMAS:g} standard errors + {CHECK_SLACK_LSB} LSB",
            "network_ok": network_ok,
            "readouts_ok": readouts_ok,
            "passed": network_ok and readouts_ok,
            "layers": layer_rows,
        }
        points.append(row)
        log(
            f"  check: {where}: accuracy fast {acc_fast:.1%} / co-sim {acc_sim:.1%}, "
            f"predictions agree {row['prediction_agreement_fast_cosim']:.0%}, readout std "
            + ", ".join(
                f"L{r['layer']} {r['fast']['std_LSB']:.3f}/{r['cosim']['std_LSB']:.3f}"
                for r in layer_rows
            )
            + f" LSB -> {'pass' if row['passed'] else 'FAIL'}"
        )
    return {
        "images": n,
        "seed": seed,
        "points": points,
        "passed": all(r["passed"] for r in points),
    }


# ----------------------------------------------------------------------------------------------
# The command
# ----------------------------------------------------------------------------------------------


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "accuracy-sweep",
        help="digits BNN accuracy vs laser power, channel spacing, PCA noise and ADC bits",
        description="Sweep the test accuracy of the digits BNN on the fast path (golden network, "
        "physical optics per PCA readout) against laser power, channel spacing, PCA noise and "
        "ADC bits, one knob at a time; CSV and PNG under OUT/<preset>/. --check-cosim compares "
        "the fast path with the full co-simulation at a few laser powers.",
    )
    p.add_argument(
        "--preset", default="oxbnn50", help=f"preset ({', '.join(preset_names())}) or a .toml path"
    )
    p.add_argument(
        "--images",
        type=int,
        default=TEST_IMAGES,
        help=f"first N images of the test split (1..{TEST_IMAGES}; default all)",
    )
    p.add_argument("--seed", type=int, default=1, help="seed of the noise (the same every point)")
    p.add_argument("--points", type=int, default=7, help="points per sweep (>= 2; default 7)")
    p.add_argument(
        "--sweeps",
        default=",".join(SWEEPS),
        help=f"comma-separated subset of {','.join(SWEEPS)} (default all)",
    )
    p.add_argument(
        "--params", type=Path, default=None, help="digits parameter file (default: shipped)"
    )
    p.add_argument("--out", type=Path, default=Path("build/sweeps"))
    p.add_argument(
        "--check-cosim",
        action="store_true",
        help="compare the fast path with the full co-simulation at --check-db",
    )
    p.add_argument(
        "--check-db",
        default="0,15,20",
        help="laser attenuations [dB] of the co-simulation check (default 0,15,20; 0 = nominal)",
    )
    p.add_argument(
        "--check-images",
        type=int,
        default=20,
        help="images of the co-simulation check (default 20)",
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run)


def _parse_list(text: str, what: str, cast: Callable[[str], Any]) -> list[Any]:
    try:
        items = [cast(x.strip()) for x in text.split(",") if x.strip()]
    except ValueError:
        raise SweepError(f"{what} must be a comma-separated list, not {text!r}") from None
    if not items:
        raise SweepError(f"{what} is empty")
    return items


def _check_count(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= TEST_IMAGES:
        raise SweepError(f"{name} must be in 1..{TEST_IMAGES}, not {value!r}")


def _log(text: str) -> None:
    """Progress goes to stderr, so that --json output stays clean."""
    print(text, file=sys.stderr, flush=True)


def _fmt(value: Any) -> Any:
    return f"{value:.6g}" if isinstance(value, float) else value


def run(args: argparse.Namespace) -> int:
    _check_count("--images", args.images)
    sweeps = _parse_list(args.sweeps, "--sweeps", str)
    for s in sweeps:
        if s not in SWEEPS:
            raise SweepError(f"unknown sweep {s!r} in --sweeps; expected some of {SWEEPS}")
    check_db = _parse_list(args.check_db, "--check-db", float)
    if any(db < 0 for db in check_db):
        raise SweepError(f"--check-db attenuations must be >= 0 dB, not {args.check_db!r}")
    if args.check_cosim:
        _check_count("--check-images", args.check_images)
    net = load_params(args.params)
    preset = load_preset(args.preset)
    xpu = xpu_params(preset)
    plan = {s: sweep_points(preset, xpu, s, args.points) for s in sweeps}

    split = load_split()
    labels = split.test_labels[: args.images]
    bits = net.binarize(split.test_images[: args.images])
    golden = net.forward_golden(bits)
    out = args.out / preset.name
    out.mkdir(parents=True, exist_ok=True)

    total = sum(len(v) for v in plan.values())
    done = 0
    results: dict[str, list[dict[str, Any]]] = {}
    files: dict[str, dict[str, str]] = {}
    t_all = time.perf_counter()
    _log(
        f"oxbnn accuracy-sweep: {preset.name}, {args.images} images, {total} points "
        f"(XPU N = {xpu.n_lanes}, gamma = {xpu.gamma}), writing {out}/"
    )
    for sweep, points in plan.items():
        csv_path = out / f"accuracy_vs_{sweep}.csv"
        png_path = out / f"accuracy_vs_{sweep}.png"
        rows: list[dict[str, Any]] = []
        with open(csv_path, "w", newline="") as fh:
            writer: csv.DictWriter | None = None
            for pt in points:
                row = {
                    **pt.columns,
                    **evaluate_point(net, bits, labels, golden, xpu, pt.optics, args.seed),
                }
                if writer is None:
                    writer = csv.DictWriter(fh, fieldnames=list(row))
                    writer.writeheader()
                writer.writerow({k: _fmt(v) for k, v in row.items()})
                fh.flush()
                rows.append(row)
                results[sweep] = rows
                plot_sweep(sweep, rows, preset, xpu, png_path)
                done += 1
                knob = ", ".join(f"{k} {_fmt(v)}" for k, v in list(pt.columns.items())[:2])
                _log(
                    f"  [{done}/{total}] {sweep}: {knob}: accuracy {row['accuracy']:.2%} "
                    f"(wrong readouts {row['wrong_readout_fraction']:.2%}, {row['wall_s']:.1f} s)"
                )
        files[sweep] = {"csv": str(csv_path), "png": str(png_path)}
    overview = plot_all(results, preset, xpu, out / "accuracy_sweeps.png") if results else None

    summary: dict[str, Any] = {
        "preset": preset.name,
        "images": args.images,
        "seed": args.seed,
        "points": args.points,
        "xpu": {"n_lanes": xpu.n_lanes, "gamma": xpu.gamma, "adc_bits": xpu.adc_bits},
        "accuracy_ideal": float(np.mean(predict(golden) == labels)),
        "sweeps": {
            s: [{k: v for k, v in r.items() if k not in ("images", "seed")} for r in rows]
            for s, rows in results.items()
        },
        "files": files,
        "overview_png": str(overview) if overview else None,
        "wall_s": time.perf_counter() - t_all,
        "noise_scale_knob": "multiplies every Gaussian draw of the PCA model (shot, kT/C, RIN)",
        "adc_bits_knob": "1 LSB = 1 count; b bits clip readouts above 2**b - 1 counts",
    }
    status = 0
    if args.check_cosim:
        n = args.check_images
        _log(
            f"oxbnn accuracy-sweep: co-simulation check on {n} images, laser attenuated by "
            f"{', '.join(f'{db:g}' for db in check_db)} dB"
        )
        check = check_cosim(
            net,
            preset,
            xpu,
            net.binarize(split.test_images[:n]),
            split.test_labels[:n],
            check_db,
            args.seed,
            log=_log,
        )
        (out / "cosim_check.json").write_text(json.dumps(check, indent=2))
        summary["cosim_check"] = {
            "file": str(out / "cosim_check.json"),
            "passed": check["passed"],
            "points": [
                {
                    k: r[k]
                    for k in (
                        "attenuation_dB",
                        "accuracy_fast",
                        "accuracy_cosim",
                        "prediction_agreement_fast_cosim",
                        "passed",
                    )
                }
                for r in check["points"]
            ],
        }
        if not check["passed"]:
            status = 1
    (out / "summary.json").write_text(json.dumps(summary, indent=2))

    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"oxbnn accuracy-sweep: {preset.name}, {args.images} images, seed {args.seed}")
        print(f"  ideal accuracy   {summary['accuracy_ideal']:.2%}")
        for s, rows in results.items():
            key = _X[s][0]
            pts = ", ".join(f"{_fmt(r[key])}: {r['accuracy']:.1%}" for r in rows)
            print(f"  {s:<16} [{key}] {pts}")
            print(f"  {'':<16} {files[s]['csv']}")
        if args.check_cosim:
            c = summary["cosim_check"]
            print(
                f"  co-sim check     {'passed' if c['passed'] else 'FAILED'}: "
                + "; ".join(
                    f"{r['attenuation_dB']:g} dB down: fast {r['accuracy_fast']:.0%} / "
                    f"co-sim {r['accuracy_cosim']:.0%}"
                    for r in c["points"]
                )
                + f" ({c['file']})"
            )
        print(f"  summary          {out / 'summary.json'}")
    if status:
        print("oxbnn accuracy-sweep: error: the co-simulation check failed", file=sys.stderr)
    return status
