"""AddressGen: each XPE's word address for every tap of its window, and its idle flag.

The expected address is computed from the layer geometry alone: output unit -> output
position -> input pixel -> ``((row - band's first stored row) * W + column) * words_per_pixel +
word``, for every tap inside the image.
"""

from __future__ import annotations

import pytest
from amaranth.sim import Simulator

from oxbnn.models.configs import XpuParams
from oxbnn.models.layer import LayerSpec
from oxbnn.models.tiling import tiling_plan
from oxbnn.rtl.address_gen import AddressGen
from oxbnn.testbenches.driver import encode_descriptor

XPU = XpuParams(n_lanes=4, n_xpes=3, gamma=2, adc_bits=4, act_buffer_depth=64, wgt_buffer_depth=32)

LAYERS = [
    LayerSpec("conv", 6, 5, 5, 1, 3, 3, padding=1),
    LayerSpec("conv", 7, 6, 3, 1, 3, 2, stride=2, padding=2),
    LayerSpec("conv", 6, 7, 2, 1, 2, 2, padding=1, pool=True),
    LayerSpec("conv", 5, 4, 6, 1, 3, 3, stride=2, padding=1, pool=True),
    LayerSpec.fc(20, 1),
]


@pytest.mark.parametrize("spec", LAYERS, ids=[f"layer{i}" for i in range(len(LAYERS))])
def test_addresses_follow_the_geometry(spec):
    plan = tiling_plan(spec, XPU)
    dut = AddressGen(xpu=XPU)
    f, s, p = plan.pool_factor, spec.stride, spec.padding
    wp, rw = plan.words_per_pixel, plan.row_words
    checked = [0]

    async def tb(ctx):
        ctx.set(dut.desc, encode_descriptor(spec, XPU, plan))
        ctx.set(dut.ctl.pos_init, 1)
        await ctx.tick()
        ctx.set(dut.ctl.pos_init, 0)
        for band in plan.bands:
            band_iy = band.unit_row0 * f * s - p
            band_base = min(band_iy, 0) * rw
            ctx.set(dut.ctl.band_rows, band.unit_row1 - band.unit_row0)
            for group in range(band.groups):
                units = plan.units(band.index, group)
                await ctx.tick()
                await ctx.tick()
                active = sum(1 << e for e, u in enumerate(units) if u is not None)
                assert ctx.get(dut.active) == active, (band, group)
                for sub in range(plan.subjobs):
                    dy, dx = sub >> 1, sub & 1
                    for ky in range(spec.kernel_h):
                        for kx in range(spec.kernel_w):
                            for cw in range(wp):
                                ctx.set(
                                    dut.ctl.word[1],
                                    {
                                        "row": band_iy + dy * s + ky,
                                        "col": dx * s + kx,
                                        "offset": band_base
                                        + (dy * s + ky) * rw
                                        + (dx * s + kx) * wp
                                        + cw,
                                    },
                                )
                                for e, unit in enumerate(units):
                                    if unit is None:
                                        continue
                                    iy = (unit[0] * f + dy) * s - p + ky
                                    ix = (unit[1] * f + dx) * s - p + kx
                                    if 0 <= iy < spec.height and 0 <= ix < spec.width:
                                        want = ((iy - band.in_row0) * spec.width + ix) * wp + cw
                                        assert ctx.get(dut.rd_addr[2 * e + 1]) == want, (
                                            band.index,
                                            group,
                                            e,
                                            sub,
                                            ky,
                                            kx,
                                            cw,
                                        )
                                        checked[0] += 1
                last = group == band.groups - 1
                ctx.set(dut.ctl.pos_init if last else dut.ctl.pos_advance, 1)
                await ctx.tick()
                ctx.set(dut.ctl.pos_init, 0)
                ctx.set(dut.ctl.pos_advance, 0)

    sim = Simulator(dut)
    sim.add_clock(1e-9)
    sim.add_testbench(tb)
    sim.run()
    assert checked[0] > 0


def test_idle_lanes_are_dark():
    dut = AddressGen(xpu=XPU)

    async def tb(ctx):
        for _ in range(3):
            await ctx.tick()
        for e in range(XPU.n_xpes):
            assert ctx.get(dut.act[e]) == 0xF and ctx.get(dut.wgt[e]) == 0

    sim = Simulator(dut)
    sim.add_clock(1e-9)
    sim.add_testbench(tb)
    sim.run()


def test_parameters_are_checked():
    with pytest.raises(TypeError, match="xpu must be an XpuParams, not int"):
        AddressGen(xpu=3)
