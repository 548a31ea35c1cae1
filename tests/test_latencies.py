"""Every pipeline latency, measured by running the RTL in Amaranth's simulator.

Each latency is a property of the component that causes it (``AddressGen.latency``,
``PcaReadout.code_to_result``, ``Sequencer.result_to_done``, ``HostIf.start_latency``, ...) and
is restated by the cycle model (``models.timing``, which does not import the RTL). Here each is
*measured*: a testbench drives the component (or a small rig of components, or the whole
``Xpu``) and counts the cycles from the cause to the effect; the measured count must equal both
the property and the cycle model's constant, so a latency that is wrong in either place fails.

Cycle numbering: the values set before the k-th ``await ctx.tick()`` are held in cycle k - 1;
what is read after k ticks is the value in cycle k.
"""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.hdl import Elaboratable, Module
from amaranth.sim import Simulator

from oxbnn.models import bnn, timing
from oxbnn.models.configs import XpuParams
from oxbnn.models.layer import LayerSpec
from oxbnn.models.tiling import READS_PER_SLOT, tiling_plan
from oxbnn.rtl.address_gen import AddressGen
from oxbnn.rtl.host_if import HostIf
from oxbnn.rtl.pca_readout import PcaReadout
from oxbnn.rtl.sequencer import Sequencer
from oxbnn.rtl.tile_buffer import TileBuffer
from oxbnn.rtl.xpu import Xpu
from oxbnn.testbenches.driver import act_tiles, encode_descriptor, encode_thresholds, wgt_tiles

XPU = XpuParams(n_lanes=4, n_xpes=2, gamma=2, adc_bits=4, adc_latency=3, wgt_buffer_depth=16)
LIMIT = 200  # cycles; every measurement here ends far earlier


def _run(dut, tb) -> None:
    sim = Simulator(dut)
    sim.add_clock(1e-9)
    sim.add_testbench(tb)
    sim.run()


async def _fill(ctx, buffer: TileBuffer, words: list[int]) -> None:
    """Stream one tile into ``buffer`` (one word per cycle), then wait until it is readable."""
    ctx.set(buffer.cmd.valid, 1)
    ctx.set(buffer.cmd.payload, len(words))
    ctx.set(buffer.w.valid, 1)
    for word in words:
        ctx.set(buffer.w.payload, word)
        await ctx.tick()
    ctx.set(buffer.cmd.valid, 0)
    ctx.set(buffer.w.valid, 0)
    await ctx.tick()
    assert ctx.get(buffer.rd_valid) == 1


class _AddressRig(Elaboratable):
    """The address generator with the two tile buffers it reads in the XPU (wired the same way:
    R S M activation read ports, one weight read port per slot)."""

    def __init__(self, xpu: XpuParams):
        n, m, ss = xpu.n_lanes, xpu.n_xpes, xpu.symbols_per_cycle
        self.n_ports = READS_PER_SLOT * ss * m
        self.agen = AddressGen(xpu=xpu)
        self.act = TileBuffer(width=n, depth=xpu.act_buffer_depth, ports=self.n_ports)
        self.wgt = TileBuffer(width=n, depth=xpu.wgt_buffer_depth, ports=ss)
        self.slots = ss

    def elaborate(self, platform):
        m = Module()
        m.submodules.agen, m.submodules.act, m.submodules.wgt = self.agen, self.act, self.wgt
        for i in range(self.n_ports):
            m.d.comb += [
                self.act.rd_addr[i].eq(self.agen.rd_addr[i]),
                self.agen.rd_data[i].eq(self.act.rd_data[i]),
            ]
        for j in range(len(self.agen.wgt_word)):  # XPE e's slot s (j = e S + s) reads word 0
            m.d.comb += self.agen.wgt_word[j].eq(self.wgt.rd_data[j % self.slots])
        return m


