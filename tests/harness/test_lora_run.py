"""`nox -s train -- lora`: LoRA fine-tuning of the target's GPT holding a GPT-2's weights,
and an adapter that peft loads onto that GPT-2 to give the same logits. Tried offline on a
tiny random GPT-2 saved to a local folder (the real 124M model needs internet access once,
so it is not run here); also: the graded tests' cached peft answers are what peft gives."""

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys

import pytest
import torch

from grader.catalog import ROOT
from tests.harness.conftest import run_in_process
from tests.harness.test_gpt2_run import save_tiny_gpt2

transformers = pytest.importorskip("transformers")
if importlib.util.find_spec("peft") is None:  # looked up, not imported: peft's import
    pytest.skip("peft is not installed", allow_module_level=True)  # costs ~2 s, which
    # every worker would pay to collect this file; the one test that needs it imports it

TEXT = (
    "ROMEO:\nBut, soft! what light through yonder window breaks?\nIt is the east, and "
    "Juliet is the sun.\n\nJULIET:\nO Romeo, Romeo! wherefore art thou Romeo?\n"
) * 8
R, ALPHA, TARGETS = 4, 8, ["c_attn", "mlp.c_proj"]


@pytest.fixture(scope="module")
def tiny_gpt2(tmp_path_factory):
    """A tiny random GPT-2 without dropout, saved as save_pretrained saves."""
    return save_tiny_gpt2(
        tmp_path_factory.mktemp("tiny-gpt2"), resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0
    )


@pytest.fixture(scope="module")
def run(tiny_gpt2, tmp_path_factory):
    """The run, once, on the tiny GPT-2: its folder and what it printed."""
    out = tmp_path_factory.mktemp("lora-out")
    text = out / "text.txt"
    text.write_text(TEXT)
    stdout = run_in_process(
        "lora",
        *(f"--out={out}", f"--weights={tiny_gpt2}", f"--text={text}", "--targets", *TARGETS),
        *(f"--r={R}", f"--alpha={ALPHA}", "--iters=12", "--batch-size=4", "--block-size=16"),
        *("--lr=1e-2", "--warmup-iters=2", "--eval-interval=6", "--eval-iters=2"),
        *("--sample-tokens=8", "--prompt=ROMEO:", "--quiet"),
    )
    return out, stdout


def test_trains_only_lora_and_the_loss_falls(run):
    _, stdout = run
    before = float(re.search(r"loss before: train \S+, val (\S+)", stdout).group(1))
    after = float(re.search(r"loss after:  train \S+, val (\S+)", stdout).group(1))
    assert after < before, stdout
    # c_attn (32 → 96) and mlp.c_proj (128 → 32) in 2 layers, r = 4
    n_lora = 2 * R * ((32 + 96) + (128 + 32))
    assert f"LoRA r={R}, alpha={ALPHA}" in stdout and f"{n_lora:,} trainable" in stdout, stdout
    assert "--- sample ---\nROMEO:" in stdout, stdout


