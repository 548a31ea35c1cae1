"""Stimulus shared by the co-simulation and the Amaranth-simulator harness: memory channels."""

from __future__ import annotations

import random

from ..models.timing import MemoryModel

__all__ = ["Feeder"]


class Feeder:
    """External-memory channel feeding one stream with a list of tiles, in order.

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
        self.stall = stall_probability
        self.rng = rng or random.Random(0)
        self.tile = 0
        self.word = 0
        self.request: int | None = None
        self.prev_end = -1
        self.requests: list[int] = []
        self.stalls = 0

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
        due = self.request + self.mem.latency_cycles + self.word * self.mem.cycles_per_word
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
