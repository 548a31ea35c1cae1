"""``oxbnn accuracy-sweep``: accuracy of the digits BNN as the optics get worse.

The sweeps, their points and the evaluation of a point are :mod:`oxbnn.models.sweep` (the knobs
and the CSV columns are described there); the co-simulation check is
:func:`oxbnn.testbenches.inference.check_cosim` (its criteria are described there). This module
parses the options, runs the points, writes the files, draws the plots (presentation, kept here
beside the command) and prints.

``--sweeps`` (default all four of :data:`oxbnn.models.sweep.SWEEPS`) with ``--points K`` points
each; every point uses the same ``--seed`` (image ``i`` draws from ``default_rng([seed, i])``),
so the curves differ only by the knob. Each sweep writes ``<out>/<preset>/accuracy_vs_<sweep>.csv``
(units in the column names) and ``accuracy_vs_<sweep>.png`` (redrawn after every point), plus
``accuracy_sweeps.png`` (all curves) and ``summary.json``.

**Resuming.** The CSVs are append-only (:class:`oxbnn.models.sweep.SweepCsv`): every row is
keyed by its run (:class:`oxbnn.models.sweep.RunKey`: preset content, XPU, parameter file,
images, seed, optics effects, code version) and its knob value, and is on disk as soon as its
point finishes. A rerun reuses the finished points of its own key and says on stderr how many
it reuses and how many it computes; rows of other keys (another ``--images``, seed, preset
value or code version) stay in the file, unused. The PNGs and the summary hold the points of
the current key only; the summary (written atomically, at the end) names the key, its
components and the other keys found in the CSVs. Ctrl-C and SIGTERM stop the run between two
points' rows (a row is never cut), keep what it finished and exit 130. Two sweeps writing the
same folder at once are refused (the second one at once, it never waits: ``LOCK_FILE``).

Options are checked while parsing, with the option named in the one-line error: ``--images``
and ``--check-images`` in 1..360, ``--points`` in 2..``MAX_POINTS``, ``--sweeps`` names of
``SWEEPS`` (none twice, none empty), ``--check-db`` attenuations in 0..``MAX_CHECK_DB`` dB
(finite, none twice), ``--seed`` a non-negative integer.

``--check-cosim`` runs the full co-simulation (XPU RTL + optical bridge, ``optics="physical"``,
simulator ``--sim``) with the same preset overrides at the laser attenuations of ``--check-db``
(default 0, 15 and 20 dB) on the first ``--check-images`` images, and compares it with the fast
path. The check writes ``cosim_check.json`` and the command exits with 1 if a criterion fails.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import functools
import hashlib
import json
import math
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..models.atomic import atomic_open, write_text
from ..models.configs import Preset, XpuParams, load_preset
from ..models.derive import xpu_params
from ..models.digits import (
    DEFAULT_PARAMS,
    TEST_IMAGES,
    check_test_images,
    load_params,
    load_split,
    predict,
)
from ..models.optics import DwdmLink
from ..models.sweep import (
    SWEEPS,
    RunKey,
    SweepCsv,
    SweepError,
    SweepPoint,
    array_digest,
    evaluate_point,
    format_value,
    git_commit,
    point_key,
    run_key,
    sweep_points,
)
from .options import add_json, add_out, add_preset, add_seed, add_sim, int_range

__all__ = [
    "LOCK_FILE",
    "MAX_CHECK_DB",
    "MAX_POINTS",
    "check_db_arg",
    "plot_all",
    "plot_sweep",
    "register",
    "run",
    "sweeps_arg",
]

#: Most points per sweep (``--points``): a curve, not a day of computation per knob.
MAX_POINTS = 1000
#: Largest laser attenuation of the co-simulation check (``--check-db``), in dB: twice the
#: span of the power sweep (:data:`oxbnn.models.sweep.POWER_SPAN_DB`), where every readout is
#: noise already.
MAX_CHECK_DB = 60.0
#: The lock file a running sweep holds in its folder (one sweep per folder at a time).
LOCK_FILE = ".accuracy-sweep.lock"


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
    with atomic_open(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=120)
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
    with atomic_open(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=120)
    plt.close(fig)
    return path


# ----------------------------------------------------------------------------------------------
# The command
# ----------------------------------------------------------------------------------------------


def _items(text: str, what: str) -> list[str]:
    """The comma-separated items of ``text``, stripped; none empty, none twice."""
    items = [x.strip() for x in text.split(",")]
    if not text.strip() or any(not x for x in items):
        raise argparse.ArgumentTypeError(f"expected a comma-separated list of {what}, not {text!r}")
    twice = sorted({x for x in items if items.count(x) > 1})
    if twice:
        raise argparse.ArgumentTypeError(f"{', '.join(twice)} given twice in {text!r}")
    return items


def sweeps_arg(text: str) -> list[str]:
    """argparse type of ``--sweeps``: names of :data:`~oxbnn.models.sweep.SWEEPS`, none twice."""
    names = _items(text, f"sweep names ({', '.join(SWEEPS)})")
    unknown = [n for n in names if n not in SWEEPS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown sweep {unknown[0]!r}; expected some of {', '.join(SWEEPS)}"
        )
    return names


def check_db_arg(text: str) -> list[float]:
    """argparse type of ``--check-db``: attenuations in 0..:data:`MAX_CHECK_DB` dB, none twice."""
    values = []
    for item in _items(text, "attenuations in dB"):
        try:
            db = float(item)
        except ValueError:
            db = math.nan
        if not 0 <= db <= MAX_CHECK_DB:
            raise argparse.ArgumentTypeError(
                f"expected attenuations in 0..{MAX_CHECK_DB:g} dB, not {item!r} in {text!r}"
            )
        values.append(db)
    if len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(f"an attenuation is given twice in {text!r}")
    return values


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "accuracy-sweep",
        help="digits BNN accuracy vs laser power, channel spacing, PCA noise and ADC bits",
        description="Sweep the test accuracy of the digits BNN on the fast path (golden network, "
        "physical optics per PCA readout) against laser power, channel spacing, PCA noise and "
        "ADC bits, one knob at a time; CSV and PNG under OUT/<preset>/. The CSVs are "
        "append-only and keyed by run: a rerun reuses the points it finished. --check-cosim "
        "compares the fast path with the full co-simulation at a few laser powers.",
    )
    add_preset(p)
    p.add_argument(
        "--images",
        type=int_range(1, TEST_IMAGES),
        default=TEST_IMAGES,
        metavar="N",
        help=f"first N images of the test split (1..{TEST_IMAGES}; default all)",
    )
    add_seed(p)
    p.add_argument(
        "--points",
        type=int_range(2, MAX_POINTS),
        default=7,
        metavar="K",
        help=f"points per sweep (2..{MAX_POINTS}; default 7)",
    )
    p.add_argument(
        "--sweeps",
        type=sweeps_arg,
        default=list(SWEEPS),
        metavar="NAMES",
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
        type=check_db_arg,
        default=[0.0, 15.0, 20.0],
        metavar="DBS",
        help="laser attenuations [dB] of the co-simulation check, each in "
        f"0..{MAX_CHECK_DB:g} (default 0,15,20; 0 = nominal)",
    )
    p.add_argument(
        "--check-images",
        type=int_range(1, TEST_IMAGES),
        default=20,
        metavar="N",
        help=f"images of the co-simulation check (1..{TEST_IMAGES}; default 20)",
    )
    add_sim(p)
    add_json(p)
    p.set_defaults(func=run)


def _log(text: str) -> None:
    """Progress goes to stderr, so that --json output stays clean."""
    print(text, file=sys.stderr, flush=True)


@contextlib.contextmanager
def _folder_lock(out: Path) -> Iterator[None]:
    """One sweep at a time per folder: a second one is refused at once, it never waits."""
    path = out / LOCK_FILE
    with open(path, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise SweepError(
                f"{out}: another oxbnn accuracy-sweep is writing this folder (it holds {path}); "
                "wait for it to finish or choose another --out"
            ) from None
        yield


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM ends the run like Ctrl-C (KeyboardInterrupt: finished points kept, exit 130)."""

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        old = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave SIGTERM alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def run(args: argparse.Namespace) -> int:
    check_test_images(args.images)
    net = load_params(args.params)
    preset = load_preset(args.preset)
    xpu = xpu_params(preset)
    plan = {s: sweep_points(preset, xpu, s, args.points) for s in args.sweeps}

    split = load_split()
    data = _Data(
        net=net,
        labels=split.test_labels[: args.images],
        bits=net.binarize(split.test_images[: args.images]),
    )
    params_path = DEFAULT_PARAMS if args.params is None else Path(args.params)
    key = run_key(
        preset,
        xpu,
        params_sha256=hashlib.sha256(params_path.read_bytes()).hexdigest(),
        data_sha256=array_digest(data.bits, data.labels),
        images=args.images,
        seed=args.seed,
        effects=next(iter(plan.values()))[0].optics.effects,
    )
    out = args.out / preset.name
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with _folder_lock(out), _sigterm_interrupts(), contextlib.ExitStack() as stack:
        tables = {
            s: stack.enter_context(
                SweepCsv(out / f"accuracy_vs_{s}.csv", key, list(points[0].columns), log=_log)
            )
            for s, points in plan.items()
        }
        summary = _sweep(args, data, preset, xpu, plan, tables, key, out)
        summary["wall_s"] = time.perf_counter() - t0
        status = _check(args, data.net, preset, xpu, split, out, summary) if args.check_cosim else 0
        write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    _print(args, summary, out)
    if status:
        print("oxbnn accuracy-sweep: error: the co-simulation check failed", file=sys.stderr)
    return status


