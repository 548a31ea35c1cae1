"""The optical port's slot order, the optical bridge, and the environment's ADC delay line."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.hdl import Fragment

from oxbnn.models.configs import XpuParams
from oxbnn.models.layer import LayerSpec
from oxbnn.models.optics import Effects
from oxbnn.testbenches.cosim_top import CosimTop
from oxbnn.testbenches.env import XpuEnv
from oxbnn.testbenches.optical_bridge import OpticalBridge, port_width, unpack_port
from oxbnn.testbenches.stimulus import LayerRun


def _port_word(bits: list[tuple[str, int, int, int]], m: int, n: int, s: int) -> int:
    """A port word from ``(member, xpe, slot, lane)`` set bits, by the documented layout:
    reset | sample | act | wgt; masks bit ``e*S + s``; lanes bit ``e*S*N + s*N + i``."""
    base = {"reset": 0, "sample": m * s, "act": 2 * m * s, "wgt": 2 * m * s + m * s * n}
    word = 0
    for member, e, slot, lane in bits:
        if member in ("reset", "sample"):
            word |= 1 << (base[member] + e * s + slot)
        else:
            word |= 1 << (base[member] + e * s * n + slot * n + lane)
    return word


def test_unpack_port_slot_order_at_s2():
    m, n, s = 2, 3, 2
    w0 = _port_word(
        [("reset", 1, 0, 0), ("sample", 0, 1, 0), ("act", 1, 1, 2), ("wgt", 0, 0, 1)], m, n, s
    )
    w1 = _port_word([("act", 0, 0, 0), ("sample", 1, 1, 0)], m, n, s)
    assert w0 < 1 << port_width(m, n, s) == 1 << 32
    act, wgt, reset, sample = unpack_port([w0, w1], m, n, s)
    assert act.shape == wgt.shape == (4, 2, 3) and reset.shape == sample.shape == (4, 2)
    # slot index = cycle * S + slot
    assert sorted(map(tuple, np.argwhere(act))) == [(1, 1, 2), (2, 0, 0)]
    assert sorted(map(tuple, np.argwhere(wgt))) == [(0, 0, 1)]
    assert sorted(map(tuple, np.argwhere(reset))) == [(0, 1)]
    assert sorted(map(tuple, np.argwhere(sample))) == [(1, 0), (3, 1)]


def test_unpack_port_lane_order_at_s1():
    # XPE 0 lanes 0..3 = act bits 0..3, XPE 1 lanes = bits 4..7; act starts after 2 M mask bits.
    act, wgt, reset, sample = unpack_port([0b1000_0011 << 4 | 0b10], 2, 4, 1)
    assert act[0].tolist() == [[1, 1, 0, 0], [0, 0, 0, 1]]
    assert reset[0].tolist() == [False, True] and not sample.any() and not wgt.any()


@pytest.mark.parametrize("latency", [1, 2, 5])
def test_env_drives_the_popcount_adc_latency_cycles_after_a_sample(latency):
    xpu = XpuParams(n_lanes=4, n_xpes=2, gamma=3, adc_bits=4, adc_latency=latency)
    top = CosimTop(xpu=xpu)
    Fragment.get(top, None)  # elaborated, as a simulator would (Amaranth warns otherwise)
    drive, watch = top.drive_fields, top.watch_fields
    spec = LayerSpec.fc(4, 1)
    run = LayerRun(spec, np.zeros(4, np.uint8), np.zeros((1, 4), np.uint8), np.zeros(1, np.int64))
    env = XpuEnv(xpu, run, OpticalBridge(xpu, Effects.ideal()), drive, watch)
    rng = np.random.default_rng(9)
    act = rng.integers(0, 2, (3, 2, 4))
    wgt = rng.integers(0, 2, (3, 2, 4))
    # XPE 0 integrates cycles 0..2 and samples in cycle 2; XPE 1 only cycle 1 (reset + sample).
    expect0 = int((act[:, 0] == wgt[:, 0]).sum())
    expect1 = int((act[1, 1] == wgt[1, 1]).sum())
    strobes = [
        [("reset", 0, 0, 0)],
        [("reset", 1, 0, 0), ("sample", 1, 0, 0)],
        [("sample", 0, 0, 0)],
    ]
    seen = {}
    for t in range(3 + latency + 2):
        bits = []
        if t < 3:
            bits = strobes[t] + [
                (member, e, 0, i)
                for member, arr in (("act", act), ("wgt", wgt))
                for e in range(2)
                for i in range(4)
                if arr[t, e, i]
            ]
        word = env.step(_port_word(bits, 2, 4, 1) << watch.offset("opt_reset"))
        for e in range(2):
            if drive.get(word, "adc_valid") >> e & 1:
                seen[e, t] = drive.get(word, "adc_code") >> (4 * e) & 0xF
    assert seen == {(1, 1 + latency): expect1, (0, 2 + latency): expect0}
    assert env.samples == [1, 2] and env.resets == [0, 1]
    assert sorted(env.events) == sorted([(1, 1, expect1), (2, 0, expect0)])


def test_dark_lanes_count_nothing():
    xpu = XpuParams(n_lanes=19, n_xpes=1, gamma=14, adc_bits=9, adc_latency=1)
    bridge = OpticalBridge(xpu, Effects.physical(), preset="oxbnn50", seed=1)
    dark = [("act", 0, 0, i) for i in range(19)]  # act 1, wgt 0 on every lane
    words = [
        _port_word(
            dark + [("reset", 0, 0, 0)] * (t == 0) + [("sample", 0, 0, 0)] * (t == 13), 1, 19, 1
        )
        for t in range(14)
    ]
    sampled, codes = bridge.readout(words)
    assert sampled.tolist() == [True] and codes.tolist() == [0]
