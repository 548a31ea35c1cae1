"""``python -m oxbnn.tools.train_digits``: train the digits BNN and write its parameter file.

The training and the batch-norm fold are :mod:`oxbnn.models.training`; this module is the
command (``make train-digits``): options, progress on stdout, the ``.npz`` written with
:func:`oxbnn.models.digits.save_params`. The same seed gives the same file byte for byte on the
same numpy / BLAS.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..models.digits import save_params
from ..models.training import DEFAULT_EPOCHS, DEFAULT_SEED, TRAIN_COMMAND, train
from .options import non_negative_int

__all__ = ["DEFAULT_OUT", "main"]

#: Where the command writes without ``--out`` (``make train-digits`` refreshes the shipped file).
DEFAULT_OUT = Path("build") / "digits" / "digits_params.npz"


def main(argv: list[str] | None = None) -> int:
    """Command line: train, print progress and the golden test accuracy, write the ``.npz``."""
    parser = argparse.ArgumentParser(
        prog=TRAIN_COMMAND,
        description="Train the digits BNN (numpy, seeded) and write its folded integer "
        "parameters. Use --out models/digits_params.npz to refresh the shipped file.",
    )
    parser.add_argument(
        "--seed",
        type=non_negative_int,
        default=DEFAULT_SEED,
        help=f"seed of the initial weights and the batch order, an integer >= 0 "
        f"(default {DEFAULT_SEED})",
    )
    parser.add_argument(
        "--epochs", type=int, default=DEFAULT_EPOCHS, help=f"epochs (default {DEFAULT_EPOCHS})"
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"output .npz (default {DEFAULT_OUT})"
    )
    parser.add_argument(
        "--train-limit",
        type=int,
        default=None,
        metavar="N",
        help="train on the first N training images only (quick runs)",
    )
    args = parser.parse_args(argv)
    try:
        net, _ = train(seed=args.seed, epochs=args.epochs, train_limit=args.train_limit)
    except ValueError as exc:
        print(f"train_digits: error: {exc}", file=sys.stderr)
        return 2
    path = save_params(net, args.out)
    print(f"wrote {path} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
