"""A lower bound on the cycles of one layer on one XPU, and the efficiency figure (issue 13).

:func:`layer_lower_bound` gives three counts, each a number of cycles no schedule of the layer on
this XPU (and in particular the RTL, whose count :func:`oxbnn.models.timing.layer_cycles` gives)
can beat, and the bound is the largest of them (:attr:`LowerBound.cycles`). The *efficiency* of
a run is its cycles over that bound (``>= 1``; 1 is a schedule that is as fast as the bound).
Cycles are counted as in :mod:`oxbnn.models.timing` (cycle 0 holds ``start``; a layer's count is
the index of the cycle in which ``done`` is high). Nothing here imports the RTL or the tiling
plan: the bound is a property of the layer, the XPU's shape and the memory.

Notation: ``N = xpu.n_lanes``, ``M = xpu.n_xpes``, ``S = xpu.symbols_per_cycle``, ``L = ceil(K /
N)`` chunks per vector, ``lat = mem.latency_cycles``, ``cpw = mem.cycles_per_word``.

Compute
-------
``compute = ceil(outputs * L / (M * S))``. Every output is one dot product of ``L`` chunks; an
XPU puts at most one chunk per XPE per slot on its lanes, and a cycle has ``M * S`` such (XPE,
slot) places, so ``outputs * L`` chunks need at least that many cycles. ``outputs = rows * cols
* out_channels`` are the convolution's outputs *before* pooling that the layer must compute: all
``out_h x out_w`` positions without pooling; with pooling only the positions of whole 2 x 2
windows, ``(out_h // 2 * 2) x (out_w // 2 * 2)``, since an odd last row or column is dropped
(:mod:`oxbnn.models.layer`) and never computed. (The RTL needs ``ceil(L / S)`` cycles per vector
and ``ceil(units / M)`` groups per band, so it reaches this term only when ``S`` divides ``L``
and ``M`` divides the units.)

Memory
------
The XPU has one N-bit memory stream per kind of data (activations, weights, thresholds), each
delivering one word per ``cpw`` cycles, all three in parallel
(:class:`~oxbnn.models.timing.MemoryModel`, one memory port per stream). The words a layer
must bring in at least once (:func:`stream_words`):

* **activations**: every input pixel that some computed output's window reads, stored as
  ``ceil(C / N)`` N-bit words (the last holds ``C mod N`` channels; padding is never stored, as
  in :mod:`oxbnn.models.tiling`). For almost every layer that is all ``H x W`` pixels; a 1 x 1
  stride-2 convolution reads only the even rows and columns, and the rows and columns past the
  last window (a stride-2 layer without padding on an even input, the dropped row of an odd
  pooled output) are never read. For an fc layer it is ``ceil(K / N)`` words.
* **weights**: ``out_channels * L`` words (each filter once, packed as ``L`` words in im2col
  order).
* **thresholds**: ``out_channels`` words for an output ``"bit"`` layer, none for ``"int"``.

``memory`` is the largest over the streams of ``words * cpw``; a stream whose data is already on
chip at the layer's start (``activations_on_chip``, ``weights_on_chip``,
``thresholds_on_chip``) counts 0: a layer of a chain whose tiles and thresholds the descriptor
queue prefetched during the previous layer (:func:`oxbnn.models.timing.chain_cycles`).

Why it is a bound for the tiling the RTL uses (:mod:`oxbnn.models.tiling`): a band holds whole
input rows (full width) and the bands together cover every row a window reads, so the activation
stream loads at least those words; every filter is in at least one weight tile; the thresholds
are loaded once. A stream loads its tiles one after the other: a tile of ``n`` words
requested in cycle ``q`` is complete in ``q + lat + (n - 1) cpw`` and the next request comes
after that, so each tile holds its stream for at least ``lat + 1 + (n - 1) cpw >= n cpw`` cycles
when ``cpw <= lat + 1``, and the whole stream is done no earlier than ``words * cpw`` after
cycle 0; the layer is done later still. Every memory the project builds has ``cpw <= lat + 1``
(:class:`~oxbnn.models.timing.MemoryModel`'s default 1 and 1; the eDRAM of the system presets,
:func:`oxbnn.models.mapping.memory_for`: 2 and 1 at the realistic S, 78 and 12 at oxbnn50's S =
1 idealisation). A memory model whose words come slower than a new request's first word (``cpw >
lat + 1``) would let a stream cut into many tiles beat its own rate, so the term takes
``min(cpw, lat + 1)`` cycles per word to stay a bound for any :class:`MemoryModel`.

Fixed
-----
The cycles of the least work a layer can have: one stream's first tile of one word, one vector
of one beat, one result, through the pipeline of :mod:`oxbnn.models.timing`. The loaders start in
cycle ``RUN_START_CYCLE``; the word arrives ``lat`` cycles later and is usable the cycle after
(``+ 1``); the one issue cycle is that cycle itself (the count is a cycle *index*, so it adds
nothing); its chunk is on the port ``ISSUE_TO_PORT_CYCLES`` later, its code ``adc_latency``
after that, its result is offered ``CODE_TO_RESULT_CYCLES`` later and taken at once, and
``done`` is high ``RESULT_TO_DONE_CYCLES`` after that::

    fixed = RUN_START_CYCLE + (lat + 1) + ISSUE_TO_PORT_CYCLES + adc_latency
            + CODE_TO_RESULT_CYCLES + RESULT_TO_DONE_CYCLES

which is ``lat + adc_latency + 6`` with today's constants, and exactly the count of a 1 x 1 x 1 fc
layer (``tests/test_bounds.py`` holds it equal to :func:`~oxbnn.models.timing.layer_cycles`).
Every layer's first issue waits for its first tiles and its last result goes through the same
pipeline, so no layer is faster. When no stream has anything to bring in (both flags set and
an ``"int"`` output), the ``lat + 1`` of the first load is left out: the first issue could be in
``RUN_START_CYCLE``.

The three terms are lower bounds each, so their largest is one; they are not added (the loads,
the issue cycles and the pipeline overlap in a well-pipelined schedule, which is what the bound
measures the RTL against).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .configs import XpuParams
from .layer import LayerSpec
from .timing import (
    CODE_TO_RESULT_CYCLES,
    ISSUE_TO_PORT_CYCLES,
    RESULT_TO_DONE_CYCLES,
    RUN_START_CYCLE,
    MemoryModel,
)

__all__ = [
    "TERMS",
    "LowerBound",
    "computed_outputs",
    "fixed_cycles",
    "layer_lower_bound",
    "stream_words",
]

#: The names of the three terms, in the order they are reported (and break ties).
TERMS = ("compute", "memory", "fixed")
#: Side of the pooling window (2 x 2 OR max-pool, :mod:`oxbnn.models.layer`).
_POOL = 2


@dataclass(frozen=True)
class LowerBound:
    """The three lower bounds of one layer's cycles (module docstring); each an ``int``."""

    compute: int
    memory: int
    fixed: int

    @property
    def cycles(self) -> int:
        """The bound: the largest of the three terms."""
        return max(self.compute, self.memory, self.fixed)

    @property
    def terms(self) -> dict[str, int]:
        """``{"compute": ..., "memory": ..., "fixed": ...}``."""
        return {name: getattr(self, name) for name in TERMS}

    @property
    def binding(self) -> str:
        """The name of the largest term (the first of :data:`TERMS` on a tie)."""
        return max(TERMS, key=lambda name: getattr(self, name))

    def efficiency(self, cycles: int) -> float:
        """``cycles / self.cycles``: how far a count is above the bound (1.0 = on it)."""
        return cycles / self.cycles


