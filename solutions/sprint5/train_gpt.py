"""Training a GPT on a stream of token ids: random windows, a loss estimate and the loop.

Shapes: B batch_size, T block_size. Data is a 1-D int64 tensor of token ids (N,). The
model is anything called as model(idx (B, T), targets (B, T)) → (logits, loss) with a
configure_optimizers(weight_decay, learning_rate, betas) method, such as gpt.GPT.
"""

from collections.abc import Callable

import torch
from torch import Tensor, nn
from tqdm import tqdm

from ..sprint3.training import clip_grad_norm, cosine_lr


def get_batch(
    data: Tensor, block_size: int, batch_size: int, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """B random windows of data (N,) → x, y, both int64 (B, T).

    x[b] = data[s : s + T] and y[b] = data[s + 1 : s + T + 1] (the next token at every
    position) for a start s drawn uniformly with `generator` (the global RNG untouched
    when one is given; the same seed, the same batch). Every start 0 … N − T − 1 is
    possible and every window lies inside the data. ValueError when N < T + 1.
    """
    n = data.size(0)
    if n < block_size + 1:
        raise ValueError(f"data of {n} tokens is too short for block_size={block_size} + 1")
    starts = torch.randint(n - block_size, (batch_size,), generator=generator)  # (B,)
    x = torch.stack([data[s : s + block_size] for s in starts.tolist()])  # (B, T)
    y = torch.stack([data[s + 1 : s + 1 + block_size] for s in starts.tolist()])  # (B, T)
    return x, y


@torch.no_grad()
def estimate_loss(
    model: nn.Module,
    splits: dict[str, Tensor],
    block_size: int,
    batch_size: int,
    eval_iters: int,
    generator: torch.Generator | None = None,
) -> dict[str, float]:
    """{name: mean loss} for each split of `splits` (name → 1-D data), in its order.

    For each split, eval_iters batches from get_batch(data, block_size, batch_size,
    generator); the result is the mean of their losses as a Python float. The model runs
    in eval mode without gradients; its previous mode (train or eval) is restored.
    """
    was_training = model.training
    model.eval()
    out = {}
    for name, data in splits.items():
        total = 0.0
        for _ in range(eval_iters):
            x, y = get_batch(data, block_size, batch_size, generator)
            _, loss = model(x, y)
            total += loss.item()
        out[name] = total / eval_iters
    model.train(was_training)
    return out


def train(
    model: nn.Module,
    train_data: Tensor,
    val_data: Tensor,
    *,
    max_iters: int,
    batch_size: int,
    block_size: int,
    learning_rate: float = 1e-3,
    min_lr: float = 1e-4,
    warmup_iters: int = 100,
    weight_decay: float = 0.1,
    grad_clip: float = 1.0,
    eval_interval: int = 250,
    eval_iters: int = 20,
    generator: torch.Generator | None = None,
    progress: bool = True,
    optimizer: torch.optim.Optimizer | None = None,
    start_iter: int = 0,
    on_eval: Callable[[dict], object] | None = None,
    stop: Callable[[int], bool] | None = None,
) -> list[dict]:
    """Train for max_iters steps (0 … max_iters − 1) in train mode; return the evaluations.

    The optimizer is model.configure_optimizers(weight_decay, learning_rate, (0.9, 0.99)).
    Step `it`: set every group's lr to sprint3's cosine_lr(it, warmup_iters, max_iters,
    learning_rate, min_lr); draw x, y = get_batch(train_data, block_size, batch_size,
    generator); loss = model(x, y)[1]; zero the gradients, backward, clip the gradients'
    total norm to grad_clip (skipped when grad_clip is 0), optimizer step.
    After step `it`, when it + 1 is a multiple of eval_interval or it + 1 == max_iters,
    evaluate with estimate_loss({"train": train_data, "val": val_data}, block_size,
    batch_size, eval_iters, generator) and append {"iter": it + 1, "train_loss": …,
    "val_loss": …, "lr": that step's lr} (floats; iter an int). So max_iters=10,
    eval_interval=4 evaluates at iters 4, 8 and 10. A tqdm progress bar on stderr only
    when progress=True; otherwise nothing is printed.

    The last four serve a run that saves checkpoints and resumes (the capstone's) and
    change nothing when left out: `optimizer` is stepped instead of a new one; the loop
    runs it = start_iter … max_iters − 1 (the lrs and evaluations of the whole run; the
    history holds this call's); on_eval(entry) is called with each entry just appended;
    after every step stop(it + 1) is called and, when it returns True, the loop ends there.
    """
    if optimizer is None:
        optimizer = model.configure_optimizers(weight_decay, learning_rate, (0.9, 0.99))
    model.train()
    history = []
    for it in tqdm(range(start_iter, max_iters), disable=not progress, desc="train"):
        lr = cosine_lr(it, warmup_iters, max_iters, learning_rate, min_lr)
        for group in optimizer.param_groups:
            group["lr"] = lr
        x, y = get_batch(train_data, block_size, batch_size, generator)
        _, loss = model(x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip:
            clip_grad_norm(model.parameters(), grad_clip)
        optimizer.step()
        if (it + 1) % eval_interval == 0 or it + 1 == max_iters:
            splits = {"train": train_data, "val": val_data}
            losses = estimate_loss(model, splits, block_size, batch_size, eval_iters, generator)
            history.append(
                {"iter": it + 1, "train_loss": losses["train"], "val_loss": losses["val"], "lr": lr}
            )
            if on_eval is not None:
                on_eval(history[-1])
        if stop is not None and stop(it + 1):
            break
    return history
