"""TileBuffer: a two-entry queue of tiles with synchronous read ports."""

from __future__ import annotations

import pytest
from amaranth.sim import Simulator

from oxbnn.rtl.tile_buffer import TileBuffer


def _sim(dut, tb):
    sim = Simulator(dut)
    sim.add_clock(1e-9)
    sim.add_testbench(tb)
    sim.run()


def test_double_buffering_and_reads():
    dut = TileBuffer(width=8, depth=6, ports=2)
    tiles = [[0x11, 0x12, 0x13], [0x21, 0x22, 0x23, 0x24, 0x25, 0x26], [0x31]]
    log = []

    async def tb(ctx):
        assert ctx.get(dut.w.ready) == 0  # nothing announced yet
        assert ctx.get(dut.rd_valid) == 0
        for i, tile in enumerate(tiles):
            ctx.set(dut.cmd.valid, 1)
            ctx.set(dut.cmd.payload, len(tile))
            if i == 2:
                # Both banks are full: the third tile waits for a release.
                assert ctx.get(dut.w.ready) == 0
                assert ctx.get(dut.rd_valid) == 1 and ctx.get(dut.rd_bank) == 0
                ctx.set(dut.rd_addr[0], 1)
                ctx.set(dut.rd_addr[1], 2)
                ctx.set(dut.release, 1)
                await ctx.tick()
                ctx.set(dut.release, 0)
                # The read issued in the release cycle still returns bank 0's data.
                assert ctx.get(dut.rd_data[0]) == 0x12 and ctx.get(dut.rd_data[1]) == 0x13
                assert ctx.get(dut.rd_bank) == 1
            for j, word in enumerate(tile):
                assert ctx.get(dut.w.ready) == 1
                ctx.set(dut.w.valid, 1)
                ctx.set(dut.w.payload, word)
                assert ctx.get(dut.cmd.ready) == int(j == len(tile) - 1)
                await ctx.tick()
            ctx.set(dut.w.valid, 0)
            log.append(ctx.get(dut.rd_valid))
        # Bank 1 (second tile) is now the oldest; read it through both ports.
        for addr in range(6):
            ctx.set(dut.rd_addr[0], addr)
            ctx.set(dut.rd_addr[1], 5 - addr)
            await ctx.tick()
            assert ctx.get(dut.rd_data[0]) == tiles[1][addr]
            assert ctx.get(dut.rd_data[1]) == tiles[1][5 - addr]
        ctx.set(dut.release, 1)
        await ctx.tick()
        ctx.set(dut.release, 0)
        assert ctx.get(dut.rd_valid) == 1 and ctx.get(dut.rd_bank) == 0
        ctx.set(dut.rd_addr[0], 0)
        await ctx.tick()
        assert ctx.get(dut.rd_data[0]) == 0x31
        ctx.set(dut.clear, 1)
        await ctx.tick()
        ctx.set(dut.clear, 0)
        assert ctx.get(dut.rd_valid) == 0 and ctx.get(dut.rd_bank) == 0
        assert ctx.get(dut.w.ready) == 1  # cmd still valid: filling bank 0 again

    _sim(dut, tb)
    assert log == [1, 1, 1]
    assert dut.read_latency == 1


def test_many_ports_read_the_same_word():
    """R S M ports (here 3 x 2 x 2 = 12) read in the same cycle, several of them one address: in
    the S-slot datapath a word that straddles two chunks is read by both slot engines."""
    dut = TileBuffer(width=8, depth=4, ports=12)
    tile = [0xA0, 0xB1, 0xC2, 0xD3]
    reads = [[p % 4 for p in range(12)], [1] * 12, [3, 3, 2, 2, 1, 1, 0, 0, 3, 1, 2, 0]]
    got = []

    async def tb(ctx):
        ctx.set(dut.cmd.valid, 1)
        ctx.set(dut.cmd.payload, len(tile))
        ctx.set(dut.w.valid, 1)
        for word in tile:
            ctx.set(dut.w.payload, word)
            await ctx.tick()
        ctx.set(dut.cmd.valid, 0)
        ctx.set(dut.w.valid, 0)
        await ctx.tick()
        assert ctx.get(dut.rd_valid) == 1
        for addrs in reads:
            for p, a in enumerate(addrs):
                ctx.set(dut.rd_addr[p], a)
            await ctx.tick()
            got.append([ctx.get(dut.rd_data[p]) for p in range(12)])

    _sim(dut, tb)
    assert got == [[tile[a] for a in addrs] for addrs in reads]


