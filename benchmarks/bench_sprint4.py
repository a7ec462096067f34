"""Sprint 4: attention, multi-head attention and the block, forward, against torch's own
(F.scaled_dot_product_attention, nn.MultiheadAttention, nn.TransformerEncoderLayer), at
nanoGPT's CPU-recipe and GPU sizes. All fp32 with TF32 off, but the gpu-best row: torch's
fused attention in bf16 on CUDA.
"""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from benchmarks import core
from grader import target_module
from solutions.sprint4 import attention as ref_attention
from solutions.sprint4 import layers as ref_layers

attention = target_module("sprint4.attention")
layers = target_module("sprint4.layers")
SIZES = core.TRANSFORMER_SIZES
IDS = {"ids": lambda s: s.id}


def attention_flops(s: core.Size) -> int:
    """q·kᵀ and weights·v over all T² pairs (the mask is not counted off): 4·B·T²·C."""
    return 4 * s.B * s.T * s.T * s.C


LABELS = {torch.float32: "fp32", torch.bfloat16: "bf16"}


@pytest.mark.parametrize("impl", ["target", "reference", "torch", "gpu-best"])
@pytest.mark.parametrize("size", SIZES, **IDS)
@pytest.mark.benchmark(group="sprint4.attention.scaled_dot_product_attention")
def bench_scaled_dot_product_attention(benchmark, device, size, impl):
    kata = "sprint4.attention.scaled_dot_product_attention"
    hs = size.C // size.H
    dtype = torch.bfloat16 if impl == "gpu-best" else torch.float32
    if impl == "gpu-best" and device != "cuda":
        pytest.skip("bf16 rows run on CUDA only (CPU bf16 is slower than fp32)")
    q, k, v = (torch.randn(size.B, size.H, size.T, hs, device=device, dtype=dtype) for _ in "qkv")
    mask = torch.ones(size.T, size.T, dtype=torch.bool, device=device).tril()
    if impl == "target":
        core.require_target([kata])
        fn = lambda: attention.scaled_dot_product_attention(q, k, v, mask)  # noqa: E731
    elif impl == "reference":
        fn = lambda: ref_attention.scaled_dot_product_attention(q, k, v, mask)  # noqa: E731
    else:
        fn = lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True)  # noqa: E731
    with torch.no_grad():
        core.measure(
            benchmark,
            fn,
            device,
            kata=kata,
            impl=impl,
            size=size,
            flops=attention_flops(size),
            dtype=LABELS[dtype],
            tokens=size.tokens,
        )


class TorchMHA(nn.Module):
    """nn.MultiheadAttention, causal, as a (B, T, C) → (B, T, C) module."""

    def __init__(self, C, H, T):
        super().__init__()
        self.inner = nn.MultiheadAttention(C, H, batch_first=True)
        self.register_buffer("mask", torch.ones(T, T, dtype=torch.bool).triu(1))  # True: hidden

    def forward(self, x):
        T = x.size(1)
        mask = self.mask[:T, :T]
        return self.inner(x, x, x, attn_mask=mask, need_weights=False, is_causal=True)[0]


class TorchBlock(nn.Module):
    """nn.TransformerEncoderLayer as a pre-norm GPT block (GELU, 4·C hidden), causal."""

    def __init__(self, C, H, T):
        super().__init__()
        self.inner = nn.TransformerEncoderLayer(
            C, H, 4 * C, dropout=0.0, activation="gelu", batch_first=True, norm_first=True
        )
        self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(T))

    def forward(self, x):
        T = x.size(1)
        return self.inner(x, src_mask=self.mask[:T, :T], is_causal=True)


def module_row(benchmark, device, size, impl, kata, build_target, build_ref, build_torch, flops):
    if impl == "target":
        core.require_target([kata])
        module = core.build(build_target)
    elif impl == "reference":
        module = build_ref()
    else:
        module = build_torch()
    module = module.to(device).eval()
    x = torch.randn(size.B, size.T, size.C, device=device)
    with torch.no_grad():
        core.measure(
            benchmark,
            lambda: module(x),
            device,
            kata=kata,
            impl=impl,
            size=size,
            flops=flops,
            tokens=size.tokens,
        )


@pytest.mark.parametrize("impl", ["target", "reference", "torch"])
@pytest.mark.parametrize("size", SIZES, **IDS)
@pytest.mark.benchmark(group="sprint4.attention.MultiHeadAttention")
def bench_multi_head_attention(benchmark, device, size, impl):
    args = (size.C, size.H, size.T)
    flops = 2 * size.tokens * 4 * size.C * size.C + attention_flops(size)
    module_row(
        benchmark,
        device,
        size,
        impl,
        "sprint4.attention.MultiHeadAttention",
        lambda: attention.MultiHeadAttention(*args),
        lambda: ref_attention.MultiHeadAttention(*args),
        lambda: TorchMHA(*args),
        flops,
    )


@pytest.mark.parametrize("impl", ["target", "reference", "torch"])
@pytest.mark.parametrize("size", SIZES, **IDS)
@pytest.mark.benchmark(group="sprint4.layers.Block")
def bench_block(benchmark, device, size, impl):
    args = (size.C, size.H, size.T)
    flops = 2 * size.tokens * 12 * size.C * size.C + attention_flops(size)
    module_row(
        benchmark,
        device,
        size,
        impl,
        "sprint4.layers.Block",
        lambda: layers.Block(*args),
        lambda: ref_layers.Block(*args),
        lambda: TorchBlock(*args),
        flops,
    )
