"""``oxbnn timing``: the XPU's clock, measured by synthesis to a real cell library and OpenSTA.

``oxbnn timing --preset P [--xpes m] [--json] [--out DIR]`` (``make timing`` runs both presets)
exports the preset's XPU (:func:`oxbnn.rtl.export.export`), synthesises it with Debian's yosys to
the OSU 0.18 um standard cells (Debian package ``qflow-tech-osu018``, ``osu018_stdcells.lib``),
times it with Debian's OpenSTA (``sta``) and reports the worst register-to-register path in ps
and in FO4 delays of that library. The FO4 is measured on the same liberty file (an inverter
chain, each inverter driving four copies, timed by OpenSTA; :func:`measure_fo4`), never assumed.
The path is converted to the preset's ``[architecture] target_node_nm`` with the delay scaling
of :mod:`oxbnn.models.technology`, which gives the achievable clock ``f_max_hz``; ``clock_hz`` is
the clock the simulator assumes (bit rate / S), and ``clock_closes`` says whether it fits.

The flow (docs/timing.md):

1. yosys ``synth -flatten -top T -run begin:fine`` keeps the memories as ``$mem_v2`` cells; the
   netlist goes to JSON.
2. Memories. A memory whose read ports are all synchronous (the two tile buffers, the threshold
   memory) is an SRAM macro in a chip: it is cut out of the netlist and each of its pins becomes a
   port of the top module (its read data an input, its address, data and enables outputs), timed
   as an ideal registered boundary (input and output delay 0 at the clock edge). The address and
   data widths stay the preset's. Not included: the macro's own access time beyond a flip-flop's
   and its setup; ``worst_from_macro_ps`` tells how much of the cycle the read-data paths leave
   for it. A memory with an asynchronous read port (the result FIFO, a few words) is a register
   file and is mapped to flip-flops and multiplexers (``memory_map``).
3. ``maccmap -unmap`` (multi-operand sums become plain adders: yosys 0.23's own ``maccmap``
   fails an internal assertion, ``count_id(wire->name) == 0``, on some sums with a constant
   term; abc restructures the adders anyway), then ``techmap``, ``dfflibmap`` and ``abc
   -liberty`` with buffering and gate sizing (``buffer; upsize; dnsize``; without buffering the
   fan-out of ``rst`` dominates); every net that still drives more than :data:`MAX_FANOUT` loads
   (flip-flop outputs and ports, which abc does not buffer) gets a buffer tree
   (:func:`_buffer_fanout`); then the clean-up OpenSTA needs (``setundef -zero; splitnets
   -ports; opt_clean -purge; insbuf``).
4. OpenSTA: an ideal clock on ``clk``, every other port registered on the far side (input and
   output delay 0: the host interface, the SerDes and the ADC output registers are outside the
   XPU). The critical path is the period less the worst setup slack, so it includes the
   launching flip-flop's clock-to-Q and the capturing one's setup time. Typical corner, no
   wire load (the library has none and nothing is placed).

Decision (size): ``--xpes m`` synthesises an XPU of ``m`` XPEs with the preset's N, gamma, S,
buffer depths and threshold depth; the per-XPE paths do not depend on M, and the shared control's
fan-out to M XPEs grows as a buffer tree (log M). Measured on oxbnn50 (S = 1): 4 XPEs gave
123.3 FO4, all 19 gave 126.0 FO4 (2 % apart). The JSON's ``synthesised`` records what was built.
``make timing`` synthesises the whole oxbnn50 XPU (94k cells, about 11 min) and 4 of the 53 XPEs
of oxbnn5 (38k cells, about 7 min; the whole one would be about 300k cells).
Results are cached under ``OUT/cache/<hash>/`` by a hash of the Verilog and the flow, so a rerun
is instant.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..models.atomic import write_text
from ..models.chip import ChipParams
from ..models.configs import XpuParams, load_preset
from ..models.derive import xpu_params
from ..models.technology import REFERENCE_NODE_NM, delay_factor, node
from ..rtl.export import chip_top_name, export, export_chip, top_name
from .export_cmd import add_chip
from .options import add_json, add_out, add_preset, int_range

__all__ = [
    "LIBERTY",
    "LIBRARY_NAME",
    "FlowError",
    "Fo4",
    "find_liberty",
    "find_tool",
    "measure_fo4",
    "time_chains",
    "timing_report",
    "register",
    "main",
]

#: The liberty file of the synthesis library, as Debian's qflow-tech-osu018 installs it.
LIBERTY = Path("/usr/share/qflow/tech/osu018/osu018_stdcells.lib")
#: The library's name in reports: OSU 0.18 um standard cells, typical corner, 1.8 V, 25 C.
LIBRARY_NAME = "osu018_stdcells (OSU 0.18 um, typical, 1.8 V, 25 C)"
#: The node of the library, in nm (the delay scaling's reference, models/technology.py).
LIBRARY_NODE_NM = REFERENCE_NODE_NM
#: Flip-flop cells of the library (counted as flip-flops; startpoints and endpoints).
FLIP_FLOPS = ("DFFPOSX1", "DFFNEGX1", "DFFSR", "LATCH")
#: Delay target handed to abc, in ps: far below what the logic reaches, so abc maps for speed.
ABC_TARGET_PS = 1000
#: The clock period of the OpenSTA run, in ns: long enough that every path has positive slack.
STA_PERIOD_NS = 1000.0
#: Most loads a net may drive after synthesis; larger fan-outs get a buffer tree.
MAX_FANOUT = 16
#: The cell of those buffer trees.
FANOUT_BUFFER = "BUFX4"
#: Prefix of the ports that replace the SRAM macros' pins.
MACRO_PREFIX = "macro__"
#: Changes whenever the flow below changes, so cached results of an older flow are not reused.
FLOW_VERSION = "3"
#: Stages of the inverter chain whose arrival times give the FO4 (taps of one chain).
FO4_TAPS = (4, 8, 12, 16, 20)

ABC_SCRIPT = (
    "strash; &get -n; &fraig -x; &put; dc2; strash; &get -n; &dch -f; &nf -D {d}; &put; "
    "buffer; upsize -D {d}; dnsize -D {d}; stime -p\n"
)

SYNTH_FRONT = """\
read_verilog {verilog}
synth -flatten -top {top} -run begin:fine
write_json {json}
"""

SYNTH_BACK = """\
read_liberty -lib {lib}
read_json {json}
hierarchy -top {top}
memory_map
opt -full
maccmap -unmap
techmap
opt -fast
dfflibmap -liberty {lib}
abc -liberty {lib} -D {d} -script {abc}
opt_clean
write_json {mapped}
"""

SYNTH_FINAL = """\
read_json {json}
hierarchy -top {top}
setundef -zero
splitnets -ports -format _
opt_clean -purge
insbuf -buf BUFX2 A Y
rename -enumerate
tee -o {stat} stat -liberty {lib}
write_verilog -noattr -noexpr -nohex -nodec {netlist}
"""


class FlowError(OSError):
    """A tool is missing or failed; the message names the tool and what to do (one line)."""


def find_tool(name: str) -> str:
    """The path of executable ``name``; a :class:`FlowError` naming it and ``make setup``."""
    exe = shutil.which(name)
    if exe is None:
        raise FlowError(
            f"{name!r} not found on PATH; `oxbnn timing` needs Debian's yosys and OpenSTA "
            f"(`sta`, package opensta): run `make setup`"
        )
    return exe


def find_liberty(path: str | Path | None = None) -> Path:
    """The OSU018 liberty file (``path`` or :data:`LIBERTY`); :class:`FlowError` if absent."""
    lib = Path(path) if path else LIBERTY
    if not lib.is_file():
        raise FlowError(
            f"liberty file {str(lib)!r} not found (Debian package qflow-tech-osu018): run "
            f"`make setup`"
        )
    return lib


def _run(cmd: list[str], cwd: Path, tool: str, log: Path) -> str:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    text = proc.stdout + proc.stderr
    write_text(log, text)
    if proc.returncode != 0:
        last = " | ".join(line for line in text.strip().splitlines()[-3:])
        raise FlowError(f"{tool} failed (exit {proc.returncode}); see {log}: {last[-400:]}")
    return text


def _sta(sta: str, script: str, work: Path, name: str) -> str:
    tcl = work / f"{name}.tcl"
    write_text(tcl, script)
    return _run([sta, "-no_init", "-exit", tcl.name], work, "sta (OpenSTA)", work / f"{name}.log")


# ----------------------------------------------------------------------------------------------
# FO4 of the library
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fo4:
    """The FO4 of a liberty file, measured on an inverter chain.

    ``arrivals_ps[k]`` is the arrival time at the output of stage ``k`` (mean of a rising and a
    falling input edge); ``fo4_ps`` is the slope of a least-squares line through them.
    """

    fo4_ps: float
    cell: str
    arrivals_ps: dict[int, float]


def _chain_netlist(stages: int, cell: str, taps: tuple[int, ...]) -> str:
    """``stages`` inverters in a chain, each driving four copies (the next and three loads)."""
    lines = [f"module fo4_chain(a, {', '.join(f't{k}' for k in taps)});", "  input a;"]
    lines += [f"  output t{k};" for k in taps]
    lines += [f"  wire n{i};" for i in range(stages + 1)]
    lines.append("  assign n0 = a;")
    for i in range(stages):
        lines.append(f"  {cell} s{i} (.A(n{i}), .Y(n{i + 1}));")
        if i > 0:  # stage i-1 drives stage i and these three: a fan-out of four
            lines += [f"  {cell} l{i}_{j} (.A(n{i}), .Y());" for j in range(3)]
    lines += [f"  {cell} l{stages}_{j} (.A(n{stages}), .Y());" for j in range(3)]
    lines += [f"  {cell} e{stages} (.A(n{stages}), .Y());"]
    lines += [f"  assign t{k} = n{k};" for k in taps]
    lines.append("endmodule")
    return "\n".join(lines) + "\n"


_ARRIVAL = re.compile(r"^\s*(-?[0-9.]+)\s+data arrival time", re.MULTILINE)


def time_chains(
    taps: tuple[int, ...] = FO4_TAPS,
    *,
    work: str | Path,
    liberty: str | Path | None = None,
    cell: str = "INVX1",
) -> dict[int, float]:
    """Arrival time in ps at stage ``k`` of an FO4 inverter chain, for each ``k`` in ``taps``.

    One chain of ``max(taps)`` stages of ``cell``; every stage drives four copies of ``cell``.
    Each arrival is the mean over a rising and a falling edge at the chain's input (an ideal
    step); the output ports carry no load (``set_load 0``).
    """
    if not taps or min(taps) < 1:
        raise ValueError(f"taps must be stage numbers >= 1, not {taps!r}")
    lib = find_liberty(liberty)
    sta = find_tool("sta")
    out = Path(work)
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "fo4_chain.v", _chain_netlist(max(taps), cell, tuple(taps)))
    lines = [
        f"read_liberty {lib}",
        "read_verilog fo4_chain.v",
        "link_design fo4_chain",
        "create_clock -name vclk -period 1000",
        "set_input_delay 0 -clock vclk [get_ports a]",
        "set_output_delay 0 -clock vclk [all_outputs]",
        "set_load 0 [all_outputs]",
    ]
    for k in taps:
        for edge in ("rise", "fall"):
            lines.append(f'puts "TAP {k} {edge}"')
            lines.append(f"report_checks -{edge}_from [get_ports a] -to [get_ports t{k}] -digits 6")
    text = _sta(sta, "\n".join(lines) + "\n", out, "fo4")
    arrivals: dict[int, list[float]] = {}
    for block in text.split("TAP ")[1:]:
        k = int(block.split()[0])
        m = _ARRIVAL.search(block)
        if m is None:
            raise FlowError(f"sta (OpenSTA) gave no arrival time for stage {k}; see {out}/fo4.log")
        arrivals.setdefault(k, []).append(float(m.group(1)) * 1e3)
    return {k: sum(v) / len(v) for k, v in sorted(arrivals.items())}


def measure_fo4(*, work: str | Path, liberty: str | Path | None = None, cell: str = "INVX1") -> Fo4:
    """The FO4 of the liberty file: slope of the chain's arrival times over :data:`FO4_TAPS`.

    The slope removes the first stage's ideal input edge and the chain's end; rising and
    falling stages alternate, so the slope is the mean of the two.
    """
    arrivals = time_chains(FO4_TAPS, work=work, liberty=liberty, cell=cell)
    ks = list(arrivals)
    mk = sum(ks) / len(ks)
    md = sum(arrivals.values()) / len(ks)
    slope = sum((k - mk) * (arrivals[k] - md) for k in ks) / sum((k - mk) ** 2 for k in ks)
    return Fo4(fo4_ps=slope, cell=cell, arrivals_ps=arrivals)


# ----------------------------------------------------------------------------------------------
# Synthesis
# ----------------------------------------------------------------------------------------------


def _cut_macros(netlist: dict, top: str) -> list[dict]:
    """Cut every memory with only synchronous read ports out of ``top`` (in place).

    Each pin of a cut memory becomes a port ``macro__<memory>__<PIN>`` (read data: an input;
    addresses, data and enables: outputs; constant bits are dropped; clocks stay internal).
    Returns one description per macro.
    """
    module = netlist["modules"][top]
    ports = module["ports"]
    macros = []
    for name, cell in list(module["cells"].items()):
        if cell["type"] != "$mem_v2":
            continue
        p = cell["parameters"]
        if "0" in str(p["RD_CLK_ENABLE"]):
            continue  # an asynchronous read port: a register file, mapped to flip-flops
        del module["cells"][name]
        base = MACRO_PREFIX + re.sub(r"\W", "_", name)
        for pin, bits in cell["connections"].items():
            if pin in ("RD_CLK", "WR_CLK"):
                continue
            if cell["port_directions"][pin] == "output":
                ports[f"{base}__{pin}"] = {"direction": "input", "bits": bits}
            else:
                live = [b for b in dict.fromkeys(bits) if isinstance(b, int)]
                if live:
                    ports[f"{base}__{pin}"] = {"direction": "output", "bits": live}
        macros.append(
            {
                "memory": name,
                "width": int(str(p["WIDTH"]), 2),
                "words": int(str(p["SIZE"]), 2),
                "read_ports": int(str(p["RD_PORTS"]), 2),
                "write_ports": int(str(p["WR_PORTS"]), 2),
            }
        )
    return macros


def _parse_stat(text: str) -> tuple[int, int, float]:
    cells = int(re.search(r"Number of cells:\s+(\d+)", text).group(1))
    ffs = sum(
        int(m.group(2))
        for m in re.finditer(r"^\s+(\w+)\s+(\d+)\s*$", text, re.MULTILINE)
        if m.group(1) in FLIP_FLOPS
    )
    area = re.search(r"Chip area for module .*?:\s+([0-9.]+)", text)
    return cells, ffs, float(area.group(1)) if area else 0.0


def _synthesise(verilog: Path, top: str, work: Path, lib: Path, yosys: str) -> dict:
    """Run the two yosys steps in ``work``; return the synthesis facts (cells, macros, ...)."""
    front = work / "front.ys"
    write_text(front, SYNTH_FRONT.format(verilog=verilog.resolve(), top=top, json="front.json"))
    _run([yosys, "-q", "-l", "front.log", front.name], work, "yosys", work / "front.out")
    netlist = json.loads((work / "front.json").read_text())
    macros = _cut_macros(netlist, top)
    (work / "cut.json").write_text(json.dumps(netlist))
    (work / "front.json").unlink()
    write_text(work / "abc.script", ABC_SCRIPT.format(d=ABC_TARGET_PS))
    back = work / "back.ys"
    write_text(
        back,
        SYNTH_BACK.format(
            json="cut.json",
            top=top,
            lib=lib,
            d=ABC_TARGET_PS,
            abc="abc.script",
            mapped="mapped.json",
        ),
    )
    _run([yosys, "-q", "-l", "back.log", back.name], work, "yosys", work / "back.out")
    (work / "cut.json").unlink()
    mapped = json.loads((work / "mapped.json").read_text())
    buffers = _buffer_fanout(mapped, top)
    (work / "buffered.json").write_text(json.dumps(mapped))
    (work / "mapped.json").unlink()
    final = work / "final.ys"
    write_text(
        final,
        SYNTH_FINAL.format(
            json="buffered.json", top=top, lib=lib, stat="stat.txt", netlist="netlist.v"
        ),
    )
    _run([yosys, "-q", "-l", "final.log", final.name], work, "yosys", work / "final.out")
    (work / "buffered.json").unlink()
    cells, ffs, area = _parse_stat((work / "stat.txt").read_text())
    return {
        "cells": cells,
        "flip_flops": ffs,
        "area_um2": area,
        "macros": macros,
        "fanout_buffers": buffers,
    }


def _buffer_fanout(netlist: dict, top: str) -> int:
    """Split every net with more than :data:`MAX_FANOUT` loads with a tree of buffers (in place).

    abc buffers the nets inside the logic it maps, but not the outputs of flip-flops and input
    ports (its primary inputs): a FIFO read address driving 725 multiplexer inputs from one
    DFFPOSX1 made an 11 ns clock-to-Q. Any physical synthesis repairs such a net; this does the
    simplest repair: the loads in groups of at most :data:`MAX_FANOUT`, one
    :data:`FANOUT_BUFFER` per group, repeated on the buffers until the driver sees at most
    :data:`MAX_FANOUT` loads. The clock net is left alone (the clock is ideal). Returns the
    number of buffers added.
    """
    module = netlist["modules"][top]
    cells = module["cells"]
    clock = set(module["ports"].get("clk", {}).get("bits", []))
    loads: dict[int, list[tuple[str, str, int]]] = {}
    top_loads: dict[int, int] = {}
    for name, cell in cells.items():
        dirs = cell.get("port_directions", {})
        for pin, bits in cell["connections"].items():
            if dirs.get(pin) == "input":
                for i, bit in enumerate(bits):
                    if isinstance(bit, int):
                        loads.setdefault(bit, []).append((name, pin, i))
    for port in module["ports"].values():
        if port["direction"] == "output":
            for bit in port["bits"]:
                if isinstance(bit, int):
                    top_loads[bit] = top_loads.get(bit, 0) + 1
    next_bit = 1 + max(
        [
            b
            for c in cells.values()
            for bits in c["connections"].values()
            for b in bits
            if isinstance(b, int)
        ]
        + [b for p in module["ports"].values() for b in p["bits"] if isinstance(b, int)]
    )
    added = 0
    for net, sinks in loads.items():
        # Output ports stay on the net (they are wires of it); they carry no load in the STA run.
        limit = max(1, MAX_FANOUT - top_loads.get(net, 0))
        if net in clock or len(sinks) <= limit:
            continue
        level = sinks
        while len(level) > limit:
            upper = []
            for start in range(0, len(level), MAX_FANOUT):
                out = next_bit
                next_bit += 1
                name = f"$fanout${added}"
                added += 1
                cells[name] = {
                    "hide_name": 1,
                    "type": FANOUT_BUFFER,
                    "parameters": {},
                    "attributes": {},
                    "port_directions": {"A": "input", "Y": "output"},
                    "connections": {"A": [net], "Y": [out]},
                }
                for cell, pin, i in level[start : start + MAX_FANOUT]:
                    cells[cell]["connections"][pin][i] = out
                upper.append((name, "A", 0))
            level = upper
    return added


# ----------------------------------------------------------------------------------------------
# Static timing analysis
# ----------------------------------------------------------------------------------------------

#: The path groups reported: name -> report_checks selection.
GROUPS = {
    "worst": "",
    "reg_to_reg": "-from [all_registers -clock_pins] -to [all_registers -data_pins]",
    "from_macro": f"-from [get_ports -quiet {MACRO_PREFIX}*]",
    "to_macro": f"-to [get_ports -quiet {MACRO_PREFIX}*]",
    "from_port": "-from $host_in",
    "to_port": "-to $host_out",
}

# Tcl: the ports of a list whose names match none of the glob patterns.
_PORTS_EXCEPT = """\
proc ports_except {ports patterns} {
  set kept {}
  foreach p $ports {
    set drop 0
    foreach pat $patterns { if {[string match $pat [get_full_name $p]]} { set drop 1 } }
    if {!$drop} { lappend kept $p }
  }
  return $kept
}"""


def _parse_path(block: str, registers: dict[str, str]) -> dict | None:
    """One ``report_checks`` path: start, end, critical path (period - slack), cells, nets.

    ``registers`` maps a flip-flop instance to the register bit it holds (its Q net), so start
    and end points are named after RTL registers rather than cell instances.
    """
    slack = re.search(r"^\s*(-?[0-9.]+)\s+slack", block, re.MULTILINE)
    if slack is None:
        return None
    start = re.search(r"Startpoint:\s*(\S+)", block).group(1)
    end = re.search(r"Endpoint:\s*(\S+)", block).group(1)
    arrival = float(_ARRIVAL.search(block).group(1))
    # One line per cell output pin the path leaves: "delay time ^|v inst/PIN (CELL)".
    outputs = re.findall(
        r"^\s+[0-9.]+\s+[0-9.]+\s[v^]\s+(\S+)/(Y|Q|YC|YS)\s+\((\w+)\)", block, re.MULTILINE
    )
    nets = []
    for net in re.findall(r"^\s+(?:\d+\s+)?(\S+) \(net\)", block, re.MULTILINE):
        name = re.sub(r"_\d+$", "", net.lstrip("\\"))
        if not re.fullmatch(r"_\d+_", net) and name not in nets:
            nets.append(name)
    return {
        "critical_path_ps": (STA_PERIOD_NS - float(slack.group(1))) * 1e3,
        "arrival_ps": arrival * 1e3,
        "startpoint": registers.get(start, start),
        "endpoint": registers.get(end, end),
        "cells_on_path": len(outputs),
        "cell_types": sorted({cell for _, _, cell in outputs}),
        "named_nets": nets,
    }


def _registers(netlist: str) -> dict[str, str]:
    """Flip-flop instance -> the register bit it holds (the public net on its Q pin)."""
    names = {}
    kinds = "|".join(FLIP_FLOPS)
    for m in re.finditer(rf"^\s*(?:{kinds})\s+(\S+)\s*\((.*?)\);", netlist, re.M | re.S):
        q = re.search(r"\.Q\(\s*\\?([^\s)]+)\s*\)", m.group(2))
        if q and not re.fullmatch(r"_\d+_", q.group(1)):
            names[m.group(1).lstrip("\\")] = q.group(1)
    return names


def _block(name: str) -> str:
    """The RTL block a register, port or macro pin belongs to (``sequencer``, ``host_if``, ...)."""
    if name.startswith(MACRO_PREFIX):
        return "SRAM macro " + name[len(MACRO_PREFIX) :].split("__")[0]
    if "." not in name:
        return "top-level port" if not re.fullmatch(r"_\d+_", name) else "unnamed register"
    return name.rsplit(".", 1)[0]


def _run_sta(netlist: Path, top: str, lib: Path, sta: str, *, macros: bool) -> dict:
    lines = [
        f"read_liberty {lib}",
        f"read_verilog {netlist.name}",
        f"link_design {top}",
        f"create_clock -name clk -period {STA_PERIOD_NS} [get_ports clk]",
        _PORTS_EXCEPT,
        "set data_in [ports_except [all_inputs] {clk}]",
        "set_input_delay 0 -clock clk $data_in",
        "set_output_delay 0 -clock clk [all_outputs]",
        f"set host_in [ports_except [all_inputs] {{clk {MACRO_PREFIX}*}}]",
        f"set host_out [ports_except [all_outputs] {{{MACRO_PREFIX}*}}]",
    ]
    for group, selection in GROUPS.items():
        if not macros and "macro" in group:
            continue
        lines.append(f'puts "GROUP {group}"')
        lines.append(f"report_checks -path_delay max -digits 4 -fields {{nets}} {selection}")
    text = _sta(sta, "\n".join(lines) + "\n", netlist.parent, "sta")
    registers = _registers(netlist.read_text())
    paths = {}
    for block in text.split("GROUP ")[1:]:
        group = block.split()[0]
        path = _parse_path(block, registers)
        if path is not None:
            path["start_block"] = _block(path["startpoint"])
            path["end_block"] = _block(path["endpoint"])
            paths[group] = path
    if "worst" not in paths:
        raise FlowError(f"sta (OpenSTA) found no timed path in {netlist}; see its sta.log")
    return paths


# ----------------------------------------------------------------------------------------------
# The report
# ----------------------------------------------------------------------------------------------


def _synth_params(xpu: XpuParams, xpes: int | None) -> XpuParams:
    if xpes is None or xpes == xpu.n_xpes:
        return xpu
    if xpes > xpu.n_xpes:
        raise ValueError(f"--xpes {xpes} is more than the preset's M = {xpu.n_xpes} XPEs")
    return xpu.replace(n_xpes=xpes, name=f"{xpu.name}_m{xpes}")


def timing_report(
    preset: str,
    *,
    out: str | Path,
    xpes: int | None = None,
    xpu: XpuParams | None = None,
    liberty: str | Path | None = None,
    progress=None,
    chip: tuple[int, int, int | None] | None = None,
) -> dict:
    """Synthesise and time the XPU of ``preset``; the report as plain data (the JSON's keys).

    ``xpes`` synthesises that many XPEs instead of the preset's M (see the module docstring);
    ``xpu`` replaces the preset's XPU parameters altogether (tests time small XPUs with it),
    while the target node and the clock still come from ``preset``. ``chip`` = ``(X,
    gb_depth, gb_ports)`` synthesises a chip of X such XPUs (:class:`~oxbnn.rtl.chip.Chip`)
    instead of one XPU; its global buffer is a macro like the tile buffers.
    """
    say = progress or (lambda text: None)
    t0 = time.perf_counter()
    loaded = load_preset(preset)
    arch = loaded.architecture
    target = node(arch.target_node_nm, key=f"{loaded.path}: [architecture] target_node_nm")
    preset_xpu = xpu_params(loaded)
    built = _synth_params(xpu or preset_xpu, xpes)
    yosys = find_tool("yosys")
    sta = find_tool("sta")
    lib = find_liberty(liberty)
    root = Path(out)
    chip_p = None if chip is None else ChipParams(built, chip[0], gb_depth=chip[1],
                                                  gb_ports=chip[2])  # fmt: skip
    top = top_name(built) if chip_p is None else chip_top_name(chip_p)

    say(
        f"exporting {top} (N = {built.n_lanes}, M = {built.n_xpes}, gamma = {built.gamma}, "
        f"S = {built.symbols_per_cycle})"
    )
    export_dir = root / "export"
    verilog = export(built, export_dir) if chip_p is None else export_chip(chip_p, export_dir)
    digest = hashlib.sha256()
    for part in (
        verilog.read_bytes(),
        FLOW_VERSION.encode(),
        SYNTH_FRONT.encode(),
        SYNTH_BACK.encode(),
        SYNTH_FINAL.encode(),
        str(MAX_FANOUT).encode(),
        ABC_SCRIPT.encode(),
        str(lib).encode(),
        str(lib.stat().st_size).encode(),
        GROUPS.__repr__().encode(),
    ):
        digest.update(part)
    key = digest.hexdigest()[:16]
    work = root / "cache" / f"{top}-{key}"
    done = work / "result.json"
    cached = done.is_file()
    if cached:
        say(f"cached: {work}")
        result = json.loads(done.read_text())
    else:
        work.mkdir(parents=True, exist_ok=True)
        say(f"synthesising with yosys to {lib.name} (this can take minutes) in {work}")
        t1 = time.perf_counter()
        synth = _synthesise(verilog, top, work, lib, yosys)
        synth["synthesis_seconds"] = time.perf_counter() - t1
        say(
            f"  {synth['cells']} cells, {synth['flip_flops']} flip-flops "
            f"({synth['synthesis_seconds']:.0f} s); static timing with OpenSTA"
        )
        t2 = time.perf_counter()
        paths = _run_sta(work / "netlist.v", top, lib, sta, macros=bool(synth["macros"]))
        synth["sta_seconds"] = time.perf_counter() - t2
        result = {"synthesis": synth, "paths": paths}
        write_text(done, json.dumps(result, indent=2) + "\n")

    fo4 = measure_fo4(work=root / "fo4", liberty=lib)
    worst = result["paths"]["worst"]
    crit_ps = worst["critical_path_ps"]
    crit_fo4 = crit_ps / fo4.fo4_ps
    factor = delay_factor(target.nm)
    fo4_target = fo4.fo4_ps * factor
    f_max = 1.0 / (crit_fo4 * fo4_target * 1e-12)
    clock = preset_xpu.clock_hz
    from_macro = result["paths"].get("from_macro")
    synth = result["synthesis"]
    report = {
        "preset": loaded.name,
        "top": top,
        "critical_path_ps": crit_ps,
        "fo4_ps": fo4.fo4_ps,
        "critical_path_fo4": crit_fo4,
        "library": LIBRARY_NAME,
        "library_node_nm": LIBRARY_NODE_NM,
        "target_node": f"{target.nm} nm",
        "target_node_source": target.source,
        "delay_factor_target": factor,
        "fo4_ps_target": fo4_target,
        "critical_path_ps_target": crit_fo4 * fo4_target,
        "f_max_hz": f_max,
        "symbols_per_cycle": preset_xpu.symbols_per_cycle,
        "bit_rate_bps": preset_xpu.bit_rate_bps,
        "clock_hz": clock,
        "clock_closes": clock <= f_max,
        "startpoint": worst["startpoint"],
        "endpoint": worst["endpoint"],
        "start_block": worst["start_block"],
        "end_block": worst["end_block"],
        "cells_on_path": worst["cells_on_path"],
        "paths": result["paths"],
        "worst_from_macro_ps": from_macro["critical_path_ps"] if from_macro else None,
        "macro_access_budget_ps": (crit_ps - from_macro["critical_path_ps"])
        if from_macro
        else None,
        "cells": synth["cells"],
        "flip_flops": synth["flip_flops"],
        "area_um2": synth["area_um2"],
        "synthesised": {
            "top": top,
            "n_xpus": 1 if chip_p is None else chip_p.n_xpus,
            "n_lanes": built.n_lanes,
            "n_xpes": built.n_xpes,
            "preset_n_xpes": preset_xpu.n_xpes,
            "gamma": built.gamma,
            "symbols_per_cycle": built.symbols_per_cycle,
            "act_buffer_depth": built.act_buffer_depth,
            "wgt_buffer_depth": built.wgt_buffer_depth,
            "max_out_channels": built.max_out_channels,
            "sram_macros_cut_out": synth["macros"],
            "mapped_to_flip_flops": "memories with an asynchronous read port (result FIFO)",
            "not_included": "SRAM macro access and setup times beyond a flip-flop's; wires "
            "(no wire load, no placement); clock skew (ideal clock)",
            "corner": "typical (1.8 V, 25 C)",
        },
        "fo4_arrivals_ps": {str(k): v for k, v in fo4.arrivals_ps.items()},
        "cached": cached,
        "synthesis_seconds": synth.get("synthesis_seconds"),
        "seconds": time.perf_counter() - t0,
    }
    return report


def _summary(r: dict) -> str:
    s = r["synthesised"]
    lines = [
        f"{r['top']}: X = {s.get('n_xpus', 1)} XPU(s) of N = {s['n_lanes']}, "
        f"M = {s['n_xpes']} (preset M = {s['preset_n_xpes']}), "
        f"gamma = {s['gamma']}, S = {s['symbols_per_cycle']}; {r['cells']} cells, "
        f"{r['flip_flops']} flip-flops, {len(s['sram_macros_cut_out'])} SRAM macros cut out",
        f"  library {r['library']}: FO4 = {r['fo4_ps']:.1f} ps (inverter chain, OpenSTA)",
        f"  critical path {r['critical_path_ps']:.0f} ps = {r['critical_path_fo4']:.1f} FO4, "
        f"{r['cells_on_path']} cells, from {r['startpoint']} ({r['start_block']}) to "
        f"{r['endpoint']} ({r['end_block']})",
    ]
    for group in ("reg_to_reg", "from_macro", "to_macro", "from_port", "to_port"):
        p = r["paths"].get(group)
        if p:
            lines.append(
                f"    {group:<10} {p['critical_path_ps']:7.0f} ps  {p['startpoint']} -> "
                f"{p['endpoint']}"
            )
    lines += [
        f"  at {r['target_node']} (delay x {r['delay_factor_target']:.3f} of 180 nm): FO4 = "
        f"{r['fo4_ps_target']:.1f} ps, path {r['critical_path_ps_target']:.0f} ps, "
        f"f_max = {r['f_max_hz'] / 1e9:.2f} GHz (typical corner, no wires)",
        f"  assumed clock: bit rate {r['bit_rate_bps'] / 1e9:g} Gb/s / S = "
        f"{r['symbols_per_cycle']} -> {r['clock_hz'] / 1e9:.3g} GHz: "
        + ("closes" if r["clock_closes"] else "does NOT close")
        + (f"; S >= {_least_s(r)} would, at this path" if not r["clock_closes"] else ""),
        f"  ({'cached' if r['cached'] else 'synthesised'}; {r['seconds']:.0f} s)",
    ]
    return "\n".join(lines)


def _least_s(r: dict) -> int:
    """The least S whose clock bit_rate / S fits f_max."""
    return max(1, -int(-r["bit_rate_bps"] // r["f_max_hz"]))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "timing",
        help="critical path and achievable clock of the XPU (yosys + OpenSTA, OSU 0.18 um)",
        description="Synthesise the preset's XPU to the OSU 0.18 um cells with yosys, time it "
        "with OpenSTA, and report the worst register-to-register path in ps and in FO4 of the "
        "library, its delay at the preset's target_node_nm and the achievable clock f_max; "
        "SRAM macros are cut out and timed as registered boundaries (docs/timing.md).",
    )
    add_preset(p)
    add_out(p, "timing")
    add_json(p)
    add_chip(p)
    p.add_argument(
        "--xpes",
        type=int_range(1, 4096),
        default=None,
        metavar="M",
        help="synthesise M XPEs of the preset's N, gamma and S instead of all (default: all)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    def say(text: str) -> None:
        print(f"timing {args.preset}: {text}", file=sys.stderr, flush=True)

    chip = None if args.chip is None else (args.chip, args.gb_depth, args.gb_ports)
    report = timing_report(args.preset, out=args.out, xpes=args.xpes, progress=say, chip=chip)
    write_text(Path(args.out) / f"{report['top']}.timing.json", json.dumps(report, indent=2))
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(_summary(report))
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m oxbnn.tools.sta ARGS`` = ``oxbnn timing ARGS``."""
    from .cli import main as cli_main

    return cli_main(["timing", *(argv if argv is not None else sys.argv[1:])])


if __name__ == "__main__":
    sys.exit(main())
