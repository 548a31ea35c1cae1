"""Shallow arithmetic the retimed datapath builds from: constant multiples and one-hot choices."""

from __future__ import annotations

from amaranth.hdl import Mux

__all__ = ["pick", "select", "times"]


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


def select(hot, values):
    """``values[k]`` for the one ``k`` whose ``hot[k]`` holds (exactly one does): an OR of the
    values each masked by its condition, a tree of depth log2 of their number rather than a
    chain of multiplexers. Constant zero values add no term (nor does a selection of only
    those: 0), so no constant reaches an adder through a multiplexer."""
    terms = [
        Mux(h, v, 0)
        for h, v in zip(hot, values, strict=True)
        if not (isinstance(v, int) and v == 0)
    ]
    if not terms:
        return 0
    while len(terms) > 1:
        terms = [a | b for a, b in zip(terms[::2], terms[1::2], strict=False)] + (
            [terms[-1]] if len(terms) % 2 else []
        )
    return terms[0]
