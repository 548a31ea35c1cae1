"""Read a VCD trace without a screen: signal values per cycle, and the PCA readout events.

The reader behind ``oxbnn waves`` (:mod:`oxbnn.tools.waves_cmd` only parses options and prints).
Cycles are counted on the clock's rising edges: cycle ``k`` runs from the ``k``-th rising edge
(counting from 0) to the next, and the value shown for cycle ``k`` is the one the next edge
samples (the settled value just before edge ``k + 1``). :meth:`Trace.cycle_of` reads a cycle
number, or a time with a unit (``120ns``, ``4.5us``) converted with the VCD's timescale.

:func:`events` lists every slot in which a signal whose name contains the event's name (e.g.
``pca_sample``) is 1, and pairs each ``pca_sample`` with the ADC code that converts it. How
the bits of a signal are read (decision): a signal that names its XPE (``xpe3.pca_sample`` in
the port VCD, ``xpe__3__pca_sample`` in Amaranth's) is one XPE's port member, so bit ``s`` of a
strobe is slot ``s`` of the cycle and bit ``c`` of ``adc_valid`` is ADC channel ``c``, whose
code is bits ``c * w`` up of the matching ``adc_code`` (``w`` = its width / the valid's width);
a signal without an XPE in its name is a vector over the XPEs at one slot per cycle and one
channel per XPE (bit ``e`` is XPE ``e``). Codes pair with samples per XPE in order (the
``j``-th code of an XPE with its ``j``-th sample, the port's rule: the samples of one cycle, in
slot order, go to consecutive channels of one ADC bank; docs/design.md §3). Other strobes
(``pca_reset``) are listed without codes. The VCDs are those :mod:`oxbnn.testbenches.port_vcd`
writes; any VCD with a clock can be read. An ``adc_code`` whose width is not a whole number
of codes for the channels of its ``adc_valid`` is refused (:class:`WavesError`).

What is refused, each with one :class:`WavesError` naming the file: a missing file, a folder, a
device or pipe (reading one could block for ever), an empty file, a file over
:data:`MAX_VCD_BYTES`, a binary file (an FST, LXT or any file with NUL bytes: convert it with
``fst2vcd``), text that is not UTF-8, a file without ``$enddefinitions`` (not a VCD, or cut
off in its header), a malformed or truncated body, a VCD without signals or without a clock
with two rising edges, and a ``$timescale`` that is not ``1``, ``10`` or ``100`` of ``s``,
``ms``, ``us``, ``ns``, ``ps`` or ``fs`` (the only ones the VCD format has, IEEE Std
1364-2005 §18.2.3.5). Decision: a VCD without ``$timescale`` is read, but only in cycles (a
time such as ``120ns`` is refused for it rather than read with a guessed unit).
"""

from __future__ import annotations

import bisect
import fnmatch
import math
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["MAX_VCD_BYTES", "TIME_UNITS", "Trace", "WavesError", "events", "load_trace"]

#: Time units of a VCD's ``$timescale`` and of a time option (``120ns``), in seconds.
TIME_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9, "ps": 1e-12, "fs": 1e-15}
#: The largest VCD read (the reader holds every value change in memory; port VCDs of the
#: default 20,000-cycle window are a few hundred MB at most).
MAX_VCD_BYTES = 2 * 2**30
_HEAD_BYTES = 1 << 16


class WavesError(ValueError):
    """A trace or an option is unusable; the message says which and why."""


@dataclass
class _Sig:
    name: str
    width: int
    tv: list[tuple[int, str]]

    def at(self, time: int) -> str | None:
        """Value (binary string) in force at ``time``."""
        i = bisect.bisect_right(self.tv, (time, "\uffff")) - 1
        return None if i < 0 else self.tv[i][1]


def _to_int(value: str | None) -> int | None:
    if value is None or any(c in value for c in "xXzZ"):
        return None
    return int(value, 2)


