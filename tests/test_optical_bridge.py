"""The optical bridge returns the popcount exactly adc_latency cycles after a sample."""

from __future__ import annotations

import numpy as np
import pytest

from oxbnn.models.configs import XpuParams
from oxbnn.models.optics import Effects
from oxbnn.testbenches.optical_bridge import OpticalBridge, unpack_lanes


def test_unpack_lanes_bit_order():
    # XPE 0 lanes 0..3 = bits 0..3, XPE 1 lanes = bits 4..7
    v = 0b1000_0011
    out = unpack_lanes(v, 2, 4)
    assert out.tolist() == [[1, 1, 0, 0], [0, 0, 0, 1]]


@pytest.mark.parametrize("latency", [1, 2, 5])
def test_ideal_bridge_latency_and_counts(latency):
    xpu = XpuParams(n_lanes=4, n_xpes=2, gamma=3, adc_bits=4, adc_latency=latency)
    bridge = OpticalBridge(xpu, Effects.ideal())
    rng = np.random.default_rng(9)
    # XPE 0 integrates slots 0..2 and samples at slot 2; XPE 1 only slot 1 (reset+sample).
    act = rng.integers(0, 2, (3, 2, 4))
    wgt = rng.integers(0, 2, (3, 2, 4))
    expect0 = int((act[:, 0] == wgt[:, 0]).sum())
    expect1 = int((act[1, 1] == wgt[1, 1]).sum())
    resets = [[1, 0], [0, 1], [0, 0]]
    samples = [[0, 0], [0, 1], [1, 0]]
    seen = {}
    for t in range(3 + latency + 2):
        if t < 3:
            v, c = bridge.step(
                act[t], wgt[t], np.array(resets[t], bool), np.array(samples[t], bool)
            )
        else:
            z = np.zeros((2, 4), dtype=np.uint8)
            v, c = bridge.step(z, z, np.zeros(2, bool), np.zeros(2, bool))
        for e in np.flatnonzero(v):
            seen[(int(e), t + 1)] = int(c[e])  # what the ADC drives during cycle t + 1
    assert seen == {(1, 1 + latency): expect1, (0, 2 + latency): expect0}


def test_dark_lanes_count_nothing():
    xpu = XpuParams(n_lanes=19, n_xpes=1, gamma=14, adc_bits=9, adc_latency=1)
    bridge = OpticalBridge(xpu, Effects.physical(), preset="oxbnn50", seed=1)
    dark_a = np.ones((1, 19), dtype=np.uint8)
    dark_w = np.zeros((1, 19), dtype=np.uint8)
    for t in range(14):
        v, c = bridge.step(dark_a, dark_w, np.array([t == 0]), np.array([t == 13]))
    assert v[0] and c[0] == 0
