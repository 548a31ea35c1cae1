"""Bit packer of one XPE: pixel words in, N-bit im2col chunks out."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ._checks import fixed_latency, positive_int

__all__ = ["Gearbox", "gearbox_control_layout"]


def gearbox_control_layout(n_lanes: int) -> data.StructLayout:
    """Control shared by the gearboxes of all XPEs (they run in lock-step).

    ``shift[i]`` is the lane where word ``i`` lands (``have`` and ``have + bits[0]``); ``mask[i]``
    is ``(2**bits[i] - 1) << shift[i]``, zero if word ``i`` is not taken this cycle (3N bits, as
    up to N - 1 held bits plus two words fit in 3N - 1 lanes). ``emit`` sends the low N lanes out;
    ``last`` marks the vector's last chunk, after which nothing is held.
    """
    n = n_lanes
    return data.StructLayout(
        {
            "shift": data.ArrayLayout(range(2 * n), 2),
            "mask": data.ArrayLayout(3 * n, 2),
            "emit": 1,
            "last": 1,
        }
    )


class Gearbox(wiring.Component):
    """Packs up to two pixel words per cycle into N-bit chunks, with a valid bit per lane.

    Contract: the controller only feeds bits the current chunk needs, so fewer than N bits are
    held between cycles; in a cycle with ``ctl.emit`` the held bits plus the new words' bits fill
    the chunk (all N lanes, or the vector's remainder for the last chunk). Word ``i`` contributes
    its low ``bits[i]`` bits (``ctl.mask[i]``) at lane ``ctl.shift[i]``; its lanes are valid iff
    ``count[i]`` (a word from padding with ``pad = "dark"``, or of an idle XPE, is not). The
    caller substitutes the pad value into ``word[i]`` for ``"+1"`` / ``"-1"`` padding.

    The chunk of a cycle with ``ctl.emit`` is on ``chunk`` / ``lanes`` in the next cycle
    (:attr:`latency` = 1); after a cycle without ``emit``, ``lanes`` is 0. Throughput: one chunk
    per cycle. Everything is synchronous (no combinational path from input to output).

    Parameters
    ----------
    n_lanes : int

    Members
    -------
    ctl : In(gearbox_control_layout(n_lanes))
    word : In(ArrayLayout(n_lanes, 2))
    count : In(2)
    chunk : Out(n_lanes)
    lanes : Out(n_lanes)
        Lane-valid mask of ``chunk``.
    """

    def __init__(self, *, n_lanes: int):
        self._n = positive_int(self, "n_lanes", n_lanes)
        super().__init__(
            {
                "ctl": In(gearbox_control_layout(n_lanes)),
                "word": In(data.ArrayLayout(n_lanes, 2)),
                "count": In(2),
                "chunk": Out(n_lanes),
                "lanes": Out(n_lanes),
            }
        )

    @property
    def n_lanes(self) -> int:
        return self._n

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
        placed = (
            held
            | ((self.word[0] << ctl.shift[0]) & ctl.mask[0])
            | ((self.word[1] << ctl.shift[1]) & ctl.mask[1])
        )
        placed_lanes = (
            held_lanes | Mux(self.count[0], ctl.mask[0], 0) | Mux(self.count[1], ctl.mask[1], 0)
        )
        with m.If(ctl.emit):
            m.d.sync += [self.chunk.eq(placed[:n]), self.lanes.eq(placed_lanes[:n])]
            with m.If(ctl.last):
                m.d.sync += [held.eq(0), held_lanes.eq(0)]
            with m.Else():
                m.d.sync += [held.eq(placed[n : 2 * n]), held_lanes.eq(placed_lanes[n : 2 * n])]
        with m.Else():
            m.d.sync += [self.lanes.eq(0), held.eq(placed[:n]), held_lanes.eq(placed_lanes[:n])]
        return m
