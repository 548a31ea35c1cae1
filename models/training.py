"""Train the digits BNN of :mod:`oxbnn.models.digits` in numpy and fold it to integer parameters.

The command is ``python -m oxbnn.tools.train_digits [--seed S] [--epochs E] [--out PATH]
[--train-limit N]`` (``make train-digits``); :func:`train` records that command line (how to
reproduce the file) in the :class:`~oxbnn.models.digits.TrainingRecord`.

Training (numpy only, seeded by ``--seed`` alone, so a seed reproduces the file byte for byte on
the same numpy / BLAS):

* latent real weights in ``[-1, 1]`` (clipped after every step); the forward pass uses their sign
  (``w >= 0`` is +1, bit 1) and the backward pass the straight-through estimator (the gradient of
  the sign is taken as 1 inside ``[-1, 1]``);
* each bit layer is ``dot -> batch-norm (batch statistics, learnt gamma and beta) -> sign``, with
  gamma started at random signs (so that folding yields flipped channels too) and
  the straight-through estimator ``1{|y| <= 1}`` for the sign; the conv layer max-pools the
  batch-normed values before the sign, which equals thresholding first and OR-pooling afterwards
  because the sign is monotone;
* the last layer's integer dots, times one learnt positive scale, are the softmax logits (the
  scale does not change the argmax, so the shipped logits are the integer dots);
* Adam (``lr = 0.01``, cosine decay to 0), batch 64, cross-entropy.

Folding: after training, the batch-norm statistics are replaced by the population mean and
variance of each channel's integer dot over the training split (layer by layer, each on the bits
of the already-folded layers before it), and :func:`fold_batchnorm` turns
``y = gamma * (dot - mean) / sigma + beta >= 0`` (``sigma = sqrt(var + eps)``) into an integer
threshold and a flip bit. The golden model (:mod:`oxbnn.models.bnn`) then measures the accuracy of
the folded integer network; a fast vectorised integer forward pass (:func:`forward_vectorised`) used
for the per-epoch numbers is checked against it logit for logit.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .digits import (
    LAYER_NAMES,
    LAYERS,
    DigitsBnn,
    DigitsSplit,
    TrainingRecord,
    binarize,
    load_split,
    predict,
)

__all__ = [
    "BN_EPS",
    "DEFAULT_EPOCHS",
    "DEFAULT_SEED",
    "TRAIN_COMMAND",
    "EpochLog",
    "bn_bit_float",
    "fold_batchnorm",
    "fold_network",
    "forward_vectorised",
    "train",
]

#: Added to the variance in every batch-norm, in training and in the fold.
BN_EPS = 1e-5
DEFAULT_SEED = 0
DEFAULT_EPOCHS = 60
#: The command that trains (recorded in the parameter file with its options).
TRAIN_COMMAND = "python -m oxbnn.tools.train_digits"
BATCH_SIZE = 64
LEARNING_RATE = 0.01
_ADAM_BETAS = (0.9, 0.999)
_ADAM_EPS = 1e-8

_CONV, _FC, _OUT = LAYERS
_POOLED = _CONV.final_shape  # (4, 4, 32)


# ----------------------------------------------------------------------------------------------
# Batch-norm folding
# ----------------------------------------------------------------------------------------------


def bn_bit_float(
    dot: ArrayLike, gamma: ArrayLike, beta: ArrayLike, mean: ArrayLike, sigma: ArrayLike
) -> NDArray[np.bool_]:
    """The float decision a folded threshold must reproduce: ``gamma*(dot-mean)/sigma+beta >= 0``.

    Evaluated in float64 in exactly this order; arrays broadcast with channels last.
    """
    dot = np.asarray(dot, dtype=np.float64)
    gamma, beta, mean, sigma = (np.asarray(v, dtype=np.float64) for v in (gamma, beta, mean, sigma))
    return gamma * (dot - mean) / sigma + beta >= 0


def fold_batchnorm(
    gamma: ArrayLike, beta: ArrayLike, mean: ArrayLike, sigma: ArrayLike, k: int
) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """Integer thresholds and flips equal to :func:`bn_bit_float` on every integer dot in [-k, k].

    With ``t = mean - beta * sigma / gamma``:

    * ``gamma > 0``: ``y >= 0`` iff ``dot >= t`` iff ``dot >= ceil(t)`` (dot is an integer), so
      the threshold is ``ceil(t)`` and the channel is not flipped;
    * ``gamma < 0``: dividing by ``gamma`` reverses the inequality, ``y >= 0`` iff ``dot <= t``
      iff ``dot <= floor(t)``: threshold ``floor(t)``, flipped;
    * ``gamma == 0``: ``y = beta`` is constant: threshold ``-k`` (always 1) if ``beta >= 0``,
      else ``k + 1`` (never), not flipped.

    The closed form is computed with different roundings than the float expression, so a dot
    within an ulp of ``t`` could be decided differently. Because the float expression is
    monotone in ``dot`` (every IEEE operation in it is), the threshold is then moved by single
    steps until the integer comparison agrees with :func:`bn_bit_float` on both sides of it,
    which makes the two equal on every integer. Thresholds stay in ``[-k - 1, k + 1]``.

    Parameters
    ----------
    gamma, beta, mean, sigma : float arrays, shape ``(C,)``
        ``sigma > 0`` (``sqrt(var + eps)``); all finite.
    k : int
        The vector length; dots lie in ``[-k, k]``.

    Returns
    -------
    thresholds : ndarray of int64, shape ``(C,)``
    flip : ndarray of bool, shape ``(C,)``
    """
    gamma, beta, mean, sigma = (
        np.asarray(v, dtype=np.float64).reshape(-1) for v in (gamma, beta, mean, sigma)
    )
    if not gamma.shape == beta.shape == mean.shape == sigma.shape:
        raise ValueError("gamma, beta, mean and sigma must have the same shape (C,)")
    if not all(np.all(np.isfinite(v)) for v in (gamma, beta, mean, sigma)):
        raise ValueError("gamma, beta, mean and sigma must be finite")
    if np.any(sigma <= 0):
        raise ValueError("sigma must be positive")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer, not {k!r}")

    thresholds = np.empty(gamma.size, dtype=np.int64)
    flip = gamma < 0
    for c in range(gamma.size):

        def bit(d: int, c: int = c) -> bool:
            return bool(bn_bit_float(d, gamma[c], beta[c], mean[c], sigma[c]))

        if gamma[c] == 0:
            thresholds[c] = -k if beta[c] >= 0 else k + 1
            continue
        with np.errstate(over="ignore"):
            t = mean[c] - beta[c] * sigma[c] / gamma[c]
        if gamma[c] > 0:
            # Smallest d in [-k, k] with bit(d), or k + 1 if there is none.
            thr = int(math.ceil(np.clip(t, -k - 1, k + 1)))
            thr = min(max(thr, -k), k + 1)
            while thr > -k and bit(thr - 1):
                thr -= 1
            while thr <= k and not bit(thr):
                thr += 1
        else:
            # Largest d in [-k, k] with bit(d), or -k - 1 if there is none.
            thr = int(math.floor(np.clip(t, -k - 1, k + 1)))
            thr = min(max(thr, -k - 1), k)
            while thr < k and bit(thr + 1):
                thr += 1
            while thr >= -k and not bit(thr):
                thr -= 1
        thresholds[c] = thr
    return thresholds, flip


# ----------------------------------------------------------------------------------------------
# Vectorised float / integer arithmetic of the network (+-1 domain)
# ----------------------------------------------------------------------------------------------


def _pm1(bits: ArrayLike) -> NDArray[np.float64]:
    """Bits 0/1 to -1/+1 in float64 (products and sums of these stay exact integers)."""
    return 2.0 * np.asarray(bits, dtype=np.float64) - 1.0


def _sign(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """+1 where ``x >= 0``, else -1: bit 1 iff ``x >= 0``."""
    return np.where(x >= 0, 1.0, -1.0)


def _im2col(act: NDArray[np.float64]) -> NDArray[np.float64]:
    """``(B, H, W, C)`` +-1 activations to ``(B * H * W, 9 * C)`` 3 x 3 windows, dark padding = 0.

    Row order ``(b, y, x)``, column order ``(ky, kx, c)`` with ``c`` fastest, as in
    :func:`oxbnn.models.bnn.im2col`.
    """
    b, h, w, c = act.shape
    padded = np.zeros((b, h + 2, w + 2, c))
    padded[:, 1:-1, 1:-1] = act
    windows = [padded[:, ky : ky + h, kx : kx + w] for ky in range(3) for kx in range(3)]
    return np.stack(windows, axis=3).reshape(b * h * w, 9 * c)


def _pool_windows(x: NDArray) -> NDArray:
    """``(B, 8, 8, C)`` to ``(B, 4, 4, C, 4)``: the four values of each 2 x 2 window last."""
    b, h, w, c = x.shape
    return (
        x.reshape(b, h // 2, 2, w // 2, 2, c)
        .transpose(0, 1, 3, 5, 2, 4)
        .reshape(b, h // 2, w // 2, c, 4)
    )


def _unpool_windows(x: NDArray) -> NDArray:
    """Inverse of :func:`_pool_windows`, flattened to ``(B * 8 * 8, C)``."""
    b, h2, w2, c, _ = x.shape
    return x.reshape(b, h2, w2, c, 2, 2).transpose(0, 1, 4, 2, 5, 3).reshape(b * h2 * w2 * 4, c)


def _threshold(dot: NDArray, thresholds: NDArray, flip: NDArray) -> NDArray[np.bool_]:
    return np.where(flip, dot <= thresholds, dot >= thresholds)


def forward_vectorised(net: DigitsBnn, images_bits: NDArray[np.uint8]) -> NDArray[np.int64]:
    """Logits of the folded network on a batch ``(B, 8, 8, C_in)``, vectorised in float64.

    Written for this network's three layers (not a general runner); :func:`train` checks it
    against the golden model logit for logit.
    """
    b = images_bits.shape[0]
    w = [_pm1(weights.reshape(weights.shape[0], -1)) for weights in net.weights]
    dot = (_im2col(_pm1(images_bits)) @ w[0].T).reshape(b, _CONV.height, _CONV.width, -1)
    bits = _threshold(dot, net.thresholds[0], net.flips[0])
    act = _pool_windows(bits).any(axis=-1).reshape(b, -1)
    bits = _threshold(_pm1(act) @ w[1].T, net.thresholds[1], net.flips[1])
    return np.rint(_pm1(bits) @ w[2].T).astype(np.int64)


# ----------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------


def _init_params(rng: np.random.Generator) -> dict[str, NDArray[np.float64]]:
    params: dict[str, NDArray[np.float64]] = {}
    for name, spec in zip(LAYER_NAMES, LAYERS, strict=True):
        params[f"{name}_w"] = rng.uniform(-1.0, 1.0, size=(spec.out_channels, spec.k))
        if spec.output == "bit":
            # Random signs: (w, gamma) -> (-w, -gamma) leaves the layer unchanged, so this costs
            # nothing and makes the folded network use both comparisons (flip set and clear).
            params[f"{name}_gamma"] = rng.choice([-1.0, 1.0], size=spec.out_channels)
            params[f"{name}_beta"] = np.zeros(spec.out_channels)
    # Softmax temperature of the integer logits, started at 1 / sqrt(K).
    params["log_scale"] = np.array([-0.5 * math.log(_OUT.k)])
    return params


def _bn_forward(z: NDArray, gamma: NDArray, beta: NDArray) -> tuple[NDArray, tuple]:
    mean = z.mean(axis=0)
    inv = 1.0 / np.sqrt(z.var(axis=0) + BN_EPS)
    zhat = (z - mean) * inv
    return gamma * zhat + beta, (zhat, inv)


def _bn_backward(dy: NDArray, gamma: NDArray, cache: tuple) -> tuple[NDArray, NDArray, NDArray]:
    zhat, inv = cache
    n = dy.shape[0]
    dzhat = dy * gamma
    dz = inv / n * (n * dzhat - dzhat.sum(axis=0) - zhat * (dzhat * zhat).sum(axis=0))
    return dz, (dy * zhat).sum(axis=0), dy.sum(axis=0)


def _loss_and_grads(
    params: dict[str, NDArray], act: NDArray, labels: NDArray
) -> tuple[float, dict[str, NDArray]]:
    """Cross-entropy of a batch and its gradients (straight-through estimators)."""
    b = act.shape[0]
    wb = {name: _sign(params[f"{name}_w"]) for name in LAYER_NAMES}

    # conv -> BN -> 2 x 2 max -> sign
    cols = _im2col(act)
    y0, bn0 = _bn_forward(cols @ wb["conv"].T, params["conv_gamma"], params["conv_beta"])
    windows = _pool_windows(y0.reshape(b, _CONV.height, _CONV.width, -1))
    arg = windows.argmax(axis=-1)
    pooled = np.take_along_axis(windows, arg[..., np.newaxis], axis=-1)[..., 0]
    a0 = _sign(pooled).reshape(b, -1)
    # fc -> BN -> sign
    y1, bn1 = _bn_forward(a0 @ wb["fc"].T, params["fc_gamma"], params["fc_beta"])
    a1 = _sign(y1)
    # out: integer dots times a learnt scale
    z2 = a1 @ wb["out"].T
    scale = math.exp(params["log_scale"][0])
    logits = z2 * scale

    shifted = logits - logits.max(axis=1, keepdims=True)
    prob = np.exp(shifted)
    prob /= prob.sum(axis=1, keepdims=True)
    rows = np.arange(b)
    loss = float(-np.log(prob[rows, labels] + 1e-12).mean())

    grads: dict[str, NDArray] = {}
    dlogits = prob
    dlogits[rows, labels] -= 1.0
    dlogits /= b
    grads["log_scale"] = np.array([(dlogits * z2).sum() * scale])
    dz2 = dlogits * scale
    grads["out_w"] = dz2.T @ a1
    dy1 = (dz2 @ wb["out"]) * (np.abs(y1) <= 1)
    dz1, grads["fc_gamma"], grads["fc_beta"] = _bn_backward(dy1, params["fc_gamma"], bn1)
    grads["fc_w"] = dz1.T @ a0
    dpooled = (dz1 @ wb["fc"]).reshape(pooled.shape) * (np.abs(pooled) <= 1)
    dwindows = np.zeros(windows.shape)
    np.put_along_axis(dwindows, arg[..., np.newaxis], dpooled[..., np.newaxis], axis=-1)
    dz0, grads["conv_gamma"], grads["conv_beta"] = _bn_backward(
        _unpool_windows(dwindows), params["conv_gamma"], bn0
    )
    grads["conv_w"] = dz0.T @ cols
    for name in LAYER_NAMES:
        # Straight-through estimator of sign(w), cancelled where the latent weight is clipped.
        grads[f"{name}_w"] *= np.abs(params[f"{name}_w"]) <= 1
    return loss, grads


def fold_network(params: dict[str, NDArray], train_bits: NDArray[np.uint8]) -> DigitsBnn:
    """Binarise the latent weights and fold each batch-norm with population statistics.

    The statistics of a layer are those of its integer dots over ``train_bits``, computed on the
    bits produced by the already-folded layers before it.
    """
    b = train_bits.shape[0]
    weights, thresholds, flips = [], [], []
    for name, spec in zip(LAYER_NAMES, LAYERS, strict=True):
        weights.append(
            (params[f"{name}_w"] >= 0)
            .astype(np.uint8)
            .reshape(spec.out_channels, spec.kernel_h, spec.kernel_w, spec.in_channels)
        )

    wpm = [_pm1(w.reshape(w.shape[0], -1)) for w in weights]
    acts: list = [_im2col(_pm1(train_bits))] + [None] * len(LAYERS)
    for i, (name, spec) in enumerate(zip(LAYER_NAMES, LAYERS, strict=True)):
        if spec.output == "int":
            thresholds.append(None)
            flips.append(None)
            continue
        dot = acts[i] @ wpm[i].T
        sigma = np.sqrt(dot.var(axis=0) + BN_EPS)
        thr, flip = fold_batchnorm(
            params[f"{name}_gamma"], params[f"{name}_beta"], dot.mean(axis=0), sigma, spec.k
        )
        thresholds.append(thr)
        flips.append(flip)
        bits = _threshold(dot, thr, flip)
        if spec.pool:
            bits = _pool_windows(bits.reshape(b, spec.out_h, spec.out_w, -1)).any(axis=-1)
        acts[i + 1] = _pm1(bits.reshape(b, -1))
    return DigitsBnn(weights=tuple(weights), thresholds=tuple(thresholds), flips=tuple(flips))


@dataclass(frozen=True)
class EpochLog:
    """One epoch's numbers: mean training loss and the folded network's training accuracy."""

    epoch: int
    loss: float
    train_accuracy: float
    seconds: float


@contextlib.contextmanager
def _one_blas_thread() -> Iterator[None]:
    """Run BLAS on one thread: the matrices are small, so threads only add overhead (and lose
    badly to a busy core), and one thread keeps the float results independent of the core count.
    threadpoolctl comes with scikit-learn, which the data need anyway."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - installed with scikit-learn
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def _command(seed: int, epochs: int, train_limit: int | None) -> str:
    cmd = f"{TRAIN_COMMAND} --seed {seed} --epochs {epochs}"
    return cmd if train_limit is None else f"{cmd} --train-limit {train_limit}"


