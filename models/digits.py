"""A small trained BNN for the 8 x 8 handwritten digits, and its inference on the golden model.

The data are the 1797 8 x 8 images that scikit-learn ships (:func:`sklearn.datasets.load_digits`,
offline, 4-bit intensities 0..16). Everything here is integer numpy; only :func:`load_split`
imports scikit-learn, and only when called.

**Split.** :func:`load_split` is a fixed, stratified 1437 / 360 train / test split that depends on
numpy alone (not on scikit-learn's splitting RNG): ``perm = default_rng(seed).permutation(1797)``;
the permuted indices are stably sorted by label (so each class is contiguous, in random order
inside the class); every fifth entry of that list, starting with the first, is a test image.
Each class therefore gives ``floor`` or ``ceil`` of a fifth of its images to the test split, and
the test split has ``ceil(1797 / 5) = 360`` images. Both index lists are sorted ascending.

**Input binarisation.** A pixel of intensity ``p`` in 0..16 becomes ``C_in = 3`` bits, a
thermometer code: bit ``k`` is 1 iff ``p >= INPUT_LEVELS[k]`` with ``INPUT_LEVELS = (4, 8, 12)``.
The image becomes an ``8 x 8 x 3`` activation map (channels last, bit 1 = +1, bit 0 = -1).

**Network** (:data:`LAYERS`; each a :class:`~oxbnn.models.layer.LayerSpec` the XPU runs):

=====  ============================================  =====  =====  ===========================
layer  what                                            K     C_out  result
=====  ============================================  =====  =====  ===========================
conv   3 x 3, pad 1 ("dark"), threshold + flip,        27     32    ``4 x 4 x 32`` bits
       2 x 2 OR max-pool (``pool=True``)
fc     512 -> 32, threshold + flip                     512    32    32 bits
out    32 -> 10, ``output="int"``                      32     10    10 integer logits
=====  ============================================  =====  =====  ===========================

Between layers the host flattens a ``H x W x C`` result to the ``K = H * W * C`` vector of the next
fully-connected layer in C order, i.e. ``(y, x, c)`` with ``c`` fastest
(:func:`oxbnn.models.network.flatten`), which is the im2col order :meth:`LayerSpec.fc` expects.
:attr:`DigitsBnn.network` gives the layers with their parameters as
:class:`~oxbnn.models.network.NetworkLayer` items; every runner walks them with
:func:`oxbnn.models.network.run_network`. The logits are the integer dot products
``2 * popcount - K`` of the last layer; the prediction is their argmax, and a tie goes to the
lowest class index (:func:`predict`).

**Parameter file.** An ``.npz`` (zip of ``.npy``; no pickles) with, for each layer name ``L`` in
:data:`LAYER_NAMES`: ``L_weights`` (``uint8`` 0/1, ``C_out x kh x kw x C_in``; an fc layer is
``C_out x 1 x 1 x K``), and for a bit layer ``L_thresholds`` (``int64``, ``(C_out,)``) and
``L_flip`` (``bool``, ``(C_out,)``), each threshold in ``[-(K+1), K+1]`` as in a layer file
(:func:`oxbnn.models.layer_io.check_thresholds`: the bounds already mean always / never);
``input_levels`` (``int64``, ``(3,)``); and the training
record (:class:`TrainingRecord`): ``seed``, ``epochs``, ``split_seed``, ``train_images``,
``train_correct``, ``test_images``, ``test_correct`` (``int64`` scalars), ``test_accuracy``,
``train_accuracy`` (``float64`` scalars, exactly ``correct / images``) and ``command`` (a unicode
scalar). :func:`save_params` writes the zip with fixed timestamps so that the same parameters give
the same bytes. :func:`load_params` checks every key, shape, dtype and value and raises
:class:`DigitsParamsError` (a ``ValueError``) naming the file and the key; a missing file raises
:class:`DigitsParamsFileNotFound`, which is also a ``FileNotFoundError``.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .atomic import atomic_open
from .layer import LayerSpec
from .layer_io import check_thresholds, read_npz
from .network import NetworkLayer, flatten, golden_layer, run_network

__all__ = [
    "CLASSES",
    "DEFAULT_PARAMS",
    "DigitsBnn",
    "DigitsError",
    "DigitsParamsError",
    "DigitsParamsFileNotFound",
    "DigitsSplit",
    "IMAGE_SIZE",
    "INPUT_LEVELS",
    "LAYERS",
    "LAYER_NAMES",
    "SPLIT_SEED",
    "TEST_IMAGES",
    "TrainingRecord",
    "binarize",
    "check_test_images",
    "split_indices",
    "load_params",
    "load_split",
    "predict",
    "save_params",
]

#: The parameter file shipped with the package.
DEFAULT_PARAMS = Path(__file__).resolve().parent / "digits_params.npz"

IMAGE_SIZE = 8
CLASSES = 10
#: Thermometer levels: input bit k of a pixel is 1 iff its intensity (0..16) is >= level k.
INPUT_LEVELS: tuple[int, ...] = (4, 8, 12)
#: Seed of the numpy permutation behind the train / test split.
SPLIT_SEED = 0
_TEST_EVERY = 5
#: Images in the test split of :func:`load_split`: ``ceil(1797 / 5)``.
TEST_IMAGES = 360
_MAX_INTENSITY = 16

_CONV_CHANNELS = 32
_HIDDEN = 32

#: The layers, in order, as the XPU runs them.
LAYERS: tuple[LayerSpec, ...] = (
    LayerSpec(
        kind="conv",
        height=IMAGE_SIZE,
        width=IMAGE_SIZE,
        in_channels=len(INPUT_LEVELS),
        out_channels=_CONV_CHANNELS,
        kernel_h=3,
        kernel_w=3,
        stride=1,
        padding=1,
        pad="dark",
        output="bit",
        pool=True,
    ),
    LayerSpec.fc((IMAGE_SIZE // 2) * (IMAGE_SIZE // 2) * _CONV_CHANNELS, _HIDDEN),
    LayerSpec.fc(_HIDDEN, CLASSES, output="int"),
)
#: Names of the layers in the parameter file (key prefixes).
LAYER_NAMES: tuple[str, ...] = ("conv", "fc", "out")

_RECORD_INTS = (
    "seed",
    "epochs",
    "split_seed",
    "train_images",
    "train_correct",
    "test_images",
    "test_correct",
)
_RECORD_FLOATS = ("train_accuracy", "test_accuracy")


class DigitsError(ValueError):
    """A malformed argument of the digits network (images of the wrong shape, ...)."""


class DigitsParamsError(DigitsError):
    """A digits parameter file or set is malformed; the message names the file and the key."""


class DigitsParamsFileNotFound(DigitsParamsError, FileNotFoundError):
    """The digits parameter file does not exist."""


# ----------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class DigitsSplit:
    """The fixed train / test split of the scikit-learn digits.

    Attributes
    ----------
    train_images, test_images : ndarray of uint8, shape ``(n, 8, 8)``
        Pixel intensities 0..16.
    train_labels, test_labels : ndarray of int64, shape ``(n,)``
        Classes 0..9.
    train_index, test_index : ndarray of int64, shape ``(n,)``
        Positions of the images in :func:`sklearn.datasets.load_digits`, ascending.
    seed : int
        Seed of the permutation.
    """

    train_images: NDArray[np.uint8]
    train_labels: NDArray[np.int64]
    test_images: NDArray[np.uint8]
    test_labels: NDArray[np.int64]
    train_index: NDArray[np.int64]
    test_index: NDArray[np.int64]
    seed: int


def split_indices(labels: ArrayLike, seed: int = SPLIT_SEED) -> tuple[NDArray, NDArray]:
    """The stratified train / test indices of ``labels`` (see the module docstring).

    Parameters
    ----------
    labels : 1-D integer array
    seed : int
        Seed of ``numpy.random.default_rng``.

    Returns
    -------
    train_index, test_index : ndarray of int64, ascending
        ``test_index`` has ``ceil(len(labels) / 5)`` entries.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise ValueError(f"labels must be a 1-D integer array, not {labels.dtype} {labels.shape}")
    perm = np.random.default_rng(seed).permutation(labels.size)
    by_class = perm[np.argsort(labels[perm], kind="stable")]
    test = np.sort(by_class[::_TEST_EVERY]).astype(np.int64)
    keep = np.ones(labels.size, dtype=bool)
    keep[test] = False
    return np.flatnonzero(keep).astype(np.int64), test


