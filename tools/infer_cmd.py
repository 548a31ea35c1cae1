"""``oxbnn infer``: the trained digits BNN on the test split, golden model against the XPU RTL.

Each test image (the first ``--images`` of the fixed split, :func:`oxbnn.models.digits.load_split`)
goes through

* the golden model (:meth:`oxbnn.models.digits.DigitsBnn.forward_golden`, integer numpy), and
* the cycle-accurate co-simulation (:meth:`oxbnn.testbenches.cosim.Cosim.run_network`): every
  layer runs on the XPU RTL with the optical models in the loop (``--optics``), and the host
  feeds each layer's output to the next: an image's three layers are one dependent chain
  through the XPU's descriptor queue (each layer's weights and thresholds load while the one
  before computes). All images go through one simulator run, with ``--sim`` (default
  ``$SIM``, else Verilator).

The comparison itself is :func:`oxbnn.testbenches.inference.run_inference`; this module parses
the options, writes the files and prints. With ideal optics the two must agree on every image
(same prediction, same integer logits); otherwise the command exits with 1. It also exits with 1
if an image's measured cycles differ from the dependent chain's,
:func:`oxbnn.models.timing.chain_cycles` (each layer counted from its own start, the layers
summed). With physical optics the golden model stays the reference and disagreements are
reported, not failed.

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
``adc_clip_events``, ``waves_files``, ``preset``, ``optics``, ``seed``, ``simulator``, ``xpu``,
``params_file``, ``training_record``, ``versions``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

from ..models.atomic import save_npz, write_text
from ..models.digits import TEST_IMAGES, check_test_images
from .options import add_json, add_out, add_preset, add_seed, add_sim, run_name
from .versions import COSIM_PACKAGES, tool_versions

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "infer",
        help="classify the digits test split on the golden model and on the XPU co-simulation",
        description="Run the trained digits BNN on the first N test images through the golden "
        "model and through the cycle-accurate co-simulation (every layer on the XPU RTL, the "
        "host feeding each output to the next layer); compare accuracy, predictions and "
        "integer logits, and report cycles, simulated time and wall time.",
    )
    add_preset(p)
    p.add_argument(
        "--images",
        type=images_arg,
        default=TEST_IMAGES,
        metavar="N",
        help=f"first N images of the test split (1..{TEST_IMAGES}; default all)",
    )
    p.add_argument("--optics", choices=["ideal", "physical"], default="ideal")
    add_seed(p)
    p.add_argument(
        "--params",
        type=Path,
        default=None,
        help="digits parameter file (.npz; default: the shipped models/digits_params.npz)",
    )
    add_sim(p)
    p.add_argument(
        "--name",
        type=run_name,
        default=None,
        help="run name, a folder under --out (default: from preset, optics, seed)",
    )
    add_out(p, "infer")
    p.add_argument(
        "--waves",
        action="store_true",
        default=os.environ.get("WAVES") == "1",
        help="also write port VCDs (+ GTKWave files) of the first image's layers "
        "(default: on when WAVES=1)",
    )
    add_json(p)
    p.set_defaults(func=run)


def images_arg(text: str) -> int:
    """argparse ``type=`` of ``--images``: the rule of
    :func:`~oxbnn.models.digits.check_test_images` (1 .. the test split's size), while parsing."""
    stripped = text.strip()
    value: object = int(stripped) if re.fullmatch(r"[+-]?[0-9]{1,30}", stripped) else text
    try:
        return check_test_images(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    from ..testbenches.inference import run_inference

    name = (
        args.name or f"digits-{Path(args.preset).stem}-{args.optics}-seed{args.seed}-n{args.images}"
    )
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
    save_npz(out / "logits.npz", **arrays)
    report["versions"] = tool_versions((*COSIM_PACKAGES, "scikit-learn"), simulator=args.sim)
    report["name"] = name
    report["logits_file"] = str(out / "logits.npz")
    report["report_file"] = str(out / "report.json")
    write_text(out / "report.json", json.dumps(report, indent=2))

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
            f"{args.optics} optics, {args.sim}"
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
