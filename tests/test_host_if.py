"""HostIf and the descriptor encoding: thresholds, start/busy/done, named errors."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.hdl import Shape
from amaranth.sim import Simulator

from oxbnn.models.configs import XpuParams
from oxbnn.models.layer import LayerSpec
from oxbnn.models.tiling import MAX_KERNEL, TilingError, Widths, tiling_plan
from oxbnn.rtl.host_if import HostIf, descriptor_layout, slot_origin_layout
from oxbnn.testbenches.driver import encode_descriptor, encode_thresholds

XPU = XpuParams(n_lanes=4, n_xpes=2, gamma=2, adc_bits=4, max_out_channels=8)


def test_threshold_clamping_keeps_every_comparison():
    spec = LayerSpec.fc(6, 8)
    rng = np.random.default_rng(0)
    thr = rng.integers(-40, 40, size=8)
    flip = rng.random(8) < 0.5
    entries = encode_thresholds(thr, flip, spec, XPU)
    for t, f, e in zip(thr, flip, entries, strict=True):
        assert -7 <= e["value"] <= 7 and e["flip"] == int(f)
        for dot in range(-6, 7):
            assert (dot <= t if f else dot >= t) == (dot <= e["value"] if f else dot >= e["value"])
    with pytest.raises(ValueError, match="thresholds and flip must have shape"):
        encode_thresholds(thr[:3], None, spec, XPU)


def test_descriptor_fits_its_layout_and_errors_are_named():
    layout = descriptor_layout(XPU)
    spec = LayerSpec("conv", 5, 6, 7, 3, 3, 3, stride=2, padding=1, pool=True)
    fields = encode_descriptor(spec, XPU.replace(act_buffer_depth=200))
    value = descriptor_layout(XPU.replace(act_buffer_depth=200)).const(fields)
    assert value.as_value().value >= 0
    plan = tiling_plan(spec, XPU.replace(act_buffer_depth=200))
    assert fields["chunks"] == plan.chunks == -(-63 // 4)
    assert fields["words_per_pixel"] == 2 and fields["last_word_bits"] == 3
    assert fields["unit_w"] == plan.unit_w == 1  # out 3 x 3 pooled to 1 x 1
    assert set(fields) == set(layout.members)
    with pytest.raises(TilingError, match="threshold memory"):
        encode_descriptor(LayerSpec.fc(4, 9), XPU)
    assert Widths.of(XPU).dot > Widths.of(XPU).count


def _origin(ky=0, kx=0, cw=0, bw=0, off=0):
    return {"ky": ky, "kx": kx, "cw": cw, "bw": bw, "off": off}


def test_slot_starts_and_jumps_by_hand():
    """The slot engines' origins and per-beat jumps, worked out by hand for C = 7 on N = 4 (two
    words per pixel, of 4 and 3 bits), a 3 x 3 kernel on a 6-wide image: a tap row is 12 words
    and the next tap row starts 12 - 3 * 2 = 6 words after the end of this one."""
    spec = LayerSpec("conv", 5, 6, 7, 3, 3, 3, stride=2, padding=1, pool=True)  # K = 63, L = 16
    xpu = XPU.replace(act_buffer_depth=200, symbols_per_cycle=3)
    fields = encode_descriptor(spec, xpu)
    assert fields["slot_start"] == [
        _origin(),  # chunk 0: bit 0
        _origin(cw=1, off=1),  # chunk 1: bit 4 = pixel 0, channel 4: word 1, bit 0
        _origin(kx=1, bw=1, off=2),  # chunk 2: bit 8 = pixel 1 (ky 0, kx 1), channel 1
    ]
    # S N = 12 bits = 1 pixel + 5 channels = 1 pixel + 1 word + 1 bit; offset 2 + 1.
    jump = {k: fields[k] for k in ("jump_ky", "jump_kx", "jump_cw", "jump_bw", "jump_off")}
    assert jump == {"jump_ky": 0, "jump_kx": 1, "jump_cw": 1, "jump_bw": 1, "jump_off": 3}
    # S = 8: chunk 7 starts at bit 28 = pixel 4 (ky 1, kx 1), channel 0: offset 12 + 2 = 14;
    # S N = 32 bits = 4 pixels + 4 channels = one tap row + 1 pixel + 1 word: 8 + 1 + 6 = 15.
    fields = encode_descriptor(spec, xpu.replace(symbols_per_cycle=8))
    assert len(fields["slot_start"]) == 8
    assert fields["slot_start"][7] == _origin(ky=1, kx=1, off=14)
    jump = {k: fields[k] for k in ("jump_ky", "jump_kx", "jump_cw", "jump_bw", "jump_off")}
    assert jump == {"jump_ky": 1, "jump_kx": 1, "jump_cw": 1, "jump_bw": 0, "jump_off": 15}
    # L = 2 < S = 3: the third slot has no chunk (origin zero, the slot is dark).
    fields = encode_descriptor(LayerSpec.fc(6, 5), XPU.replace(symbols_per_cycle=3))
    assert fields["slot_start"] == [_origin(), _origin(bw=0, cw=1, off=1), _origin()]
    value = descriptor_layout(XPU.replace(symbols_per_cycle=3)).const(fields)
    assert value.slot_start[1].cw == 1 and value.slot_start[1].off == 1


def test_loads_thresholds_then_runs_until_done():
    dut = HostIf(xpu=XPU)
    spec = LayerSpec.fc(6, 5)
    entries = encode_thresholds(np.array([-3, 0, 2, 7, -9]), np.array([0, 1, 0, 1, 1]), spec, XPU)
    desc = encode_descriptor(spec, XPU)

    async def tb(ctx):
        assert ctx.get(dut.busy) == 0
        ctx.set(dut.desc_in, desc)
        ctx.set(dut.start, 1)
        assert ctx.get(dut.accept) == 1
        await ctx.tick()
        ctx.set(dut.start, 0)
        assert ctx.get(dut.busy) == 1 and ctx.get(dut.desc.chunks) == 2
        # The loader is ready from cycle 1; feed one entry every other cycle.
        for e in entries:
            assert ctx.get(dut.thr_ready) == 0 and ctx.get(dut.thr_in.ready) == 1
            ctx.set(dut.thr_in.valid, 1)
            ctx.set(dut.thr_in.payload, e)
            await ctx.tick()
            ctx.set(dut.thr_in.valid, 0)
            await ctx.tick()
        assert ctx.get(dut.thr_ready) == 1 and ctx.get(dut.thr_in.ready) == 0
        mm = XPU.n_xpes  # one read port per XPE, each at its own address
        for i in range(len(entries)):
            want = [(i + e) % len(entries) for e in range(mm)]
            ctx.set(dut.thr_addr, want)
            await ctx.tick()
            got = ctx.get(dut.thr_data)
            for e in range(mm):
                entry = entries[want[e]]
                assert (got[e].value, got[e].flip) == (entry["value"], entry["flip"]), (i, e)
        ctx.set(dut.done, 1)
        await ctx.tick()
        ctx.set(dut.done, 0)
        assert ctx.get(dut.busy) == 0
        # Integer output: no thresholds are loaded.
        ctx.set(dut.desc_in, encode_descriptor(LayerSpec.fc(6, 5, output="int"), XPU))
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        assert ctx.get(dut.thr_ready) == 1 and ctx.get(dut.thr_in.ready) == 0

    sim = Simulator(dut)
    sim.add_clock(1e-9)
    sim.add_testbench(tb)
    sim.run()


def test_a_queued_layer_loads_into_the_other_bank_and_starts_on_done():
    """One layer deep: a start while busy is taken only once the running layer's thresholds are
    in; the queued layer's thresholds go into the other bank (the running layer still reads its
    own), and it starts in the cycle of ``done`` with ``busy`` staying high; a third start waits
    for the queue to empty."""
    dut = HostIf(xpu=XPU)
    first = encode_thresholds(np.array([1, 2, 3]), np.array([0, 0, 0]), LayerSpec.fc(6, 3), XPU)
    second = encode_thresholds(np.array([-1, -2]), np.array([1, 1]), LayerSpec.fc(6, 2), XPU)
    d1, d2 = encode_descriptor(LayerSpec.fc(6, 3), XPU), encode_descriptor(LayerSpec.fc(9, 2), XPU)

    async def feed(ctx, entries):
        for e in entries:
            ctx.set(dut.thr_in.valid, 1)
            ctx.set(dut.thr_in.payload, e)
            await ctx.tick()
        ctx.set(dut.thr_in.valid, 0)

    async def read(ctx, n):
        got = []
        for i in range(n):
            ctx.set(dut.thr_addr, [i] * XPU.n_xpes)
            await ctx.tick()
            got.append((ctx.get(dut.thr_data[0].value), ctx.get(dut.thr_data[1].flip)))
        return got

    async def tb(ctx):
        ctx.set(dut.desc_in, d1)
        ctx.set(dut.start, 1)
        assert ctx.get(dut.accept) == 1 and ctx.get(dut.run) == 1
        await ctx.tick()
        ctx.set(dut.desc_in, d2)  # held until taken
        assert ctx.get(dut.accept) == 0, "a layer was queued before the thresholds were in"
        assert ctx.get(dut.start_ready) == 0
        await feed(ctx, first[:2])
        assert ctx.get(dut.accept) == 0
        await feed(ctx, first[2:])
        assert ctx.get(dut.thr_ready) == 1 and ctx.get(dut.queued) == 0
        assert ctx.get(dut.accept) == 1 and ctx.get(dut.run) == 0
        await ctx.tick()
        ctx.set(dut.start, 0)
        assert ctx.get(dut.queued) == 1 and ctx.get(dut.desc_next.chunks) == 3
        assert ctx.get(dut.desc.chunks) == 2, "the running layer's descriptor changed"
        assert ctx.get(dut.thr_ready) == 1, "the queued load stalls the running layer"
        await feed(ctx, second)
        assert await read(ctx, 3) == [(e["value"], e["flip"]) for e in first]
        ctx.set(dut.start, 1)  # a third layer: the queue is full
        assert ctx.get(dut.accept) == 0
        ctx.set(dut.done, 1)
        assert ctx.get(dut.run) == 1 and ctx.get(dut.accept) == 0
        await ctx.tick()
        ctx.set(dut.done, 0)
        assert ctx.get(dut.busy) == 1 and ctx.get(dut.queued) == 0
        assert ctx.get(dut.desc.chunks) == 3 and ctx.get(dut.thr_ready) == 1
        assert ctx.get(dut.accept) == 1 and ctx.get(dut.run) == 0  # now it is queued
        await ctx.tick()
        ctx.set(dut.start, 0)
        assert await read(ctx, 2) == [(e["value"], e["flip"]) for e in second]
        ctx.set(dut.done, 1)  # the third layer starts; then nothing is queued
        await ctx.tick()
        ctx.set(dut.done, 1)
        assert ctx.get(dut.run) == 0
        await ctx.tick()
        ctx.set(dut.done, 0)
        assert ctx.get(dut.busy) == 0

    sim = Simulator(dut)
    sim.add_clock(1e-9)
    sim.add_testbench(tb)
    sim.run()


def test_parameters_are_checked():
    with pytest.raises(TypeError, match="xpu must be an XpuParams"):
        HostIf(xpu=None)


# Layers at the plan's limits, each pushing one descriptor field to its largest value on its XPU:
# 65535 unit rows; 65535 bands x 3 weight tiles = 196605 weight loads (the most a plan on an
# XPU with max_out_channels = 3 can have: one band per unit row, one tile per filter; the bands
# stay outside the weight tiles because a band, 2 words, is more than a tile, 1 word); a 2 x 2
# pooled, stride-2 layer in one band (band step 16384 unit rows x 4 = 65536 input rows);
# M // unit_w = M with a one-column grid.
LIMIT_LAYERS = [
    (LayerSpec("conv", 65535, 1, 1, 1), XPU),
    (
        LayerSpec("conv", 65535, 2, 4, 3),
        XPU.replace(act_buffer_depth=2, wgt_buffer_depth=1, max_out_channels=3),
    ),
    (
        LayerSpec("conv", 65535, 4, 1, 1, stride=2, pool=True),
        XPU.replace(act_buffer_depth=1 << 18),
    ),
    (LayerSpec("conv", 5, 1, 3, 1, 3, 3, padding=1), XPU.replace(n_xpes=19)),
    # S = 8 on the same layer: eight slot origins for L = 7 chunks (K = 27), the eighth past the
    # vector (zero).
    (LayerSpec("conv", 5, 1, 3, 1, 3, 3, padding=1), XPU.replace(n_xpes=19, symbols_per_cycle=8)),
    # A jump of S N = 16 one-bit pixels down a 3 x 1 kernel: 16 tap rows, more than KERNEL_BITS
    # hold (it always lands past the vector, so the driver clips the digit to MAX_KERNEL).
    (LayerSpec("conv", 3, 1, 1, 1, 3, 1), XPU.replace(symbols_per_cycle=4)),
]


@pytest.mark.parametrize("spec,xpu", LIMIT_LAYERS, ids=[str(i) for i in range(len(LIMIT_LAYERS))])
def test_descriptor_fields_hold_the_plan_limits(spec, xpu):
    """Every unsigned field holds its value unchanged (no wrap), at the plan's limits."""
    fields = encode_descriptor(spec, xpu)
    layout = descriptor_layout(xpu)
    packed = layout.const(fields).as_value().value
    origin = slot_origin_layout(xpu)
    for name, field in layout:
        if name == "slot_start":  # an array of slot origins: check each unsigned member
            for s, start in enumerate(fields[name]):
                at = field.offset + s * origin.size
                for sub, member in origin:
                    if Shape.cast(member.shape).signed:  # "off": modular
                        continue
                    value = start[sub]
                    assert 0 <= value < 1 << member.width, (name, s, sub, value)
                    got = (packed >> (at + member.offset)) & ((1 << member.width) - 1)
                    assert got == value, (name, s, sub)
            continue
        if Shape.cast(field.shape).signed or name == "row_skip":  # modular (see the layout)
            continue
        assert 0 <= fields[name] < 1 << field.width, (name, fields[name], field.width)
        assert (packed >> field.offset) & ((1 << field.width) - 1) == fields[name], name
    if spec.height == 65535 and spec.out_channels == 3:
        assert fields["wgt_loads"] == 65535 * 3 and fields["wgt_outer"] == 0
    if spec.pool:
        assert fields["band_row_step"] == 16384 * 4
    if xpu.n_xpes == 19:
        assert fields["m_step_y"] == 19 and fields["unit_w"] == 1
    if xpu.symbols_per_cycle == 8:  # chunks 0-6 start at bits 0, 4, .., 24; 7 (bit 28) is past
        assert [o["kx"] + 3 * o["ky"] for o in fields["slot_start"]] == [0, 1, 2, 4, 5, 6, 8, 0]
    if spec.kernel_h == 3 and spec.kernel_w == 1:
        assert fields["jump_ky"] == MAX_KERNEL
