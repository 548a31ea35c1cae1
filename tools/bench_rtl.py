"""Amaranth-simulator speed of one XPU running a real layer shape (``make bench-rtl``).

``python -m oxbnn.tools.bench_rtl`` builds the XPU of a preset (oxbnn50 by default: N = 19,
M = 19), runs one VGG-small-like 3 x 3 convolution on it through the pysim harness (host, memory
model and ideal PCAs in the loop), checks the result against ``models/bnn`` and the cycle count
against ``models/timing``, and prints simulated cycles per second of wall time. It only prints
figures; no test times anything.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from ..models import bnn, timing
from ..models.configs import preset_names
from ..models.derive import xpu_params
from ..models.layer import LayerSpec
from ..testbenches.pysim_harness import LayerRun, XpuHarness

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m oxbnn.tools.bench_rtl",
        description="Print Amaranth-simulator cycles/s of one XPU running a conv layer.",
    )
    parser.add_argument(
        "--preset", default="oxbnn50", help=f"preset ({', '.join(preset_names())}; default oxbnn50)"
    )
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
    start = time.perf_counter()
    got = harness.run([LayerRun(spec, act, weights, thr, flip, name="bench")])[0]
    wall = time.perf_counter() - start
    exact = np.array_equal(got.output, bnn.layer_forward(act, weights, thr, spec, flip))

    print(f"XPU {xpu.name}: N = {xpu.n_lanes}, M = {xpu.n_xpes}, gamma = {xpu.gamma}")
    print(
        f"layer: 3x3 conv, {spec.height} x {spec.width} x {spec.in_channels} -> "
        f"{spec.out_channels} filters, padding 1 (K = {spec.k}, "
        f"{predicted.plan.chunks} chunks per output)"
    )
    print(
        f"cycles: RTL {got.cycles}, models/timing {predicted.total} "
        f"({'equal' if got.cycles == predicted.total else 'DIFFERENT'}); outputs "
        f"{'bit-exact' if exact else 'WRONG'} against models/bnn"
    )
    print(f"wall time (elaboration + simulation): {wall:.2f} s")
    print(
        f"Amaranth simulator: {got.cycles / wall:.0f} cycles/s "
        f"({got.cycles * xpu.n_xpes * xpu.n_lanes / wall:.3g} lane-slots/s)"
    )
    return 0 if exact and got.cycles == predicted.total else 1


if __name__ == "__main__":
    sys.exit(main())
