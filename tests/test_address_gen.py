"""AddressGen: each XPE's word address for every tap of its window, its idle flag, and the
packing of a beat onto the S slots of the optical port.

The expected address is computed from the layer geometry alone: output unit -> output
position -> input pixel -> ``((row - band's first stored row) * W + column) * words_per_pixel +
word``, for every tap inside the image. Word ``i`` of slot engine ``s`` of XPE ``e`` is read on
port ``(e S + s) R + i`` (R = ``READS_PER_SLOT`` words per slot engine and cycle).
"""

from __future__ import annotations

import dataclasses
import random

import pytest
from amaranth.hdl import Signal
from amaranth.sim import Simulator

from oxbnn.models.configs import XpuParams
from oxbnn.models.layer import LayerSpec
from oxbnn.models.tiling import READS_PER_SLOT as R
from oxbnn.models.tiling import tiling_plan
from oxbnn.rtl.address_gen import AddressGen, _UnitPlacement
from oxbnn.rtl.host_if import descriptor_layout
from oxbnn.testbenches.driver import encode_descriptor

XPU = XpuParams(n_lanes=4, n_xpes=3, gamma=2, adc_bits=4, act_buffer_depth=64, wgt_buffer_depth=32)

LAYERS = [
    LayerSpec("conv", 6, 5, 5, 1, 3, 3, padding=1),
    LayerSpec("conv", 7, 6, 3, 1, 3, 2, stride=2, padding=2),
    LayerSpec("conv", 6, 7, 2, 1, 2, 2, padding=1, pool=True),
    LayerSpec("conv", 5, 4, 6, 1, 3, 3, stride=2, padding=1, pool=True),
    LayerSpec.fc(20, 1),
]
CASES = [(i, 1) for i in range(len(LAYERS))] + [(0, 3), (3, 2)]


def _sim(dut, tb):
    sim = Simulator(dut)
    sim.add_clock(1e-9)
    sim.add_testbench(tb)
    sim.run()


@pytest.mark.parametrize("dataflow", ["weight_broadcast", "activation_broadcast"])
@pytest.mark.parametrize("layer,ss", CASES, ids=[f"layer{i}-S{s}" for i, s in CASES])
def test_addresses_follow_the_geometry(layer, ss, dataflow):
    """Every word of every tap, S R words per cycle on all read ports at once. Weight broadcast:
    XPE e on unit e of its group; activation broadcast: every XPE on the group's one unit, idle
    where the sequencer's filter mask (``ctl.filters``, random here) says it has no filter."""
    spec = LAYERS[layer]
    xpu = XPU.replace(symbols_per_cycle=ss)
    bcast = dataflow == "activation_broadcast"
    if bcast:  # one filter per XPE, all in one weight bank
        spec = dataclasses.replace(spec, out_channels=xpu.n_xpes)
        xpu = xpu.replace(wgt_buffer_depth=64)
    plan = tiling_plan(spec, xpu, dataflow=dataflow)
    rng = random.Random(layer * 10 + ss)
    dut = AddressGen(xpu=xpu)
    f, s, p = plan.pool_factor, spec.stride, spec.padding
    wp, rw = plan.words_per_pixel, plan.row_words
    per_xpe = ss * R
    checked = [0]

    async def tb(ctx):
        ctx.set(dut.desc, encode_descriptor(spec, xpu, plan))
        ctx.set(dut.ctl.pos_init, 1)
        await ctx.tick()
        ctx.set(dut.ctl.pos_init, 0)
        for band in plan.bands:
            band_iy = band.unit_row0 * f * s - p
            band_base = min(band_iy, 0) * rw
            ctx.set(dut.ctl.band_rows, band.unit_row1 - band.unit_row0)
            for group in range(band.groups):
                units = [None if t is None else t[:2] for t in plan.targets(band.index, 0, group)]
                mask = rng.getrandbits(xpu.n_xpes) | 1 if bcast else (1 << xpu.n_xpes) - 1
                ctx.set(dut.ctl.filters, mask)
                units = [u if mask >> e & 1 else None for e, u in enumerate(units)]
                await ctx.tick()
                await ctx.tick()
                active = sum(1 << e for e, u in enumerate(units) if u is not None)
                assert ctx.get(dut.active) == active, (band, group)
                taps = [
                    (sub >> 1, sub & 1, ky, kx, cw)
                    for sub in range(plan.subjobs)
                    for ky in range(spec.kernel_h)
                    for kx in range(spec.kernel_w)
                    for cw in range(wp)
                ]
                for first in range(0, len(taps), per_xpe):
                    batch = taps[first : first + per_xpe]
                    for j, (dy, dx, ky, kx, cw) in enumerate(batch):
                        ctx.set(
                            dut.ctl.word[j],
                            {
                                "row": band_iy + dy * s + ky,
                                "col": dx * s + kx,
                                "offset": band_base + (dy * s + ky) * rw + (dx * s + kx) * wp + cw,
                            },
                        )
                    for e, unit in enumerate(units):
                        if unit is None:
                            continue
                        for j, (dy, dx, ky, kx, cw) in enumerate(batch):
                            iy = (unit[0] * f + dy) * s - p + ky
                            ix = (unit[1] * f + dx) * s - p + kx
                            if 0 <= iy < spec.height and 0 <= ix < spec.width:
                                want = ((iy - band.in_row0) * spec.width + ix) * wp + cw
                                got = ctx.get(dut.rd_addr[e * per_xpe + j])
                                assert got == want, (band.index, group, e, j, dy, dx, ky, kx, cw)
                                checked[0] += 1
                last = group == band.groups - 1
                ctx.set(dut.ctl.pos_init if last else dut.ctl.pos_advance, 1)
                await ctx.tick()
                ctx.set(dut.ctl.pos_init, 0)
                ctx.set(dut.ctl.pos_advance, 0)

    _sim(dut, tb)
    assert checked[0] > 0


