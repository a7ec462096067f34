"""Autograd: let torch differentiate for you, then check it by hand."""

from collections.abc import Callable

import torch
from torch import Tensor


def derivative(f: Callable[[Tensor], Tensor], x: float) -> float:
    """df/dx at the point x, computed by autograd, returned as a Python float.

    f takes a 0-d floating tensor and returns a 0-d tensor, e.g. derivative(torch.sin, 0.0)
    == 1.0. Autograd, not finite differences: f is differentiated as autograd sees it, so a
    `.detach()` inside f is a constant. float64 is best (good to ~1e-12); float32 is
    accepted (answers are checked to about 1e-5 relative).
    """
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(f(t), t)
    return grad.item()


def gradient(f: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """The gradient of the scalar f at x: a tensor shaped like x, with x's dtype.

    x is a floating tensor of any shape (0-d too), and may or may not require grad;
    f(x) is a 0-d tensor. The caller's tensor is left as it was: its values, its
    `requires_grad` flag and its `.grad` are all unchanged (an old `.grad` must not leak
    into the answer either). The result does not require grad.
    """
    x = x.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(f(x), x)
    return grad


def minimize(f: Callable[[Tensor], Tensor], x0: Tensor, lr: float, steps: int) -> Tensor:
    """Plain gradient descent on the scalar f: x ← x − lr·∇f(x), `steps` times, from x0.

    x0 is left unchanged: its values, `requires_grad` and `.grad`. Returns the final x,
    shaped like x0 and with its dtype, as a tensor that does not require grad.
    steps == 0 gives back x0's values.
    """
    x = x0.detach().clone().requires_grad_(True)
    for _ in range(steps):
        (grad,) = torch.autograd.grad(f(x), x)
        with torch.no_grad():
            x -= lr * grad
    return x.detach()


def mse_grads(x: Tensor, y: Tensor, w: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """(dL/dw, dL/db) by autograd for pred = x @ w + b and L = mean((pred − y)²).

    x (N, D), y (N,), w (D,), b a 0-d tensor, all of one floating dtype. The gradients
    are shaped like w (D,) and b (0-d), with their dtype. The caller's tensors are left
    unchanged: values, `requires_grad` and `.grad` (whether or not w and b require grad).
    """
    w = w.detach().requires_grad_(True)
    b = b.detach().requires_grad_(True)
    loss = ((x @ w + b - y) ** 2).mean()
    dw, db = torch.autograd.grad(loss, (w, b))
    return dw, db


def mse_grads_by_hand(x: Tensor, y: Tensor, w: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """The same gradients as `mse_grads`, from the derivative worked out by hand.

    With r = x @ w + b − y (N,): dL/dw = (2/N)·xᵀr (D,) and dL/db = (2/N)·Σr (0-d).
    Shapes and dtypes as `mse_grads`; the inputs are left unchanged. No autograd: it works
    under `torch.no_grad()` and on tensors that do not require grad.
    """
    N = x.shape[0]
    r = x @ w + b - y  # (N,) residuals
    dw = (2.0 / N) * (x.T @ r)  # (D,)
    db = (2.0 / N) * r.sum()  # ()
    return dw, db
