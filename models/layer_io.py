"""The ``.npz`` layer file that ``oxbnn sim --layer`` reads, and its validation.

Format (all arrays; scalars as 0-d arrays, which ``numpy.savez`` writes for Python scalars):

=============  ==========================  =====================================================
key            dtype / shape               meaning
=============  ==========================  =====================================================
activations    uint8 0/1, H x W x C_in     input feature map, 1 = +1, 0 = -1
weights        uint8 0/1, C_out x kh x kw  filters, channels last
               x C_in
thresholds     integer, C_out              bit = 1 iff dot >= threshold (ignored for "int")
flip           bool, C_out (optional)      where True: bit = 1 iff dot <= threshold
stride         integer scalar (optional)   1 (default) or 2
padding        integer scalar (optional)   0 (default) or more
output         string scalar (optional)    "bit" (default) or "int"
pool           bool scalar (optional)      2 x 2 OR max-pool of the output bits (default False)
kind           string scalar (optional)    "conv" (default) or "fc" (then H = W = kh = kw = 1)
=============  ==========================  =====================================================

Every problem is reported before any simulation starts, as a :class:`LayerFileError` that names
the file, the key and what was expected.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .layer import LayerError, LayerSpec

__all__ = ["LayerFileError", "LayerData", "load_layer_file", "save_layer_file"]

_REQUIRED = ("activations", "weights", "thresholds")
_OPTIONAL = ("flip", "stride", "padding", "output", "pool", "kind")


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


def _bits(where: str, key: str, arr: np.ndarray, ndim: int, shape_doc: str) -> np.ndarray:
    if arr.dtype.kind not in "biu":
        raise LayerFileError(f"{where}: '{key}' has dtype {arr.dtype}; expected uint8 0/1")
    if arr.ndim != ndim:
        raise LayerFileError(f"{where}: '{key}' has shape {arr.shape}; expected {shape_doc}")
    bad = (arr != 0) & (arr != 1)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        value = arr[idx].item()
        raise LayerFileError(f"{where}: '{key}' holds {value!r} at {idx}; bits must be 0 or 1")
    return arr.astype(np.uint8)


def _scalar(where: str, data: dict, key: str, default, kind: str):
    if key not in data:
        return default
    arr = data[key]
    if arr.shape != ():
        raise LayerFileError(f"{where}: '{key}' has shape {arr.shape}; expected a scalar")
    value = arr.item()
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise LayerFileError(f"{where}: '{key}' = {value!r}; expected an integer")
    elif kind == "bool":
        if not isinstance(value, bool):
            raise LayerFileError(f"{where}: '{key}' = {value!r}; expected a bool")
    elif kind == "str" and not isinstance(value, str):
        raise LayerFileError(f"{where}: '{key}' = {value!r}; expected a string")
    return value


def load_layer_file(path: str | Path) -> LayerData:
    """Read and check a layer ``.npz``. Raises :class:`LayerFileError` naming file and key."""
    path = Path(path)
    where = str(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            data = {k: npz[k] for k in npz.files}
    except FileNotFoundError:
        raise LayerFileError(f"{where}: no such layer file") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise LayerFileError(f"{where}: not a readable .npz file ({exc})") from None
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise LayerFileError(
            f"{where}: missing key(s) {missing}; a layer file needs {list(_REQUIRED)}"
        )
    unknown = sorted(set(data) - set(_REQUIRED) - set(_OPTIONAL))
    if unknown:
        raise LayerFileError(
            f"{where}: unknown key(s) {unknown}; expected {list(_REQUIRED + _OPTIONAL)}"
        )
    act = _bits(where, "activations", data["activations"], 3, "(H, W, C_in)")
    wgt = _bits(where, "weights", data["weights"], 4, "(C_out, kh, kw, C_in)")
    h, w, c_in = act.shape
    c_out, kh, kw, c_w = wgt.shape
    if c_w != c_in:
        raise LayerFileError(
            f"{where}: 'weights' has C_in = {c_w} (shape {wgt.shape}) but "
            f"'activations' has C_in = {c_in} (shape {act.shape})"
        )
    thr = data["thresholds"]
    if thr.dtype.kind not in "iu" or thr.shape != (c_out,):
        raise LayerFileError(
            f"{where}: 'thresholds' has dtype {thr.dtype} and shape "
            f"{thr.shape}; expected integers of shape ({c_out},) = (C_out,)"
        )
    if "flip" in data:
        flip = data["flip"]
        if flip.dtype.kind != "b" or flip.shape != (c_out,):
            raise LayerFileError(
                f"{where}: 'flip' has dtype {flip.dtype} and shape "
                f"{flip.shape}; expected bool of shape ({c_out},)"
            )
    else:
        flip = np.zeros(c_out, dtype=bool)
    kind = _scalar(where, data, "kind", "conv", "str")
    try:
        spec = LayerSpec(
            kind=kind,
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
        raise LayerFileError(f"{where}: {exc}") from None
    return LayerData(spec, act, wgt, thr.astype(np.int64), flip.astype(bool))


def save_layer_file(path: str | Path, data: LayerData) -> Path:
    """Write a layer in the format :func:`load_layer_file` reads."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    s = data.spec
    if s.pad != "dark":
        raise LayerFileError(
            f"{path}: the layer file format carries only 'dark' padding, not pad = {s.pad!r}"
        )
    np.savez(
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