@pytest.mark.parametrize("ss", [1, 3])
def test_issue_to_port_is_measured(ss):
    """A chunk issued in cycle t (one word, read from the real buffers) is on the port in t + L,
    in the bits of its slot (the last one, S - 1); the other slots and the idle XPE are dark."""
    xpu = XPU.replace(symbols_per_cycle=ss)
    n, dark = xpu.n_lanes, (1 << xpu.n_lanes) - 1
    spec = LayerSpec("conv", 1, 1, n, 1)  # one pixel, one word, one chunk
    act_word, wgt_word = 0b0101, 0b0011
    rig = _AddressRig(xpu)
    agen = rig.agen
    slot = ss - 1
    seen = {}

    async def tb(ctx):
        await _fill(ctx, rig.act, [act_word])
        await _fill(ctx, rig.wgt, [wgt_word])
        ctx.set(agen.desc, encode_descriptor(spec, xpu))
        ctx.set(agen.ctl.pos_init, 1)
        await ctx.tick()
        ctx.set(agen.ctl.pos_init, 0)
        ctx.set(agen.ctl.band_rows, 1)
        ctx.set(agen.ctl.filters, (1 << xpu.n_xpes) - 1)
        await ctx.tick()
        for e in range(xpu.n_xpes):  # nothing issued yet: every lane dark
            assert ctx.get(agen.act[e]) == (1 << ss * n) - 1 and ctx.get(agen.wgt[e]) == 0
        word = {"take": 1, "row": 0, "col": 0, "offset": 0, "shift": 0, "placed": n, "end": n}
        words = [{}] * (READS_PER_SLOT * ss)
        words[slot * READS_PER_SLOT] = word
        every = (1 << xpu.n_xpes) - 1
        ctx.set(
            agen.ctl,
            {"issue": 1, "band_rows": 1, "filters": every, "word": words, "emit": 1, "last": 1},
        )
        issue_cycle = 0
        for cycle in range(1, LIMIT):
            await ctx.tick()
            ctx.set(agen.ctl, {"band_rows": 1, "filters": every})
            if ctx.get(agen.wgt[0]) != 0:
                seen["port"] = cycle - issue_cycle
                seen["act"], seen["wgt"] = ctx.get(agen.act[0]), ctx.get(agen.wgt[0])
                seen["idle_act"] = ctx.get(agen.act[1])
                break

    _run(rig, tb)
    others = sum(dark << (s * n) for s in range(ss) if s != slot)
    assert seen["act"] == (act_word << (slot * n)) | others
    assert seen["wgt"] == wgt_word << (slot * n)
    assert seen["idle_act"] == (1 << ss * n) - 1  # XPE 1 has no unit: dark
    assert seen["port"] == AddressGen.latency == timing.ISSUE_TO_PORT_CYCLES


@pytest.mark.parametrize("adc_latency,ss", [(1, 1), (3, 1), (3, 3)])
def test_code_to_result_is_measured(adc_latency, ss):
    """The readout offers a unit's result ``code_to_result`` cycles after its last code; at S = 3
    the port cycle holds two samples (slots 0 and 2), answered on ADC channels 0 and 1."""
    xpu = XPU.replace(adc_latency=adc_latency, symbols_per_cycle=ss)
    dut = PcaReadout(xpu=xpu, depth=4)
    # XPE 0: dot = 2 * 3 - 4 = 2 >= 0 (S = 1); 2 * (3 + 1) - 7 = 1 >= 0 (S = 3: both codes
    # count, channel 0 alone would give -1). XPE 1 inactive.
    codes, kv, mask = ([3], 4, 0b1) if ss == 1 else ([3, 1], 7, 0b101)
    seen = {}

    async def tb(ctx):
        ctx.set(dut.result.ready, 1)
        port = {"sample": mask, "last": 1, "unit_first": 1, "unit_last": 1, "active": 1}
        ctx.set(dut.port, {**port, "kv": [kv, 0], "threshold": [{"value": 0, "flip": 0}] * 2})
        await ctx.tick()  # the samples were in cycle 0
        ctx.set(dut.port, {"sample": 0})
        for cycle in range(1, LIMIT):
            code = cycle == adc_latency
            for e in range(xpu.n_xpes):
                ctx.set(dut.adc_valid[e], (1 << len(codes)) - 1 if code else 0)
                for ch, value in enumerate(codes):
                    ctx.set(dut.adc_code[e][ch], value if code else 0)
            if code:
                seen["code"] = cycle
            if ctx.get(dut.result.valid):
                seen["result"] = cycle
                seen["bits"] = ctx.get(dut.result.payload.bits)
                break
            assert ctx.get(dut.error) == 0
            await ctx.tick()

    _run(dut, tb)
    assert seen["bits"] == 1
    measured = seen["result"] - seen["code"]
    assert measured == dut.code_to_result == timing.CODE_TO_RESULT_CYCLES
    assert seen["result"] == dut.latency  # from the sample in cycle 0


