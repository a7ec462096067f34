"""`nox -s train -- gpt`: the capstone trains with the target's own train(), it resumes where
it stopped, it writes its checkpoint, curve and sample, and an unfinished tree is told what
is left.

Everything here trains a tiny GPT on a few lines of local text, so it runs in seconds;
the full recipe on the real corpus is measured by hand (see the README)."""

import argparse
import os
import shutil
import subprocess
import sys

import pytest
import torch

from grader.catalog import ROOT
from runs import gpt
from runs.common import NotReady
from tests.harness.conftest import run_in_process

TEXT = (
    "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n"
    "First Citizen:\nYou are all resolved rather to die than to famish?\n\nAll:\n"
    "Resolved. resolved.\n\nFirst Citizen:\nFirst, you know Caius Marcius is chief enemy "
    "to the people.\n"
) * 4
TINY = dict(
    block_size=8,
    n_layer=1,
    n_head=2,
    n_embd=16,
    dropout=0.0,
    bias=True,
    max_iters=8,
    batch_size=4,
    learning_rate=1e-2,
    min_lr=1e-3,
    warmup_iters=2,
    weight_decay=0.1,
    grad_clip=1.0,
    eval_interval=4,
    eval_iters=2,
    seed=3,
)
TINY_FLAGS = [
    "--n-layer=1",
    "--n-head=2",
    "--n-embd=16",
    "--block-size=8",
    "--batch-size=4",
    "--eval-interval=3",
    "--eval-iters=2",
    "--sample-chars=40",
    "--threads=1",
    "--quiet",
]


