"""``oxbnn infer``: the trained digits BNN on the test split, golden model against the XPU RTL.

Each test image (the first ``--images`` of the fixed split, :func:`oxbnn.models.digits.load_split`)
goes through

* the golden model (:meth:`oxbnn.models.digits.DigitsBnn.forward_golden`, integer numpy), and
* the cycle-accurate co-simulation (:meth:`oxbnn.testbenches.cosim.Cosim.run_network`): every
  layer runs on the XPU RTL with the optical models in the loop (``--optics``), and the host
  feeds each layer's output to the next. All images go through one simulator run.

With ideal optics the two must agree on every image (same prediction, same integer logits);
otherwise the command exits with 1. It also exits with 1 if an image's measured cycles differ from
:func:`oxbnn.models.timing.layer_cycles` summed over the layers. With physical optics the golden
model stays the reference and disagreements are reported, not failed.

The report goes to ``<out>/<name>/report.json`` (``--json`` also prints it), beside
``logits.npz`` (golden and simulated logits, labels, test-split indices). With ``--waves`` (or
``WAVES=1`` in the environment) the first image's three layers are run once more, each alone on
its golden input, with the XPU's ports traced to ``waves_<layer>.vcd`` + ``.gtkw`` there (the
whole-network run itself is not traced). Report fields, SI units
in the names where they have one: ``images``, ``accuracy_golden``, ``accuracy_simulated``,
``agreement`` (fraction of images whose prediction *and* logits are identical),
``agreement_count``, ``prediction_agreement`` (predictions only), ``mismatched_images``
(test-split positions), ``cycles`` (all images), ``cycles_per_image``, ``cycles_predicted`` (all
images, from the cycle model), ``cycles_per_image_predicted``, ``cycles_per_layer``,
``clock_hz``, ``simulated_time_s``, ``simulated_time_per_image_s``, ``wall_s`` (the whole
simulator run, start-up included), ``wall_per_image_s``, ``simulation_wall_s`` (inside the
simulator, per-layer loops only), ``build_s``, ``readouts``, ``saturation_events``,
``adc_clip_events``, ``waves_files``, ``preset``, ``optics``, ``seed``, ``xpu``, ``params_file``,
``training_record``, ``versions``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from ..models.bnn import layer_forward
from ..models.configs import load_preset, preset_names
from ..models.derive import xpu_params
from ..models.digits import DEFAULT_PARAMS, load_params, load_split, predict
from ..models.timing import layer_cycles
from .versions import COSIM_PACKAGES, tool_versions

__all__ = ["InferError", "register", "run", "run_inference"]

#: Images in the test split of :func:`oxbnn.models.digits.load_split`.
TEST_IMAGES = 360


class InferError(ValueError):
    """A bad argument of ``oxbnn infer`` (image count out of range, ...)."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "infer",
        help="classify the digits test split on the golden model and on the XPU co-simulation",
        description="Run the trained digits BNN on the first N test images through the golden "
        "model and through the cycle-accurate co-simulation (every layer on the XPU RTL, the "
        "host feeding each output to the next layer); compare accuracy, predictions and "
        "integer logits, and report cycles, simulated time and wall time.",
    )
    p.add_argument(
        "--preset", required=True, help=f"preset ({', '.join(preset_names())}) or a .toml path"
    )
    p.add_argument(
        "--images",
        type=int,
        default=TEST_IMAGES,
        help=f"first N images of the test split (1..{TEST_IMAGES}; default all)",
    )
    p.add_argument("--optics", choices=["ideal", "physical"], default="ideal")
    p.add_argument("--seed", type=int, default=1, help="seed of the optical noise (physical)")
    p.add_argument(
        "--params",
        type=Path,
        default=None,
        help="digits parameter file (.npz; default: the shipped models/digits_params.npz)",
    )
    p.add_argument("--sim", choices=["verilator", "icarus"], default="verilator")
    p.add_argument("--name", default=None, help="run name (default: from preset, optics, seed)")
    p.add_argument("--out", type=Path, default=Path("build/infer"))
    p.add_argument(
        "--waves",
        action="store_true",
        default=os.environ.get("WAVES") == "1",
        help="also write port VCDs (+ GTKWave files) of the first image's layers "
        "(default: on when WAVES=1)",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=run)


def check_images(images: int) -> int:
    """``images`` if it is a valid count of test images, else :class:`InferError`."""
    if isinstance(images, bool) or not isinstance(images, int):
        raise InferError(f"--images must be an integer, not {images!r}")
    if not 1 <= images <= TEST_IMAGES:
        raise InferError(
            f"--images must be in 1..{TEST_IMAGES} (the test split has {TEST_IMAGES} images), "
            f"not {images}"
        )
    return images


