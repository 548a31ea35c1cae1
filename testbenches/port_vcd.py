"""A VCD of the XPU's ports over a window of cycles, written from what the testbench saw.

The co-simulation records, for each cycle of the requested window, the whole ``watch`` word (XPU
outputs) and ``drive`` word (XPU inputs). This module writes them as a VCD with one scope per
group — ``host`` (start, done, busy, error, result stream), ``buffers`` (the three input
streams) and ``xpeE`` (the optical port of XPE ``E``: ``act`` and ``wgt`` of S * N bits, bit
``s * N + i`` slot ``s`` of lane ``i``, and the S-bit masks ``pca_reset``/``pca_sample``, bit
``s`` slot ``s``, as in :func:`~oxbnn.testbenches.optical_bridge.unpack_port`; ``adc_valid`` of
A bits, bit ``c`` channel ``c``, and ``adc_code`` of A * adc_bits bits, bits ``c * adc_bits``
up channel ``c``, A = ``XpuParams.adc_channels``, docs/design.md §3) — plus a GTKWave save file
that shows the same groups. :func:`oxbnn.testbenches.waves.events` reads the bits of a per-XPE
``pca_sample`` as slots and those of a per-XPE ``adc_valid`` as channels. Time is in ns of a
1 GHz reference clock: cycle ``k`` starts at ``k`` ns (the simulated time at the preset's real
clock is in the run's report).
"""

from __future__ import annotations

from pathlib import Path

from ..models.atomic import write_text
from ..models.configs import XpuParams
from .cosim_top import Fields

__all__ = ["write_port_vcd"]


def _ids():
    n = 0
    while True:
        n += 1
        k, s = n, ""
        while k:
            k, r = divmod(k - 1, 94)
            s += chr(33 + r)
        yield s


def write_port_vcd(
    path: Path,
    trace: list[tuple[int, int]],
    first_cycle: int,
    watch: Fields,
    drive: Fields,
    xpu: XpuParams,
) -> Path:
    """Write ``trace`` (one ``(watch, drive)`` pair per cycle from ``first_cycle``) as a VCD."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ids = _ids()
    # (scope, name, width, extractor(watch, drive) -> int)
    sigs: list[tuple[str, str, int, object]] = []

    def field(src: str, name: str, lo: int = 0, width: int | None = None):
        f = watch if src == "w" else drive
        off, w = f.layout[name]
        width = w if width is None else width
        mask = (1 << width) - 1
        if src == "w":
            return width, lambda wv, dv: (wv >> (off + lo)) & mask
        return width, lambda wv, dv: (dv >> (off + lo)) & mask

    for name, src in [
        ("start", "d"),
        ("done", "w"),
        ("busy", "w"),
        ("error", "w"),
        ("res_valid", "w"),
        ("res_ready", "d"),
        ("res_payload", "w"),
    ]:
        sigs.append(("host", name, *field(src, name)))
    for stream in ("thr", "act", "wgt"):
        sigs.append(("buffers", f"{stream}_valid", *field("d", f"{stream}_valid")))
        sigs.append(("buffers", f"{stream}_ready", *field("w", f"{stream}_ready")))
        sigs.append(("buffers", f"{stream}_payload", *field("d", f"{stream}_payload")))
    n_xpes, s, adc_bits = xpu.n_xpes, xpu.symbols_per_cycle, xpu.adc_bits
    a = xpu.adc_channels
    lanes = s * xpu.n_lanes  # one XPE's port: S slots of N lanes
    if drive.layout["adc_valid"][1] != n_xpes * a:
        raise ValueError(
            f"drive word: adc_valid has {drive.layout['adc_valid'][1]} bits; expected M * A = "
            f"{n_xpes} * {a} ADC channels"
        )
    for e in range(n_xpes):
        scope = f"xpe{e}"
        sigs.append((scope, "act", *field("w", "opt_act", e * lanes, lanes)))
        sigs.append((scope, "wgt", *field("w", "opt_wgt", e * lanes, lanes)))
        sigs.append((scope, "pca_reset", *field("w", "opt_reset", e * s, s)))
        sigs.append((scope, "pca_sample", *field("w", "opt_sample", e * s, s)))
        sigs.append((scope, "adc_valid", *field("d", "adc_valid", e * a, a)))
        sigs.append((scope, "adc_code", *field("d", "adc_code", e * a * adc_bits, a * adc_bits)))

    codes = [next(ids) for _ in sigs]
    clk = next(ids)
    lines = ["$timescale 1ns $end", "$scope module xpu $end", f"$var wire 1 {clk} clk $end"]
    scope = None
    for (sc, name, width, _), code in zip(sigs, codes, strict=True):
        if sc != scope:
            if scope is not None:
                lines.append("$upscope $end")
            lines.append(f"$scope module {sc} $end")
            scope = sc
        lines.append(f"$var wire {width} {code} {name} $end")
    lines += ["$upscope $end", "$upscope $end", "$enddefinitions $end"]
    prev: list[int | None] = [None] * len(sigs)
    for k, (wv, dv) in enumerate(trace):
        t = 2 * (first_cycle + k)
        lines.append(f"#{t}")
        lines.append(f"1{clk}")
        for i, (_, _, width, get) in enumerate(sigs):
            v = get(wv, dv)
            if v != prev[i]:
                lines.append(f"{v}{codes[i]}" if width == 1 else f"b{v:b} {codes[i]}")
                prev[i] = v
        lines.append(f"#{t + 1}")
        lines.append(f"0{clk}")
    if trace:
        lines.append(f"#{2 * (first_cycle + len(trace))}")
    write_text(path, "\n".join(lines) + "\n")
    _write_gtkw(path.with_suffix(".gtkw"), path, sigs, n_xpes)
    return path


def _write_gtkw(path: Path, vcd: Path, sigs, n_xpes: int) -> None:
    """GTKWave save file: control, buffer and optical-port groups (the first 4 XPEs open)."""
    lines = [f'[dumpfile] "{vcd.name}"', "[timestart] 0", "@28", "xpu.clk"]
    groups = [("Control", "host"), ("Buffers", "buffers")] + [
        (f"Optical port XPE {e}", f"xpe{e}") for e in range(n_xpes)
    ]
    for title, scope in groups:
        closed = scope.startswith("xpe") and int(scope[3:]) >= 4
        lines += ["@c00200" if closed else "@800200", f"-{title}"]
        for sc, name, width, _ in sigs:
            if sc == scope:
                lines += [
                    "@28" if width == 1 else "@22",
                    f"xpu.{sc}.{name}" + (f"[{width - 1}:0]" if width > 1 else ""),
                ]
        lines += ["@1401200" if closed else "@1000200", f"-{title}"]
    write_text(path, "\n".join(lines) + "\n")
