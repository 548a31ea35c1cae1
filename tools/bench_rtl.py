"""Amaranth-simulator speed of one XPU running a real layer shape (``make bench-rtl``).

``python -m oxbnn.tools.bench_rtl`` builds the XPU of a preset (by default
:data:`~oxbnn.tools.options.BENCH_PRESET`, the 19 x 19 oxbnn50 XPU at the S = 1 idealisation),
runs one VGG-small-like 3 x 3
convolution on it through the pysim harness (host, memory model and the optical bridge in ideal
mode in the loop), checks it with the scoreboard (outputs against ``models/bnn``, cycles and
strobes against ``models/timing``), and prints simulated cycles per second of wall time. It only
prints figures; no test times anything.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from ..models import bnn, timing
from ..models.derive import xpu_params
from ..models.layer import LayerSpec
from ..testbenches.pysim_harness import XpuHarness
from ..testbenches.scoreboard import check_layer
from ..testbenches.stimulus import LayerRun
from .options import BENCH_PRESET, add_preset

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m oxbnn.tools.bench_rtl",
        description="Print Amaranth-simulator cycles/s of one XPU running a conv layer.",
    )
    add_preset(parser, default=BENCH_PRESET)
    parser.add_argument("--height", type=int, default=8, help="input height (default 8)")
    parser.add_argument("--width", type=int, default=8, help="input width (default 8)")
    parser.add_argument(
        "--in-channels",
        type=int,
        default=128,
        help="input channels (default 128, as VGG-small's 2nd block)",
    )
    parser.add_argument(
        "--out-channels",
        type=int,
        default=16,
        help="filters (default 16; each adds the same cycles)",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    xpu = xpu_params(args.preset)
    spec = LayerSpec(
        "conv", args.height, args.width, args.in_channels, args.out_channels, 3, 3, padding=1
    )
    act, weights, thr, flip = bnn.random_layer(np.random.default_rng(args.seed), spec)
    predicted = timing.layer_cycles(spec, xpu)
    harness = XpuHarness(xpu)
    run = LayerRun(spec, act, weights, thr, flip, name="bench")
    start = time.perf_counter()
    got = harness.run([run])[0]
    wall = time.perf_counter() - start
    check = check_layer(xpu, run, got)

    print(f"XPU {xpu.name}: N = {xpu.n_lanes}, M = {xpu.n_xpes}, gamma = {xpu.gamma}")
    print(
        f"layer: 3x3 conv, {spec.height} x {spec.width} x {spec.in_channels} -> "
        f"{spec.out_channels} filters, padding 1 (K = {spec.k}, "
        f"{predicted.plan.chunks} chunks per output)"
    )
    print(
        f"cycles: RTL {got.cycles}, models/timing {predicted.total} "
        f"({check.cycle_verdict.text}); outputs "
        f"{'bit-exact' if check.match_golden else 'WRONG'} against models/bnn"
    )
    for problem in check.problems:
        print(f"problem: {problem}")
    print(f"wall time (elaboration + simulation): {wall:.2f} s")
    lane_slots = got.cycles * xpu.symbols_per_cycle * xpu.n_xpes * xpu.n_lanes
    print(
        f"Amaranth simulator: {got.cycles / wall:.0f} cycles/s "
        f"({lane_slots / wall:.3g} lane-slots/s: cycles * S * M * N)"
    )
    return 0 if check.ok else 1


if __name__ == "__main__":
    sys.exit(main())
