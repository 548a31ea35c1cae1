"""``oxbnn accuracy-sweep``: accuracy of the digits BNN as the optics get worse.

The sweeps, their points and the evaluation of a point are :mod:`oxbnn.models.sweep` (the knobs
and the CSV columns are described there); the co-simulation check is
:func:`oxbnn.testbenches.inference.check_cosim` (its criteria are described there). This module
parses the options, runs the points, writes the files, draws the plots (presentation, kept here
beside the command) and prints.

``--sweeps`` (default all four of :data:`oxbnn.models.sweep.SWEEPS`) with ``--points K`` points
each; every point uses the same ``--seed`` (image ``i`` draws from ``default_rng([seed, i])``),
so the curves differ only by the knob. Each sweep writes ``<out>/<preset>/accuracy_vs_<sweep>.csv``
(units in the column names; one row appended and flushed per finished point, so an interrupted
sweep keeps what it finished) and ``accuracy_vs_<sweep>.png`` (redrawn after every point), plus
``accuracy_sweeps.png`` (all curves) and ``summary.json``.

``--check-cosim`` runs the full co-simulation (XPU RTL + optical bridge, ``optics="physical"``,
simulator ``--sim``) with the same preset overrides at the laser attenuations of ``--check-db``
(default 0, 15 and 20 dB) on the first ``--check-images`` images, and compares it with the fast
path. The check writes ``cosim_check.json`` and the command exits with 1 if a criterion fails.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..models.configs import Preset, XpuParams, load_preset
from ..models.derive import xpu_params
from ..models.digits import TEST_IMAGES, check_test_images, load_params, load_split, predict
from ..models.optics import DwdmLink
from ..models.sweep import SWEEPS, SweepCsv, SweepError, evaluate_point, format_value, sweep_points
from .options import add_json, add_out, add_preset, add_seed, add_sim

__all__ = ["plot_all", "plot_sweep", "register", "run"]


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
    add_preset(p)
    p.add_argument(
        "--images",
        type=int,
        default=TEST_IMAGES,
        help=f"first N images of the test split (1..{TEST_IMAGES}; default all)",
    )
    add_seed(p)
    p.add_argument("--points", type=int, default=7, help="points per sweep (>= 2; default 7)")
    p.add_argument(
        "--sweeps",
        default=",".join(SWEEPS),
        help=f"comma-separated subset of {','.join(SWEEPS)} (default all)",
    )
    p.add_argument(
        "--params", type=Path, default=None, help="digits parameter file (default: shipped)"
    )
    add_out(p, "accuracy-sweep")
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
    add_sim(p)
    add_json(p)
    p.set_defaults(func=run)


def _parse_list(text: str, what: str, cast: Callable[[str], Any]) -> list[Any]:
    try:
        items = [cast(x.strip()) for x in text.split(",") if x.strip()]
    except ValueError:
        raise SweepError(f"{what} must be a comma-separated list, not {text!r}") from None
    if not items:
        raise SweepError(f"{what} is empty")
    return items


def _log(text: str) -> None:
    """Progress goes to stderr, so that --json output stays clean."""
    print(text, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from ..testbenches.inference import check_cosim

    check_test_images(args.images)
    sweeps = _parse_list(args.sweeps, "--sweeps", str)
    for s in sweeps:
        if s not in SWEEPS:
            raise SweepError(f"unknown sweep {s!r} in --sweeps; expected some of {SWEEPS}")
    check_db = _parse_list(args.check_db, "--check-db", float)
    if any(db < 0 for db in check_db):
        raise SweepError(f"--check-db attenuations must be >= 0 dB, not {args.check_db!r}")
    if args.check_cosim:
        check_test_images(args.check_images, "--check-images")
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
        with SweepCsv(csv_path) as table:
            for pt in points:
                row = {
                    **pt.columns,
                    **evaluate_point(net, bits, labels, golden, xpu, pt.optics, args.seed),
                }
                table.write(row)
                rows.append(row)
                results[sweep] = rows
                plot_sweep(sweep, rows, preset, xpu, png_path)
                done += 1
                knob = ", ".join(f"{k} {format_value(v)}" for k, v in list(pt.columns.items())[:2])
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
            sim=args.sim,
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
            pts = ", ".join(f"{format_value(r[key])}: {r['accuracy']:.1%}" for r in rows)
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