def run_inference(
    *,
    preset: str,
    images: int = TEST_IMAGES,
    optics: str = "ideal",
    seed: int = 1,
    params: Path | None = None,
    sim: str = "verilator",
    progress: bool = True,
    waves: Path | None = None,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Run the comparison; returns the report (without file paths) and the logit arrays.

    Every input is checked before the simulator starts. With ``waves`` (a ``.vcd`` path) the
    first image's three layers are run once more, each alone on its golden input, with their
    ports traced to ``<stem>_<layer>.vcd`` (whole-network runs are not traced).
    """
    from ..testbenches.cosim import Cosim
    from ..testbenches.pysim_harness import LayerRun

    images = check_images(images)
    net = load_params(params)
    phys = load_preset(preset)
    xpu = xpu_params(phys)
    split = load_split()
    labels = split.test_labels[:images]
    bits = net.binarize(split.test_images[:images])
    per_layer_predicted = [layer_cycles(spec, xpu).total for spec in net.layers]
    per_image_predicted = sum(per_layer_predicted)

    golden = net.forward_golden(bits)
    layers = list(zip(net.layers, net.weights, net.thresholds, net.flips, strict=True))
    cosim = Cosim(xpu, sim=sim)
    if progress:
        print(
            f"oxbnn infer: building the {xpu.n_xpes} x {xpu.n_lanes} XPU with {sim} "
            f"(cached after the first time)...",
            file=sys.stderr,
        )
    build_s = cosim.build()
    if progress:
        print(
            f"oxbnn infer: {images} images x {per_image_predicted} predicted cycles through "
            f"the co-simulation ({optics} optics)...",
            file=sys.stderr,
        )
    t0 = time.perf_counter()
    results = cosim.run_network(
        layers,
        list(bits),
        optics=optics,
        preset=phys,
        seed=seed,
        progress_total=images * per_image_predicted if progress else None,
    )
    wall = time.perf_counter() - t0
    simulated = np.stack([np.asarray(r["output"]).reshape(-1) for r in results]).astype(np.int64)
    if simulated.shape != golden.shape:
        raise RuntimeError(
            f"the co-simulation returned logits {simulated.shape}, not {golden.shape}"
        )

    waves_files: list[str] = []
    if waves is not None:
        waves.parent.mkdir(parents=True, exist_ok=True)
        act: np.ndarray = bits[0]
        runs = []
        for i, (spec, w, t, f) in enumerate(layers):
            act = act.reshape(1, 1, -1) if spec.kind == "fc" else act
            runs.append(LayerRun(spec, act, w, t, f, name=f"image0-layer{i}"))
            act = layer_forward(act, w, t, spec, f)
        traced = cosim.run(
            runs, optics=optics, preset=phys, seed=seed, waves=waves, waves_window=(0, 20_000)
        )
        waves_files = [r["waves"] for r in traced]

    pred_golden = predict(golden)
    pred_sim = predict(simulated)
    same_logits = np.all(simulated == golden, axis=1)
    same = same_logits & (pred_sim == pred_golden)
    cycles_each = np.asarray([r["cycles"] for r in results], dtype=np.int64)
    cycles_layers = np.asarray(
        [[layer["cycles"] for layer in r["layers"]] for r in results], dtype=np.int64
    )
    cycles = int(cycles_each.sum())
    report: dict[str, Any] = {
        "preset": xpu.name,
        "preset_file": str(phys.path),
        "optics": optics,
        "seed": seed,
        "simulator": sim,
        "images": images,
        "accuracy_golden": float(np.mean(pred_golden == labels)),
        "accuracy_simulated": float(np.mean(pred_sim == labels)),
        "correct_golden": int(np.sum(pred_golden == labels)),
        "correct_simulated": int(np.sum(pred_sim == labels)),
        "agreement": float(np.mean(same)),
        "agreement_count": int(np.sum(same)),
        "prediction_agreement": float(np.mean(pred_sim == pred_golden)),
        "mismatched_images": [int(i) for i in np.flatnonzero(~same)],
        "cycles": cycles,
        "cycles_per_image": cycles / images,
        "cycles_predicted": images * per_image_predicted,
        "cycles_per_image_predicted": per_image_predicted,
        "cycles_match": bool(np.all(cycles_each == per_image_predicted)),
        "cycles_per_layer": {
            name: {"measured_per_image": float(cycles_layers[:, i].mean()), "predicted": pred}
            for i, (name, pred) in enumerate(
                zip(("conv", "fc", "out"), per_layer_predicted, strict=True)
            )
        },
        "clock_hz": xpu.clock_hz,
        "simulated_time_s": cycles / xpu.clock_hz,
        "simulated_time_per_image_s": cycles / images / xpu.clock_hz,
        "wall_s": wall,
        "wall_per_image_s": wall / images,
        "simulation_wall_s": float(sum(r["wall_s"] for r in results)),
        "build_s": build_s,
        "readouts": int(sum(layer["readouts"] for r in results for layer in r["layers"])),
        "saturation_events": int(
            sum(layer["saturation_events"] for r in results for layer in r["layers"])
        ),
        "adc_clip_events": int(sum(layer["clip_events"] for r in results for layer in r["layers"])),
        "waves_files": waves_files,
        "xpu": {
            "n_lanes": xpu.n_lanes,
            "n_xpes": xpu.n_xpes,
            "gamma": xpu.gamma,
            "adc_bits": xpu.adc_bits,
            "adc_latency": xpu.adc_latency,
        },
        "params_file": str(params if params is not None else DEFAULT_PARAMS),
        "training_record": None if net.record is None else asdict(net.record),
        "versions": tool_versions((*COSIM_PACKAGES, "scikit-learn"), simulator=sim),
    }
    arrays = {
        "logits_golden": golden,
        "logits_simulated": simulated,
        "labels": labels,
        "test_index": split.test_index[:images],
    }
    return report, arrays


def run(args: argparse.Namespace) -> int:
    check_images(args.images)
    name = args.name or f"digits-{Path(args.preset).stem}-{args.optics}-s{args.seed}-n{args.images}"
    out = args.out / name
    report, arrays = run_inference(
        preset=args.preset,
        images=args.images,
        optics=args.optics,
        seed=args.seed,
        params=args.params,
        sim=args.sim,
        waves=out / "waves.vcd" if args.waves else None,
    )
    out.mkdir(parents=True, exist_ok=True)
    np.savez(out / "logits.npz", **arrays)
    report["name"] = name
    report["logits_file"] = str(out / "logits.npz")
    report["report_file"] = str(out / "report.json")
    (out / "report.json").write_text(json.dumps(report, indent=2))

    if args.json:
        print(json.dumps(report, indent=2))
    else:
        n = report["images"]
        x = report["xpu"]
        print(f"oxbnn infer: {name}")
        print(
            f"  network          digits BNN (conv 3x3x3->32 + pool, fc 512->32, fc 32->10), "
            f"{n} test images"
        )
        print(
            f"  XPU              {report['preset']}: N = {x['n_lanes']}, M = {x['n_xpes']}, "
            f"gamma = {x['gamma']}, clock {report['clock_hz'] / 1e9:g} GHz; "
            f"{args.optics} optics"
        )
        print(
            f"  accuracy         golden {report['accuracy_golden']:.2%} "
            f"({report['correct_golden']}/{n}), simulated {report['accuracy_simulated']:.2%} "
            f"({report['correct_simulated']}/{n})"
        )
        print(
            f"  agreement        {report['agreement_count']}/{n} images with identical "
            f"predictions and logits ({report['agreement']:.2%})"
        )
        print(
            f"  cycles           {report['cycles']} total, {report['cycles_per_image']:.0f} per "
            f"image ({report['cycles_per_image_predicted']} predicted: "
            f"{'equal' if report['cycles_match'] else 'DIFFERENT'})"
        )
        print(
            f"  simulated time   {report['simulated_time_s'] * 1e6:.3f} us "
            f"({report['simulated_time_per_image_s'] * 1e9:.1f} ns per image)"
        )
        print(
            f"  wall time        {report['wall_s']:.1f} s ({report['wall_per_image_s']:.3f} s "
            f"per image; build {report['build_s']:.1f} s)"
        )
        print(f"  report           {out / 'report.json'}")
        for path in report["waves_files"]:
            print(f"  waves            {path} (+ {Path(path).with_suffix('.gtkw').name})")
    status = 0
    if args.optics == "ideal" and report["agreement_count"] != report["images"]:
        print(
            f"oxbnn infer: error: with ideal optics the co-simulation must equal the golden "
            f"model; images {report['mismatched_images']} differ",
            file=sys.stderr,
        )
        status = 1
    if not report["cycles_match"]:
        print(
            "oxbnn infer: error: measured cycles differ from models/timing "
            f"({report['cycles_per_image']:.1f} per image vs "
            f"{report['cycles_per_image_predicted']})",
            file=sys.stderr,
        )
        status = 1
    return status
