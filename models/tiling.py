"""Tiling plan of a layer on one XPU, and the descriptor limits it is checked against.

The plan says how a layer is cut into tiles and walked; the host driver streams tiles in its
order, the RTL walks the same order, and the cycle model (:mod:`oxbnn.models.timing`) counts
cycles over it. Nothing here imports amaranth or ``oxbnn.rtl``: the RTL reads the descriptor's
field widths (:data:`IMAGE_DIM_BITS`, :data:`KERNEL_BITS`, :class:`Widths`) from this module.

**Tiling plan** (:func:`tiling_plan`). An activation tile is a *band*: ``rows_per_band`` unit rows
(the last band may have fewer), stored as the input rows they need (with the kernel halo, clipped
to the image: padding is never stored), each pixel as ``ceil(C/N)`` N-bit words, the last one
holding ``C mod N`` (or N) channels. ``rows_per_band`` is the largest count whose unclipped input
rows fit one bank. A weight tile is a set of whole filters (``filters_per_tile = depth //
ceil(K/N)``), each filter packed as ``ceil(K/N)`` words in im2col order. The walk is::

    for band: for weight tile: for filter in tile: for group in band: for sub-job: one vector

Activation tiles are loaded once each, in band order, alternating between the two banks. The
weight tile is loaded once if all filters fit one bank; otherwise one weight tile is loaded per
(band, weight tile) *pair*, in walk order. Thresholds (bit output only) are loaded once, at the
start, into a threshold memory. The host streams tiles in exactly this order.

A plan that exists is one the RTL runs: :func:`tiling_plan` makes every check (descriptor
limits, buffer sizes, threshold memory) and raises :class:`TilingError` otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from .configs import XpuParams
from .layer import LayerSpec

__all__ = [
    "TilingError",
    "Widths",
    "Band",
    "WeightTile",
    "TilingPlan",
    "tiling_plan",
    "chunk_cycles",
    "PAD_MODES",
    "IMAGE_DIM_BITS",
    "KERNEL_BITS",
    "MAX_IMAGE_DIM",
    "MAX_KERNEL",
    "READS_PER_CYCLE",
    "POOL_SUBJOBS",
]

#: Width of the descriptor's input height/width fields (unsigned).
IMAGE_DIM_BITS = 16
#: Width of the descriptor's kernel height/width and padding fields (unsigned).
KERNEL_BITS = 4
#: Descriptor code of each padding mode of :class:`~oxbnn.models.layer.LayerSpec`.
PAD_MODES = {"dark": 0, "+1": 1, "-1": 2}
#: Largest input height/width the descriptor can describe.
MAX_IMAGE_DIM = (1 << IMAGE_DIM_BITS) - 1
#: Largest kernel height/width the descriptor can describe.
MAX_KERNEL = (1 << KERNEL_BITS) - 1
#: Activation words each XPE can read per cycle (two read ports per XPE).
READS_PER_CYCLE = 2
#: Sub-jobs of one pooled unit (its 2 x 2 window).
POOL_SUBJOBS = 4


class TilingError(ValueError):
    """A layer cannot be mapped onto this XPU (it can never fit, or a field is out of range)."""


@dataclass(frozen=True)
class Widths:
    """Bit widths of the XPU's datapath, derived from :class:`XpuParams`.

    Attributes
    ----------
    k_max : int
        Longest vector: one filter fills at most a whole weight bank, ``N * wgt_buffer_depth``.
    count : int
        Width of a popcount or ``K_valid`` (holds ``k_max``).
    dot : int
        Width of a signed dot product or threshold (holds ``+-(k_max + 1)``).
    geometry : int
        Width of the signed row/column registers of the address generator.
    offset : int
        Width of the signed word offsets (addresses before the bank is chosen); arithmetic on
        them is modular, exact for every address that is read.
    act_addr : int
        Address width of one activation bank.
    wgt_addr : int
        Address width of one weight bank.
    """

    k_max: int
    count: int
    dot: int
    geometry: int
    offset: int
    act_addr: int
    wgt_addr: int

    @classmethod
    def of(cls, xpu: XpuParams) -> Widths:
        """The widths of ``xpu``'s datapath."""
        if not isinstance(xpu, XpuParams):
            raise TypeError(f"xpu must be an XpuParams, not {type(xpu).__name__}")
        k_max = xpu.n_lanes * xpu.wgt_buffer_depth
        return cls(
            k_max=k_max,
            count=k_max.bit_length(),
            dot=(k_max + 1).bit_length() + 1,
            geometry=MAX_IMAGE_DIM.bit_length() + 4,
            offset=max(xpu.act_buffer_depth, xpu.wgt_buffer_depth).bit_length() + 6,
            act_addr=max(1, (xpu.act_buffer_depth - 1).bit_length()),
            wgt_addr=max(1, (xpu.wgt_buffer_depth - 1).bit_length()),
        )


