"""Tests of the fast path (models/accuracy.py), the sweeps (models/sweep.py), ``oxbnn
accuracy-sweep`` (tools/sweep_cmd.py) and its co-simulation check (testbenches/inference.py).
Resuming interrupted sweeps, the sweep CSV's bad contents and the command's bad options are
tests/test_sweep_resume.py.

With ideal optics the fast path must be the golden model, bit for bit; its readout packing must be
the XPU's (directed cases from the cycle model's micro-cases); the sweep must give the ideal
accuracy at nominal and lose accuracy as the laser starves; and the fast path must agree with the
full co-simulation at three laser powers.
"""

from __future__ import annotations

import csv
import json
import os

import numpy as np
import pytest

from oxbnn.models import bnn
from oxbnn.models.accuracy import (
    AccuracyError,
    OpticalPoint,
    ScaledNoise,
    forward_optical,
    layer_forward_optical,
    layer_readouts,
    readout_slots,
)
from oxbnn.models.configs import load_preset
from oxbnn.models.derive import xpu_params
from oxbnn.models.digits import load_params, load_split, predict
from oxbnn.models.layer import LayerSpec
from oxbnn.models.optics import DwdmLink, Effects, Pca
from oxbnn.models.sweep import SWEEPS, SweepError, evaluate_point, sweep_points
from oxbnn.testbenches.inference import check_cosim
from oxbnn.tools.cli import main

SEED = int(os.environ.get("SEED", "1"))


@pytest.fixture(scope="module")
def net():
    return load_params()


@pytest.fixture(scope="module")
def split():
    return load_split()


@pytest.fixture(scope="module")
def preset():
    return load_preset("oxbnn50")


@pytest.fixture(scope="module")
def xpu():
    return xpu_params("oxbnn50")


@pytest.fixture(scope="module")
def test_set(net, split):
    """Binarised test images, labels and golden logits of the whole test split."""
    bits = net.binarize(split.test_images)
    return bits, split.test_labels, net.forward_golden(bits)


def _small_xpu():
    """N = 4, gamma = 2, S = 1: the XPU of the cycle model's micro-cases (models/timing.py)."""
    return xpu_params("oxbnn50-s1").replace(n_lanes=4, n_xpes=2, gamma=2, adc_bits=4)


# ----------------------------------------------------------------------------------------------
# Packing
# ----------------------------------------------------------------------------------------------


def test_readout_slots_by_hand():
    xpu = _small_xpu()

    # Micro-case 6: 1 x 1 x 20, K = 20: L = 5 chunks of one word each; runs of gamma = 2.
    spec = LayerSpec(kind="conv", height=1, width=1, in_channels=20, out_channels=1)
    assert [s.tolist() for s in readout_slots(spec, xpu)] == [[0, 1], [2, 3], [4]]

    # Micro-case 3: 3 x 3 conv on C = 1, K = 9: chunks take 2, 2 and 1 issue cycles (each
    # touches 4, 4 and 1 one-bit words; three reads per cycle). Chunk 1 comes 2 cycles after
    # chunk 0, so the first readout integrates chunk 0, one dark slot, chunk 1; the second
    # chunk 2 alone.
    spec = LayerSpec(
        kind="conv", height=3, width=3, in_channels=1, out_channels=1, kernel_h=3, kernel_w=3,
        padding=1,
    )  # fmt: skip
    dark = 3
    assert [s.tolist() for s in readout_slots(spec, xpu)] == [[0, dark, 1], [2]]

    # S = 2, gamma = 3, 5 x 5 conv on C = 1 (K = 25, L = 7): chunks 0-5 touch 4 words (2
    # cycles), chunk 6 one. Beats (0, 1), (2, 3), (4, 5) take 2 cycles, (6) one: a dark cycle
    # (2 dark slots) precedes each of the first three. Chunk positions in time: 2, 3, 6, 7,
    # 10, 11, 12.
    spec = LayerSpec(
        kind="conv", height=5, width=5, in_channels=1, out_channels=1, kernel_h=5, kernel_w=5,
        padding=2,
    )  # fmt: skip
    # No reset dead slots here: the preset's ping-pong PCA (R = 6) needs gamma >= 6 at S = 2, and
    # this case is about read-bound beats.
    xpu2 = xpu.replace(symbols_per_cycle=2, gamma=3, reset_dead_slots=0)
    dark = 7
    assert [s.tolist() for s in readout_slots(spec, xpu2)] == [
        [0, 1, dark, dark, 2],
        [3, dark, dark, 4, 5],
        [6],
    ]


