"""Verilog export of the XPU, one top module per parameter set.

The top module is ``xpu_<name>`` (``name`` from :class:`XpuParams`, e.g. ``xpu_oxbnn50``);
Amaranth names ports by path joined with ``__`` (``xpe__3__act``, ``res_out__payload``), clock
``clk`` and synchronous active-high reset ``rst``. Next to the Verilog a JSON file describes the
parameters, the struct packing of every struct port (descriptor, threshold entry, result word),
the result FIFO depth and the bits of every memory macro, so a testbench in another language can
drive the module without Amaranth and ``tools/synth`` can report the macros it keeps out of the
gate count.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from amaranth.back import verilog
from amaranth.lib import data

from ..models.atomic import write_text
from ..models.chip import ChipParams
from ..models.configs import XpuParams
from ..models.tiling import Widths
from .chip import Chip, channel_layout, gb_write_layout
from .host_if import descriptor_layout, result_layout, threshold_layout
from .xpu import Xpu

__all__ = [
    "top_name",
    "to_verilog",
    "memory_bits",
    "describe",
    "export",
    "chip_top_name",
    "export_chip",
]


def top_name(xpu: XpuParams) -> str:
    """Name of the exported top module, ``xpu_<name>`` with non-identifier characters as ``_``."""
    return "xpu_" + re.sub(r"\W", "_", xpu.name)


def to_verilog(dut: Xpu, *, name: str | None = None) -> str:
    """The Verilog text of one :class:`~oxbnn.rtl.xpu.Xpu`."""
    return verilog.convert(dut, name=name or top_name(dut.xpu))


def _fields(layout: data.Layout) -> dict[str, dict[str, int | bool]]:
    out = {}
    for key, field in layout:
        shape = field.shape
        out[str(key)] = {
            "offset": field.offset,
            "width": field.width,
            "signed": bool(getattr(shape, "signed", False)),
        }
    return out


def memory_bits(dut: Xpu) -> dict[str, int]:
    """Bits of each memory macro of ``dut`` (two-bank tile buffers, thresholds, result FIFO)."""
    xpu = dut.xpu
    return {
        "activation buffer (2 banks)": 2 * xpu.act_buffer_depth * xpu.n_lanes,
        "weight buffer (2 banks)": 2 * xpu.wgt_buffer_depth * xpu.n_lanes,
        "threshold memory": xpu.max_out_channels * threshold_layout(xpu).size,
        "result FIFO": dut.result_depth * result_layout(xpu).size,
    }


def describe(dut: Xpu, *, name: str | None = None) -> dict:
    """Parameters, widths, struct packings and memories of the exported module, as plain data."""
    xpu = dut.xpu
    w = Widths.of(xpu)
    return {
        "top": name or top_name(xpu),
        "params": {key: getattr(xpu, key) for key in xpu.__dataclass_fields__},
        "widths": {key: getattr(w, key) for key in w.__dataclass_fields__},
        "clock_hz": xpu.clock_hz,
        "layouts": {
            "desc": _fields(descriptor_layout(xpu)),
            "thr_in__payload": _fields(threshold_layout(xpu)),
            "res_out__payload": {
                "bits": {"offset": 0, "width": xpu.n_xpes, "signed": False},
                "dots": {"offset": xpu.n_xpes, "width": w.dot, "signed": True, "count": xpu.n_xpes},
            },
        },
        "result_layout_size": result_layout(xpu).size,
        "result_depth": dut.result_depth,
        "memory_bits": memory_bits(dut),
    }


def export(xpu: XpuParams, out_dir: str | Path, *, name: str | None = None) -> Path:
    """Write ``<top>.v`` and ``<top>.json`` into ``out_dir``; return the Verilog path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    top = name or top_name(xpu)
    dut = Xpu(xpu=xpu)
    path = out / f"{top}.v"
    write_text(path, to_verilog(dut, name=top))
    write_text(out / f"{top}.json", json.dumps(describe(dut, name=top), indent=2) + "\n")
    return path


def chip_top_name(chip: ChipParams) -> str:
    """Name of an exported chip, ``chip_<xpu name>_x<X>``."""
    return f"chip_{top_name(chip.xpu)[4:]}_x{chip.n_xpus}"


def export_chip(chip: ChipParams, out_dir: str | Path, *, name: str | None = None) -> Path:
    """Write ``<top>.v`` and ``<top>.json`` of a :class:`~oxbnn.rtl.chip.Chip`; return the
    Verilog path. The JSON gives the chip's parameters, the packing of a channel and of a
    global-buffer write, one XPU's description (:func:`describe`) and every memory's bits."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    top = name or chip_top_name(chip)
    dut = Chip(xpu=chip.xpu, n_xpus=chip.n_xpus, gb_depth=chip.gb_depth, gb_ports=chip.gb_ports)
    path = out / f"{top}.v"
    write_text(path, verilog.convert(dut, name=top))
    xpu_dut = Xpu(xpu=chip.xpu)
    xpu_dut._MustUse__silence = True  # described, not elaborated (the chip builds its own)
    one = describe(xpu_dut)
    bits = {f"{k} x {chip.n_xpus} XPUs": v * chip.n_xpus for k, v in one["memory_bits"].items()}
    bits[f"global buffer ({chip.gb_ports} read ports)"] = chip.gb_depth * chip.xpu.n_lanes
    info = {
        "top": top,
        "n_xpus": chip.n_xpus,
        "gb_depth": chip.gb_depth,
        "gb_ports": chip.gb_ports,
        "clock_hz": chip.xpu.clock_hz,
        "layouts": {
            "channels": _fields(channel_layout(chip.n_xpus, chip.gb_depth)),
            "gb_w__payload": _fields(gb_write_layout(chip.xpu, chip.gb_depth)),
        },
        "xpu": one,
        "memory_bits": bits,
    }
    write_text(out / f"{top}.json", json.dumps(info, indent=2) + "\n")
    return path
