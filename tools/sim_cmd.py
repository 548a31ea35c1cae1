"""``oxbnn sim``: one layer through the cycle-accurate co-simulation (XPU RTL + optical models).

Without ``--layer`` it runs a built-in real layer shape: the third convolution of VGG-small
(16 x 16 x 128 -> 256 channels, 3 x 3, padding 1: K = 1152) with seeded random bits. The run
writes ``outputs.npy`` and ``report.json`` under ``build/sim/<name>/`` (and ``waves.vcd`` +
``waves.gtkw`` with ``--waves``).

Report fields (units in the names where they have one): ``cycles`` (measured), ``cycles_predicted``
(:func:`oxbnn.models.timing.layer_cycles`, the no-stall count), ``cycles_predicted_is_bound``
and ``cycles_match`` (:func:`oxbnn.testbenches.scoreboard.cycle_verdict`),
``cycles_breakdown_predicted`` (every count of :class:`oxbnn.models.timing.CycleBreakdown`),
``dataflow`` and ``walk`` (the dataflow and the tile walk order the layer ran in:
``--dataflow`` and ``--walk``, by default ``auto``, the faster by the cycle model,
:func:`oxbnn.models.timing.layer_cycles`),
``cycles_lower_bound`` (:func:`oxbnn.models.bounds.layer_lower_bound` of the layer, the XPU
and the memory: no schedule of the layer on them takes fewer cycles),
``cycles_lower_bound_terms`` (its three terms, ``{"compute": .., "memory": .., "fixed": ..}``,
the bound being the largest), ``efficiency`` (measured cycles / ``cycles_lower_bound``, a float,
>= 1 without a defect: 1.0 is a run as fast as the bound; docs/timing.md, "Lower bound and
efficiency"),
``symbols_per_cycle`` (S), ``clock_hz`` (bit rate / S), ``reset_dead_slots`` and
``pca_capacitors`` (the PCA's reset, :class:`oxbnn.models.configs.XpuParams`),
``simulated_time_s`` (cycles at that clock), ``match_golden`` (every output equals
:mod:`oxbnn.models.bnn`; with physical optics the golden model is still the reference),
``bit_error_rate`` (wrong output bits / output bits; for an integer layer, wrong outputs /
outputs), ``cycles_per_s`` (clock cycles simulated per wall-clock second of the simulation loop)
and ``slots_per_s`` (optical slots per lane simulated per wall-clock second: cycles * S / wall s,
S = ``XpuParams.symbols_per_cycle``), ``wall_s``, ``build_s``, ``readouts``,
``saturation_events``. The verdicts ``match_golden`` and ``cycles_match`` come from the one
scoreboard (:func:`oxbnn.testbenches.scoreboard.check_layer`).

With ``--network NAME`` it runs instead the busiest XPU's share of every layer of a whole
network (:mod:`oxbnn.tools.sim_network`; ``make sim-resnet18``).

A co-simulation that fails (a build error, a testbench assertion, an X on an output) is
reported as one line, ``oxbnn sim: error: <root cause> (log: <file>)``, with exit status 1.

Back-pressure and stalls (decision): the cycle model counts a run in which the host takes every
result at once and the memory never stalls. With ``--ready-probability`` < 1 (or memory stalls,
:attr:`~oxbnn.testbenches.stimulus.LayerRun.stalls`) the XPU waits for the host, so the
prediction is a **lower bound**: the report sets ``cycles_predicted_is_bound`` and
``cycles_match`` then means "measured >= bound", and the summary says ``(lower bound: met)``.
Without stalls ``cycles_match`` means "measured == predicted" (summary ``(equal)``). The exit
status is 1 exactly when the check fails: with ideal optics an output differs from the golden
model; without stalls the count (or a strobe) differs from the cycle model; with stalls the
count is below the bound (the scoreboard's problems,
:func:`oxbnn.testbenches.scoreboard.check_layer`, of which ``cycles_match`` is the cycle part).

Options are range-checked while parsing (:mod:`oxbnn.tools.options`), so nothing out of range
reaches the simulator: ``--seed`` 0 .. 2**63 - 1, ``--ready-probability`` in (0, 1],
``--mem-latency`` 1 .. :data:`MAX_MEM_LATENCY`, ``--mem-cycles-per-word`` 1 ..
:data:`MAX_MEM_CYCLES_PER_WORD`, ``--waves-from``/``--waves-to`` 0 .. 2**62 with from <= to and
at most :data:`MAX_WAVES_CYCLES` cycles traced (checked before the layer file is read), and
``--name`` a plain folder name.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..models import bnn
from ..models.atomic import save_npy, write_text
from ..models.bounds import layer_lower_bound
from ..models.configs import XpuParams
from ..models.derive import xpu_params
from ..models.layer import LayerSpec
from ..models.layer_io import LayerData, load_layer_file
from ..models.timing import DATAFLOW_CHOICES, WALK_CHOICES, MemoryModel, layer_cycles
from ..models.workloads import NETWORKS
from .options import (
    MAX_CYCLE,
    add_json,
    add_out,
    add_preset,
    add_seed,
    add_sim,
    int_range,
    probability,
    run_name,
)
from .versions import tool_versions

#: The largest ``--mem-latency``: 10**5 cycles (2 us at 50 GHz, far beyond a DRAM's ~100 ns).
MAX_MEM_LATENCY = 100_000
#: The largest ``--mem-cycles-per-word``: 10**4 cycles between consecutive words.
MAX_MEM_CYCLES_PER_WORD = 10_000
#: The most cycles ``--waves`` traces (the trace is held in memory and written as one VCD).
MAX_WAVES_CYCLES = 1_000_000

#: The built-in layer: VGG-small's third convolution (see models/workloads.py).
DEFAULT_LAYER = LayerSpec(
    kind="conv",
    height=16,
    width=16,
    in_channels=128,
    out_channels=256,
    kernel_h=3,
    kernel_w=3,
    stride=1,
    padding=1,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sim",
        help="run one layer through the cycle-accurate co-simulation",
        description="Run one layer on the XPU RTL (cocotb + Verilator or Icarus) with the "
        "optical models in the loop; check it against the golden BNN and the cycle model.",
    )
    add_preset(p)
    p.add_argument(
        "--layer",
        type=Path,
        default=None,
        help="layer .npz (format in the README); default: a built-in VGG-small layer",
    )
    p.add_argument(
        "--network",
        choices=sorted(NETWORKS),
        default=None,
        help="instead of one layer: the busiest XPU's share of every layer of this network on "
        "the accelerator of --preset, as the system model deals it out (make sim-resnet18)",
    )
    p.add_argument("--optics", choices=["ideal", "physical"], default="ideal")
    add_seed(p)
    add_sim(p)
    p.add_argument(
        "--name",
        type=run_name,
        default=None,
        help="run name, a folder under --out (default: from the layer and preset)",
    )
    add_out(p, "sim")
    p.add_argument("--waves", action="store_true", help="write a VCD of the XPU's ports")
    p.add_argument(
        "--waves-from",
        type=int_range(0, MAX_CYCLE),
        default=0,
        metavar="CYCLE",
        help="first cycle traced (default 0)",
    )
    p.add_argument(
        "--waves-to",
        type=int_range(0, MAX_CYCLE),
        default=20_000,
        metavar="CYCLE",
        help=f"last cycle traced, >= --waves-from (default 20000; at most {MAX_WAVES_CYCLES} "
        "cycles are traced)",
    )
    p.add_argument(
        "--ready-probability",
        type=probability,
        default=1.0,
        metavar="P",
        help="probability the host takes a result in a cycle, 0 < P <= 1 (default 1; below 1 "
        "the cycle model's count is a lower bound)",
    )
    p.add_argument(
        "--mem-latency",
        type=int_range(1, MAX_MEM_LATENCY),
        default=None,
        metavar="CYCLES",
        help=f"external memory latency, 1..{MAX_MEM_LATENCY} cycles (default 1)",
    )
    p.add_argument(
        "--mem-cycles-per-word",
        type=int_range(1, MAX_MEM_CYCLES_PER_WORD),
        default=None,
        metavar="CYCLES",
        help=f"external memory: cycles per N-bit word, 1..{MAX_MEM_CYCLES_PER_WORD} "
        "(default 1 = one word per cycle)",
    )
    p.add_argument(
        "--dataflow",
        choices=DATAFLOW_CHOICES,
        default="auto",
        help="the host's dataflow for the layer: auto (default: the one the cycle model counts "
        "fewer cycles for), or weight_broadcast / activation_broadcast forced",
    )
    p.add_argument(
        "--walk",
        choices=WALK_CHOICES,
        default="auto",
        help="the order of the tile walk: auto (default: the faster by the cycle model), or "
        "bands_outer / weights_outer forced (they differ only with several bands and weight "
        "tiles)",
    )
    add_json(p)
    p.set_defaults(func=run)


def check_waves_window(first: int, last: int) -> None:
    """Refuse a ``--waves-from``/``--waves-to`` window that is reversed or too long."""
    if last < first:
        raise ValueError(f"--waves-to {last} is before --waves-from {first}")
    if last - first + 1 > MAX_WAVES_CYCLES:
        raise ValueError(
            f"--waves-from {first} --waves-to {last} traces {last - first + 1} cycles; "
            f"expected at most {MAX_WAVES_CYCLES}"
        )


def lower_bound_fields(
    spec: LayerSpec, xpu: XpuParams, mem: MemoryModel, cycles: int
) -> dict[str, Any]:
    """The report fields of the lower bound of ``spec`` (module docstring):
    ``cycles_lower_bound``, ``cycles_lower_bound_terms`` and ``efficiency`` of ``cycles``."""
    bound = layer_lower_bound(spec, xpu, mem)
    return {
        "cycles_lower_bound": bound.cycles,
        "cycles_lower_bound_terms": bound.terms,
        "efficiency": bound.efficiency(cycles),
    }


def bound_line(fields: dict[str, Any]) -> str:
    """The text summary's line of :func:`lower_bound_fields`."""
    t = fields["cycles_lower_bound_terms"]
    return (
        f"{fields['cycles_lower_bound']} cycles (compute {t['compute']}, memory {t['memory']}, "
        f"fixed {t['fixed']}): efficiency {fields['efficiency']:.2f}x"
    )