def test_readout_slots_of_the_digits_network(net, xpu):
    # N = 19, gamma = 14: conv K = 27 -> 2 chunks, one readout (chunk 1 needs 2 words: no gap);
    # fc K = 512 -> 27 chunks, readouts of 14 and 13; out K = 32 -> 2 chunks, one readout.
    slots = [[s.tolist() for s in readout_slots(spec, xpu)] for spec in net.layers]
    assert slots == [[[0, 1]], [list(range(14)), list(range(14, 27))], [[0, 1]]]


def test_dark_lanes_carry_nothing(xpu, preset):
    """Padding lanes (act 1, weight 0) are dark: a readout's ideal count is the XNOR popcount."""
    spec = LayerSpec.fc(5, 1)  # 5 real lanes of 19
    act = np.array([1, 0, 1, 1, 0], np.uint8)
    w = np.array([[1, 0, 0, 1, 1]], np.uint8)
    pca = OpticalPoint(preset, Effects.ideal()).pca(xpu)
    ro = layer_readouts(act, w, spec, xpu, pca)
    assert ro.ideal.ravel().tolist() == [3] and ro.codes.ravel().tolist() == [3]
    assert ro.dot.ravel().tolist() == [2 * 3 - 5]


# ----------------------------------------------------------------------------------------------
# Ideal optics = the golden model
# ----------------------------------------------------------------------------------------------


def test_fast_path_ideal_equals_golden_on_the_test_split(net, xpu, preset, test_set):
    bits, labels, golden = test_set
    run = forward_optical(net, bits, xpu, OpticalPoint(preset, Effects.ideal()))
    bad = np.flatnonzero(np.any(run.logits != golden, axis=1))
    assert bad.size == 0, f"test images {bad.tolist()} differ from the golden model"
    assert run.wrong_readouts == 0 and run.saturated == 0 and run.adc_clipped == 0
    # conv 64 x 32 x 1 + fc 32 x 2 + out 10 x 1 readouts per image.
    assert run.readouts == len(bits) * (64 * 32 + 32 * 2 + 10)
    assert np.mean(run.predictions == labels) == net.record.test_accuracy


@pytest.mark.parametrize("trial", range(6))
def test_fast_path_ideal_equals_golden_on_random_layers(trial):
    """Random layers (padding of every kind, stride 2, pooling, thin inputs with dark slots)."""
    seed = SEED * 1000 + trial
    rng = np.random.default_rng(seed)
    xpu = _small_xpu() if trial % 2 else xpu_params("oxbnn50")
    k = int(rng.choice([1, 3]))
    spec = LayerSpec(
        kind="conv",
        height=int(rng.integers(3, 8)),
        width=int(rng.integers(3, 8)),
        in_channels=int(rng.integers(1, 45)),
        out_channels=int(rng.integers(1, 9)),
        kernel_h=k,
        kernel_w=k,
        stride=int(rng.choice([1, 2])),
        padding=int(rng.integers(0, 2)) if k == 3 else 0,
        pad=str(rng.choice(["dark", "+1", "-1"])),
        output=str(rng.choice(["bit", "int"])),
    )
    if spec.output == "bit" and min(spec.out_h, spec.out_w) >= 2 and rng.random() < 0.5:
        spec = LayerSpec(**{**spec.__dict__, "pool": True})
    act, w, thr, flip = bnn.random_layer(rng, spec)
    pca = OpticalPoint(load_preset("oxbnn50"), Effects.ideal()).pca(xpu)
    out, ro = layer_forward_optical(act, w, thr, spec, xpu, pca, flip)
    gold = bnn.layer_forward(act, w, thr, spec, flip)
    assert np.array_equal(out, gold), f"seed {seed}: {spec} differs from the golden model"
    assert ro.wrong == 0, f"seed {seed}"