def test_the_adapter_is_pefts_format(run):
    out, _ = run
    from safetensors.torch import load_file

    config = json.loads((out / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA" and config["fan_in_fan_out"] is True
    assert (config["r"], config["lora_alpha"], config["target_modules"]) == (R, ALPHA, TARGETS)
    tensors = load_file(out / "adapter_model.safetensors")
    want = {}
    for i in range(2):
        for path, n_in, n_out in (("attn.c_attn", 32, 96), ("mlp.c_proj", 128, 32)):
            key = f"base_model.model.transformer.h.{i}.{path}.lora_"
            want[key + "A.weight"] = (R, n_in)
            want[key + "B.weight"] = (n_out, R)
    assert {k: tuple(v.shape) for k, v in tensors.items()} == want
    assert all(v.abs().sum() > 0 for v in tensors.values())  # B trained away from zero


@pytest.mark.filterwarnings("ignore::FutureWarning")  # transformers' notes, from inside peft
def test_peft_loads_the_adapter_and_gives_the_same_logits(run, tiny_gpt2):
    """peft's PeftModel.from_pretrained on the same GPT-2 against the reference's GPT with
    the same weights (load_gpt2_weights), LoRA applied and the saved A and B put back."""
    out, stdout = run
    import peft
    from safetensors.torch import load_file

    from solutions.sprint5.gpt import GPT, GPTConfig, load_gpt2_weights
    from solutions.sprint7.lora import apply_lora, lora_state_dict

    hf = transformers.GPT2LMHeadModel.from_pretrained(tiny_gpt2).eval()
    weights = {k: v.clone() for k, v in hf.state_dict().items()}  # before peft wraps hf
    theirs = peft.PeftModel.from_pretrained(hf, str(out)).eval()
    model = GPT(GPTConfig(block_size=64, vocab_size=256, n_layer=2, n_head=2, n_embd=32))
    load_gpt2_weights(model, weights)
    apply_lora(model, tuple(TARGETS), r=R, alpha=ALPHA)
    saved = load_file(out / "adapter_model.safetensors")
    with torch.no_grad():
        for key, tensor in lora_state_dict(model).items():
            tensor.copy_(saved[key])  # detached views of lora_A and lora_B
    idx = torch.randint(256, (2, 24), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        mine, _ = model.eval()(idx)
        want = theirs(idx).logits
    gap = (mine - want).abs().max().item()
    print(f"logit gap, the reference with the saved adapter vs peft: {gap:.2e}")
    assert gap < 1e-4  # float32, two routes through 2 blocks: ~1e-6 apart
    reported = float(re.search(r"logits max \|diff\| (\S+)", stdout).group(1))
    assert reported < 1e-4, stdout


def test_sprint7s_cached_peft_answers_are_what_peft_gives():
    """The graded LoRA tests read peft's answers from out/cache/ after the first build;
    what they read must be what peft builds now."""
    from tests.sprint7.test_lora import PeftAnswers

    cached, built = PeftAnswers.cached(), PeftAnswers(PeftAnswers.build())
    for got, want in zip(cached.layers, built.layers, strict=True):
        assert got.keys() == want.keys()
        for k, v in want.items():
            if isinstance(v, torch.Tensor):
                torch.testing.assert_close(got[k], v, rtol=1e-6, atol=1e-6)
            else:
                assert got[k] == v, k
    assert cached.tree.keys() == built.tree.keys()
    for k in ("idx", "logits"):
        torch.testing.assert_close(cached.tree[k], built.tree[k], rtol=1e-6, atol=1e-6)
    for part in ("state_dict", "adapter"):
        got, want = cached.tree[part], built.tree[part]
        assert got.keys() == want.keys(), part
        for k in want:
            assert torch.equal(got[k], want[k]), (part, k)


def test_the_capstones_checkpoint_as_the_base(tmp_path):
    """--ckpt: offline, from `nox -s train -- gpt`'s checkpoint (here an untrained tiny
    one): nn.Linear targets, so fan_in_fan_out false, and peft loads the adapter onto a
    GPT of its own (any torch module will do for peft)."""
    from runs import gpt

    text = tmp_path / "text.txt"
    text.write_text(TEXT)
    settings = dict(
        block_size=16, n_layer=1, n_head=2, n_embd=16, dropout=0.0, bias=True, max_iters=1,
        batch_size=2, learning_rate=1e-3, min_lr=1e-4, warmup_iters=1, weight_decay=0.1,
        grad_clip=1.0, eval_interval=1, eval_iters=1, seed=0,
    )  # fmt: skip
    gpt.Run(gpt.target_modules(), settings, sorted(set(TEXT)), str(text), "cpu").save(
        tmp_path / "ckpt.pt"
    )
    stdout = run_in_process(
        "lora",
        *(f"--ckpt={tmp_path / 'ckpt.pt'}", f"--text={text}", f"--out={tmp_path}"),
        *("--targets", "c_attn", "c_fc", "--iters=6", "--block-size=32", "--lr=1e-2"),
        *("--eval-interval=3", "--eval-iters=1", "--sample-tokens=5", "--quiet"),
    )
    assert "loss after:" in stdout and "--- sample ---" in stdout, stdout
    config = json.loads((tmp_path / "adapter_config.json").read_text())
    assert config["fan_in_fan_out"] is False and config["task_type"] is None
    gap = float(re.search(r"logits max \|diff\| (\S+)", stdout).group(1))
    assert gap < 1e-5, stdout


def test_the_stub_tree_lists_every_kata_the_run_needs(tmp_path):
    """`python -m runs lora` on the stubs: exit status 3 and the list of what to write,
    LoRA's katas with the rest, before anything is downloaded or loaded."""
    from runs import lora
    from runs.__main__ import parser

    shutil.copytree(ROOT / "exercises", tmp_path / "exercises")
    env = dict(os.environ, KATA_ROOT=str(tmp_path))
    env.pop("KATA_TARGET", None)
    proc = subprocess.run(
        [sys.executable, "-m", "runs", "lora"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 3, proc.stdout + proc.stderr
    for kata in lora.needs(parser().parse_args(["lora"])):
        assert kata in proc.stderr
    assert "sprint7.lora.apply_lora" in proc.stderr and "Traceback" not in proc.stderr
