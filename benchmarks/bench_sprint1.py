"""Sprint 1: squared distances by broadcasting, against a Python loop over rows, the
matmul form (‖a‖² + ‖b‖² − 2ab) and torch.

Each row but the target's declares the largest temporary it materialises: at 2048 points
of 64 dims, broadcasting writes and reads back a 1 GiB (N, M, D) tensor, and the report
says so when a row that moves less memory beats it.
"""

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


def matmul_form(a, b):
    """‖a_i‖² + ‖b_j‖² − 2·a_i·b_j: one (N, D) @ (D, M) matmul, no (N, M, D) temporary.
    Rounding can leave an entry a little below 0 where two points (nearly) coincide."""
    return (a * a).sum(dim=-1)[:, None] + (b * b).sum(dim=-1)[None, :] - 2 * (a @ b.T)


def torch_builtin(a, b):
    return torch.cdist(a, b).square()


IMPLS = {
    "target": None,
    "reference": reference.pairwise_sq_dists,
    "matmul": matmul_form,
    "loop": looped,
    "torch": torch_builtin,
}


def largest_temporary(impl: str, N: int, M: int, D: int) -> tuple[int, str] | None:
    """(bytes, what) of the largest float32 tensor a call makes; the target's is unknown."""
    if impl == "reference":
        return 4 * N * M * D, "the (N, M, D) differences"
    if impl == "loop":
        return 4 * M * D, "one row's (M, D) differences"
    if impl in ("matmul", "torch"):  # cdist takes the matmul route at these sizes
        return 4 * N * M, "the (N, M) result"
    return None


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
        temp=largest_temporary(impl, N, M, D),
    )


def test_the_matmul_form_computes_the_distances():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(50, 8, generator=g), torch.randn(40, 8, generator=g)
    want = reference.pairwise_sq_dists(a, b)
    torch.testing.assert_close(matmul_form(a, b), want, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(looped(a, b), want)
    torch.testing.assert_close(torch_builtin(a, b), want, rtol=1e-4, atol=1e-4)