def _covered(size: int, count: int, stride: int, padding: int, kernel: int) -> int:
    """Input rows (or columns) in ``[0, size)`` that the windows of ``count`` outputs read."""
    hit = np.zeros(size, dtype=bool)
    origin = np.arange(count, dtype=np.int64) * stride - padding
    for tap in range(kernel):
        idx = origin + tap
        hit[idx[(idx >= 0) & (idx < size)]] = True
    return int(hit.sum())


def _computed_grid(spec: LayerSpec) -> tuple[int, int]:
    """Output rows and columns (before pooling) the layer must compute."""
    if spec.pool:
        return spec.out_h // _POOL * _POOL, spec.out_w // _POOL * _POOL
    return spec.out_h, spec.out_w


def computed_outputs(spec: LayerSpec) -> int:
    """Dot products the layer must compute: output positions before pooling (those of whole 2 x
    2 windows when it pools) times ``out_channels``."""
    rows, cols = _computed_grid(spec)
    return rows * cols * spec.out_channels


def stream_words(spec: LayerSpec, xpu: XpuParams) -> dict[str, int]:
    """N-bit words each memory stream must bring in at least once (module docstring):
    ``{"activations": ..., "weights": ..., "thresholds": ...}``."""
    n = xpu.n_lanes
    rows, cols = _computed_grid(spec)
    pixels = _covered(spec.height, rows, spec.stride, spec.padding, spec.kernel_h) * _covered(
        spec.width, cols, spec.stride, spec.padding, spec.kernel_w
    )
    return {
        "activations": pixels * -(-spec.in_channels // n),
        "weights": spec.out_channels * -(-spec.k // n),
        "thresholds": spec.out_channels if spec.output == "bit" else 0,
    }


def fixed_cycles(xpu: XpuParams, mem: MemoryModel | None = None, *, loads: bool = True) -> int:
    """The fill and drain latency of the pipeline: the count of the least work a layer can have
    (module docstring); without the first load's ``latency + 1`` if ``loads`` is false."""
    mem = MemoryModel() if mem is None else mem
    first_load = mem.latency_cycles + 1 if loads else 0
    return (
        RUN_START_CYCLE
        + first_load
        + ISSUE_TO_PORT_CYCLES
        + xpu.adc_latency
        + CODE_TO_RESULT_CYCLES
        + RESULT_TO_DONE_CYCLES
    )


def layer_lower_bound(
    spec: LayerSpec,
    xpu: XpuParams,
    mem: MemoryModel | None = None,
    *,
    activations_on_chip: bool = False,
    weights_on_chip: bool = False,
    thresholds_on_chip: bool = False,
) -> LowerBound:
    """The lower bound of ``spec``'s cycles on ``xpu`` fed by ``mem`` (default
    :class:`~oxbnn.models.timing.MemoryModel`): compute, memory and fixed terms (module
    docstring). ``activations_on_chip`` / ``weights_on_chip`` / ``thresholds_on_chip``: that
    stream need not be brought in (it is on chip when the layer starts)."""
    if not isinstance(spec, LayerSpec):
        raise TypeError(f"spec must be a LayerSpec, not {type(spec).__name__}")
    if not isinstance(xpu, XpuParams):
        raise TypeError(f"xpu must be an XpuParams, not {type(xpu).__name__}")
    mem = MemoryModel() if mem is None else mem
    chunks = -(-spec.k // xpu.n_lanes)
    places = xpu.n_xpes * xpu.symbols_per_cycle
    compute = -(-computed_outputs(spec) * chunks // places)
    words = stream_words(spec, xpu)
    if activations_on_chip:
        words["activations"] = 0
    if weights_on_chip:
        words["weights"] = 0
    if thresholds_on_chip:
        words["thresholds"] = 0
    per_word = min(mem.cycles_per_word, mem.latency_cycles + 1)
    memory = max(words.values()) * per_word
    fixed = fixed_cycles(xpu, mem, loads=any(words.values()))
    return LowerBound(compute=int(compute), memory=int(memory), fixed=int(fixed))