@pytest.mark.parametrize("ss", [1, 3])
def test_idle_lanes_are_dark(ss):
    xpu = XPU.replace(symbols_per_cycle=ss)
    dut = AddressGen(xpu=xpu)

    async def tb(ctx):
        for _ in range(3):
            await ctx.tick()
        for e in range(xpu.n_xpes):
            assert ctx.get(dut.act[e]) == (1 << ss * xpu.n_lanes) - 1
            assert ctx.get(dut.wgt[e]) == 0

    _sim(dut, tb)


# One beat of a 3 x 3 layer (C = N = 4, one word per pixel, padding 1) on a 2 x 2 image: the
# three XPEs hold units (0, 0), (0, 1), (1, 0), whose windows start at input (-1, -1), (-1, 0),
# (0, -1). Slot 0 reads tap (1, 1) whole; slot 1 reads the high half of tap (1, 0) and the low
# half of tap (1, 1), lanes 0-1 and 2-3; the other slots have no chunk (past the vector).
BEAT = {
    0: [((1, 1), 0, 0, 4)],  # slot: [((ky, kx), skip, shift, placed)]
    1: [((1, 0), 2, 0, 2), ((1, 1), 0, 2, 2)],
}


@pytest.mark.parametrize("ss", [2, 3])
@pytest.mark.parametrize("pad", ["dark", "+1", "-1"])
def test_a_beat_fills_its_slots(pad, ss):
    """Each slot's chunk from its own words, padding substituted per XPE, in bits s N ..; the
    weight word of slot s on the lanes slot s fills; ``kv`` counts the counted bits of all slots.
    Expected values come from the image itself (no address arithmetic)."""
    n = XPU.n_lanes
    xpu = XPU.replace(symbols_per_cycle=ss)
    spec = LayerSpec("conv", 2, 2, 4, 1, 3, 3, padding=1, pad=pad)
    rng = random.Random(ss * 7 + len(pad))
    image = [[rng.getrandbits(n) for _ in range(2)] for _ in range(2)]
    memory = {(iy * 2 + ix): image[iy][ix] for iy in range(2) for ix in range(2)}
    weights = [[rng.getrandbits(n) for _ in range(ss)] for _ in range(XPU.n_xpes)]
    every = (1 << XPU.n_xpes) - 1
    origins = [(-1, -1), (-1, 0), (0, -1)]
    dut = AddressGen(xpu=xpu)
    rw = 2  # words per image row
    got = {}

    async def tb(ctx):
        ctx.set(dut.desc, encode_descriptor(spec, xpu))
        ctx.set(dut.ctl.pos_init, 1)
        await ctx.tick()
        ctx.set(dut.ctl.pos_init, 0)
        words = [{} for _ in range(ss * R)]
        skips = [0] * ss
        for slot, reads in BEAT.items():
            for i, ((ky, kx), _, shift, placed) in enumerate(reads):
                row, col = -1 + ky, kx  # band 0 starts at input row -padding
                offset = -rw + ky * rw + kx  # the band's base (-1 row) + the tap's offset
                words[slot * R + i] = {
                    "take": 1,
                    "row": row,
                    "col": col,
                    "offset": offset,
                    "shift": shift,
                    "placed": placed,
                    "end": shift + placed,
                }
            skips[slot] = reads[0][1]
        ctx.set(
            dut.ctl,
            {
                "issue": 1,
                "band_rows": 2,
                "filters": every,
                "word": words,
                "skip": skips,
                "emit": 1,
                "last": 1,
            },
        )
        addrs = [ctx.get(dut.rd_addr[j]) for j in range(xpu.n_xpes * ss * R)]
        await ctx.tick()
        ctx.set(dut.ctl, {"band_rows": 2, "filters": every})
        for j, a in enumerate(addrs):  # the tile buffer answers one cycle later
            ctx.set(dut.rd_data[j], memory.get(a, rng.getrandbits(n)))
        for e in range(xpu.n_xpes):  # each XPE its own weight chunks (activation broadcast)
            for slot in range(ss):
                ctx.set(dut.wgt_word[e * ss + slot], weights[e][slot])
        await ctx.tick()
        got["act"] = [ctx.get(dut.act[e]) for e in range(xpu.n_xpes)]
        got["wgt"] = [ctx.get(dut.wgt[e]) for e in range(xpu.n_xpes)]
        got["kv"] = [ctx.get(dut.kv[e]) for e in range(xpu.n_xpes)]

    _sim(dut, tb)

    fill = {"dark": 0, "+1": (1 << n) - 1, "-1": 0}[pad]
    for e, (oy, ox) in enumerate(origins):
        act = wgt = kv = 0
        for slot in range(ss):
            chunk = lanes = 0
            for (ky, kx), skip, shift, placed in BEAT.get(slot, []):
                iy, ix = oy + ky, ox + kx
                inside = 0 <= iy < 2 and 0 <= ix < 2
                value = image[iy][ix] if inside else fill
                mask = ((1 << placed) - 1) << shift
                chunk |= ((value >> skip) << shift) & mask
                if inside or pad != "dark":
                    lanes |= mask
                    kv += placed
            act |= (chunk | (~lanes & ((1 << n) - 1))) << (slot * n)
            wgt |= (weights[e][slot] & lanes) << (slot * n)
        assert got["act"][e] == act, (e, bin(got["act"][e]), bin(act))
        assert got["wgt"][e] == wgt, (e, bin(got["wgt"][e]), bin(wgt))
        assert got["kv"][e] == kv, e


