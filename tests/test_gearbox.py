"""Gearbox: pixel words in, one N-bit chunk out, against the plain concatenation of the bits.

One gearbox serves one slot of one XPE and builds its chunks one after another, each from
scratch: the words a chunk overlaps are fed to it (a word that straddles two chunks is fed to
both, the first dropping its low ``skip`` bits), up to ``words`` per cycle; a chunk that needs
more words than one cycle reads is held until its last cycle (``emit``). Bits past the chunk and
words not taken carry random values here and must not show.
"""

from __future__ import annotations

import random

import pytest
from amaranth.sim import Simulator

from oxbnn.rtl.gearbox import Gearbox


def _vector(rng: random.Random, n: int):
    """Words of one random vector: (bits, data, counted) per word, pixels of C channels. ``data``
    has random bits above ``bits`` too (they must be masked off)."""
    c = rng.randint(1, 3 * n)
    wp = -(-c // n)
    words = []
    for _ in range(rng.randint(1, 5)):
        counted = rng.random() < 0.7
        for j in range(wp):
            bits = n if j < wp - 1 else c - (wp - 1) * n
            words.append((bits, rng.getrandbits(n), counted))
    return words


def _chunks(words, n):
    """Per chunk: its bit range and the words it overlaps as (word, skip, placed)."""
    starts, bit = [], 0
    for bits, _, _ in words:
        starts.append(bit)
        bit += bits
    out = []
    for lo in range(0, bit, n):
        hi = min(lo + n, bit)
        touched = []
        for j, (bits, _, _) in enumerate(words):
            a, b = max(lo, starts[j]), min(hi, starts[j] + bits)
            if a < b:
                touched.append((j, a - starts[j], b - a))
        out.append((lo, hi, touched))
    return out


@pytest.mark.parametrize("n,reads", [(1, 3), (3, 3), (5, 3), (8, 3), (5, 1), (8, 2)])
def test_packs_the_bit_stream(n, reads):
    rng = random.Random(n * 10 + reads)
    vectors = [_vector(rng, n) for _ in range(12)]
    dut = Gearbox(n_lanes=n, words=reads)
    seen = {"chunks": 0, "held": 0}

    async def tb(ctx):
        for words in vectors:
            # Expected: the words' used bits concatenated, valid where the word counts.
            stream, lanes = [], []
            for bits, value, counted in words:
                stream += [(value >> i) & 1 for i in range(bits)]
                lanes += [int(counted)] * bits
            for lo, hi, touched in _chunks(words, n):
                cycles = [touched[i : i + reads] for i in range(0, len(touched), reads)]
                seen["held"] += len(cycles) > 1
                pos = 0
                for t, this in enumerate(cycles):
                    ctx.set(dut.ctl.skip, this[0][1] if t == 0 else 0)
                    for i in range(reads):
                        if i < len(this):
                            j, _, placed = this[i]
                            ctx.set(dut.ctl.shift[i], pos)
                            ctx.set(dut.ctl.mask[i], ((1 << placed) - 1) << pos)
                            ctx.set(dut.word[i], words[j][1])
                            ctx.set(dut.count[i], int(words[j][2]))
                            pos += placed
                        else:  # not taken: whatever the inputs, they must be ignored
                            ctx.set(dut.ctl.shift[i], rng.randrange(n))
                            ctx.set(dut.ctl.mask[i], 0)
                            ctx.set(dut.word[i], rng.getrandbits(n))
                            ctx.set(dut.count[i], rng.getrandbits(1))
                    emit = t == len(cycles) - 1
                    ctx.set(dut.ctl.emit, int(emit))
                    await ctx.tick()
                    if not emit:
                        assert ctx.get(dut.lanes) == 0, (words, lo)
                        continue
                    assert pos == hi - lo
                    exp_data = sum(b << i for i, b in enumerate(stream[lo:hi]))
                    exp_lanes = sum(b << i for i, b in enumerate(lanes[lo:hi]))
                    assert ctx.get(dut.lanes) == exp_lanes, (words, lo)
                    assert ctx.get(dut.chunk) & exp_lanes == exp_data & exp_lanes, (words, lo)
                    seen["chunks"] += 1
                # An idle cycle now and then: nothing goes out, nothing is kept.
                if rng.random() < 0.3:
                    ctx.set(dut.ctl.emit, 0)
                    for i in range(reads):
                        ctx.set(dut.ctl.mask[i], 0)
                    await ctx.tick()
                    assert ctx.get(dut.lanes) == 0

    sim = Simulator(dut)
    sim.add_clock(1e-9)
    sim.add_testbench(tb)
    sim.run()
    assert seen["chunks"] == sum(-(-sum(w[0] for w in v) // n) for v in vectors)
    if reads < 3 and n > 1:
        assert seen["held"] > 0  # some chunks were read over several cycles


def test_nothing_is_held_across_chunks():
    """A chunk read over two cycles (lanes 0-1 held, then 2-3), then a 2-bit chunk: lanes 2 and up
    of the second are neither valid nor set (the held bits are dropped with the emit)."""
    n = 4
    dut = Gearbox(n_lanes=n, words=3)
    got = []

    async def tb(ctx):
        ctx.set(dut.word[0], 0b1111)
        ctx.set(dut.count[0], 1)
        ctx.set(dut.ctl.mask[0], 0b0011)
        await ctx.tick()
        got.append(ctx.get(dut.lanes))
        ctx.set(dut.ctl.shift[0], 2)
        ctx.set(dut.ctl.mask[0], 0b1100)
        ctx.set(dut.ctl.emit, 1)
        await ctx.tick()
        got.append((ctx.get(dut.chunk), ctx.get(dut.lanes)))
        # The next chunk: the high half of a word whose low half was the previous chunk's.
        ctx.set(dut.word[0], 0b1011)
        ctx.set(dut.ctl.skip, 2)
        ctx.set(dut.ctl.shift[0], 0)
        ctx.set(dut.ctl.mask[0], 0b0011)
        await ctx.tick()
        got.append((ctx.get(dut.chunk), ctx.get(dut.lanes)))

    sim = Simulator(dut)
    sim.add_clock(1e-9)
    sim.add_testbench(tb)
    sim.run()
    assert got == [0, (0b1111, 0b1111), (0b0010, 0b0011)]


def test_parameters_are_checked():
    with pytest.raises(ValueError, match="n_lanes must be a positive integer, not 0"):
        Gearbox(n_lanes=0, words=3)
    with pytest.raises(ValueError, match="words must be a positive integer, not 0"):
        Gearbox(n_lanes=4, words=0)
