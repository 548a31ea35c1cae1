"""``oxbnn export``: write the XPU of one preset as Verilog (``make verilog`` runs it per preset).

One preset per call, like every command's ``--preset`` (:mod:`oxbnn.tools.options`).
"""

from __future__ import annotations

import argparse
import time

from ..models.derive import xpu_params
from ..rtl.export import export, top_name
from .options import add_out, add_preset


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="write the XPU of a preset as Verilog (one top module per preset)",
        description="Elaborate the Amaranth XPU with the parameters a preset derives (N and "
        "gamma from its optics) and write OUT/xpu_<preset>.v plus OUT/xpu_<preset>.json, which "
        "describes the parameters and the packing of the struct ports.",
    )
    add_preset(p)
    add_out(p, "export")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    xpu = xpu_params(args.preset)
    start = time.perf_counter()
    path = export(xpu, args.out)
    elapsed = time.perf_counter() - start
    print(
        f"{top_name(xpu)}: N = {xpu.n_lanes}, M = {xpu.n_xpes}, gamma = {xpu.gamma}, "
        f"{path} ({path.stat().st_size / 1e6:.1f} MB, {elapsed:.1f} s)"
    )
    return 0
