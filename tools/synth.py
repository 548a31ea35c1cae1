"""Generic gate-level synthesis of the exported XPU with yosys: cell and flip-flop counts.

``python -m oxbnn.tools.synth --preset oxbnn50`` (``make synth``) exports the preset's XPU,
runs Debian's yosys (``synth`` up to the ``fine`` stage, then techmap and ``abc -fast`` to the
generic gate library) and prints ``stat``'s cell count, the flip-flops among them and the
memories.

The tile buffers, the threshold memory and the result FIFO are kept as ``$mem_v2`` macros
(they would be SRAM macros in a chip): mapping the activation buffer's 3 S M read ports to
flip-flops and multiplexers would give millions of cells and says nothing about the logic. Their
size is reported in bits instead, as the export's JSON gives it
(:func:`oxbnn.rtl.export.memory_bits`).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..models.configs import XpuParams, preset_names
from ..models.derive import xpu_params
from ..rtl.export import export, top_name

__all__ = ["SynthResult", "synthesize", "main"]

SCRIPT = """\
read_verilog {verilog}
synth -flatten -top {top} -run begin:fine
opt -fast -full
opt -full
techmap
opt -fast
abc -fast
opt -fast
tee -o {stat} stat
"""


@dataclass(frozen=True)
class SynthResult:
    """Counts from yosys ``stat`` (generic gates) for one XPU."""

    top: str
    cells: int
    flip_flops: int
    memories: int
    cell_types: dict[str, int]
    seconds: float
    memory_bits: dict[str, int]


def _parse_stat(text: str) -> tuple[int, dict[str, int]]:
    cells = int(re.search(r"Number of cells:\s+(\d+)", text).group(1))
    types = {
        m.group(1): int(m.group(2))
        for m in re.finditer(r"^\s+(\$\S+)\s+(\d+)\s*$", text, re.MULTILINE)
    }
    return cells, types


def synthesize(xpu: XpuParams, out_dir: str | Path, *, yosys: str = "yosys") -> SynthResult:
    """Export ``xpu`` to ``out_dir`` and synthesize it; raises RuntimeError if yosys fails."""
    exe = shutil.which(yosys)
    if exe is None:
        raise RuntimeError(
            f"{yosys!r} not found; install Debian's yosys (apt-get install "
            f"yosys) or pass --yosys PATH"
        )
    out = Path(out_dir)
    verilog = export(xpu, out)
    top = top_name(xpu)
    script = out / f"{top}.ys"
    stat = out / f"{top}.stat.txt"
    log = out / f"{top}.yosys.log"
    script.write_text(SCRIPT.format(verilog=verilog.name, top=top, stat=stat.name))
    start = time.perf_counter()
    proc = subprocess.run(
        [exe, "-q", "-l", log.name, script.name], cwd=out, capture_output=True, text=True
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(
            f"yosys failed (exit {proc.returncode}); see {log}\n{proc.stderr[-2000:]}"
        )
    cells, types = _parse_stat(stat.read_text())
    info = json.loads(verilog.with_suffix(".json").read_text())
    ffs = sum(n for t, n in types.items() if "DFF" in t or "DLATCH" in t)
    return SynthResult(
        top=top,
        cells=cells,
        flip_flops=ffs,
        memories=types.get("$mem_v2", 0),
        cell_types=types,
        seconds=elapsed,
        memory_bits=info["memory_bits"],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m oxbnn.tools.synth",
        description="Synthesize the XPU of a preset with yosys and print cell and flip-flop "
        "counts (memories kept as macros).",
    )
    parser.add_argument(
        "--preset",
        action="append",
        help=f"preset ({', '.join(preset_names())}); repeat for several (default: all)",
    )
    parser.add_argument("--out", default="build/synth", help="work folder (default build/synth)")
    parser.add_argument("--yosys", default="yosys", help="yosys executable")
    args = parser.parse_args(argv)
    status = 0
    for preset in args.preset or preset_names():
        xpu = xpu_params(preset)
        try:
            res = synthesize(xpu, Path(args.out) / xpu.name, yosys=args.yosys)
        except (RuntimeError, ValueError) as exc:
            print(f"synth {preset}: error: {exc}", file=sys.stderr)
            status = 2
            continue
        print(
            f"{res.top} (N = {xpu.n_lanes}, M = {xpu.n_xpes}, gamma = {xpu.gamma}): "
            f"{res.cells} cells, {res.flip_flops} flip-flops, {res.memories} memory macros "
            f"(yosys {res.seconds:.0f} s)"
        )
        for name, bits in res.memory_bits.items():
            print(f"    {name}: {bits} bits")
        for cell, count in sorted(res.cell_types.items()):
            print(f"    {cell:<16} {count}")
    return status


if __name__ == "__main__":
    sys.exit(main())
