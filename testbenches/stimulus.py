"""What both XPU harnesses send into the XPU for one layer: the layer run, the host's descriptor
and thresholds, and the external memory's feeders (one per stream).

:class:`LayerRun` is one layer to run (spec, tensors, memory model, back-pressure knobs);
:func:`layer_stimulus` turns it into the tiling plan, the descriptor word and one
:class:`Feeder` per stream, with the host driver of :mod:`oxbnn.testbenches.driver`. The
per-cycle environment (:class:`oxbnn.testbenches.env.XpuEnv`) plays them to the XPU under
either simulator.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import numpy as np

from ..models.configs import XpuParams
from ..models.layer import LayerSpec
from ..models.tiling import TilingPlan
from ..models.timing import MemoryModel, layer_cycles
from ..rtl.host_if import descriptor_layout, threshold_layout
from .driver import act_tiles, encode_descriptor, encode_thresholds, wgt_tiles

__all__ = ["Feeder", "LayerRun", "layer_stimulus"]


@dataclass
class LayerRun:
    """One layer to run: the spec, its tensors, the memory model and the host's back-pressure.

    ``ready_probability`` < 1 makes the host drop ``res_out.ready`` at random (seeded by
    ``seed``); 1 means always ready. ``stall_probability`` > 0 makes the external memory withhold
    a due word for a cycle at random (:class:`Feeder`). With either, the run is slower than the
    cycle model's no-stall count, and only bounded by it. ``dataflow`` is one of
    :data:`~oxbnn.models.timing.DATAFLOW_CHOICES` and ``walk`` one of
    :data:`~oxbnn.models.timing.WALK_CHOICES`: the host's policy for this layer (``"auto"``: the
    dataflow and walk order the cycle model counts fewer cycles for,
    :func:`~oxbnn.models.timing.layer_cycles`).
    """

    spec: LayerSpec
    act: np.ndarray
    weights: np.ndarray
    thresholds: np.ndarray | None = None
    flip: np.ndarray | None = None
    mem: MemoryModel = field(default_factory=MemoryModel)
    ready_probability: float = 1.0
    stall_probability: float = 0.0
    seed: int = 0
    name: str = ""
    dataflow: str = "auto"
    walk: str = "auto"

    @property
    def stalls(self) -> bool:
        """Whether the host or the memory may stall the XPU (the cycle count is then a bound)."""
        return self.ready_probability < 1 or self.stall_probability > 0

    @property
    def label(self) -> str:
        """The run's name, or its spec when it has none (for messages)."""
        return self.name or str(self.spec)


def layer_stimulus(run: LayerRun, xpu: XpuParams) -> tuple[TilingPlan, int, dict[str, Feeder]]:
    """What the host and the memory send for ``run``: its tiling plan, its descriptor word, and
    one external-memory feeder per stream (``"thr"`` thresholds, ``"act"`` activation tiles,
    ``"wgt"`` weight tiles).

    Raises :class:`~oxbnn.models.tiling.TilingError` for a layer the XPU cannot run.
    """
    spec = run.spec
    plan = layer_cycles(spec, xpu, run.mem, dataflow=run.dataflow, walk=run.walk).plan
    desc = descriptor_layout(xpu).const(encode_descriptor(spec, xpu, plan)).as_value().value
    thr_words: list[int] = []
    if spec.output == "bit":
        layout = threshold_layout(xpu)
        thr_words = [
            layout.const(e).as_value().value
            for e in encode_thresholds(run.thresholds, run.flip, spec, xpu)
        ]
    stall = run.stall_probability
    feeders = {
        "thr": Feeder([thr_words], run.mem, stall, random.Random(run.seed + 1)),
        "act": Feeder(act_tiles(plan, run.act), run.mem, stall, random.Random(run.seed + 2)),
        "wgt": Feeder(wgt_tiles(plan, run.weights), run.mem, stall, random.Random(run.seed + 3)),
    }
    return plan, desc, feeders


class Feeder:
    """The external memory's feeder of one stream: a list of tiles, sent in order.

    A tile is *requested* in the first cycle the stream is ready after the previous tile was
    complete; word ``i`` is due from cycle ``request + latency + i * cycles_per_word``
    (:class:`~oxbnn.models.timing.MemoryModel`). With ``stall_probability`` > 0 the memory
    withholds a due word for a cycle with that probability (a memory stall), drawn from ``rng``.

    Parameters
    ----------
    tiles : list of list of int
        Words of each tile (empty tiles are skipped).
    mem : MemoryModel
    stall_probability : float
    rng : random.Random, optional
    """

    def __init__(
        self,
        tiles: list[list[int]],
        mem: MemoryModel,
        stall_probability: float = 0.0,
        rng: random.Random | None = None,
    ):
        if not 0.0 <= stall_probability < 1.0:
            raise ValueError(f"stall_probability must be in [0, 1), not {stall_probability!r}")
        self.tiles = [t for t in tiles if t]
        self.mem = mem
        self.mems = [mem] * len(self.tiles)  # each tile's memory model (:meth:`extend`)
        self.stall = stall_probability
        self.rng = rng or random.Random(0)
        self.tile = 0
        self.word = 0
        self.request: int | None = None
        self.prev_end = -1
        self.requests: list[int] = []
        self.stalls = 0

    def extend(self, tiles: list[list[int]], mem: MemoryModel | None = None) -> None:
        """Append tiles to send after the others (a chained layer's), served by ``mem``
        (default: this feeder's memory model)."""
        kept = [t for t in tiles if t]
        self.tiles.extend(kept)
        self.mems.extend([mem or self.mem] * len(kept))

    @property
    def finished(self) -> bool:
        return self.tile >= len(self.tiles)

    def drive(self, t: int, ready: int) -> tuple[int, int]:
        """Valid and payload for cycle ``t``; accounts for a transfer at the end of ``t``."""
        if self.finished:
            return 0, 0
        if self.request is None:
            if not (ready and t > self.prev_end):
                return 0, 0
            self.request = t
            self.requests.append(t)
        mem = self.mems[self.tile]
        due = self.request + mem.latency_cycles + self.word * mem.cycles_per_word
        if t < due:
            return 0, 0
        if self.stall and self.rng.random() < self.stall:
            self.stalls += 1
            self.request += 1  # every later word of the tile slips by one cycle too
            return 0, 0
        payload = self.tiles[self.tile][self.word]
        if ready:
            self.word += 1
            if self.word == len(self.tiles[self.tile]):
                self.prev_end = t
                self.tile += 1
                self.word = 0
                self.request = None
        return 1, payload
