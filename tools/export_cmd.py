"""``oxbnn export``: write the XPU of one preset as Verilog (``make verilog`` runs it per preset).

One preset per call, like every command's ``--preset`` (:mod:`oxbnn.tools.options`).
"""

from __future__ import annotations

import argparse
import time

from ..models.chip import ChipParams
from ..models.configs import MAX_XPUS
from ..models.derive import xpu_params
from ..rtl.export import chip_top_name, export, export_chip, top_name
from .options import add_out, add_preset, int_range


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
    add_chip(p)
    p.set_defaults(func=run)


def add_chip(p: argparse.ArgumentParser) -> None:
    """``--chip X`` (a chip of X of the preset's XPUs, rtl/chip.py), ``--gb-depth``,
    ``--gb-ports``: shared by ``oxbnn export`` and ``oxbnn timing``."""
    p.add_argument(
        "--chip",
        type=int_range(1, MAX_XPUS),
        default=None,
        metavar="X",
        help="write a chip of X XPUs sharing a global buffer instead of one XPU",
    )
    p.add_argument(
        "--gb-depth",
        type=int_range(1, 1 << 24),
        default=1 << 14,
        metavar="WORDS",
        help="global buffer words of N bits (with --chip; default 16384)",
    )
    p.add_argument(
        "--gb-ports",
        type=int_range(1, 32),
        default=None,
        metavar="P",
        help="global buffer read ports, at most 2 X (with --chip; default X + 1)",
    )


def chip_params(args: argparse.Namespace, xpu) -> ChipParams | None:
    """The chip the ``--chip`` options ask for (None without ``--chip``)."""
    if args.chip is None:
        return None
    return ChipParams(xpu, args.chip, gb_depth=args.gb_depth, gb_ports=args.gb_ports)


def run(args: argparse.Namespace) -> int:
    xpu = xpu_params(args.preset)
    start = time.perf_counter()
    chip = chip_params(args, xpu)
    if chip is not None:
        path = export_chip(chip, args.out)
        took = time.perf_counter() - start
        print(f"{chip_top_name(chip)}: X = {chip.n_xpus} XPUs, global buffer {chip.gb_depth} "
              f"words x {chip.gb_ports} read ports, {path} "
              f"({path.stat().st_size / 1e6:.1f} MB, {took:.1f} s)")  # fmt: skip
        return 0
    path = export(xpu, args.out)
    elapsed = time.perf_counter() - start
    print(
        f"{top_name(xpu)}: N = {xpu.n_lanes}, M = {xpu.n_xpes}, gamma = {xpu.gamma}, "
        f"{path} ({path.stat().st_size / 1e6:.1f} MB, {elapsed:.1f} s)"
    )
    return 0
