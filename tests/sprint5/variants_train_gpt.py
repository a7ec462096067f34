import torch
from tqdm import tqdm

from grader import target_module
from grader.variants import alternative, mistake

_tg = target_module("sprint5.train_gpt")
_training = target_module("sprint3.training")

# --- get_batch --------------------------------------------------------------------------------


def _windows(data, starts, block_size):
    x = torch.stack([data[s : s + block_size] for s in starts.tolist()])
    y = torch.stack([data[s + 1 : s + 1 + block_size] for s in starts.tolist()])
    return x, y


def _check(data, block_size):
    if data.size(0) < block_size + 1:
        raise ValueError("data too short")


@mistake("get_batch")
def batch_last_start_missing(data, block_size, batch_size, generator=None):
    """draws the starts from a range one too short: the last window that fits is never
    drawn"""
    _check(data, block_size)
    starts = torch.randint(len(data) - block_size - 1, (batch_size,), generator=generator)
    return _windows(data, starts, block_size)


@mistake("get_batch")
def batch_runs_off_the_end(data, block_size, batch_size, generator=None):
    """draws the starts from a range one too long: the last start leaves y a token short"""
    _check(data, block_size)
    starts = torch.randint(len(data) - block_size + 1, (batch_size,), generator=generator)
    return _windows(data, starts, block_size)


@mistake("get_batch")
def batch_global_rng(data, block_size, batch_size, generator=None):
    """torch.randint without generator=: draws from the global RNG"""
    _check(data, block_size)
    starts = torch.randint(len(data) - block_size, (batch_size,))
    return _windows(data, starts, block_size)


@mistake("get_batch")
def batch_y_not_shifted(data, block_size, batch_size, generator=None):
    """y = the same window as x, not the next tokens"""
    _check(data, block_size)
    starts = torch.randint(len(data) - block_size, (batch_size,), generator=generator)
    x, _ = _windows(data, starts, block_size)
    return x, x.clone()


@mistake("get_batch")
def batch_stacked(data, block_size, batch_size, generator=None):
    """returns torch.stack((x, y)), one (2, B, T) tensor, where the docstring promises the
    tuple (x, y)"""
    _check(data, block_size)
    starts = torch.randint(len(data) - block_size, (batch_size,), generator=generator)
    return torch.stack(_windows(data, starts, block_size))


@alternative("get_batch")
def batch_index_arithmetic(data, block_size, batch_size, generator=None):
    if len(data) <= block_size:
        raise ValueError(f"need more than {block_size} tokens")
    starts = torch.randint(0, len(data) - block_size, (batch_size, 1), generator=generator)
    idx = starts + torch.arange(block_size)  # (B, T)
    return data[idx], data[idx + 1]


# --- estimate_loss ----------------------------------------------------------------------------


def _losses(model, splits, block_size, batch_size, eval_iters, generator):
    out = {}
    for name, data in splits.items():
        losses = []
        for _ in range(eval_iters):
            x, y = _tg.get_batch(data, block_size, batch_size, generator)
            losses.append(model(x, y)[1].item())
        out[name] = losses
    return out


@mistake("estimate_loss")
@torch.no_grad()
def estimate_in_train_mode(model, splits, block_size, batch_size, eval_iters, generator=None):
    """never switches to eval mode: dropout stays on while estimating"""
    losses = _losses(model, splits, block_size, batch_size, eval_iters, generator)
    return {k: sum(v) / len(v) for k, v in losses.items()}


@mistake("estimate_loss")
@torch.no_grad()
def estimate_leaves_train_mode(model, splits, block_size, batch_size, eval_iters, generator=None):
    """model.eval() then model.train() at the end, whatever the mode was before"""
    model.eval()
    losses = _losses(model, splits, block_size, batch_size, eval_iters, generator)
    model.train()
    return {k: sum(v) / len(v) for k, v in losses.items()}


@mistake("estimate_loss")
def estimate_with_grad(model, splits, block_size, batch_size, eval_iters, generator=None):
    """no torch.no_grad(): builds a graph for every evaluation batch"""
    was = model.training
    model.eval()
    losses = _losses(model, splits, block_size, batch_size, eval_iters, generator)
    model.train(was)
    return {k: sum(v) / len(v) for k, v in losses.items()}


@mistake("estimate_loss")
@torch.no_grad()
def estimate_sums(model, splits, block_size, batch_size, eval_iters, generator=None):
    """the sum of the batch losses, not their mean"""
    was = model.training
    model.eval()
    losses = _losses(model, splits, block_size, batch_size, eval_iters, generator)
    model.train(was)
    return {k: sum(v) for k, v in losses.items()}


@alternative("estimate_loss")
def estimate_inference_mode(model, splits, block_size, batch_size, eval_iters, generator=None):
    was = model.training
    model.eval()
    out = {}
    with torch.inference_mode():
        for name, data in splits.items():
            batches = [
                _tg.get_batch(data, block_size, batch_size, generator) for _ in range(eval_iters)
            ]
            out[name] = torch.stack([model(x, y)[1].double() for x, y in batches]).mean().item()
    model.train(was)
    return out


@alternative("estimate_loss")
@torch.no_grad()
def estimate_like_nanogpt(model, splits, block_size, batch_size, eval_iters, generator=None):
    """nanoGPT's: the losses stored in a float32 tensor, then its mean"""
    was = model.training
    model.eval()
    out = {}
    for split, data in splits.items():
        losses = torch.zeros(eval_iters)
        for k in range(eval_iters):
            X, Y = _tg.get_batch(data, block_size, batch_size, generator)
            _, loss = model(X, Y)
            losses[k] = loss.item()
        out[split] = losses.mean().item()
    model.train(was)
    return out