@dataclass(frozen=True)
class _Data:
    """The network and the test images of a run, binarised, with their golden logits."""

    net: Any
    labels: np.ndarray
    bits: np.ndarray

    @functools.cached_property
    def golden(self) -> np.ndarray:
        return self.net.forward_golden(self.bits)


def _sweep(
    args: argparse.Namespace,
    data: _Data,
    preset: Preset,
    xpu: XpuParams,
    plan: dict[str, list[SweepPoint]],
    tables: dict[str, SweepCsv],
    key: RunKey,
    out: Path,
) -> dict[str, Any]:
    """Reuse the finished points, compute the others, draw; the summary (without the check)."""
    total = sum(len(v) for v in plan.values())
    todo = sum(point_key(pt) not in tables[s].finished for s, pts in plan.items() for pt in pts)
    _log(
        f"oxbnn accuracy-sweep: {preset.name}, {args.images} images, {total} points "
        f"(XPU N = {xpu.n_lanes}, gamma = {xpu.gamma}), writing {out}/"
    )
    _log(
        f"oxbnn accuracy-sweep: run key {key.key}: reusing {total - todo} finished point(s), "
        f"computing {todo}"
    )
    for table in tables.values():
        if table.other_runs:
            _log(
                f"  {table.path.name} also holds {sum(table.other_runs.values())} row(s) of "
                f"{len(table.other_runs)} other run(s) ({', '.join(table.other_runs)}): kept, "
                "not used"
            )
    done = 0
    results: dict[str, list[dict[str, Any]]] = {}
    files: dict[str, dict[str, str]] = {}
    try:
        for sweep, points in plan.items():
            table = tables[sweep]
            png_path = out / f"accuracy_vs_{sweep}.png"
            keys = [point_key(pt) for pt in points]
            for pt, pk in zip(points, keys, strict=True):
                if pk in table.finished:
                    continue
                evaluated = evaluate_point(
                    data.net, data.bits, data.labels, data.golden, xpu, pt.optics, args.seed
                )
                row = table.write(pk, {**pt.columns, **evaluated})
                results[sweep] = [table.finished[k] for k in keys if k in table.finished]
                plot_sweep(sweep, results[sweep], preset, xpu, png_path)
                done += 1
                knob = ", ".join(f"{k} {format_value(v)}" for k, v in list(pt.columns.items())[:2])
                _log(
                    f"  [{done}/{todo}] {sweep}: {knob}: accuracy {row['accuracy']:.2%} "
                    f"(wrong readouts {row['wrong_readout_fraction']:.2%}, {row['wall_s']:.1f} s)"
                )
            if sweep not in results:  # every point reused: draw them once
                results[sweep] = [table.finished[k] for k in keys]
                plot_sweep(sweep, results[sweep], preset, xpu, png_path)
            files[sweep] = {"csv": str(table.path), "png": str(png_path)}
    except KeyboardInterrupt:
        _log(
            f"oxbnn accuracy-sweep: interrupted after {done} computed point(s); every finished "
            f"point is in the CSVs of {out}/ (run key {key.key}): the same command resumes"
        )
        raise
    overview = plot_all(results, preset, xpu, out / "accuracy_sweeps.png") if results else None
    return {
        "preset": preset.name,
        "images": args.images,
        "seed": args.seed,
        "points": args.points,
        "run_key": key.key,
        "runs": [key.key],
        "run": key.components,
        "git_commit": git_commit(),
        "complete": True,
        "points_reused": total - todo,
        "points_computed": todo,
        "other_runs_in_csv": {s: t.other_runs for s, t in tables.items() if t.other_runs},
        "xpu": {"n_lanes": xpu.n_lanes, "gamma": xpu.gamma, "adc_bits": xpu.adc_bits},
        "accuracy_ideal": float(np.mean(predict(data.golden) == data.labels)),
        "sweeps": {
            s: [{k: v for k, v in r.items() if k not in ("images", "seed")} for r in rows]
            for s, rows in results.items()
        },
        "files": files,
        "overview_png": str(overview) if overview else None,
        "noise_scale_knob": "multiplies every Gaussian draw of the PCA model (shot, kT/C, RIN)",
        "adc_bits_knob": "1 LSB = 1 count; b bits clip readouts above 2**b - 1 counts",
    }