def test_parameters_are_checked():
    with pytest.raises(TypeError, match="xpu must be an XpuParams, not int"):
        AddressGen(xpu=3)


@pytest.mark.parametrize("unit_w", [1, 2, 5, 18, 19, 40])
def test_units_are_placed_as_one_unit_steps(unit_w):
    """The units of M = 19 XPEs, placed in closed form, against one-unit steps from unit 0 along
    the band's rows of ``unit_w`` units (a step adds ``unit_base`` and ``unit_step`` columns, or
    wraps to the next row: ``unit_wrap_base``, ``unit_step`` rows, column ``-padding``)."""
    xpu = XPU.replace(n_xpes=19)
    desc = Signal(descriptor_layout(xpu))
    placement = _UnitPlacement(xpu, desc)
    rng = random.Random(unit_w)
    fields = {
        "unit_w": unit_w,
        "unit_step": rng.randrange(1, 4),
        "unit_base": rng.randrange(1, 40),
        "unit_wrap_base": rng.randrange(-60, 60),
        "base0": rng.randrange(-30, 30),
        "padding": rng.randrange(0, 3),
    }
    want, uy, ux = [], 0, 0
    iy, ix, base = 0, -fields["padding"], fields["base0"]
    for _ in range(xpu.n_xpes):
        want.append({"uy": uy, "ux": ux, "iy": iy, "ix": ix, "base": base})
        if ux + 1 == unit_w:
            uy, ux, iy, ix = uy + 1, 0, iy + fields["unit_step"], -fields["padding"]
            base += fields["unit_wrap_base"]
        else:
            ux, ix, base = ux + 1, ix + fields["unit_step"], base + fields["unit_base"]

    async def tb(ctx):
        for name, value in fields.items():
            ctx.set(getattr(desc, name), value)
        await ctx.delay(1e-9)
        for e, w in enumerate(want):
            unit = placement.out[e]
            got = {k: ctx.get(getattr(unit, k)) for k in w}
            assert got == w, (e, got, w)

    sim = Simulator(placement)
    sim.add_testbench(tb)
    sim.run()