# --- train ------------------------------------------------------------------------------------


def _train(
    model,
    train_data,
    val_data,
    *,
    max_iters,
    batch_size,
    block_size,
    learning_rate=1e-3,
    min_lr=1e-4,
    warmup_iters=100,
    weight_decay=0.1,
    grad_clip=1.0,
    eval_interval=250,
    eval_iters=20,
    generator=None,
    progress=True,
    optimizer=None,
    start_iter=0,
    on_eval=None,
    stop=None,
    clip=True,
    lr_shift=0,
    eval_first=False,
    show=None,
    new_optimizer=False,
    restart_schedule=False,
    stop_first=False,
    clear=True,
):
    if new_optimizer:
        optimizer = None
    opt = optimizer or model.configure_optimizers(weight_decay, learning_rate, (0.9, 0.99))
    model.train()
    history = []
    show = progress if show is None else show
    for it in tqdm(range(start_iter, max_iters), disable=not show):
        if eval_first and it % eval_interval == 0:
            losses = _tg.estimate_loss(
                model,
                {"train": train_data, "val": val_data},
                block_size,
                batch_size,
                eval_iters,
                generator,
            )
            history.append(
                {
                    "iter": it,
                    "train_loss": losses["train"],
                    "val_loss": losses["val"],
                    "lr": float(opt.param_groups[0]["lr"]),
                }
            )
        counted = it - start_iter if restart_schedule else it
        lr = _training.cosine_lr(counted + lr_shift, warmup_iters, max_iters, learning_rate, min_lr)
        for g in opt.param_groups:
            g["lr"] = lr
        x, y = _tg.get_batch(train_data, block_size, batch_size, generator)
        loss = model(x, y)[1]
        if clear:
            opt.zero_grad(set_to_none=True)
        loss.backward()
        if clip and grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        opt.step()
        if stop_first and stop and stop(it + 1):
            break
        if not eval_first and ((it + 1) % eval_interval == 0 or it + 1 == max_iters):
            losses = _tg.estimate_loss(
                model,
                {"train": train_data, "val": val_data},
                block_size,
                batch_size,
                eval_iters,
                generator,
            )
            history.append(
                {"iter": it + 1, "train_loss": losses["train"], "val_loss": losses["val"], "lr": lr}
            )
            if on_eval:
                on_eval(history[-1])
        if stop and stop(it + 1):
            break
    return history


@mistake("train")
def train_no_clipping(model, train_data, val_data, **kw):
    """no gradient clipping"""
    return _train(model, train_data, val_data, **kw, clip=False)


@mistake("train")
def train_lr_one_step_ahead(model, train_data, val_data, **kw):
    """cosine_lr(it + 1, …): the schedule runs one step early"""
    return _train(model, train_data, val_data, **kw, lr_shift=1)


@mistake("train")
def train_eval_before_step(model, train_data, val_data, **kw):
    """evaluates before the step when it % eval_interval == 0: iter 0, never the end"""
    return _train(model, train_data, val_data, **kw, eval_first=True)


@mistake("train")
def train_always_shows_bar(model, train_data, val_data, **kw):
    """the progress bar is shown even with progress=False"""
    return _train(model, train_data, val_data, **kw, show=True)


@mistake("train")
def train_never_zero_grad(model, train_data, val_data, **kw):
    """never clears the gradients: backward adds each step's gradient to the last ones"""
    return _train(model, train_data, val_data, **kw, clear=False)


@mistake("train")
def train_nanogpt_eval_defaults(
    model,
    train_data,
    val_data,
    *,
    max_iters,
    batch_size,
    block_size,
    learning_rate=1e-3,
    min_lr=1e-4,
    warmup_iters=100,
    weight_decay=0.1,
    grad_clip=1.0,
    eval_interval=2000,
    eval_iters=200,
    generator=None,
    progress=True,
    optimizer=None,
    start_iter=0,
    on_eval=None,
    stop=None,
):
    """nanoGPT's train.py defaults, eval_interval=2000 and eval_iters=200, where the
    docstring says 250 and 20"""
    kw = dict(locals())
    del kw["model"], kw["train_data"], kw["val_data"]
    return _train(model, train_data, val_data, **kw)


@alternative("train")
def train_with_torch_clip(model, train_data, val_data, **kw):
    """torch.nn.utils.clip_grad_norm_ and an explicit eval test"""
    return _train(model, train_data, val_data, **kw)


@mistake("train")
def train_new_optimizer_on_resume(model, train_data, val_data, **kw):
    """a new optimizer from configure_optimizers even when one is given: a resumed run
    loses AdamW's moments"""
    return _train(model, train_data, val_data, **kw, new_optimizer=True)


@mistake("train")
def train_schedule_restarts_on_resume(model, train_data, val_data, **kw):
    """cosine_lr counts from start_iter, not from 0: a resumed run warms up all over again"""
    return _train(model, train_data, val_data, **kw, restart_schedule=True)


@mistake("train")
def train_stops_before_the_evaluation(model, train_data, val_data, **kw):
    """asks stop before the evaluation due at that step: a run stopped there loses it"""
    return _train(model, train_data, val_data, **kw, stop_first=True)
