"""`nox -s train -- gguf`: the capstone's GPT written to a .gguf file with the target's
Q4_0 (or Q8_0), read back with gguf's reader, and evaluated; a missing checkpoint is told
which run makes one.

Everything here uses a tiny capstone checkpoint made in the test (n_embd 32, so that every
weight splits into blocks of 32, and a few lines of text for the split), so it runs in
seconds; the export of a real capstone run is measured by hand (see the README)."""

import argparse
import os
import subprocess
import sys

import pytest
import torch

from grader.catalog import ROOT
from runs import gguf_export, gpt
from runs.common import NotReady
from tests.harness.test_gpt_run import TEXT
from tests.harness.test_gpt_run import TINY as GPT_TINY

gguf = pytest.importorskip("gguf")

# the capstone's tiny run, with n_embd a multiple of 32 so that its weights make Q4_0 blocks
TINY = GPT_TINY | dict(n_embd=32, max_iters=6, eval_interval=3)
FLAGS = ["--eval-iters=2", "--sample-chars=60", "--lines=3", "--threads=1"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A capstone checkpoint in the format runs.gpt.Run.save writes, for a text file. Its
    GPT is not trained (runs.gpt.Run builds an AdamW, whose first use imports
    torch._dynamo, ~5 s: the export needs none of it): GPT's init, then weights spread by a
    seeded draw, so that quantization moves the loss."""
    folder = tmp_path_factory.mktemp("capstone")
    text = folder / "play.txt"
    text.write_text(TEXT)
    chars = sorted(set(TEXT))
    mods = gpt.target_modules()
    torch.manual_seed(TINY["seed"])
    config = mods["gpt"].GPTConfig(vocab_size=len(chars), **{f: TINY[f] for f in gpt.MODEL_FIELDS})
    model = mods["gpt"].GPT(config)
    g = torch.Generator().manual_seed(TINY["seed"])
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g))
    state = {
        "settings": dict(TINY),
        "chars": chars,
        "source": str(text),
        "iter": 6,
        "history": [],
        "train_seconds": 0.0,
        "model": model.state_dict(),
        "optimizer": {},
        "generator": torch.Generator().manual_seed(TINY["seed"]).get_state(),
    }
    torch.save(state, folder / "ckpt.pt")
    return folder / "ckpt.pt"


def export(checkpoint, out, *flags) -> int:
    """The run in this process, as `nox -s train -- gguf` parses its options."""
    from runs.__main__ import parser

    args = parser().parse_args(
        ["gguf", "--target=solutions", f"--ckpt={checkpoint}", f"--out={out}", *FLAGS, *flags]
    )
    return gguf_export.main(args, "solutions")


def test_the_cli_writes_q4_0_reads_it_back_and_prints_sizes_losses_and_a_sample(
    checkpoint, tmp_path
):
    env = dict(os.environ)
    env.pop("KATA_TARGET", None)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "runs",
            "gguf",
            "--target=solutions",
            f"--ckpt={checkpoint}",
            f"--out={tmp_path}",
            *FLAGS,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    print(proc.stdout)  # the figures, for -s
    out = proc.stdout
    assert "6 weights as Q4_0 (427 blocks of 32), 10 tensors as F32" in out, out
    assert "equal to gguf's own quantizer: 427 of 427" in out, out
    assert "file size" in out and "in float32 take" in out and "val loss" in out
    assert "--- sample of the Q4_0 model (3 lines" in out

    reader = gguf.GGUFReader(str(tmp_path / "gpt-q4_0.gguf"))
    kinds = {t.name: gguf.GGMLQuantizationType(t.tensor_type).name for t in reader.tensors}
    assert kinds["blk.0.attn_qkv.weight"] == "Q4_0" and kinds["token_embd.weight"] == "Q4_0"
    assert kinds["blk.0.attn_qkv.bias"] == "F32" and kinds["output_norm.weight"] == "F32"
    assert "output.weight" not in kinds  # tied to token_embd: written once
    assert (tmp_path / "sample-q4_0.txt").read_text()


@pytest.mark.parametrize("qtype", ["q4_0", "q8_0"])
def test_the_model_read_back_holds_the_dequantized_weights(checkpoint, tmp_path, qtype):
    """Every weight read back is the checkpoint's through quantize then dequantize (Q4_0:
    the target's katas; Q8_0: gguf's own dequantizer of the same bytes), every other tensor
    the checkpoint's exactly."""
    mods = gguf_export.target_modules()
    original, settings, chars, _, _ = gguf_export.load_checkpoint(mods, checkpoint)
    path = tmp_path / f"gpt-{qtype}.gguf"
    info = gguf_export.write(path, original, settings, chars, mods, qtype)
    assert info["same_as_gguf"] == info["blocks"] == 427
    model, read_chars, kinds = gguf_export.read(path, mods)
    assert read_chars == chars and kinds == {qtype.upper(): 6, "F32": 10}
    kind = getattr(gguf.GGMLQuantizationType, qtype.upper())
    got = model.state_dict()
    for name, want in original.state_dict().items():
        if want.dim() == 2:
            theirs = gguf.quants.quantize(want.numpy(), kind)
            want = torch.from_numpy(gguf.quants.dequantize(theirs, kind))
        assert torch.equal(got[name], want), name
    assert model.lm_head.weight is model.transformer.wte.weight


def test_q8_0_through_the_int8_katas(checkpoint, tmp_path, capsys):
    assert export(checkpoint, tmp_path, "--type=q8_0") == 0
    out = capsys.readouterr().out
    assert "6 weights as Q8_0" in out and "Q8_0 blocks byte for byte equal" in out
    assert (tmp_path / "gpt-q8_0.gguf").exists()


def test_a_missing_checkpoint_says_which_run_makes_one(tmp_path):
    with pytest.raises(NotReady, match=r"no checkpoint at .*nox -s train -- gpt"):
        export(tmp_path / "none.pt", tmp_path)


@pytest.mark.parametrize("qtype", ["q4_0", "q8_0"])
def test_the_run_needs_the_gpt_and_the_quantization_katas(monkeypatch, tmp_path, qtype):
    """What an unfinished tree is told it lacks: the capstone's GPT and data katas, and the
    quantization katas of the chosen type (runs.common.require names the stubs among them)."""
    asked = []

    def require(ids, target_name):
        asked.extend(ids)
        raise NotReady("stubs")

    monkeypatch.setattr(gguf_export, "require", require)
    args = argparse.Namespace(type=qtype, ckpt=str(tmp_path / "ckpt.pt"), out=str(tmp_path))
    with pytest.raises(NotReady):
        gguf_export.main(args, "exercises")
    assert set(gpt.NEEDS) - set(asked) <= {
        "sprint3.training.clip_grad_norm",
        "sprint3.training.cosine_lr",
        "sprint5.train_gpt.train",
    }  # training's own katas: this run does not train
    ops = {
        "q4_0": ("quantize_q4_0", "dequantize_q4_0"),
        "q8_0": ("quantize_int8", "dequantize_int8"),
    }
    assert {f"sprint7.quantization.{name}" for name in ops[qtype]} <= set(asked)
