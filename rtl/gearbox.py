"""Bit packer of one slot of one XPE: pixel words in, one N-bit im2col chunk out."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ._checks import fixed_latency, positive_int

__all__ = ["Gearbox", "gearbox_control_layout"]


def gearbox_control_layout(n_lanes: int, words: int) -> data.StructLayout:
    """Control of one slot's gearbox, shared by that slot of every XPE (they run in lock-step).

    ``skip``: the low bits of word 0 that belong to the previous chunk (dropped; nonzero only in
    the first cycle of a chunk). ``shift[i]``: the lane where word ``i``'s first used bit lands.
    ``mask[i]``: ``(2**placed[i] - 1) << shift[i]``, the lanes word ``i`` fills, zero if it is
    not taken (never beyond lane N - 1: bits past the chunk belong to the next slot's chunk).
    ``emit``: the chunk is complete and goes out.
    """
    n = n_lanes
    return data.StructLayout(
        {
            "skip": range(n),
            "shift": data.ArrayLayout(range(n), words),
            "mask": data.ArrayLayout(n, words),
            "emit": 1,
        }
    )


class Gearbox(wiring.Component):
    """Packs up to ``words`` pixel words per cycle into one N-bit chunk, with a valid bit per lane.

    Contract: in a cycle with ``ctl.emit`` the held bits plus the new words' bits fill the chunk
    (all N lanes, or the vector's remainder for its last chunk). Word ``i`` contributes the bits
    ``ctl.mask[i]`` selects after it is shifted to lane ``ctl.shift[i]`` (word 0 first drops its
    low ``ctl.skip`` bits); its lanes are valid iff ``count[i]`` (a word from padding with ``pad
    = "dark"``, or of an idle XPE, is not). The caller substitutes the pad value into
    ``word[i]`` for ``"+1"`` / ``"-1"`` padding. A chunk that needs more words than one cycle
    reads (a read-bound layer) is held between cycles until it is complete.

    The chunk of a cycle with ``ctl.emit`` is on ``chunk`` / ``lanes`` in the next cycle
    (:attr:`latency` = 1); after a cycle without ``emit``, ``lanes`` is 0. Throughput: one chunk
    per cycle. Everything is synchronous (no combinational path from input to output).

    Parameters
    ----------
    n_lanes : int
    words : int
        Words read per cycle (:data:`oxbnn.models.tiling.READS_PER_SLOT`).

    Members
    -------
    ctl : In(gearbox_control_layout(n_lanes, words))
    word : In(ArrayLayout(n_lanes, words))
    count : In(words)
    chunk : Out(n_lanes)
    lanes : Out(n_lanes)
        Lane-valid mask of ``chunk``.
    """

    def __init__(self, *, n_lanes: int, words: int):
        self._n = positive_int(self, "n_lanes", n_lanes)
        self._words = positive_int(self, "words", words)
        super().__init__(
            {
                "ctl": In(gearbox_control_layout(n_lanes, words)),
                "word": In(data.ArrayLayout(n_lanes, words)),
                "count": In(words),
                "chunk": Out(n_lanes),
                "lanes": Out(n_lanes),
            }
        )

    @property
    def n_lanes(self) -> int:
        return self._n

    @property
    def words(self) -> int:
        return self._words

    @fixed_latency
    def latency(cls) -> int:
        """Cycle of ``ctl.emit`` -> cycle the chunk is on ``chunk`` / ``lanes``: one output
        register."""
        return 1

    def elaborate(self, platform):
        m = Module()
        n = self._n
        ctl = self.ctl
        held = Signal(n)
        held_lanes = Signal(n)
        # Expressions, not named signals: each is used in one register update, and the
        # simulator would re-run this block once per level of named combinational signals.
        placed = held
        placed_lanes = held_lanes
        for i in range(self._words):
            word = (self.word[i] >> ctl.skip) if i == 0 else self.word[i]
            placed = placed | (((word << ctl.shift[i]) & ctl.mask[i])[:n])
            placed_lanes = placed_lanes | Mux(self.count[i], ctl.mask[i], 0)
        with m.If(ctl.emit):
            m.d.sync += [
                self.chunk.eq(placed),
                self.lanes.eq(placed_lanes),
                held.eq(0),
                held_lanes.eq(0),
            ]
        with m.Else():
            m.d.sync += [self.lanes.eq(0), held.eq(placed), held_lanes.eq(placed_lanes)]
        return m
