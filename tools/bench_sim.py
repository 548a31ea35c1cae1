"""Benchmark: co-simulation speed of the oxbnn50 XPU, against the bare Verilated model.

``python -m oxbnn.tools.bench_sim [--presets P ...] [--optics ideal physical] [--baselines B ...]``
(``make bench-sim``; B: ``cycle``, ``cycle-full``, ``icarus``; default ``cycle``)

Runs the same real layer shape (VGG-small's third convolution, cut to 8 x 8 pixels and 16
filters) on the full 19 x 19 XPU of each preset (default :data:`PRESETS`: oxbnn50 at the S = 1
idealisation, then at its realistic S = 49), ideal and physical optics, and prints for each

* **event**: the co-simulation as it runs by default, the event-driven testbench
  (:mod:`oxbnn.testbenches.event_tb`: host, memory and ADC in C++, Python only for the optics;
  the fastest of :data:`REPEATS` runs, as for the bare model);
* **bare model**: the Verilated model alone, clocked by C++ with exactly the drive words the
  event run gave it and nothing else (:meth:`~oxbnn.testbenches.event_tb.EventTestbench.replay`;
  it must see the same outputs, which is checked): the ceiling of any testbench;
* the **baselines**: ``cycle``, the per-cycle cocotb testbench on the lean model (the
  co-simulation before the event-driven one); ``cycle-full``, the same with cocotb's
  ``--public-flat-rw`` build; ``icarus``, the per-cycle testbench under Icarus (about 6 cycles/s
  at S = 1: only on request);

as cycles per wall-clock second and optical slots per second (cycles * S), and the ratios
event / bare model and event / baseline, measured in this one process. Each co-simulated run is
checked by the scoreboard (bit-exact against the golden model, cycle-exact against the cycle
model). The goals are printed beside: at S = 1, 100k cycles/s ideal and 50k physical; at
S > 1, 2M slots/s ideal. Build times are printed apart (builds are cached under
``build/cosim``; delete a build folder to time it again): the S = 49 XPU's Verilog takes 11 to
14 min to generate and its event-driven model about 5 min to build the first time (both shared
with ``make sim``), and the per-cycle baseline's model about 5 min more.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from ..models import bnn
from ..models.configs import XpuParams
from ..models.derive import xpu_params
from ..models.layer import LayerSpec
from ..models.optics import Effects
from ..models.timing import layer_cycles
from ..testbenches.cosim import Cosim
from ..testbenches.optical_bridge import OpticalBridge
from ..testbenches.scoreboard import check_layer
from ..testbenches.stimulus import LayerRun
from .options import BENCH_PRESET, preset_arg

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

#: The default presets: oxbnn50 at S = 1, then at its realistic S.
PRESETS = (BENCH_PRESET, "oxbnn50")

BASELINES = ("cycle", "cycle-full", "icarus")

#: Goals (issue 12): cycles/s at S = 1 per optics, slots/s at S > 1 (ideal).
GOAL_S1 = {"ideal": 100_000, "physical": 50_000}
GOAL_SLOTS = 2_000_000


#: Runs of the event-driven testbench and of the bare model per figure; the fastest counts (the
#: first run in a process also pays for first calls into numpy and the library).
REPEATS = 3


def _event(cosim: Cosim, run: LayerRun, optics: str) -> dict[str, float]:
    """The event-driven co-simulation of ``run`` and the bare model's replay of it, each the
    fastest of :data:`REPEATS` runs (every run on a fresh model and bridge, so all equal)."""
    xpu = cosim.xpu
    runs = []
    for _ in range(REPEATS):
        tb = cosim.event_testbench(record=True)
        try:
            bridge = OpticalBridge(xpu, Effects.from_name(optics), seed=1)
            res = tb.run_layer(run, bridge).as_dict()
            runs.append((res, *tb.replay()))
        finally:
            tb.close()
    res = min((r[0] for r in runs), key=lambda r: r["wall_s"])
    n, bare_s, same = runs[0][1], min(r[2] for r in runs), all(r[3] for r in runs)
    check = check_layer(xpu, run, res, optics=optics)
    return {
        "cycles": res["cycles"],
        "wall_s": res["wall_s"],
        "cycles_per_s": res["cycles"] / res["wall_s"],
        "exact": check.match_golden and check.ok,
        "bare_cycles": n,
        "bare_s": bare_s,
        "bare_cycles_per_s": n / bare_s,
        "bare_same": same,
    }


def _baseline(name: str, xpu: XpuParams, run: LayerRun, optics: str) -> dict[str, float]:
    sim = "icarus" if name == "icarus" else "verilator"
    cosim = Cosim(xpu, sim=sim, lean=name != "cycle-full", testbench="cycle")
    build = cosim.build()
    [res] = cosim.run([run], optics=optics, seed=1)
    check = check_layer(xpu, run, res, optics=optics)
    return {
        "cycles": res["cycles"],
        "wall_s": res["wall_s"],
        "cycles_per_s": res["cycles_per_s"],
        "exact": check.match_golden and check.ok,
        "build_s": build,
    }


def _line(label: str, cycles_per_s: float, s: int, extra: str = "") -> None:
    print(
        f"    {label:<12} {cycles_per_s:>11,.0f} cycles/s {cycles_per_s * s:>14,.0f} slots/s{extra}"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m oxbnn.tools.bench_sim", description=__doc__)
    p.add_argument("--presets", nargs="+", type=preset_arg, default=list(PRESETS), metavar="PRESET")
    p.add_argument(
        "--optics", nargs="+", choices=["ideal", "physical"], default=["ideal", "physical"]
    )
    p.add_argument("--baselines", nargs="*", choices=BASELINES, default=["cycle"])
    args = p.parse_args(argv)
    rng = np.random.default_rng(1)
    act, w, thr, flip = bnn.random_layer(rng, LAYER)
    run = LayerRun(LAYER, act, w, thr, flip, name="bench")
    for preset in args.presets:
        xpu = xpu_params(preset)
        s = xpu.symbols_per_cycle
        print(
            f"bench-sim: {xpu.name} XPU (N = {xpu.n_lanes}, M = {xpu.n_xpes}, S = {s}, clock "
            f"{xpu.clock_hz / 1e9:g} GHz), layer {LAYER.height}x{LAYER.width}x"
            f"{LAYER.in_channels} -> {LAYER.out_channels}, 3x3, K = {LAYER.k}, "
            f"{layer_cycles(LAYER, xpu).total} cycles",
            flush=True,
        )
        t0 = time.perf_counter()
        cosim = Cosim(xpu)
        generate = time.perf_counter() - t0
        build = cosim.build()
        print(
            f"  event-driven model: Verilog {generate:.1f} s (0 when cached), build {build:.1f} s"
            f"{' (reused)' if build == 0 else ''}",
            flush=True,
        )
        for optics in args.optics:
            print(f"  {optics} optics:", flush=True)
            ev = _event(cosim, run, optics)
            if s == 1:
                goal = f"goal {GOAL_S1[optics]:,} cycles/s"
                met = ev["cycles_per_s"] >= GOAL_S1[optics]
            else:
                goal = f"goal {GOAL_SLOTS:,} slots/s" if optics == "ideal" else "no goal"
                met = ev["cycles_per_s"] * s >= GOAL_SLOTS if optics == "ideal" else None
            verdict = "" if met is None else (" (met)" if met else " (not met)")
            _line(
                "event",
                ev["cycles_per_s"],
                s,
                f"  ({ev['cycles']} cycles in {ev['wall_s']:.3f} s; bit- and cycle-exact "
                f"{ev['exact']}; {goal}{verdict})",
            )
            _line(
                "bare model",
                ev["bare_cycles_per_s"],
                s,
                f"  ({ev['bare_cycles']} cycles in {ev['bare_s']:.3f} s; same outputs "
                f"{ev['bare_same']})",
            )
            print(
                f"    ratio        event / bare model = "
                f"{ev['cycles_per_s'] / ev['bare_cycles_per_s']:.1%}",
                flush=True,
            )
            for name in args.baselines:
                b = _baseline(name, xpu, run, optics)
                _line(
                    name,
                    b["cycles_per_s"],
                    s,
                    f"  ({b['cycles']} cycles in {b['wall_s']:.2f} s; exact {b['exact']}; "
                    f"build {b['build_s']:.1f} s{' (reused)' if b['build_s'] == 0 else ''})",
                )
                print(
                    f"    ratio        event / {name} = "
                    f"{ev['cycles_per_s'] / b['cycles_per_s']:.1f}x",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
