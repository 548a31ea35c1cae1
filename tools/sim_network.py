"""``oxbnn sim --network NAME``: the busiest XPU's share of a whole network, through the RTL.

The system model (:func:`oxbnn.models.system.evaluate_network`) deals every compute layer of the
network out to the X XPUs of the accelerator whose optics preset is ``--preset`` (``oxbnn50``:
OXBNN_50; ``oxbnn50-s1``: its S = 1 idealisation) and says what the busiest XPU runs: per layer a
share (``LayerResult.share.spec``, ``instances_per_xpu`` runs back to back) fed by the accelerator's
eDRAM (:func:`oxbnn.models.mapping.memory_for`), and how many cycles that takes (``xpu_cycles``,
from the closed-form cycle model, each run timed on its own: ``evaluate_network(chaining=False)``;
the co-simulation runs one layer at a time, and the chained counts are held equal to the RTL in
``tests/test_system_rtl.py``). This command runs every layer's share once, in network order, through
the co-simulation of that XPU (one simulator run, one optical bridge whose state carries from layer
to layer) with seeded random activations, weights and thresholds
(:func:`oxbnn.models.bnn.random_layer`; the shares are slices of different layers, so they are not
chained). Each share goes through the scoreboard: bit-exact against the golden BNN (ideal optics),
cycle- and strobe-exact against the cycle model; and ``instances_per_xpu`` times its measured cycles
must equal the system model's ``xpu_cycles``. The exit status is 1 if any check fails.

It writes ``report.json`` under ``build/sim/<name>/``: per layer ``name``, ``spec``,
``instances``, ``dataflow`` (the one the system model chose for the share and the host ran),
``cycles`` (measured, one run), ``cycles_predicted`` (cycle model),
``system_xpu_cycles``, ``match_golden``, ``cycles_match``, ``system_match``, ``wall_s``,
``cycles_lower_bound``, ``cycles_lower_bound_terms`` and ``efficiency`` (the lower bound of the
share on the XPU and its memory, and the measured cycles of one run over it, as in
:mod:`oxbnn.tools.sim_cmd`); and ``cycles`` (the sum over the layers of one run each),
``cycles_lower_bound`` (the sum of the layers' bounds), ``efficiency`` (``cycles`` over that
sum: the whole share's ratio), ``system_xpu_cycles`` (the system model's sum, instances
included), ``simulated_time_s`` (cycles at ``clock_hz``), ``wall_s`` (the
simulator run, build excluded), ``cycles_per_s``, ``slots_per_s`` (cycles * S per wall second)
and ``build_s``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from typing import Any

import numpy as np

from ..models import bnn
from ..models.configs import S1_SUFFIX
from ..models.derive import xpu_params
from .sim_cmd import exit_status, lower_bound_fields, write_report
from .versions import tool_versions

__all__ = ["accelerator_for", "run_network_share", "share_runs"]


def accelerator_for(preset: str):
    """The accelerator model whose XPU is optics preset ``preset``'s (a shipped OXBNN preset,
    or its ``-s1`` idealisation); ``ValueError`` naming the presets if there is none."""
    from ..models import mapping
    from ..models.system_preset import load_system_preset, s1_idealisation, system_preset_names

    base = preset.removesuffix(S1_SUFFIX)
    found = [p for p in map(load_system_preset, system_preset_names()) if p.optics_preset == base]
    if not found:
        users = {n: load_system_preset(n).optics_preset for n in system_preset_names()}
        shipped = sorted(o + s for o in users.values() if o for s in ("", S1_SUFFIX))
        raise ValueError(
            f"--network: no accelerator (system preset) uses the optics preset {preset!r}; "
            f"expected one of {shipped}"
        )
    system = s1_idealisation(found[0]) if preset.endswith(S1_SUFFIX) else found[0]
    model = mapping.accelerator_model(system)
    xpu = xpu_params(preset)
    if model.xpu.replace(name=xpu.name) != xpu:  # the names differ for an idealisation
        raise ValueError(
            f"--network: the XPU of accelerator {system.name} is {model.xpu}, not the XPU of "
            f"preset {preset!r}, {xpu}"
        )
    return model


def share_runs(model, network: str, seed: int) -> tuple[list[Any], list[Any]]:
    """``(runs, layers)``: a :class:`~oxbnn.testbenches.stimulus.LayerRun` of each compute
    layer's busiest-XPU share of ``network`` on ``model`` (random bits from ``seed``), and the
    system model's :class:`~oxbnn.models.system.LayerResult` of each."""
    from ..models import mapping, system
    from ..models.workloads import get_network
    from ..testbenches.stimulus import LayerRun

    rng = np.random.default_rng(seed)
    runs, layers = [], []
    for layer in system.evaluate_network(model, get_network(network), chaining=False).layers:
        if layer.share is None:  # electronic: pooling, residual adds
            continue
        spec = layer.share.spec
        act, w, thr, flip = bnn.random_layer(rng, spec)
        mem = mapping.memory_for(spec, model)
        runs.append(LayerRun(spec, act, w, thr, flip, mem=mem, name=layer.name))
        layers.append(layer)
    return runs, layers