def train(
    *,
    seed: int = DEFAULT_SEED,
    epochs: int = DEFAULT_EPOCHS,
    train_limit: int | None = None,
    split: DigitsSplit | None = None,
    log: Callable[[str], None] | None = print,
) -> tuple[DigitsBnn, list[EpochLog]]:
    """Train, fold and evaluate the digits network.

    Parameters
    ----------
    seed : int
        The only source of randomness (initial weights and batch order).
    epochs : int
    train_limit : int, optional
        Train on the first ``train_limit`` images of the training split only (smoke tests). The
        recorded training accuracy is then over those images; the test split is always whole.
    split : DigitsSplit, optional
        Defaults to :func:`oxbnn.models.digits.load_split`.
    log : callable, optional
        Receives one line per epoch and a summary; ``None`` is silent.

    Returns
    -------
    net : DigitsBnn
        The folded integer network with its :class:`TrainingRecord`; its accuracies are measured
        with the golden model.
    history : list of EpochLog
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, not {epochs!r}")
    if train_limit is not None and (
        isinstance(train_limit, bool) or not isinstance(train_limit, int) or train_limit < 2
    ):
        raise ValueError(f"train_limit must be an integer >= 2, not {train_limit!r}")
    split = load_split() if split is None else split
    with _one_blas_thread():
        return _train(seed, epochs, train_limit, split, log or (lambda _line: None))


def _train(
    seed: int,
    epochs: int,
    train_limit: int | None,
    split: DigitsSplit,
    say: Callable[[str], None],
) -> tuple[DigitsBnn, list[EpochLog]]:
    train_bits = binarize(split.train_images)
    train_labels = split.train_labels
    if train_limit is not None:
        train_bits, train_labels = train_bits[:train_limit], train_labels[:train_limit]
    test_bits = binarize(split.test_images)
    train_act = _pm1(train_bits)

    rng = np.random.default_rng(seed)
    params = _init_params(rng)
    moments = {key: (np.zeros_like(v), np.zeros_like(v)) for key, v in params.items()}
    n = train_labels.size
    steps = epochs * math.ceil(n / BATCH_SIZE)
    step = 0
    history: list[EpochLog] = []
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        order = rng.permutation(n)
        total = 0.0
        for first in range(0, n, BATCH_SIZE):
            batch = order[first : first + BATCH_SIZE]
            loss, grads = _loss_and_grads(params, train_act[batch], train_labels[batch])
            total += loss * batch.size
            step += 1
            lr = LEARNING_RATE * 0.5 * (1.0 + math.cos(math.pi * step / steps))
            b1, b2 = _ADAM_BETAS
            for key, value in params.items():
                m, v = moments[key]
                m *= b1
                m += (1 - b1) * grads[key]
                v *= b2
                v += (1 - b2) * grads[key] ** 2
                m_hat = m / (1 - b1**step)
                v_hat = v / (1 - b2**step)
                value -= lr * m_hat / (np.sqrt(v_hat) + _ADAM_EPS)
                if key.endswith("_w"):
                    np.clip(value, -1.0, 1.0, out=value)
        folded = fold_network(params, train_bits)
        acc = float(np.mean(predict(forward_vectorised(folded, train_bits)) == train_labels))
        entry = EpochLog(epoch, total / n, acc, time.perf_counter() - start)
        history.append(entry)
        say(
            f"epoch {epoch:3d}/{epochs}  loss {entry.loss:.4f}  "
            f"train accuracy {100 * acc:5.1f} % (folded)  {entry.seconds:5.1f} s"
        )

    net = fold_network(params, train_bits)
    test_logits = net.forward_golden(test_bits)
    if not np.array_equal(test_logits, forward_vectorised(net, test_bits)):
        raise RuntimeError("the vectorised integer forward pass disagrees with the golden model")
    train_correct = int(np.sum(predict(net.forward_golden(train_bits)) == train_labels))
    test_correct = int(np.sum(predict(test_logits) == split.test_labels))
    record = TrainingRecord(
        seed=seed,
        epochs=epochs,
        split_seed=split.seed,
        train_images=int(n),
        train_correct=train_correct,
        test_images=int(split.test_labels.size),
        test_correct=test_correct,
        train_accuracy=train_correct / n,
        test_accuracy=test_correct / split.test_labels.size,
        command=_command(seed, epochs, train_limit),
    )
    say(
        f"golden model: train {train_correct}/{n} = {100 * record.train_accuracy:.2f} %, "
        f"test {test_correct}/{record.test_images} = {100 * record.test_accuracy:.2f} % "
        f"({time.perf_counter() - start:.1f} s)"
    )
    return replace(net, record=record), history
