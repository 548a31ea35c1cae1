"""Gearbox: pixel words in, N-bit chunks out, against the plain concatenation of the bits."""

from __future__ import annotations

import random

import pytest
from amaranth.sim import Simulator

from oxbnn.rtl.gearbox import Gearbox


def _vector(rng: random.Random, n: int):
    """Words of one random vector: (bits, data, counted) per word, pixels of C channels."""
    c = rng.randint(1, 3 * n)
    wp = -(-c // n)
    words = []
    for _ in range(rng.randint(1, 5)):
        counted = rng.random() < 0.7
        for j in range(wp):
            bits = n if j < wp - 1 else c - (wp - 1) * n
            words.append((bits, rng.getrandbits(n), counted))
    return words


@pytest.mark.parametrize("n", [1, 3, 5, 8])
def test_packs_the_bit_stream(n):
    rng = random.Random(n)
    vectors = [_vector(rng, n) for _ in range(12)]
    dut = Gearbox(n_lanes=n)
    seen = []

    async def tb(ctx):
        for words in vectors:
            # Expected: the words' low bits concatenated, valid where the word counts.
            stream, lanes = [], []
            for bits, data, counted in words:
                stream += [(data >> i) & 1 for i in range(bits)]
                lanes += [int(counted)] * bits
            k = len(stream)
            chunks = -(-k // n)
            have, ptr = 0, 0
            for j in range(chunks):
                need = n if j < chunks - 1 else k - (chunks - 1) * n
                while True:  # the sequencer's demand rule, two words per cycle
                    take, shift = [], have
                    for _ in range(2):
                        if have + sum(words[p][0] for p in take) < need:
                            take.append(ptr + len(take))
                    got = have + sum(words[p][0] for p in take)
                    for i in range(2):
                        if i < len(take):
                            bits, data, counted = words[take[i]]
                            ctx.set(dut.ctl.shift[i], shift)
                            ctx.set(dut.ctl.mask[i], ((1 << bits) - 1) << shift)
                            ctx.set(dut.word[i], data)
                            ctx.set(dut.count[i], int(counted))
                            shift += bits
                        else:
                            ctx.set(dut.ctl.mask[i], 0)
                            ctx.set(dut.word[i], rng.getrandbits(n))  # must be ignored
                    emit = got >= need
                    ctx.set(dut.ctl.emit, int(emit))
                    ctx.set(dut.ctl.last, int(j == chunks - 1))
                    ptr += len(take)
                    await ctx.tick()
                    if emit:
                        have = got - need
                        lo = j * n
                        exp_data = sum(b << i for i, b in enumerate(stream[lo : lo + need]))
                        exp_lanes = sum(b << i for i, b in enumerate(lanes[lo : lo + need]))
                        got_lanes = ctx.get(dut.lanes)
                        assert got_lanes == exp_lanes, (words, j)
                        assert ctx.get(dut.chunk) & exp_lanes == exp_data & exp_lanes, (words, j)
                        seen.append(j)
                        break
                    have = got
                    assert ctx.get(dut.lanes) == 0
            assert ptr == len(words)

    sim = Simulator(dut)
    sim.add_clock(1e-9)
    sim.add_testbench(tb)
    sim.run()
    assert len(seen) == sum(-(-sum(w[0] for w in v) // n) for v in vectors)


def test_parameters_are_checked():
    with pytest.raises(ValueError, match="n_lanes must be a positive integer, not 0"):
        Gearbox(n_lanes=0)
