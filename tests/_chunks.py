"""Brute-force reference for the gearbox read schedule, shared by the sequencer and timing tests.

It walks the words of one vector with the demand rule (two reads per cycle, only the words the
current chunk still needs), independently of the closed form in ``models/timing``.
"""

from __future__ import annotations


def emulated_chunk_cycles(c: int, n: int, taps: int) -> list[int]:
    """Brute force: walk the words of one vector with the demand rule, two reads per cycle."""
    wp = -(-c // n)
    bits = []
    for _ in range(taps):
        bits += [n] * (wp - 1) + [c - (wp - 1) * n]
    k = c * taps
    chunks = -(-k // n)
    out, have, ptr = [], 0, 0
    for j in range(chunks):
        need = n if j < chunks - 1 else k - (chunks - 1) * n
        cycles = 0
        while True:
            cycles += 1
            got = have
            for _ in range(2):
                if got < need:
                    got += bits[ptr]
                    ptr += 1
            if got >= need:
                have = got - need
                break
            have = got
        out.append(cycles)
    assert ptr == len(bits) and have == 0
    return out