def run_network_share(args: argparse.Namespace) -> int:
    """The ``--network`` mode of ``oxbnn sim`` (module docstring)."""
    from ..testbenches.cosim import Cosim
    from ..testbenches.scoreboard import check_layer

    if args.layer is not None:
        raise ValueError("--network and --layer are exclusive: give one")
    model = accelerator_for(args.preset)
    xpu = xpu_params(args.preset)  # the model's, under the preset's name (its build)
    runs, layers = share_runs(model, args.network, args.seed)
    name = args.name or f"{args.network}-share-{xpu.name}-{args.optics}-seed{args.seed}"
    out = args.out / name
    out.mkdir(parents=True, exist_ok=True)
    total = sum(layer.xpu_cycles // layer.share.instances_per_xpu for layer in layers)
    print(
        f"oxbnn sim: {name}: the busiest XPU's share of {args.network} on {model.name} "
        f"({len(runs)} layers, {total} cycles by the cycle model); building the "
        f"{xpu.n_xpes} x {xpu.n_lanes} XPU (S = {xpu.symbols_per_cycle}) with {args.sim} "
        "(cached after the first time)...",
        file=sys.stderr,
    )
    cosim = Cosim(xpu, sim=args.sim)
    build_s = cosim.build()
    t0 = time.perf_counter()
    results = cosim.run(
        runs, optics=args.optics, preset=args.preset, seed=args.seed, progress_total=total
    )
    wall = time.perf_counter() - t0
    rows, problems = [], []
    for run, layer, res in zip(runs, layers, results, strict=True):
        check = check_layer(xpu, run, res, optics=args.optics)
        instances = layer.share.instances_per_xpu
        system_match = instances * res["cycles"] == layer.xpu_cycles
        if not system_match:
            problems.append(
                f"{layer.name}: the system model counts {layer.xpu_cycles} cycles for "
                f"{instances} run(s), the RTL {res['cycles']} per run"
            )
        problems += [f"{layer.name}: {p}" for p in check.problems]
        rows.append(
            {
                "name": layer.name,
                "spec": dataclasses.asdict(run.spec),
                "instances": instances,
                "dataflow": layer.dataflow,
                "cycles": res["cycles"],
                "cycles_predicted": check.cycles_predicted,
                "system_xpu_cycles": layer.xpu_cycles,
                "match_golden": check.match_golden,
                "cycles_match": check.cycle_verdict.match,
                "system_match": system_match,
                "wall_s": res["wall_s"],
                **lower_bound_fields(run.spec, xpu, run.mem, res["cycles"]),
            }
        )
    cycles = sum(r["cycles"] for r in rows)
    bound = sum(r["cycles_lower_bound"] for r in rows)
    s = xpu.symbols_per_cycle
    report = {
        "name": name,
        "network": args.network,
        "accelerator": model.name,
        "preset": xpu.name,
        "optics": args.optics,
        "seed": args.seed,
        "simulator": args.sim,
        "testbench": cosim.testbench,
        "symbols_per_cycle": s,
        "clock_hz": xpu.clock_hz,
        "layers": rows,
        "cycles": cycles,
        "cycles_lower_bound": bound,
        "efficiency": cycles / bound,
        "system_xpu_cycles": sum(layer.xpu_cycles for layer in layers),
        "simulated_time_s": cycles / xpu.clock_hz,
        "wall_s": wall,
        "cycles_per_s": cycles / wall,
        "slots_per_s": cycles * s / wall,
        "build_s": build_s,
        "ok": not problems,
        "versions": tool_versions(simulator=args.sim),
    }
    if not write_report(out, report, args.json):
        print(f"oxbnn sim: {name}")
        print(
            f"  {'layer':<22} {'share':>22} {'cycles':>7} {'model':>7} {'system':>7} "
            f"{'bound':>7} {'eff':>6}  verdict"
        )
        for r in rows:
            sp = r["spec"]
            shape = f"{sp['height']}x{sp['width']}x{sp['in_channels']}->{sp['out_channels']}"
            ok = r["match_golden"] and r["cycles_match"] and r["system_match"]
            print(
                f"  {r['name']:<22} {shape:>22} {r['cycles']:>7} {r['cycles_predicted']:>7} "
                f"{r['system_xpu_cycles']:>7} {r['cycles_lower_bound']:>7} "
                f"{r['efficiency']:>5.2f}x  {'exact' if ok else 'MISMATCH'}"
            )
        print(
            f"  total            {cycles} cycles = {report['simulated_time_s'] * 1e6:.2f} us at "
            f"{xpu.clock_hz / 1e9:g} GHz (system model {report['system_xpu_cycles']})"
        )
        print(
            f"  bound            {bound} cycles (sum of the layers' bounds): efficiency "
            f"{report['efficiency']:.2f}x"
        )
        print(
            f"  wall             {wall:.1f} s ({report['cycles_per_s']:.0f} cycles/s, "
            f"{report['slots_per_s']:.0f} slots/s; build {build_s:.1f} s)"
        )
        print(f"  report           {out / 'report.json'}")
    return exit_status(problems)
