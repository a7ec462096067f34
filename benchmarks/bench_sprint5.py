"""Sprint 5: the GPT's forward plus backward, and a full training step (zero_grad, forward,
backward, gradient clipping, AdamW step), at nanoGPT's CPU-recipe and GPU sizes, and at
GPT-2 small's (124M, T 1024; on CUDA only).

Rows: the target's GPT (with the target's clip_grad_norm in the step), the reference's,
and two gpu-best rows on CUDA: the reference GPT on the benchmarks' fast path
(fast_gpt.FastGPT: torch's fused attention, bf16 autocast, fused AdamW), and that model
under torch.compile. FLOPs are counted as nanoGPT's estimate_mfu does: (6·N + 12·L·H·Q·T)
per token, so a row's share of the device's peak is nanoGPT's MFU (the report says MFU).
"""

import functools

import pytest
import torch

from benchmarks import core
from benchmarks.fast_gpt import FastGPT
from grader import target_module
from runs.common import GPT_KATAS
from solutions.sprint3 import training as ref_training
from solutions.sprint5 import gpt as ref_gpt

gpt = target_module("sprint5.gpt")
training = target_module("sprint3.training")
SIZES = [*core.TRANSFORMER_SIZES, core.GPT2_SMALL]
IMPLS = ["target", "reference", "gpu-best", "gpu-best-compiled"]


def config_kwargs(size):
    return dict(
        block_size=size.T,
        vocab_size=size.V,
        n_layer=size.L,
        n_head=size.H,
        n_embd=size.C,
        dropout=0.0,
        bias=True,
    )


@functools.cache
def flops_per_call(size) -> float:
    """nanoGPT's count for one forward and backward over B·T tokens."""
    with torch.device("meta"):  # shapes only: no memory, no init
        n = ref_gpt.GPT(ref_gpt.GPTConfig(**config_kwargs(size))).num_params()  # without wpe
    return core.gpt_flops(n, size.L, size.H, size.C // size.H, size.T) * size.tokens


def model_for(impl, size, device):
    if impl.startswith("gpu-best") and device != "cuda":
        pytest.skip("gpu-best rows (bf16 autocast, fused kernels, torch.compile) run on CUDA only")
    torch.manual_seed(0)
    if impl == "target":
        core.require_target(GPT_KATAS)
        return core.build(lambda: gpt.GPT(gpt.GPTConfig(**config_kwargs(size))).to(device))
    model = FastGPT if impl.startswith("gpu-best") else ref_gpt.GPT
    return model(ref_gpt.GPTConfig(**config_kwargs(size))).to(device)


def batch(size, device):
    g = torch.Generator().manual_seed(1)
    x = torch.randint(size.V, (size.B, size.T), generator=g).to(device)
    return x, torch.roll(x, -1, dims=1)


def row(impl, size, kata) -> dict:
    """What core.measure records for a GPT row."""
    dtype = "bf16" if impl.startswith("gpu-best") else "fp32"
    flops = flops_per_call(size)
    return dict(
        kata=kata, impl=impl, size=size, flops=flops, dtype=dtype, tokens=size.tokens, mfu=True
    )


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("size", SIZES, ids=lambda s: s.id)
@pytest.mark.benchmark(group="sprint5.gpt.GPT fwd+bwd")
def bench_gpt_forward_backward(benchmark, device, size, impl):
    model = model_for(impl, size, device)
    x, y = batch(size, device)
    forward = model

    def step():
        model.zero_grad(set_to_none=True)
        forward(x, y)[1].backward()

    if impl == "gpu-best-compiled":
        forward = torch.compile(model)
        core.first_compiled_call(step, device)
    core.measure(benchmark, step, device, **row(impl, size, "sprint5.gpt.GPT fwd+bwd"))


@pytest.mark.parametrize("impl", IMPLS[:3])
@pytest.mark.parametrize("size", SIZES, ids=lambda s: s.id)
@pytest.mark.benchmark(group="sprint5 training step")
def bench_training_step(benchmark, device, size, impl):
    model = model_for(impl, size, device)
    x, y = batch(size, device)
    if impl == "target":
        core.require_target(["sprint3.training.clip_grad_norm"])
        clip = training.clip_grad_norm
    elif impl == "reference":
        clip = ref_training.clip_grad_norm
    else:
        clip = torch.nn.utils.clip_grad_norm_  # foreach: a few kernels for all the grads
    optimizer = core.build(lambda: model.configure_optimizers(0.1, 1e-3, (0.9, 0.99)))

    def step():
        optimizer.zero_grad(set_to_none=True)
        model(x, y)[1].backward()
        clip(model.parameters(), 1.0)
        optimizer.step()

    core.measure(benchmark, step, device, **row(impl, size, "sprint5 training step"))
