"""A layer on a chip of X XPUs (:class:`~oxbnn.rtl.chip.Chip`): the split, the shares' tensors,
the interconnect channels and the cycle count.

The split
---------
As the system model splits a layer (:func:`oxbnn.models.mapping.plan_split`): ``gc`` output-
channel shares of ``ceil(C_out / gc)`` filters times ``gs`` bands of ``ceil(unit rows / gs)``
output unit rows (2-row units when the layer pools), one XPU per (share, band), ``gc * gs <=
X``. Unlike the system model, which times a band as an interior band, every band here is an
exact layer of its own, so the chip computes the layer's bits:

* a band reads the input rows its outputs need, halo included, as an unpadded layer; the
  layer's padding, when it has any, is stored as data around the input (the host pads the
  map). That is exact for ``pad = "+1"`` / ``"-1"``, whose padded bits count; a ``"dark"``
  padded layer, whose padded positions do not count, is split by channels only (``gs = 1``);
* an fc layer has one output row, so it is split by channels only.

Among the splits that fit the XPU's buffers and the global buffer, :func:`choose_split` takes
the one :func:`oxbnn.models.timing.chip_cycles` counts fewest cycles for (ties: fewer XPUs), as
the system model takes the fastest of its candidates by the same cycle model.

The channels
------------
The XPUs of one band whose activation streams are equal (the same band, and plans that load it
in the same order) share one activation channel; the XPUs of one channel share whose weight
streams are equal share one weight channel. A channel is one contiguous run of words in the
global buffer, multicast to its members. :class:`ChipLayer` holds the result.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from .configs import MAX_XPUS, XpuParams
from .layer import LayerSpec
from .tiling import TilingError, TilingPlan
from .timing import GB_MEMORY, ChipBreakdown, chip_cycles, layer_cycles

__all__ = [
    "ChipParams",
    "ChipShare",
    "ChipLayer",
    "ChipError",
    "split_layer",
    "chip_layer",
    "choose_split",
    "row_split_possible",
    "share_tensors",
    "stream_words",
]


class ChipError(ValueError):
    """A chip or a split that cannot be built or run; the message names the value."""


@dataclass(frozen=True)
class ChipParams:
    """A chip of ``n_xpus`` XPUs of ``xpu`` sharing a global buffer of ``gb_depth`` N-bit words
    with ``gb_ports`` read ports.

    The default ``gb_ports`` is ``n_xpus + 1``: a split ``gc x gs`` uses at most ``gc + gs <=
    gc * gs + 1 <= X + 1`` channels, so no layer contends for a port.
    """

    xpu: XpuParams
    n_xpus: int
    gb_depth: int = 1 << 14
    gb_ports: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.xpu, XpuParams):
            raise ChipError(f"xpu must be an XpuParams, not {type(self.xpu).__name__}")
        for name in ("n_xpus", "gb_depth"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ChipError(f"{name} must be a positive integer, not {v!r}")
        if self.n_xpus > MAX_XPUS:
            raise ChipError(f"n_xpus must be at most {MAX_XPUS}, not {self.n_xpus}")
        if self.gb_ports is None:
            object.__setattr__(self, "gb_ports", self.n_xpus + 1)
        p = self.gb_ports
        if isinstance(p, bool) or not isinstance(p, int) or not 1 <= p <= 2 * self.n_xpus:
            raise ChipError(f"gb_ports must be an integer in 1 .. 2 * n_xpus = {2 * self.n_xpus}, "
                            f"not {p!r}")  # fmt: skip


@dataclass(frozen=True)
class ChipShare:
    """What XPU ``xpu`` runs: filters ``filters[0] .. filters[1] - 1`` of the layer's output
    unit rows ``unit_rows[0] .. unit_rows[1] - 1``, as the layer ``spec``."""

    xpu: int
    spec: LayerSpec
    filters: tuple[int, int]
    unit_rows: tuple[int, int]


def _units(spec: LayerSpec) -> tuple[int, int]:
    """``(unit rows, pool factor)``."""
    f = 2 if spec.pool else 1
    return spec.out_h // f, f


def row_split_possible(spec: LayerSpec) -> bool:
    """Whether ``spec`` can be cut into exact row bands (see the module docstring)."""
    return spec.kind == "conv" and (spec.padding == 0 or spec.pad != "dark")


def split_layer(spec: LayerSpec, channel_shares: int, row_shares: int) -> list[ChipShare]:
    """The shares of a ``channel_shares x row_shares`` split, XPU ``share * bands + band``
    (empty shares dropped: ``ceil``-sized shares may leave fewer than asked)."""
    unit_h, f = _units(spec)
    for name, v, most in (
        ("channel_shares", channel_shares, spec.out_channels),
        ("row_shares", row_shares, unit_h),
    ):
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= most:
            raise ChipError(f"{name} must be an integer in 1 .. {most} for {spec}, not {v!r}")
    if row_shares > 1 and not row_split_possible(spec):
        raise ChipError(
            f"{spec} cannot be split into row bands: it is an fc layer or has dark padding "
            f"(use row_shares = 1)"
        )
    per_c = -(-spec.out_channels // channel_shares)
    per_r = -(-unit_h // row_shares)
    shares = []
    for c0 in range(0, spec.out_channels, per_c):
        c1 = min(spec.out_channels, c0 + per_c)
        for u0 in range(0, unit_h, per_r):
            u1 = min(unit_h, u0 + per_r)
            sub = dataclasses.replace(spec, out_channels=c1 - c0)
            if row_shares > 1:
                s, p = spec.stride, spec.padding
                sub = dataclasses.replace(
                    sub,
                    height=((u1 - u0) * f - 1) * s + spec.kernel_h,
                    width=spec.width + 2 * p,
                    padding=0,
                    pad="dark",
                )
            shares.append(ChipShare(len(shares), sub, (c0, c1), (u0, u1)))
    return shares


def share_tensors(
    spec: LayerSpec,
    share: ChipShare,
    act: np.ndarray,
    weights: np.ndarray,
    thresholds: np.ndarray | None,
    flip: np.ndarray | None,
):
    """``(act, weights, thresholds, flip)`` of one share, cut from the layer's tensors."""
    c0, c1 = share.filters
    w = np.asarray(weights).reshape(spec.out_channels, -1)[c0:c1]
    thr = None if thresholds is None else np.asarray(thresholds)[c0:c1]
    fl = None if flip is None else np.asarray(flip)[c0:c1]
    a = np.asarray(act, dtype=np.uint8).reshape(spec.height, spec.width, spec.in_channels)
    if share.spec.height != spec.height or share.spec.width != spec.width:  # a row band
        p = spec.padding
        if p:
            a = np.pad(a, ((p, p), (p, p), (0, 0)), constant_values=1 if spec.pad == "+1" else 0)
        _, f = _units(spec)
        y0 = share.unit_rows[0] * f * spec.stride
        a = a[y0 : y0 + share.spec.height]
    return a, w, thr, fl


