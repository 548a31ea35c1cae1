"""``oxbnn export``: write the XPU of one or more presets as Verilog (``make verilog``)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..models.configs import preset_names
from ..models.derive import xpu_params
from ..rtl.export import export, top_name


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="write the XPU of a preset as Verilog (one top module per preset)",
        description="Elaborate the Amaranth XPU with the parameters a preset derives (N and "
        "gamma from its optics) and write OUT/xpu_<preset>.v plus OUT/xpu_<preset>.json, which "
        "describes the parameters and the packing of the struct ports.",
    )
    p.add_argument(
        "--preset",
        action="append",
        help=f"preset name ({', '.join(preset_names())}) or path to a .toml file; repeat for "
        "several (default: every shipped preset)",
    )
    p.add_argument("--out", default="build/verilog", help="output folder (default build/verilog)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    presets = args.preset or preset_names()
    for preset in presets:
        xpu = xpu_params(preset)
        start = time.perf_counter()
        path = export(xpu, Path(args.out))
        elapsed = time.perf_counter() - start
        print(
            f"{top_name(xpu)}: N = {xpu.n_lanes}, M = {xpu.n_xpes}, gamma = {xpu.gamma}, "
            f"{path} ({path.stat().st_size / 1e6:.1f} MB, {elapsed:.1f} s)"
        )
    return 0
