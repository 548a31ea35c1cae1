"""The options every ``oxbnn`` command spells the same way, added by one function each.

=============  ==============================================================================
option         rule
=============  ==============================================================================
``--preset``   a shipped preset's name or the path of a ``.toml`` file, default
               :data:`DEFAULT_PRESET`; checked once, while the options are parsed, by loading
               it (:func:`oxbnn.models.configs.load_preset`), so a bad name or a bad file is a
               one-line error naming the file, the key and the value. The option's value stays
               the text given (commands load the preset themselves).
``--out``      a folder, default ``build/<command>/`` (:func:`out_dir`: refused while parsing
               when it, or the nearest of its parents that exists, is not a folder).
``--seed``     an integer in 0 .. :data:`MAX_SEED`, default :data:`DEFAULT_SEED`: the seed of
               every random draw of the run (data, optical noise, plotted examples).
``--name``     a run name (:func:`run_name`): letters, digits, ``.``, ``_``, ``-``; it becomes
               a folder under ``--out``, so it may not contain a path separator or start
               with ``.``.
``--json``     print one JSON object on stdout and nothing else there (progress and messages
               go to stderr).
``--sim``      the co-simulation's simulator, ``verilator`` or ``icarus``; default the ``SIM``
               environment variable, else ``verilator`` (:func:`resolve_simulator`, the one
               place that rule lives).
=============  ==============================================================================

Decisions: every command that has a preset defaults to the same one (the 50 Gb/s design the
paper leads with), so ``oxbnn optics`` and ``oxbnn infer`` no longer require ``--preset``;
``--out`` defaults to ``build/<command>/`` for every command, whatever the command used before.
Every numeric option of every command is checked by its ``type=`` function
(:func:`int_range`, :func:`probability`, :func:`cycle_or_time`), so a value out of range is
refused while the options are parsed, before any file is read or any simulator started, with
the option's name in the message. Errors found while parsing are printed as one line,
``oxbnn <command>: error: argument <option>: <why>``, with exit status 2 (:mod:`oxbnn.tools.cli`).
"""

from __future__ import annotations

import argparse
import math
import os
import re
from collections.abc import Callable
from pathlib import Path

from ..models.configs import S1_SUFFIX, load_preset, preset_names

__all__ = [
    "BENCH_PRESET",
    "DEFAULT_PRESET",
    "DEFAULT_SEED",
    "HELP",
    "MAX_SEED",
    "add_json",
    "add_out",
    "add_preset",
    "add_seed",
    "add_sim",
    "cycle_or_time",
    "int_range",
    "out_dir",
    "non_negative_int",
    "preset_arg",
    "probability",
    "resolve_simulator",
    "run_name",
    "simulator_arg",
]

#: The preset of every command that takes one, when ``--preset`` is not given.
DEFAULT_PRESET = "oxbnn50"
#: The preset of the speed benchmarks (``make bench-sim``, ``make bench-rtl``): the default one
#: at its S = 1 idealisation, since at the shipped S = 49 Amaranth takes many minutes to
#: elaborate its XPU (``--preset oxbnn50`` measures it there).
BENCH_PRESET = DEFAULT_PRESET + S1_SUFFIX
#: The seed of every command that takes one, when ``--seed`` is not given.
DEFAULT_SEED = 1
#: The largest ``--seed``: every seed fits a signed 64-bit integer (numpy, JSON readers).
MAX_SEED = 2**63 - 1
#: Help texts of the shared options; ``{command}`` is the subcommand's name.
HELP = {
    "preset": (
        f"a shipped preset ({', '.join(preset_names())}; a name followed by {S1_SUFFIX} is "
        f"that preset at its S = 1 idealisation) or the path of a .toml file"
    ),
    "out": "folder for the outputs (default build/{command}/)",
    "seed": f"seed of every random draw of the run, an integer in 0..2**63-1 "
    f"(default {DEFAULT_SEED})",
    "json": "print one JSON object on stdout and nothing else there",
    "sim": "simulator of the co-simulation, verilator or icarus (default: $SIM, else verilator)",
}


def preset_arg(text: str) -> str:
    """``text`` if it names a shipped preset or a valid preset file; the loader's error if not.

    :func:`~oxbnn.models.configs.load_preset` checks the file, its ``[meta] name`` (it reaches
    file names) and the derivation (link budget, gamma, ADC bits, S), so every command that
    takes ``--preset`` refuses a bad preset while parsing, with the same message.
    """
    try:
        load_preset(text)
    except ValueError as exc:  # PresetError: names the file, the key and the value
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def int_range(lo: int, hi: int | None = None) -> Callable[[str], int]:
    """An argparse ``type=``: the text as an integer in ``lo .. hi`` (``hi=None``: no bound).

    The error says what was expected; argparse prefixes the option's name (``argument
    --images: ...``). Decimal integers only (``10``, ``-3``, ``1_000``): ``1e3`` or ``2.0`` are
    refused rather than rounded, and the text is limited to 30 characters so that a huge
    number is refused at once instead of converted.
    """
    expected = f"an integer >= {lo}" if hi is None else f"an integer in {lo}..{hi}"

    def parse(text: str) -> int:
        value: int | None = None
        stripped = text.strip()
        if len(stripped) <= 30 and re.fullmatch(r"[+-]?[0-9]+", stripped):
            value = int(stripped)
        if value is None or value < lo or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"expected {expected}, not {text!r}")
        return value

    parse.__name__ = f"int_range({lo}, {hi})"
    return parse


