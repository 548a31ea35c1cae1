"""``oxbnn waves``: read a VCD trace without a screen — a table of signals per cycle, or events.

The reader is :mod:`oxbnn.testbenches.waves` (cycles, time units and the pairing of readouts
with their ADC codes are described there); this module parses the options and prints.

Cycle ``k`` runs from the ``k``-th rising edge of the clock to the next, and the value shown for
cycle ``k`` is the one the next edge samples. ``--from`` / ``--to`` take cycles, or a value with
a time unit (``120ns``, ``4.5us``) converted with the VCD's timescale. ``--events pca_sample``
lists every slot-level readout: the cycle and the slot in it of every ``pca_sample`` bit that
is 1, its XPE, and the ADC code that converts it, with the channel and the cycle it arrived on
(:func:`oxbnn.testbenches.waves.events`). With ``--json`` the output is one JSON object:
``{"vcd", "clock", "signals"}`` for ``--list`` (a list of ``{"signal", "width"}``), ``{"vcd",
"clock", "event", "from_cycle", "to_cycle", "events"}`` for ``--events`` (each event ``{"cycle",
"slot", "xpe", "code", "channel", "code_cycle", "signal"}``), and ``{"vcd", "clock",
"signals", "rows"}`` for the table.

Options are checked while parsing (:mod:`oxbnn.tools.options`): ``--from``/``--to`` are cycles
in 0 .. 2**62 or times with a known unit, ``--max-rows`` is in 1 .. :data:`MAX_ROWS`. Decisions:
``--to`` before ``--from`` is an error (for two cycles before the file is read, for times once
the timescale is known), and so is a ``--from`` past the file's last cycle; a ``--to`` past it
is clamped to the last cycle, so a huge window on a small file prints what there is, at once.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..testbenches.waves import WavesError, events, load_trace
from .options import add_json, cycle_or_time, int_range

__all__ = ["MAX_ROWS", "register", "run"]

#: The most rows ``--max-rows`` may ask for.
MAX_ROWS = 1_000_000


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "waves",
        help="print signal values per cycle from a VCD, or the PCA readout events",
        description="Read a VCD (no screen needed). Cycle k runs from the k-th rising edge of "
        "the clock to the next; values are those the next edge samples.",
    )
    p.add_argument("vcd", type=Path, help="the .vcd file")
    p.add_argument(
        "--signals",
        nargs="+",
        default=None,
        metavar="PATTERN",
        help="glob patterns or substrings of signal names (default: the ports of "
        "the optical interface)",
    )
    p.add_argument(
        "--from",
        dest="start",
        type=cycle_or_time,
        default="0",
        metavar="CYCLE",
        help="first cycle (or a time: 120ns; default 0)",
    )
    p.add_argument(
        "--to",
        dest="stop",
        type=cycle_or_time,
        default=None,
        metavar="CYCLE",
        help="last cycle (or a time; default the file's last cycle)",
    )
    p.add_argument(
        "--events",
        default=None,
        metavar="SIGNAL",
        help="list the cycles and slots SIGNAL (e.g. pca_sample) pulses, with ADC codes",
    )
    p.add_argument("--clock", default=None, help="clock signal name (default: clk)")
    p.add_argument("--list", action="store_true", help="list the signals in the file")
    add_json(p)
    p.add_argument(
        "--max-rows",
        type=int_range(1, MAX_ROWS),
        default=200,
        metavar="N",
        help=f"cap on table rows, 1..{MAX_ROWS} (default 200)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.stop is not None and args.start.strip().isdigit() and args.stop.strip().isdigit():
        if int(args.stop) < int(args.start):
            raise WavesError(f"--to {args.stop} is before --from {args.start}")
    trace = load_trace(args.vcd, args.clock)
    if args.list:
        rows = [{"signal": n, "width": s.width} for n, s in trace.signals.items()]
        if args.json:
            report = {"vcd": str(trace.path), "clock": trace.clock, "signals": rows}
            print(json.dumps(report, indent=2))
        else:
            for r in rows:
                print(f"{r['width']:>5}  {r['signal']}")
        return 0
    first = trace.cycle_of(args.start, "--from")
    stop = trace.n_cycles - 1 if args.stop is None else trace.cycle_of(args.stop, "--to")
    if first > trace.n_cycles - 1:
        raise WavesError(
            f"--from {args.start} (cycle {first}) is past the last cycle of {trace.path} "
            f"(cycle {trace.n_cycles - 1})"
        )
    if stop < first:
        raise WavesError(
            f"--to {args.stop} (cycle {stop}) is before --from {args.start} (cycle {first})"
        )
    last = min(stop, trace.n_cycles - 1)
    if args.events:
        rows = events(trace, args.events, first, last)
        if args.json:
            report = {
                "vcd": str(trace.path),
                "clock": trace.clock,
                "event": args.events,
                "from_cycle": first,
                "to_cycle": last,
                "events": rows,
            }
            print(json.dumps(report, indent=2))
        else:
            print(
                f"# {len(rows)} {args.events} events in cycles {first}..{last} "
                f"(clock {trace.clock}, {trace.n_cycles} cycles in the file)"
            )
            print(
                f"{'cycle':>8} {'slot':>4} {'xpe':>4} {'code':>6} {'channel':>7} "
                f"{'at cycle':>9}  signal"
            )
            for r in rows:
                code, channel, at = (
                    "-" if r[k] is None else str(r[k]) for k in ("code", "channel", "code_cycle")
                )
                print(
                    f"{r['cycle']:>8} {r['slot']:>4} {r['xpe']:>4} {code:>6} {channel:>7} "
                    f"{at:>9}  {r['signal']}"
                )
        return 0
    patterns = args.signals or ["*pca_sample*", "*pca_reset*", "*adc_valid*", "*adc_code*"]
    names = trace.match(patterns)
    if not names:
        what = f"--signals {' '.join(args.signals)}" if args.signals else "the default signals"
        raise WavesError(f"{trace.path}: {what} match no signal; try --list")
    last = min(last, first + args.max_rows - 1)
    table = [{"cycle": c, **{n: trace.value(n, c) for n in names}} for c in range(first, last + 1)]
    if args.json:
        report = {"vcd": str(trace.path), "clock": trace.clock, "signals": names, "rows": table}
        print(json.dumps(report, indent=2))
        return 0
    short = [n.split(".")[-1] for n in names]
    widths = [max(len(s), 6) for s in short]
    print("cycle  " + "  ".join(s.rjust(w) for s, w in zip(short, widths, strict=True)))
    for row in table:
        cells = [
            "x" if row[n] is None else hex(row[n]) if trace.signals[n].width > 8 else str(row[n])
            for n in names
        ]
        print(
            f"{row['cycle']:>5}  "
            + "  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True))
        )
    return 0
