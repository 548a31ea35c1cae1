"""A chip of X XPUs: one shared global buffer and a multicast interconnect with arbitration.

Block diagram::

    gb_w ----> global buffer (N-bit words, P read ports)
                   |  P reads per cycle, granted round robin
                   v
    channel 0 .. X-1 (activation), X .. 2X-1 (weight): a base, a length, a member mask
                   |  each channel streams its words, in order, to every member XPU at once
                   v
    xpu[0] .. xpu[X-1]   (each: desc, thr_in, res_out, its M optical ports; :class:`Xpu`)

A layer is split over the XPUs by the host (:func:`oxbnn.models.chip.split_layer`, the same
split the system model makes: output-channel shares times output-row bands); every XPU runs its
share as an ordinary layer from its own descriptor. The XPUs of one row band read the same
activation tiles and the XPUs of one channel share the same weight tiles, so the host lays each
distinct stream once into the global buffer and gives it one **channel**, whose ``members`` are
the XPUs that read it: a word of a channel goes to all its members in the same cycle
(multicast).

**Channel protocol.** Channel c asks for a read in a cycle when it has words left and every
member's stream has ``next_ready`` (``act_next_ready`` / ``wgt_next_ready`` of :class:`Xpu`:
the stream is ready in the next cycle, computed from registers and the word arriving now). Of
the channels that ask, the arbiter (:class:`RoundRobin`) grants up to P (the buffer's read
ports, ``gb_ports``) in round-robin order, starting after the channel granted last. A granted
read returns its word in the next cycle, when it is valid to the members, which are ready for
it, so a word never waits in the interconnect. The request depends on no XPU logic between
registers: the path from the XPUs' state to the arbiter is short, and the chip's clock is the
XPU's (``oxbnn timing --chip``). The price is a cycle per tile: a channel asks from the cycle
after its members' buffers are ready, and not in the cycle after a tile's last word. An XPU
that reads through an uncontended channel therefore sees the memory model
``MemoryModel(latency_cycles=2, cycles_per_word=1)`` exactly
(:data:`oxbnn.models.timing.GB_MEMORY`) under the single XPU's tile-request rule. ``gb_stall``
(a cycle the buffer cannot be read: a refresh, a bank conflict, a test's random stall) grants
nothing.

**Start and done.** ``start`` in a cycle with ``start_ready`` (the chip idle) latches the
channels and starts the XPUs of ``enable`` with their ``desc`` (cycle 0 of every one of them);
``done`` is high in the cycle the last of them has its ``done``. The cycle model is
:func:`oxbnn.models.timing.chip_cycles`.
"""

from __future__ import annotations

from functools import lru_cache

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..models.configs import MAX_XPUS, XpuParams
from ._checks import positive_int, xpu_params
from .host_if import descriptor_layout, result_layout, threshold_layout
from .xpu import Xpu, optical_port_signature

__all__ = ["Chip", "RoundRobin", "channel_layout", "gb_write_layout"]


@lru_cache(maxsize=64)
def channel_layout(n_xpus: int, gb_depth: int) -> data.StructLayout:
    """One interconnect channel: ``base`` (first word in the global buffer), ``words`` (how many
    it streams over the layer) and ``members`` (bit x: XPU x reads it)."""
    return data.StructLayout(
        {
            "base": range(gb_depth),
            "words": range(gb_depth + 1),
            "members": n_xpus,
        }
    )


@lru_cache(maxsize=64)
def gb_write_layout(xpu: XpuParams, gb_depth: int) -> data.StructLayout:
    """A host write into the global buffer: an address and an N-bit word."""
    return data.StructLayout({"addr": range(gb_depth), "data": xpu.n_lanes})


