"""The ``.npz`` layer file that ``oxbnn sim --layer`` reads, and its validation.

Format (all arrays; scalars as 0-d arrays, which ``numpy.savez`` writes for Python scalars):

=============  ==========================  =====================================================
key            dtype / shape               meaning
=============  ==========================  =====================================================
activations    uint8 0/1, H x W x C_in     input feature map, 1 = +1, 0 = -1
weights        uint8 0/1, C_out x kh x kw  filters, channels last
               x C_in
thresholds     integer, C_out              bit = 1 iff dot >= threshold (ignored for "int");
                                           each in [-(K+1), K+1] (see below)
flip           bool, C_out (optional)      where True: bit = 1 iff dot <= threshold
stride         integer scalar (optional)   1 (default) or 2
padding        integer scalar (optional)   0 (default) or more
output         string scalar (optional)    "bit" (default) or "int"
pool           bool scalar (optional)      2 x 2 OR max-pool of the output bits (default False)
kind           string scalar (optional)    "conv" (default) or "fc" (then H = W = kh = kw = 1)
=============  ==========================  =====================================================

Every problem is reported before any simulation starts, as a :class:`LayerFileError` that names
the file, the key and what was expected.

**Reading.** :func:`read_npz` (also used for the digits parameter file) opens the zip itself and
reads every member's ``.npy`` header (shape, dtype) *before* it loads any data, so a small
deflated file whose header declares gigabytes is refused at once, without allocating it. It
refuses: a ``.npy`` where an ``.npz`` is expected, a file that is not a zip, a member that is not
an ``<key>.npy`` array, two members of the same name, object (pickled) members (they are never
unpickled: ``allow_pickle=False``), a member that declares more than :data:`MAX_MEMBER_BYTES`, and
a member whose data length differs from what its header declares.

**Bounds before loading.** From the headers alone: ranks, empty dimensions, dtypes (bool,
signed or unsigned integers for bits and thresholds; bool for ``flip`` and ``pool``), H and W
against the descriptor's :data:`~oxbnn.models.tiling.MAX_IMAGE_DIM`, kh and kw against
:data:`~oxbnn.models.tiling.MAX_KERNEL`, C_in and C_out consistent between members; then the
small scalars are loaded and the :class:`~oxbnn.models.layer.LayerSpec` is built. With ``xpu=``
the layer's tiling plan on that XPU (buffers, threshold memory) is checked too, still before the
activations and weights are loaded; without it :data:`MAX_MEMBER_BYTES` bounds what is loaded.

**Thresholds** (decision). Every dot product of a layer with ``K``-bit vectors lies in ``[-K, K]``,
so the thresholds ``-(K+1)`` and ``K+1`` already mean "always" and "never" (with or without
flip); the project's batch-norm folding (:func:`oxbnn.models.training.fold_batchnorm`) produces
exactly that range, and the host writes the threshold word clamped to it. A layer file's
threshold outside ``[-(K+1), K+1]`` is therefore refused with a named error (checked on exact
Python integers, before any cast, so a uint64 of 2**63 or more is never wrapped to a negative
int64): the golden model and the hardware never see a value the file did not hold.
"""

from __future__ import annotations

import math
import zipfile
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .atomic import save_npz
from .configs import XpuParams
from .layer import LayerError, LayerSpec
from .tiling import MAX_IMAGE_DIM, MAX_KERNEL, TilingError, tiling_plan

__all__ = [
    "MAX_MEMBER_BYTES",
    "LayerFileError",
    "LayerData",
    "check_thresholds",
    "load_layer_file",
    "read_npz",
    "save_layer_file",
]

_REQUIRED = ("activations", "weights", "thresholds")
_OPTIONAL = ("flip", "stride", "padding", "output", "pool", "kind")
_SCALARS = ("stride", "padding", "output", "pool", "kind")

#: The most bytes one member of a layer or parameter file may declare in its ``.npy`` header
#: (256 MiB). The largest layer of the four BNNs in :mod:`oxbnn.models.workloads` is a few
#: MiB; a layer of 2**28 bits would take the co-simulation (about 10**5 cycles per wall second)
#: days just to stream, so anything larger is refused as absurd before it is allocated.
MAX_MEMBER_BYTES = 1 << 28

#: The most bytes a scalar member may have: a short string ("conv", "bit") or an integer.
_MAX_SCALAR_BYTES = 256
_NPY_MAGIC = b"\x93NUMPY"
_READ_ERRORS = (
    ValueError,
    EOFError,
    OSError,
    RuntimeError,  # an encrypted member
    NotImplementedError,  # an unsupported compression method
    zipfile.BadZipFile,
    zlib.error,
)