def test_the_run_is_one_call_of_the_targets_train(monkeypatch):
    """The run's history and weights are those of a plain train() call on the same GPT:
    the hooks it passes (optimizer, start_iter, on_eval, stop) change nothing."""
    m = gpt.target_modules()
    run = gpt.Run(m, dict(TINY), sorted(set(TEXT)), "test", "cpu")
    data, val = gpt.encode_splits(run.tokenizer, TEXT, "cpu")
    calls = []
    train = m["train_gpt"].train
    monkeypatch.setattr(
        m["train_gpt"], "train", lambda *a, **kw: calls.append(kw) or train(*a, **kw)
    )
    seen = []
    run.train(data, val, on_eval=lambda entry: seen.append((entry, run.iter, len(run.history))))
    assert len(calls) == 1 and calls[0]["optimizer"] is run.optimizer
    assert calls[0]["generator"] is run.generator and calls[0]["start_iter"] == 0
    assert [(e["iter"], it, n) for e, it, n in seen] == [(4, 4, 1), (8, 8, 2)]
    assert run.iter == TINY["max_iters"] and run.train_seconds > 0

    torch.manual_seed(TINY["seed"])
    config = m["gpt"].GPTConfig(vocab_size=len(run.chars), **{f: TINY[f] for f in gpt.MODEL_FIELDS})
    model = m["gpt"].GPT(config)
    history = train(
        model,
        data,
        val,
        generator=torch.Generator().manual_seed(TINY["seed"]),
        progress=False,
        block_size=TINY["block_size"],
        **{k: v for k, v in TINY.items() if k not in (*gpt.MODEL_FIELDS, "seed")},
    )
    assert [r["iter"] for r in history] == [4, 8]
    assert run.history == history
    for a, b in zip(run.model.parameters(), model.parameters(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("stop_at", [4, 5])  # right after an evaluation, and between two
def test_resuming_from_a_checkpoint_continues_the_same_run(tmp_path, stop_at):
    m = gpt.target_modules()
    whole = gpt.Run(m, dict(TINY), sorted(set(TEXT)), "test", "cpu")
    data, val = gpt.encode_splits(whole.tokenizer, TEXT, "cpu")
    whole.train(data, val)

    first = gpt.Run(m, dict(TINY), sorted(set(TEXT)), "test", "cpu")
    asked = []
    first.train(data, val, stop=lambda step: asked.append(step) or step == stop_at)
    assert asked == list(range(1, stop_at + 1)) and first.iter == stop_at
    first.save(tmp_path / "ckpt.pt")

    resumed = gpt.Run.load(m, tmp_path / "ckpt.pt", "cpu", None)
    assert resumed.iter == stop_at and [r["iter"] for r in resumed.history] == [4]
    resumed.train(data, val)
    assert resumed.iter == TINY["max_iters"]
    assert resumed.history == whole.history
    for a, b in zip(resumed.model.parameters(), whole.model.parameters(), strict=True):
        assert torch.equal(a, b)
    assert resumed.sample(30, 1.0, None) == whole.sample(30, 1.0, None)


def test_a_train_without_the_run_keywords_is_told_what_to_add(monkeypatch, tmp_path):
    mods = gpt.target_modules()

    def old_train(model, train_data, val_data, *, max_iters, batch_size, block_size, progress=True):
        raise AssertionError("not called")

    monkeypatch.setattr(mods["train_gpt"], "train", old_train)
    args = argparse.Namespace(resume=False)
    with pytest.raises(NotReady, match="takes no optimizer, start_iter, on_eval, stop"):
        gpt._train(args, mods, "exercises", tmp_path, tmp_path / "ckpt.pt")


def cli(*args, env=None):
    full_env = dict(os.environ, **(env or {}))
    full_env.pop("KATA_TARGET", None)
    return subprocess.run(
        [sys.executable, "-m", "runs", "gpt", *args],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_run_on_a_text_file_logs_saves_samples_and_resumes(tmp_path):
    text = tmp_path / "play.txt"
    text.write_text(TEXT)
    out = tmp_path / "out"
    common = ["--target=solutions", f"--text={text}", f"--out={out}", *TINY_FLAGS]
    proc = cli(*common, "--iters=6")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    logged = [ln for ln in proc.stdout.splitlines() if ln.startswith("step")]
    assert len(logged) == 2 and "val" in logged[0] and "tokens/s" in logged[0]
    assert "--- sample" in proc.stdout and "final: train" in proc.stdout
    assert (out / "gpt_loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    sample = (out / "sample.txt").read_text()
    assert len(sample) == 40 and set(sample) <= set(TEXT)
    saved = torch.load(out / "ckpt.pt", weights_only=True)
    assert saved["iter"] == 6 and [r["iter"] for r in saved["history"]] == [3, 6]

    more = run_in_process("gpt", *common, "--resume", "--iters=9")  # the CLI's: the Ctrl-C test
    assert "resuming" in more and "at step 6 of 9" in more
    assert torch.load(out / "ckpt.pt", weights_only=True)["iter"] == 9


def test_resume_without_a_checkpoint_says_so(tmp_path):
    proc = cli("--target=solutions", f"--out={tmp_path}", "--resume", "--quiet")
    assert proc.returncode == 3 and "no checkpoint" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_text_too_short_for_the_block_is_refused(tmp_path):
    (tmp_path / "t.txt").write_text("To be, or not to be.\n")
    proc = cli("--target=solutions", f"--text={tmp_path / 't.txt'}", f"--out={tmp_path}")
    assert proc.returncode == 3 and "too short" in proc.stderr


def test_the_stub_tree_lists_every_kata_the_run_needs(tmp_path):
    shutil.copytree(ROOT / "exercises", tmp_path / "exercises")
    proc = cli(env={"KATA_ROOT": str(tmp_path)})
    assert proc.returncode == 3, proc.stdout + proc.stderr
    for kata in gpt.NEEDS:
        assert kata in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_stub_reached_at_run_time_is_named(monkeypatch, tmp_path):
    monkeypatch.setattr(gpt, "require", lambda *a: None)

    def reaches_a_stub(*args):
        raise NotImplementedError("sprint4.attention.AttentionHead")

    monkeypatch.setattr(gpt, "_train", reaches_a_stub)
    args = argparse.Namespace(out=str(tmp_path))
    with pytest.raises(NotReady, match=r"sprint4\.attention\.AttentionHead"):
        gpt.main(args, "exercises")


def test_ctrl_c_finishes_the_step_saves_and_resumes_to_the_same_run(tmp_path):
    """Ctrl-C between evaluations: the run stops after the current step, saves that step,
    and --resume ends exactly where an uninterrupted run ends. The Ctrl-C is sent when the
    first evaluation (step 100) is printed: 200 steps (~1 s) before the run would end."""
    import signal

    text = tmp_path / "play.txt"
    text.write_text(TEXT)
    flags = ["--target=solutions", f"--text={text}", *TINY_FLAGS, "--iters=300"]
    flags = [f for f in flags if not f.startswith("--eval-interval")] + ["--eval-interval=100"]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.pop("KATA_TARGET", None)
    command = [sys.executable, "-m", "runs", "gpt", *flags, f"--out={tmp_path / 'a'}"]
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    seen = []
    while not (seen and seen[-1].startswith("step")):
        seen.append(proc.stdout.readline())
        assert seen[-1], "the run ended before its first evaluation:\n" + "".join(seen)
    proc.send_signal(signal.SIGINT)
    out = proc.stdout.read()
    assert proc.wait(timeout=120) == 130, out
    assert "stopped after step" in out
    stopped_at = torch.load(tmp_path / "a" / "ckpt.pt", weights_only=True)["iter"]
    assert 100 <= stopped_at < 300

    def final(stdout: str) -> str:
        line = next(ln for ln in stdout.splitlines() if ln.startswith("final:"))
        return line.split(";")[0]  # the losses, not the timing

    resumed = cli(*flags, f"--out={tmp_path / 'a'}", "--resume")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert final(resumed.stdout) == final(run_in_process("gpt", *flags, f"--out={tmp_path / 'b'}"))