def builtin_layer(seed: int) -> LayerData:
    """The default layer with seeded random bits and thresholds."""
    rng = np.random.default_rng(seed)
    act, w, thr, flip = bnn.random_layer(rng, DEFAULT_LAYER)
    return LayerData(DEFAULT_LAYER, act, w, thr, flip)


def run(args: argparse.Namespace) -> int:
    from ..testbenches.cosim import CosimError

    try:
        if args.network:
            from .sim_network import run_network_share

            return run_network_share(args)
        return _run(args)
    except CosimError as exc:
        print(f"oxbnn sim: error: {exc}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    from ..testbenches.cosim import Cosim
    from ..testbenches.scoreboard import check_layer
    from ..testbenches.stimulus import LayerRun

    check_waves_window(args.waves_from, args.waves_to)
    # Everything that can be wrong with the input is checked before the simulator starts.
    data = load_layer_file(args.layer) if args.layer else builtin_layer(args.seed)
    xpu = xpu_params(args.preset)
    spec = data.spec
    mem_kw: dict[str, int] = {}
    if args.mem_latency is not None:
        mem_kw["latency_cycles"] = args.mem_latency
    if args.mem_cycles_per_word is not None:
        mem_kw["cycles_per_word"] = args.mem_cycles_per_word
    mem = MemoryModel(**mem_kw)
    # Also validates the layer against the buffers (and a forced dataflow against the XPU).
    predicted = layer_cycles(spec, xpu, mem, dataflow=args.dataflow, walk=args.walk)
    name = args.name or (
        f"{args.layer.stem if args.layer else 'vgg_small_conv3'}-"
        f"{xpu.name}-{args.optics}-seed{args.seed}"
    )
    out = args.out / name
    out.mkdir(parents=True, exist_ok=True)

    print(
        f"oxbnn sim: {name}: building the {xpu.n_xpes} x {xpu.n_lanes} XPU with {args.sim} "
        f"(cached after the first time)...",
        file=sys.stderr,
    )
    cosim = Cosim(xpu, sim=args.sim)
    build_s = cosim.build()
    print(
        f"oxbnn sim: simulating {predicted.total} predicted cycles "
        f"({spec.out_channels} filters, K = {spec.k})...",
        file=sys.stderr,
    )
    t0 = time.perf_counter()
    waves = out / "waves.vcd" if args.waves else None
    layer_run = LayerRun(
        spec,
        data.activations,
        data.weights,
        data.thresholds,
        data.flip,
        mem=mem,
        ready_probability=args.ready_probability,
        seed=args.seed,
        name=name,
        dataflow=args.dataflow,
        walk=args.walk,
    )
    [res] = cosim.run(
        [layer_run],
        optics=args.optics,
        preset=args.preset,
        seed=args.seed,
        waves=waves,
        waves_window=(args.waves_from, args.waves_to),
        progress_total=predicted.total,
    )
    wall = time.perf_counter() - t0
    output = res["output"]
    save_npy(out / "outputs.npy", output)
    check = check_layer(xpu, layer_run, res, optics=args.optics)
    verdict = check.cycle_verdict
    report: dict[str, Any] = {
        "name": name,
        "preset": xpu.name,
        "optics": args.optics,
        "seed": args.seed,
        "simulator": args.sim,
        "layer": {k: getattr(spec, k) for k in spec.__dataclass_fields__},
        "k": spec.k,
        "n_lanes": xpu.n_lanes,
        "n_xpes": xpu.n_xpes,
        "gamma": xpu.gamma,
        "reset_dead_slots": xpu.reset_dead_slots,
        "pca_capacitors": xpu.pca_capacitors,
        "symbols_per_cycle": xpu.symbols_per_cycle,
        "clock_hz": xpu.clock_hz,
        "dataflow": predicted.plan.dataflow,
        "walk": "weights_outer" if predicted.plan.weights_outer else "bands_outer",
        "cycles": res["cycles"],
        "cycles_predicted": predicted.total,
        "cycles_predicted_is_bound": verdict.is_bound,
        "cycles_match": verdict.match,
        **lower_bound_fields(spec, xpu, mem, res["cycles"]),
        # Every cycle count of the breakdown (fill, compute, the waits, readout, drain).
        "cycles_breakdown_predicted": {
            f.name: getattr(predicted, f.name)
            for f in dataclasses.fields(predicted)
            if f.name != "total" and type(getattr(predicted, f.name)) is int
        },
        "simulated_time_s": res["cycles"] / xpu.clock_hz,
        "match_golden": check.match_golden,
        "output_errors": check.output_errors,
        "outputs": check.outputs,
        "bit_error_rate": check.bit_error_rate,
        "readouts": len(res["events"]),
        "saturation_events": res["saturation_events"],
        "adc_clip_events": res["clip_events"],
        "result_stall_cycles": res["not_ready_cycles"],
        "wall_s": wall,
        "simulation_wall_s": res["wall_s"],
        "build_s": build_s,
        "cycles_per_s": res["cycles_per_s"],
        "slots_per_s": res["slots_per_s"],
        "outputs_file": str(out / "outputs.npy"),
        "waves_file": str(waves) if waves else None,
        "versions": tool_versions(simulator=args.sim),
    }
    if not write_report(out, report, args.json):
        print(f"oxbnn sim: {name}")
        print(
            f"  layer            {spec.height}x{spec.width}x{spec.in_channels} -> "
            f"{spec.out_channels} ch, {spec.kernel_h}x{spec.kernel_w}/{spec.stride}, "
            f"pad {spec.padding}, K = {spec.k}, output {spec.output}"
            + (", pool" if spec.pool else "")
        )
        print(
            f"  XPU              {xpu.name}: N = {xpu.n_lanes}, M = {xpu.n_xpes}, "
            f"gamma = {xpu.gamma}, clock {xpu.clock_hz / 1e9:g} GHz, "
            f"{predicted.plan.dataflow.replace('_', ' ')}"
        )
        print(
            f"  cycles           {res['cycles']} measured, {predicted.total} predicted "
            f"({verdict.text})"
        )
        print(f"  bound            {bound_line(report)}")
        print(f"  simulated time   {report['simulated_time_s'] * 1e6:.3f} us")
        print(
            f"  golden BNN       {'bit-exact' if report['match_golden'] else 'MISMATCH'} "
            f"({report['output_errors']} of {report['outputs']} outputs differ, "
            f"BER {report['bit_error_rate']:.3g})"
        )
        print(
            f"  speed            {report['cycles_per_s']:.0f} cycles/s, "
            f"{report['slots_per_s']:.0f} slots/s wall ({res['wall_s']:.1f} s; "
            f"build {build_s:.1f} s)"
        )
        print(f"  report           {out / 'report.json'}")
        if waves:
            print(f"  waves            {waves} (+ {waves.with_suffix('.gtkw').name})")
    # The scoreboard's verdict: with ideal optics the outputs must equal the golden model; with
    # either, the cycles and strobes must be the cycle model's (under stalls: not below it).
    return exit_status(check.problems)


def write_report(out: Path, report: dict[str, Any], as_json: bool) -> bool:
    """Write ``out/report.json`` (whole, then renamed) and, with ``--json``, print it; returns
    whether it was printed (else the caller prints its text summary)."""
    write_text(out / "report.json", json.dumps(report, indent=2))
    if as_json:
        print(json.dumps(report, indent=2))
    return as_json


def exit_status(problems: list[str] | tuple[str, ...]) -> int:
    """1 with the first problem on stderr (and how many more), 0 if there is none."""
    if not problems:
        return 0
    more = len(problems) - 1
    print(
        f"oxbnn sim: error: {problems[0]}" + (f" (and {more} more)" if more else ""),
        file=sys.stderr,
    )
    return 1
