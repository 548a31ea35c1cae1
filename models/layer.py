"""The shape of one BNN layer as the XPU sees it: the contract shared by every model and the RTL.

Conventions (docs/design.md §4):

* bits are 0/1 with 1 standing for +1 and 0 for -1;
* activations are ``H x W x C_in`` (channels last), weights ``C_out x kh x kw x C_in``;
* the im2col vector of an output position is ordered ``(ky, kx, c)`` with ``c`` fastest, so its
  length is ``K = kh * kw * C_in``;
* a fully-connected layer is a 1 x 1 convolution on a 1 x 1 x K input (``LayerSpec.fc``);
* padding ``"dark"`` (the default) means a padded position contributes nothing and is not counted
  in ``K_valid``; ``"+1"`` / ``"-1"`` pad with that value and count it;
* ``output = "bit"`` thresholds per channel, ``"int"`` returns ``dot = 2*count - K_valid``;
* ``pool = True`` applies a 2 x 2, stride-2 binary max-pool (logical OR) to the output bits; an odd
  last row or column is dropped (floor), as in common frameworks. Pooling integer outputs is not
  supported.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LayerError", "LayerSpec", "STRIDES"]

#: Strides a layer may have (the descriptor codes stride 2 as one bit).
STRIDES = (1, 2)
_PADS = ("dark", "+1", "-1")
_OUTPUTS = ("bit", "int")


class LayerError(ValueError):
    """A layer descriptor is malformed; the message names the field and the value."""


def _pos_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise LayerError(f"{name} must be a positive integer, not {value!r}")


@dataclass(frozen=True)
class LayerSpec:
    """One convolutional or fully-connected BNN layer.

    Parameters
    ----------
    kind : "conv" or "fc"
    height, width, in_channels : int
        Input feature map ``H x W x C_in``.
    out_channels : int
        ``C_out``, number of filters.
    kernel_h, kernel_w : int
    stride : 1 or 2
    padding : int
        Rows/columns added on every side (non-negative, smaller than the kernel).
    pad : "dark", "+1" or "-1"
    output : "bit" or "int"
    pool : bool
        2 x 2 OR max-pool on the output bits.
    """

    kind: str
    height: int
    width: int
    in_channels: int
    out_channels: int
    kernel_h: int = 1
    kernel_w: int = 1
    stride: int = 1
    padding: int = 0
    pad: str = "dark"
    output: str = "bit"
    pool: bool = False

    def __post_init__(self) -> None:
        if self.kind not in ("conv", "fc"):
            raise LayerError(f"kind must be 'conv' or 'fc', not {self.kind!r}")
        for name in ("height", "width", "in_channels", "out_channels", "kernel_h", "kernel_w"):
            _pos_int(name, getattr(self, name))
        if isinstance(self.stride, bool) or self.stride not in STRIDES:
            allowed = " or ".join(str(x) for x in STRIDES)
            raise LayerError(f"stride must be {allowed}, not {self.stride!r}")
        if isinstance(self.padding, bool) or not isinstance(self.padding, int) or self.padding < 0:
            raise LayerError(f"padding must be a non-negative integer, not {self.padding!r}")
        if self.padding >= max(self.kernel_h, self.kernel_w) and self.padding > 0:
            raise LayerError(
                f"padding = {self.padding} must be smaller than the kernel "
                f"({self.kernel_h} x {self.kernel_w})"
            )
        if self.pad not in _PADS:
            raise LayerError(f"pad must be one of {_PADS}, not {self.pad!r}")
        if self.output not in _OUTPUTS:
            raise LayerError(f"output must be one of {_OUTPUTS}, not {self.output!r}")
        if not isinstance(self.pool, bool):
            raise LayerError(f"pool must be a bool, not {self.pool!r}")
        if self.kind == "fc" and (
            self.height,
            self.width,
            self.kernel_h,
            self.kernel_w,
            self.padding,
            self.stride,
        ) != (1, 1, 1, 1, 0, 1):
            raise LayerError(
                "an fc layer must be 1 x 1 x K with a 1 x 1 kernel, stride 1 and "
                "no padding; build it with LayerSpec.fc(k, c_out)"
            )
        if self.height + 2 * self.padding < self.kernel_h:
            raise LayerError(
                f"kernel_h = {self.kernel_h} is larger than the padded input height "
                f"{self.height + 2 * self.padding}"
            )
        if self.width + 2 * self.padding < self.kernel_w:
            raise LayerError(
                f"kernel_w = {self.kernel_w} is larger than the padded input width "
                f"{self.width + 2 * self.padding}"
            )
        if self.pool and self.output != "bit":
            raise LayerError("pool = True needs output = 'bit' (pooling integers is not supported)")
        if self.pool and (self.out_h < 2 or self.out_w < 2):
            raise LayerError(
                f"pool = True needs an output of at least 2 x 2, not {self.out_h} x {self.out_w}"
            )

    @classmethod
    def fc(cls, k: int, out_channels: int, *, output: str = "bit") -> LayerSpec:
        """A fully-connected layer of ``K`` inputs and ``out_channels`` outputs."""
        return cls(
            kind="fc", height=1, width=1, in_channels=k, out_channels=out_channels, output=output
        )

    @property
    def out_h(self) -> int:
        """Output rows before pooling."""
        return (self.height + 2 * self.padding - self.kernel_h) // self.stride + 1

    @property
    def out_w(self) -> int:
        """Output columns before pooling."""
        return (self.width + 2 * self.padding - self.kernel_w) // self.stride + 1

    @property
    def k(self) -> int:
        """Length of one im2col vector, ``kh * kw * C_in``."""
        return self.kernel_h * self.kernel_w * self.in_channels

    @property
    def n_positions(self) -> int:
        """Output positions before pooling, ``out_h * out_w``."""
        return self.out_h * self.out_w

    @property
    def final_shape(self) -> tuple[int, int, int]:
        """Shape of the layer's result, after pooling if any."""
        if self.pool:
            return (self.out_h // 2, self.out_w // 2, self.out_channels)
        return (self.out_h, self.out_w, self.out_channels)
