"""Tests of the digits BNN (models/digits.py) and its trainer (models/training.py).

The shipped parameters must reproduce their recorded accuracy on the golden model; the batch-norm
fold must equal the float decision on every integer dot; bad parameter files give named errors;
training is deterministic.
"""

from __future__ import annotations

import numpy as np
import pytest

from oxbnn.models.bnn import threshold
from oxbnn.models.digits import (
    DEFAULT_PARAMS,
    LAYERS,
    DigitsBnn,
    DigitsError,
    DigitsParamsError,
    DigitsParamsFileNotFound,
    binarize,
    load_params,
    load_split,
    predict,
    save_params,
    split_indices,
)
from oxbnn.models.network import flatten
from oxbnn.models.training import bn_bit_float, fold_batchnorm, forward_vectorised, train


@pytest.fixture(scope="module")
def split():
    return load_split()


@pytest.fixture(scope="module")
def net():
    return load_params()


# ----------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------


def test_split_is_fixed_stratified_and_disjoint(split):
    assert split.train_labels.size == 1437 and split.test_labels.size == 360
    assert not set(split.train_index) & set(split.test_index)
    assert sorted([*split.train_index, *split.test_index]) == list(range(1797))
    # Every class gives floor or ceil of a fifth of its images to the test split.
    labels = np.empty(1797, np.int64)
    labels[split.train_index] = split.train_labels
    labels[split.test_index] = split.test_labels
    per_class = np.bincount(labels, minlength=10)
    test_per_class = np.bincount(split.test_labels, minlength=10)
    assert np.all(test_per_class >= per_class // 5)
    assert np.all(test_per_class <= -(-per_class // 5))
    again_train, again_test = split_indices(labels, split.seed)
    assert np.array_equal(again_train, split.train_index)
    assert np.array_equal(again_test, split.test_index)


def test_binarize_is_a_thermometer_code():
    image = np.zeros((8, 8), np.uint8)
    image[0, :8] = [0, 3, 4, 7, 8, 11, 12, 16]
    bits = binarize(image)
    assert bits.shape == (8, 8, 3) and bits.dtype == np.uint8
    # Levels (4, 8, 12): bit k is pixel >= level k.
    expected = [[0, 0, 0], [0, 0, 0], [1, 0, 0], [1, 0, 0], [1, 1, 0], [1, 1, 0], [1, 1, 1]]
    assert bits[0, :7].tolist() == expected
    assert bits[0, 7].tolist() == [1, 1, 1]
    with pytest.raises(ValueError, match="0..16"):
        binarize(np.full((8, 8), 17))


def test_flatten_order_is_y_x_c():
    bits = np.arange(2 * 3 * 4).reshape(2, 3, 4)
    # Element (y, x, c) lands at (y * W + x) * C + c.
    assert flatten(bits)[(1 * 3 + 2) * 4 + 3] == bits[1, 2, 3]


def test_predict_breaks_ties_to_the_lowest_index():
    assert predict(np.array([[3, 7, 7, -1], [0, 0, 0, 0]])).tolist() == [1, 0]


# ----------------------------------------------------------------------------------------------
# The shipped parameters
# ----------------------------------------------------------------------------------------------


def test_layers_are_what_the_xpu_runs():
    assert [(s.kind, s.k, s.out_channels, s.output, s.pool) for s in LAYERS] == [
        ("conv", 27, 32, "bit", True),
        ("fc", 512, 32, "bit", False),
        ("fc", 32, 10, "int", False),
    ]
    assert LAYERS[0].final_shape == (4, 4, 32)


def test_shipped_parameters_reproduce_the_recorded_accuracy(net, split):
    record = net.record
    assert record.split_seed == split.seed
    assert record.test_images == split.test_labels.size
    logits = net.forward_golden(net.binarize(split.test_images))
    assert logits.shape == (360, 10) and logits.dtype == np.int64
    correct = int(np.sum(predict(logits) == split.test_labels))
    assert correct == record.test_correct
    assert record.test_accuracy == correct / record.test_images
    assert record.test_accuracy >= 0.85
    train_logits = net.forward_golden(net.binarize(split.train_images))
    assert int(np.sum(predict(train_logits) == split.train_labels)) == record.train_correct
    # The trainer's vectorised forward pass agrees logit for logit.
    assert np.array_equal(forward_vectorised(net, net.binarize(split.test_images)), logits)


def test_shipped_parameters_use_both_comparisons(net):
    for t, f, spec in zip(net.thresholds[:2], net.flips[:2], LAYERS, strict=False):
        assert f.any() and not f.all()
        assert np.all(np.abs(t) <= spec.k + 1)


def test_forward_golden_of_one_image_equals_the_batch(net, split):
    bits = net.binarize(split.test_images[:3])
    assert np.array_equal(net.forward_golden(bits[1]), net.forward_golden(bits)[1])
    with pytest.raises(DigitsError, match="images_bits has shape"):
        net.forward_golden(bits[:, :4])


# ----------------------------------------------------------------------------------------------
# Batch-norm folding
# ----------------------------------------------------------------------------------------------


def test_fold_by_hand():
    # t = mean - beta * sigma / gamma = 3 - 1 * 4 / gamma.
    thr, flip = fold_batchnorm(
        [2.0, -2.0, 0.0, 0.0], [1.0, 1.0, 1.0, -1.0], [3.0] * 4, [4.0] * 4, 9
    )
    # gamma = 2: dot >= 1. gamma = -2: t = 5, dot <= 5. gamma = 0: constant 1 (beta >= 0) or 0.
    assert thr.tolist() == [1, 5, -9, 10]
    assert flip.tolist() == [False, True, False, False]


def brute_force_check(gamma, beta, mean, sigma, k):
    thr, flip = fold_batchnorm(gamma, beta, mean, sigma, k)
    assert thr.dtype == np.int64 and flip.dtype == np.bool_
    assert np.array_equal(flip, np.asarray(gamma) < 0)
    dots = np.arange(-k, k + 1)[:, np.newaxis]
    expected = bn_bit_float(dots, gamma, beta, mean, sigma)
    got = threshold(np.broadcast_to(dots, expected.shape), thr, flip)
    bad = np.argwhere(got != expected)
    assert bad.size == 0, f"dot {bad[0][0] - k} of channel {bad[0][1]} differs"


@pytest.mark.parametrize("seed", range(6))
def test_fold_equals_the_float_decision_on_every_dot(seed):
    rng = np.random.default_rng(seed)
    print(f"seed {seed}")
    for k in (1, 2, 27, 512):
        c = 64
        gamma = rng.normal(0, 1, c) * rng.choice([1e-9, 1e-3, 1.0, 10.0], c)
        gamma[:4] = [0.0, -0.0, 1e-300, -1e-300]
        beta = rng.normal(0, 2, c)
        mean = rng.normal(0, k / 3, c)
        sigma = np.sqrt(rng.uniform(0, k, c) + 1e-5)
        brute_force_check(gamma, beta, mean, sigma, k)


@pytest.mark.parametrize("seed", range(4))
def test_fold_at_exact_and_nearly_exact_boundaries(seed):
    # Choose beta so that t = mean - beta * sigma / gamma lands on, or an ulp beside, an integer:
    # the closed-form ceil/floor alone can be off by one there.
    rng = np.random.default_rng(100 + seed)
    print(f"seed {seed}")
    k, c = 27, 256
    gamma = rng.choice([-1.0, 1.0], c) * rng.uniform(0.1, 3.0, c)
    mean = rng.uniform(-5, 5, c)
    sigma = rng.uniform(0.5, 5.0, c)
    target = rng.integers(-k, k + 1, c).astype(np.float64)
    beta = (mean - target) * gamma / sigma
    beta = beta + rng.choice([-1, 0, 1], c) * np.spacing(np.abs(beta) + 1e-300)
    brute_force_check(gamma, beta, mean, sigma, k)
    # The cases bite: on some channels the closed form alone would be off by one.
    thr, _ = fold_batchnorm(gamma, beta, mean, sigma, k)
    t = mean - beta * sigma / gamma
    naive = np.where(gamma > 0, np.ceil(t), np.floor(t)).astype(np.int64)
    assert np.any(naive != thr)


def test_fold_rejects_bad_arguments():
    with pytest.raises(ValueError, match="sigma must be positive"):
        fold_batchnorm([1.0], [0.0], [0.0], [0.0], 3)
    with pytest.raises(ValueError, match="finite"):
        fold_batchnorm([np.nan], [0.0], [0.0], [1.0], 3)
    with pytest.raises(ValueError, match="k must be"):
        fold_batchnorm([1.0], [0.0], [0.0], [1.0], 0)


# ----------------------------------------------------------------------------------------------
# Parameter files: round trip and named errors
# ----------------------------------------------------------------------------------------------


def test_save_is_deterministic_and_round_trips(net, tmp_path):
    a = save_params(net, tmp_path / "a.npz")
    b = save_params(net, tmp_path / "sub" / "b.npz")
    assert a.read_bytes() == b.read_bytes()
    back = load_params(a)
    assert back.record == net.record
    for x, y in zip(back.weights + back.thresholds, net.weights + net.thresholds, strict=True):
        assert (x is None and y is None) or np.array_equal(x, y)
    assert DEFAULT_PARAMS.stat().st_size < 16_000


def test_missing_file_is_a_named_error(tmp_path):
    missing = tmp_path / "nope.npz"
    with pytest.raises(DigitsParamsFileNotFound, match="does not exist") as info:
        load_params(missing)
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, ValueError)
    assert str(missing) in str(info.value)


def write(path, arrays):
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda a: a.pop("fc_thresholds"), "missing key.*fc_thresholds"),
        (lambda a: a.update(extra=np.zeros(1)), "unknown key.*extra"),
        (lambda a: a.update(conv_weights=a["conv_weights"][:, :2]), "conv_weights has shape"),
        (lambda a: a.update(fc_weights=a["fc_weights"].reshape(32, 512)), "fc_weights has shape"),
        (lambda a: a.update(out_weights=a["out_weights"].astype(np.int64)), "out_weights.*dtype"),
        (lambda a: a.update(conv_weights=a["conv_weights"] * 2), "conv_weights holds 2"),
        (lambda a: a.update(fc_flip=a["fc_flip"].astype(np.uint8)), "fc_flip has dtype"),
        (lambda a: a.update(conv_thresholds=a["conv_thresholds"][:5]), "conv_thresholds.*shape"),
        (lambda a: a.update(input_levels=np.array([8, 4, 12])), "input_levels"),
        (lambda a: a.update(test_correct=np.array([1, 2])), "test_correct has shape"),
        (lambda a: a.update(test_correct=a["test_correct"] - 1), "test_accuracy = .* is not"),
    ],
    ids=[
        "missing-key",
        "unknown-key",
        "conv-shape",
        "fc-2d",
        "weights-dtype",
        "not-bits",
        "flip-dtype",
        "thresholds-shape",
        "levels",
        "record-shape",
        "record-inconsistent",
    ],
)
def test_malformed_files_are_named_errors(net, tmp_path, change, match):
    arrays = net.to_arrays()
    change(arrays)
    path = write(tmp_path / "bad.npz", arrays)
    with pytest.raises(DigitsParamsError, match=match) as info:
        load_params(path)
    assert str(path) in str(info.value)


