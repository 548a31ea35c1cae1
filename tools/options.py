"""The options every ``oxbnn`` command spells the same way, added by one function each.

=============  ==============================================================================
option         rule
=============  ==============================================================================
``--preset``   a shipped preset's name or the path of a ``.toml`` file, default
               :data:`DEFAULT_PRESET`; checked once, while the options are parsed, by loading
               it (:func:`oxbnn.models.configs.load_preset`), so a bad name or a bad file is a
               one-line error naming the file, the key and the value. The option's value stays
               the text given (commands load the preset themselves).
``--out``      a folder, default ``build/<command>/``.
``--seed``     a non-negative integer, default :data:`DEFAULT_SEED`: the seed of every random
               draw of the run (data, optical noise, plotted examples).
``--json``     print one JSON object on stdout and nothing else there (progress and messages
               go to stderr).
``--sim``      the co-simulation's simulator, ``verilator`` or ``icarus``; default the ``SIM``
               environment variable, else ``verilator`` (:func:`resolve_simulator`, the one
               place that rule lives).
=============  ==============================================================================

Decisions: every command that has a preset defaults to the same one (the 50 Gb/s design the
paper leads with), so ``oxbnn optics`` and ``oxbnn infer`` no longer require ``--preset``;
``--out`` defaults to ``build/<command>/`` for every command, whatever the command used before.
Errors found while parsing are printed as one line, ``oxbnn <command>: error: argument
<option>: <why>``, with exit status 2 (:mod:`oxbnn.tools.cli`).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..models.configs import load_preset, preset_names

__all__ = [
    "DEFAULT_PRESET",
    "DEFAULT_SEED",
    "HELP",
    "add_json",
    "add_out",
    "add_preset",
    "add_seed",
    "add_sim",
    "non_negative_int",
    "preset_arg",
    "resolve_simulator",
    "simulator_arg",
]

#: The preset of every command that takes one, when ``--preset`` is not given.
DEFAULT_PRESET = "oxbnn50"
#: The seed of every command that takes one, when ``--seed`` is not given.
DEFAULT_SEED = 1
#: Help texts of the shared options; ``{command}`` is the subcommand's name.
HELP = {
    "preset": (
        f"a shipped preset ({', '.join(preset_names())}) or the path of a .toml file "
        f"(default {DEFAULT_PRESET})"
    ),
    "out": "folder for the outputs (default build/{command}/)",
    "seed": f"seed of every random draw of the run, an integer >= 0 (default {DEFAULT_SEED})",
    "json": "print one JSON object on stdout and nothing else there",
    "sim": "simulator of the co-simulation, verilator or icarus (default: $SIM, else verilator)",
}


def preset_arg(text: str) -> str:
    """``text`` if it names a shipped preset or a valid preset file; the loader's error if not."""
    try:
        load_preset(text)
    except ValueError as exc:  # PresetError: names the file, the key and the value
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def non_negative_int(text: str) -> int:
    """``text`` as an integer >= 0, or an error saying what was expected."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, not {text!r}")
    return value


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


def add_preset(parser: argparse.ArgumentParser) -> None:
    """``--preset NAME_OR_TOML``, default :data:`DEFAULT_PRESET`, validated while parsing."""
    parser.add_argument(
        "--preset", type=preset_arg, default=DEFAULT_PRESET, metavar="PRESET", help=HELP["preset"]
    )


def add_out(parser: argparse.ArgumentParser, command: str) -> None:
    """``--out DIR`` (a :class:`~pathlib.Path`), default ``build/<command>``."""
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("build") / command,
        metavar="DIR",
        help=HELP["out"].format(command=command),
    )


def add_seed(parser: argparse.ArgumentParser) -> None:
    """``--seed S``, a non-negative integer, default :data:`DEFAULT_SEED`."""
    parser.add_argument(
        "--seed", type=non_negative_int, default=DEFAULT_SEED, metavar="S", help=HELP["seed"]
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