def test_parameters_are_checked():
    with pytest.raises(ValueError, match="depth must be a positive integer, not 0"):
        TileBuffer(width=4, depth=0, ports=1)
    with pytest.raises(ValueError, match="ports must be a positive integer, not -1"):
        TileBuffer(width=4, depth=4, ports=-1)


def _one_ahead(dut, tiles, *, ask, release):
    """Fill ``tiles`` through ``w`` from a source that reads one cycle ahead: it reads a word in
    a cycle with ``w_next_ready`` (and ``ask(cycle)``) and offers it in the next. The reader
    releases a full bank when ``release(cycle)``. Returns each word's transfer cycle, the cycles
    of the releases and the cycles a read word was offered without ``w.ready``."""
    sent, banks, refused = [], [], []

    async def tb(ctx):
        tile, word, cycle, pending = 0, 0, 0, None  # pending: the word read last cycle
        queue = [w for t in tiles for w in t]
        while len(banks) < len(tiles) and cycle < 500:
            if tile < len(tiles):
                ctx.set(dut.cmd.valid, 1)
                ctx.set(dut.cmd.payload, len(tiles[tile]))
            else:
                ctx.set(dut.cmd.valid, 0)
            ctx.set(dut.w.valid, pending is not None)
            ctx.set(dut.w.payload, 0 if pending is None else pending)
            if pending is not None:
                if ctx.get(dut.w.ready):
                    sent.append(cycle)
                else:
                    refused.append(cycle)
                if ctx.get(dut.cmd.ready):
                    tile += 1
            read = bool(ctx.get(dut.w_next_ready)) and ask(cycle) and word < len(queue)
            full = ctx.get(dut.rd_valid) and release(cycle)
            if full:
                banks.append(cycle)
            ctx.set(dut.release, full)
            pending = queue[word] if read else None
            word += read
            await ctx.tick()
            cycle += 1

    _sim(dut, tb)
    return sent, banks, refused


def test_next_ready_by_hand():
    """A source one cycle ahead, tiles of 3, 1 and 2 words, the reader releasing a full bank
    at once. By the rule (``w_next_ready`` is w.ready and no tile end of the cycle before, and
    no last word now): w.ready is high from cycle 0, so the source reads in 1, 2, 3 (words in
    2, 3, 4; 4 ends the tile, so no read in 4 or 5); bank 1 is free, so it reads in 6 (word in
    7, the last); bank 0 was released in 5 (full from 5), so it reads in 9 and 10 (words in 10
    and 11)."""
    dut = TileBuffer(width=8, depth=4, ports=1)
    sent, _, refused = _one_ahead(
        dut, [[1, 2, 3], [4], [5, 6]], ask=lambda c: True, release=lambda c: True
    )
    assert sent == [2, 3, 4, 7, 10, 11] and refused == []


@pytest.mark.parametrize("seed", range(6))
def test_next_ready_never_offers_a_word_w_cannot_take(seed):
    """Random tiles (1 to 4 words), a source that asks at random and a reader that releases
    at random: a word read in a cycle with ``w_next_ready`` is always taken in the next."""
    import random

    rnd = random.Random(seed)
    tiles = [[rnd.randrange(256) for _ in range(rnd.randint(1, 4))] for _ in range(12)]
    dut = TileBuffer(width=8, depth=4, ports=1)
    sent, banks, refused = _one_ahead(
        dut, tiles, ask=lambda c: rnd.random() < 0.7, release=lambda c: rnd.random() < 0.4
    )
    assert refused == []
    assert len(sent) == sum(map(len, tiles)) and len(banks) == len(tiles)
