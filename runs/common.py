"""What the runs share: the target's katas, readiness checks, output folders, curves."""

from __future__ import annotations

import os
from pathlib import Path

from grader import target
from grader.catalog import ROOT
from grader.stubs import unfinished  # the one rule for "still a stub"; runs import it here

# The katas a GPT is made of, in the reference's build: what any run of a GPT needs.
GPT_KATAS = [
    "sprint4.attention.causal_mask",
    "sprint4.attention.scaled_dot_product_attention",
    "sprint4.attention.MultiHeadAttention",
    "sprint4.layers.LayerNorm",
    "sprint4.layers.FeedForward",
    "sprint4.layers.Block",
    "sprint5.gpt.GPTConfig",
    "sprint5.gpt.GPT",
]


class NotReady(Exception):
    """Katas a run needs are still stubs."""


def use_target(name: str) -> None:
    os.environ["KATA_TARGET"] = name
    target.install()


def require(kata_ids: list[str], target_name: str) -> None:
    missing = unfinished(kata_ids)
    if missing:
        lines = "\n".join(f"  - {k}" for k in missing)
        raise NotReady(
            f"this run uses your own code from {target_name}/, and these katas are not "
            f"written yet:\n{lines}\nGrade them with `nox -s grade -- {missing[0]}` until "
            f"they pass, or watch the reference: add `--target solutions`."
        )


def out_dir(name: str, given: str | None) -> Path:
    path = Path(given) if given else ROOT / "out" / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def save_curves(
    path: Path, title: str, panels: list[tuple[str, dict[str, list]]], xlabel: str = "epoch"
) -> Path:
    """One PNG with a panel per (ylabel, {series name: [(x, y), ...]})."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.6))
    for ax, (ylabel, series) in zip(axes if len(panels) > 1 else [axes], panels):
        for label, points in series.items():
            xs, ys = zip(*points) if points else ((), ())
            ax.plot(xs, ys, marker="o", markersize=3, label=label)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
