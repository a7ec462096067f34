"""SGD with momentum and AdamW from scratch, as subclasses of torch.optim.Optimizer.

The base class does the bookkeeping: `self.param_groups` (a list of dicts, each with
"params" and the group's hyper-parameters, filled in from the defaults), `self.state`
(a dict from parameter to that parameter's state, saved by `state_dict()`), and
`zero_grad()`. A subclass passes its defaults to `super().__init__(params, defaults)`
and writes `step()`.
"""

import math
from collections.abc import Callable, Iterable

import torch
from torch import Tensor


class SGD(torch.optim.Optimizer):
    """Stochastic gradient descent with momentum and weight decay: torch.optim.SGD's rule.

    SGD(params, lr, momentum=0.0, weight_decay=0.0); `params` is an iterable of
    tensors or of param-group dicts ({"params": [...], "lr": 0.1, ...}), whose missing
    keys take these defaults: each group holds "lr", "momentum" and "weight_decay".
    For each parameter p with a gradient, in its own group's hyper-parameters
    (lr, μ = momentum, λ = weight_decay):

        g ← p.grad + λ·p
        if μ ≠ 0:  b ← g on p's first step (b is p's momentum buffer), else b ← μ·b + g
                   g ← b
        p ← p − lr·g

    This is torch.optim.SGD with dampening=0 and nesterov=False: the same trajectory
    over many steps, when lr is changed between steps too (by a scheduler, say).
    Parameters whose .grad is None are skipped (no update, no state). The momentum
    buffer lives in self.state[p] (so state_dict() and load_state_dict() carry it).
    Updates are in place (the parameters stay the same tensors) and not recorded by
    autograd. zero_grad() is the base class's.

    Off limits, torch's SGD and Adam(W) update code (the grader refuses each, whether
    your class inherits it or your code calls it): torch.optim.SGD.step,
    torch.optim.sgd.sgd, torch.optim.sgd._single_tensor_sgd,
    torch.optim.sgd._multi_tensor_sgd, torch.optim.sgd._fused_sgd, torch._fused_sgd_,
    torch.optim.Adam.step, torch.optim.AdamW.step, torch.optim.adam.adam,
    torch.optim.adamw.adamw, torch.optim.adam._single_tensor_adam,
    torch.optim.adam._multi_tensor_adam, torch.optim.adam._fused_adam,
    torch._fused_adam_, torch._fused_adamw_.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict],
        lr: float,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
    ):
        raise NotImplementedError("sprint3.optimizers.SGD")

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:
        """One update of every parameter that has a gradient.

        `closure` is there for torch's API (a function that recomputes the loss): when
        given, it is called with gradients enabled before the update and its result is
        returned; otherwise step returns None. The tests never pass one.
        """
        raise NotImplementedError("sprint3.optimizers.SGD")


class AdamW(torch.optim.Optimizer):
    """Adam with decoupled weight decay (Loshchilov & Hutter): torch.optim.AdamW's rule.

    AdamW(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2); params as
    for SGD (tensors or param-group dicts; each group holds "lr", "betas", "eps" and
    "weight_decay"). For each parameter p with a gradient g, in its
    group's hyper-parameters, with t the number of steps *this parameter* has taken
    (1 on its first):

        p ← p − lr·λ·p                       (decoupled decay, λ = weight_decay)
        m ← β1·m + (1 − β1)·g                (m, v start at zeros)
        v ← β2·v + (1 − β2)·g²
        p ← p − lr · (m / (1 − β1^t)) / (√(v / (1 − β2^t)) + ε)

    The decay is not added to g (that would be Adam's L2 penalty, scaled by 1/√v);
    ε is added after the square root. The same trajectory as torch.optim.AdamW (amsgrad
    off) over many steps, with several param groups, and when lr changes between steps.
    Parameters whose .grad is None are skipped (their t does not advance). t, m and v
    live in self.state[p] (so state_dict() and load_state_dict() carry them); keep t a
    Python int (1 − β2^t computed in float32 keeps only ~4 digits for β2 = 0.999).
    Updates are in place and not recorded by autograd; zero_grad() is the base class's.

    Off limits, torch's SGD and Adam(W) update code (the grader refuses each, whether
    your class inherits it or your code calls it): torch.optim.Adam.step,
    torch.optim.AdamW.step, torch.optim.adam.adam, torch.optim.adamw.adamw,
    torch.optim.adam._single_tensor_adam, torch.optim.adam._multi_tensor_adam,
    torch.optim.adam._fused_adam, torch._fused_adam_, torch._fused_adamw_,
    torch.optim.SGD.step, torch.optim.sgd.sgd, torch.optim.sgd._single_tensor_sgd,
    torch.optim.sgd._multi_tensor_sgd, torch.optim.sgd._fused_sgd, torch._fused_sgd_.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
    ):
        raise NotImplementedError("sprint3.optimizers.AdamW")

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:
        """One update of every parameter that has a gradient; `closure` as in SGD.step."""
        raise NotImplementedError("sprint3.optimizers.AdamW")