def test_sequencer_start_and_done_are_measured():
    """The sequencer announces tiles ``start_latency`` cycles after ``start`` and raises ``done``
    ``result_to_done`` cycles after the host takes the last result (here held back)."""
    spec = LayerSpec.fc(8, 3, output="int")  # three units of one group, one after the other
    dut = Sequencer(xpu=XPU, result_depth=4)
    seen = {"units": 0, "pops": []}

    async def tb(ctx):
        ctx.set(dut.desc, encode_descriptor(spec, XPU))
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        for sig in (dut.act_valid, dut.wgt_valid, dut.thr_ready, dut.act_cmd.ready):
            ctx.set(sig, 1)
        ctx.set(dut.wgt_cmd.ready, 1)
        walk_end = None
        for cycle in range(1, LIMIT):
            if "announce" not in seen and ctx.get(dut.act_cmd.valid):
                seen["announce"] = cycle
            if ctx.get(dut.ctl.issue) and ctx.get(dut.ctl.emit) and ctx.get(dut.ctl.last):
                seen["units"] += ctx.get(dut.meta.unit_last)
                walk_end = cycle
            # The host takes nothing until 5 cycles after the walk, then one result per cycle.
            pop = walk_end is not None and cycle > walk_end + 5 and len(seen["pops"]) < 3
            ctx.set(dut.popped, int(pop))
            if pop:
                seen["pops"].append(cycle)
            if ctx.get(dut.done):
                seen["done"] = cycle
                break
            await ctx.tick()

    _run(dut, tb)
    assert seen["units"] == 3 and len(seen["pops"]) == 3
    assert seen["announce"] == Sequencer.start_latency == timing.RUN_START_CYCLE
    measured = seen["done"] - seen["pops"][-1]
    assert measured == Sequencer.result_to_done == timing.RESULT_TO_DONE_CYCLES


def test_host_start_is_measured():
    """The descriptor and the threshold loader are live ``start_latency`` cycles after start."""
    spec = LayerSpec.fc(8, 3)
    dut = HostIf(xpu=XPU)
    seen = {}

    async def tb(ctx):
        ctx.set(dut.desc_in, encode_descriptor(spec, XPU))
        ctx.set(dut.start, 1)
        assert ctx.get(dut.thr_in.ready) == 0 and ctx.get(dut.desc.out_channels) == 0
        await ctx.tick()
        ctx.set(dut.start, 0)
        for cycle in range(1, LIMIT):
            if ctx.get(dut.thr_in.ready) and ctx.get(dut.desc.out_channels) == 3:
                seen["live"] = cycle
                break
            await ctx.tick()

    _run(dut, tb)
    assert seen["live"] == HostIf.start_latency == timing.RUN_START_CYCLE


