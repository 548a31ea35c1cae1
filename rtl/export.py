"""Verilog export of the XPU, one top module per parameter set.

The top module is ``xpu_<name>`` (``name`` from :class:`XpuParams`, e.g. ``xpu_oxbnn50``);
Amaranth names ports by path joined with ``__`` (``xpe__3__act``, ``res_out__payload``), clock
``clk`` and synchronous active-high reset ``rst``. Next to the Verilog a JSON file describes the
parameters and the packing of every struct port (descriptor, threshold entry, result word), so a
testbench in another language can drive the module without Amaranth.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from amaranth.back import verilog
from amaranth.lib import data

from ..models.configs import XpuParams
from ..models.tiling import Widths
from .host_if import descriptor_layout, result_layout, threshold_layout
from .xpu import Xpu

__all__ = ["top_name", "to_verilog", "describe", "export"]


def top_name(xpu: XpuParams) -> str:
    """Name of the exported top module, ``xpu_<name>`` with non-identifier characters as ``_``."""
    return "xpu_" + re.sub(r"\W", "_", xpu.name)


def to_verilog(xpu: XpuParams, *, name: str | None = None) -> str:
    """The Verilog text of one :class:`~oxbnn.rtl.xpu.Xpu`."""
    return verilog.convert(Xpu(xpu=xpu), name=name or top_name(xpu))


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


def describe(xpu: XpuParams, *, name: str | None = None) -> dict:
    """Parameters, widths and struct packings of the exported module, as plain data."""
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
    }


def export(xpu: XpuParams, out_dir: str | Path, *, name: str | None = None) -> Path:
    """Write ``<top>.v`` and ``<top>.json`` into ``out_dir``; return the Verilog path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    top = name or top_name(xpu)
    path = out / f"{top}.v"
    path.write_text(to_verilog(xpu, name=top))
    (out / f"{top}.json").write_text(json.dumps(describe(xpu, name=top), indent=2) + "\n")
    return path
