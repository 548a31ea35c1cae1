"""The XPU as a testbench sees it: every input behind one port, every output behind another.

A testbench pays for each signal access (a few µs with Verilator under cocotb, a walk over every
part of a ``Cat`` in Amaranth's simulator), so :class:`CosimTop` wraps
:class:`~oxbnn.rtl.xpu.Xpu` with one wide input ``drive`` and one wide output ``watch``; the
testbench then reads and writes once per cycle. Both harnesses simulate this same wrapper (the
cocotb co-simulation on its Verilog, :class:`~oxbnn.testbenches.pysim_harness.XpuHarness` in
Amaranth's simulator), and :class:`Fields`, the one word packer, says where each named field
sits. The synthesisable XPU is unchanged: this wrapper only exists for simulation (``oxbnn
export`` writes the XPU itself).

The optical-port fields of ``watch`` come last and contiguous, ``opt_reset | opt_sample |
opt_act | opt_wgt``, each the concatenation over the M XPEs of their S-slot port members, so XPE
``e``'s bits start at ``e * S`` (masks) and ``e * S * N`` (lanes); the slot order inside one XPE
(bit ``s * N + i`` = slot ``s`` of lane ``i``) is documented, and unpacked, in one place:
:func:`oxbnn.testbenches.optical_bridge.unpack_port`. In ``drive``, ``adc_valid`` and
``adc_code`` are the concatenation over the M XPEs of their A ADC channels (A =
``XpuParams.adc_channels``, docs/design.md §3): bit ``e * A + c`` of ``adc_valid`` and bits
``(e * A + c) * adc_bits`` up of ``adc_code`` are channel ``c`` of XPE ``e``: in a cycle that
uses ADC bank ``c // P``, the code of its ``(c % P)``-th sample in slot order (P =
``XpuParams.samples_per_cycle``). At S = 1 with one bank, A = 1: bit ``e`` and bits
``e * adc_bits`` up. The widths come from the RTL's port members; the environment checks
them against A.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

from amaranth.back import verilog
from amaranth.hdl import Cat, Module, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..models.atomic import write_text
from ..models.configs import XpuParams
from ..rtl.xpu import Xpu

__all__ = ["Fields", "CosimTop", "write_cosim_verilog"]


@dataclass(frozen=True)
class Fields:
    """Named bit fields of one wide word: ``{name: (offset, width)}``, packed from bit 0 up.

    The one word packer of both harnesses (the ``drive`` and ``watch`` words of
    :class:`CosimTop`, the port VCD, the per-cycle environment).
    """

    layout: dict[str, tuple[int, int]]

    @property
    def width(self) -> int:
        return sum(w for _, w in self.layout.values())

    def offset(self, name: str) -> int:
        """Bit offset of field ``name``."""
        return self.layout[name][0]

    def get(self, word: int, name: str) -> int:
        off, width = self.layout[name]
        return (word >> off) & ((1 << width) - 1)

    def pack(self, values: dict[str, int]) -> int:
        """A word with the named fields set (truncated to their widths), every other bit 0."""
        word = 0
        for name, value in values.items():
            off, width = self.layout[name]
            word |= (int(value) & ((1 << width) - 1)) << off
        return word

    def not_01(self, text: str) -> list[str]:
        """Fields holding a bit other than 0/1 (X, Z) in ``text``, a binary string MSB first."""
        bits = text[::-1]
        return [
            name
            for name, (off, width) in self.layout.items()
            if any(c not in "01" for c in bits[off : off + width])
        ]

    def to_json(self) -> dict:
        return {k: list(v) for k, v in self.layout.items()}

    @classmethod
    def from_json(cls, data: dict) -> Fields:
        return cls({k: (int(v[0]), int(v[1])) for k, v in data.items()})

    @classmethod
    def from_parts(cls, parts: list[tuple[str, int]]) -> Fields:
        layout, off = {}, 0
        for name, width in parts:
            layout[name] = (off, width)
            off += width
        return cls(layout)


def _raw(v) -> Value:
    return Value.cast(v.as_value() if hasattr(v, "as_value") else v)


def _fields(xpu: XpuParams, dut: Xpu) -> tuple[list[tuple[str, Value]], list[tuple[str, Value]]]:
    mm = xpu.n_xpes
    drive = [
        ("start", dut.start),
        ("res_ready", dut.res_out.ready),
        ("thr_valid", dut.thr_in.valid),
        ("act_valid", dut.act_in.valid),
        ("wgt_valid", dut.wgt_in.valid),
        ("adc_valid", Cat(*(dut.xpe[e].adc_valid for e in range(mm)))),
        ("thr_payload", dut.thr_in.payload),
        ("act_payload", dut.act_in.payload),
        ("wgt_payload", dut.wgt_in.payload),
        ("adc_code", Cat(*(dut.xpe[e].adc_code for e in range(mm)))),
        ("desc", dut.desc),
    ]
    watch = [
        ("done", dut.done),
        ("start_ready", dut.start_ready),
        ("error", dut.error),
        ("busy", dut.busy),
        ("res_valid", dut.res_out.valid),
        ("thr_ready", dut.thr_in.ready),
        ("act_ready", dut.act_in.ready),
        ("wgt_ready", dut.wgt_in.ready),
        ("res_payload", dut.res_out.payload),
        # The optical port last and contiguous: reset | sample | act | wgt (unpack_port reads it).
        ("opt_reset", Cat(*(dut.xpe[e].pca_reset for e in range(mm)))),
        ("opt_sample", Cat(*(dut.xpe[e].pca_sample for e in range(mm)))),
        ("opt_act", Cat(*(dut.xpe[e].act for e in range(mm)))),
        ("opt_wgt", Cat(*(dut.xpe[e].wgt for e in range(mm)))),
    ]
    return ([(n, _raw(v)) for n, v in drive], [(n, _raw(v)) for n, v in watch])


class CosimTop(wiring.Component):
    """:class:`Xpu` with all inputs in ``drive`` and all outputs in ``watch``.

    Parameters
    ----------
    xpu : XpuParams

    Members
    -------
    drive : In(drive_fields.width)
    watch : Out(watch_fields.width)
    """

    def __init__(self, *, xpu: XpuParams):
        self._xpu = xpu
        self._dut = Xpu(xpu=xpu)
        drive, watch = _fields(xpu, self._dut)
        self._drive_parts = drive
        self._watch_parts = watch
        self.drive_fields = Fields.from_parts([(n, len(v)) for n, v in drive])
        self.watch_fields = Fields.from_parts([(n, len(v)) for n, v in watch])
        super().__init__(
            {"drive": In(self.drive_fields.width), "watch": Out(self.watch_fields.width)}
        )

    def elaborate(self, platform):
        m = Module()
        m.submodules.xpu = self._dut
        m.d.comb += [
            Cat(*(v for _, v in self._drive_parts)).eq(self.drive),
            self.watch.eq(Cat(*(v for _, v in self._watch_parts))),
        ]
        return m


#: What the generated Verilog depends on besides the XpuParams, relative to the package root:
#: the RTL, this wrapper and the model modules they import (widths, layouts, constants), and
#: nothing else, so that a change to, say, the optics does not regenerate minutes of Verilog.
#: ``tests/test_cosim.py`` fails when the wrapper imports a module this list misses.
RTL_SOURCES = (
    "rtl",
    "testbenches/__init__.py",
    "testbenches/cosim_top.py",
    "models/__init__.py",
    "models/atomic.py",
    "models/configs/__init__.py",
    "models/layer.py",
    "models/tiling.py",
    "models/userfile.py",
)


def source_key(xpu: XpuParams) -> str:
    """A hash of everything that determines the co-simulation Verilog of ``xpu``: its
    parameters, the Amaranth version and the text of :data:`RTL_SOURCES`."""
    import amaranth

    root = Path(__file__).resolve().parent.parent
    h = hashlib.sha256(repr(xpu).encode())
    h.update(amaranth.__version__.encode())
    for name in RTL_SOURCES:
        path = root / name
        for f in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            h.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


def write_cosim_verilog(
    xpu: XpuParams, directory: Path, log=None
) -> tuple[Path, Fields, Fields, str]:
    """Write ``xpu_cosim.v`` and ``fields.json`` into ``directory``, unless they are there for
    the same :func:`source_key` (then they are reused: generating the Verilog takes seconds at
    S = 1 and minutes at S = 45, since Amaranth elaborates the whole XPU in Python).

    Returns the Verilog path, the drive and watch fields, and a hash of the Verilog text (a new
    hash means the simulator must rebuild). The caller serialises calls on one directory (see
    :class:`~oxbnn.testbenches.cosim.Cosim`). ``log`` (a function of one string), if given, is
    told before a generation starts and when it ends, with its wall time.
    """
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "xpu_cosim.v"
    meta_path = directory / "fields.json"
    key = source_key(xpu)
    try:
        meta = json.loads(meta_path.read_text())
        if meta.get("source_key") == key and path.exists():
            drive, watch = Fields.from_json(meta["drive"]), Fields.from_json(meta["watch"])
            return path, drive, watch, meta["hash"]
    except (OSError, ValueError, KeyError):
        pass  # absent or unreadable: generate
    what = f"{xpu.name} XPU (N = {xpu.n_lanes}, M = {xpu.n_xpes}, S = {xpu.symbols_per_cycle})"
    if log:
        log(f"generating the co-simulation Verilog of the {what} into {directory} ...")
    t0 = time.perf_counter()
    top = CosimTop(xpu=xpu)
    text = verilog.convert(top, name="xpu_cosim", emit_src=False)
    if log:
        log(f"generated {len(text) / 1e6:.1f} MB of Verilog in {time.perf_counter() - t0:.0f} s")
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    if not path.exists() or path.read_text() != text:
        write_text(path, text)
    meta = {
        "drive": top.drive_fields.to_json(),
        "watch": top.watch_fields.to_json(),
        "hash": digest,
        "source_key": key,
    }
    write_text(meta_path, json.dumps(meta, indent=1))  # last: it marks the Verilog complete
    return path, top.drive_fields, top.watch_fields, digest