class Trace:
    """A parsed VCD with a clock: signal values per cycle."""

    def __init__(self, path: Path, clock: str | None = None) -> None:
        from vcdvcd import VCDVCD

        self.path = path
        self.timescale_s = _check_file(path)
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise WavesError(
                f"{path}: not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset "
                f"{exc.start}); expected a text VCD file"
            ) from None
        except OSError as exc:
            raise WavesError(f"{path}: cannot read the VCD file ({exc.strerror})") from None
        except MemoryError:
            raise WavesError(f"{path}: too large to read into memory") from None
        try:  # from the text read here: vcdvcd leaves its own file open when it fails
            vcd = VCDVCD(vcd_string=text, store_tvs=True)
        except MemoryError:
            raise WavesError(f"{path}: too large to read into memory") from None
        except Exception as exc:  # vcdvcd raises bare exceptions on malformed files
            raise WavesError(
                f"{path}: malformed or truncated VCD ({type(exc).__name__}: {exc})"
            ) from None
        self.signals: dict[str, _Sig] = {}
        try:
            for name in vcd.signals:
                s = vcd[name]
                self.signals[name] = _Sig(name, int(s.size), list(s.tv))
        except (KeyError, ValueError, TypeError) as exc:
            raise WavesError(f"{path}: malformed VCD declaration ({exc})") from None
        if not self.signals:
            raise WavesError(f"{path}: the VCD declares no signals ($var)")
        self.clock = self._find_clock(clock)
        clk = self.signals[self.clock]
        self.edges = [
            t for (t, v), (_, p) in zip(clk.tv[1:], clk.tv, strict=False) if v == "1" and p == "0"
        ]
        if clk.tv and clk.tv[0][1] == "1":  # high from the start: count it as an edge
            self.edges.insert(0, clk.tv[0][0])
        if len(self.edges) < 2:
            raise WavesError(f"{path}: clock {self.clock!r} has fewer than two rising edges")
        self.end_time = max((s.tv[-1][0] for s in self.signals.values() if s.tv), default=0)

    def _find_clock(self, clock: str | None) -> str:
        names = list(self.signals)
        if clock:
            hits = [n for n in names if n == clock or n.split(".")[-1] == clock]
            if not hits:
                raise WavesError(
                    f"{self.path}: no clock signal {clock!r}; signals are e.g. {names[:8]}"
                )
            return hits[0]
        for cand in ("clk", "clock"):
            hits = [n for n in names if n.split(".")[-1] == cand and self.signals[n].width == 1]
            if hits:
                return min(hits, key=len)
        raise WavesError(f"{self.path}: no 1-bit signal named 'clk'; pass --clock NAME")

    @property
    def n_cycles(self) -> int:
        return len(self.edges) - 1

    def sample_time(self, cycle: int) -> int:
        """The time just before the edge that ends ``cycle``."""
        return self.edges[cycle + 1] - 1

    def match(self, patterns: list[str]) -> list[str]:
        """Signal names matching any glob pattern (or plain substring)."""
        out = []
        for name in self.signals:
            for p in patterns:
                if fnmatch.fnmatchcase(name, p) or (not any(c in p for c in "*?[") and p in name):
                    out.append(name)
                    break
        return out

    def value(self, name: str, cycle: int) -> int | None:
        return _to_int(self.signals[name].at(self.sample_time(cycle)))

    def cycle_of(self, text: str, option: str = "--from") -> int:
        """A cycle number, or a time such as ``120ns`` converted to the cycle it falls in.

        ``option`` names the option that gave ``text`` in an error. A time before the first
        edge is cycle 0; a cycle or time past the end is returned as is (callers clamp it).
        """
        m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*([A-Za-z]*)\s*", text)
        if not m:
            raise WavesError(f"{option}: cannot read {text!r} as a cycle or a time like '120ns'")
        number, unit = m.groups()
        if not unit:
            if "." in number:
                raise WavesError(f"{option}: a cycle is an integer, not {text!r}")
            return int(number)
        if unit not in TIME_UNITS:
            raise WavesError(
                f"{option}: unknown time unit {unit!r} in {text!r}; "
                f"expected one of {', '.join(TIME_UNITS)}"
            )
        if self.timescale_s is None:
            raise WavesError(
                f"{option} {text!r}: {self.path} has no $timescale; give cycles instead"
            )
        t = float(number) * TIME_UNITS[unit] / self.timescale_s
        if not math.isfinite(t):
            return len(self.edges)
        if abs(t - round(t)) <= 1e-9 * max(1.0, abs(t)):  # 500fs / 10fs is 50, not 49.999...
            t = float(round(t))
        return max(bisect.bisect_right(self.edges, t) - 1, 0)


