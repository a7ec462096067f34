"""`nox -s train -- gpt --nproc 2`: the capstone in two processes, data-parallel with the
target's sprint7 ddp_train_step, trains the very model one process trains (each rank on its
half of every batch, the same batches), and rank 0 logs, saves and samples.

A tiny GPT on a few lines of local text, so that it runs in seconds (most of them torch's
import); the tokens per second of the real recipe are measured by hand (see the README)."""

import argparse
import subprocess
import sys

import pytest
import torch

from grader.catalog import ROOT
from runs import gpt, gpt_ddp
from runs.common import NotReady
from tests.harness.test_gpt_run import TEXT, TINY, TINY_FLAGS


def test_two_processes_train_what_one_process_trains_and_rank_0_saves(tmp_path):
    text = tmp_path / "play.txt"
    text.write_text(TEXT)
    out = tmp_path / "out"
    flags = [f for f in TINY_FLAGS if not f.startswith("--eval-interval")]
    flags += [f"--lr={TINY['learning_rate']}", f"--min-lr={TINY['min_lr']}"]
    flags += [f"--warmup-iters={TINY['warmup_iters']}", f"--eval-interval={TINY['eval_interval']}"]
    flags += [f"--iters={TINY['max_iters']}", f"--seed={TINY['seed']}"]
    flags += ["--target=solutions", f"--text={text}", f"--out={out}", "--nproc=2"]
    proc = subprocess.run(
        [sys.executable, "-m", "runs", "gpt", *flags],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "in each of 2 processes (gloo), 2 rows of every batch each" in proc.stdout
    logged = [ln for ln in proc.stdout.splitlines() if ln.startswith("step")]
    assert len(logged) == 2 and "tokens/s" in logged[0], proc.stdout  # rank 0 alone logs
    assert proc.stdout.count("final: train") == 1 and proc.stdout.count("--- sample") == 1
    assert (out / "gpt_loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len((out / "sample.txt").read_text()) == 40
    saved = torch.load(out / "ckpt.pt", weights_only=True)
    assert saved["iter"] == 8 and [r["iter"] for r in saved["history"]] == [4, 8]

    # the same run in one process (the single path: the target's own train())
    m = gpt.target_modules()
    one = gpt.Run(m, dict(TINY), sorted(set(TEXT)), "test", "cpu")
    data, val = gpt.encode_splits(one.tokenizer, TEXT, "cpu")
    one.train(data, val)
    for mine, theirs in zip(saved["history"], one.history, strict=True):
        assert mine["iter"] == theirs["iter"] and mine["lr"] == theirs["lr"]
        # two half-batch gradients averaged against one mean: float32 rounding, ~1e-7
        assert abs(mine["val_loss"] - theirs["val_loss"]) < 1e-5, (mine, theirs)
        assert abs(mine["train_loss"] - theirs["train_loss"]) < 1e-5, (mine, theirs)
    for name, weight in one.model.state_dict().items():
        # ~1e-7 apart, but for the attention's key bias (9e-6 here): its gradient is zero in
        # exact arithmetic (softmax ignores a shift shared by every score), so it is rounding
        # noise, which differs between the runs and which AdamW scales up to steps of ~lr
        assert torch.allclose(saved["model"][name], weight, rtol=0, atol=1e-4), name
    assert torch.equal(saved["generator"], one.generator.get_state())  # the same batches


def _args(**given):
    defaults = dict(nproc=2, resume=False, batch_size=4, device="cpu", threads=None)
    return argparse.Namespace(**{**defaults, **given})


def test_a_batch_that_does_not_split_is_refused_before_any_process_starts(monkeypatch):
    monkeypatch.setenv("KATA_TARGET", "solutions")
    monkeypatch.setattr(gpt_ddp, "launch", lambda *a: pytest.fail("launched"))
    for name in gpt_ddp.ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(NotReady, match="does not split into 3 equal shares"):
        gpt.main(_args(nproc=3), "solutions")


def test_the_stub_tree_is_told_it_needs_ddp_train_step(monkeypatch):
    monkeypatch.setenv("KATA_TARGET", "exercises")
    monkeypatch.setattr(gpt_ddp, "launch", lambda *a: pytest.fail("launched"))
    with pytest.raises(NotReady, match=r"sprint7\.ddp\.ddp_train_step"):
        gpt.main(_args(), "exercises")
