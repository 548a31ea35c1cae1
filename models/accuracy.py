"""The fast path: the golden BNN with the physical optics applied per PCA readout.

The co-simulation runs a network on the XPU RTL, clock cycle by clock cycle, and the optical
bridge turns each PCA readout into an ADC code. This module computes the same readouts without
the RTL: for every output of a layer it packs the im2col vector into lanes and slots exactly as
the XPU does and hands every readout to :meth:`oxbnn.models.optics.Pca.integrate`, vectorised
over all outputs of the layer. It is what the accuracy sweeps run (hundreds of images at dozens
of operating points); ``oxbnn accuracy-sweep --check-cosim`` keeps it honest against the full
co-simulation.

**Packing** (that of the XPU, docs/design.md §3-4, :mod:`oxbnn.models.timing`). The im2col vector
of an output, order ``(ky, kx, c)``, ``K`` bits, is cut into ``L = ceil(K / N)`` chunks; chunk
``j`` is bits ``[j N, j N + N)`` on lanes ``0 .. N - 1``. A lane without a valid bit (past
``K``, or dark padding of a convolution) is driven dark, act 1 / weight 0, whose XNOR is 0. A
readout integrates a run of at most γ chunks: the PCA is reset with the first chunk of every run
of γ and sampled with the last one (and with the vector's last chunk), so a vector has
``ceil(L / γ)`` readouts. A cycle carries S slots (``XpuParams.symbols_per_cycle``): chunk ``j``
is in slot ``j mod S`` of beat ``j // S``. A beat whose chunks need more activation words than
the slot engines read in a cycle takes :func:`oxbnn.models.tiling.beat_cycles` issue cycles;
the cycles before it leaves are dark slots on the port, and so are the slots after a vector's
last chunk. When they fall between the reset and the sample of a readout the PCA integrates
them too; they are mirrored here as all-dark slots.

A pooled layer is read out at every output position; the XPU skips the last row or column of
an odd output, which the pool drops anyway, so only the readout counts can differ there.

**Result.** The codes of an output's readouts are summed to its count; ``dot = 2 * count -
K_valid`` and the layer thresholds it (with its flip), pools it, or returns it, exactly as
:func:`oxbnn.models.bnn.layer_forward`. With :meth:`Effects.ideal` every code is the popcount, so
the result equals the golden model bit for bit (``tests/test_accuracy.py`` checks it on the whole
test split).

**Operating point** (:class:`OpticalPoint`): the preset whose physics the optics use (laser
power, PCA, ADC bits, ...), the channel spacing (``None``: the preset's ``FSR / N``), the effects,
and ``noise_scale``, which multiplies every Gaussian draw of the PCA model (photodetector shot
noise, kT/C reset noise and the laser RIN the PCA integrates; s = 1 is the preset's physics,
the variance scales by s²). The *hardware* stays the nominal XPU (``xpu``: N lanes, γ, the RTL's
schedule) whatever the point: a weaker laser or a narrower ADC changes what the PCA sees, not
the chip that was built.

**Randomness.** Image ``i`` draws from its own ``numpy.random.default_rng([seed, image_ids[i]])``
(``image_ids`` defaults to ``0 .. n - 1``), so an image's noise does not depend on which other
images run: the first 20 images give the same logits whether 20 or 360 are evaluated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .bnn import im2col, maxpool_or, threshold
from .configs import Preset, XpuParams
from .digits import DigitsBnn, predict
from .layer import LayerSpec
from .network import NetworkLayer, flatten, run_network
from .optics import DwdmLink, Effects, Pca
from .tiling import beat_cycles

__all__ = [
    "AccuracyError",
    "OpticalPoint",
    "LayerReadouts",
    "OpticalRun",
    "ScaledNoise",
    "readout_slots",
    "layer_readouts",
    "layer_forward_optical",
    "forward_optical",
]

#: Lane bits of a dark lane: act 1, weight 0 (XNOR 0, the ring's dark state).
DARK_ACT, DARK_WGT = 1, 0


class AccuracyError(ValueError):
    """A malformed argument of the fast path (a noise scale <= 0, images of the wrong shape...)."""


class ScaledNoise:
    """A stand-in for a ``numpy.random.Generator`` whose standard-normal draws are scaled.

    :class:`~oxbnn.models.optics.Pca` draws every noise term (shot, kT/C, RIN) as
    ``rng.standard_normal(shape)`` times a standard deviation, so scaling the draws by ``scale``
    scales every noise standard deviation by ``scale``.
    """

    def __init__(self, rng: np.random.Generator, scale: float) -> None:
        self.rng = rng
        self.scale = float(scale)

    def standard_normal(self, size: int | tuple[int, ...] | None = None) -> np.ndarray:
        return self.scale * self.rng.standard_normal(size)


@dataclass(frozen=True)
class OpticalPoint:
    """One operating point of the optics under the nominal XPU.

    Parameters
    ----------
    preset : Preset
        Physics of the link and PCA (e.g. ``preset.replace("laser", power_per_wavelength_W=...)``).
    effects : Effects
        Which non-idealities apply (default: all of them).
    spacing_m : float or None
        Channel spacing in m; ``None`` is the preset's ``FSR / N``.
    noise_scale : float
        Multiplies the standard deviation of every PCA noise draw (1 = the preset's physics).
    """

    preset: Preset
    effects: Effects = field(default_factory=Effects.physical)
    spacing_m: float | None = None
    noise_scale: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.preset, Preset):
            raise TypeError(f"preset must be a Preset, not {type(self.preset).__name__}")
        if not isinstance(self.effects, Effects):
            raise TypeError(f"effects must be an Effects, not {type(self.effects).__name__}")
        if not (self.noise_scale > 0):
            raise AccuracyError(f"noise_scale must be positive, not {self.noise_scale!r}")
        if self.spacing_m is not None and not (self.spacing_m > 0):
            raise AccuracyError(f"spacing_m must be positive (m), not {self.spacing_m!r}")

    def link(self, xpu: XpuParams) -> DwdmLink:
        """The bus of one XPE of ``xpu`` (its N) with this point's physics and spacing."""
        return DwdmLink(self.preset, xpu.n_lanes, self.spacing_m)

    def pca(
        self,
        xpu: XpuParams,
        rng: np.random.Generator | None = None,
        link: DwdmLink | None = None,
    ) -> Pca:
        """The PCA of one XPE at this point, drawing from ``rng`` (scaled by ``noise_scale``).

        ``link`` reuses a :meth:`link` already built (its transmission tables are cached).
        """
        source = rng
        if rng is not None and self.noise_scale != 1.0:
            source = ScaledNoise(rng, self.noise_scale)
        link = self.link(xpu) if link is None else link
        return Pca(link, self.effects, rng=source)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------------------
# Packing
# ----------------------------------------------------------------------------------------------


def readout_slots(spec: LayerSpec, xpu: XpuParams) -> tuple[NDArray[np.intp], ...]:
    """The slots of each readout of one vector, as chunk indices (``L`` for a dark slot).

    Readout ``r`` integrates chunks ``[r γ, min((r + 1) γ, L))`` and every slot between its
    first chunk's (the reset comes with it) and its last chunk's, in time order. Beat ``b`` of
    the vector (:func:`oxbnn.models.tiling.beat_cycles`) spends its first ``beat_cycles[b] -
    1`` cycles dark (the slot engines still collecting words; S dark slots each), then carries
    chunks ``b S .. b S + S - 1`` in its S slots (those past ``L`` dark).

    Returns
    -------
    tuple of ndarray of intp
        One per readout; entries in ``0 .. L`` where ``L = ceil(K / N)`` means a dark slot.
    """
    s = xpu.symbols_per_cycle
    beats = np.asarray(beat_cycles(spec, xpu), dtype=np.int64)
    n_chunks = -(-spec.k // xpu.n_lanes)
    emit = np.cumsum(beats) - 1  # cycle of each beat, from the vector's first cycle
    timeline = np.full(int(emit[-1] + 1) * s, n_chunks, dtype=np.intp)
    k = np.arange(n_chunks)
    where = emit[k // s] * s + k % s
    timeline[where] = k
    out = []
    for first in range(0, n_chunks, xpu.gamma):
        last = min(first + xpu.gamma, n_chunks) - 1
        out.append(timeline[where[first] : where[last] + 1].copy())
    return tuple(out)


@lru_cache(maxsize=64)
def _readout_groups(
    spec: LayerSpec, xpu: XpuParams
) -> tuple[tuple[NDArray[np.intp], NDArray[np.intp]], ...]:
    """Readouts with the same slot pattern: ``(readout numbers, chunk index per slot)``.

    Readouts of one group differ only by their first chunk, so they are integrated in one call;
    the chunk indices have shape ``(readouts of the group, slots)``.
    """
    dark = -(-spec.k // xpu.n_lanes)
    groups: dict[tuple[int, ...], list[tuple[int, NDArray[np.intp]]]] = {}
    for r, s in enumerate(readout_slots(spec, xpu)):
        relative = tuple(-1 if int(c) == dark else int(c - s[0]) for c in s)
        groups.setdefault(relative, []).append((r, s))
    return tuple(
        (np.asarray([r for r, _ in members], np.intp), np.stack([s for _, s in members]))
        for members in groups.values()
    )


def _lanes(
    act: NDArray[np.uint8], weights: NDArray[np.uint8], spec: LayerSpec, n: int
) -> tuple[NDArray[np.uint8], NDArray[np.uint8], NDArray[np.int64]]:
    """Chunked lane bits of every output and ``K_valid`` per position ``(P,)``.

    Act ``(P, 1, L + 1, N)``, weights ``(P, C_out, L + 1, N)`` (a position's dark padding makes
    its weight lanes dark too); chunk ``L`` is all dark, for the dark slots.
    """
    vectors, valid = im2col(act, spec)
    k = spec.k
    if weights.size != spec.out_channels * k or (weights.size and weights.max() > 1):
        raise AccuracyError(
            f"weights must be {spec.out_channels} x {k} bits for this layer, not "
            f"{weights.dtype} {weights.shape}"
        )
    n_chunks = -(-k // n)
    width = (n_chunks + 1) * n
    p = vectors.shape[0]
    a = np.full((p, width), DARK_ACT, np.uint8)
    a[:, :k] = np.where(valid, vectors, DARK_ACT)
    filters = np.asarray(weights, dtype=np.uint8).reshape(spec.out_channels, k)
    w = np.full((p, spec.out_channels, width), DARK_WGT, np.uint8)
    w[:, :, :k] = np.where(valid[:, None, :], filters[None, :, :], DARK_WGT)
    a = a.reshape(p, 1, n_chunks + 1, n)
    w = w.reshape(p, spec.out_channels, n_chunks + 1, n)
    return a, w, valid.sum(axis=1, dtype=np.int64)


# ----------------------------------------------------------------------------------------------
# One layer
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerReadouts:
    """Every readout of one layer on one input.

    Attributes
    ----------
    codes, ideal : ndarray of int64, shape ``(out_h, out_w, C_out, R)``
        ADC code of each readout, and its popcount (what an ideal PCA would give).
    k_valid : ndarray of int64, shape ``(out_h, out_w)``
    saturated, adc_clipped : int
        Readouts that went past the capacitor's capacity / whose code was clipped at 0 or at
        the ADC's full scale.
    """

    codes: NDArray[np.int64]
    ideal: NDArray[np.int64]
    k_valid: NDArray[np.int64]
    saturated: int
    adc_clipped: int

    @property
    def dot(self) -> NDArray[np.int64]:
        """``2 * sum(codes) - K_valid``, shape ``(out_h, out_w, C_out)``."""
        return 2 * self.codes.sum(axis=-1) - self.k_valid[..., np.newaxis]

    @property
    def wrong(self) -> int:
        """Readouts whose code differs from the popcount."""
        return int(np.count_nonzero(self.codes != self.ideal))


def layer_readouts(
    act: ArrayLike, weights: ArrayLike, spec: LayerSpec, xpu: XpuParams, pca: Pca
) -> LayerReadouts:
    """Run every readout of ``spec`` on one input through ``pca``.

    Parameters
    ----------
    act, weights : arrays of bits
        As :func:`oxbnn.models.bnn.layer_forward` takes them.
    spec : LayerSpec
    xpu : XpuParams
        The hardware: N lanes (must equal ``pca.n``) and γ.
    pca : Pca
        The PCA model (effects, physics, random source).
    """
    if pca.n != xpu.n_lanes:
        raise AccuracyError(f"the PCA has {pca.n} lanes but the XPU {xpu.n_lanes}")
    n = xpu.n_lanes
    a, w, k_valid = _lanes(np.asarray(act), np.asarray(weights), spec, n)
    p, c_out = a.shape[0], w.shape[1]
    groups = _readout_groups(spec, xpu)
    n_readouts = sum(len(rs) for rs, _ in groups)
    codes = np.empty((p, c_out, n_readouts), np.int64)
    ideal = np.empty((p, c_out, n_readouts), np.int64)
    saturated = clipped = 0
    for rs, index in groups:
        shape = (p, c_out, *index.shape, n)
        ra = np.broadcast_to(a[:, :, index, :], shape)
        rw = np.broadcast_to(w[:, :, index, :], shape)
        res = pca.integrate(ra, rw)
        codes[:, :, rs] = res.codes
        ideal[:, :, rs] = (ra == rw).sum(axis=(-1, -2))
        saturated += int(np.count_nonzero(res.saturated))
        clipped += int(np.count_nonzero(res.adc_clipped))
    shape_out = (spec.out_h, spec.out_w, c_out, n_readouts)
    return LayerReadouts(
        codes.reshape(shape_out),
        ideal.reshape(shape_out),
        k_valid.reshape(spec.out_h, spec.out_w),
        saturated,
        clipped,
    )


def layer_forward_optical(
    act: ArrayLike,
    weights: ArrayLike,
    thresholds: ArrayLike | None,
    spec: LayerSpec,
    xpu: XpuParams,
    pca: Pca,
    flip: ArrayLike | None = None,
) -> tuple[NDArray[np.uint8] | NDArray[np.int64], LayerReadouts]:
    """:func:`oxbnn.models.bnn.layer_forward` with every dot product read through ``pca``.

    Returns
    -------
    output : ndarray, shape ``spec.final_shape``
        ``uint8`` bits (thresholded with ``flip``, pooled if ``spec.pool``) or ``int64`` dots.
    readouts : LayerReadouts
    """
    readouts = layer_readouts(act, weights, spec, xpu, pca)
    dot = readouts.dot
    if spec.output == "int":
        return dot, readouts
    if thresholds is None:
        raise AccuracyError("thresholds is None; a layer with output = 'bit' needs them")
    bits = threshold(dot, thresholds, flip)
    if spec.pool:
        bits = maxpool_or(bits)
    return bits, readouts


# ----------------------------------------------------------------------------------------------
# The digits network
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpticalRun:
    """Logits of a batch of images through the fast path, and what its readouts did.

    Attributes
    ----------
    logits : ndarray of int64, shape ``(n, 10)``
    readouts : int
        PCA readouts of all layers and images.
    wrong_readouts : int
        Readouts whose code differed from the popcount of their own inputs.
    saturated, adc_clipped : int
        Readouts past the capacitor's capacity / the ADC's full scale.
    """

    logits: NDArray[np.int64]
    readouts: int
    wrong_readouts: int
    saturated: int
    adc_clipped: int

    @property
    def predictions(self) -> NDArray[np.int64]:
        return predict(self.logits)


def forward_optical(
    net: DigitsBnn,
    images_bits: ArrayLike,
    xpu: XpuParams,
    point: OpticalPoint,
    seed: int = 0,
    image_ids: Sequence[int] | None = None,
) -> OpticalRun:
    """Logits of binarised images, every layer's readouts through the optics of ``point``.

    Parameters
    ----------
    net : DigitsBnn
    images_bits : array of bits, shape ``(n, 8, 8, C_in)``
    xpu : XpuParams
        The hardware (N, γ); normally ``xpu_params`` of the nominal preset.
    point : OpticalPoint
    seed : int
        With ``image_ids``, seeds image ``i``'s generator ``default_rng([seed, image_ids[i]])``.
    image_ids : sequence of int, optional
        Default ``0 .. n - 1``.
    """
    batch = np.asarray(images_bits)
    first = net.layers[0]
    expected = (first.height, first.width, first.in_channels)
    if batch.ndim != 4 or batch.shape[1:] != expected:
        raise AccuracyError(f"images_bits has shape {batch.shape}; expected (n, *{expected})")
    ids = list(range(len(batch))) if image_ids is None else [int(i) for i in image_ids]
    if len(ids) != len(batch):
        raise AccuracyError(f"{len(ids)} image_ids for {len(batch)} images")
    noisy = point.effects.noisy
    link = point.link(xpu)
    shared = None if noisy else point.pca(xpu, link=link)
    logits = np.empty((len(batch), net.layers[-1].out_channels), np.int64)
    readouts = wrong = saturated = clipped = 0
    for i, (image, image_id) in enumerate(zip(batch, ids, strict=True)):
        pca = point.pca(xpu, np.random.default_rng([seed, image_id]), link) if noisy else shared

        def optical_layer(_index: int, layer: NetworkLayer, act: NDArray, pca: Pca = pca) -> Any:
            spec, w, t, f = layer
            return layer_forward_optical(act, w, t, spec, xpu, pca, f)

        out, records = run_network(net.network, image, optical_layer)
        for _, res in records:
            readouts += res.codes.size
            wrong += res.wrong
            saturated += res.saturated
            clipped += res.adc_clipped
        logits[i] = flatten(out)
    return OpticalRun(logits, readouts, wrong, saturated, clipped)
