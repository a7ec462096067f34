"""Sprint 7: generation with a KV cache against generation without one, on the reference
GPT at the capstone's size (nanoGPT's Shakespeare GPU config: 6 layers, 6 heads, C 384).

Each call extends one prompt (B 1) by `new` sampled tokens, so that the context ends at T
tokens, T = block_size: the prompt holds T − new tokens, and generation never goes past
block_size (past it, generate_cached rebuilds its cache at every step and costs what
generate does). Rows, all on the reference GPT:
- `target`: the target's generate_cached;
- `reference`: the reference's generate_cached;
- `uncached`: the GPT's own generate, which runs the whole context for every new token.
The `uncached` row's `÷ reference` is the cache's speedup. Sizes: T 64 on nanoGPT's CPU
recipe model (the one run as a test), T 256 (the capstone's block_size) and T 1024 (the
same model with block_size 1024, GPT-2's context).

FLOPs are each row's own work, counted as nanoGPT's estimate_mfu counts a forward pass:
2·N per token plus 4·L·C per token and position attended to. A cached step attends over
the positions cached; the uncached route pays that for every position of the context.
Tokens per call: the new tokens.
"""

from dataclasses import dataclass

import pytest
import torch

from benchmarks import core
from grader import target_module
from solutions.sprint5 import gpt as ref_gpt
from solutions.sprint7 import kv_cache as ref_kv_cache

kv_cache = target_module("sprint7.kv_cache")
KATA = "sprint7.kv_cache.generate_cached"


@dataclass(frozen=True)
class Generation(core.Size):
    """A generation size: T is block_size and the context's length at the end."""

    new: int = 16  # tokens generated per call

    @property
    def tokens(self) -> int:
        return self.B * self.new


SIZES = [
    Generation("T64-cpu-recipe", "nanoGPT CPU recipe model (C 128, 4 layers, 4 heads), "
               "block_size 64: 48-token prompt + 16 new, B 1", 1, 64, 128, 4, 4),
    Generation("T256", "capstone GPT (C 384, 6 layers, 6 heads), block_size 256: 240-token "
               "prompt + 16 new, B 1", 1, 256, 384, 6, 6),
    Generation("T1024", "capstone GPT (C 384, 6 layers, 6 heads) with block_size 1024: "
               "1008-token prompt + 16 new, B 1", 1, 1024, 384, 6, 6),
]  # fmt: skip
IMPLS = ["target", "reference", "uncached"]


def config(size: Generation) -> ref_gpt.GPTConfig:
    return ref_gpt.GPTConfig(
        block_size=size.T, vocab_size=size.V, n_layer=size.L, n_head=size.H, n_embd=size.C
    )


def forward_flops(size: Generation, n_params: int, positions: int, context: int) -> float:
    """A forward pass over `positions` tokens, each attending over `context` positions;
    n_params without wpe, as nanoGPT counts them."""
    return positions * (2 * n_params + 4 * size.L * size.C * context)


def flops_per_call(size: Generation, n_params: int, impl: str) -> float:
    prompt = size.T - size.new
    contexts = range(prompt, size.T)  # the context each new token is drawn from
    if impl == "uncached":
        return sum(forward_flops(size, n_params, c, c) for c in contexts) * size.B
    prefill = forward_flops(size, n_params, prompt, prompt)
    steps = sum(forward_flops(size, n_params, 1, c) for c in contexts[1:])
    return (prefill + steps) * size.B


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("size", SIZES, ids=lambda s: s.id)
@pytest.mark.benchmark(group=KATA)
def bench_generate(benchmark, device, size, impl):
    if impl == "target":
        core.require_target([KATA])
    torch.manual_seed(0)
    model = ref_gpt.GPT(config(size)).to(device).eval()
    g = torch.Generator().manual_seed(1)
    prompt = torch.randint(size.V, (size.B, size.T - size.new), generator=g).to(device)
    generator = torch.Generator(device=device).manual_seed(2)
    if impl == "uncached":
        fn = lambda: model.generate(prompt, size.new, generator=generator)  # noqa: E731
    else:
        module = kv_cache if impl == "target" else ref_kv_cache
        fn = lambda: module.generate_cached(model, prompt, size.new, generator=generator)  # noqa: E731
    core.measure(
        benchmark,
        fn,
        device,
        kata=KATA,
        impl=impl,
        size=size,
        flops=flops_per_call(size, model.num_params(), impl),
        tokens=size.tokens,
    )
