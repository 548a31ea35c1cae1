"""Benchmark: the XPU's cycles over the per-layer lower bound, on random layers (issue 13).

``python -m oxbnn.tools.bench_efficiency [--presets P ...] [--layers 150] [--seed 1] [--json]``
(``make bench-efficiency``)

Draws a seeded set of random layers as a new user would write them (:func:`random_layers`:
convolutions 1 x 1 and 3 x 3, stride 1 or 2, with or without padding, some pooled, ``C_in`` and
``C_out`` from 1 to 512, ``H`` and ``W`` from 1 to 64; fc layers of ``K`` 16 .. 4096 and 10 ..
1024 outputs), and on every shipped preset and its S = 1 idealisation (default
:data:`PRESETS`) counts each one's cycles with the cycle model,
:func:`oxbnn.models.timing.layer_cycles` fed by the default
:class:`~oxbnn.models.timing.MemoryModel` (the RTL's count equals it), and its lower bound,
:func:`oxbnn.models.bounds.layer_lower_bound`. A layer the XPU cannot map
(:class:`~oxbnn.models.tiling.TilingError` from the default call) is skipped and counted.

For each preset it prints, per class of layer (:data:`CLASSES`: ``fc``; ``large conv``, a
convolution with ``K >= gamma N``, at least ``4 M`` output positions and a compute term of at
least 1,000 cycles; ``all``), the count, which term of the bound is the largest how often, and
the median and the largest cycles / bound, in one column per dataflow forced
(``layer_cycles(..., dataflow=name)`` for every name of :data:`~oxbnn.models.tiling.DATAFLOWS`)
and one for the default call (``layer_cycles(spec, xpu, mem)``, whatever dataflow it takes),
with the goals of issue 13 (:data:`GOALS`) and whether each is met. A dataflow that cannot map some
layers the default maps (a weight bank too small for M filters of activation broadcast) says
how many. ``--json`` prints one JSON object instead (the figures,
the goals and every layer's bound and cycles). Progress goes to stderr; the default run takes
about 7 s on one core (``--layers 1000`` about a minute). The exit status is 0 whatever the
figures are; docs/timing.md, "Lower bound and efficiency", has the figures and what they mean.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from typing import Any

import numpy as np

from ..models.bounds import TERMS, LowerBound, layer_lower_bound
from ..models.configs import S1_SUFFIX, XpuParams
from ..models.derive import xpu_params
from ..models.layer import LayerError, LayerSpec
from ..models.tiling import DATAFLOWS, TilingError
from ..models.timing import MemoryModel, chain_cycles, layer_cycles
from .options import preset_arg

__all__ = ["CLASSES", "GOALS", "PRESETS", "main", "random_layers", "layer_class"]

#: The shipped presets at their realistic S, each followed by its S = 1 idealisation.
PRESETS = ("oxbnn50", "oxbnn50" + S1_SUFFIX, "oxbnn5", "oxbnn5" + S1_SUFFIX)
#: The classes of layers the figures are given for.
CLASSES = ("fc", "chained fc", "large conv", "all")
#: Issue 13's goals on cycles / bound: (statistic, at most, only at the realistic S).
GOALS = {
    "fc": ("max", 1.5, False),
    "chained fc": ("max", 1.5, False),
    "large conv": ("max", 1.2, True),
    "all": ("median", 2.0, False),
}
#: The column of the call without ``dataflow``.
DEFAULT = "default"
#: Random layers drawn by default.
LAYERS = 150
#: Share of fc layers among the random ones.
FC_SHARE = 0.3


def _log_int(rng: np.random.Generator, lo: int, hi: int) -> int:
    """An integer in ``[lo, hi]``, log-uniform (small sizes as often as large ones)."""
    return min(hi, max(lo, int(round(math.exp(rng.uniform(math.log(lo), math.log(hi)))))))


def _random_layer(rng: np.random.Generator) -> LayerSpec:
    """One layer as a new user might write it (may raise LayerError: drawn again)."""
    if rng.random() < FC_SHARE:
        output = "int" if rng.random() < 0.2 else "bit"
        return LayerSpec.fc(_log_int(rng, 16, 4096), _log_int(rng, 10, 1024), output=output)
    kernel = int(rng.choice([1, 3]))
    padding = int(rng.random() < 0.8) if kernel == 3 else 0
    height = _log_int(rng, 1, 64)
    width = height if rng.random() < 0.7 else _log_int(rng, 1, 64)
    pool = bool(rng.random() < 0.25)
    return LayerSpec(
        kind="conv",
        height=height,
        width=width,
        in_channels=_log_int(rng, 1, 512),
        out_channels=_log_int(rng, 1, 512),
        kernel_h=kernel,
        kernel_w=kernel,
        stride=int(rng.choice([1, 2])),
        padding=padding,
        output="int" if not pool and rng.random() < 0.1 else "bit",
        pool=pool,
    )


def random_layers(count: int, seed: int) -> list[LayerSpec]:
    """``count`` valid random layers (:func:`_random_layer`), the same for the same seed."""
    rng = np.random.default_rng(seed)
    layers: list[LayerSpec] = []
    while len(layers) < count:
        try:
            layers.append(_random_layer(rng))
        except LayerError:  # e.g. a 3 x 3 kernel on a 1-pixel input without padding
            continue
    return layers


def layer_class(spec: LayerSpec, xpu: XpuParams, bound: LowerBound) -> str | None:
    """``"fc"``, ``"large conv"`` (K >= gamma N, at least 4 M output positions, compute term
    >= 1,000 cycles) or None (only in ``"all"``)."""
    if spec.kind == "fc":
        return "fc"
    if (
        spec.k >= xpu.gamma * xpu.n_lanes
        and spec.n_positions >= 4 * xpu.n_xpes
        and bound.compute >= 1000
    ):
        return "large conv"
    return None


def _columns() -> tuple[str, ...]:
    return (*DATAFLOWS, DEFAULT)


def _measure(preset: str, layers: list[LayerSpec], mem: MemoryModel, progress) -> dict[str, Any]:
    """Bounds and cycles of every layer on ``preset``'s XPU, per column."""
    xpu = xpu_params(preset)
    rows: list[dict[str, Any]] = []
    unmapped = {c: 0 for c in _columns()}
    skipped = 0
    prev = None  # the previous mapped layer's plan (the default call's)
    for i, spec in enumerate(layers):
        progress(preset, i, len(layers))
        try:
            bd = layer_cycles(spec, xpu, mem)
        except TilingError:
            skipped += 1
            continue
        default = bd.total
        chained = _chained_fc(spec, xpu, mem, prev, bd) if prev is not None else None
        prev = bd.plan
        bound = layer_lower_bound(spec, xpu, mem)
        cycles: dict[str, int | None] = {DEFAULT: default}
        for name in DATAFLOWS:
            cycles[name] = None
            try:
                cycles[name] = layer_cycles(spec, xpu, mem, dataflow=name).total
            except TilingError:  # e.g. a weight bank that cannot hold M filters
                unmapped[name] += 1
        rows.append(
            {
                "spec": dataclasses.asdict(spec),
                "class": layer_class(spec, xpu, bound),
                "bound": bound.cycles,
                "bound_terms": bound.terms,
                "binding": bound.binding,
                "cycles": cycles,
                "chained": chained,
            }
        )
    progress(preset, len(layers), len(layers))
    realistic = not preset.endswith(S1_SUFFIX)
    classes = {}
    for cls in CLASSES:
        if cls == "chained fc":
            members = [r["chained"] for r in rows if r["chained"] is not None]
        else:
            members = [r for r in rows if cls == "all" or r["class"] == cls]
        binding = {t: sum(r["binding"] == t for r in members) for t in TERMS}
        stat, limit, realistic_only = GOALS[cls]
        goal = None if realistic_only and not realistic else {"statistic": stat, "at_most": limit}
        columns = {}
        for col in _columns():
            ratios = [
                r["cycles"][col] / r["bound"] for r in members if r["cycles"][col] is not None
            ]
            fig: dict[str, Any] = {
                "count": len(ratios),
                "unmapped": len(members) - len(ratios),
                "median": float(np.median(ratios)) if ratios else None,
                "max": max(ratios) if ratios else None,
            }
            fig["goal_met"] = None if goal is None or not ratios else fig[stat] <= limit
            columns[col] = fig
        classes[cls] = {"count": len(members), "binding": binding, "goal": goal, "columns": columns}
    return {
        "preset": preset,
        "xpu": {
            "n_lanes": xpu.n_lanes,
            "n_xpes": xpu.n_xpes,
            "gamma": xpu.gamma,
            "symbols_per_cycle": xpu.symbols_per_cycle,
            "adc_latency": xpu.adc_latency,
        },
        "realistic_s": realistic,
        "layers_drawn": len(layers),
        "layers_mapped": len(rows),
        "layers_skipped": skipped,
        "columns": {c: {"unmapped": unmapped[c]} for c in _columns()},
        "classes": classes,
        "layers": rows,
    }


