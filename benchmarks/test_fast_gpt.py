"""The benchmarks' fast path for the reference GPT (benchmarks/fast_gpt.py: torch's fused
attention, bf16 autocast on CUDA, fused AdamW) computes what the plain path computes.

The benchmarks' "gpu-best" rows run it, so it must be the same model: the same
parameters and names, the same logits and gradients in float32, the same trajectory under
training, logits within bf16's reach on CUDA, and Sprint 5's own GPT tests passing with
every GPT they build switched to it. The reference itself (and so the kata) knows nothing
of it."""

import ast
import dataclasses
import inspect

import pytest
import torch

from benchmarks import fast_gpt
from grader.checks import needs_cuda
from solutions.sprint5 import gpt
from solutions.sprint5.train_gpt import get_batch

SIZES = dict(block_size=16, vocab_size=40, n_layer=2, n_head=4, n_embd=32)


def pair(device="cpu", **kw):
    """(plain GPT, fast GPT) with the same weights."""
    torch.manual_seed(0)
    plain = gpt.GPT(gpt.GPTConfig(**SIZES, **kw)).to(device)
    torch.manual_seed(0)
    fast = fast_gpt.FastGPT(gpt.GPTConfig(**SIZES, **kw)).to(device)
    return plain, fast


def batch(device="cpu", seed=1):
    g = torch.Generator().manual_seed(seed)
    data = torch.randint(SIZES["vocab_size"], (500,), generator=g)
    x, y = get_batch(data, SIZES["block_size"], 6, g)
    return x.to(device), y.to(device)


def test_same_parameters_and_state_dict():
    plain, fast = pair()
    assert list(plain.state_dict()) == list(fast.state_dict())
    for (name, a), b in zip(plain.state_dict().items(), fast.state_dict().values()):
        assert torch.equal(a, b), name
    assert type(fast.transformer.h[0].attn) is fast_gpt.FusedAttention
    assert type(plain.transformer.h[0].attn).__name__ == "MultiHeadAttention"


def test_make_fast_turns_a_built_gpt_into_the_fast_one():
    plain, fast = pair()
    x, y = batch()
    made = fast_gpt.make_fast(plain)
    assert made is plain and type(made) is fast_gpt.FastGPT
    assert all(type(b.attn) is fast_gpt.FusedAttention for b in made.transformer.h)
    torch.testing.assert_close(made(x, y)[0], fast(x, y)[0], rtol=0, atol=0)


def test_same_logits_loss_and_gradients_in_float32():
    plain, fast = pair()
    x, y = batch()
    logits_p, loss_p = plain(x, y)
    logits_f, loss_f = fast(x, y)
    assert logits_f.dtype == torch.float32
    torch.testing.assert_close(logits_f, logits_p, rtol=1e-5, atol=1e-5)
    loss_p.backward()
    loss_f.backward()
    for (name, a), b in zip(plain.named_parameters(), fast.parameters()):
        torch.testing.assert_close(b.grad, a.grad, rtol=1e-4, atol=1e-6, msg=name)


def test_fused_adamw_follows_the_plain_one():
    plain, fast = pair()
    opt_p = plain.configure_optimizers(0.1, 1e-2, (0.9, 0.99))
    opt_f = fast.configure_optimizers(0.1, 1e-2, (0.9, 0.99))
    assert opt_f.defaults["fused"] and not opt_p.defaults.get("fused")
    index = {id(p): i for i, p in enumerate(plain.parameters())}
    index_f = {id(p): i for i, p in enumerate(fast.parameters())}
    for gp, gf in zip(opt_p.param_groups, opt_f.param_groups, strict=True):
        assert gp["weight_decay"] == gf["weight_decay"]
        assert [index[id(p)] for p in gp["params"]] == [index_f[id(p)] for p in gf["params"]]
    losses = {"plain": [], "fast": []}
    for step in range(5):
        x, y = batch(seed=step)
        for name, model, opt in (("plain", plain, opt_p), ("fast", fast, opt_f)):
            opt.zero_grad(set_to_none=True)
            loss = model(x, y)[1]
            loss.backward()
            opt.step()
            losses[name].append(loss.item())
    torch.testing.assert_close(losses["fast"], losses["plain"], rtol=1e-5, atol=1e-6)
    # Adam divides by √v: where a gradient is ~0 (the key bias cannot change attention at
    # all), float32 rounding noise becomes a step of up to lr. 1 % of lr per entry.
    for (name, a), b in zip(plain.named_parameters(), fast.parameters()):
        torch.testing.assert_close(b, a, rtol=0, atol=1e-4, msg=name)


