"""Autograd: let torch differentiate for you, then check it by hand."""

from collections.abc import Callable

import torch
from torch import Tensor


def derivative(f: Callable[[Tensor], Tensor], x: float) -> float:
    """df/dx at the point x, computed by autograd, returned as a Python float.

    f takes a 0-d float tensor and returns a 0-d tensor, e.g. derivative(torch.sin, 0.0) == 1.0.
    Work in float64 so the answer is good to ~1e-12.
    """
    raise NotImplementedError("sprint1.autograd.derivative")


def gradient(f: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """The gradient of the scalar f at x: a tensor shaped like x, with x's dtype.

    The caller's tensor is left as it was: its values, its `requires_grad` flag and
    its `.grad` are all unchanged. The result does not require grad.
    """
    raise NotImplementedError("sprint1.autograd.gradient")


def minimize(f: Callable[[Tensor], Tensor], x0: Tensor, lr: float, steps: int) -> Tensor:
    """Plain gradient descent on the scalar f: x ← x − lr·∇f(x), `steps` times, from x0.

    x0 is left unchanged. Returns the final x as a tensor shaped like x0 that does not
    require grad. steps == 0 returns a copy of x0.
    """
    raise NotImplementedError("sprint1.autograd.minimize")


def mse_grads(x: Tensor, y: Tensor, w: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """(dL/dw, dL/db) by autograd for pred = x @ w + b and L = mean((pred − y)²).

    x (N, D), y (N,), w (D,), b a 0-d tensor. The gradients are shaped like w and b.
    The caller's tensors are left unchanged (no `.grad` set on them).
    """
    raise NotImplementedError("sprint1.autograd.mse_grads")


def mse_grads_by_hand(x: Tensor, y: Tensor, w: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """The same gradients as `mse_grads`, from the derivative worked out by hand.

    With r = x @ w + b − y (N,): dL/dw = (2/N)·xᵀr and dL/db = (2/N)·Σr.
    No autograd: it works under `torch.no_grad()` and on tensors that do not require grad.
    """
    raise NotImplementedError("sprint1.autograd.mse_grads_by_hand")