def _chained_fc(
    spec: LayerSpec, xpu: XpuParams, mem: MemoryModel, prev: Any, bd: Any
) -> dict[str, Any] | None:
    """An fc layer run after the previous layer drawn, as the second layer of a dependent chain
    (:func:`~oxbnn.models.timing.chain_cycles`; its input is the previous layer's output, so its
    activations load after it): its cycles in the chain and its bound with the streams the queue
    brought in before it started on chip, if that is all its weights and thresholds (one weight
    load, complete before its start; else None: the class is the fc layers whose weights were
    prefetched). Only the default call's plans, so only the default column has figures."""
    if spec.kind != "fc" or len(bd.plan.wgt_loads) != 1:
        return None
    chain = chain_cycles([prev, bd.plan], mem, dependent=True)
    early = chain.prefetched(1)
    if not (early["wgt"] and early["thr"]):
        return None
    bound = layer_lower_bound(spec, xpu, mem, weights_on_chip=True, thresholds_on_chip=True)
    cycles: dict[str, int | None] = {name: None for name in DATAFLOWS}
    cycles[DEFAULT] = chain.layers[1].total
    return {
        "spec": dataclasses.asdict(spec),
        "class": "chained fc",
        "bound": bound.cycles,
        "bound_terms": bound.terms,
        "binding": bound.binding,
        "cycles": cycles,
    }


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def _print(result: dict[str, Any]) -> None:
    x = result["xpu"]
    s = "realistic S" if result["realistic_s"] else "S = 1 idealisation"
    print(
        f"{result['preset']} (N = {x['n_lanes']}, M = {x['n_xpes']}, gamma = {x['gamma']}, "
        f"S = {x['symbols_per_cycle']}, {s}): {result['layers_mapped']} of "
        f"{result['layers_drawn']} layers map ({result['layers_skipped']} skipped: TilingError)"
    )
    cols = list(_columns())
    head = "".join(f"  {c:>22}" for c in cols)
    print(f"  {'class':<11} {'count':>5}  {'bound by: c/m/f':>19}{head}  goal")
    sub = "".join(f"  {'median':>10} {'max':>11}" for c in cols)
    print(f"  {'':<11} {'':>5}  {'':>19}{sub}")
    for cls in CLASSES:
        c = result["classes"][cls]
        b = c["binding"]
        most = max(TERMS, key=lambda t: b[t]) if c["count"] else "-"
        by = f"{most} {b['compute']}/{b['memory']}/{b['fixed']}"
        figs = ""
        for col in cols:
            f = c["columns"][col]
            figs += f"  {_fmt(f['median']):>10} {_fmt(f['max']):>11}"
        goal = c["goal"]
        if goal is None:
            text = "max <= 1.2 at the realistic S only"
        else:
            met = [c["columns"][col]["goal_met"] for col in cols]
            verdict = " / ".join("-" if m is None else ("met" if m else "NOT met") for m in met)
            text = f"{goal['statistic']} <= {goal['at_most']:g}: {verdict}"
        print(f"  {cls:<11} {c['count']:>5}  {by:>19}{figs}  {text}")
    for col in _columns():
        info = result["columns"][col]
        if info["unmapped"]:
            print(f"  {col}: {info['unmapped']} of the layers cannot map with it (not counted)")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m oxbnn.tools.bench_efficiency",
        description="Cycles over the per-layer lower bound on random layers (issue 13).",
    )
    p.add_argument("--presets", nargs="+", type=preset_arg, default=list(PRESETS), metavar="PRESET")
    p.add_argument("--layers", type=int, default=LAYERS, help=f"random layers (default {LAYERS})")
    p.add_argument("--seed", type=int, default=1, help="seed of the random layers (default 1)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead")
    args = p.parse_args(argv)
    if args.layers < 1:
        p.error(f"--layers must be at least 1, not {args.layers}")
    mem = MemoryModel()
    layers = random_layers(args.layers, args.seed)
    t0 = time.perf_counter()
    tty = sys.stderr.isatty()

    def progress(preset: str, done: int, total: int) -> None:
        if tty or done == total:
            end = "\n" if done == total else "\r"
            print(
                f"bench-efficiency: {preset}: {done}/{total} layers "
                f"({time.perf_counter() - t0:.0f} s)",
                end=end,
                file=sys.stderr,
                flush=True,
            )

    results = [_measure(preset, layers, mem, progress) for preset in args.presets]
    if args.json:
        out = {
            "seed": args.seed,
            "layers": args.layers,
            "memory": dataclasses.asdict(mem),
            "goals": {
                cls: {"statistic": s, "at_most": v, "realistic_s_only": r}
                for cls, (s, v, r) in GOALS.items()
            },
            "presets": results,
            "wall_s": time.perf_counter() - t0,
        }
        print(json.dumps(out, indent=2))
        return 0
    print(
        f"bench-efficiency: {args.layers} random layers (seed {args.seed}), {mem}; cycles / "
        f"lower bound (oxbnn.models.bounds) of timing.layer_cycles, the RTL's count"
    )
    print(
        "  classes: fc; large conv = K >= gamma N, >= 4 M output positions, compute term >= "
        "1,000 cycles; all. 'bound by': the term that bounds most layers of the class, and "
        "how many each term (compute/memory/fixed) bounds."
    )
    print(
        "  columns: median and max of cycles / bound with the dataflow forced "
        "(layer_cycles(..., dataflow=name)), then the default call (layer_cycles(spec, xpu, "
        "mem)); goal verdicts in the same column order."
    )
    for result in results:
        print()
        _print(result)
    print(f"\n({time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
