"""python -m runs mlp [--target exercises|solutions] [options]  (what `nox -s train` runs)."""

import argparse
import sys

from runs.common import NotReady, use_target

USAGE = "usage: nox -s train -- mlp [--target exercises|solutions] [--epochs N] [--out DIR]"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="nox -s train --", description=__doc__)
    parser.add_argument("run", choices=["mlp"])
    parser.add_argument("--target", choices=["exercises", "solutions"], default="exercises")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="folder for the PNG (default out/<run>/)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (default 1: for a model this small, more threads only wait "
        "on each other; on a 2-core machine 2 threads ran the digits MLP ~80x slower)",
    )
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    use_target(args.target)
    try:
        if args.run == "mlp":
            from runs import mlp

            return mlp.main(args, args.target)
    except NotReady as exc:
        print(exc, file=sys.stderr)
        return 3
    return 2


if __name__ == "__main__":
    sys.exit(main())