def test_bad_arguments_give_named_errors(net, xpu, preset):
    with pytest.raises(AccuracyError, match="noise_scale"):
        OpticalPoint(preset, noise_scale=0.0)
    with pytest.raises(AccuracyError, match="spacing_m"):
        OpticalPoint(preset, spacing_m=-1e-9)
    with pytest.raises(AccuracyError, match="images_bits has shape"):
        forward_optical(net, np.zeros((2, 8, 8), np.uint8), xpu, OpticalPoint(preset))
    with pytest.raises(AccuracyError, match="weights must be 2 x 5 bits"):
        pca = OpticalPoint(preset, Effects.ideal()).pca(xpu)
        layer_readouts(
            np.ones(5, np.uint8), np.ones((2, 4), np.uint8), LayerSpec.fc(5, 2), xpu, pca
        )
    with pytest.raises(AccuracyError, match="lanes"):
        pca = Pca(DwdmLink(preset, 7), Effects.ideal())
        layer_readouts(
            np.ones(5, np.uint8), np.ones((1, 5), np.uint8), LayerSpec.fc(5, 1), xpu, pca
        )


def test_noise_scale_multiplies_the_readout_noise(xpu, preset):
    """ScaledNoise: the analog code's spread grows by the scale (shot, RIN, kT/C; ideal levels)."""
    rng = np.random.default_rng(SEED)
    effects = Effects(shot_noise=True, reset_noise=True, rin=True)
    link = DwdmLink(preset, xpu.n_lanes)
    ones = np.ones((4000, xpu.gamma, xpu.n_lanes), np.uint8)
    _, var = Pca(link, effects, rng=rng).expected_stats(ones[0].sum(), xpu.gamma)
    for scale in (1.0, 10.0):
        pca = Pca(link, effects, rng=ScaledNoise(np.random.default_rng(SEED), scale))
        spread = pca.integrate(ones, ones).analog_codes.std()
        assert spread == pytest.approx(scale * np.sqrt(var), rel=0.1), f"scale {scale}"


# ----------------------------------------------------------------------------------------------
# Sweeps
# ----------------------------------------------------------------------------------------------


def test_every_sweep_at_nominal_equals_the_ideal_accuracy(net, xpu, preset, test_set):
    bits, labels, golden = test_set
    ideal = float(np.mean(predict(golden) == labels))
    for sweep in SWEEPS:
        nominal = sweep_points(preset, xpu, sweep, 3)[0]
        row = evaluate_point(net, bits, labels, golden, xpu, nominal.optics, SEED)
        assert row["accuracy"] == ideal == row["accuracy_ideal"], sweep
        assert row["logit_agreement"] == 1.0, f"{sweep}: nominal logits differ from golden"


def test_sweep_points_span_the_stated_ranges(xpu, preset):
    power = sweep_points(preset, xpu, "laser_power", 4)
    assert [p.columns["attenuation_dB"] for p in power] == [0.0, 10.0, 20.0, 30.0]
    assert power[0].optics.preset == preset
    spacing = sweep_points(preset, xpu, "channel_spacing", 3)
    assert spacing[0].columns["channel_spacing_nm"] == pytest.approx(
        DwdmLink(preset, xpu.n_lanes).channel_spacing_m * 1e9
    )
    assert spacing[-1].columns["spacing_over_fwhm"] == pytest.approx(1.0)
    bits = sweep_points(preset, xpu, "adc_bits", 7)
    assert [p.columns["adc_bits"] for p in bits] == [9, 8, 7, 6, 5, 4, 3]
    # gamma N = 266 counts: 8 bits (255) can clip a full readout, 9 (511) cannot.
    assert [p.columns["can_clip_full_readout"] for p in bits[:2]] == [False, True]
    with pytest.raises(SweepError, match="unknown sweep"):
        sweep_points(preset, xpu, "temperature", 3)
    with pytest.raises(SweepError, match="--points"):
        sweep_points(preset, xpu, "laser_power", 1)


