"""Shallow arithmetic the retimed datapath builds from: constant multiples and one-hot choices."""

from __future__ import annotations

from amaranth.hdl import Mux

__all__ = ["pick", "times"]


def times(x, k: int):
    """``k x`` for a constant ``k`` >= 0: the shifted copies of ``x`` for the bits of ``k``,
    added as a balanced tree (no multiplier; depth log2 of the bits set)."""
    terms = [x << j for j in range(k.bit_length()) if k >> j & 1]
    if not terms:
        return 0
    while len(terms) > 1:
        terms = [a + b for a, b in zip(terms[::2], terms[1::2], strict=False)] + (
            [terms[-1]] if len(terms) % 2 else []
        )
    return terms[0]


def pick(conds, values):
    """``values[k]`` for the ``k`` whose ``conds[k]`` holds (at most one does; the last value if
    none): a chain of multiplexers, the last condition never tested."""
    out = values[-1]
    for c, v in zip(conds[:-1], values[:-1], strict=True):
        out = Mux(c, v, out)
    return out