@dataclass(frozen=True)
class Band:
    """One activation tile: unit rows ``[unit_row0, unit_row1)``, input rows ``[in_row0,
    in_row1)``."""

    index: int
    unit_row0: int
    unit_row1: int
    in_row0: int
    in_row1: int
    words: int
    groups: int


@dataclass(frozen=True)
class WeightTile:
    """One weight tile: filters ``[filter0, filter1)``, packed as ``words`` N-bit words."""

    index: int
    filter0: int
    filter1: int
    words: int


@dataclass(frozen=True)
class TilingPlan:
    """How a layer is cut into tiles and walked; shared by the host, the RTL and this model.

    Attributes are plain integers and tuples; :meth:`units` maps a result word back to output
    positions.
    """

    spec: LayerSpec
    xpu: XpuParams
    words_per_pixel: int
    last_word_bits: int
    row_words: int
    chunks: int
    last_chunk_bits: int
    readouts: int
    pool_factor: int
    subjobs: int
    unit_h: int
    unit_w: int
    rows_per_band: int
    bands: tuple[Band, ...]
    filters_per_tile: int
    weight_tiles: tuple[WeightTile, ...]
    pairs: tuple[tuple[int, int], ...]
    wgt_loads: tuple[int, ...]
    threshold_words: int
    chunk_cycles: tuple[int, ...] = field(repr=False)

    @property
    def vector_cycles(self) -> int:
        """Issue cycles of one vector (job), ``T_v``."""
        return sum(self.chunk_cycles)

    @property
    def act_loads(self) -> tuple[int, ...]:
        """Band index of every activation tile load, in stream order."""
        return tuple(b.index for b in self.bands)

    def pair_jobs(self, pair: int) -> int:
        """Jobs (vectors) of one (band, weight tile) pair."""
        b, w = self.pairs[pair]
        tile = self.weight_tiles[w]
        return (tile.filter1 - tile.filter0) * self.bands[b].groups * self.subjobs

    @property
    def jobs(self) -> int:
        """Jobs of the whole layer."""
        return sum(self.pair_jobs(p) for p in range(len(self.pairs)))

    def results(self) -> Iterator[tuple[int, int, int]]:
        """``(band, filter, group)`` of every result word, in stream order."""
        for b, w in self.pairs:
            tile = self.weight_tiles[w]
            for f in range(tile.filter0, tile.filter1):
                for g in range(self.bands[b].groups):
                    yield b, f, g

    def units(self, band: int, group: int) -> list[tuple[int, int] | None]:
        """Unit ``(row, column)`` of each XPE in a group of a band, or None for an idle XPE.

        A unit is an output position, or a pooled position when the layer pools.
        """
        bd = self.bands[band]
        count = (bd.unit_row1 - bd.unit_row0) * self.unit_w
        out: list[tuple[int, int] | None] = []
        for e in range(self.xpu.n_xpes):
            u = group * self.xpu.n_xpes + e
            if u >= count:
                out.append(None)
            else:
                out.append((bd.unit_row0 + u // self.unit_w, u % self.unit_w))
        return out


def _band_input_rows(spec: LayerSpec, f: int, u0: int, u1: int) -> tuple[int, int]:
    """Input rows ``[lo, hi)`` (clipped to the image) that unit rows ``[u0, u1)`` read."""
    s, p = spec.stride, spec.padding
    lo = u0 * f * s - p
    hi = (u1 * f - 1) * s - p + spec.kernel_h
    return max(0, lo), min(spec.height, hi)


def tiling_plan(spec: LayerSpec, xpu: XpuParams) -> TilingPlan:
    """The tiling plan of ``spec`` on ``xpu``; raises :class:`TilingError` if it cannot map.

    The checks here are the only descriptor checks: a plan that exists is one the RTL runs.
    """
    if not isinstance(spec, LayerSpec):
        raise TypeError(f"spec must be a LayerSpec, not {type(spec).__name__}")
    if not isinstance(xpu, XpuParams):
        raise TypeError(f"xpu must be an XpuParams, not {type(xpu).__name__}")
    n, m = xpu.n_lanes, xpu.n_xpes
    for name in ("height", "width"):
        if getattr(spec, name) > MAX_IMAGE_DIM:
            raise TilingError(
                f"{name} = {getattr(spec, name)} exceeds the descriptor's limit of {MAX_IMAGE_DIM}"
            )
    for name in ("kernel_h", "kernel_w"):
        if getattr(spec, name) > MAX_KERNEL:
            raise TilingError(
                f"{name} = {getattr(spec, name)} exceeds the descriptor's limit of {MAX_KERNEL}"
            )
    if spec.out_channels > xpu.max_out_channels:
        raise TilingError(
            f"out_channels = {spec.out_channels} exceeds the threshold memory of "
            f"{xpu.max_out_channels} channels (XpuParams.max_out_channels)"
        )
    c, k = spec.in_channels, spec.k
    wp = -(-c // n)
    last_word_bits = c - (wp - 1) * n
    row_words = spec.width * wp
    chunks = -(-k // n)
    last_chunk_bits = k - (chunks - 1) * n
    if chunks > xpu.wgt_buffer_depth:
        raise TilingError(
            f"one filter of K = {k} bits needs {chunks} words of {n} bits, more "
            f"than a weight bank holds ({xpu.wgt_buffer_depth} words)"
        )
    f = 2 if spec.pool else 1
    unit_h, unit_w = spec.out_h // f, spec.out_w // f

    def band_words_bound(rows: int) -> int:
        return min((rows * f - 1) * spec.stride + spec.kernel_h, spec.height) * row_words

    if band_words_bound(1) > xpu.act_buffer_depth:
        raise TilingError(
            f"an activation bank of {xpu.act_buffer_depth} words cannot hold one band of "
            f"{f} output row(s): it needs {band_words_bound(1)} words "
            f"(input rows x {spec.width} pixels x {wp} words per pixel)"
        )
    rows = 1
    while rows < unit_h and band_words_bound(rows + 1) <= xpu.act_buffer_depth:
        rows += 1
    bands = []
    for i, u0 in enumerate(range(0, unit_h, rows)):
        u1 = min(unit_h, u0 + rows)
        r0, r1 = _band_input_rows(spec, f, u0, u1)
        bands.append(
            Band(
                index=i,
                unit_row0=u0,
                unit_row1=u1,
                in_row0=r0,
                in_row1=r1,
                words=(r1 - r0) * row_words,
                groups=-(-((u1 - u0) * unit_w) // m),
            )
        )
    per_tile = min(spec.out_channels, xpu.wgt_buffer_depth // chunks)
    wtiles = tuple(
        WeightTile(
            index=i,
            filter0=f0,
            filter1=min(spec.out_channels, f0 + per_tile),
            words=(min(spec.out_channels, f0 + per_tile) - f0) * chunks,
        )
        for i, f0 in enumerate(range(0, spec.out_channels, per_tile))
    )
    pairs = tuple((b.index, w.index) for b in bands for w in wtiles)
    wgt_loads = (0,) if len(wtiles) == 1 else tuple(w for _, w in pairs)
    return TilingPlan(
        spec=spec,
        xpu=xpu,
        words_per_pixel=wp,
        last_word_bits=last_word_bits,
        row_words=row_words,
        chunks=chunks,
        last_chunk_bits=last_chunk_bits,
        readouts=-(-chunks // xpu.gamma),
        pool_factor=f,
        subjobs=POOL_SUBJOBS if spec.pool else 1,
        unit_h=unit_h,
        unit_w=unit_w,
        rows_per_band=rows,
        bands=tuple(bands),
        filters_per_tile=per_tile,
        weight_tiles=wtiles,
        pairs=pairs,
        wgt_loads=wgt_loads,
        threshold_words=spec.out_channels if spec.output == "bit" else 0,
        chunk_cycles=chunk_cycles(spec, xpu),
    )


def chunk_cycles(spec: LayerSpec, xpu: XpuParams) -> tuple[int, ...]:
    """Issue cycles of each of the ``ceil(K/N)`` chunks of one vector (closed form per chunk).

    See the module docstring: chunk ``k`` needs ``n_k = idx(e_k - 1) - idx(e_{k-1} - 1)`` new
    words and takes ``max(1, ceil(n_k / READS_PER_CYCLE))`` cycles.
    """
    n, c, k = xpu.n_lanes, spec.in_channels, spec.k
    wp = -(-c // n)
    chunks = -(-k // n)
    ends = np.minimum(np.arange(1, chunks + 1, dtype=np.int64) * n, k)
    last_bits = ends - 1
    idx = (last_bits // c) * wp + (last_bits % c) // n
    new_words = np.diff(idx, prepend=-1)
    cycles = np.maximum(1, -(-new_words // READS_PER_CYCLE))
    return tuple(int(x) for x in cycles)