#: ``{key: (dtype, shape)}`` of every member, as its ``.npy`` header declares.
Headers = dict[str, tuple[np.dtype, tuple[int, ...]]]


class LayerFileError(ValueError):
    """A layer file is malformed; the message names the file and the key."""


@dataclass(frozen=True)
class LayerData:
    """A validated layer: its shape and its data."""

    spec: LayerSpec
    activations: np.ndarray
    weights: np.ndarray
    thresholds: np.ndarray
    flip: np.ndarray


def _read_header(fp) -> tuple[np.dtype, tuple[int, ...]]:
    version = np.lib.format.read_magic(fp)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(fp)
    elif version == (2, 0):
        shape, _, dtype = np.lib.format.read_array_header_2_0(fp)
    else:
        raise ValueError(f".npy format version {version[0]}.{version[1]} is not supported")
    return dtype, tuple(int(n) for n in shape)


def read_npz(
    path: str | Path,
    *,
    what: str,
    error: type[ValueError],
    check: Callable[[Headers, Callable[[str], np.ndarray]], None],
) -> dict[str, np.ndarray]:
    """Read an ``.npz`` safely: every member's header first, then ``check``, then the data.

    Parameters
    ----------
    path : path-like
    what : str
        What the file is, for the messages ("layer file", "parameter file").
    error : ValueError subclass
        Raised, with the file and the key in its message, for every problem.
    check : callable
        Called as ``check(headers, load)`` with the headers of all members (``{key: (dtype,
        shape)}``) before any other data is loaded; it raises ``error`` for missing or unknown
        keys, wrong dtypes and wrong or inconsistent shapes, so that the loaded size is bounded by
        what the format allows. ``load(key)`` loads one member early (e.g. the small scalars a
        check needs); it applies the same size checks as the final load.

    Returns
    -------
    dict of str to ndarray
        One array per key (the member name without ``.npy``), loaded with ``allow_pickle=False``.
    """
    path = Path(path)
    where = str(path)
    try:
        with path.open("rb") as fh:
            magic = fh.read(len(_NPY_MAGIC))
    except FileNotFoundError:
        raise error(f"{where}: no such {what}") from None
    except IsADirectoryError:
        raise error(f"{where}: is a folder, not a .npz {what}") from None
    except OSError as exc:
        raise error(f"{where}: cannot read the {what} ({exc.strerror or exc})") from None
    if magic == _NPY_MAGIC:
        raise error(
            f"{where}: is a single-array .npy file; a {what} is an .npz (a zip of named arrays, "
            f"as numpy.savez writes it)"
        )
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise error(f"{where}: not a readable .npz {what} (not a zip archive: {exc})") from None
    with zf:
        members: dict[str, zipfile.ZipInfo] = {}
        for info in zf.infolist():
            name = info.filename
            if info.is_dir() or not name.endswith(".npy") or name == ".npy":
                raise error(
                    f"{where}: member {name!r} is not an array; an .npz {what} holds only "
                    f"<key>.npy members"
                )
            key = name[: -len(".npy")]
            if key in members:
                raise error(
                    f"{where}: holds two members named {name!r} ('{key}'); every key must "
                    f"appear once"
                )
            members[key] = info
        headers: Headers = {}
        offsets: dict[str, int] = {}
        for key, info in members.items():
            try:
                with zf.open(info) as fp:
                    headers[key] = _read_header(fp)
                    offsets[key] = fp.tell()
            except _READ_ERRORS as exc:
                raise error(f"{where}: '{key}' is not a readable .npy array ({exc})") from None
            dtype = headers[key][0]
            if dtype.hasobject:
                raise error(
                    f"{where}: '{key}' has dtype {dtype}: object arrays are refused; store "
                    f"plain integer/bool arrays"
                )
        arrays: dict[str, np.ndarray] = {}

        def load(key: str) -> np.ndarray:
            if key in arrays:
                return arrays[key]
            info = members[key]
            dtype, shape = headers[key]
            nbytes = math.prod(shape) * dtype.itemsize
            if nbytes > MAX_MEMBER_BYTES:
                raise error(
                    f"{where}: '{key}' declares shape {shape} of {dtype} ({nbytes} bytes); a "
                    f"{what} member may hold at most {MAX_MEMBER_BYTES} bytes"
                )
            if info.file_size != offsets[key] + nbytes:
                raise error(
                    f"{where}: '{key}' holds {info.file_size - offsets[key]} data bytes but its "
                    f"header declares shape {shape} of {dtype} ({nbytes} bytes)"
                )
            try:
                with zf.open(info) as fp:
                    arrays[key] = np.lib.format.read_array(fp, allow_pickle=False)
            except _READ_ERRORS as exc:
                raise error(f"{where}: '{key}' is not a readable .npy array ({exc})") from None
            return arrays[key]

        check(headers, load)
        for key in members:
            load(key)
    return arrays