@dataclass(frozen=True)
class ChipLayer:
    """A layer as the chip runs it: the split, each XPU's plan, the channels and the count.

    ``act_groups[g]`` / ``wgt_groups[g]``: the XPUs of activation / weight channel g.
    """

    spec: LayerSpec
    chip: ChipParams
    split: tuple[int, int]
    shares: tuple[ChipShare, ...]
    plans: tuple[TilingPlan | None, ...]
    act_groups: tuple[tuple[int, ...], ...]
    wgt_groups: tuple[tuple[int, ...], ...]
    cycles: ChipBreakdown


def stream_words(plan: TilingPlan) -> tuple[int, int]:
    """Words of a plan's activation and weight streams (every load, in order)."""
    return (
        sum(plan.bands[b].words for b in plan.act_loads),
        sum(plan.weight_tiles[i].words for i in plan.wgt_loads),
    )


def _groups(shares, plans, key) -> tuple[tuple[int, ...], ...]:
    groups: dict[object, list[int]] = {}
    for share, plan in zip(shares, plans, strict=True):
        groups.setdefault(key(share, plan), []).append(share.xpu)
    return tuple(tuple(g) for g in groups.values())


def chip_layer(
    spec: LayerSpec,
    chip: ChipParams,
    split: tuple[int, int],
    *,
    dataflow: str = "auto",
    walk: str = "auto",
) -> ChipLayer:
    """``spec`` split ``split = (gc, gs)`` on ``chip``: each share in the plan the host picks
    (:func:`~oxbnn.models.timing.layer_cycles` fed by :data:`~oxbnn.models.timing.GB_MEMORY`),
    its channels and :func:`~oxbnn.models.timing.chip_cycles`.

    Raises :class:`ChipError` for a split that needs more XPUs than the chip has or more words
    than the global buffer holds, and :class:`~oxbnn.models.tiling.TilingError` for a share an
    XPU cannot run.
    """
    shares = split_layer(spec, *split)
    if len(shares) > chip.n_xpus:
        raise ChipError(f"split {split[0]} x {split[1]} of {spec} needs {len(shares)} XPUs; "
                        f"the chip has {chip.n_xpus}")  # fmt: skip
    plans = [
        layer_cycles(s.spec, chip.xpu, GB_MEMORY, dataflow=dataflow, walk=walk).plan for s in shares
    ]
    act_groups = _groups(shares, plans, lambda s, p: (s.unit_rows, p.bands, p.act_loads))
    wgt_groups = _groups(
        shares, plans, lambda s, p: (s.filters, p.weight_tiles, p.wgt_loads, p.spec.k)
    )
    words = sum(stream_words(plans[g[0]])[0] for g in act_groups) + sum(
        stream_words(plans[g[0]])[1] for g in wgt_groups
    )
    if words > chip.gb_depth:
        raise ChipError(
            f"{spec} split {split[0]} x {split[1]} streams {words} words; the global buffer "
            f"holds gb_depth = {chip.gb_depth}"
        )
    all_plans = tuple(plans) + (None,) * (chip.n_xpus - len(plans))
    cycles = chip_cycles(
        all_plans, act_groups=act_groups, wgt_groups=wgt_groups, gb_ports=chip.gb_ports
    )
    return ChipLayer(spec, chip, split, tuple(shares), all_plans, act_groups, wgt_groups, cycles)


def choose_split(
    spec: LayerSpec, chip: ChipParams, *, dataflow: str = "auto", walk: str = "auto"
) -> ChipLayer:
    """The split of ``spec`` over ``chip`` with the fewest cycles (see the module docstring)."""
    unit_h, _ = _units(spec)
    best: ChipLayer | None = None
    error: Exception | None = None
    rows_ok = row_split_possible(spec)
    for gc in range(1, min(chip.n_xpus, spec.out_channels) + 1):
        for gs in range(1, min(chip.n_xpus // gc, unit_h if rows_ok else 1) + 1):
            try:
                cand = chip_layer(spec, chip, (gc, gs), dataflow=dataflow, walk=walk)
            except (ChipError, TilingError) as exc:
                error = error or exc
                continue
            key = (cand.cycles.total, cand.cycles.busy_xpus)
            if best is None or key < (best.cycles.total, best.cycles.busy_xpus):
                best = cand
    if best is None:
        raise error if error else ChipError(f"no split of {spec} fits the chip")
    return best
