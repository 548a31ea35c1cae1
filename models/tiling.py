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
ceil(K/N)``), each filter packed as ``ceil(K/N)`` words in im2col order. The walk is in the
dataflow paragraph below.
The walk visits every (band, weight tile) *pair* and loads, per stream, the tiles in walk order,
alternating between the two banks of each buffer. **Walk order** (:attr:`TilingPlan.weights_outer`,
the descriptor's ``wgt_outer``): by default bands are outside (``for band: for weight tile``):
each band is loaded once, and the weight tiles once if all filters fit one bank, else once per
pair. When the layer has several bands *and* several weight tiles, the other order
(``tiling_plan(..., weights_outer=True)``: ``for weight tile: for band``) loads each weight tile
once and the bands once per weight tile; the host takes the one the cycle model counts fewer
cycles for (:func:`oxbnn.models.timing.layer_cycles`). Thresholds (bit output only) are loaded
once, at the start, into a threshold memory. The host streams tiles in exactly this order
(:attr:`TilingPlan.act_loads`, :attr:`TilingPlan.wgt_loads`).

A plan that exists is one the RTL runs: :func:`tiling_plan` makes every check (descriptor
limits and the unit grid, buffer sizes, threshold memory) and raises :class:`TilingError`
otherwise; every register width of the RTL (:class:`Widths`) is derived from the same limits, so
no value of a plan that exists overflows one.

**Dataflow** (:data:`DATAFLOWS`, ``tiling_plan(..., dataflow=...)``, :attr:`TilingPlan.dataflow`).
Both are built, and the descriptor's ``act_bcast`` bit selects one per layer:

* ``"weight_broadcast"``: the M XPEs share one filter and work on M different units, so a band's
  units are cut into groups of M (:attr:`Band.groups` ``= ceil(units / M)``) and XPE e of group
  g takes unit ``g M + e``; the walk steps one filter at a time (:attr:`TilingPlan.filter_step`
  = 1).
* ``"activation_broadcast"``: the M XPEs share one unit (one activation chunk per slot) and each
  drives its own filter's weights, so a job computes M output channels of one unit: a group is
  one unit (:attr:`Band.groups` = the band's units) and the walk steps M filters at a time
  (``filter_step`` = M; XPE e takes filter ``f + e``, idle past the tile's last filter). A weight
  tile then holds a multiple of M filters (or all of them), so a step never spans two tiles; a
  layer whose weight bank cannot hold M filters (and not all of them) cannot use it. An FC
  layer, one unit, thus runs on all M XPEs.

The walk is the same loop nest in both (a *filter step* is one filter or M of them)::

    for band: for weight tile: for filter step in tile: for group in band: for sub-job: one vector

:meth:`TilingPlan.targets` maps each XPE of a result word to its output (row, column, channel).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from .configs import XpuParams
from .layer import STRIDES, LayerSpec

__all__ = [
    "TilingError",
    "Widths",
    "Band",
    "WeightTile",
    "TilingPlan",
    "tiling_plan",
    "band_window_rows",
    "chunk_cycles",
    "PAD_MODES",
    "IMAGE_DIM_BITS",
    "KERNEL_BITS",
    "MAX_IMAGE_DIM",
    "MAX_KERNEL",
    "PAD_MODE_BITS",
    "READS_PER_SLOT",
    "chunk_reads",
    "beat_cycles",
    "POOL_FACTOR",
    "POOL_SUBJOBS",
    "DATAFLOWS",
    "WALKS",
]

#: Width of the descriptor's input height/width fields (unsigned).
IMAGE_DIM_BITS = 16
#: Width of the descriptor's kernel height/width and padding fields (unsigned).
KERNEL_BITS = 4
#: Descriptor code of each padding mode of :class:`~oxbnn.models.layer.LayerSpec`.
PAD_MODES = {"dark": 0, "+1": 1, "-1": 2}
#: Width of the descriptor's padding-mode field (holds every code of :data:`PAD_MODES`).
PAD_MODE_BITS = max(PAD_MODES.values()).bit_length()
#: Largest input height/width the descriptor can describe.
MAX_IMAGE_DIM = (1 << IMAGE_DIM_BITS) - 1
#: Largest kernel height/width the descriptor can describe.
MAX_KERNEL = (1 << KERNEL_BITS) - 1
#: Activation words each slot engine of an XPE reads per cycle (three read ports per slot and
#: XPE: a chunk of N bits touches at most three words unless the pixels are thinner than N / 2).
READS_PER_SLOT = 3
#: Side of the pooling window (2 x 2 OR max-pool, stride 2): output positions per unit side.
POOL_FACTOR = 2
#: Sub-jobs of one pooled unit (its 2 x 2 window).
POOL_SUBJOBS = POOL_FACTOR**2
#: Largest step, in input rows or columns, between the windows of two adjacent units:
#: ``pool factor x stride``.
_MAX_UNIT_STEP = POOL_FACTOR * max(STRIDES)
#: Dataflows of an XPU: which of a layer's vectors its M XPEs compute together (see the module
#: docstring); the descriptor's ``act_bcast`` bit is 1 for the second.
DATAFLOWS = ("weight_broadcast", "activation_broadcast")
#: Walk orders of the (band, weight tile) pairs (module docstring): the descriptor's
#: ``wgt_outer`` is 1 for the second.
WALKS = ("bands_outer", "weights_outer")


class TilingError(ValueError):
    """A layer cannot be mapped onto this XPU (it can never fit, or a field is out of range)."""


@dataclass(frozen=True)
class Widths:
    """Bit widths of the XPU's registers and descriptor fields, derived from :class:`XpuParams`.

    Each width holds every value a plan that exists (:func:`tiling_plan`) can put in it; the
    bounds come from the descriptor limits (:data:`MAX_IMAGE_DIM`, :data:`MAX_KERNEL`), the
    unit grid (at most :data:`MAX_IMAGE_DIM` unit rows and columns, checked by the plan), the
    buffer depths, ``max_out_channels`` and M.

    Attributes
    ----------
    k_max : int
        Longest vector: one filter fills at most a whole weight bank, ``N * wgt_buffer_depth``.
    count : int
        Width of a popcount or ``K_valid`` (holds ``k_max``).
    dot : int
        Width of a signed dot product or threshold (holds ``+-(k_max + 1)``).
    geometry : int
        Width of the signed row/column registers of the address generator: a window origin row
        relative to its band is below ``4 (MAX_IMAGE_DIM + M)`` (an XPE's unit row is below the
        band's rows plus M, times at most pool factor x stride = 4); a tap's row or column adds at
        most ``2 + MAX_KERNEL``; negative values reach ``-4 MAX_IMAGE_DIM`` (a row wrap). One
        sign bit on top of that magnitude.
    offset : int
        Width of the signed word offsets (addresses before the bank is chosen). Arithmetic on
        them is modular and only their low ``act_addr`` bits address a bank, so any width of at
        least ``act_addr`` is exact; the width (6 bits above the larger bank's address) is the
        one the RTL was built with, kept so no register changes.
    act_addr : int
        Address width of one activation bank.
    wgt_addr : int
        Address width of one weight bank.
    unit_row : int
        Width of a unit row index: a band's first unit row plus its rows (below ``2
        MAX_IMAGE_DIM``), or an XPE's unit row in its band (below ``MAX_IMAGE_DIM + M``).
    unit_col : int
        Width of a unit column index (below ``unit_w <= MAX_IMAGE_DIM``).
    row_step : int
        Width of the input rows between two bands, ``rows_per_band * f * s <= 4 MAX_IMAGE_DIM``.
    unit_step : int
        Width of the input rows or columns between adjacent units, ``f * s <= 4``.
    m_step_y : int
        Width of the unit rows M units span, ``M // unit_w <= M``.
    wgt_loads : int
        Width of the weight-load count: at most one load per (band, weight tile) pair, with at
        most ``MAX_IMAGE_DIM`` bands (one unit row each) and ``max_out_channels`` weight tiles
        (one filter each).
    kernel : int
        Width of a kernel row or column index (at most ``MAX_KERNEL``, the descriptor's
        ``KERNEL_BITS``).
    subjob : int
        Width of a sub-job index (below :data:`POOL_SUBJOBS`).
    """

    k_max: int
    count: int
    dot: int
    geometry: int
    offset: int
    act_addr: int
    wgt_addr: int
    unit_row: int
    unit_col: int
    row_step: int
    unit_step: int
    m_step_y: int
    wgt_loads: int
    kernel: int
    subjob: int

    @classmethod
    def of(cls, xpu: XpuParams) -> Widths:
        """The widths of ``xpu``'s datapath."""
        if not isinstance(xpu, XpuParams):
            raise TypeError(f"xpu must be an XpuParams, not {type(xpu).__name__}")
        k_max = xpu.n_lanes * xpu.wgt_buffer_depth
        m = xpu.n_xpes
        geometry_bound = _MAX_UNIT_STEP * (MAX_IMAGE_DIM + m) + POOL_FACTOR + MAX_KERNEL
        return cls(
            k_max=k_max,
            count=k_max.bit_length(),
            dot=(k_max + 1).bit_length() + 1,
            geometry=geometry_bound.bit_length() + 1,
            offset=max(xpu.act_buffer_depth, xpu.wgt_buffer_depth).bit_length() + 6,
            act_addr=max(1, (xpu.act_buffer_depth - 1).bit_length()),
            wgt_addr=max(1, (xpu.wgt_buffer_depth - 1).bit_length()),
            unit_row=max(2 * MAX_IMAGE_DIM - 1, MAX_IMAGE_DIM + m - 1).bit_length(),
            unit_col=MAX_IMAGE_DIM.bit_length(),
            row_step=(MAX_IMAGE_DIM * _MAX_UNIT_STEP).bit_length(),
            unit_step=_MAX_UNIT_STEP.bit_length(),
            m_step_y=m.bit_length(),
            wgt_loads=(MAX_IMAGE_DIM * xpu.max_out_channels).bit_length(),
            kernel=KERNEL_BITS,
            subjob=(POOL_SUBJOBS - 1).bit_length(),
        )


@dataclass(frozen=True)
class Band:
    """One activation tile: unit rows ``[unit_row0, unit_row1)``, input rows ``[in_row0,
    in_row1)``; ``groups``: jobs per filter step and sub-job, ceil(units / M) (weight broadcast:
    M units per group) or the band's units (activation broadcast: one unit per group)."""

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

    Attributes are plain integers and tuples; :meth:`targets` maps a result word back to its
    outputs. ``dataflow`` is the one of :data:`DATAFLOWS` the plan maps; ``filter_step`` the
    filters of one step of the walk (1, or M for activation broadcast); ``weights_outer`` the
    walk order (module docstring); ``act_loads`` / ``wgt_loads`` the band / weight tile of every
    load of the activation / weight stream, in stream order (:meth:`pair_loads` maps a pair to
    its two loads).
    """

    spec: LayerSpec
    xpu: XpuParams
    dataflow: str
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
    beat_cycles: tuple[int, ...] = field(repr=False)
    filter_step: int = 1
    weights_outer: bool = False
    act_loads: tuple[int, ...] = ()

    @property
    def act_bcast(self) -> bool:
        """The plan is activation broadcast (the descriptor's ``act_bcast`` bit)."""
        return self.dataflow == "activation_broadcast"

    def filter_steps(self, tile: int) -> int:
        """Steps of the walk over the filters of weight tile ``tile``."""
        wt = self.weight_tiles[tile]
        return -(-(wt.filter1 - wt.filter0) // self.filter_step)

    @property
    def beats(self) -> int:
        """Cycles' worth of slots one vector fills, ``ceil(chunks / S)``: beat b carries chunks
        ``b S .. b S + S - 1`` (those past the vector's end are dark)."""
        return len(self.beat_cycles)

    @property
    def vector_cycles(self) -> int:
        """Issue cycles of one vector (job), ``T_v``."""
        return sum(self.beat_cycles)

    def pair_loads(self, pair: int) -> tuple[int, int]:
        """Indices into :attr:`act_loads` and :attr:`wgt_loads` of the tiles pair ``pair``
        reads."""
        b, w = self.pairs[pair]
        if self.weights_outer:
            return pair, w
        return b, (0 if len(self.weight_tiles) == 1 else pair)

    def pair_jobs(self, pair: int) -> int:
        """Jobs (vectors) of one (band, weight tile) pair."""
        b, w = self.pairs[pair]
        return self.filter_steps(w) * self.bands[b].groups * self.subjobs

    @property
    def jobs(self) -> int:
        """Jobs of the whole layer (filter steps x groups x sub-jobs per pair)."""
        return sum(self.pair_jobs(p) for p in range(len(self.pairs)))

    def results(self) -> Iterator[tuple[int, int, int]]:
        """``(band, filter, group)`` of every result word, in stream order; ``filter`` is the
        first filter of its step."""
        for b, w in self.pairs:
            tile = self.weight_tiles[w]
            for f in range(tile.filter0, tile.filter1, self.filter_step):
                for g in range(self.bands[b].groups):
                    yield b, f, g

    def targets(self, band: int, filt: int, group: int) -> list[tuple[int, int, int] | None]:
        """Output ``(row, column, channel)`` of each XPE in the result word ``(band, filt,
        group)`` of :meth:`results`, or None for an idle XPE (row and column of the unit grid:
        pooled positions when the layer pools)."""
        if not self.act_bcast:
            return [None if u is None else (*u, filt) for u in self.units(band, group)]
        bd = self.bands[band]
        unit = (bd.unit_row0 + group // self.unit_w, group % self.unit_w)
        end = next(t.filter1 for t in self.weight_tiles if t.filter0 <= filt < t.filter1)
        m = self.xpu.n_xpes
        return [(*unit, filt + e) if filt + e < end else None for e in range(m)]

    def units(self, band: int, group: int) -> list[tuple[int, int] | None]:
        """Unit ``(row, column)`` of each XPE in a group of a band, or None for an idle XPE.

        A unit is an output position, or a pooled position when the layer pools. This is the
        weight-broadcast mapping: XPE e of group g takes the band's unit ``g M + e`` (units
        numbered row-major), all XPEs on the same filter (:meth:`targets` serves both
        dataflows).
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


def band_window_rows(spec: LayerSpec, f: int, u0: int, u1: int) -> tuple[int, int]:
    """Input rows ``[lo, hi)`` that the windows of unit rows ``[u0, u1)`` span, not clipped to
    the image (``lo`` is negative under top padding, ``hi`` may pass ``spec.height``); ``f`` is
    the pool factor. The host driver puts these bounds in the descriptor."""
    s, p = spec.stride, spec.padding
    return u0 * f * s - p, (u1 * f - 1) * s - p + spec.kernel_h


def _band_input_rows(spec: LayerSpec, f: int, u0: int, u1: int) -> tuple[int, int]:
    """Input rows ``[lo, hi)`` (clipped to the image) that unit rows ``[u0, u1)`` read."""
    lo, hi = band_window_rows(spec, f, u0, u1)
    return max(0, lo), min(spec.height, hi)


def tiling_plan(
    spec: LayerSpec,
    xpu: XpuParams,
    *,
    dataflow: str = "weight_broadcast",
    weights_outer: bool = False,
) -> TilingPlan:
    """The tiling plan of ``spec`` on ``xpu``; raises :class:`TilingError` if it cannot map.

    ``weights_outer`` asks for the walk with the weight tiles outside the bands (module
    docstring); a layer with one band or one weight tile has one walk, bands outside, whatever
    it asks.

    The checks here are the only descriptor checks: a plan that exists is one the RTL runs.
    ``dataflow`` is one of :data:`DATAFLOWS`.
    """
    if not isinstance(spec, LayerSpec):
        raise TypeError(f"spec must be a LayerSpec, not {type(spec).__name__}")
    if not isinstance(xpu, XpuParams):
        raise TypeError(f"xpu must be an XpuParams, not {type(xpu).__name__}")
    if dataflow not in DATAFLOWS:
        raise TilingError(f"unknown dataflow {dataflow!r}; expected one of {list(DATAFLOWS)}")
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
    f = POOL_FACTOR if spec.pool else 1
    unit_h, unit_w = spec.out_h // f, spec.out_w // f
    for name, value in (("unit rows", unit_h), ("unit columns", unit_w)):
        if value > MAX_IMAGE_DIM:
            raise TilingError(
                f"the output grid has {value} {name} (output positions, or 2 x 2 windows when "
                f"pooling), more than the descriptor's limit of {MAX_IMAGE_DIM}"
            )

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
    bcast = dataflow == "activation_broadcast"
    for i, u0 in enumerate(range(0, unit_h, rows)):
        u1 = min(unit_h, u0 + rows)
        r0, r1 = _band_input_rows(spec, f, u0, u1)
        units = (u1 - u0) * unit_w
        bands.append(
            Band(
                index=i,
                unit_row0=u0,
                unit_row1=u1,
                in_row0=r0,
                in_row1=r1,
                words=(r1 - r0) * row_words,
                groups=units if bcast else -(-units // m),
            )
        )
    per_tile = min(spec.out_channels, xpu.wgt_buffer_depth // chunks)
    if bcast and per_tile < spec.out_channels:
        per_tile -= per_tile % m  # whole steps of M filters per tile
        if per_tile == 0:
            raise TilingError(
                f"activation broadcast needs {m} filters of {chunks} words in one weight bank "
                f"({m * chunks} words), more than it holds ({xpu.wgt_buffer_depth} words)"
            )
    wtiles = tuple(
        WeightTile(
            index=i,
            filter0=f0,
            filter1=min(spec.out_channels, f0 + per_tile),
            words=(min(spec.out_channels, f0 + per_tile) - f0) * chunks,
        )
        for i, f0 in enumerate(range(0, spec.out_channels, per_tile))
    )
    n_b, n_w = len(bands), len(wtiles)
    outer = bool(weights_outer) and n_b > 1 and n_w > 1
    if outer:
        pairs = tuple((b.index, w.index) for w in wtiles for b in bands)
        act_loads, wgt_loads = tuple(b for b, _ in pairs), tuple(range(n_w))
    else:
        pairs = tuple((b.index, w.index) for b in bands for w in wtiles)
        act_loads = tuple(range(n_b))
        wgt_loads = (0,) if n_w == 1 else tuple(w for _, w in pairs)
    return TilingPlan(
        spec=spec,
        xpu=xpu,
        dataflow=dataflow,
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
        beat_cycles=beat_cycles(spec, xpu),
        filter_step=m if bcast else 1,
        weights_outer=outer,
        act_loads=act_loads,
    )


def chunk_reads(spec: LayerSpec, xpu: XpuParams) -> np.ndarray:
    """Words of the im2col vector each of its ``ceil(K/N)`` chunks touches (int64 array).

    Word ``j`` of a vector covers bits ``[(j // W_p) C + (j % W_p) N, ...)`` (``W_p`` words per
    pixel, the last one ``C - (W_p - 1) N`` bits), so bit ``b`` lies in word ``idx(b) = (b // C)
    W_p + (b % C) // N``; chunk ``k`` covers bits ``[k N, e_k)`` with ``e_k = min((k + 1) N, K)``
    and touches ``idx(e_k - 1) - idx(k N) + 1`` words. A word that straddles two chunks is read
    for each of them (each slot engine builds its own chunk).
    """
    n, c, k = xpu.n_lanes, spec.in_channels, spec.k
    wp = -(-c // n)
    chunks = -(-k // n)
    first = np.arange(chunks, dtype=np.int64) * n
    last = np.minimum(first + n, k) - 1

    def idx(b: np.ndarray) -> np.ndarray:
        return (b // c) * wp + (b % c) // n

    return idx(last) - idx(first) + 1


def chunk_cycles(spec: LayerSpec, xpu: XpuParams) -> np.ndarray:
    """Cycles a slot engine needs to read each chunk: ``ceil(reads / READS_PER_SLOT)``."""
    return -(-chunk_reads(spec, xpu) // READS_PER_SLOT)


def beat_cycles(spec: LayerSpec, xpu: XpuParams) -> tuple[int, ...]:
    """Issue cycles of each beat of one vector (the vector schedule of :mod:`oxbnn.models.timing`).

    A vector of ``L = ceil(K/N)`` chunks is ``ceil(L / S)`` beats; beat ``b`` puts chunks ``b S
    .. b S + S - 1`` on the S slots of one cycle, slot engine ``s`` building chunk ``b S + s``.
    The engines read in lock-step and the beat leaves when its slowest chunk is complete, so a
    beat takes the largest :func:`chunk_cycles` of its chunks (one cycle unless a pixel is
    thinner than about N / 2, e.g. a first layer with C = 3).
    """
    cycles = chunk_cycles(spec, xpu)
    s = xpu.symbols_per_cycle
    beats = -(-len(cycles) // s)
    padded = np.ones(beats * s, dtype=np.int64)
    padded[: len(cycles)] = cycles
    return tuple(int(x) for x in padded.reshape(beats, s).max(axis=1))
