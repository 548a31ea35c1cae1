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
from ..models.configs import XpuParams
from ..models.tiling import Widths
from .host_if import descriptor_layout, result_layout, threshold_layout
from .xpu import Xpu

__all__ = ["top_name", "to_verilog", "memory_bits", "describe", "export"]


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
