"""The layer chain of a BNN, written once: each layer's output is the next layer's input.

Every place that runs a whole network (the golden model, the fast optical path, the RTL
co-simulation, ``oxbnn infer``, the accuracy sweep) walks its layers with :func:`walk` (or its
wrappers :func:`run_network` / :func:`run_network_async`) and supplies only the per-layer
function. The host's one rule between layers lives in :func:`layer_input`: a convolution takes
the previous ``H x W x C`` map as it is, a fully-connected layer takes it flattened in
``(y, x, c)`` order (``c`` fastest, the order of the im2col vector of
:meth:`~oxbnn.models.layer.LayerSpec.fc`) as a ``1 x 1 x K`` map.

The golden model's per-layer function (:func:`golden_layer`) and each layer's input on the golden
model (:func:`golden_inputs`, what a layer run alone on the XPU is given) are here too, so that no
caller writes the chain again. Nothing here imports amaranth, cocotb or ``oxbnn.rtl``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator, Sequence
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from .bnn import layer_forward
from .layer import LayerSpec

__all__ = [
    "NetworkError",
    "NetworkLayer",
    "flatten",
    "layer_input",
    "walk",
    "run_network",
    "run_network_async",
    "golden_layer",
    "golden_inputs",
]


class NetworkError(ValueError):
    """A layer's input does not have the shape the layer expects; names the layer."""


class NetworkLayer(NamedTuple):
    """One layer of a network and its parameters (a tuple, so it unpacks as before).

    Attributes
    ----------
    spec : LayerSpec
    weights : ndarray of uint8
        ``C_out x kh x kw x C_in`` bits, 1 = +1.
    thresholds : ndarray of int64 or None
        ``None`` for an ``output = "int"`` layer.
    flip : ndarray of bool or None
    """

    spec: LayerSpec
    weights: NDArray[np.uint8]
    thresholds: NDArray[np.int64] | None
    flip: NDArray[np.bool_] | None


def flatten(act: Any) -> NDArray:
    """``H x W x C`` to ``K = H * W * C`` in ``(y, x, c)`` order (``c`` fastest)."""
    return np.ascontiguousarray(act).reshape(-1)


def layer_input(spec: LayerSpec, act: Any, *, where: str = "layer") -> NDArray:
    """The input ``spec`` takes from ``act``, the previous layer's output (or the image).

    A fully-connected layer takes ``act`` flattened to ``1 x 1 x K``; a convolution takes it as
    it is. Raises :class:`NetworkError` naming ``where`` if the shape does not fit ``spec``.
    """
    arr = np.asarray(act)
    if spec.kind == "fc":
        if arr.size != spec.k:
            raise NetworkError(
                f"{where}: a fully-connected layer of K = {spec.k} inputs cannot take a map of "
                f"shape {arr.shape} ({arr.size} values)"
            )
        return flatten(arr).reshape(1, 1, -1)
    expected = (spec.height, spec.width, spec.in_channels)
    if arr.shape != expected:
        raise NetworkError(f"{where}: input has shape {arr.shape}; expected {expected}")
    return arr


LayerWalk = Generator[tuple[int, Any, NDArray], Any, Any]


def walk(layers: Sequence[Any], x: Any) -> LayerWalk:
    """Walk ``layers`` from input ``x``: yields ``(index, layer, input)``; send back the output.

    ``layers`` holds :class:`NetworkLayer`-like items (anything with a ``spec`` attribute or a
    tuple whose first element is the :class:`~oxbnn.models.layer.LayerSpec`). The value sent
    back for a layer is its output map, or a tuple whose first element is the output map (the
    rest is the caller's per-layer record). The generator returns the last layer's output map.
    """
    act = x
    for i, layer in enumerate(layers):
        spec = layer.spec if hasattr(layer, "spec") else layer[0]
        out = yield i, layer, layer_input(spec, act, where=f"layer {i}")
        act = out[0] if isinstance(out, tuple) else out
    return act


def run_network(
    layers: Sequence[Any], x: Any, layer_fn: Callable[[int, Any, NDArray], Any]
) -> tuple[Any, list[Any]]:
    """Run ``layer_fn(index, layer, input)`` over the chain; ``(last output, per-layer values)``.

    ``layer_fn`` returns the layer's output map, or a tuple ``(output, ...)``; the list holds
    what it returned for each layer.
    """
    chain = walk(layers, x)
    records: list[Any] = []
    try:
        item = next(chain)
        while True:
            value = layer_fn(*item)
            records.append(value)
            item = chain.send(value)
    except StopIteration as stop:
        return stop.value, records


async def run_network_async(
    layers: Sequence[Any], x: Any, layer_fn: Callable[[int, Any, NDArray], Awaitable[Any]]
) -> tuple[Any, list[Any]]:
    """:func:`run_network` for a coroutine ``layer_fn`` (the cocotb testbench's)."""
    chain = walk(layers, x)
    records: list[Any] = []
    try:
        item = next(chain)
        while True:
            value = await layer_fn(*item)
            records.append(value)
            item = chain.send(value)
    except StopIteration as stop:
        return stop.value, records


def golden_layer(_index: int, layer: Any, act: NDArray) -> NDArray:
    """The golden model's per-layer function for :func:`run_network`.

    :func:`oxbnn.models.bnn.layer_forward` of ``act`` with the :class:`NetworkLayer` ``layer``'s
    parameters; the output has shape ``layer.spec.final_shape``.
    """
    spec, weights, thresholds, flip = layer
    return layer_forward(act, weights, thresholds, spec, flip)


def golden_inputs(layers: Sequence[Any], x: Any) -> list[NDArray]:
    """Each layer's input when ``x`` goes through the golden model, shaped as the XPU takes it.

    The input of a fully-connected layer is the ``1 x 1 x K`` map of :func:`layer_input`. These
    are the inputs a layer run alone (on the XPU or on the fast path) is given.
    """
    _, records = run_network(layers, x, lambda i, layer, act: (golden_layer(i, layer, act), act))
    return [act for _, act in records]
