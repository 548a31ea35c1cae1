"""Brute-force reference for the read schedule, shared by the sequencer and timing tests.

It lays the im2col vector out bit by bit (``taps`` pixels of ``c`` channels, each pixel stored
as ``ceil(c / n)`` words of at most ``n`` bits), cuts it into chunks of ``n`` bits and lets one
slot engine per chunk walk the words its chunk overlaps with the demand rule: up to three
(``READS``) per cycle, only while the chunk still lacks bits. A beat (S chunks, one per slot
engine) lasts as long as its slowest chunk. Nothing here uses the closed form of
``models/tiling`` (``chunk_reads``, ``beat_cycles``).
"""

from __future__ import annotations

from dataclasses import dataclass

#: Words one slot engine reads per cycle: the contract of the S-slot datapath (issue 11),
#: restated here rather than imported (models/tiling.READS_PER_SLOT is what is under test).
READS = 3


@dataclass(frozen=True)
class Read:
    """One word a slot engine takes: word ``word`` (``tap``, ``cw``: pixel of the window and word
    of the pixel), dropping its low ``skip`` bits, giving ``placed`` bits at lane ``shift``."""

    word: int
    tap: int
    cw: int
    skip: int
    shift: int
    placed: int


def vector_words(c: int, n: int, taps: int) -> list[tuple[int, int, int, int]]:
    """``(first bit, bits, tap, cw)`` of every word of the vector, in vector order."""
    out, bit = [], 0
    for tap in range(taps):
        left, cw = c, 0
        while left:
            bits = min(n, left)
            out.append((bit, bits, tap, cw))
            bit, left, cw = bit + bits, left - bits, cw + 1
    return out


def chunk_walk(c: int, n: int, taps: int) -> list[list[list[Read]]]:
    """Per chunk, per cycle of its slot engine, the words it takes (the demand rule)."""
    words = vector_words(c, n, taps)
    k = c * taps
    out = []
    for lo in range(0, k, n):
        hi = min(lo + n, k)
        touched = []
        for j, (start, bits, tap, cw) in enumerate(words):
            a, b = max(lo, start), min(hi, start + bits)
            if a < b:  # the word holds bits of this chunk
                touched.append(Read(j, tap, cw, skip=a - start, shift=a - lo, placed=b - a))
        assert sum(r.placed for r in touched) == hi - lo
        cycles, have = [], 0
        while have < hi - lo:
            this = touched[:READS]
            touched = touched[READS:]
            have += sum(r.placed for r in this)
            cycles.append(this)
        out.append(cycles)
    return out


def emulated_chunk_cycles(c: int, n: int, taps: int) -> list[int]:
    """Cycles a slot engine needs for each chunk of one vector."""
    return [len(cycles) for cycles in chunk_walk(c, n, taps)]


def emulated_beat_cycles(c: int, n: int, taps: int, s: int) -> list[int]:
    """Cycles of each beat of one vector: S consecutive chunks, as long as the slowest."""
    per_chunk = emulated_chunk_cycles(c, n, taps)
    return [max(per_chunk[b : b + s]) for b in range(0, len(per_chunk), s)]


def emulated_strobes(
    beats: list[int], chunks: int, gamma: int, s: int, r: int, p: int, jobs: int, start: int
) -> tuple[list[int], list[int], list[int]]:
    """Issue cycles, ``pca_reset`` and ``pca_sample`` slot indices (on the port, 2 cycles after
    issue) of ``jobs`` back-to-back vectors from cycle ``start``, slot by slot, under the PCA
    capacitor rule (issue 11), with one ADC conversion per cycle.

    The rule, from the physics: the readout runs take ``p`` capacitors in rotation (0, 1, ...,
    from 0, all discharged); a capacitor sampled in slot index ``a`` is discharged, and may
    start a run, from ``a + 1 + r``. A beat (``beats[b]`` cycles of reads) leaves in the first
    cycle from the end of its reads in which *every* slot of it obeys the rule, its own earlier
    slots' samples included: the brute force tries cycle after cycle and replays the beat's
    slots on a copy of the capacitors. It knows nothing of rem registers or closed forms.
    """
    free, nxt, active = [0] * p, 0, 0
    t, issue, resets, samples = start, [], [], []
    for _ in range(jobs):
        for b, reads in enumerate(beats):
            e = t + reads - 1
            while True:
                f, n_, act, ok, rs, ss = list(free), nxt, active, True, [], []
                for slot in range(s):
                    k = b * s + slot
                    if k >= chunks:
                        break
                    if k % gamma == 0:  # this slot starts a run
                        if e * s + slot < f[n_]:
                            ok = False
                            break
                        act, n_ = n_, (n_ + 1) % p
                        rs.append(slot)
                    if (k + 1) % gamma == 0 or k == chunks - 1:
                        f[act] = e * s + slot + 1 + r
                        ss.append(slot)
                if ok:
                    break
                e += 1
            free, nxt, active = f, n_, act
            issue.append(e)
            resets += [(e + 2) * s + x for x in rs]
            samples += [(e + 2) * s + x for x in ss]
            t = e + 1
    return issue, resets, samples
