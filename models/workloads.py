"""Layer tables of the evaluated BNNs, and a reader/writer for the authors' layer-CSV format.

A :class:`Network` is a list of :class:`WorkloadLayer` rows in execution order. The four networks
of the paper's evaluation (:data:`NETWORKS`) are written here from their published architecture
definitions, not from the authors' CSV files (docs/reference.md defect 6: the authors' "VGG-small"
table is VGG19 at 224 x 224 and their ResNet18 table lacks half of the convolutions).

Layer kinds
-----------
``conv``
    A dense convolution (``groups = 1``), any kernel; a 1 x 1 conv is a *pointwise* conv (there is
    no separate kind: the kernel says it, and the CSV writer names it ``PointWiseConv``).
``grouped``
    A grouped convolution, ``groups >= 2`` dividing both ``C_in`` and ``C_out``, that is not
    depthwise.
``depthwise``
    ``groups = C_in = C_out``: one ``kh x kw`` filter per channel (channel multiplier 1).
``fc``
    A fully-connected layer on a flattened ``H x W x C`` input: a convolution whose kernel covers
    the whole input (``kernel = H x W``, stride 1, no padding), so its output is ``1 x 1 x C_out``
    and ``K = H * W * C``. Written this way an FC chains with the map it flattens.
``maxpool``, ``avgpool``
    Pooling, ``C_out = C_in``; a global average pool is an ``avgpool`` whose kernel is the whole
    map (stride 1).

Every layer has an input ``H x W x C_in``, an output ``H' x W' x C_out``, a kernel ``kh x kw``, a
stride, a symmetric zero padding and ``groups``; ``__post_init__`` checks that the output follows:
``H' = (H + 2 * padding - kh) // stride + 1`` (likewise for the width).

Branches
--------
Layers are listed in execution order. ``WorkloadLayer.source`` says where a layer's input comes
from, so that :class:`Network` can check that shapes chain wherever the dataflow is expressible:

* ``""`` (the default): the output of the layer listed just before it (the network input for the
  first layer). An element-wise residual add keeps the shape, so a layer after a residual block
  names nothing special (ResNet, MobileNet_V2).
* ``"name"``: the output of the earlier layer ``name`` (a ResNet downsample conv names the last
  conv of the previous block, whose shape the block input has); ``"input"`` is the network input.
* ``"a+b"``: the channel concatenation of the outputs of ``a`` and ``b``.
* ``"-"``: an input assembled by channel split / concatenation / shuffle of tensors that are not
  layer outputs (ShuffleNet_V2 units); only the layer's own consistency is checked.

A residual add is declared by the layer it follows: ``WorkloadLayer.residual`` names the earlier
layer (or ``"input"``) whose output is added element-wise to this layer's output
(:meth:`Network.residual_adds`; the system model runs it on electronic units). A name stands for
that layer's output tensor as ``source`` uses it (a ResNet block's output is named by its
``conv2``). ResNet18: an identity block's ``conv2`` names the block input; a block with a
downsample conv has the add after the downsample, which names its block's ``conv2``.
MobileNet_V2: a stride-1 bottleneck with equal input and output channels has its add after its
``project``, which names the block input.

The CSV format carries no dataflow; the reader marks a row ``""`` when its input equals the
previous row's output and ``"-"`` otherwise.

Mapping onto the XPU (:meth:`WorkloadLayer.to_layer_specs`)
-----------------------------------------------------------
A layer becomes ``(LayerSpec, repeat)`` pairs: the XPU runs ``spec`` ``repeat`` times.

* ``conv``: one spec, repeat 1.
* ``grouped``: the spec of one group (``C_in / g`` inputs, ``C_out / g`` filters), repeat ``g``.
* ``depthwise`` over ``C`` channels: one single-channel, single-filter conv, repeat ``C``
  (``K = kh * kw``).
* ``fc``: ``LayerSpec.fc(K, C_out)``.
* pools: ``[]``; pooling is electronic work outside the optical core, accounted by the system
  model. :meth:`Network.to_layer_specs` fuses a 2 x 2, stride-2, unpadded ``maxpool`` that
  directly follows a conv-type layer into that layer (``LayerSpec.pool = True``, an OR of the
  output bits, as the PCA readout does); other pools stay separate.
* Every layer emits bits except the network's last compute layer (the classifier), which emits
  the integer ``dot`` (``output = "int"``). As in the authors' evaluation, every compute layer,
  the first conv on the image included, is treated as binary.

The authors' layer-CSV format
-----------------------------
Columns, exactly and in this order (:data:`CSV_HEADER`)::

    model_name,name,kernel_depth,kernel_height,kernel_width,tensor_count,input_shape,
    output_shape,tensor_shape,input_height,input_width,input_depth,output_height,output_width,
    output_depth

As written by the authors' generator (the files bundled with their simulators):

* ``name`` is the layer type: ``Conv2D``, ``PointWiseConv`` (1 x 1), ``DepthWiseConv``,
  ``Dense``, ``MaxPooling2D``; it may carry a suffix after an underscore (``Conv2D_3``).
  ``AveragePooling2D`` is this module's extension, so that average pools survive a round trip;
  the authors' files leave average pools out.
* A conv row: ``kernel_depth`` = the filter depth ``C_in / groups``, ``tensor_count`` = the number
  of filters ``C_out``, ``tensor_shape`` = ``"(kh, kw, kernel_depth)"``, the shapes are
  ``"(None, H, W, C)"`` strings (the batch entry may also be an integer) and must equal the
  separate height/width/depth columns. A ``DepthWiseConv`` row has ``kernel_depth = 1`` and
  ``tensor_count = C``; a ``Conv2D`` / ``PointWiseConv`` row whose ``kernel_depth`` is smaller
  than ``input_depth`` is grouped (``groups = input_depth / kernel_depth``).
* A ``MaxPooling2D`` row: ``kernel_depth = 1``, ``tensor_count = 1``, ``tensor_shape =
  "(kh, kw, 1)"``.
* A ``Dense`` row: ``kernel_height = K`` (``kernel_depth = kernel_width = 1``), ``tensor_count
  = 1`` (``C_out`` is accepted too), ``input_shape = "(None, K)"``, ``output_shape = "(None,
  C_out)"``, ``tensor_shape = "(K, 1, 1)"``, ``output_height = C_out`` and ``output_width =
  output_depth = 1``. The authors' generator fills ``input_height/width/depth`` of a Dense row
  with the shape of some earlier layer (``7, 7, 320`` for MobileNet_V2's ``K = 1280``), so these
  three columns are *not* checked for a Dense row: they are taken as the FC's input map when
  their product is ``K`` (what :func:`write_workload_csv` writes) and ignored otherwise (the
  input is then ``1 x 1 x K``).

What the format cannot carry, and how the reader fills it in:

* **stride and padding**: inferred as the smallest stride, then the smallest symmetric padding
  (``0 <= padding < max(kh, kw)``), that reproduce both output dimensions. Asymmetric "same"
  padding (Keras, stride 2 on an even input) becomes the symmetric padding with the same output
  size; an input stored already padded (the authors' ResNet stem reads ``230 x 230``) stays a
  padded input with padding 0.
* **layer names**: a bare type name gets ``"<Type>_<row>"``, and so does a purely numeric
  suffix, which is a per-type counter (``Conv2D_1`` and ``MaxPooling2D_1`` stay distinct);
  :func:`write_workload_csv` with ``layer_names=True`` appends the layer name as a suffix
  (``Conv2D_layer1.0.conv1``) and the reader takes it back (a layer name must not be all
  digits to survive this). The default writes bare type names, because the authors' simulator
  recognises a pooling row only by the exact name ``MaxPooling2D``.
* **dataflow** (``source``, ``residual``), the network's ``definition`` and ``dataset``.

Errors
------
Every problem raises :class:`WorkloadError` (a ``ValueError``). A layer or network names the
field and the value; the CSV reader adds the file, the row (the header is row 1; a row is a line
of the file) and the column.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple, NoReturn

from .layer import LayerError, LayerSpec
from .userfile import read_text

__all__ = [
    "CSV_HEADER",
    "COMPUTE_KINDS",
    "KINDS",
    "NETWORKS",
    "POOL_KINDS",
    "LayerMapping",
    "Network",
    "WorkloadError",
    "WorkloadLayer",
    "get_network",
    "mobilenet_v2",
    "read_workload_csv",
    "resnet18",
    "shufflenet_v2",
    "vgg_small",
    "write_workload_csv",
]

KINDS = ("conv", "grouped", "depthwise", "fc", "maxpool", "avgpool")
COMPUTE_KINDS = ("conv", "grouped", "depthwise", "fc")
POOL_KINDS = ("maxpool", "avgpool")

CSV_HEADER = (
    "model_name",
    "name",
    "kernel_depth",
    "kernel_height",
    "kernel_width",
    "tensor_count",
    "input_shape",
    "output_shape",
    "tensor_shape",
    "input_height",
    "input_width",
    "input_depth",
    "output_height",
    "output_width",
    "output_depth",
)


class WorkloadError(ValueError):
    """A malformed layer, network or workload file.

    The message names the field (or file, row and column) and the value. ``field`` holds the
    offending :class:`WorkloadLayer` field when there is one, so that the CSV reader can name the
    matching column.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _out_size(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


# ----------------------------------------------------------------------------------------------
# One layer
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkloadLayer:
    """One layer of a network, as the layer tables and the system model need it.

    Parameters
    ----------
    name : str
        Unique within its network (e.g. ``"layer2.0.conv1"``).
    kind : str
        One of :data:`KINDS` (see the module docstring).
    in_h, in_w, in_c : int
        Input map ``H x W x C_in``.
    out_h, out_w, out_c : int
        Output map; must follow from the input, kernel, stride and padding.
    kernel_h, kernel_w : int
        Kernel (pooling window for a pool; the whole input map for an ``fc``).
    stride : int
        Positive; the XPU itself executes stride 1 or 2 (:meth:`to_layer_specs` checks).
    padding : int
        Zero padding on every side, ``0 <= padding < max(kernel_h, kernel_w)``.
    groups : int
        1 for ``conv``, ``fc`` and pools; ``C_in`` for ``depthwise``.
    source : str
        Where the input comes from: ``""``, a layer name, ``"input"``, names joined by ``"+"``
        (channel concatenation) or ``"-"`` (see *Branches* in the module docstring).
    residual : str
        ``""`` (the default), or the earlier layer (or ``"input"``) whose output is added
        element-wise to this layer's output, in a residual add right after this layer; its
        output shape must equal this layer's (see *Branches*).
    """

    name: str
    kind: str
    in_h: int
    in_w: int
    in_c: int
    out_h: int
    out_w: int
    out_c: int
    kernel_h: int = 1
    kernel_w: int = 1
    stride: int = 1
    padding: int = 0
    groups: int = 1
    source: str = ""
    residual: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise WorkloadError(f"name must be a non-empty string, not {self.name!r}", field="name")
        where = f"layer {self.name!r}: "

        def fail(name: str, message: str) -> NoReturn:
            raise WorkloadError(where + message, field=name)

        if self.kind not in KINDS:
            fail("kind", f"kind must be one of {KINDS}, not {self.kind!r}")
        for name in ("in_h", "in_w", "in_c", "out_h", "out_w", "out_c"):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                fail(name, f"{name} must be a positive integer, not {value!r}")
        for name in ("kernel_h", "kernel_w", "stride", "groups"):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                fail(name, f"{name} must be a positive integer, not {value!r}")
        if not _is_int(self.padding) or self.padding < 0:
            fail("padding", f"padding must be a non-negative integer, not {self.padding!r}")
        if self.padding and self.padding >= max(self.kernel_h, self.kernel_w):
            fail(
                "padding",
                f"padding = {self.padding} must be smaller than the kernel "
                f"({self.kernel_h} x {self.kernel_w})",
            )
        if self.in_h + 2 * self.padding < self.kernel_h:
            fail(
                "kernel_h",
                f"kernel_h = {self.kernel_h} is larger than the padded input height "
                f"{self.in_h + 2 * self.padding}",
            )
        if self.in_w + 2 * self.padding < self.kernel_w:
            fail(
                "kernel_w",
                f"kernel_w = {self.kernel_w} is larger than the padded input width "
                f"{self.in_w + 2 * self.padding}",
            )
        for dim, size, kernel in (("h", self.in_h, self.kernel_h), ("w", self.in_w, self.kernel_w)):
            expected = _out_size(size, kernel, self.stride, self.padding)
            got = getattr(self, f"out_{dim}")
            if got != expected:
                fail(
                    f"out_{dim}",
                    f"out_{dim} = {got} does not follow from in_{dim} = {size}, kernel {kernel}, "
                    f"stride {self.stride} and padding {self.padding}: expected {expected}",
                )
        self._check_kind(fail)
        if not isinstance(self.source, str) or (
            self.source not in ("", "-") and any(not s.strip() for s in self.source.split("+"))
        ):
            fail(
                "source",
                f"source must be '', '-', a layer name or names joined by '+', not {self.source!r}",
            )
        if not isinstance(self.residual, str) or (
            self.residual != self.residual.strip() or any(c in self.residual for c in "+-")
        ):
            fail("residual", f"residual must be '' or one layer name, not {self.residual!r}")

    def _check_kind(self, fail: Callable[[str, str], NoReturn]) -> None:
        g, cin, cout = self.groups, self.in_c, self.out_c
        if self.kind in ("conv", "fc", "maxpool", "avgpool") and g != 1:
            fail("groups", f"groups must be 1 for a {self.kind} layer, not {g}")
        if self.kind in POOL_KINDS and cout != cin:
            fail("out_c", f"a pool keeps the channels: out_c = {cout} must equal in_c = {cin}")
        if self.kind == "depthwise":
            if g != cin:
                fail("groups", f"a depthwise layer needs groups = in_c = {cin}, not {g}")
            if cout != cin:
                fail("out_c", f"a depthwise layer needs out_c = in_c = {cin}, not {cout}")
        if self.kind == "grouped":
            if g < 2:
                fail("groups", f"a grouped layer needs groups >= 2, not {g}")
            if cin % g:
                fail("groups", f"groups = {g} does not divide in_c = {cin}")
            if cout % g:
                fail("groups", f"groups = {g} does not divide out_c = {cout}")
            if g == cin == cout:
                fail("kind", f"groups = in_c = out_c = {g} is a depthwise layer, not 'grouped'")
        if self.kind == "fc" and (
            (self.kernel_h, self.kernel_w) != (self.in_h, self.in_w)
            or self.stride != 1
            or self.padding != 0
        ):
            fail(
                "kernel_h",
                f"an fc layer's kernel is its whole input ({self.in_h} x {self.in_w}), "
                f"stride 1, padding 0; not kernel {self.kernel_h} x {self.kernel_w}, "
                f"stride {self.stride}, padding {self.padding}",
            )

    # -- constructors --------------------------------------------------------------------------

    @classmethod
    def conv(
        cls,
        name: str,
        in_shape: Sequence[int],
        out_c: int,
        kernel: int | tuple[int, int] = 1,
        *,
        stride: int = 1,
        padding: int = 0,
        groups: int = 1,
        source: str = "",
        residual: str = "",
    ) -> WorkloadLayer:
        """A convolution whose output shape is computed; the kind follows from ``groups``.

        ``groups = 1`` gives ``conv``, ``groups = C_in = out_c`` gives ``depthwise`` and anything
        else ``grouped``.
        """
        h, w, c = in_shape
        kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
        if groups == 1:
            kind = "conv"
        elif groups == c == out_c:
            kind = "depthwise"
        else:
            kind = "grouped"
        return cls(
            name,
            kind,
            h,
            w,
            c,
            _out_size(h, kh, stride, padding),
            _out_size(w, kw, stride, padding),
            out_c,
            kh,
            kw,
            stride,
            padding,
            groups,
            source,
            residual,
        )

    @classmethod
    def depthwise(
        cls,
        name: str,
        in_shape: Sequence[int],
        kernel: int = 3,
        *,
        stride: int = 1,
        padding: int = 1,
        source: str = "",
    ) -> WorkloadLayer:
        """A depthwise ``kernel x kernel`` convolution (channel multiplier 1)."""
        c = in_shape[2]
        return cls.conv(
            name, in_shape, c, kernel, stride=stride, padding=padding, groups=c, source=source
        )

    @classmethod
    def fc(
        cls, name: str, in_shape: Sequence[int], out_c: int, *, source: str = ""
    ) -> WorkloadLayer:
        """A fully-connected layer on the flattened ``in_shape``."""
        h, w, c = in_shape
        return cls(name, "fc", h, w, c, 1, 1, out_c, h, w, 1, 0, 1, source)

    @classmethod
    def pool(
        cls,
        name: str,
        kind: str,
        in_shape: Sequence[int],
        kernel: int,
        *,
        stride: int,
        padding: int = 0,
        source: str = "",
    ) -> WorkloadLayer:
        """A ``maxpool`` or ``avgpool`` over ``kernel x kernel`` windows."""
        h, w, c = in_shape
        oh, ow = _out_size(h, kernel, stride, padding), _out_size(w, kernel, stride, padding)
        return cls(name, kind, h, w, c, oh, ow, c, kernel, kernel, stride, padding, 1, source)

    # -- derived quantities --------------------------------------------------------------------

    @property
    def in_shape(self) -> tuple[int, int, int]:
        """``(H, W, C_in)``."""
        return (self.in_h, self.in_w, self.in_c)

    @property
    def out_shape(self) -> tuple[int, int, int]:
        """``(H', W', C_out)``."""
        return (self.out_h, self.out_w, self.out_c)

    @property
    def is_compute(self) -> bool:
        """True for the layers the optical core executes (not pools)."""
        return self.kind in COMPUTE_KINDS

    @property
    def k(self) -> int:
        """Vector length per output, ``kh * kw * C_in / groups``; the window size for a pool."""
        if self.kind in POOL_KINDS:
            return self.kernel_h * self.kernel_w
        return self.kernel_h * self.kernel_w * (self.in_c // self.groups)

    @property
    def n_outputs(self) -> int:
        """Output values, ``H' * W' * C_out`` (dot products for a compute layer)."""
        return self.out_h * self.out_w * self.out_c

    @property
    def macs(self) -> int:
        """Multiply-accumulates, ``n_outputs * K``; 0 for a pool.

        In a BNN each is one XNOR and its share of a popcount, so this is also the XNOR count.
        Padded positions are counted, as in the usual MAC (FLOP) figures of the literature.
        """
        return self.n_outputs * self.k if self.is_compute else 0

    @property
    def xnor_ops(self) -> int:
        """Binary XNOR operations; equal to :attr:`macs`."""
        return self.macs

    @property
    def weight_bits(self) -> int:
        """Weight bits (one per weight), ``C_out * K``; 0 for a pool."""
        return self.out_c * self.k if self.is_compute else 0

    @property
    def input_bits(self) -> int:
        """Input activation bits, ``H * W * C_in``."""
        return self.in_h * self.in_w * self.in_c

    @property
    def output_bits(self) -> int:
        """Output activation bits, ``H' * W' * C_out`` (before any fused pooling)."""
        return self.n_outputs

    # -- mapping onto the XPU ------------------------------------------------------------------

    def to_layer_specs(
        self, *, pool: bool = False, output: str = "bit"
    ) -> list[tuple[LayerSpec, int]]:
        """The ``(LayerSpec, repeat)`` pairs the XPU executes for this layer.

        Parameters
        ----------
        pool : bool
            Fuse a following 2 x 2, stride-2 OR max-pool into this layer (conv kinds only).
        output : "bit" or "int"
            The output mode of every spec.

        Returns
        -------
        list of (LayerSpec, int)
            Empty for a pool; see the module docstring for the mapping.
        """
        if self.kind in POOL_KINDS:
            if pool:
                raise WorkloadError(f"layer {self.name!r}: a pool cannot fuse a pool")
            return []
        if pool and self.kind == "fc":
            raise WorkloadError(f"layer {self.name!r}: an fc layer cannot fuse a pool")
        if self.stride not in (1, 2):
            raise WorkloadError(
                f"layer {self.name!r}: the XPU executes stride 1 or 2, not {self.stride}",
                field="stride",
            )
        try:
            if self.kind == "fc":
                return [(LayerSpec.fc(self.k, self.out_c, output=output), 1)]
            spec = LayerSpec(
                kind="conv",
                height=self.in_h,
                width=self.in_w,
                in_channels=self.in_c // self.groups,
                out_channels=self.out_c // self.groups,
                kernel_h=self.kernel_h,
                kernel_w=self.kernel_w,
                stride=self.stride,
                padding=self.padding,
                output=output,
                pool=pool,
            )
        except LayerError as exc:
            raise WorkloadError(f"layer {self.name!r}: not executable on the XPU: {exc}") from exc
        return [(spec, self.groups)]


# ----------------------------------------------------------------------------------------------
# A network
# ----------------------------------------------------------------------------------------------


class LayerMapping(NamedTuple):
    """One XPU job of a network: ``spec`` run ``repeat`` times for ``layer``."""

    layer: WorkloadLayer
    spec: LayerSpec
    repeat: int


@dataclass(frozen=True)
class Network:
    """A network: its layers in execution order, with its input and where it is defined.

    Parameters
    ----------
    name : str
        The model name (also the CSV ``model_name``).
    input_shape : (int, int, int)
        ``H x W x C`` of the network input.
    definition : str
        The architecture definition the table follows (paper, table, input size), or the file a
        table was read from.
    layers : sequence of WorkloadLayer
        Non-empty, unique names, in execution order; stored as a tuple.
    dataset : str
        The input's data set (e.g. ``"ImageNet"``); informational.

    Shapes are checked along ``source`` (see *Branches* in the module docstring): a layer reading
    the previous layer, a named layer or a concatenation must have exactly that input shape.
    """

    name: str
    input_shape: tuple[int, int, int]
    definition: str
    layers: tuple[WorkloadLayer, ...]
    dataset: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip() or "," in self.name:
            raise WorkloadError(
                f"network name must be a non-empty string without commas, not {self.name!r}",
                field="name",
            )
        shape = tuple(self.input_shape)
        if len(shape) != 3 or not all(_is_int(v) and v > 0 for v in shape):
            raise WorkloadError(
                f"network {self.name!r}: input_shape must be three positive integers "
                f"(H, W, C), not {self.input_shape!r}",
                field="input_shape",
            )
        object.__setattr__(self, "input_shape", shape)
        layers = tuple(self.layers)
        if not layers:
            raise WorkloadError(f"network {self.name!r}: layers must not be empty", field="layers")
        for i, layer in enumerate(layers):
            if not isinstance(layer, WorkloadLayer):
                raise WorkloadError(
                    f"network {self.name!r}: layers[{i}] must be a WorkloadLayer, "
                    f"not {type(layer).__name__}",
                    field="layers",
                )
        object.__setattr__(self, "layers", layers)
        self._check_dataflow()

    def _check_dataflow(self) -> None:
        outputs: dict[str, tuple[int, int, int]] = {"input": self.input_shape}
        previous = self.input_shape
        for layer in self.layers:
            where = f"network {self.name!r}, layer {layer.name!r}"
            if layer.name == "input":
                raise WorkloadError(f"{where}: the name 'input' is reserved", field="name")
            if layer.name in outputs:
                raise WorkloadError(f"{where}: the name is used twice", field="name")
            if layer.source == "-":
                expected = None
            elif layer.source == "":
                expected = previous
            else:
                parts = layer.source.split("+")
                for part in parts:
                    if part not in outputs:
                        raise WorkloadError(
                            f"{where}: source {layer.source!r} names {part!r}, which is not an "
                            f"earlier layer",
                            field="source",
                        )
                shapes = [outputs[p] for p in parts]
                if len({s[:2] for s in shapes}) != 1:
                    raise WorkloadError(
                        f"{where}: cannot concatenate maps of different sizes {shapes}",
                        field="source",
                    )
                expected = (*shapes[0][:2], sum(s[2] for s in shapes))
            if expected is not None and layer.in_shape != expected:
                origin = layer.source or "the previous layer"
                raise WorkloadError(
                    f"{where}: input {layer.in_shape} does not chain with the output "
                    f"{expected} of {origin}",
                    field="source",
                )
            if layer.residual:
                if layer.residual not in outputs:
                    raise WorkloadError(
                        f"{where}: residual {layer.residual!r} is not an earlier layer",
                        field="residual",
                    )
                if outputs[layer.residual] != layer.out_shape:
                    raise WorkloadError(
                        f"{where}: residual {layer.residual!r} has output "
                        f"{outputs[layer.residual]}, which cannot be added to this layer's "
                        f"output {layer.out_shape}",
                        field="residual",
                    )
            outputs[layer.name] = layer.out_shape
            previous = layer.out_shape

    def __len__(self) -> int:
        return len(self.layers)

    def layer(self, name: str) -> WorkloadLayer:
        """The layer called ``name``."""
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(f"network {self.name!r} has no layer {name!r}")

    def count(self, *kinds: str) -> int:
        """Number of layers of the given kinds (all layers if none is given)."""
        return sum(1 for layer in self.layers if not kinds or layer.kind in kinds)

    @property
    def macs(self) -> int:
        """Total multiply-accumulates (= XNOR operations) of one inference."""
        return sum(layer.macs for layer in self.layers)

    @property
    def weight_bits(self) -> int:
        """Total weight bits."""
        return sum(layer.weight_bits for layer in self.layers)

    def residual_adds(self) -> dict[str, int]:
        """The residual adds: ``{layer after which an add runs: elements added}``.

        Read from the dataflow the layers declare (``WorkloadLayer.residual``): ResNet18's 8
        basic-block adds and MobileNet_V2's 10 stride-1 bottlenecks with equal channels.
        ShuffleNet_V2's channel split, concatenation and shuffle are address remapping (no adds).
        A network read from the authors' CSV carries no dataflow, so no add is found there.
        """
        return {layer.name: layer.n_outputs for layer in self.layers if layer.residual}

    def to_layer_specs(self) -> list[LayerMapping]:
        """The XPU jobs of one inference, in execution order.

        Pools are fused or dropped and the classifier emits integers, as described under
        *Mapping onto the XPU* in the module docstring.
        """
        compute = [i for i, layer in enumerate(self.layers) if layer.is_compute]
        last = compute[-1] if compute else -1
        jobs: list[LayerMapping] = []
        for i, layer in enumerate(self.layers):
            if not layer.is_compute:
                continue
            nxt = self.layers[i + 1] if i + 1 < len(self.layers) else None
            fuse = (
                nxt is not None
                and layer.kind != "fc"
                and i != last
                and nxt.kind == "maxpool"
                and nxt.source == ""
                and (nxt.kernel_h, nxt.kernel_w, nxt.stride, nxt.padding) == (2, 2, 2, 0)
            )
            output = "int" if i == last else "bit"
            for spec, repeat in layer.to_layer_specs(pool=fuse, output=output):
                jobs.append(LayerMapping(layer, spec, repeat))
        return jobs


# ----------------------------------------------------------------------------------------------
# The evaluated networks, written from their architecture definitions
# ----------------------------------------------------------------------------------------------


def vgg_small() -> Network:
    """VGG-small for CIFAR-10, 32 x 32 x 3 input.

    The 6-conv network of the BNN literature as defined in LQ-Nets (Zhang et al., ECCV 2018) and
    used by IR-Net and later BNN work: ``2 x 128C3 - MP2 - 2 x 256C3 - MP2 - 2 x 512C3 - MP2 -
    FC10``. All convolutions are 3 x 3, stride 1, padding 1; the pools are 2 x 2, stride 2; the
    classifier is a single fully-connected layer on the flattened ``4 x 4 x 512`` map (8192
    inputs) to 10 classes (BinaryNet's two 1024-wide FC layers are not part of it).
    """
    layers: list[WorkloadLayer] = []
    shape = (32, 32, 3)
    n = 0
    for width in (128, 256, 512):
        for _ in range(2):
            n += 1
            layers.append(WorkloadLayer.conv(f"conv{n}", shape, width, 3, padding=1))
            shape = layers[-1].out_shape
        layers.append(WorkloadLayer.pool(f"pool{n // 2}", "maxpool", shape, 2, stride=2))
        shape = layers[-1].out_shape
    layers.append(WorkloadLayer.fc("fc", shape, 10))
    return Network(
        "VGG-small",
        (32, 32, 3),
        "VGG-small of LQ-Nets (Zhang et al., ECCV 2018): 2x128C3-MP2-2x256C3-MP2-2x512C3-MP2-"
        "FC10, 3x3 convs with padding 1, CIFAR-10 32x32x3",
        tuple(layers),
        "CIFAR-10",
    )


def resnet18() -> Network:
    """ResNet18 for ImageNet, 224 x 224 x 3 input (He et al., CVPR 2016, Table 1).

    A 7 x 7 / 2 stem conv (padding 3) to 64 channels, a 3 x 3 / 2 max-pool (padding 1), four
    stages of two basic blocks (two 3 x 3 convs each) with 64, 128, 256 and 512 channels; the
    first block of stages 2-4 has stride 2 in its first conv and a 1 x 1 / 2 downsample conv on
    the shortcut (option B); then a global average pool and an FC 512 -> 1000. Names follow
    torchvision (``layer2.0.conv1``, ``layer2.0.downsample``); the downsample conv is listed
    after the block's second conv and names the previous block's output as its source. Every
    block ends in a residual add (``residual``): after ``conv2`` (identity shortcut, adding the
    block input) or after the downsample conv (adding ``conv2``'s output).
    """
    layers = [WorkloadLayer.conv("conv1", (224, 224, 3), 64, 7, stride=2, padding=3)]
    layers.append(
        WorkloadLayer.pool("maxpool", "maxpool", layers[-1].out_shape, 3, stride=2, padding=1)
    )
    shape, block_input = layers[-1].out_shape, "maxpool"
    for stage, width in enumerate((64, 128, 256, 512), start=1):
        for block in range(2):
            stride = 2 if stage > 1 and block == 0 else 1
            prefix = f"layer{stage}.{block}"
            in_shape = shape
            conv1 = WorkloadLayer.conv(
                f"{prefix}.conv1", in_shape, width, 3, stride=stride, padding=1
            )
            downsample = stride != 1 or in_shape[2] != width
            conv2 = WorkloadLayer.conv(
                f"{prefix}.conv2",
                conv1.out_shape,
                width,
                3,
                padding=1,
                residual="" if downsample else block_input,
            )
            layers += [conv1, conv2]
            if downsample:
                layers.append(
                    WorkloadLayer.conv(
                        f"{prefix}.downsample",
                        in_shape,
                        width,
                        1,
                        stride=stride,
                        source=block_input,
                        residual=conv2.name,
                    )
                )
            shape, block_input = conv2.out_shape, f"{prefix}.conv2"
    layers.append(WorkloadLayer.pool("avgpool", "avgpool", shape, shape[0], stride=1))
    layers.append(WorkloadLayer.fc("fc", layers[-1].out_shape, 1000))
    return Network(
        "ResNet18",
        (224, 224, 3),
        "ResNet-18 of He et al., 'Deep Residual Learning for Image Recognition', CVPR 2016, "
        "Table 1 (basic blocks, 1x1 stride-2 projection shortcuts), ImageNet 224x224x3",
        tuple(layers),
        "ImageNet",
    )


# (expansion t, output channels c, repeats n, first stride s): Sandler et al. 2018, Table 2.
_MOBILENET_V2_BLOCKS = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


def mobilenet_v2() -> Network:
    """MobileNet_V2 (width 1.0) for ImageNet, 224 x 224 x 3 input (Sandler et al., CVPR 2018).

    Table 2 of the paper: a 3 x 3 / 2 conv to 32 channels; 17 inverted-residual bottlenecks from
    the ``(t, c, n, s)`` rows ``(1,16,1,1) (6,24,2,2) (6,32,3,2) (6,64,4,2) (6,96,3,1)
    (6,160,3,2) (6,320,1,1)``, each a 1 x 1 expansion to ``t * C_in`` (omitted when ``t = 1``,
    as in the reference implementation), a 3 x 3 depthwise conv (padding 1, stride ``s`` in the
    first block of a row) and a 1 x 1 linear projection to ``c``; a 1 x 1 conv to 1280; a 7 x 7
    global average pool; and the classifier, a 1 x 1 conv 1280 -> 1000 on a 1 x 1 map, i.e. an
    FC. Residual adds keep shapes, so every layer reads the previous one; a bottleneck of stride 1
    with equal input and output channels adds its input to its projection's output
    (``residual`` of ``project``).
    """
    layers = [WorkloadLayer.conv("conv_stem", (224, 224, 3), 32, 3, stride=2, padding=1)]
    shape = layers[-1].out_shape
    block = 0
    for t, c, n, s in _MOBILENET_V2_BLOCKS:
        for i in range(n):
            block += 1
            prefix = f"block{block}"
            block_input, in_shape = layers[-1].name, shape
            if t != 1:
                layers.append(WorkloadLayer.conv(f"{prefix}.expand", shape, t * shape[2], 1))
                shape = layers[-1].out_shape
            stride = s if i == 0 else 1
            layers.append(WorkloadLayer.depthwise(f"{prefix}.dw", shape, 3, stride=stride))
            residual = block_input if stride == 1 and in_shape[2] == c else ""
            layers.append(
                WorkloadLayer.conv(
                    f"{prefix}.project", layers[-1].out_shape, c, 1, residual=residual
                )
            )
            shape = layers[-1].out_shape
    layers.append(WorkloadLayer.conv("conv_last", shape, 1280, 1))
    shape = layers[-1].out_shape
    layers.append(WorkloadLayer.pool("avgpool", "avgpool", shape, shape[0], stride=1))
    layers.append(WorkloadLayer.fc("fc", layers[-1].out_shape, 1000))
    return Network(
        "MobileNet_V2",
        (224, 224, 3),
        "MobileNetV2 1.0 of Sandler et al., 'MobileNetV2: Inverted Residuals and Linear "
        "Bottlenecks', CVPR 2018, Table 2, ImageNet 224x224x3",
        tuple(layers),
        "ImageNet",
    )


def shufflenet_v2() -> Network:
    """ShuffleNet_V2 1.0x for ImageNet, 224 x 224 x 3 input (Ma et al., ECCV 2018, Table 5).

    A 3 x 3 / 2 conv to 24 channels (padding 1), a 3 x 3 / 2 max-pool (padding 1), then stages 2,
    3, 4 with 116, 232, 464 output channels and 4, 8, 4 units; a 1 x 1 conv5 to 1024; a 7 x 7
    global average pool; an FC 1024 -> 1000. With ``b = C_out / 2``:

    * the first unit of a stage has stride 2 and two branches on the whole input:
      ``branch1`` = depthwise 3 x 3 / 2, 1 x 1 to ``b``; ``branch2`` = 1 x 1 to ``b``, depthwise
      3 x 3 / 2, 1 x 1 to ``b``; their outputs are concatenated (``2b = C_out``);
    * every other unit splits its input in two halves of ``b`` channels and runs ``branch2``
      (1 x 1, depthwise 3 x 3, 1 x 1, all ``b`` channels) on one half.

    Units read concatenated, split and shuffled tensors that are not layer outputs, so their first
    layers have ``source = "-"`` (the first unit of stage 2 reads the max-pool).
    """
    layers = [WorkloadLayer.conv("conv1", (224, 224, 3), 24, 3, stride=2, padding=1)]
    layers.append(
        WorkloadLayer.pool("maxpool", "maxpool", layers[-1].out_shape, 3, stride=2, padding=1)
    )
    shape = layers[-1].out_shape
    for stage, (c_out, repeats) in enumerate(((116, 4), (232, 8), (464, 4)), start=2):
        b = c_out // 2
        for unit in range(repeats):
            prefix = f"stage{stage}.{unit}"
            if unit == 0:
                src = "maxpool" if stage == 2 else "-"
                dw1 = WorkloadLayer.depthwise(
                    f"{prefix}.branch1.dw", shape, 3, stride=2, source=src
                )
                pw1 = WorkloadLayer.conv(f"{prefix}.branch1.pw", dw1.out_shape, b, 1)
                first = WorkloadLayer.conv(f"{prefix}.branch2.pw1", shape, b, 1, source=src)
                stride = 2
                layers += [dw1, pw1, first]
            else:
                first = WorkloadLayer.conv(
                    f"{prefix}.branch2.pw1", (*shape[:2], b), b, 1, source="-"
                )
                stride = 1
                layers.append(first)
            dw = WorkloadLayer.depthwise(f"{prefix}.branch2.dw", first.out_shape, 3, stride=stride)
            pw2 = WorkloadLayer.conv(f"{prefix}.branch2.pw2", dw.out_shape, b, 1)
            layers += [dw, pw2]
            shape = (*pw2.out_shape[:2], c_out)
    layers.append(WorkloadLayer.conv("conv5", shape, 1024, 1, source="-"))
    shape = layers[-1].out_shape
    layers.append(WorkloadLayer.pool("avgpool", "avgpool", shape, shape[0], stride=1))
    layers.append(WorkloadLayer.fc("fc", layers[-1].out_shape, 1000))
    return Network(
        "ShuffleNet_V2",
        (224, 224, 3),
        "ShuffleNet V2 1.0x of Ma et al., 'ShuffleNet V2: Practical Guidelines for Efficient CNN "
        "Architecture Design', ECCV 2018, Table 5, ImageNet 224x224x3",
        tuple(layers),
        "ImageNet",
    )


NETWORKS: dict[str, Network] = {
    "vgg_small": vgg_small(),
    "resnet18": resnet18(),
    "mobilenet_v2": mobilenet_v2(),
    "shufflenet_v2": shufflenet_v2(),
}
"""The four networks of the paper's evaluation, keyed by their command-line names."""


def get_network(name: str) -> Network:
    """The built-in network ``name`` (a key of :data:`NETWORKS`).

    Case and ``-`` / ``_`` are not significant, so the model names ``"VGG-small"`` and
    ``"MobileNet_V2"`` work too.
    """
    key = str(name).strip().lower().replace("-", "_")
    if key not in NETWORKS:
        raise WorkloadError(
            f"unknown network {name!r}; valid names are {', '.join(NETWORKS)}", field="name"
        )
    return NETWORKS[key]


# ----------------------------------------------------------------------------------------------
# The authors' layer-CSV format
# ----------------------------------------------------------------------------------------------

_CONV, _POINTWISE, _DEPTHWISE = "Conv2D", "PointWiseConv", "DepthWiseConv"
_DENSE, _MAXPOOL, _AVGPOOL = "Dense", "MaxPooling2D", "AveragePooling2D"
_CSV_TYPES = (_CONV, _POINTWISE, _DEPTHWISE, _DENSE, _MAXPOOL, _AVGPOOL)

# Which column a WorkloadLayer field comes from, to name it in an error.
_FIELD_COLUMN = {
    "name": "name",
    "kind": "name",
    "in_h": "input_height",
    "in_w": "input_width",
    "in_c": "input_depth",
    "out_h": "output_height",
    "out_w": "output_width",
    "out_c": "output_depth",
    "kernel_h": "kernel_height",
    "kernel_w": "kernel_width",
    "stride": "output_height",
    "padding": "output_height",
    "groups": "kernel_depth",
    "source": "input_shape",
}

_SHAPE_RE = re.compile(r"^\(\s*(.*?)\s*,?\s*\)$")
# A cell of an integer column: an optional sign and ASCII digits (no '_', no '1e3', no '3.0').
_INT_RE = re.compile(r"^[+-]?[0-9]+$")

#: Largest height, width or kernel size of a conv or pool row the CSV reader accepts (the XPU's
#: descriptors describe at most 2^16 - 1, ``oxbnn.models.tiling.MAX_IMAGE_DIM``); it also bounds
#: the stride and padding search (linear in the kernel).
MAX_MAP_SIZE = 1 << 16
#: Largest depth, filter count, Dense K or Dense output count the CSV reader accepts.
MAX_COUNT = 1 << 24
#: Largest workload CSV file, in bytes (a network of thousands of layers is well below 1 MB).
MAX_CSV_BYTES = 64 << 20


def _show(text: str, limit: int = 40) -> str:
    """``repr(text)``, cut to ``limit`` characters, for error messages."""
    return repr(text) if len(text) <= limit else repr(text[:limit]) + f"... ({len(text)} chars)"


def _shape_text(*dims: int) -> str:
    return "(None, " + ", ".join(str(d) for d in dims) + ")"


def _csv_type(layer: WorkloadLayer) -> str:
    if layer.kind == "depthwise":
        return _DEPTHWISE
    if layer.kind in ("conv", "grouped"):
        return _POINTWISE if (layer.kernel_h, layer.kernel_w) == (1, 1) else _CONV
    if layer.kind == "fc":
        return _DENSE
    return _MAXPOOL if layer.kind == "maxpool" else _AVGPOOL


def _csv_row(model: str, layer: WorkloadLayer, layer_names: bool) -> list[object]:
    kind = _csv_type(layer)
    name = f"{kind}_{layer.name}" if layer_names else kind
    if layer.kind == "fc":
        k = layer.k
        return [
            model, name, 1, k, 1, 1, f"(None, {k})", f"(None, {layer.out_c})", f"({k}, 1, 1)",
            layer.in_h, layer.in_w, layer.in_c, layer.out_c, 1, 1,
        ]  # fmt: skip
    if layer.kind in POOL_KINDS:
        depth, count = 1, 1
    elif layer.kind == "depthwise":
        depth, count = 1, layer.out_c
    else:
        depth, count = layer.in_c // layer.groups, layer.out_c
    return [
        model, name, depth, layer.kernel_h, layer.kernel_w, count,
        _shape_text(*layer.in_shape), _shape_text(*layer.out_shape),
        f"({layer.kernel_h}, {layer.kernel_w}, {depth})",
        *layer.in_shape, *layer.out_shape,
    ]  # fmt: skip


def write_workload_csv(
    network: Network, path: str | os.PathLike[str], *, layer_names: bool = False
) -> Path:
    """Write ``network`` in the authors' layer-CSV format.

    Parameters
    ----------
    network : Network
    path : path-like
        The file to write (its folder must exist).
    layer_names : bool
        Append each layer's name to the ``name`` column (``Conv2D_layer1.0.conv1``), so that
        :func:`read_workload_csv` restores it. Off by default: the authors' simulator matches
        ``MaxPooling2D`` exactly.

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(CSV_HEADER)
        for layer in network.layers:
            writer.writerow(_csv_row(network.name, layer, layer_names))
    return path


class _Row:
    """One data row of a workload CSV, with errors that name the file, row and column."""

    def __init__(self, path: Path, line: int, cells: Sequence[str]) -> None:
        self.path, self.line = path, line
        self.cells = dict(zip(CSV_HEADER, (c.strip() for c in cells), strict=False))

    def error(self, column: str, message: str) -> WorkloadError:
        return WorkloadError(f"{self.path}: row {self.line}, column {column!r}: {message}")

    def int(self, column: str, limit: int | None = None) -> int:
        """The cell as an integer in ``1 .. limit``; ``limit`` defaults to the column's bound.

        Heights, widths and kernel sizes are bounded by :data:`MAX_MAP_SIZE`, every other count
        by :data:`MAX_COUNT` (a Dense row passes :data:`MAX_COUNT` for its ``kernel_height``
        = K and ``output_height`` = C_out).
        """
        if limit is None:
            limit = MAX_COUNT if column.endswith(("depth", "count")) else MAX_MAP_SIZE
        text = self.cells[column]
        if not _INT_RE.match(text) or text.startswith("-") or not text.strip("+0"):
            raise self.error(column, f"expected a positive integer, found {_show(text)}")
        # Compare the digits before converting: int() of thousands of digits is refused by
        # Python (and slow), and anything over 18 digits is over every bound.
        if len(text.lstrip("+")) > 18 or int(text) > limit:
            raise self.error(
                column,
                f"{_show(text)} is larger than the reader's bound of {limit} for this column",
            )
        return int(text)

    def shape(self, column: str, lengths: Iterable[int]) -> tuple[int, ...]:
        """The dimensions of a ``"(None, H, W, C)"`` shape string (batch entry dropped)."""
        return self._tuple(column, lengths, batch=True)

    def tensor(self, column: str) -> tuple[int, ...]:
        return self._tuple(column, (3,), batch=False)

    def _tuple(self, column: str, lengths: Iterable[int], *, batch: bool) -> tuple[int, ...]:
        text = self.cells[column]
        lengths = tuple(lengths)
        want = " or ".join(str(n + batch) for n in lengths)
        example = "'(None, 56, 56, 24)'" if batch else "'(3, 3, 64)'"
        match = _SHAPE_RE.match(text)
        parts = [p.strip() for p in match.group(1).split(",")] if match else []
        if batch and parts and parts[0] == "None":
            parts[0] = "1"
        try:
            values = tuple(int(p) for p in parts)
        except ValueError:
            values = ()
        if len(values) - batch not in lengths or any(v < 1 for v in values):
            raise self.error(
                column,
                f"expected a shape of {want} positive entries like {example}, found {_show(text)}",
            )
        return values[1:] if batch else values


def _padding_range(
    size: int, kernel: int, out: int, stride: int, max_padding: int
) -> tuple[int, int]:
    """The paddings ``p`` (``0 <= p <= max_padding``) giving ``out`` at ``stride``, as ``lo..hi``.

    ``(size + 2 p - kernel) // stride + 1 == out`` holds exactly when ``(out - 1) stride <=
    size + 2 p - kernel <= out stride - 1`` (which also keeps the window inside the padded
    input, since ``out >= 1``): a closed form, so a stride costs O(1) whatever the kernel.
    The range is empty when ``lo > hi``.
    """
    low = (out - 1) * stride + kernel - size  # least 2 p
    high = out * stride - 1 + kernel - size  # largest 2 p
    return max(0, -(-low // 2)), min(max_padding, high // 2)


def _infer_stride_padding(
    size: tuple[int, ...], kernel: tuple[int, ...], out: tuple[int, ...]
) -> tuple[int, int] | None:
    """The smallest stride, then smallest symmetric padding, giving ``out``; None if none does.

    Strides ``1 .. max(kernel, 2)`` and paddings ``0 .. max(kernel) - 1`` are considered; each
    stride is solved in closed form (:func:`_padding_range`), so the search is linear in the
    kernel (a kernel of 20000 is 20000 steps, not 4e8).
    """
    max_padding = max(kernel) - 1
    for stride in range(1, max(*kernel, 2) + 1):
        lo, hi = 0, max_padding
        for s, k, o in zip(size, kernel, out, strict=True):
            dim_lo, dim_hi = _padding_range(s, k, o, stride, max_padding)
            lo, hi = max(lo, dim_lo), min(hi, dim_hi)
        if lo <= hi:
            return stride, lo
    return None


def _parse_type(row: _Row) -> tuple[str, str | None]:
    text = row.cells["name"]
    for kind in sorted(_CSV_TYPES, key=len, reverse=True):
        if text == kind:
            return kind, None
        if text.startswith(kind + "_") and len(text) > len(kind) + 1:
            return kind, text[len(kind) + 1 :]
    raise row.error(
        "name", f"unknown layer name {text!r}; expected one of {', '.join(_CSV_TYPES)} "
        "(optionally followed by '_' and a suffix)"
    )  # fmt: skip


def _parse_dense(row: _Row, name: str) -> WorkloadLayer:
    kd, kh, kw = (row.int(c, MAX_COUNT) for c in ("kernel_depth", "kernel_height", "kernel_width"))
    k = kd * kh * kw
    if k > MAX_COUNT:
        raise row.error("kernel_height", f"K = {k} is larger than the reader's bound {MAX_COUNT}")
    in_shape = row.shape("input_shape", (1, 3))
    if _prod(in_shape) != k:
        raise row.error(
            "input_shape",
            f"a Dense row's input {row.cells['input_shape']} must hold K = kernel_depth * "
            f"kernel_height * kernel_width = {k} values",
        )
    tensor = row.tensor("tensor_shape")
    if _prod(tensor) != k:
        raise row.error(
            "tensor_shape", f"{row.cells['tensor_shape']} must hold K = {k} weights per output"
        )
    oh, ow, od = (row.int(c, MAX_COUNT) for c in ("output_height", "output_width", "output_depth"))
    c_out = oh * ow * od
    if c_out > MAX_COUNT:
        raise row.error(
            "output_height", f"{c_out} outputs is larger than the reader's bound {MAX_COUNT}"
        )
    out_shape = row.shape("output_shape", (1, 3))
    if _prod(out_shape) != c_out:
        raise row.error(
            "output_shape",
            f"{row.cells['output_shape']} does not match output_height * output_width * "
            f"output_depth = {c_out}",
        )
    count = row.int("tensor_count", MAX_COUNT)
    if count not in (1, c_out):
        raise row.error("tensor_count", f"expected 1 or {c_out} for a Dense row, found {count}")
    # Authors' files carry stale input columns on Dense rows (module docstring): use them only
    # when they describe the flattened input.
    ih, iw, ic = (row.int(c, MAX_COUNT) for c in ("input_height", "input_width", "input_depth"))
    h, w, c = (ih, iw, ic) if ih * iw * ic == k else (1, 1, k)
    return _make_layer(row, name, "fc", h, w, c, 1, 1, c_out, h, w)


def _prod(values: Iterable[int]) -> int:
    p = 1
    for v in values:
        p *= v
    return p


def _parse_row(row: _Row, index: int) -> WorkloadLayer:
    kind, suffix = _parse_type(row)
    if suffix is None:
        name = f"{kind}_{index}"
    elif suffix.isdigit():  # a per-type counter (Keras style): keep the whole cell
        name = f"{kind}_{suffix}"
    else:
        name = suffix
    if kind == _DENSE:
        return _parse_dense(row, name)
    kd, kh, kw = row.int("kernel_depth"), row.int("kernel_height"), row.int("kernel_width")
    count = row.int("tensor_count")
    in_cols = (row.int("input_height"), row.int("input_width"), row.int("input_depth"))
    out_cols = (row.int("output_height"), row.int("output_width"), row.int("output_depth"))
    for column, cols in (("input_shape", in_cols), ("output_shape", out_cols)):
        dims = row.shape(column, (3,))
        if dims != cols:
            prefix = column.split("_")[0]
            raise row.error(
                column,
                f"{row.cells[column]} disagrees with {prefix}_height, {prefix}_width, "
                f"{prefix}_depth = {cols[0]}, {cols[1]}, {cols[2]}",
            )
    if row.tensor("tensor_shape") != (kh, kw, kd):
        raise row.error(
            "tensor_shape",
            f"{row.cells['tensor_shape']} disagrees with kernel_height, kernel_width, "
            f"kernel_depth = {kh}, {kw}, {kd}",
        )
    (ih, iw, ic), (oh, ow, oc) = in_cols, out_cols
    if kind in (_MAXPOOL, _AVGPOOL):
        if kd != 1:
            raise row.error("kernel_depth", f"expected 1 for a pooling row, found {kd}")
        if count != 1:
            raise row.error("tensor_count", f"expected 1 for a pooling row, found {count}")
        if oc != ic:
            raise row.error("output_depth", f"a pool keeps the depth {ic}, found {oc}")
        layer_kind, groups = ("maxpool" if kind == _MAXPOOL else "avgpool"), 1
    elif kind == _DEPTHWISE:
        if kd != 1:
            raise row.error("kernel_depth", f"expected 1 for a DepthWiseConv row, found {kd}")
        if oc != ic:
            raise row.error("output_depth", f"a DepthWiseConv keeps the depth {ic}, found {oc}")
        if count != ic:
            raise row.error(
                "tensor_count", f"expected one filter per channel ({ic}), found {count}"
            )
        layer_kind, groups = "depthwise", ic
    else:
        if kind == _POINTWISE and (kh, kw) != (1, 1):
            raise row.error("kernel_height", f"a PointWiseConv is 1 x 1, found {kh} x {kw}")
        if ic % kd:
            raise row.error(
                "kernel_depth", f"the filter depth {kd} does not divide input_depth = {ic}"
            )
        if count != oc:
            raise row.error(
                "tensor_count", f"the number of filters {count} must equal output_depth = {oc}"
            )
        groups = ic // kd
        if groups == 1:
            layer_kind = "conv"
        elif groups == ic == oc:
            layer_kind = "depthwise"
        else:
            layer_kind = "grouped"
        if oc % groups:
            raise row.error(
                "output_depth", f"{groups} groups (input_depth / kernel_depth) do not divide {oc}"
            )
    inferred = _infer_stride_padding((ih, iw), (kh, kw), (oh, ow))
    if inferred is None:
        column = (
            "output_height"
            if _infer_stride_padding((ih,), (kh,), (oh,)) is None
            else ("output_width")
        )
        raise row.error(
            column,
            f"the output {oh} x {ow} does not follow from the input {ih} x {iw} and the "
            f"{kh} x {kw} kernel for any stride and padding smaller than the kernel",
        )
    stride, padding = inferred
    return _make_layer(
        row, name, layer_kind, ih, iw, ic, oh, ow, oc, kh, kw, stride, padding, groups
    )


def _make_layer(row: _Row, *args: object) -> WorkloadLayer:
    """Build a layer from parsed cells; a layer error names the column of its field."""
    try:
        return WorkloadLayer(*args)  # type: ignore[arg-type]
    except WorkloadError as exc:
        raise row.error(_FIELD_COLUMN.get(exc.field or "", "name"), str(exc)) from exc


def _read_csv_text(path: Path) -> str:
    """The text of a workload CSV (UTF-8, a BOM allowed); a :class:`WorkloadError` otherwise."""
    return read_text(
        path,
        what="workload CSV",
        expected="a CSV in the authors' layer format",
        max_bytes=MAX_CSV_BYTES,
        error=WorkloadError,
        name_line=True,
    )


def _check_header(path: Path, line: int, header: list[str]) -> None:
    """The first fifteen columns are :data:`CSV_HEADER`; a ``;`` or tab file is named as such."""
    if len(header) == 1:
        for delimiter, label in ((";", "semicolons"), ("\t", "tabs")):
            if delimiter in header[0]:
                raise WorkloadError(
                    f"{path}: row {line} (header), column 1: the fields are separated by "
                    f"{label}; expected commas (columns {', '.join(CSV_HEADER)})"
                )
    for i, column in enumerate(CSV_HEADER):
        found = header[i] if i < len(header) else None
        if found != column:
            what = "is missing" if found is None else f"is {_show(found)}"
            raise WorkloadError(
                f"{path}: row {line} (header), column {i + 1}: expected {column!r}, "
                f"but the column {what}"
            )


def _check_chains(
    row: _Row, layer: WorkloadLayer, previous: WorkloadLayer, tensors: set[tuple[int, int]]
) -> None:
    """A row whose input is not the previous row's output must read some earlier tensor.

    The format has no dataflow, so such a row is read as a branch input (``source = "-"``:
    a ResNet shortcut, a ShuffleNet split, a concatenation); but its map must then have the
    height and width of the network input or of an earlier layer's output, or of one of them
    stored already padded by less than the kernel on each side (the authors' ResNet reads
    ``114 x 114`` after a ``112 x 112`` output; Keras' asymmetric padding adds one row).
    Channels are not checked (splits and concatenations change them). No layer kind makes a
    map larger, so anything else is a row out of order or a wrong shape: refused, naming the
    row and the input column.
    """
    margin = 2 * (max(layer.kernel_h, layer.kernel_w) - 1)
    h, w = layer.in_h, layer.in_w
    if any(0 <= h - th <= margin and 0 <= w - tw <= margin for th, tw in tensors):
        return
    column = (
        "input_height" if not any(0 <= h - th <= margin for th, _ in tensors) else "input_width"
    )
    raise row.error(
        column,
        f"the input {h} x {w} x {layer.in_c} does not chain: it is not the previous row's "
        f"output {' x '.join(map(str, previous.out_shape))}, and no earlier layer's output nor "
        f"the network input has that height and width (nor one smaller by at most {margin}, "
        f"the padding a {layer.kernel_h} x {layer.kernel_w} kernel allows)",
    )


def read_workload_csv(path: str | os.PathLike[str]) -> Network:
    """Read a network from a file in the authors' layer-CSV format.

    The format, what the reader infers and what it cannot recover are described in the module
    docstring. Columns after the fifteen of :data:`CSV_HEADER` (the authors' later simulators
    add ``act_precision`` and ``wt_precision``) are ignored; blank lines are skipped.

    Raises
    ------
    WorkloadError
        For every malformed file, naming the file, the row and the column.
    """
    path = Path(path)
    text = _read_csv_text(path)
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    layers: list[WorkloadLayer] = []
    names: set[str] = set()
    # Spatial sizes (H, W) of the network input and of every layer output so far.
    tensors: set[tuple[int, int]] = set()
    model: str | None = None
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:  # e.g. a field over the csv module's limit, a stray quote
            raise WorkloadError(
                f"{path}: row {reader.line_num}, column 'model_name': not a CSV row ({exc})"
            ) from None
        line = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        if header is None:
            header = [c.strip() for c in cells]
            _check_header(path, line, header)
            continue
        if len(cells) < len(CSV_HEADER):
            raise WorkloadError(
                f"{path}: row {line}, column {CSV_HEADER[len(cells)]!r}: the row has "
                f"{len(cells)} fields, expected {len(CSV_HEADER)}"
            )
        row = _Row(path, line, cells)
        if not row.cells["model_name"]:
            raise row.error("model_name", "the model name is empty")
        if model is None:
            model = row.cells["model_name"]
        elif row.cells["model_name"] != model:
            raise row.error(
                "model_name",
                f"{_show(row.cells['model_name'])} differs from {_show(model)} of the first row",
            )
        layer = _parse_row(row, line)
        if layers and layer.in_shape != layers[-1].out_shape:
            if layer.kind != "fc":
                _check_chains(row, layer, layers[-1], tensors)
            layer = replace(layer, source="-")
        if layer.name in names:
            raise row.error("name", f"the layer name {_show(layer.name)} is used twice")
        if not layers:
            tensors.add(layer.in_shape[:2])
        tensors.add(layer.out_shape[:2])
        names.add(layer.name)
        layers.append(layer)
    if header is None:
        raise WorkloadError(f"{path}: row 1, column 'model_name': the file is empty (no header)")
    if not layers or model is None:
        raise WorkloadError(f"{path}: row 2, column 'model_name': the file has no layer rows")
    return Network(
        model,
        layers[0].in_shape,
        f"read from {path}",
        tuple(layers),
    )
