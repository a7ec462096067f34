"""What the runs share: the target's katas, readiness checks, output folders, curves."""

from __future__ import annotations

import ast
import os
from pathlib import Path

from grader import target
from grader.catalog import ROOT

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


def unfinished(kata_ids: list[str]) -> list[str]:
    """The katas among `kata_ids` whose body in the target tree is still the stub's raise."""
    missing = []
    trees: dict[str, ast.Module] = {}
    for kata in kata_ids:
        module_id, name = kata.rsplit(".", 1)
        path = target.source_path(module_id)
        if module_id not in trees:
            try:
                trees[module_id] = ast.parse(path.read_text())
            except (OSError, SyntaxError):
                missing.append(kata)
                continue
        node = next((n for n in trees[module_id].body if getattr(n, "name", None) == name), None)
        if node is None or _still_a_stub(node, kata):
            missing.append(kata)
    return missing


def _still_a_stub(node: ast.AST, kata: str) -> bool:
    functions = (
        [node]
        if isinstance(node, ast.FunctionDef)
        else [n for n in getattr(node, "body", []) if isinstance(n, ast.FunctionDef)]
    )
    for func in functions:
        for stmt in ast.walk(func):
            if (
                isinstance(stmt, ast.Raise)
                and isinstance(stmt.exc, ast.Call)
                and getattr(stmt.exc.func, "id", "") == "NotImplementedError"
                and stmt.exc.args
                and isinstance(stmt.exc.args[0], ast.Constant)
                and stmt.exc.args[0].value == kata
            ):
                return True
    return False


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
