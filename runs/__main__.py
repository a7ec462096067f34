"""python -m runs {mlp,gpt,gpt2,gguf,lora} [--target exercises|solutions] [options]
(`nox -s train`).

mlp   an MLP on scikit-learn's real 8x8 handwritten digits (Sprint 3's katas)
gpt   the capstone: a character-level GPT on Shakespeare (Sprints 3-5's katas)
gpt2  your GPT with OpenAI's GPT-2 weights, checked against transformers, generating
gguf  the capstone's GPT written to a .gguf file with your Q4_0, read back, evaluated (Sprint 7)
lora  your LoRA on your GPT-2 (or capstone) GPT, fine-tuned; the adapter saved for peft
"""

import argparse
import sys

from runs.common import NotReady, use_target

USAGE = (
    "usage: nox -s train -- {mlp,gpt,gpt2,gguf,lora} [--target exercises|solutions] [options]"
    "  (-h: all)"
)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="nox -s train --", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    runs = top.add_subparsers(dest="run", required=True, metavar="{mlp,gpt,gpt2,gguf,lora}")
    mlp = runs.add_parser("mlp", help="an MLP on real handwritten digits")
    gpt = runs.add_parser("gpt", help="the capstone: a character-level GPT on Shakespeare")
    gpt2 = runs.add_parser("gpt2", help="your GPT with GPT-2's weights (internet once)")
    gguf = runs.add_parser("gguf", help="the capstone's GPT as a Q4_0 .gguf file, read back")
    lora = runs.add_parser("lora", help="LoRA fine-tuning of your GPT, saved for peft")
    for sub, threads, threads_help in (
        (mlp, 1, "default 1: for a model this small, more threads only wait on each other"),
        (gpt, None, "default: torch's, one per core; 2 ran the recipe 1.3x faster than 1 here"),
        (gpt2, None, "default: torch's, one per core"),
        (gguf, None, "default: torch's, one per core"),
        (lora, None, "default: torch's, one per core"),
    ):
        sub.add_argument("--target", choices=["exercises", "solutions"], default="exercises")
        sub.add_argument("--seed", type=int, default=0)
        sub.add_argument("--out", help="output folder (default out/<run>/)")
        sub.add_argument("--quiet", action="store_true", help="no progress bar")
        sub.add_argument(
            "--threads", type=int, default=threads, help=f"torch CPU threads ({threads_help})"
        )
    mlp.add_argument("--epochs", type=int, default=30)
    mlp.add_argument("--batch-size", type=int, default=64)
    mlp.add_argument("--lr", type=float, default=1e-3)
    from runs.gpt import add_arguments

    add_arguments(gpt)
    from runs import gpt2 as gpt2_run

    gpt2_run.add_arguments(gpt2)
    from runs import gguf_export

    gguf_export.add_arguments(gguf)
    from runs import lora as lora_run

    lora_run.add_arguments(lora)
    return top


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    import torch

    from grader import deferred

    deferred.skip_optimizer_dynamo_import()  # no run compiles: 2-3 s less to start
    if args.threads:
        torch.set_num_threads(args.threads)
    use_target(args.target)
    try:
        if args.run == "mlp":
            from runs import mlp

            return mlp.main(args, args.target)
        if args.run == "gpt2":
            from runs import gpt2

            return gpt2.main(args, args.target)
        if args.run == "gguf":
            from runs import gguf_export

            return gguf_export.main(args, args.target)
        if args.run == "lora":
            from runs import lora

            return lora.main(args, args.target)
        from runs import gpt

        return gpt.main(args, args.target)
    except NotReady as exc:
        print(exc, file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
