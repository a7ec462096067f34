"""A first network by hand: parameters in a dict, a forward pass, SGD, and XOR."""

import math

import torch
import torch.nn.functional as F
from torch import Tensor

XOR_X = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_Y = torch.tensor([0.0, 1.0, 1.0, 0.0])


def init_params(
    n_in: int, n_hidden: int, n_out: int, generator: torch.Generator | None = None
) -> dict[str, Tensor]:
    """Parameters for a 2-layer MLP, as float32 leaf tensors that require grad.

    Keys: W1 (n_in, n_hidden), b1 (n_hidden,), W2 (n_hidden, n_out), b2 (n_out,).
    Weights are drawn from a normal N(0, 2 / fan_in) (He init; fan_in = the rows of W:
    n_in for W1, n_hidden for W2), biases are zero. Draw from `generator` when given
    (same seed, same weights; the global RNG untouched), else from the global RNG.
    """
    W1 = torch.randn(n_in, n_hidden, generator=generator) * math.sqrt(2.0 / n_in)
    W2 = torch.randn(n_hidden, n_out, generator=generator) * math.sqrt(2.0 / n_hidden)
    params = {
        "W1": W1,
        "b1": torch.zeros(n_hidden),
        "W2": W2,
        "b2": torch.zeros(n_out),
    }
    return {name: p.float().requires_grad_(True) for name, p in params.items()}


def forward(x: Tensor, params: dict[str, Tensor]) -> Tensor:
    """relu(x @ W1 + b1) @ W2 + b2: x (N, n_in) → logits (N, n_out), in the params' dtype.

    Keeps the autograd graph (loss.backward() must reach the params); x and params are
    left unchanged.
    """
    h = torch.relu(x @ params["W1"] + params["b1"])  # (N, n_hidden)
    return h @ params["W2"] + params["b2"]  # (N, n_out)


def count_params(params: dict[str, Tensor]) -> int:
    """The number of scalars in all the tensors of `params`, as a Python int.

    Every tensor counts, whether or not it requires grad; a 0-d tensor is one scalar;
    an empty dict has 0.
    """
    return sum(p.numel() for p in params.values())


def sgd_step(params: dict[str, Tensor], lr: float) -> None:
    """p ← p − lr·p.grad for every tensor, in place and outside the autograd graph.

    Works for any keys. Afterwards every gradient is cleared (None or zeros). The tensors
    stay the same objects, in the same memory, and stay leaves with requires_grad=True.
    Returns None.
    """
    with torch.no_grad():
        for p in params.values():
            p -= lr * p.grad
            p.grad = None


def train_xor(
    steps: int = 2000, lr: float = 0.1, seed: int = 0
) -> tuple[dict[str, Tensor], list[float]]:
    """Train a 2→8→1 network on the four XOR points; return (params, losses).

    Full-batch gradient descent with `sgd_step`, the mean binary cross-entropy on the
    logits over the four points (`F.binary_cross_entropy_with_logits`), parameters from
    `init_params` with a torch.Generator seeded with `seed`. `losses` is a list of
    Python floats, one a step (len == steps): losses[k] is the loss at the parameters
    before step k's update. steps == 0 returns the initial parameters and [].
    The same seed gives the same run; the global RNG is not touched. With the defaults
    the last loss is below 0.05 and all four points are classified right
    (logit > 0 ⇔ label 1).
    """
    generator = torch.Generator().manual_seed(seed)
    params = init_params(2, 8, 1, generator=generator)
    losses = []
    for _ in range(steps):
        logits = forward(XOR_X, params).squeeze(1)  # (4,)
        loss = F.binary_cross_entropy_with_logits(logits, XOR_Y)
        loss.backward()
        sgd_step(params, lr)
        losses.append(loss.item())
    return params, losses
