"""The digits BNN on the co-simulation: ``oxbnn infer``'s comparison and the sweep's check.

Both drive :class:`oxbnn.testbenches.cosim.Cosim` (every layer on the XPU RTL with the optical
models in the loop, the host feeding each layer's output to the next) and compare it with the
models; the commands (:mod:`oxbnn.tools.infer_cmd`, :mod:`oxbnn.tools.sweep_cmd`) only parse
options, write files and print.

:func:`run_inference`
    The first ``images`` test images (:func:`oxbnn.models.digits.load_split`) through the golden
    model (:meth:`oxbnn.models.digits.DigitsBnn.forward_golden`) and through the co-simulation
    (:meth:`~oxbnn.testbenches.cosim.Cosim.run_network`, all images in one simulator run); the
    report's fields are listed in :mod:`oxbnn.tools.infer_cmd`.

:func:`check_cosim`
    The fast path (:func:`oxbnn.models.accuracy.forward_optical`) against the co-simulation with
    physical optics at a few laser attenuations, on the same preset overrides:

    * **network**: accuracy, predictions and logits of both. At nominal (0 dB) both must give
      the golden logits on every image. Elsewhere the noise draws differ, so logits need not
      match; the two accuracies must agree within ``max(3 sigma, 1 / n)``, sigma the binomial
      standard error of their difference over ``n`` images;
    * **readouts** (the tight test): every layer is also run alone on its golden input
      (:func:`oxbnn.models.network.golden_inputs`), once with ideal and once with physical
      optics, so each ADC code of the RTL run has its popcount. Per layer, the mean and standard
      deviation of ``code - popcount`` over the readouts with a non-zero popcount must agree
      between the fast path and the co-simulation within :data:`CHECK_SIGMAS` (4) standard
      errors plus :data:`CHECK_SLACK_LSB` (0.02 LSB).

    The spacing and noise-scale knobs of the sweeps cannot be checked this way: the
    co-simulation's optical bridge builds its link at the preset's spacing and draws unscaled
    noise.

Every input is checked before a simulator starts.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from ..models.accuracy import OpticalPoint, forward_optical, layer_readouts
from ..models.configs import Preset, XpuParams, load_preset
from ..models.derive import xpu_params
from ..models.digits import (
    DEFAULT_PARAMS,
    TEST_IMAGES,
    DigitsBnn,
    check_test_images,
    load_params,
    load_split,
    predict,
)
from ..models.network import golden_inputs
from ..models.sweep import attenuated
from ..models.timing import chain_cycles, layer_cycles

__all__ = ["CHECK_SIGMAS", "CHECK_SLACK_LSB", "check_cosim", "run_inference"]

#: Readout-statistics tolerance of :func:`check_cosim`: standard errors, plus LSB.
CHECK_SIGMAS = 4.0
CHECK_SLACK_LSB = 0.02


# ----------------------------------------------------------------------------------------------
# oxbnn infer
# ----------------------------------------------------------------------------------------------


def run_inference(
    *,
    preset: str | Preset,
    images: int = TEST_IMAGES,
    optics: str = "ideal",
    seed: int = 1,
    params: Path | None = None,
    sim: str | None = None,
    progress: bool = True,
    waves: Path | None = None,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Run the comparison; returns the report (without file paths and tool versions) and the
    logit arrays.

    Every input is checked before the simulator starts. ``sim`` is passed to
    :class:`~oxbnn.testbenches.cosim.Cosim` (``None``: its default). With ``waves`` (a ``.vcd``
    path) the first image's layers are run once more, each alone on its golden input, with
    their ports traced to ``<stem>_<layer>.vcd`` (whole-network runs are not traced).
    """
    from .cosim import Cosim
    from .stimulus import LayerRun

    images = check_test_images(images, "images")
    net = load_params(params)
    phys = load_preset(preset) if not isinstance(preset, Preset) else preset
    xpu = xpu_params(phys)
    split = load_split()
    labels = split.test_labels[:images]
    bits = net.binarize(split.test_images[:images])
    # Each image's layers are one dependent chain through the descriptor queue.
    plans = [layer_cycles(spec, xpu).plan for spec in net.layers]
    per_layer_predicted = [b.total for b in chain_cycles(plans, dependent=True).layers]
    per_image_predicted = sum(per_layer_predicted)

    golden = net.forward_golden(bits)
    cosim = Cosim(xpu, sim=sim)
    if progress:
        print(
            f"oxbnn infer: building the {xpu.n_xpes} x {xpu.n_lanes} XPU with {cosim.sim} "
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
        list(net.network),
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
        runs = [
            LayerRun(spec, act, w, t, f, name=f"image0-layer{i}")
            for i, ((spec, w, t, f), act) in enumerate(
                zip(net.network, golden_inputs(net.network, bits[0]), strict=True)
            )
        ]
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
        "simulator": cosim.sim,
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
    }
    arrays = {
        "logits_golden": golden,
        "logits_simulated": simulated,
        "labels": labels,
        "test_index": split.test_index[:images],
    }
    return report, arrays


# ----------------------------------------------------------------------------------------------
# The fast path against the co-simulation
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


def check_cosim(
    net: DigitsBnn,
    preset: Preset,
    xpu: XpuParams,
    bits: np.ndarray,
    labels: np.ndarray,
    attenuations_dB: Sequence[float],
    seed: int,
    log: Callable[[str], None] = print,
    sim: str | None = None,
) -> dict[str, Any]:
    """Compare the fast path with the co-simulation (criteria in the module docstring).

    ``attenuations_dB`` are the laser attenuations (dB below ``preset``'s power) of the points;
    ``sim`` is passed to :class:`~oxbnn.testbenches.cosim.Cosim` (``None``: its default).
    """
    from .cosim import Cosim
    from .stimulus import LayerRun

    n = len(bits)
    golden = net.forward_golden(bits)
    layers = net.network
    cosim = Cosim(xpu, sim=sim)
    cosim.build()
    runs = []
    inputs = [golden_inputs(layers, image) for image in bits]
    for i in range(n):
        for li, (spec, w, t, f) in enumerate(layers):
            runs.append(LayerRun(spec, inputs[i][li], w, t, f, name=f"image{i}-layer{li}"))
    log(f"  check: {n} images x {len(layers)} layers with ideal optics (popcount reference)")
    ideal_res = cosim.run(runs, optics="ideal", preset=preset, seed=seed)
    points = []
    for db in attenuations_dB:
        p = attenuated(preset, float(db))
        point = OpticalPoint(p)
        where = "nominal" if float(db) == 0.0 else f"laser {db:g} dB down"
        log(f"  check: {where}: co-simulation of the network and of each layer alone...")
        net_res = cosim.run_network(
            list(layers), list(bits), optics="physical", preset=p, seed=seed
        )
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
