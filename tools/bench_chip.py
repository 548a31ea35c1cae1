"""Benchmark: a layer on a chip of X XPUs against one XPU, by the chip cycle model (issue 13).

``python -m oxbnn.tools.bench_chip [--preset P] [--layers 40] [--seed 1] [--json]``
(``make bench-chip``)

Draws the seeded random layers of :mod:`oxbnn.tools.bench_efficiency` and, for X = 2, 4 and 8
XPUs of the preset (default oxbnn50 at S = 49) and global buffers of X + 1 ports (no split
contends), 2 ports and 1 port, splits each layer as the chip's host does
(:func:`oxbnn.models.chip.choose_split`) and counts it with
:func:`oxbnn.models.timing.chip_cycles`, which the RTL equals (``tests/test_chip.py``). The
baseline is the same layer on one XPU fed by the same global buffer
(:func:`~oxbnn.models.timing.layer_cycles` with :data:`~oxbnn.models.timing.GB_MEMORY`),
counted in the same process; its activation and weight streams each get a word per cycle, so a
chip whose two streams share one port can be slower than it. It prints, per (X, ports), the
median and the smallest speed-up (one XPU's cycles / the chip's), the median parallel
efficiency (speed-up / X), the share of layers that contended for a port, and the wall
seconds the model took. Cycles are of the XPU clock (``XpuParams.clock_hz``). A layer one
XPU cannot map is skipped and counted. Progress goes to stderr; the exit status is 0 whatever
the figures are.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from typing import Any

from ..models.chip import ChipError, ChipParams, choose_split
from ..models.derive import xpu_params
from ..models.tiling import TilingError
from ..models.timing import GB_MEMORY, layer_cycles
from .bench_efficiency import random_layers
from .options import int_range, preset_arg

__all__ = ["CHIPS", "main", "measure"]

#: The chip sizes measured, and the global-buffer ports of each (None: X + 1).
CHIPS = tuple((x, ports) for x in (2, 4, 8) for ports in (None, 2, 1))


def measure(preset: str, count: int, seed: int, progress=None) -> dict[str, Any]:
    """The figures of the module docstring, as plain data."""
    xpu = xpu_params(preset)
    layers, skipped = [], 0
    for spec in random_layers(count, seed):
        try:
            layers.append((spec, layer_cycles(spec, xpu, GB_MEMORY).total))
        except TilingError:
            skipped += 1
    rows = []
    for x, ports in CHIPS:
        t0 = time.perf_counter()
        chip = ChipParams(xpu, x, gb_depth=1 << 30, gb_ports=ports)
        speedups, contended = [], 0
        for spec, one in layers:
            try:
                lay = choose_split(spec, chip)
            except (ChipError, TilingError):
                continue
            speedups.append(one / lay.cycles.total)
            contended += lay.cycles.contended
        wall = time.perf_counter() - t0
        row = {
            "xpus": x,
            "gb_ports": chip.gb_ports,
            "layers": len(speedups),
            "speedup_median": statistics.median(speedups),
            "speedup_min": min(speedups),
            "efficiency_median": statistics.median(speedups) / x,
            "contended_share": contended / len(speedups),
            "model_wall_s": wall,
        }
        rows.append(row)
        if progress:
            progress(f"X = {x}, {chip.gb_ports} port(s): {wall:.1f} s")
    return {"preset": xpu.name, "clock_hz": xpu.clock_hz, "layers": len(layers),
            "skipped": skipped, "seed": seed, "chips": rows}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m oxbnn.tools.bench_chip", description=__doc__)
    p.add_argument("--preset", type=preset_arg, default="oxbnn50")
    p.add_argument("--layers", type=int_range(1, 100_000), default=40)
    p.add_argument("--seed", type=int_range(0, 2**31 - 1), default=1)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args(argv)
    res = measure(args.preset, args.layers, args.seed,
                  lambda t: print(f"bench-chip: {t}", file=sys.stderr, flush=True))  # fmt: skip
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    print(f"{res['preset']}: {res['layers']} random layers (seed {res['seed']}, "
          f"{res['skipped']} one XPU cannot map), cycles at {res['clock_hz'] / 1e9:.3g} GHz; "
          "speed-up = one XPU's cycles / the chip's")  # fmt: skip
    print(f"{'X':>3} {'ports':>5} {'layers':>6} {'median':>7} {'min':>6} {'eff.':>6} "
          f"{'contended':>9} {'model s':>8}")  # fmt: skip
    for r in res["chips"]:
        print(f"{r['xpus']:>3} {r['gb_ports']:>5} {r['layers']:>6} {r['speedup_median']:>7.2f} "
              f"{r['speedup_min']:>6.2f} {r['efficiency_median']:>6.2f} "
              f"{r['contended_share']:>9.0%} {r['model_wall_s']:>8.1f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
