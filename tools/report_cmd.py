"""``oxbnn report``: the full-network comparison of the accelerators, with the paper beside it.

A thin command: it evaluates every network on every accelerator with :mod:`oxbnn.models.system`,
takes the ratios, the paper's claims and the explanations of the differences from
:mod:`oxbnn.models.comparison`, and writes, under ``--out`` (default ``build/report``):

``layers.csv``
    One row per layer, accelerator and network: split over the XPUs, busiest XPU's cycles,
    latency terms, what bounds the layer, XNORs, readouts, utilisation and energy per component.
``networks.csv``
    One row per accelerator and network: the clock and S, FPS, FPS/W, FPS/W/mm^2, latency,
    cycles, energy per frame (total and per component, ``serdes`` the serializers), power, area
    (per component), utilisation; plus the FPS and FPS/W the same design would reach if its
    readout kept up with the RTL (``*_no_readout_bound``), at S = 1 (``*_s1_idealisation``) and
    with every XPU run timed from an empty XPU, without layer chaining (``*_no_chaining``).
``comparison.csv``
    FPS and FPS/W of every accelerator per network, and their geometric means over the networks.
``ratios.csv``
    Every OXBNN configuration over every baseline (and over all of them): geometric-mean FPS and
    FPS/W ratios, beside the paper's claims; and every OXBNN configuration as configured over its
    own S = 1 idealisation (how the realistic clock changes FPS and FPS/W).
``coefficients.csv``
    Every coefficient of every preset (system presets, and the optics preset of an OXBNN one) with
    its value, unit and source.
``fps.png``, ``fps_per_w.png``, ``energy_breakdown.png``
    FPS and FPS/W on log scales; energy per frame stacked by component.
``report.json``
    ``{"results": {accelerator label: {network: {"fps", "fps_per_w", "energy_per_frame_J",
    "power_W", "area_mm2", "utilization", "cycles", ...}}}, "ratios": ..., "paper": ...,
    "configuration": ..., "units": ..., "versions": ...}`` (SI units, utilisation as a fraction);
    ``--json`` also prints it.
``summary.md``
    Configurations (with each one's clock and S), the FPS and FPS/W table, the realistic clock
    against the S = 1 idealisation, the paper's claims (62x FPS, 7.6x FPS/W, geometric mean over
    ROBIN and LightBulb) beside ours with a sentence per difference, tool versions and the
    coefficients' sources.

**The S = 1 idealisation** (decision: always evaluated, no flag; it costs one more pass of the
system model, whose cycle counts are cached). Every accelerator is evaluated as its preset
configures it (its S, clock ``bit_rate / S``, serializers when S > 1) and as
:func:`oxbnn.models.system_preset.s1_idealisation` of it (S = 1: the clock at the slot rate, no
serializers), and the report gives the geometric-mean ratio configured / idealised of FPS and
FPS/W. A preset already at S = 1 is its own idealisation (ratio 1) and is labelled so.

Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import json
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ..models import system
from ..models.atomic import atomic_open, write_text
from ..models.comparison import PAPER, explanations, geomean, idealisation_ratios, ratios
from ..models.configs import load_preset
from ..models.energy import (
    AREA_COMPONENTS,
    COMPONENTS,
    area_m2,
    energy_per_readout_J,
    static_power_W,
)
from ..models.mapping import AcceleratorModel, accelerator_model
from ..models.serdes import serializer, serializers_per_xpu
from ..models.system import NetworkResult
from ..models.system_preset import (
    ACCELERATORS,
    S1_LABEL,
    s1_idealisation,
    system_preset_names,
)
from ..models.workloads import NETWORKS, Network, get_network, read_workload_csv
from .optics_cmd import save_png
from .options import add_json, add_out

__all__ = ["UNITS", "register", "run", "write_report"]

#: Units of the JSON figures.
UNITS = {
    "fps": "1/s (frames per second, batch 1)",
    "fps_per_w": "1/J (frames per second per watt)",
    "fps_per_w_per_mm2": "1/(J mm^2)",
    "energy_per_frame_J": "J",
    "power_W": "W (average over the frame)",
    "area_mm2": "mm^2",
    "utilization": "fraction of the optical peak X*M*N*bit_rate XNOR/s over the frame",
    "cycles": "clock cycles of the frame latency at clock_hz",
    "latency_s": "s",
    "xpu_cycles": "sum over compute layers of the busiest XPU's cycles (models/timing)",
    "clock_hz": "Hz (clock of the cycle counts: bit rate / S, S slots per lane per cycle)",
    "symbols_per_cycle": "S, slots per lane per clock cycle (1: the S = 1 idealisation)",
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="full-network FPS, power, energy and area of the accelerators, beside the paper",
        description="Evaluate BNNs on OXBNN_50, OXBNN_5, ROBIN_EO, ROBIN_PO and LIGHTBULB (or the "
        "given system presets) and write CSV tables, PNG charts, report.json and summary.md "
        "under OUT.",
    )
    p.add_argument(
        "--accelerators",
        nargs="+",
        default=list(ACCELERATORS),
        metavar="NAME",
        help=f"system presets: names ({', '.join(system_preset_names())}) or .toml "
        f"paths (default: all five)",
    )
    p.add_argument(
        "--networks",
        nargs="+",
        default=None,
        metavar="NAME",
        help=f"built-in networks ({', '.join(NETWORKS)}); default: all four, or none when "
        f"--workload-csv is given",
    )
    p.add_argument(
        "--workload-csv",
        action="append",
        default=[],
        metavar="FILE",
        help="also evaluate a network from a file in the authors' layer-CSV format (repeatable)",
    )
    add_json(p)
    add_out(p, "report")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG charts")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    networks: list[Network] = [read_workload_csv(f) for f in args.workload_csv]
    names = args.networks if args.networks is not None else ([] if networks else list(NETWORKS))
    networks = [get_network(n) for n in names] + networks
    if not networks:
        raise ValueError("no network to evaluate: give --networks or --workload-csv")
    # Results are keyed by network name and by accelerator name and label: a second entry
    # with the same key would silently replace the first, so each must be given once.
    seen: dict[str, str] = {}
    for net, given in zip(networks, [*names, *args.workload_csv], strict=True):
        if net.name in seen:
            raise ValueError(
                f"--networks/--workload-csv: network {net.name!r} is given twice "
                f"({seen[net.name]} and {given}); give each network once"
            )
        seen[net.name] = given
    models = [accelerator_model(a) for a in args.accelerators]
    for key in ("name", "label"):
        first: dict[str, str] = {}
        for m, given in zip(models, args.accelerators, strict=True):
            value = getattr(m, key)
            if value in first:
                raise ValueError(
                    f"--accelerators: {first[value]} and {given} are the same accelerator "
                    f"({key} {value!r}); give each accelerator once"
                )
            first[value] = given
    data = write_report(models, networks, Path(args.out), plots=not args.no_plots)
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        print(f"oxbnn report: wrote {args.out}/summary.md and its tables", file=sys.stderr)
    return 0


# ----------------------------------------------------------------------------------------------
# Evaluation and tables
# ----------------------------------------------------------------------------------------------


def _progress(done: int, total: int, label: str, network: str) -> None:
    print(f"[{done + 1}/{total}] {label}: {network}", file=sys.stderr, flush=True)


def write_report(
    models: Sequence[AcceleratorModel],
    networks: Sequence[Network],
    out: Path,
    *,
    plots: bool = True,
) -> dict[str, Any]:
    """Evaluate, write every file under ``out`` and return the JSON document."""
    out.mkdir(parents=True, exist_ok=True)
    results = system.evaluate(models, networks, progress=_progress)
    print("what-if without the readout-rate bound ...", file=sys.stderr, flush=True)
    unbound = system.evaluate(models, networks, readout_bound=False)
    print("what-if without layer chaining ...", file=sys.stderr, flush=True)
    unchained = system.evaluate(models, networks, chaining=False)
    print("S = 1 idealisation ...", file=sys.stderr, flush=True)
    ideal = system.evaluate(
        [accelerator_model(s1_idealisation(m.preset)) for m in models], networks
    )
    by_label = {m.label: results[m.name] for m in models}
    unbound_by_label = {m.label: unbound[m.name] for m in models}
    ideal_by_label = {m.label: ideal[m.name] for m in models}
    net_names = [n.name for n in networks]
    figures = ratios(models, by_label, net_names)
    figures["s1_idealisation"] = idealisation_ratios(models, by_label, ideal_by_label, net_names)
    data = {
        "results": {
            label: {net: r.summary() for net, r in row.items()} for label, row in by_label.items()
        },
        "no_readout_bound": {
            label: {net: {"fps": r.fps, "fps_per_w": r.fps_per_w} for net, r in row.items()}
            for label, row in unbound_by_label.items()
        },
        "no_chaining": {
            m.label: {
                net: {"fps": r.fps, "fps_per_w": r.fps_per_w, "xpu_cycles": r.xpu_cycles}
                for net, r in unchained[m.name].items()
            }
            for m in models
        },
        "s1_idealisation": {
            label: {
                net: {
                    "fps": r.fps,
                    "fps_per_w": r.fps_per_w,
                    "energy_per_frame_J": r.energy_per_frame_J,
                    "clock_hz": r.clock_hz,
                    "symbols_per_cycle": r.symbols_per_cycle,
                }
                for net, r in row.items()
            }
            for label, row in ideal_by_label.items()
        },
        "ratios": figures,
        "paper": PAPER,
        "configuration": {m.label: _configuration(m) for m in models},
        "networks": {n.name: n.definition for n in networks},
        "units": UNITS,
        "versions": _versions(),
    }
    _write_layers(out / "layers.csv", models, results)
    _write_networks(out / "networks.csv", models, results, unbound, ideal, unchained)
    _write_comparison(out / "comparison.csv", models, by_label, net_names)
    _write_ratios(out / "ratios.csv", figures)
    _write_coefficients(out / "coefficients.csv", models)
    write_text(out / "report.json", json.dumps(data, indent=2) + "\n")
    if plots:
        _plots(out, models, by_label, net_names)
    write_text(
        out / "summary.md",
        _summary(
            models, networks, by_label, unbound_by_label, ideal_by_label, figures, data, plots
        ),
    )
    return data


def _configuration(m: AcceleratorModel) -> dict[str, Any]:
    ser = serializer(m)
    return {
        "preset": m.name,
        "preset_file": str(m.preset.path),
        "optics_preset": m.preset.optics_preset or None,
        "description": m.preset.description,
        "n_lanes": m.xpu.n_lanes,
        "n_xpes": m.xpu.n_xpes,
        "n_xpus": m.n_xpus,
        "bit_rate_bps": m.xpu.bit_rate_bps,
        "gamma": m.xpu.gamma,
        "symbols_per_cycle": m.xpu.symbols_per_cycle,
        "clock_hz": m.clock_hz,
        "target_node_nm": m.preset.architecture.target_node_nm,
        "serializers": m.n_xpus * serializers_per_xpu(m),
        "serializer_latency_cycles": ser.latency_cycles,
        "serializer_energy_per_bit_J": ser.energy_per_bit_J,
        "serializer_area_m2": ser.area_m2,
        "readout_rate_Sps": m.readout_rate_Sps,
        "energy_per_readout_J": energy_per_readout_J(m),
        "peak_xnor_per_s": m.peak_xnor_per_s,
        "memory_latency_cycles": m.memory.latency_cycles,
        "memory_cycles_per_full_word": m.memory.cycles_per_word,
        "static_power_W": sum(static_power_W(m).values()),
        "area_mm2": sum(area_m2(m).values()) * 1e6,
    }


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def _write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    with atomic_open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        for row in rows:
            w.writerow([_fmt(v) if isinstance(v, float) else v for v in row])


def _write_layers(
    path: Path, models: Sequence[AcceleratorModel], results: dict[str, dict[str, NetworkResult]]
) -> None:
    header = [
        "accelerator",
        "network",
        "layer",
        "kind",
        "repeat",
        "split",
        "busy_xpus",
        "xpu_cycles",
        "clock_Hz",
        "fill_cycles",
        "compute_cycles",
        "load_wait_cycles",
        "xpu_time_s",
        "readout_bound_s",
        "writeback_s",
        "electronic_s",
        "latency_s",
        "bound",
        "xnor_ops",
        "readouts",
        "outputs",
        "serialized_bits",
        "utilization_pct",
        "energy_J",
        *[f"energy_{c}_J" for c in COMPONENTS],
    ]
    rows = []
    for m in models:
        static = static_power_W(m)
        for net, res in results[m.name].items():
            for layer in res.layers:
                energy = layer.energy_J(static)
                parts = layer.cycle_parts
                rows.append(
                    [
                        m.label,
                        net,
                        layer.name,
                        layer.kind,
                        layer.repeat,
                        layer.share.describe() if layer.share else "",
                        layer.share.busy_xpus if layer.share else m.n_xpus,
                        layer.xpu_cycles,
                        m.clock_hz,
                        parts.get("fill", 0),
                        parts.get("compute", 0),
                        parts.get("load", 0),
                        layer.xpu_s,
                        layer.readout_s,
                        layer.writeback_s,
                        layer.electronic_s,
                        layer.seconds,
                        layer.bound,
                        layer.xnors,
                        layer.readouts,
                        layer.outputs,
                        layer.serialized_bits,
                        100 * layer.utilization,
                        sum(energy.values()),
                        *[energy[c] for c in COMPONENTS],
                    ]
                )
    _write_csv(path, header, rows)


def _write_networks(
    path: Path,
    models: Sequence[AcceleratorModel],
    results: dict[str, dict[str, NetworkResult]],
    unbound: dict[str, dict[str, NetworkResult]],
    ideal: dict[str, dict[str, NetworkResult]],
    unchained: dict[str, dict[str, NetworkResult]],
) -> None:
    header = [
        "accelerator",
        "network",
        "clock_Hz",
        "symbols_per_cycle",
        "latency_s",
        "cycles",
        "xpu_cycles",
        "fps",
        "fps_per_W",
        "fps_per_W_per_mm2",
        "energy_per_frame_J",
        "power_W",
        "static_power_W",
        "area_mm2",
        "utilization_pct",
        "xnor_ops",
        "readouts",
        "fps_no_readout_bound",
        "fps_per_W_no_readout_bound",
        "serialized_bits",
        "fps_s1_idealisation",
        "fps_per_W_s1_idealisation",
        "fps_no_chaining",
        "xpu_cycles_no_chaining",
        *[f"energy_{c}_J" for c in COMPONENTS],
        *[f"area_{c}_mm2" for c in AREA_COMPONENTS],
    ]
    rows = []
    for m in models:
        for net, r in results[m.name].items():
            u = unbound[m.name][net]
            i = ideal[m.name][net]
            c = unchained[m.name][net]
            rows.append(
                [
                    m.label,
                    net,
                    r.clock_hz,
                    r.symbols_per_cycle,
                    r.latency_s,
                    r.cycles,
                    r.xpu_cycles,
                    r.fps,
                    r.fps_per_w,
                    r.fps_per_w_per_mm2,
                    r.energy_per_frame_J,
                    r.power_W,
                    sum(r.static_power_W.values()),
                    r.area_mm2,
                    100 * r.utilization,
                    r.xnors,
                    r.readouts,
                    u.fps,
                    u.fps_per_w,
                    r.serialized_bits,
                    i.fps,
                    i.fps_per_w,
                    c.fps,
                    c.xpu_cycles,
                    *[r.energy_J[k] for k in COMPONENTS],
                    *[r.area_m2[c] * 1e6 for c in AREA_COMPONENTS],
                ]
            )
    _write_csv(path, header, rows)


def _write_comparison(
    path: Path,
    models: Sequence[AcceleratorModel],
    by_label: dict[str, dict[str, NetworkResult]],
    nets: Sequence[str],
) -> None:
    labels = [m.label for m in models]
    header = ["network", *[f"fps_{x}" for x in labels], *[f"fps_per_W_{x}" for x in labels]]
    rows: list[list[Any]] = []
    for n in nets:
        rows.append(
            [
                n,
                *[by_label[x][n].fps for x in labels],
                *[by_label[x][n].fps_per_w for x in labels],
            ]
        )
    rows.append(
        [
            "geomean",
            *[geomean(by_label[x][n].fps for n in nets) for x in labels],
            *[geomean(by_label[x][n].fps_per_w for n in nets) for x in labels],
        ]
    )
    _write_csv(path, header, rows)


def _write_ratios(path: Path, ratios: dict[str, Any]) -> None:
    rows: list[list[Any]] = []
    for o, row in ratios["pairs"].items():
        for b, r in row.items():
            rows.append([o, b, r["fps"], r["fps_per_w"]])
    for o, r in ratios["over_all_baselines"].items():
        rows.append([o, "all baselines", r["fps"], r["fps_per_w"]])
    for o, r in ratios.get("s1_idealisation", {}).items():
        if r["family"] == "oxbnn":
            rows.append([o, o + S1_LABEL, r["fps"], r["fps_per_w"]])
    rows.append(
        ["paper (up to)", "ROBIN and LightBulb", PAPER["fps_ratio"], PAPER["fps_per_w_ratio"]]
    )
    _write_csv(path, ["oxbnn", "baseline", "fps_ratio_geomean", "fps_per_W_ratio_geomean"], rows)


def _write_coefficients(path: Path, models: Sequence[AcceleratorModel]) -> None:
    rows = []
    for m in models:
        for c in m.preset.coefficients():
            rows.append([m.label, str(m.preset.path), c["key"], c["value"], c["unit"], c["source"]])
        if m.preset.optics_preset:
            optics = load_preset(m.preset.optics_preset)
            for c in optics.coefficients():
                rows.append(
                    [m.label, str(optics.path), f"optics.{c['key']}", c["value"], c["unit"],
                     c["source"]]
                )  # fmt: skip
    _write_csv(path, ["accelerator", "file", "key", "value", "unit", "source"], rows)


# ----------------------------------------------------------------------------------------------
# Charts
# ----------------------------------------------------------------------------------------------


def _plots(
    out: Path,
    models: Sequence[AcceleratorModel],
    by_label: dict[str, dict[str, NetworkResult]],
    nets: Sequence[str],
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [m.label for m in models]
    width = 0.8 / len(labels)
    for metric, ylabel, fname in (
        ("fps", "frames per second [1/s] (log scale)", "fps.png"),
        ("fps_per_w", "FPS/W [1/J] (log scale)", "fps_per_w.png"),
    ):
        fig, ax = plt.subplots(figsize=(9, 4.5))
        for i, label in enumerate(labels):
            xs = [j + (i - (len(labels) - 1) / 2) * width for j in range(len(nets))]
            ax.bar(xs, [getattr(by_label[label][n], metric) for n in nets], width, label=label)
        ax.set_yscale("log")
        ax.set_xticks(range(len(nets)), nets)
        ax.set_ylabel(ylabel)
        ax.set_title(f"{'FPS' if metric == 'fps' else 'FPS/W'} per network (batch 1)")
        ax.legend(fontsize=8, ncol=len(labels), loc="upper center", bbox_to_anchor=(0.5, -0.08))
        ax.grid(axis="y", which="both", alpha=0.3)
        fig.tight_layout()
        save_png(fig, out / fname)
        plt.close(fig)

    cols = min(2, len(nets))
    rows = -(-len(nets) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6 * cols, 3.8 * rows), squeeze=False)
    cmap = plt.get_cmap("tab20")
    for k, n in enumerate(nets):
        ax = axes[k // cols][k % cols]
        bottom = [0.0] * len(labels)
        for ci, c in enumerate(COMPONENTS):
            vals = [by_label[x][n].energy_J[c] * 1e3 for x in labels]
            ax.bar(labels, vals, bottom=bottom, color=cmap(ci), label=c)
            bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
        ax.set_title(n)
        ax.set_ylabel("energy per frame [mJ]")
        ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    for k in range(len(nets), rows * cols):
        axes[k // cols][k % cols].axis("off")
    handles, names = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=6, fontsize=8)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    save_png(fig, out / "energy_breakdown.png")
    plt.close(fig)


# ----------------------------------------------------------------------------------------------
# summary.md
# ----------------------------------------------------------------------------------------------


def _versions() -> dict[str, str]:
    from .versions import tool_versions

    out = tool_versions(("oxbnn", "numpy", "matplotlib"))
    try:
        root = Path(__file__).resolve().parent.parent
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
            timeout=5, check=False,
        )  # fmt: skip
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True,
            timeout=5, check=False,
        )  # fmt: skip
        if rev.returncode == 0:
            out["git"] = rev.stdout.strip() + (" (working tree modified)" if dirty.stdout else "")
    except (OSError, subprocess.SubprocessError):
        pass
    out["generated"] = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return out


def _sig(x: float, digits: int = 3) -> str:
    return f"{x:.{digits}g}"


def _summary(
    models: Sequence[AcceleratorModel],
    networks: Sequence[Network],
    by_label: dict[str, dict[str, NetworkResult]],
    unbound: dict[str, dict[str, NetworkResult]],
    ideal: dict[str, dict[str, NetworkResult]],
    ratios: dict[str, Any],
    data: dict[str, Any],
    plots: bool,
) -> str:
    labels = [m.label for m in models]
    nets = [n.name for n in networks]
    lines = [
        "# oxbnn report: full-network FPS, power, energy and area",
        "",
        "Batch 1, one frame per network, every layer binary (as in the authors' evaluation). "
        "Latency of every compute layer from `models/timing` (the cycle model the RTL confirms) "
        "at each configuration's clock; power, energy and area from the coefficients listed at "
        "the end, each with its unit and source. Model: `oxbnn.models.system` (its docstring "
        "states the mapping, every latency term and every energy term). The model is "
        "deterministic (no random draws, so no seed); units are in every column name.",
        "",
        "## Configurations",
        "",
        "| accelerator | N | M | X | bit rate [Gb/s] | gamma | S | clock [GHz] | serializers | "
        "readout rate per XPE [GS/s] | energy per readout [pJ] | peak [XNOR/s] | static power "
        "[W] | area [mm^2] |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m in models:
        c = data["configuration"][m.label]
        s = c["symbols_per_cycle"]
        lines.append(
            f"| {m.label} | {c['n_lanes']} | {c['n_xpes']} | {c['n_xpus']} | "
            f"{c['bit_rate_bps'] / 1e9:g} | {c['gamma']} | "
            f"{s}{' (S = 1 idealisation)' if s == 1 else ''} | {c['clock_hz'] / 1e9:g} | "
            f"{c['serializers']} | {c['readout_rate_Sps'] / 1e9:g} | "
            f"{c['energy_per_readout_J'] * 1e12:.3g} | {c['peak_xnor_per_s']:.3g} | "
            f"{c['static_power_W']:.4g} | {c['area_mm2']:.4g} |"
        )
    lines += [
        "",
        "Every time figure (latency, cycles, FPS) is at the accelerator's clock above, bit rate / "
        "S. S = 1 is the labelled idealisation in which the digital clock runs at the slot rate; "
        "at S > 1 every driven junction has an S:1 serializer (`serdes` in the energy and area "
        "breakdowns; oxbnn.models.serdes).",
        "",
        "Networks:",
        "",
    ]
    lines += [f"- **{n.name}**: {n.definition}" for n in networks]
    lines += ["", "## Results", ""]
    for metric, title, unit in (
        ("fps", "FPS", "1/s"),
        ("fps_per_w", "FPS/W", "1/J"),
    ):
        lines += [
            f"### {title} [{unit}]",
            "",
            "| network | " + " | ".join(labels) + " |",
            "|---|" + "---|" * len(labels),
        ]
        for n in nets:
            lines.append(
                f"| {n} | " + " | ".join(_sig(getattr(by_label[x][n], metric)) for x in labels)
                + " |"
            )  # fmt: skip
        means = [geomean(getattr(by_label[x][n], metric) for n in nets) for x in labels]
        lines.append("| **geomean** | " + " | ".join(_sig(v) for v in means) + " |")
        lines.append("")
    lines += [
        "### Per network and accelerator",
        "",
        "| accelerator | network | latency [s] | cycles | energy/frame [J] | power [W] | "
        "area [mm^2] | FPS/W/mm^2 [1/(J mm^2)] | utilisation [%] |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for x in labels:
        for n in nets:
            r = by_label[x][n]
            lines.append(
                f"| {x} | {n} | {_sig(r.latency_s)} | {r.cycles} | {_sig(r.energy_per_frame_J)} | "
                f"{_sig(r.power_W)} | {_sig(r.area_mm2)} | {_sig(r.fps_per_w_per_mm2)} | "
                f"{100 * r.utilization:.2f} |"
            )
    lines.append("")
    if plots:
        lines += [
            "Charts: [FPS](fps.png), [FPS/W](fps_per_w.png), "
            "[energy breakdown](energy_breakdown.png).",
            "",
        ]
    lines += _chaining_section(labels, nets, by_label, data["no_chaining"])
    lines += _idealisation_section(models, by_label, ideal, ratios, nets)
    lines += _comparison_section(models, by_label, unbound, ratios, nets)
    lines += [
        "## Tool versions",
        "",
        *[f"- {k}: {v}" for k, v in data["versions"].items()],
        "",
        "## Coefficients and their sources",
        "",
        "Every coefficient of every preset, with its unit and source (also in "
        "`coefficients.csv`; the OXBNN optics presets' physics is listed there too).",
        "",
    ]
    for m in models:
        lines += [
            f"### {m.label} (`{m.preset.path}`)",
            "",
            "| key | value | unit | source |",
            "|---|---|---|---|",
        ]
        for c in m.preset.coefficients():
            source = str(c["source"]).replace("|", "/")
            lines.append(f"| {c['key']} | {c['value']:g} | {c['unit']} | {source} |")
        lines.append("")
    return "\n".join(lines)


def _chaining_section(
    labels: list[str],
    nets: list[str],
    by_label: dict[str, dict[str, NetworkResult]],
    unchained: dict[str, dict[str, dict[str, Any]]],
) -> list[str]:
    """The frame's XPU cycles with layer chaining (the default) against each run timed from an
    empty XPU."""
    lines = [
        "## Layer chaining",
        "",
        "Every XPU runs the frame's jobs through its descriptor queue: a job's thresholds and "
        "first weight tile load while the previous job computes (its activations are the "
        "previous job's outputs, so they still load after it; `oxbnn.models.timing.chain_cycles`, "
        "the schedule the RTL follows). Busiest-XPU cycles per frame, summed over the layers, "
        "at each accelerator's clock:",
        "",
        "| accelerator | network | cycles, chained | cycles, not chained | ratio | FPS gain |",
        "|---|---|---|---|---|---|",
    ]
    for x in labels:
        for n in nets:
            r, u = by_label[x][n], unchained[x][n]
            lines.append(
                f"| {x} | {n} | {r.xpu_cycles} | {u['xpu_cycles']} | "
                f"{r.xpu_cycles / u['xpu_cycles']:.3f} | {r.fps / u['fps']:.3f} |"
            )
    return [*lines, ""]


def _idealisation_section(
    models: Sequence[AcceleratorModel],
    by_label: dict[str, dict[str, NetworkResult]],
    ideal: dict[str, dict[str, NetworkResult]],
    ratios: dict[str, Any],
    nets: Sequence[str],
) -> list[str]:
    """How the realistic clock (each preset's S) changes FPS and FPS/W against S = 1."""
    lines = [
        "## The realistic clock against the S = 1 idealisation",
        "",
        "Each accelerator as configured (its S, clock = bit rate / S, serializers when S > 1) and "
        "at S = 1 (the clock at the slot rate, no serializers); geometric means over the "
        "networks, ratios configured / idealised.",
        "",
        "| accelerator | S | clock [GHz] | clock at S = 1 [GHz] | FPS | FPS at S = 1 | FPS ratio "
        "| FPS/W | FPS/W at S = 1 | FPS/W ratio | serializer energy [%] |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    same, sentences = [], []
    for m in models:
        r = ratios["s1_idealisation"][m.label]
        got, base = by_label[m.label], ideal[m.label]
        fps = geomean(got[n].fps for n in nets)
        fps1 = geomean(base[n].fps for n in nets)
        fpw = geomean(got[n].fps_per_w for n in nets)
        fpw1 = geomean(base[n].fps_per_w for n in nets)
        share = sum(got[n].energy_J["serdes"] / got[n].energy_per_frame_J for n in nets) / len(nets)
        lines.append(
            f"| {m.label} | {r['symbols_per_cycle']} | {r['clock_hz'] / 1e9:g} | "
            f"{r['clock_hz_s1'] / 1e9:g} | {_sig(fps)} | {_sig(fps1)} | {_sig(r['fps'])} | "
            f"{_sig(fpw)} | {_sig(fpw1)} | {_sig(r['fps_per_w'])} | {100 * share:.2f} |"
        )
        if r["symbols_per_cycle"] == 1:
            same.append(m.label)
        else:
            sentences.append(
                f"- **{m.label}** at S = {r['symbols_per_cycle']} ({r['clock_hz'] / 1e9:g} GHz "
                f"instead of {r['clock_hz_s1'] / 1e9:g}) reaches {_sig(r['fps'])}x the FPS and "
                f"{_sig(r['fps_per_w'])}x the FPS/W of its S = 1 idealisation; its serializers "
                f"take {100 * share:.1f} % of its energy per frame on average."
            )
    lines.append("")
    if sentences:
        lines += [*sentences, ""]
    if same:
        lines += [
            f"{', '.join(same)} {'is' if len(same) == 1 else 'are'} configured at S = 1, so "
            f"{'its' if len(same) == 1 else 'their'} two evaluations are the same (ratio 1): "
            "the figures of this report for "
            f"{'it' if len(same) == 1 else 'them'} are those of the idealisation.",
            "",
        ]
    return lines


def _comparison_section(
    models: Sequence[AcceleratorModel],
    by_label: dict[str, dict[str, NetworkResult]],
    unbound: dict[str, dict[str, NetworkResult]],
    ratios: dict[str, Any],
    nets: Sequence[str],
) -> list[str]:
    lines = ["## Against the paper's claims", ""]
    if not ratios["over_all_baselines"]:
        return lines + ["(no OXBNN and baseline configuration both evaluated)", ""]
    lines += [
        f"The paper claims **up to {PAPER['fps_ratio']:g}x FPS and {PAPER['fps_per_w_ratio']:g}x "
        f"FPS/W** (geometric mean over its four BNNs) against ROBIN and LightBulb "
        f"({PAPER['source']}). Ours, geometric means over the networks evaluated here:",
        "",
        "| OXBNN | baseline | FPS ratio | FPS/W ratio |",
        "|---|---|---|---|",
    ]
    for o, row in ratios["pairs"].items():
        for b, r in row.items():
            lines.append(f"| {o} | {b} | {_sig(r['fps'])} | {_sig(r['fps_per_w'])} |")
        r = ratios["over_all_baselines"][o]
        lines.append(f"| {o} | **all baselines** | {_sig(r['fps'])} | {_sig(r['fps_per_w'])} |")
    up = ratios["up_to"]
    lines += [
        f"| paper (up to) | ROBIN and LightBulb | {PAPER['fps_ratio']:g} | "
        f"{PAPER['fps_per_w_ratio']:g} |",
        "",
        f"Our 'up to' figures: **{_sig(up['fps']['ratio'])}x FPS** ({up['fps']['oxbnn']} over "
        f"{up['fps']['baseline']}) against the paper's {PAPER['fps_ratio']:g}x, and "
        f"**{_sig(up['fps_per_w']['ratio'])}x FPS/W** ({up['fps_per_w']['oxbnn']} over "
        f"{up['fps_per_w']['baseline']}) against {PAPER['fps_per_w_ratio']:g}x.",
        "",
        "### Why the numbers differ",
        "",
    ]
    lines += explanations(models, by_label, unbound, nets)
    lines.append("")
    return lines