def test_dropout_still_acts_in_training_and_not_in_eval():
    _, fast = pair(dropout=0.5)
    x, _ = batch()
    fast.train()
    assert not torch.equal(fast(x)[0], fast(x)[0])
    fast.eval()
    assert torch.equal(fast(x)[0], fast(x)[0])


def test_the_reference_knows_nothing_of_the_fast_path():
    """GPTConfig has the syllabus's fields only, and the reference GPT no fast-path code."""
    fields = [f.name for f in dataclasses.fields(gpt.GPTConfig)]
    assert fields == ["block_size", "vocab_size", "n_layer", "n_head", "n_embd", "dropout", "bias"]
    tree = ast.parse(inspect.getsource(gpt))
    names = {
        n.attr if isinstance(n, ast.Attribute) else getattr(n, "id", None) for n in ast.walk(tree)
    }
    assert not names & {"autocast", "scaled_dot_product_attention", "bfloat16"}
    assert not [
        k.arg
        for n in ast.walk(tree)
        if isinstance(n, ast.Call)
        for k in n.keywords
        if k.arg == "fused"
    ]


@needs_cuda
def test_bf16_autocast_on_cuda_stays_close():
    plain, fast = pair("cuda")
    x, y = batch("cuda")
    with torch.no_grad():
        logits_p, loss_p = plain(x, y)
        logits_f, loss_f = fast(x, y)
    assert logits_f.dtype == torch.float32  # cast back after the bf16 head
    # bf16 keeps 8 bits of mantissa: ~0.4 % per op, through 2 blocks and the head.
    torch.testing.assert_close(logits_f, logits_p, rtol=5e-2, atol=5e-2)
    assert abs(loss_f.item() - loss_p.item()) < 2e-2
    with pytest.raises(AssertionError):  # it really ran in bf16
        torch.testing.assert_close(logits_f, logits_p, rtol=1e-6, atol=1e-6)


PLUGIN = """
import sys
import pytest

CALLS = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    gpt = sys.modules["solutions.sprint5.gpt"]  # the graded module, loaded by now
    from benchmarks import fast_gpt  # imported after it: FastGPT subclasses the graded GPT

    assert fast_gpt.GPT is getattr(gpt, "PLAIN_GPT", gpt.GPT)
    gpt.PLAIN_GPT = fast_gpt.GPT
    gpt.GPT = fast_gpt.FastGPT  # every GPT the tests build takes the fast path
    if not hasattr(fast_gpt.FusedAttention, "counted"):
        forward = fast_gpt.FusedAttention.forward
        def counted(self, x):
            CALLS.append(1)
            return forward(self, x)
        fast_gpt.FusedAttention.forward = counted
        fast_gpt.FusedAttention.counted = True
    yield


def pytest_sessionfinish(session):
    print(f"fused attention calls: {len(CALLS)}")
"""


def test_the_graded_gpt_tests_pass_on_the_fast_path(tmp_path):
    """Sprint 5's own GPT tests, with every GPT they build switched to the fast path."""
    import os
    import subprocess
    import sys

    from grader.catalog import ROOT

    (tmp_path / "fastpath_plugin.py").write_text(PLUGIN)
    env = dict(os.environ, KATA_TARGET="solutions", PYTHONPATH=str(tmp_path))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/sprint5/test_gpt.py",
            "-p",
            "fastpath_plugin",
            "-q",
            "-s",
            "-rs",
            "-p",
            "no:cacheprovider",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    calls = int(proc.stdout.split("fused attention calls: ")[1].split()[0])
    assert calls > 0, proc.stdout[-2000:]
    assert " passed" in proc.stdout, proc.stdout[-2000:]
    skips = [line for line in proc.stdout.splitlines() if line.startswith("SKIPPED")]
    assert all("no CUDA device" in line for line in skips), skips  # only what needs a GPU