def test_not_an_npz_is_a_named_error(tmp_path):
    path = tmp_path / "junk.npz"
    path.write_bytes(b"not a zip file")
    with pytest.raises(DigitsParamsError, match="not a readable .npz"):
        load_params(path)


def test_constructing_with_wrong_shapes_is_a_named_error(net):
    weights = (net.weights[0][:16], *net.weights[1:])
    with pytest.raises(DigitsParamsError, match="conv_weights has shape"):
        DigitsBnn(weights=weights, thresholds=net.thresholds, flips=net.flips)
    with pytest.raises(DigitsParamsError, match="output 'int'"):
        DigitsBnn(
            weights=net.weights,
            thresholds=(*net.thresholds[:2], np.zeros(10, np.int64)),
            flips=net.flips,
        )


# ----------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------


def test_training_smoke_is_deterministic(split, tmp_path):
    runs = [train(seed=7, epochs=2, train_limit=96, split=split, log=None) for _ in range(2)]
    (first, history), (second, _) = runs
    assert len(history) == 2 and all(np.isfinite(h.loss) for h in history)
    for x, y in zip(
        first.weights + first.thresholds + first.flips,
        second.weights + second.thresholds + second.flips,
        strict=True,
    ):
        assert (x is None and y is None) or np.array_equal(x, y)
    assert first.record == second.record
    assert first.record.command.endswith("--seed 7 --epochs 2 --train-limit 96")
    assert first.record.train_images == 96 and first.record.test_images == 360
    a = save_params(first, tmp_path / "a.npz")
    b = save_params(second, tmp_path / "b.npz")
    assert a.read_bytes() == b.read_bytes()
    # The trained file loads, and its record matches the golden model.
    back = load_params(a)
    logits = back.forward_golden(back.binarize(split.test_images))
    assert int(np.sum(predict(logits) == split.test_labels)) == back.record.test_correct


def test_training_rejects_bad_arguments(split):
    with pytest.raises(ValueError, match="epochs"):
        train(epochs=0, split=split, log=None)
    with pytest.raises(ValueError, match="train_limit"):
        train(epochs=1, train_limit=1, split=split, log=None)
