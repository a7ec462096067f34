"""Sprint 3: one training step (zero_grad, forward, loss, backward, AdamW step) of an MLP.

The model, loss and optimizer are torch's for every row, so the rows differ only in the
train_step kata. torch has no train_step of its own; its fused AdamW (one kernel for all
parameters) under the reference's step is the built-in row.
"""

import pytest
import torch
from torch import nn

from benchmarks import core
from grader import target_module
from solutions.sprint3 import training as reference

target = target_module("sprint3.training")
KATA = "sprint3.training.train_step"
SIZES = [
    core.Size("mlp-64", "MLP 784-256-10, batch 64 (an MNIST step)", B=64),
    core.Size("mlp-1024", "MLP 784-1024-1024-10, batch 1024", B=1024),
]
HIDDEN = {"mlp-64": [256], "mlp-1024": [1024, 1024]}


def mlp(sizes):
    layers, n_in = [], 784
    for n in sizes:
        layers += [nn.Linear(n_in, n), nn.ReLU()]
        n_in = n
    return nn.Sequential(*layers, nn.Linear(n_in, 10))


@pytest.mark.parametrize("impl", ["target", "reference", "torch-fused-adamw"])
@pytest.mark.parametrize("size", SIZES, ids=lambda s: s.id)
@pytest.mark.benchmark(group=KATA)
def bench_train_step(benchmark, device, size, impl):
    model = mlp(HIDDEN[size.id]).to(device)
    batch = (torch.randn(size.B, 784, device=device), torch.randint(10, (size.B,), device=device))
    fused = impl == "torch-fused-adamw"
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=fused or None)
    if impl == "target":
        core.require_target([KATA])
        step = target.train_step
    else:
        step = reference.train_step
    n_params = sum(p.numel() for p in model.parameters())
    loss_fn = nn.CrossEntropyLoss()
    core.measure(
        benchmark,
        lambda: step(model, batch, loss_fn, optimizer),
        device,
        kata=KATA,
        impl=impl,
        size=size,
        flops=6 * n_params * size.B,
    )
