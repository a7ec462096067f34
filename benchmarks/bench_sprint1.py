"""Sprint 1: squared distances by broadcasting, against a Python loop over rows and torch."""

import pytest
import torch

from benchmarks import core
from grader import target_module
from solutions.sprint1 import tensors as reference

target = target_module("sprint1.tensors")
KATA = "sprint1.tensors.pairwise_sq_dists"
SIZES = [
    core.Size("256x256x16", "N = M = 256 points, D = 16"),
    core.Size("2048x2048x64", "N = M = 2048 points, D = 64"),
]
SHAPES = {"256x256x16": (256, 256, 16), "2048x2048x64": (2048, 2048, 64)}


def looped(a, b):
    """One Python iteration per row of a: what broadcasting saves."""
    return torch.stack([((row - b) ** 2).sum(dim=-1) for row in a])


def torch_builtin(a, b):
    return torch.cdist(a, b).square()


IMPLS = {
    "target": None,
    "reference": reference.pairwise_sq_dists,
    "loop": looped,
    "torch": torch_builtin,
}


@pytest.mark.parametrize("impl", list(IMPLS))
@pytest.mark.parametrize("size", SIZES, ids=lambda s: s.id)
@pytest.mark.benchmark(group=KATA)
def bench_pairwise_sq_dists(benchmark, device, size, impl):
    N, M, D = SHAPES[size.id]
    a, b = torch.randn(N, D, device=device), torch.randn(M, D, device=device)
    if impl == "target":
        core.require_target([KATA])
        fn = target.pairwise_sq_dists
    else:
        fn = IMPLS[impl]
    core.measure(
        benchmark,
        lambda: fn(a, b),
        device,
        kata=KATA,
        impl=impl,
        size=size,
        flops=3 * N * M * D,
    )