#: argparse ``type=`` of an integer >= 0.
non_negative_int = int_range(0)


def probability(text: str) -> float:
    """argparse ``type=``: a probability ``p`` with ``0 < p <= 1`` (a finite decimal number)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0.0 < value <= 1.0):
        raise argparse.ArgumentTypeError(f"expected a probability p with 0 < p <= 1, not {text!r}")
    return value


#: The largest cycle number ``cycle_or_time`` takes (2**62: any real trace is far shorter).
MAX_CYCLE = 2**62


def cycle_or_time(text: str) -> str:
    """argparse ``type=`` of a point in a trace: a cycle number, or a time with a unit.

    A cycle is an integer in 0 .. :data:`MAX_CYCLE`; a time is a finite non-negative number
    followed by one of :data:`oxbnn.testbenches.waves.TIME_UNITS` (``120ns``, ``4.5 us``).
    The text is returned unchanged (the trace converts a time with its own timescale).
    """
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*([A-Za-z]*)\s*", text)
    if not m or len(text) > 40:
        raise argparse.ArgumentTypeError(
            f"expected a cycle (an integer >= 0) or a time with a unit such as 120ns, not {text!r}"
        )
    from ..testbenches.waves import TIME_UNITS

    number, unit = m.groups()
    if unit and unit not in TIME_UNITS:
        raise argparse.ArgumentTypeError(
            f"unknown time unit {unit!r} in {text!r}; expected one of {', '.join(TIME_UNITS)}"
        )
    if not unit and ("." in number or int(number) > MAX_CYCLE):
        raise argparse.ArgumentTypeError(
            f"expected a cycle, an integer in 0..{MAX_CYCLE} (or a time with a unit), not {text!r}"
        )
    return text


def out_dir(text: str) -> Path:
    """argparse ``type=`` of ``--out``: a folder that exists or can be made (it is made later)."""
    path = Path(text)
    if "\0" in text:
        raise argparse.ArgumentTypeError(f"expected a folder, not {text!r} (a NUL character)")
    for p in (path, *path.parents):
        if p.exists():
            if not p.is_dir():
                what = "is" if p == path else f"is inside {str(p)!r}, which is"
                raise argparse.ArgumentTypeError(f"{text!r} {what} a file, not a folder")
            break
    return path


def run_name(text: str) -> str:
    """argparse ``type=`` of ``--name``: a folder name under ``--out``, never a path.

    Letters, digits, ``.``, ``_`` and ``-``, at most 100 characters, not starting with ``.``
    (so ``..`` and hidden folders are refused, and the run stays inside ``--out``).
    """
    if not re.fullmatch(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}", text):
        raise argparse.ArgumentTypeError(
            f"expected a run name of 1 to 100 letters, digits, '.', '_' or '-' not starting "
            f"with '.', not {text!r}"
        )
    return text


def resolve_simulator(value: str | None = None) -> str:
    """The simulator to use: ``value``, else ``$SIM``, else ``"verilator"``; checked.

    Raises ``ValueError`` naming where the bad name came from.
    """
    from ..testbenches.cosim import SIMULATORS

    name = value or os.environ.get("SIM") or "verilator"
    if name not in SIMULATORS:
        where = "--sim" if value else "SIM (environment variable)"
        raise ValueError(f"{where} is {name!r}; expected one of {', '.join(SIMULATORS)}")
    return name


def simulator_arg(text: str) -> str:
    """argparse type of ``--sim``: :func:`resolve_simulator` of ``text``."""
    try:
        return resolve_simulator(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_preset(parser: argparse.ArgumentParser, default: str = DEFAULT_PRESET) -> None:
    """``--preset NAME_OR_TOML``, default ``default`` (:data:`DEFAULT_PRESET`), validated while
    parsing."""
    parser.add_argument(
        "--preset",
        type=preset_arg,
        default=default,
        metavar="PRESET",
        help=f"{HELP['preset']} (default {default})",
    )


def add_out(parser: argparse.ArgumentParser, command: str) -> None:
    """``--out DIR`` (a :class:`~pathlib.Path`), default ``build/<command>``."""
    parser.add_argument(
        "--out",
        type=out_dir,
        default=Path("build") / command,
        metavar="DIR",
        help=HELP["out"].format(command=command),
    )


def add_seed(parser: argparse.ArgumentParser) -> None:
    """``--seed S``, an integer in 0 .. :data:`MAX_SEED`, default :data:`DEFAULT_SEED`."""
    parser.add_argument(
        "--seed", type=int_range(0, MAX_SEED), default=DEFAULT_SEED, metavar="S", help=HELP["seed"]
    )


def add_json(parser: argparse.ArgumentParser) -> None:
    """``--json``: the command prints one JSON object on stdout and nothing else there."""
    parser.add_argument("--json", action="store_true", help=HELP["json"])


def add_sim(parser: argparse.ArgumentParser) -> None:
    """``--sim verilator|icarus``; without it ``$SIM``, else verilator, resolved while parsing.

    The default is the text ``""`` so that argparse passes it through :func:`simulator_arg`
    when the option is absent: ``args.sim`` is always a checked simulator name.
    """
    from ..testbenches.cosim import SIMULATORS

    parser.add_argument(
        "--sim",
        type=simulator_arg,
        default="",
        metavar="{" + ",".join(SIMULATORS) + "}",
        help=HELP["sim"],
    )
