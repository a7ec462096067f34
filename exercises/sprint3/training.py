"""Training loops: a step, an evaluation, a fit over epochs, gradient clipping, and a
learning-rate schedule."""

import math
from collections.abc import Callable, Iterable

import torch
from torch import Tensor, nn
from tqdm import tqdm

Batch = tuple[Tensor, Tensor] | list[Tensor]  # (inputs, targets), as a DataLoader yields
LossFn = Callable[[Tensor, Tensor], Tensor]


def train_step(
    model: nn.Module, batch: Batch, loss_fn: LossFn, optimizer: torch.optim.Optimizer
) -> float:
    """One optimisation step on one batch; returns the loss as a Python float.

    `batch` is (inputs, targets), a tuple or a list. In this order: clear the gradients
    (optimizer.zero_grad(): whatever .grad held before the call must not leak into
    this step), forward, loss = loss_fn(model(inputs), targets), backward,
    optimizer.step() (once). The returned loss is the one computed before the update.
    """
    raise NotImplementedError("sprint3.training.train_step")


def evaluate(model: nn.Module, loader: Iterable[Batch], loss_fn: LossFn) -> dict[str, float]:
    """{"loss": mean loss per example, "accuracy": fraction of argmax == target}.

    Over every example the loader yields (batches of any size: a last, smaller batch
    weighs by its size; with drop_last the dropped examples do not count). loss_fn
    returns the mean over its batch, as torch's losses do. Predictions are
    model(inputs).argmax(dim=-1) against int64 targets. Both values are Python floats.
    Runs the model in eval mode (model.eval(): no dropout) and without recording
    gradients (torch.no_grad()); afterwards the model is back in the mode it was in
    (model.training as before the call, train or eval), and no .grad has changed.
    """
    raise NotImplementedError("sprint3.training.evaluate")


def fit(
    model: nn.Module,
    train_loader: Iterable[Batch],
    val_loader: Iterable[Batch],
    loss_fn: LossFn,
    optimizer: torch.optim.Optimizer,
    epochs: int,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    progress: bool = False,
) -> list[dict]:
    """Train for `epochs` epochs; returns one dict per epoch, in order.

    Each epoch: put the model in train mode (model.train()), run `train_step` on every
    batch of train_loader (and scheduler.step() after every optimizer step, when a
    scheduler is given), then `evaluate` on val_loader. The epoch's dict is

        {"epoch": e (1, 2, …), "train_loss": mean over the epoch's examples of the loss
         that train_step returned (each batch weighs by its size),
         "val_loss": …, "val_accuracy": …}  (val_* as evaluate returns them)

    with Python numbers. With progress=True, show a progress bar (tqdm) over the
    batches; with progress=False print nothing at all, to stdout or stderr.
    epochs == 0 trains nothing and returns [].
    """
    raise NotImplementedError("sprint3.training.fit")


def clip_grad_norm(parameters: Iterable[Tensor] | Tensor, max_norm: float) -> Tensor:
    """Clip the gradients' total L2 norm to max_norm; return the norm before clipping.

    `parameters` is an iterable of tensors (a list, or a generator such as
    model.parameters(): it can be walked only once) or a single tensor; those whose
    .grad is None are skipped. The total norm is ‖all gradients as one vector‖₂ =
    √(Σ_p Σ_i p.grad[i]²), returned as a 0-d tensor in the gradients' dtype (0.0 when no
    parameter has a gradient). When it exceeds max_norm, every gradient is multiplied in
    place (the same .grad tensors) by max_norm / (total + 1e-6); otherwise the gradients
    are left exactly as they were. As torch.nn.utils.clip_grad_norm_, from scratch.

    Off limits (the grader refuses each, however it is imported):
    torch.nn.utils.clip_grad_norm_, torch.nn.utils.clip_grad_norm,
    torch.nn.utils.get_total_norm, torch.nn.utils.clip_grads_with_norm_.
    """
    raise NotImplementedError("sprint3.training.clip_grad_norm")


def cosine_lr(step: int, warmup_steps: int, max_steps: int, max_lr: float, min_lr: float) -> float:
    """The learning rate at `step` (counting from 0): linear warmup, then cosine decay.

        step < warmup_steps:   max_lr · (step + 1) / warmup_steps
        step > max_steps:      min_lr
        otherwise:             min_lr + ½·(1 + cos(π·r))·(max_lr − min_lr),
                               r = (step − warmup_steps) / (max_steps − warmup_steps)

    So the warmup reaches max_lr at step warmup_steps − 1, the decay starts from max_lr
    at step warmup_steps and ends at min_lr at step max_steps. warmup_steps may be 0 (no
    warmup). Returns a Python float.
    """
    raise NotImplementedError("sprint3.training.cosine_lr")
