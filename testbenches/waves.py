"""Read a VCD trace without a screen: signal values per cycle, and the PCA readout events.

The reader behind ``oxbnn waves`` (:mod:`oxbnn.tools.waves_cmd` only parses options and prints).
Cycles are counted on the clock's rising edges: cycle ``k`` runs from the ``k``-th rising edge
(counting from 0) to the next, and the value shown for cycle ``k`` is the one the next edge
samples (the settled value just before edge ``k + 1``). :meth:`Trace.cycle_of` reads a cycle
number, or a time with a unit (``120ns``, ``4.5us``) converted with the VCD's timescale.

:func:`events` lists every cycle in which a signal whose name contains the event's name (e.g.
``pca_sample``) is 1 (a vector is one bit per XPE), and pairs it with the ADC code that arrives
on the matching ``adc_valid`` / ``adc_code`` signals, in order per XPE. The VCDs are those
:mod:`oxbnn.testbenches.port_vcd` writes; any VCD with a clock can be read.
"""

from __future__ import annotations

import bisect
import fnmatch
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Trace", "WavesError", "events", "load_trace"]

_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9, "ps": 1e-12, "fs": 1e-15}


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
        if not path.exists():
            raise WavesError(f"{path}: no such VCD file")
        try:
            vcd = VCDVCD(str(path), store_tvs=True)
        except Exception as exc:  # vcdvcd raises bare exceptions on malformed files
            raise WavesError(f"{path}: not a readable VCD file ({exc})") from None
        self.timescale_s = float(vcd.timescale.get("timescale", 1e-9))
        self.signals: dict[str, _Sig] = {}
        for name in vcd.signals:
            s = vcd[name]
            self.signals[name] = _Sig(name, int(s.size), list(s.tv))
        if not self.signals:
            raise WavesError(f"{path}: the VCD holds no signals")
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

    def cycle_of(self, text: str) -> int:
        """A cycle number, or a time such as ``120ns`` converted to the cycle it falls in."""
        m = re.fullmatch(r"\s*([0-9.]+)\s*([a-z]*)\s*", text)
        if not m:
            raise WavesError(f"cannot read {text!r} as a cycle or a time like '120ns'")
        number, unit = m.groups()
        if not unit:
            return int(float(number))
        if unit not in _UNITS:
            raise WavesError(f"unknown time unit {unit!r} in {text!r}; use one of {sorted(_UNITS)}")
        t = float(number) * _UNITS[unit] / self.timescale_s
        return max(bisect.bisect_right(self.edges, t) - 1, 0)


def load_trace(path: str | Path, clock: str | None = None) -> Trace:
    """The VCD at ``path`` with its clock (``None``: the 1-bit ``clk`` or ``clock``)."""
    return Trace(Path(path), clock)


def events(trace: Trace, event: str, first: int, last: int) -> list[dict[str, Any]]:
    """Cycles where ``event`` signals pulse, paired per XPE with the ADC codes that follow."""
    strobes = trace.match([event])
    if not strobes:
        raise WavesError(f"{trace.path}: no signal matches {event!r}")
    valids = trace.match(["adc_valid"])
    codes = trace.match(["adc_code"])
    rows: list[dict[str, Any]] = []
    pending: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for cycle in range(first, last + 1):
        for name in strobes:
            v = trace.value(name, cycle)
            if not v:
                continue
            for bit in range(trace.signals[name].width):
                if v >> bit & 1:
                    row = {
                        "cycle": cycle,
                        "signal": name,
                        "xpe": _xpe(name, bit),
                        "code": None,
                        "code_cycle": None,
                    }
                    rows.append(row)
                    pending.setdefault((_stem(name), bit), []).append(row)
        for vname in valids:
            v = trace.value(vname, cycle)
            if not v:
                continue
            cname = _partner(vname, codes)
            width = trace.signals[vname].width
            code_all = trace.value(cname, cycle) if cname else None
            bits = trace.signals[cname].width // width if cname else 0
            for bit in range(width):
                if not v >> bit & 1:
                    continue
                queue = next(
                    (
                        q
                        for (stem, x), q in pending.items()
                        if x == bit and q and stem == _stem(vname)
                    ),
                    None,
                )
                queue = queue or next((q for (_, x), q in pending.items() if x == bit and q), None)
                if queue:
                    row = queue.pop(0)
                    row["code_cycle"] = cycle
                    if code_all is not None:
                        row["code"] = code_all >> (bit * bits) & ((1 << bits) - 1)
    return rows


def _xpe(name: str, bit: int) -> int:
    """XPE of bit ``bit`` of a strobe: its scope's number (``xpe7.pca_sample``) or the bit."""
    m = re.search(r"xpe_*(\d+)", name)
    return int(m.group(1)) + bit if m else bit


def _stem(name: str) -> str:
    """The scope/prefix of a port name, so that xpe3's sample pairs with xpe3's valid."""
    return re.sub(r"(pca_sample|adc_valid|adc_code).*$", "", name)


def _partner(valid: str, codes: list[str]) -> str | None:
    want = valid.replace("adc_valid", "adc_code")
    if want in codes:
        return want
    same = [c for c in codes if _stem(c) == _stem(valid)]
    return same[0] if same else None