def check_thresholds(
    where: str, key: str, thresholds: np.ndarray, k: int, error: type[ValueError]
) -> np.ndarray:
    """``thresholds`` as int64 after checking, on exact integers, that each is in ``[-(K+1), K+1]``.

    See the module docstring for why that range; raises ``error`` naming ``where`` and ``key``.
    """
    if thresholds.dtype.kind not in "iu":
        raise error(f"{where}: '{key}' has dtype {thresholds.dtype}; expected integers")
    values = thresholds.astype(object).reshape(-1)  # exact Python ints: no wrap, no overflow
    for i, value in enumerate(values):
        if not -(k + 1) <= value <= k + 1:
            raise error(
                f"{where}: '{key}' holds {value} at index {i}; a threshold of a layer with "
                f"K = {k} must lie in [-(K+1), K+1] = [{-(k + 1)}, {k + 1}] (every dot product "
                f"lies in [-K, K], so the bounds already mean always / never)"
            )
    return thresholds.astype(np.int64)


def _bits_header(where: str, key: str, dtype: np.dtype, shape: tuple, doc: str) -> None:
    if dtype.kind not in "biu":
        raise LayerFileError(
            f"{where}: '{key}' has dtype {dtype}; expected uint8 0/1 (bool or integer 0/1 are "
            f"accepted too)"
        )
    if len(shape) != doc.count(",") + 1:
        raise LayerFileError(f"{where}: '{key}' has shape {shape}; expected {doc}")
    if min(shape) < 1:
        raise LayerFileError(
            f"{where}: '{key}' has shape {shape}; expected {doc} with every size at least 1"
        )


def _check_headers(where: str, headers: Headers) -> None:
    missing = [k for k in _REQUIRED if k not in headers]
    if missing:
        raise LayerFileError(
            f"{where}: missing key(s) {missing}; a layer file needs {list(_REQUIRED)}"
        )
    unknown = sorted(set(headers) - set(_REQUIRED) - set(_OPTIONAL))
    if unknown:
        raise LayerFileError(
            f"{where}: unknown key(s) {unknown}; expected {list(_REQUIRED + _OPTIONAL)}"
        )
    act_dtype, act_shape = headers["activations"]
    wgt_dtype, wgt_shape = headers["weights"]
    _bits_header(where, "activations", act_dtype, act_shape, "(H, W, C_in)")
    _bits_header(where, "weights", wgt_dtype, wgt_shape, "(C_out, kh, kw, C_in)")
    h, w, c_in = act_shape
    c_out, kh, kw, c_w = wgt_shape
    for name, value in (("H", h), ("W", w)):
        if value > MAX_IMAGE_DIM:
            raise LayerFileError(
                f"{where}: 'activations' has {name} = {value} (shape {act_shape}); the "
                f"descriptor holds at most {MAX_IMAGE_DIM}"
            )
    for name, value in (("kh", kh), ("kw", kw)):
        if value > MAX_KERNEL:
            raise LayerFileError(
                f"{where}: 'weights' has {name} = {value} (shape {wgt_shape}); the descriptor "
                f"holds kernels of at most {MAX_KERNEL} x {MAX_KERNEL}"
            )
    if c_w != c_in:
        raise LayerFileError(
            f"{where}: 'weights' has C_in = {c_w} (shape {wgt_shape}) but "
            f"'activations' has C_in = {c_in} (shape {act_shape})"
        )
    thr_dtype, thr_shape = headers["thresholds"]
    if thr_dtype.kind not in "iu" or thr_shape != (c_out,):
        raise LayerFileError(
            f"{where}: 'thresholds' has dtype {thr_dtype} and shape "
            f"{thr_shape}; expected integers of shape ({c_out},) = (C_out,)"
        )
    if "flip" in headers:
        flip_dtype, flip_shape = headers["flip"]
        if flip_dtype.kind != "b" or flip_shape != (c_out,):
            raise LayerFileError(
                f"{where}: 'flip' has dtype {flip_dtype} and shape "
                f"{flip_shape}; expected bool of shape ({c_out},)"
            )
    for key in _SCALARS:
        if key not in headers:
            continue
        dtype, shape = headers[key]
        if shape != ():
            raise LayerFileError(
                f"{where}: '{key}' has shape {shape}; expected a scalar (a 0-d array)"
            )
        if dtype.itemsize > _MAX_SCALAR_BYTES:
            raise LayerFileError(
                f"{where}: '{key}' has dtype {dtype} ({dtype.itemsize} bytes); expected a small "
                f"scalar (an integer, a bool or a short string)"
            )


