"""`nox -s train -- mlp`: the real run trains, prints per-epoch figures and saves a curve;
on an unfinished tree it lists the katas to write first instead of crashing."""

import os
import re
import shutil
import subprocess
import sys

from grader.catalog import ROOT
from runs.common import unfinished
from runs.mlp import NEEDS, load_digits_tensors, split


def run(*args, env=None):
    full_env = dict(os.environ, **(env or {}))
    full_env.pop("KATA_TARGET", None)
    return subprocess.run(
        [sys.executable, "-m", "runs", *args],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_digits_are_real_and_split_reproducibly():
    images, labels = load_digits_tensors()
    assert images.shape == (1797, 1, 8, 8) and labels.shape == (1797,)
    assert images.min() >= 0.0 and images.max() <= 1.0 and set(labels.tolist()) == set(range(10))
    train_a, val_a = split(images, labels, seed=0)
    _, val_b = split(images, labels, seed=0)
    assert len(val_a) == 359 and len(train_a) == 1797 - 359
    assert all((a == b).all() for a, b in zip(val_a.tensors, val_b.tensors))


def test_reference_run_writes_figures_and_a_png(tmp_path):
    """... and imports no torch._dynamo: its optimizers' first calls would (2-3 s) but for
    grader.deferred.skip_optimizer_dynamo_import (PYTHONPROFILEIMPORTTIME lists every import
    on stderr)."""
    proc = run(
        "mlp",
        "--target",
        "solutions",
        "--epochs",
        "3",
        "--quiet",
        "--out",
        str(tmp_path),
        env={"PYTHONPROFILEIMPORTTIME": "1"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    imported = re.findall(r"^import time:.*\|\s+([\w.]+)$", proc.stderr, re.MULTILINE)
    assert "torch.optim" in imported, "no import list on stderr: the check below is void"
    assert "torch._dynamo" not in imported, "the digits run imported torch._dynamo"
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("epoch")]
    assert len(lines) == 3 and "val_accuracy" in lines[0]
    png = tmp_path / "mlp_digits.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_stub_tree_lists_the_missing_katas(tmp_path):
    shutil.copytree(ROOT / "exercises", tmp_path / "exercises")
    proc = run("mlp", env={"KATA_ROOT": str(tmp_path)})
    assert proc.returncode == 3
    for kata in NEEDS:
        assert kata in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_half_done_tree_lists_only_what_is_left(tmp_path, monkeypatch):
    shutil.copytree(ROOT / "exercises", tmp_path / "exercises")
    shutil.copy(
        ROOT / "solutions" / "sprint3" / "modules.py",
        tmp_path / "exercises" / "sprint3" / "modules.py",
    )
    monkeypatch.setenv("KATA_ROOT", str(tmp_path))
    monkeypatch.setenv("KATA_TARGET", "exercises")
    left = unfinished(NEEDS)
    assert "sprint3.modules.MLP" not in left and "sprint3.training.fit" in left