class Chip(wiring.Component):
    """X XPUs sharing one global buffer through a multicast, arbitrated interconnect.

    Parameters
    ----------
    xpu : XpuParams
        Every XPU of the chip.
    n_xpus : int
        X, from 1 to :data:`~oxbnn.models.configs.MAX_XPUS`.
    gb_depth : int
        Words (N bits each) of the global buffer.
    gb_ports : int
        P, the buffer's read ports: channel reads granted per cycle, from 1 to 2X (2X channels
        never contend).

    Members
    -------
    gb_w : In(stream.Signature(gb_write_layout(xpu, gb_depth)))
        Host writes into the global buffer (always ready; between layers).
    gb_stall : In(1)
        No read of the global buffer in this cycle.
    channels : In(ArrayLayout(channel_layout(X, gb_depth), 2X))
        Channels 0 .. X-1 feed activation streams, X .. 2X-1 weight streams; an XPU is a member
        of at most one of each (the host checks it); latched at ``start``.
    enable : In(X)
        The XPUs that run the layer (at least one).
    desc : In(ArrayLayout(descriptor_layout(xpu), X))
    start : In(1)
    start_ready, busy, done, error : Out(1)
    xpu_done : Out(X)
        Each XPU's own ``done``.
    thr_in : In(stream.Signature(threshold_layout(xpu))).array(X)
    res_out : Out(stream.Signature(result_layout(xpu))).array(X)
    xpe : Out(optical_port_signature(xpu)).array(X, M)
    """

    def __init__(self, *, xpu: XpuParams, n_xpus: int, gb_depth: int, gb_ports: int):
        xpu_params(self, xpu)
        x = positive_int(self, "n_xpus", n_xpus)
        if x > MAX_XPUS:
            self._MustUse__silence = True
            raise ValueError(f"n_xpus must be at most {MAX_XPUS}, not {n_xpus}")
        positive_int(self, "gb_depth", gb_depth)
        p = positive_int(self, "gb_ports", gb_ports)
        if p > 2 * x:
            self._MustUse__silence = True
            raise ValueError(f"gb_ports must be at most 2 * n_xpus = {2 * x}, not {gb_ports}")
        self._xpu, self._x, self._depth, self._ports = xpu, x, gb_depth, p
        super().__init__(
            {
                "gb_w": In(stream.Signature(gb_write_layout(xpu, gb_depth))),
                "gb_stall": In(1),
                "channels": In(data.ArrayLayout(channel_layout(x, gb_depth), 2 * x)),
                "enable": In(x),
                "desc": In(data.ArrayLayout(descriptor_layout(xpu), x)),
                "start": In(1),
                "start_ready": Out(1),
                "busy": Out(1),
                "done": Out(1),
                "error": Out(1),
                "xpu_done": Out(x),
                "thr_in": In(stream.Signature(threshold_layout(xpu))).array(x),
                "res_out": Out(stream.Signature(result_layout(xpu))).array(x),
                "xpe": Out(optical_port_signature(xpu)).array(x, xpu.n_xpes),
            }
        )

    @property
    def xpu(self) -> XpuParams:
        return self._xpu

    @property
    def n_xpus(self) -> int:
        return self._x

    @property
    def gb_depth(self) -> int:
        return self._depth

    @property
    def gb_ports(self) -> int:
        return self._ports

    def elaborate(self, platform):
        m = Module()
        x, p, xpu = self._x, self._ports, self._xpu
        n_ch = 2 * x
        xpus = [Xpu(xpu=xpu) for _ in range(x)]
        for i, dut in enumerate(xpus):
            m.submodules[f"xpu{i}"] = dut

        gb = m.submodules.gb = Memory(shape=xpu.n_lanes, depth=self._depth, init=[])
        wr = gb.write_port()
        m.d.comb += [
            self.gb_w.ready.eq(1),
            wr.en.eq(self.gb_w.valid),
            wr.addr.eq(self.gb_w.payload.addr),
            wr.data.eq(self.gb_w.payload.data),
        ]

        busy = Signal()
        waiting = Signal(x)
        take = Signal()
        done_vec = Signal(x)
        m.d.comb += [
            take.eq(self.start & ~busy & self.enable.any()),
            done_vec.eq(Cat(d.done for d in xpus)),
            self.start_ready.eq(~busy),
            self.busy.eq(busy),
            self.xpu_done.eq(done_vec),
            self.done.eq(busy & ((waiting & ~done_vec) == 0)),
            self.error.eq(Cat(d.error for d in xpus).any()),
        ]
        with m.If(take):
            m.d.sync += [busy.eq(1), waiting.eq(self.enable)]
        with m.Elif(self.done):
            m.d.sync += [busy.eq(0), waiting.eq(0)]
        with m.Else():
            m.d.sync += waiting.eq(waiting & ~done_vec)

        for i, dut in enumerate(xpus):
            wiring.connect(m, wiring.flipped(self.thr_in[i]), dut.thr_in)
            wiring.connect(m, dut.res_out, wiring.flipped(self.res_out[i]))
            m.d.comb += [dut.desc.eq(self.desc[i]), dut.start.eq(take & self.enable[i])]
            for e in range(xpu.n_xpes):
                wiring.connect(m, dut.xpe[e], wiring.flipped(self.xpe[i][e]))

        # The channels: latched configuration, read requests, and the word read last cycle.
        addr = [Signal(range(self._depth), name=f"ch{c}_addr") for c in range(n_ch)]
        left = [Signal(range(self._depth + 1), name=f"ch{c}_left") for c in range(n_ch)]
        members = [Signal(x, name=f"ch{c}_members") for c in range(n_ch)]
        issued = [Signal(name=f"ch{c}_issued") for c in range(n_ch)]
        port_of = [Signal(range(p), name=f"ch{c}_port") for c in range(n_ch)]
        req = Signal(n_ch)
        for c in range(n_ch):
            nexts = [d.act_next_ready if c < x else d.wgt_next_ready for d in xpus]
            m.d.comb += req[c].eq(
                busy
                & (left[c] != 0)
                & ((Cat(nexts) | ~members[c]) == (1 << x) - 1)
                & ~self.gb_stall
            )
            with m.If(take):
                cfg = self.channels[c]
                m.d.sync += [
                    addr[c].eq(cfg.base),
                    left[c].eq(cfg.words),
                    members[c].eq(cfg.members),
                ]

        arb = m.submodules.arbiter = RoundRobin(n=n_ch, ports=p)
        m.d.comb += [arb.req.eq(req), arb.restart.eq(take)]
        grants = [arb.grant[k] for k in range(p)]

        # Read ports: port k reads the address of the channel of grant k.
        rd_data = []
        for grant in grants:
            rd = gb.read_port()
            m.d.comb += rd.addr.eq(_or_all(Mux(grant[c], addr[c], 0) for c in range(n_ch)))
            rd_data.append(rd.data)
        for c in range(n_ch):
            granted = Cat(g[c] for g in grants)
            with m.If(granted.any()):
                m.d.sync += [addr[c].eq(addr[c] + 1), left[c].eq(left[c] - 1)]
            m.d.sync += issued[c].eq(granted.any())
            for k in range(p):
                with m.If(granted[k]):
                    m.d.sync += port_of[c].eq(k)

        # The word of a channel (read last cycle) to its members.
        word = [Signal(xpu.n_lanes, name=f"ch{c}_word") for c in range(n_ch)]
        for c in range(n_ch):
            m.d.comb += word[c].eq(Mux(issued[c], _select(rd_data, port_of[c]), 0))
        for i, dut in enumerate(xpus):
            for sink, chans in ((dut.act_in, range(x)), (dut.wgt_in, range(x, n_ch))):
                hit = {c: issued[c] & members[c][i] for c in chans}
                m.d.comb += [
                    sink.valid.eq(Cat(*hit.values()).any()),
                    sink.payload.eq(_or_all(Mux(h, word[c], 0) for c, h in hit.items())),
                ]
        return m


