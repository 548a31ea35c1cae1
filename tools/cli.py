"""Entry point of the ``oxbnn`` command.

Each subcommand lives in its own module of ``oxbnn.tools`` that defines ``register(subparsers)``;
the module adds its parser (the shared options with the helpers of :mod:`oxbnn.tools.options`)
and sets ``func`` to a callable ``func(args) -> int``. The modules are thin: they parse options,
call the models and testbenches, write files and print.

Errors the user can fix are printed as one line, ``oxbnn <command>: error: <message>``, without
a traceback and with exit status 2: an option argparse refuses (a bad ``--seed``, an unknown
preset, a missing argument; the line ends with ``(see oxbnn <command> --help)``) and any
``ValueError`` or ``OSError`` a command raises (the named errors of the models:
``PresetError``, ``LayerError``, ``DigitsParamsError``, ...). A command that ran but whose check
failed returns 1, and so does a co-simulation that could not run (a ``CosimError``: its message
carries the root cause, printed as one line). ``oxbnn --version`` prints ``oxbnn <version>``
(the installed package's, :func:`importlib.metadata.version`) and exits 0.

Decision (last resort): no exception reaches the user as a traceback. A ``MemoryError`` is one
line, ``oxbnn <command>: error: out of memory ...``, exit 2 (an input too large for this
machine). Any other exception is a defect of oxbnn, not of the input: it is one line,
``oxbnn <command>: internal error: <type>: <message> (set OXBNN_TRACEBACK=1 for the
traceback)``, with exit status 3; with ``OXBNN_TRACEBACK=1`` in the environment it is raised
as is (for debugging).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from importlib import metadata
from typing import NoReturn

# Modules of oxbnn.tools that provide a subcommand, in the order `oxbnn --help` lists them.
SUBCOMMANDS = ["optics", "sim", "waves", "export", "report", "infer", "sweep", "timing"]
# The module of a subcommand whose module is not ``<name>_cmd`` (the flow and its command in one).
_MODULES = {"timing": "sta"}


class OptionError(Exception):
    """An option argparse refused; ``prog`` is the (sub)command's name, e.g. ``oxbnn infer``."""

    def __init__(self, prog: str, message: str) -> None:
        super().__init__(message)
        self.prog = prog


class _Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are raised (one line is printed by :func:`main`).

    ``add_subparsers`` gives the subcommands' parsers the same class.
    """

    def error(self, message: str) -> NoReturn:
        raise OptionError(self.prog, message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="oxbnn",
        description="Cycle-accurate simulator of the OXBNN photonic BNN accelerator.",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {metadata.version('oxbnn')}"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in SUBCOMMANDS:
        module = importlib.import_module(f"oxbnn.tools.{_MODULES.get(name, name + '_cmd')}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except OptionError as exc:
        print(f"{exc.prog}: error: {exc} (see {exc.prog} --help)", file=sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except (ValueError, OSError) as exc:
        # PresetError, LayerError and the other named errors are ValueErrors with a full message.
        print(f"oxbnn {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"oxbnn {args.command}: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print(
            f"oxbnn {args.command}: error: out of memory (an input is too large for this machine)",
            file=sys.stderr,
        )
        return 2
    except Exception as exc:
        # A co-simulation that could not run (build error, X on an output, a timeout): its
        # message carries the root cause. Imported here: the co-simulation pulls in cocotb.
        from ..testbenches.cosim import CosimError

        if isinstance(exc, CosimError):
            print(f"oxbnn {args.command}: error: {exc}", file=sys.stderr)
            return 1
        if os.environ.get("OXBNN_TRACEBACK") == "1":
            raise
        text = " ".join(str(exc).split())
        print(
            f"oxbnn {args.command}: internal error: {type(exc).__name__}: {text} "
            "(set OXBNN_TRACEBACK=1 for the traceback)",
            file=sys.stderr,
        )
        return 3


if __name__ == "__main__":
    sys.exit(main())