def _check(
    args: argparse.Namespace,
    net: Any,
    preset: Preset,
    xpu: XpuParams,
    split: Any,
    out: Path,
    summary: dict[str, Any],
) -> int:
    """The co-simulation check (``--check-cosim``), into ``summary``; 1 if it failed, else 0."""
    from ..testbenches.inference import check_cosim

    n = args.check_images
    _log(
        f"oxbnn accuracy-sweep: co-simulation check on {n} images, laser attenuated by "
        f"{', '.join(f'{db:g}' for db in args.check_db)} dB"
    )
    check = check_cosim(
        net,
        preset,
        xpu,
        net.binarize(split.test_images[:n]),
        split.test_labels[:n],
        args.check_db,
        args.seed,
        log=_log,
        sim=args.sim,
    )
    write_text(out / "cosim_check.json", json.dumps(check, indent=2) + "\n")
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
    return 0 if check["passed"] else 1


def _print(args: argparse.Namespace, summary: dict[str, Any], out: Path) -> None:
    if args.json:
        print(json.dumps(summary, indent=2))
        return
    print(f"oxbnn accuracy-sweep: {summary['preset']}, {args.images} images, seed {args.seed}")
    print(f"  ideal accuracy   {summary['accuracy_ideal']:.2%}")
    print(
        f"  run key          {summary['run_key']} ({summary['points_reused']} point(s) "
        f"reused, {summary['points_computed']} computed)"
    )
    for s, rows in summary["sweeps"].items():
        key = _X[s][0]
        pts = ", ".join(f"{format_value(r[key])}: {r['accuracy']:.1%}" for r in rows)
        print(f"  {s:<16} [{key}] {pts}")
        print(f"  {'':<16} {summary['files'][s]['csv']}")
    if "cosim_check" in summary:
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
