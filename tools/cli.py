"""Entry point of the ``oxbnn`` command.

Each subcommand lives in its own module of ``oxbnn.tools`` that defines ``register(subparsers)``;
the module adds its parser and sets ``func`` to a callable ``func(args) -> int``. Errors the user
can fix (a bad preset, a malformed file) are raised as :class:`UserError` subclasses or
``ValueError``s from the models and printed as one line, without a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Modules of oxbnn.tools that provide a subcommand, in the order `oxbnn --help` lists them.
SUBCOMMANDS = ["optics", "sim", "waves", "export", "report", "infer", "sweep"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="oxbnn",
        description="Cycle-accurate simulator of the OXBNN photonic BNN accelerator.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in SUBCOMMANDS:
        module = importlib.import_module(f"oxbnn.tools.{name}_cmd")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, OSError) as exc:
        # PresetError, LayerError and the other named errors are ValueErrors with a full message.
        print(f"oxbnn {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"oxbnn {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
