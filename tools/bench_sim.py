"""Benchmark: co-simulation speed of the oxbnn50 XPU under cocotb + Verilator and + Icarus.

``python -m oxbnn.tools.bench_sim [--preset P] [--optics ideal|physical] [--sims SIM ...]``
(SIM: ``verilator``, ``verilator-full``, ``icarus``; default the two Verilator models)

Runs the same real layer shape (VGG-small's third convolution, cut to 8 x 8 pixels and 16
filters) on the full 19 x 19 XPU of ``--preset`` (default
:data:`~oxbnn.tools.options.BENCH_PRESET`, oxbnn50 at the S = 1 idealisation) with each
simulator, with the optical bridge in the loop, and prints cycles (and optical slots, cycles *
S) per wall-clock second of each and their ratio; each run is checked by the scoreboard. Build
time is reported apart (builds are cached under ``build/cosim``: delete a build directory to
time its build again). ``verilator`` is the lean model the co-simulation uses (only the top's
ports public); ``verilator-full`` the baseline, the same Verilog built with cocotb's
``--public-flat-rw`` (every internal net public), whose ratio to the lean one is printed. The
goal for the Verilator path is 50k cycles/s. To see where the time goes, run a co-simulation
with ``OXBNN_PROFILE=<file>`` set (cProfile of the testbench).

Icarus is left out by default: on the retimed 19 x 19 XPU it runs about 6 cycles/s (measured
here, physical optics: 877 s for the layer's 5,476 cycles, 1,356x slower than the lean Verilated
model); ``--sims icarus`` measures it.

The shipped oxbnn50 runs at S = 49: ``--preset oxbnn50 --sims verilator`` measures the lean
model there (its Verilog takes about 19 min to generate and 7.5 min to build the first time; the
full model and Icarus at S = 49 are far slower still, so they are not the default).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from ..models import bnn
from ..models.configs import XpuParams
from ..models.derive import xpu_params
from ..models.layer import LayerSpec
from ..models.timing import layer_cycles
from ..testbenches.cosim import Cosim
from ..testbenches.scoreboard import check_layer
from ..testbenches.stimulus import LayerRun
from .options import BENCH_PRESET, add_preset

LAYER = LayerSpec(
    kind="conv",
    height=8,
    width=8,
    in_channels=128,
    out_channels=16,
    kernel_h=3,
    kernel_w=3,
    stride=1,
    padding=1,
)


SIMS = ("verilator", "verilator-full", "icarus")


def _measure(sim: str, optics: str, run: LayerRun, xpu: XpuParams) -> dict[str, float]:
    cosim = Cosim(xpu, sim=sim.removesuffix("-full"), lean=not sim.endswith("-full"))
    t0 = time.perf_counter()
    build = cosim.build()
    build_wall = time.perf_counter() - t0
    t0 = time.perf_counter()
    [res] = cosim.run([run], optics=optics, seed=1)
    wall = time.perf_counter() - t0
    check = check_layer(xpu, run, res, optics=optics)
    return {
        "cycles": res["cycles"],
        "loop_s": res["wall_s"],
        "process_s": wall,
        "build_s": build or build_wall,
        "built": build > 0,  # False: the build was reused from the cache
        "cycles_per_s": res["cycles_per_s"],
        "slots_per_s": res["slots_per_s"],
        "exact": check.match_golden and check.ok,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m oxbnn.tools.bench_sim", description=__doc__)
    add_preset(p, default=BENCH_PRESET)
    p.add_argument("--optics", choices=["ideal", "physical"], default="ideal")
    p.add_argument("--sims", nargs="+", choices=SIMS, default=["verilator", "verilator-full"])
    args = p.parse_args(argv)
    rng = np.random.default_rng(1)
    act, w, thr, flip = bnn.random_layer(rng, LAYER)
    run = LayerRun(LAYER, act, w, thr, flip, name="bench")
    xpu = xpu_params(args.preset)
    print(
        f"bench-sim: {xpu.name} XPU (N = {xpu.n_lanes}, M = {xpu.n_xpes}, "
        f"S = {xpu.symbols_per_cycle}), layer "
        f"{LAYER.height}x{LAYER.width}x{LAYER.in_channels} -> {LAYER.out_channels}, 3x3, "
        f"K = {LAYER.k}, {layer_cycles(LAYER, xpu).total} cycles, optics {args.optics}"
    )
    rows = {}
    for sim in args.sims:
        print(
            f"bench-sim: {sim}: building (cached after the first time) and running...", flush=True
        )
        rows[sim] = _measure(sim, args.optics, run, xpu)
        r = rows[sim]
        print(
            f"  {sim:<10} {r['cycles_per_s']:>10.0f} cycles/s, {r['slots_per_s']:.0f} slots/s "
            f"({r['cycles']} cycles in {r['loop_s']:.2f} s of testbench loop, "
            f"{r['process_s']:.2f} s with start-up; build {r['build_s']:.1f} s"
            f"{'' if r['built'] else ' (reused)'}; "
            f"bit-exact and cycle-exact {r['exact']})",
            flush=True,
        )
    for base in ("verilator-full", "icarus"):
        if "verilator" in rows and base in rows:
            ratio = rows["verilator"]["cycles_per_s"] / rows[base]["cycles_per_s"]
            print(f"  ratio      verilator / {base} = {ratio:.1f}x cycles/s", end="")
            if base == "verilator-full":
                if rows[base]["built"] and rows["verilator"]["built"]:
                    build = rows[base]["build_s"] / rows["verilator"]["build_s"]
                    print(f", build {build:.1f}x faster", end="")
                else:
                    print(" (a build was reused from the cache: no build ratio)", end="")
            print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