def _xpu_run(xpu: XpuParams, spec: LayerSpec, hold_result: int) -> dict:
    """Run one layer on the whole Xpu with an ideal-enough host: tiles and thresholds streamed
    as fast as accepted, every ``pca_sample`` answered (code 0) ``adc_latency`` cycles later
    (the j-th sample of a cycle on ADC channel j),
    and each result taken ``hold_result`` cycles after it is first offered."""
    rng = np.random.default_rng(1)
    act, weights, thr, flip = bnn.random_layer(rng, spec)
    plan = tiling_plan(spec, xpu)
    streams = {
        "act_in": [w for tile in act_tiles(plan, act) for w in tile],
        "wgt_in": [w for tile in wgt_tiles(plan, weights) for w in tile],
        "thr_in": encode_thresholds(thr, flip, spec, xpu) if spec.output == "bit" else [],
    }
    dut = Xpu(xpu=xpu)
    rec = {"ready": {}, "codes": [], "offered": [], "taken": [], "done": None}

    async def tb(ctx):
        ctx.set(dut.desc, encode_descriptor(spec, xpu, plan))
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        sent = dict.fromkeys(streams, 0)
        codes_due: dict[int, int] = {}  # cycle -> codes (samples of the port cycle)
        offered_since = None
        for cycle in range(1, 20 * LIMIT):
            for name, words in streams.items():
                port = getattr(dut, name)
                more = sent[name] < len(words)
                ctx.set(port.valid, int(more))
                if more:
                    ctx.set(port.payload, words[sent[name]])
                if ctx.get(port.ready):
                    rec["ready"].setdefault(name, cycle)
                    sent[name] += int(more)
            code = codes_due.pop(cycle, 0)
            for e in range(xpu.n_xpes):
                ctx.set(dut.xpe[e].adc_valid, (1 << code) - 1)
                ctx.set(dut.xpe[e].adc_code, [0] * xpu.adc_channels)
            if code:
                rec["codes"].append(cycle)
            samples = bin(ctx.get(dut.xpe[0].pca_sample)).count("1")
            if samples:
                codes_due[cycle + xpu.adc_latency] = samples
            take = False
            if ctx.get(dut.res_out.valid):
                offered_since = cycle if offered_since is None else offered_since
                if offered_since == cycle:
                    rec["offered"].append(cycle)
                take = cycle - offered_since >= hold_result
            ctx.set(dut.res_out.ready, int(take))
            if take:
                rec["taken"].append(cycle)
                offered_since = None
            if ctx.get(dut.done):
                rec["done"] = cycle
                break
            assert ctx.get(dut.error) == 0, f"an ADC code in cycle {cycle} was not expected"
            await ctx.tick()

    _run(dut, tb)
    rec["dut"] = dut
    return rec


@pytest.mark.parametrize("adc_latency,ss", [(1, 1), (3, 1), (3, 3)])
def test_xpu_latencies_are_measured_at_its_ports(adc_latency, ss):
    """At the XPU's ports: start -> every input stream ready, the last ADC code -> the result
    offered, and the last result taken (held back 3 cycles) -> ``done``."""
    xpu = XPU.replace(adc_latency=adc_latency, symbols_per_cycle=ss)
    spec = LayerSpec.fc(8, 1)  # one unit, one readout (2 chunks <= gamma), bit output
    rec = _xpu_run(xpu, spec, hold_result=3)
    dut = rec["dut"]
    assert len(rec["codes"]) == 1 and len(rec["offered"]) == len(rec["taken"]) == 1
    assert set(rec["ready"]) == {"act_in", "wgt_in", "thr_in"}
    for name, cycle in rec["ready"].items():
        assert cycle == dut.run_start == timing.RUN_START_CYCLE, name
    code_to_result = rec["offered"][0] - rec["codes"][-1]
    assert code_to_result == dut.code_to_result == timing.CODE_TO_RESULT_CYCLES
    result_to_done = rec["done"] - rec["taken"][-1]
    assert result_to_done == dut.result_to_done == timing.RESULT_TO_DONE_CYCLES
    assert rec["taken"][-1] - rec["offered"][-1] == 3  # the host did hold the result back


@pytest.mark.parametrize("ss", [1, 2])
def test_result_depth_never_stalls_an_always_ready_host(ss):
    """Shortest units (one issue cycle each) back to back: the most credits ever in flight.

    12 units of one 1 x 1 chunk on one XPE (at S = 2 a beat of one chunk and a dark slot); with
    an always-ready host no unit may wait for a credit, so the results leave one per cycle.
    """
    xpu = XPU.replace(n_xpes=1, adc_latency=3, symbols_per_cycle=ss)
    spec = LayerSpec("conv", 1, 12, 4, 1, output="int")
    rec = _xpu_run(xpu, spec, hold_result=0)
    assert len(rec["taken"]) == 12
    assert rec["dut"].result_depth == xpu.adc_latency + 5
    # One result per cycle once they flow: no unit waited for a credit.
    assert np.all(np.diff(rec["taken"]) == 1)
