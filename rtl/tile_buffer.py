"""Double-buffered tile memory: one bank fills from a stream while the other is read."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ._checks import fixed_latency, positive_int

__all__ = ["TileBuffer"]


class TileBuffer(wiring.Component):
    """Two banks of ``depth`` words used as a two-entry queue of tiles.

    The producer side fills banks in turn: a tile is announced on ``cmd`` (its length in words,
    held valid until the tile is complete) and its words arrive on ``w``. ``w.ready`` is
    ``cmd.valid`` while the bank to fill is free, so a tile is requested in the first cycle both
    hold, and a word is written in the cycle it is transferred. ``cmd`` is consumed together with
    the tile's last word; the bank is then full, and usable by the reader from the next cycle.

    The consumer side reads the oldest full bank (``rd_valid``, ``rd_bank``) through ``ports``
    synchronous read ports: ``rd_addr[i]`` (an offset into the bank) in cycle t gives
    ``rd_data[i]`` in cycle t + 1. ``release`` frees that bank at the end of the cycle; the next
    tile can be written from the next cycle on, which is safe because a read issued in the cycle
    of the release has already been captured.

    ``clear`` (one cycle) empties both banks and restarts at bank 0.

    ``w_next_ready`` is for a producer that reads a memory one cycle ahead of ``w`` (the chip's
    global buffer, :class:`~oxbnn.rtl.chip.Chip`): high in cycle t, ``w.ready`` is high in
    t + 1, so a word read in t can be transferred in t + 1. It depends on registers and on
    ``w.valid`` and ``clear`` only, not on ``cmd``: it is ``w.ready`` and "no tile ends" of
    cycle t - 1, registered, and not "``w.valid`` with the tile's last word" in t. So it is
    low in the first cycle ``w.ready`` is high and in the cycle after a tile's last word: a
    producer that follows it starts every tile one cycle later than ``w.ready`` allows.

    Parameters
    ----------
    width : int
        Bits per word.
    depth : int
        Words per bank.
    ports : int
        Read ports.

    Members
    -------
    cmd : In(stream.Signature(range(depth + 1)))
    w : In(stream.Signature(width))
    rd_valid : Out(1)
    rd_bank : Out(1)
    rd_addr : In(ArrayLayout(range(depth), ports))
    rd_data : Out(ArrayLayout(width, ports))
    release : In(1)
    clear : In(1)
    w_next_ready : Out(1)
    """

    def __init__(self, *, width: int, depth: int, ports: int):
        self._width = positive_int(self, "width", width)
        self._depth = positive_int(self, "depth", depth)
        self._ports = positive_int(self, "ports", ports)
        self._addr_width = max(1, (depth - 1).bit_length())
        super().__init__(
            {
                "cmd": In(stream.Signature(range(depth + 1))),
                "w": In(stream.Signature(width)),
                "rd_valid": Out(1),
                "rd_bank": Out(1),
                "rd_addr": In(data.ArrayLayout(self._addr_width, ports)),
                "rd_data": Out(data.ArrayLayout(width, ports)),
                "release": In(1),
                "clear": In(1),
                "w_next_ready": Out(1),
            }
        )

    @property
    def width(self) -> int:
        return self._width

    @property
    def depth(self) -> int:
        return self._depth

    @property
    def ports(self) -> int:
        return self._ports

    @fixed_latency
    def read_latency(cls) -> int:
        """Cycles from ``rd_addr`` to ``rd_data``: the memory's synchronous read ports."""
        return 1

    def elaborate(self, platform):
        m = Module()
        depth = self._depth
        mem = m.submodules.mem = Memory(shape=self._width, depth=2 * depth, init=[])
        wr = mem.write_port()

        full = Signal(2)
        wr_bank = Signal()
        rd_bank = Signal()
        count = Signal(range(depth + 1))

        do_write = Signal()
        last_word = Signal()
        m.d.comb += [
            self.w.ready.eq(self.cmd.valid & ~full.bit_select(wr_bank, 1)),
            do_write.eq(self.w.valid & self.w.ready),
            last_word.eq(count + 1 == self.cmd.payload),
            self.cmd.ready.eq(do_write & last_word),
            wr.addr.eq(count + wr_bank * depth),
            wr.data.eq(self.w.payload),
            wr.en.eq(do_write),
            self.rd_valid.eq(full.bit_select(rd_bank, 1)),
            self.rd_bank.eq(rd_bank),
        ]
        for i in range(self._ports):
            rd = mem.read_port()
            m.d.comb += [
                rd.addr.eq(self.rd_addr[i] + rd_bank * depth),
                self.rd_data[i].eq(rd.data),
            ]

        set_full = Signal(2)
        clr_full = Signal(2)
        with m.If(do_write):
            with m.If(last_word):
                m.d.sync += [count.eq(0), wr_bank.eq(~wr_bank)]
                m.d.comb += set_full.eq(1 << wr_bank)
            with m.Else():
                m.d.sync += count.eq(count + 1)
        with m.If(self.release):
            m.d.sync += rd_bank.eq(~rd_bank)
            m.d.comb += clr_full.eq(1 << rd_bank)
        m.d.sync += full.eq((full & ~clr_full) | set_full)
        with m.If(self.clear):
            m.d.sync += [full.eq(0), wr_bank.eq(0), rd_bank.eq(0), count.eq(0)]

        # w_next_ready: ``open`` is "w.ready, no tile end and no clear" of the previous cycle,
        # so w.ready holds now (the same command, the same bank, still free) and ``count`` and
        # ``cmd.payload`` are the previous cycle's next count and payload: ``last`` is then this
        # cycle's ``last_word``, from registers.
        open_, last = Signal(), Signal()
        count_next = Signal.like(count)
        m.d.comb += count_next.eq(Mux(self.clear | self.cmd.ready, 0, count + do_write))
        m.d.sync += [
            open_.eq(self.w.ready & ~self.cmd.ready & ~self.clear),
            last.eq(count_next + 1 == self.cmd.payload),
        ]
        m.d.comb += self.w_next_ready.eq(open_ & ~(self.w.valid & last) & ~self.clear)
        return m