def _bits(where: str, key: str, arr: np.ndarray) -> np.ndarray:
    bad = (arr != 0) & (arr != 1)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        value = arr[idx].item()
        raise LayerFileError(f"{where}: '{key}' holds {value!r} at {idx}; bits must be 0 or 1")
    return arr.astype(np.uint8)


def _scalar(where: str, data: Mapping[str, np.ndarray], key: str, default, kind: str):
    if key not in data:
        return default
    value = data[key].item()
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise LayerFileError(f"{where}: '{key}' = {value!r}; expected an integer")
    elif kind == "bool":
        if not isinstance(value, bool):
            raise LayerFileError(f"{where}: '{key}' = {value!r}; expected a bool")
    elif kind == "str" and not isinstance(value, str):
        raise LayerFileError(f"{where}: '{key}' = {value!r}; expected a string")
    return value


def _spec(where: str, headers: Headers, load: Callable[[str], np.ndarray]) -> LayerSpec:
    """The layer's shape from the headers of the arrays and the (small, loaded) scalars."""
    h, w, c_in = headers["activations"][1]
    c_out, kh, kw, _ = headers["weights"][1]
    data = {key: load(key) for key in _SCALARS if key in headers}
    try:
        return LayerSpec(
            kind=_scalar(where, data, "kind", "conv", "str"),
            height=h,
            width=w,
            in_channels=c_in,
            out_channels=c_out,
            kernel_h=kh,
            kernel_w=kw,
            stride=_scalar(where, data, "stride", 1, "int"),
            padding=_scalar(where, data, "padding", 0, "int"),
            output=_scalar(where, data, "output", "bit", "str"),
            pool=_scalar(where, data, "pool", False, "bool"),
        )
    except LayerError as exc:
        # A field that comes from the arrays' shapes: say which shapes gave it.
        shapes = any(f in str(exc) for f in ("kernel", "height", "width", "fc layer", "output of"))
        raise LayerFileError(
            f"{where}: {exc}"
            + (
                f" ('activations' has shape (H, W, C_in) = {(h, w, c_in)}, 'weights' has shape "
                f"(C_out, kh, kw, C_in) = {headers['weights'][1]})"
                if shapes
                else ""
            )
        ) from None


def load_layer_file(path: str | Path, *, xpu: XpuParams | None = None) -> LayerData:
    """Read and check a layer ``.npz``. Raises :class:`LayerFileError` naming file and key.

    Parameters
    ----------
    path : path-like
    xpu : XpuParams, optional
        Also check, before the activations and weights are loaded, that the layer maps onto
        this XPU (its tiling plan, :func:`oxbnn.models.tiling.tiling_plan`: buffers, threshold
        memory, descriptor fields); a layer that does not is refused with the plan's reason,
        prefixed with the file. Without it only the file format's own bounds apply before
        loading (see the module docstring).
    """
    where = str(path)
    specs: list[LayerSpec] = []

    def check(headers: Headers, load: Callable[[str], np.ndarray]) -> None:
        _check_headers(where, headers)
        spec = _spec(where, headers, load)
        if xpu is not None:
            try:
                tiling_plan(spec, xpu)
            except TilingError as exc:
                raise LayerFileError(f"{where}: the layer does not fit {xpu.name}: {exc}") from None
        specs.append(spec)

    data = read_npz(path, what="layer file", error=LayerFileError, check=check)
    [spec] = specs
    act = _bits(where, "activations", data["activations"])
    wgt = _bits(where, "weights", data["weights"])
    flip = data.get("flip", np.zeros(spec.out_channels, dtype=bool))
    thr = check_thresholds(where, "thresholds", data["thresholds"], spec.k, LayerFileError)
    return LayerData(spec, act, wgt, thr, flip.astype(bool))


def save_layer_file(path: str | Path, data: LayerData) -> Path:
    """Write a layer in the format :func:`load_layer_file` reads (atomically, to ``path``)."""
    path = Path(path)
    s = data.spec
    if s.pad != "dark":
        raise LayerFileError(
            f"{path}: the layer file format carries only 'dark' padding, not pad = {s.pad!r}"
        )
    save_npz(
        path,
        activations=data.activations.reshape(s.height, s.width, s.in_channels),
        weights=data.weights.reshape(s.out_channels, s.kernel_h, s.kernel_w, s.in_channels),
        thresholds=data.thresholds,
        flip=data.flip,
        stride=s.stride,
        padding=s.padding,
        output=s.output,
        pool=s.pool,
        kind=s.kind,
    )
    return path