class RoundRobin(wiring.Component):
    """Round-robin arbiter granting up to ``ports`` of ``n`` requesters per cycle.

    The requesters are ranked in order from the one after the last granted (from requester 0
    after ``restart``): ``grant[k]`` (one-hot or zero) is the requester of rank k among those of
    ``req``, for k < ``ports``. The arbiter is flat, not ``ports`` passes in series: requester c
    is of rank "requests between the round's first requester and c", a population count over a
    window that is one mux level from a register (the round's start is kept as a mask, bit i
    set for i at or after the start), so its depth grows with log2(n), not with ``ports``.

    Members
    -------
    req : In(n)
    restart : In(1)
        Next cycle's order starts at requester 0.
    grant : Out(ArrayLayout(n, ports))
    """

    def __init__(self, *, n: int, ports: int):
        self._n = positive_int(self, "n", n)
        self._ports = positive_int(self, "ports", ports)
        super().__init__({"req": In(n), "restart": In(1), "grant": Out(data.ArrayLayout(n, ports))})

    def elaborate(self, platform):
        m = Module()
        n, p = self._n, self._ports
        every = (1 << n) - 1
        start = Signal(n, init=every)  # bit i: requester i is at or after the round's start
        total = Signal(range(n + 1))
        m.d.comb += total.eq(_popcount(self.req))
        last_rank = Mux(total > p, p - 1, total - 1)
        start_next = Signal(n)
        m.d.comb += start_next.eq(start)
        for c in range(n):
            below = (1 << c) - 1
            window = Mux(start[c], start & below, start | below)  # ranked before c
            rank = Signal(range(n), name=f"rank{c}")
            m.d.comb += rank.eq(_popcount(self.req & window))
            for k in range(p):
                m.d.comb += self.grant[k][c].eq(self.req[c] & (rank == k))
            with m.If(self.req[c] & (rank == last_rank) & (rank < p)):
                m.d.comb += start_next.eq(every & ~((1 << ((c + 1) % n)) - 1))
        m.d.sync += start.eq(Mux(self.restart, every, start_next))
        return m


def _popcount(bits):
    """The number of set bits of ``bits``, as a balanced tree of adders."""
    values = [bits[i] for i in range(len(bits))]
    while len(values) > 1:
        values = [values[i] + values[i + 1] if i + 1 < len(values) else values[i]
                  for i in range(0, len(values), 2)]  # fmt: skip
    return values[0]


def _or_all(values):
    values = list(values)
    out = values[0]
    for v in values[1:]:
        out = out | v
    return out


def _select(values, index):
    """``values[index]`` as a mux tree (``index`` a signal)."""
    if len(values) == 1:
        return values[0]
    out = values[0]
    for k, v in enumerate(values[1:], start=1):
        out = Mux(index == k, v, out)
    return out