def load_split(seed: int = SPLIT_SEED) -> DigitsSplit:
    """Load scikit-learn's digits (offline) and split them 1437 / 360.

    Parameters
    ----------
    seed : int
        Seed of the split's permutation; the recorded accuracy is for :data:`SPLIT_SEED`.

    Returns
    -------
    DigitsSplit
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:  # pragma: no cover - scikit-learn is a dependency
        raise ImportError("the digits data need scikit-learn (pip install scikit-learn)") from exc
    data = load_digits()
    raw = np.asarray(data.images)
    images = raw.astype(np.uint8)
    if raw.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE) or not np.array_equal(images, raw):
        raise ValueError(f"load_digits returned unexpected images {raw.dtype} {raw.shape}")
    labels = np.asarray(data.target).astype(np.int64)
    train, test = split_indices(labels, seed)
    return DigitsSplit(
        train_images=images[train],
        train_labels=labels[train],
        test_images=images[test],
        test_labels=labels[test],
        train_index=train,
        test_index=test,
        seed=seed,
    )


def binarize(images: ArrayLike, levels: tuple[int, ...] = INPUT_LEVELS) -> NDArray[np.uint8]:
    """Thermometer code of pixel intensities: bit ``k`` is 1 iff ``pixel >= levels[k]``.

    Parameters
    ----------
    images : integer array, shape ``(n, 8, 8)`` or ``(8, 8)``
        Intensities 0..16.
    levels : tuple of int
        Increasing levels in 1..16.

    Returns
    -------
    ndarray of uint8, shape ``(n, 8, 8, len(levels))`` or ``(8, 8, len(levels))``
    """
    arr = np.asarray(images)
    if arr.dtype.kind not in "iu":
        raise ValueError(f"images have dtype {arr.dtype}; expected integer intensities 0..16")
    if arr.shape[-2:] != (IMAGE_SIZE, IMAGE_SIZE) or arr.ndim not in (2, 3):
        raise ValueError(f"images have shape {arr.shape}; expected (n, 8, 8) or (8, 8)")
    if arr.size and (arr.min() < 0 or arr.max() > _MAX_INTENSITY):
        raise ValueError(f"images hold values in [{arr.min()}, {arr.max()}]; expected 0..16")
    thresholds = np.asarray(levels, dtype=np.int64)
    return (arr[..., np.newaxis] >= thresholds).astype(np.uint8)


def check_test_images(count: object, name: str = "--images") -> int:
    """``count`` if it is a number of test images (1 .. :data:`TEST_IMAGES`), else an error.

    Raises :class:`DigitsError` naming ``name`` (the option or argument that gave the count).
    """
    if isinstance(count, bool) or not isinstance(count, int):
        raise DigitsError(f"{name} must be an integer, not {count!r}")
    if not 1 <= count <= TEST_IMAGES:
        raise DigitsError(
            f"{name} must be in 1..{TEST_IMAGES} (the test split has {TEST_IMAGES} images), "
            f"not {count}"
        )
    return count


def predict(logits: ArrayLike) -> NDArray[np.int64]:
    """The predicted class of each row of logits: argmax, the lowest index on a tie."""
    return np.argmax(np.asarray(logits), axis=-1).astype(np.int64)


# ----------------------------------------------------------------------------------------------
# The network
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainingRecord:
    """How a parameter set was made and what accuracy it reached on the fixed split.

    Accuracies are measured with the golden model on the folded integer parameters and are
    exactly ``correct / images``.
    """

    seed: int
    epochs: int
    split_seed: int
    train_images: int
    train_correct: int
    test_images: int
    test_correct: int
    train_accuracy: float
    test_accuracy: float
    command: str


def _weights_shape(spec: LayerSpec) -> tuple[int, int, int, int]:
    return (spec.out_channels, spec.kernel_h, spec.kernel_w, spec.in_channels)


_DTYPES = {
    "bits": np.dtype(np.uint8),
    "int": np.dtype(np.int64),
    "bool": np.dtype(np.bool_),
    "float": np.dtype(np.float64),
}


def _check_meta(
    source: str, key: str, dtype: np.dtype, shape: tuple[int, ...], expected: tuple, kind: str
) -> None:
    """Raise a named error unless ``shape == expected`` and ``dtype`` is of ``kind``."""
    if shape != expected:
        raise DigitsParamsError(f"{source}: {key} has shape {shape}; expected {expected}")
    if kind == "str":
        if dtype.kind != "U":
            raise DigitsParamsError(f"{source}: {key} has dtype {dtype}; expected a string")
    elif dtype != _DTYPES[kind]:
        raise DigitsParamsError(f"{source}: {key} has dtype {dtype}; expected {_DTYPES[kind]}")


def _check_array(
    source: str, key: str, value: object, shape: tuple[int, ...], kind: str
) -> np.ndarray:
    """Return ``value`` as an array of ``shape`` and dtype ``kind``, or raise a named error.

    ``kind`` is ``"bits"`` (uint8 0/1), ``"int"`` (int64), ``"bool"``, ``"float"`` (float64) or
    ``"str"`` (unicode).
    """
    arr = np.asarray(value)
    _check_meta(source, key, arr.dtype, arr.shape, shape, kind)
    if kind == "bits" and arr.size and arr.max() > 1:
        raise DigitsParamsError(f"{source}: {key} holds {arr.max()}; weights must be bits 0/1")
    return arr


@dataclass(frozen=True, eq=False)
class DigitsBnn:
    """The digits network: its layers and integer parameters.

    Parameters
    ----------
    weights : tuple of ndarray of uint8
        One per layer of :data:`LAYERS`, ``C_out x kh x kw x C_in`` (``C_out x 1 x 1 x K`` for
        fc), bits 0/1 with 1 = +1.
    thresholds : tuple of (ndarray of int64, shape ``(C_out,)``) or None
        ``None`` exactly for the ``output = "int"`` layer.
    flips : tuple of (ndarray of bool, shape ``(C_out,)``) or None
        Channels whose comparison is ``dot <= threshold`` (folded negative batch-norm scale).
    input_levels : tuple of int
        The thermometer levels of :func:`binarize`.
    record : TrainingRecord or None
        Provenance and recorded accuracy.

    Attributes
    ----------
    layers : tuple of LayerSpec
        Always :data:`LAYERS`.
    """

    weights: tuple[NDArray[np.uint8], ...]
    thresholds: tuple[NDArray[np.int64] | None, ...]
    flips: tuple[NDArray[np.bool_] | None, ...]
    input_levels: tuple[int, ...] = INPUT_LEVELS
    record: TrainingRecord | None = None
    layers: tuple[LayerSpec, ...] = LAYERS

    def __post_init__(self) -> None:
        source = "DigitsBnn"
        if self.layers != LAYERS:
            raise DigitsParamsError(f"{source}: layers must be LAYERS, not {self.layers!r}")
        n = len(LAYERS)
        for name in ("weights", "thresholds", "flips"):
            if not isinstance(getattr(self, name), tuple) or len(getattr(self, name)) != n:
                raise DigitsParamsError(f"{source}: {name} must be a tuple of {n} entries")
        _check_levels(source, np.asarray(self.input_levels, dtype=np.int64))
        for name, spec, w, t, f in zip(
            LAYER_NAMES, LAYERS, self.weights, self.thresholds, self.flips, strict=True
        ):
            _check_array(source, f"{name}_weights", w, _weights_shape(spec), "bits")
            if spec.output == "int":
                if t is not None or f is not None:
                    raise DigitsParamsError(
                        f"{source}: layer {name} has output 'int'; its thresholds and flip "
                        f"must be None"
                    )
                continue
            _check_array(source, f"{name}_thresholds", t, (spec.out_channels,), "int")
            _check_array(source, f"{name}_flip", f, (spec.out_channels,), "bool")

    @cached_property
    def network(self) -> tuple[NetworkLayer, ...]:
        """The layers with their parameters, in order, as :func:`~oxbnn.models.network.walk`
        and the co-simulation take them."""
        return tuple(
            NetworkLayer(spec, w, t, f)
            for spec, w, t, f in zip(
                self.layers, self.weights, self.thresholds, self.flips, strict=True
            )
        )

    def binarize(self, images: ArrayLike) -> NDArray[np.uint8]:
        """:func:`binarize` with this network's input levels."""
        return binarize(images, self.input_levels)

    def forward_golden(self, images_bits: ArrayLike) -> NDArray[np.int64]:
        """Logits of binarised images, every layer on :func:`oxbnn.models.bnn.layer_forward`.

        Parameters
        ----------
        images_bits : array of bits, shape ``(n, 8, 8, C_in)`` or ``(8, 8, C_in)``

        Returns
        -------
        ndarray of int64, shape ``(n, 10)`` or ``(10,)``
            The integer dot products of the last layer.
        """
        arr = np.asarray(images_bits)
        single = arr.ndim == 3
        batch = arr[np.newaxis] if single else arr
        first = LAYERS[0]
        expected = (first.height, first.width, first.in_channels)
        if batch.ndim != 4 or batch.shape[1:] != expected:
            raise DigitsError(
                f"images_bits has shape {arr.shape}; expected (n, *{expected}) or {expected}"
            )
        logits = np.empty((batch.shape[0], CLASSES), dtype=np.int64)
        for i, image in enumerate(batch):
            out, _ = run_network(self.network, image, golden_layer)
            logits[i] = flatten(out)
        return logits[0] if single else logits

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The arrays of the parameter file (see the module docstring), record included."""
        out: dict[str, np.ndarray] = {
            "input_levels": np.asarray(self.input_levels, dtype=np.int64),
        }
        for name, spec, w, t, f in zip(
            LAYER_NAMES, LAYERS, self.weights, self.thresholds, self.flips, strict=True
        ):
            out[f"{name}_weights"] = np.asarray(w, dtype=np.uint8)
            if spec.output == "bit":
                out[f"{name}_thresholds"] = np.asarray(t, dtype=np.int64)
                out[f"{name}_flip"] = np.asarray(f, dtype=np.bool_)
        if self.record is not None:
            for key in _RECORD_INTS:
                out[key] = np.asarray(getattr(self.record, key), dtype=np.int64)
            for key in _RECORD_FLOATS:
                out[key] = np.asarray(getattr(self.record, key), dtype=np.float64)
            out["command"] = np.asarray(self.record.command, dtype=np.str_)
        return out


def _check_levels(source: str, levels: np.ndarray) -> None:
    shape = (len(INPUT_LEVELS),)
    _check_array(source, "input_levels", levels, shape, "int")
    if (
        levels.min() < 1
        or levels.max() > _MAX_INTENSITY
        or (levels.size > 1 and np.any(np.diff(levels) <= 0))
    ):
        raise DigitsParamsError(
            f"{source}: input_levels is {levels.tolist()}; expected increasing levels in 1..16"
        )


def _param_layout() -> dict[str, tuple[tuple[int, ...], str]]:
    """``{key: (shape, kind)}`` of every key of the parameter file, in file order."""
    layout: dict[str, tuple[tuple[int, ...], str]] = {"input_levels": ((len(INPUT_LEVELS),), "int")}
    for name, spec in zip(LAYER_NAMES, LAYERS, strict=True):
        layout[f"{name}_weights"] = (_weights_shape(spec), "bits")
        if spec.output == "bit":
            layout[f"{name}_thresholds"] = ((spec.out_channels,), "int")
            layout[f"{name}_flip"] = ((spec.out_channels,), "bool")
    layout.update({key: ((), "int") for key in _RECORD_INTS})
    layout.update({key: ((), "float") for key in _RECORD_FLOATS})
    layout["command"] = ((), "str")
    return layout


def _param_keys() -> list[str]:
    return list(_param_layout())


def _check_headers(source: str, headers: Mapping[str, tuple[np.dtype, tuple[int, ...]]]) -> None:
    """Keys, shapes and dtypes of a parameter file from its headers, before any data is read."""
    layout = _param_layout()
    missing = [key for key in layout if key not in headers]
    if missing:
        raise DigitsParamsError(f"{source}: missing key(s) {', '.join(missing)}")
    unknown = sorted(set(headers) - set(layout))
    if unknown:
        raise DigitsParamsError(f"{source}: unknown key(s) {', '.join(unknown)}")
    for key, (shape, kind) in layout.items():
        if kind == "str" and headers[key][0].kind == "U" and headers[key][0].itemsize > 1 << 16:
            raise DigitsParamsError(
                f"{source}: {key} has dtype {headers[key][0]}; expected a string of at most "
                f"{1 << 14} characters"
            )
        _check_meta(source, key, headers[key][0], headers[key][1], shape, kind)


def load_params(path: str | Path | None = None) -> DigitsBnn:
    """Load and check a parameter file.

    Parameters
    ----------
    path : path-like, optional
        Defaults to the shipped :data:`DEFAULT_PARAMS`.

    Returns
    -------
    DigitsBnn
        With its :class:`TrainingRecord`.

    Raises
    ------
    DigitsParamsFileNotFound
        The file does not exist.
    DigitsParamsError
        The file is not an ``.npz`` (a ``.npy``, not a zip, a member that is not an array, two
        members of one name, an object/pickled member: never unpickled), or a key is missing or
        unknown, or an array has the wrong shape, dtype or values (bits not 0/1, a threshold
        outside ``[-(K+1), K+1]``, an inconsistent training record). Keys, shapes and dtypes are
        checked from the members' headers before any data is loaded
        (:func:`oxbnn.models.layer_io.read_npz`). The message names the file and the key.
    """
    path = DEFAULT_PARAMS if path is None else Path(path)
    source = str(path)
    if path.is_dir():
        raise DigitsParamsError(f"{source}: is a folder, not a digits parameter file (.npz)")
    if not path.is_file():
        raise DigitsParamsFileNotFound(f"{source}: digits parameter file does not exist")
    arrays = read_npz(
        path,
        what="parameter file",
        error=DigitsParamsError,
        check=lambda headers, _load: _check_headers(source, headers),
    )

    levels = arrays["input_levels"]
    _check_levels(source, levels)
    weights, thresholds, flips = [], [], []
    for name, spec in zip(LAYER_NAMES, LAYERS, strict=True):
        key = f"{name}_weights"
        weights.append(_check_array(source, key, arrays[key], _weights_shape(spec), "bits"))
        if spec.output == "int":
            thresholds.append(None)
            flips.append(None)
            continue
        key = f"{name}_thresholds"
        thr = _check_array(source, key, arrays[key], (spec.out_channels,), "int")
        thresholds.append(check_thresholds(source, key, thr, spec.k, DigitsParamsError))
        key = f"{name}_flip"
        flips.append(_check_array(source, key, arrays[key], (spec.out_channels,), "bool"))

    ints = {key: int(_check_array(source, key, arrays[key], (), "int")) for key in _RECORD_INTS}
    floats = {
        key: float(_check_array(source, key, arrays[key], (), "float")) for key in _RECORD_FLOATS
    }
    command = str(_check_array(source, "command", arrays["command"], (), "str"))
    for part in ("train", "test"):
        images, correct = ints[f"{part}_images"], ints[f"{part}_correct"]
        accuracy = floats[f"{part}_accuracy"]
        if images < 1 or not 0 <= correct <= images or accuracy != correct / images:
            raise DigitsParamsError(
                f"{source}: {part}_accuracy = {accuracy} is not "
                f"{part}_correct / {part}_images = {correct} / {images}"
            )
    record = TrainingRecord(**ints, **floats, command=command)
    return DigitsBnn(
        weights=tuple(weights),
        thresholds=tuple(thresholds),
        flips=tuple(flips),
        input_levels=tuple(int(v) for v in levels),
        record=record,
    )


def save_params(net: DigitsBnn, path: str | Path) -> Path:
    """Write ``net`` (with its record) as a deterministic ``.npz``.

    The zip entries are written in a fixed order with a fixed timestamp, so equal parameters give
    equal bytes. Parent folders are created; the file is written atomically.

    Parameters
    ----------
    net : DigitsBnn
        Must carry a :class:`TrainingRecord`.
    path : path-like

    Returns
    -------
    Path
        The file written.
    """
    if net.record is None:
        raise DigitsParamsError("save_params: the network has no TrainingRecord")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays: Mapping[str, np.ndarray] = net.to_arrays()
    with atomic_open(path, "wb") as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as zf:
        for key in _param_keys():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asarray(arrays[key]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buffer.getvalue(), compresslevel=9)
    return path