def _check_file(path: Path) -> float | None:
    """Refuse what cannot be a readable text VCD; the ``$timescale`` in seconds (or ``None``)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise WavesError(f"{path}: no such VCD file") from None
    except OSError as exc:
        raise WavesError(f"{path}: cannot read the VCD file ({exc.strerror})") from None
    except ValueError:  # a NUL character in the name
        raise WavesError(f"{str(path)!r}: not a valid file name") from None
    if stat.S_ISDIR(st.st_mode):
        raise WavesError(f"{path}: is a folder; expected a VCD file")
    if not stat.S_ISREG(st.st_mode):
        raise WavesError(f"{path}: not a regular file (a device or a pipe); expected a VCD file")
    if st.st_size == 0:
        raise WavesError(f"{path}: the file is empty; expected a VCD file")
    if st.st_size > MAX_VCD_BYTES:
        raise WavesError(
            f"{path}: {st.st_size} bytes; oxbnn waves reads VCDs up to {MAX_VCD_BYTES} bytes "
            "(trace a shorter window)"
        )
    try:
        with path.open("rb") as f:
            head = f.read(_HEAD_BYTES)
            found = b"$enddefinitions" in head
            tail = head[-32:]
            while not found and b"\0" not in head:
                block = f.read(1 << 20)
                if not block:
                    break
                if b"\0" in block:
                    head = block
                    break
                found = b"$enddefinitions" in tail + block
                tail = block[-32:]
    except OSError as exc:
        raise WavesError(f"{path}: cannot read the VCD file ({exc.strerror})") from None
    if b"\0" in head:
        kind = "an FST trace" if path.suffix.lower() == ".fst" else "a binary file"
        raise WavesError(
            f"{path}: {kind} (NUL bytes); oxbnn waves reads text VCD files (convert an FST "
            "with fst2vcd)"
        )
    if not found:
        raise WavesError(
            f"{path}: no $enddefinitions: not a VCD file, or one cut off in its header"
        )
    text = head.decode("utf-8", errors="replace")
    if "$timescale" not in text:
        return None
    m = re.search(r"\$timescale\s+([0-9]+)\s*([A-Za-z]+)\s+\$end", text)
    if not m or m.group(1) not in ("1", "10", "100") or m.group(2) not in TIME_UNITS:
        shown = re.search(r"\$timescale(.{0,40}?)(\$end|$)", text, re.S)
        value = " ".join((shown.group(1) if shown else "").split())
        raise WavesError(
            f"{path}: $timescale {value!r} is not a VCD timescale; expected 1, 10 or 100 "
            f"followed by one of {', '.join(TIME_UNITS)}"
        )
    return int(m.group(1)) * TIME_UNITS[m.group(2)]


def load_trace(path: str | Path, clock: str | None = None) -> Trace:
    """The VCD at ``path`` with its clock (``None``: the 1-bit ``clk`` or ``clock``)."""
    return Trace(Path(path), clock)


def events(trace: Trace, event: str, first: int, last: int) -> list[dict[str, Any]]:
    """Slots in cycles ``first .. last`` where ``event`` signals pulse, in time order.

    One row per pulse: ``cycle``, ``slot`` (in the cycle), ``xpe``, ``signal``, and, for a
    ``pca_sample``, the ``code`` that converts it, the ADC ``channel`` it came on and the
    ``code_cycle`` it arrived in (``None`` while no code arrived in the window). Rows are
    ordered by cycle, slot and XPE. The module docstring says how bits are read.
    """
    strobes = trace.match([event])
    if not strobes:
        raise WavesError(f"{trace.path}: --events {event!r} matches no signal; try --list")
    valids = trace.match(["adc_valid"])
    codes = trace.match(["adc_code"])
    rows: list[dict[str, Any]] = []
    pending: dict[tuple[str, int], list[dict[str, Any]]] = {}  # (stem, XPE) -> samples
    for cycle in range(first, last + 1):
        new: list[dict[str, Any]] = []
        for name in strobes:
            v = trace.value(name, cycle)
            if not v:
                continue
            named = _xpe(name)
            for bit in range(trace.signals[name].width):
                if v >> bit & 1:
                    xpe, slot = (bit, 0) if named is None else (named, bit)
                    new.append(
                        {
                            "cycle": cycle,
                            "slot": slot,
                            "xpe": xpe,
                            "code": None,
                            "channel": None,
                            "code_cycle": None,
                            "signal": name,
                        }
                    )
        new.sort(key=lambda r: (r["slot"], r["xpe"]))
        for row in new:
            rows.append(row)
            if "pca_sample" in row["signal"].split(".")[-1]:
                pending.setdefault((_stem(row["signal"]), row["xpe"]), []).append(row)
        for vname in valids:
            v = trace.value(vname, cycle)
            if not v:
                continue
            cname = _partner(vname, codes)
            width = trace.signals[vname].width
            code_all = trace.value(cname, cycle) if cname else None
            bits = trace.signals[cname].width // width if cname else 0
            if cname and bits * width != trace.signals[cname].width:
                raise WavesError(
                    f"{trace.path}: {cname} has {trace.signals[cname].width} bits, not a whole "
                    f"number of codes for the {width} channels of {vname}"
                )
            named = _xpe(vname)
            for bit in range(width):
                if not v >> bit & 1:
                    continue
                xpe, channel = (bit, 0) if named is None else (named, bit)
                queue = pending.get((_stem(vname), xpe)) or next(
                    (q for (_, x), q in pending.items() if x == xpe and q), None
                )
                if queue:
                    row = queue.pop(0)
                    row["code_cycle"] = cycle
                    row["channel"] = channel
                    if code_all is not None:
                        row["code"] = code_all >> (bit * bits) & ((1 << bits) - 1)
    return rows


def _xpe(name: str) -> int | None:
    """The XPE a signal's name gives (``xpe7.pca_sample``, ``xpe__7__adc_valid``), else None."""
    m = re.search(r"xpe_*(\d+)", name)
    return int(m.group(1)) if m else None


def _stem(name: str) -> str:
    """The scope/prefix of a port name, so that xpe3's sample pairs with xpe3's valid."""
    return re.sub(r"(pca_sample|adc_valid|adc_code).*$", "", name)


def _partner(valid: str, codes: list[str]) -> str | None:
    want = valid.replace("adc_valid", "adc_code")
    if want in codes:
        return want
    same = [c for c in codes if _stem(c) == _stem(valid)]
    return same[0] if same else None