def test_accuracy_falls_as_the_laser_starves(net, xpu, preset, test_set):
    bits, labels, golden = test_set
    bits, labels, golden = bits[:120], labels[:120], golden[:120]
    points = sweep_points(preset, xpu, "laser_power", 4)  # 0, 10, 20, 30 dB down
    acc = [
        evaluate_point(net, bits, labels, golden, xpu, p.optics, SEED)["accuracy"] for p in points
    ]
    assert acc[0] == np.mean(predict(golden) == labels)
    assert acc[2] < acc[0] - 0.05, f"20 dB down: {acc}"
    assert acc[3] < 0.3, f"30 dB down should be near chance: {acc}"
    assert acc[1] >= acc[2] >= acc[3], acc


def test_sweep_cli_writes_csv_and_png(tmp_path, capsys):
    rc = main(
        ["accuracy-sweep", "--images", "6", "--points", "2", "--out", str(tmp_path), "--json"]
    )
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    out = tmp_path / "oxbnn50"
    units = {
        "laser_power": "laser_power_per_wavelength_W",
        "channel_spacing": "channel_spacing_nm",
        "pca_noise": "noise_scale",
        "adc_bits": "adc_bits",
    }
    for sweep in SWEEPS:
        with open(out / f"accuracy_vs_{sweep}.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert len(rows) == 2, sweep
        assert units[sweep] in rows[0] and "accuracy" in rows[0]
        assert float(rows[0]["accuracy"]) == float(rows[0]["accuracy_ideal"]), sweep
        assert (out / f"accuracy_vs_{sweep}.png").stat().st_size > 1000
    assert (out / "accuracy_sweeps.png").exists() and (out / "summary.json").exists()
    assert summary["images"] == 6 and set(summary["sweeps"]) == set(SWEEPS)


# ----------------------------------------------------------------------------------------------
# Fast path against the co-simulation
# ----------------------------------------------------------------------------------------------


def test_fast_path_agrees_with_the_cosimulation(net, split):
    """Nominal, 15 dB and 20 dB down, 4 images: criteria in testbenches/inference.py's docstring.

    On the S = 1 idealisation of oxbnn50 (the 19 x 19 XPU whose Verilog builds in seconds; the
    S = 49 preset runs through the co-simulation in ``make sim``).
    """
    bits = net.binarize(split.test_images[:4])
    preset = load_preset("oxbnn50-s1")
    check = check_cosim(
        net,
        preset,
        xpu_params(preset),
        bits,
        split.test_labels[:4],
        [0.0, 15.0, 20.0],
        SEED,
        log=lambda _: None,
    )
    nominal, mid, starved = check["points"]
    assert nominal["logits_equal_golden_fast"] and nominal["logits_equal_golden_cosim"]
    for point in check["points"]:
        for layer in point["layers"]:
            assert layer["agree"], (
                f"seed {SEED}, {point['attenuation_dB']} dB, layer {layer['layer']}: fast "
                f"{layer['fast']} vs co-simulation {layer['cosim']}"
            )
    # The starved points are really noisy (the check compares something), on both paths.
    for layer in starved["layers"]:
        assert layer["fast"]["std_LSB"] > 1.0 and layer["cosim"]["std_LSB"] > 1.0
    assert mid["layers"][0]["cosim"]["wrong_fraction"] > 0.1
    assert check["passed"], f"seed {SEED}: {json.dumps(check['points'], indent=1)}"
