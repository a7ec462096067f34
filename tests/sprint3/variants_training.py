import math

import torch
from tqdm import tqdm

from grader import target_module
from grader.variants import alternative, mistake

training = target_module("sprint3.training")

# --- train_step ---------------------------------------------------------------------------


@mistake("train_step")
def never_clears_gradients(model, batch, loss_fn, optimizer):
    """never clears the gradients, so each backward() adds to the last one's"""
    inputs, targets = batch
    loss = loss_fn(model(inputs), targets)
    loss.backward()
    optimizer.step()
    return loss.item()


@mistake("train_step")
def clears_after_the_step(model, batch, loss_fn, optimizer):
    """clears the gradients after optimizer.step() instead of before the forward pass"""
    inputs, targets = batch
    loss = loss_fn(model(inputs), targets)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()
    return loss.item()


@mistake("train_step")
def returns_the_tensor(model, batch, loss_fn, optimizer):
    """returns the loss tensor instead of a Python float"""
    inputs, targets = batch
    optimizer.zero_grad()
    loss = loss_fn(model(inputs), targets)
    loss.backward()
    optimizer.step()
    return loss.detach()


@mistake("train_step")
def forgets_the_step(model, batch, loss_fn, optimizer):
    """computes the gradients but never calls optimizer.step()"""
    inputs, targets = batch
    optimizer.zero_grad()
    loss = loss_fn(model(inputs), targets)
    loss.backward()
    return loss.item()


@mistake("train_step")
def steps_before_backward(model, batch, loss_fn, optimizer):
    """calls optimizer.step() before loss.backward(): it steps on the previous gradients"""
    inputs, targets = batch
    optimizer.zero_grad()
    loss = loss_fn(model(inputs), targets)
    optimizer.step()
    loss.backward()
    return loss.item()


@alternative("train_step")
def clears_through_the_model(model, batch, loss_fn, optimizer):
    for p in model.parameters():
        p.grad = None
    logits = model(batch[0])
    loss = loss_fn(logits, batch[1])
    loss.backward()
    optimizer.step()
    return float(loss.detach())


# --- evaluate -----------------------------------------------------------------------------


def _evaluate(model, loader, loss_fn, *, eval_mode=True, no_grad=True, restore=True, weigh=True):
    """evaluate with knobs, for the mistakes below."""
    was_training = model.training
    if eval_mode:
        model.eval()
    losses, correct, counts = [], [], []
    with torch.set_grad_enabled(not no_grad):
        for inputs, targets in loader:
            logits = model(inputs)
            losses.append(loss_fn(logits, targets).item())
            correct.append((logits.argmax(dim=-1) == targets).sum().item())
            counts.append(len(targets))
    if restore:
        model.train(was_training)
    else:
        model.train()
    n = sum(counts)
    if weigh:
        return {
            "loss": sum(l * c for l, c in zip(losses, counts)) / n,
            "accuracy": sum(correct) / n,
        }
    return {
        "loss": sum(losses) / len(losses),
        "accuracy": sum(k / c for k, c in zip(correct, counts)) / len(counts),
    }


@mistake("evaluate")
def mean_of_batch_means(model, loader, loss_fn):
    """averages the per-batch means, so a smaller last batch counts as much as a full one"""
    return _evaluate(model, loader, loss_fn, weigh=False)


@mistake("evaluate")
def stays_in_train_mode(model, loader, loss_fn):
    """never calls model.eval(): dropout stays on during evaluation"""
    return _evaluate(model, loader, loss_fn, eval_mode=False)


@mistake("evaluate")
def records_gradients(model, loader, loss_fn):
    """evaluates without torch.no_grad(), building a graph nobody uses"""
    return _evaluate(model, loader, loss_fn, no_grad=False)


@mistake("evaluate")
def always_back_to_train(model, loader, loss_fn):
    """ends with model.train(), which puts a model that was in eval mode in train mode"""
    return _evaluate(model, loader, loss_fn, restore=False)


@mistake("evaluate")
def divides_by_full_batches(model, loader, loss_fn):
    """divides by len(loader) · batch_size, counting the smaller last batch as full"""
    out = _evaluate(model, loader, loss_fn)
    n = sum(len(t) for _, t in loader)
    full = len(loader) * loader.batch_size
    return {k: v * n / full for k, v in out.items()}


@mistake("evaluate")
def divides_by_the_dataset(model, loader, loss_fn):
    """divides by len(loader.dataset): with drop_last the loader yields fewer examples"""
    out = _evaluate(model, loader, loss_fn)
    n = sum(len(t) for _, t in loader)
    return {k: v * n / len(loader.dataset) for k, v in out.items()}


@alternative("evaluate")
def concatenates_everything(model, loader, loss_fn):
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        pairs = [(model(x), y) for x, y in loader]
        logits = torch.cat([p for p, _ in pairs])
        targets = torch.cat([y for _, y in pairs])
        loss = loss_fn(logits, targets).item()  # the mean over every example at once
        accuracy = (logits.argmax(-1) == targets).float().mean().item()
    model.train(was_training)
    return {"loss": loss, "accuracy": accuracy}


# --- fit ----------------------------------------------------------------------------------


def _fit(model, train_loader, val_loader, loss_fn, optimizer, epochs, scheduler, progress, **knobs):
    """fit with knobs, for the mistakes below."""
    history = []
    for epoch in range(1, epochs + 1):
        if knobs.get("train_mode", True):
            model.train()
        val_first = training.evaluate(model, val_loader, loss_fn)
        losses, sizes = [], []
        batches = tqdm(train_loader) if knobs.get("bar", progress) else train_loader
        for batch in batches:
            losses.append(training.train_step(model, batch, loss_fn, optimizer))
            sizes.append(len(batch[1]))
            if scheduler is not None and not knobs.get("scheduler_per_epoch"):
                scheduler.step()
        if scheduler is not None and knobs.get("scheduler_per_epoch"):
            scheduler.step()
        val = (
            val_first
            if knobs.get("validate_first")
            else training.evaluate(model, val_loader, loss_fn)
        )
        if knobs.get("weigh", True):
            train_loss = sum(l * n for l, n in zip(losses, sizes)) / sum(sizes)
        else:
            train_loss = sum(losses) / len(losses)
        row = {
            "epoch": epoch - knobs.get("from_zero", 0),
            "train_loss": train_loss,
            "val_loss": val["loss"],
            "val_accuracy": val["accuracy"],
        }
        if knobs.get("print"):
            print(row)
        history.append(row)
    return history


def _fit_mistake(name: str, doc: str, **knobs):
    def variant(
        model, train_loader, val_loader, loss_fn, optimizer, epochs, scheduler=None, progress=False
    ):
        return _fit(
            model,
            train_loader,
            val_loader,
            loss_fn,
            optimizer,
            epochs,
            scheduler,
            progress,
            **knobs,
        )

    variant.__name__ = variant.__qualname__ = name
    variant.__doc__ = doc
    return mistake("fit")(variant)


mean_of_batch_losses = _fit_mistake(
    "mean_of_batch_losses",
    "train_loss as the mean of the batch losses: a smaller last batch weighs as much",
    weigh=False,
)
scheduler_once_per_epoch = _fit_mistake(
    "scheduler_once_per_epoch",
    "scheduler.step() once per epoch instead of after every optimizer step",
    scheduler_per_epoch=True,
)
prints_every_epoch = _fit_mistake(
    "prints_every_epoch", "prints each epoch's figures even when progress=False", print=True
)
bar_always = _fit_mistake("bar_always", "shows the progress bar whatever progress says", bar=True)
no_bar_ever = _fit_mistake("no_bar_ever", "ignores progress=True: no progress bar", bar=False)
never_calls_train = _fit_mistake(
    "never_calls_train",
    "never calls model.train(): a model handed over in eval mode trains in eval mode",
    train_mode=False,
)
validates_before_training = _fit_mistake(
    "validates_before_training",
    "reports the validation from before the epoch's training",
    validate_first=True,
)
epochs_from_zero = _fit_mistake("epochs_from_zero", "numbers the epochs from 0", from_zero=1)


@alternative("fit")
def with_tqdm_disable(
    model, train_loader, val_loader, loss_fn, optimizer, epochs, scheduler=None, progress=False
):
    history = []
    for epoch in range(epochs):
        model.train()
        total, count = 0.0, 0
        for inputs, targets in tqdm(train_loader, disable=not progress, desc=f"epoch {epoch + 1}"):
            total += training.train_step(model, (inputs, targets), loss_fn, optimizer) * len(
                targets
            )
            count += len(targets)
            if scheduler:
                scheduler.step()
        metrics = training.evaluate(model, val_loader, loss_fn)
        history.append(
            {
                "epoch": epoch + 1,
                "train_loss": total / count,
                "val_loss": metrics["loss"],
                "val_accuracy": metrics["accuracy"],
            }
        )
    return history


# --- clip_grad_norm -----------------------------------------------------------------------


def _grads(parameters):
    if isinstance(parameters, torch.Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def _total(grads):
    return torch.sqrt(sum((g.double() ** 2).sum() for g in grads)).to(grads[0].dtype)


@mistake("clip_grad_norm")
def calls_torch_clip(parameters, max_norm):
    """calls torch.nn.utils.clip_grad_norm_, the shortcut this kata asks you to write"""
    return torch.nn.utils.clip_grad_norm_(parameters, max_norm)


@mistake("clip_grad_norm")
def returns_norm_after(parameters, max_norm):
    """returns the norm after clipping instead of the total norm before"""
    grads = _grads(parameters)
    if not grads:
        return torch.tensor(0.0)
    total = _total(grads)
    if total > max_norm:
        for g in grads:
            g.mul_(max_norm / (total + 1e-6))
    return _total(grads)


@mistake("clip_grad_norm")
def clips_each_tensor_alone(parameters, max_norm):
    """clips each gradient by its own norm instead of the norm of all of them together"""
    grads = _grads(parameters)
    if not grads:
        return torch.tensor(0.0)
    total = _total(grads)
    for g in grads:
        norm = g.norm()
        if norm > max_norm:
            g.mul_(max_norm / (norm + 1e-6))
    return total


@mistake("clip_grad_norm")
def walks_the_generator_twice(parameters, max_norm):
    """walks `parameters` twice: a generator such as model.parameters() is empty the second time"""
    if isinstance(parameters, torch.Tensor):
        parameters = [parameters]
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return torch.tensor(0.0)
    total = _total(grads)
    if total > max_norm:
        for p in parameters:
            if p.grad is not None:
                p.grad.mul_(max_norm / (total + 1e-6))
    return total


@mistake("clip_grad_norm")
def always_rescales(parameters, max_norm):
    """rescales to max_norm even when the norm is below it, scaling small gradients up"""
    grads = _grads(parameters)
    if not grads:
        return torch.tensor(0.0)
    total = _total(grads)
    for g in grads:
        g.mul_(max_norm / (total + 1e-6))
    return total


@mistake("clip_grad_norm")
def sums_the_norms(parameters, max_norm):
    """adds up each gradient's norm instead of taking the L2 norm of all of them"""
    grads = _grads(parameters)
    if not grads:
        return torch.tensor(0.0)
    total = sum(g.norm() for g in grads)
    if total > max_norm:
        for g in grads:
            g.mul_(max_norm / (total + 1e-6))
    return total


@mistake("clip_grad_norm")
def new_gradient_tensors(parameters, max_norm):
    """p.grad = p.grad * scale puts new tensors in .grad instead of scaling in place"""
    params = [parameters] if isinstance(parameters, torch.Tensor) else list(parameters)
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.tensor(0.0)
    total = _total(grads)
    if total > max_norm:
        for p in params:
            if p.grad is not None:
                p.grad = p.grad * (max_norm / (total + 1e-6))
    return total


@alternative("clip_grad_norm")
def one_flat_vector(parameters, max_norm):
    params = [parameters] if isinstance(parameters, torch.Tensor) else list(parameters)
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.tensor(0.0)
    total = torch.linalg.vector_norm(torch.cat([g.reshape(-1) for g in grads]))
    scale = torch.clamp(max_norm / (total + 1e-6), max=1.0)
    for g in grads:
        g.mul_(scale)
    return total


@alternative("clip_grad_norm")
def foreach_norms(parameters, max_norm):
    grads = _grads(parameters)
    if not grads:
        return torch.tensor(0.0)
    total = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
    if total > max_norm:
        torch._foreach_mul_(grads, (max_norm / total).item())  # no + 1e-6: within 1e-6 relative
    return total


# --- cosine_lr ----------------------------------------------------------------------------


@mistake("cosine_lr")
def warmup_from_zero(step, warmup_steps, max_steps, max_lr, min_lr):
    """the warmup is max_lr·step/warmup_steps: the first step gets a learning rate of 0"""
    if step < warmup_steps:
        return max_lr * step / warmup_steps
    if step >= max_steps:
        return min_lr
    r = (step - warmup_steps) / (max_steps - warmup_steps)
    return min_lr + 0.5 * (1 + math.cos(math.pi * r)) * (max_lr - min_lr)


@mistake("cosine_lr")
def ratio_ignores_warmup(step, warmup_steps, max_steps, max_lr, min_lr):
    """r = step / max_steps, not counted from the end of the warmup"""
    if step < warmup_steps:
        return max_lr * (step + 1) / warmup_steps
    if step > max_steps:
        return min_lr
    return min_lr + 0.5 * (1 + math.cos(math.pi * step / max_steps)) * (max_lr - min_lr)


@mistake("cosine_lr")
def cosine_never_stops(step, warmup_steps, max_steps, max_lr, min_lr):
    """no floor after max_steps: the cosine climbs back up"""
    if step < warmup_steps:
        return max_lr * (step + 1) / warmup_steps
    r = (step - warmup_steps) / (max_steps - warmup_steps)
    return min_lr + 0.5 * (1 + math.cos(math.pi * r)) * (max_lr - min_lr)


@mistake("cosine_lr")
def no_half(step, warmup_steps, max_steps, max_lr, min_lr):
    """(1 + cos(π·r)) without the ½: starts at twice max_lr"""
    if step < warmup_steps:
        return max_lr * (step + 1) / warmup_steps
    if step > max_steps:
        return min_lr
    r = (step - warmup_steps) / (max_steps - warmup_steps)
    return min_lr + (1 + math.cos(math.pi * r)) * (max_lr - min_lr)


@mistake("cosine_lr")
def returns_a_tensor(step, warmup_steps, max_steps, max_lr, min_lr):
    """computes with torch.cos on a tensor and returns the tensor"""
    if step < warmup_steps:
        return torch.tensor(max_lr * (step + 1) / warmup_steps)
    r = torch.tensor(min(1.0, (step - warmup_steps) / (max_steps - warmup_steps)))
    return min_lr + 0.5 * (1 + torch.cos(math.pi * r)) * (max_lr - min_lr)


@alternative("cosine_lr")
def clamped_ratio(step, warmup_steps, max_steps, max_lr, min_lr):
    if step < warmup_steps:
        return (step + 1) / warmup_steps * max_lr
    r = min(max((step - warmup_steps) / max(1, max_steps - warmup_steps), 0.0), 1.0)
    return max_lr - (max_lr - min_lr) * (1 - math.cos(math.pi * r)) / 2


# --- side doors around the from-scratch guard ---------------------------------------------
# Each calls torch's clip_grad_norm_ by a route the guard once missed: code compiled under a
# filename outside the graded tree, or another thread.

exec(
    compile(
        "def clip_compiled_elsewhere(parameters, max_norm):\n"
        '    """calls torch.nn.utils.clip_grad_norm_ from code compiled under a filename of\n'
        "    its own (exec(compile(source, '<kata>', 'exec'))): it is still the kata's code\"\"\"\n"
        "    return torch.nn.utils.clip_grad_norm_(parameters, max_norm)\n",
        "<kata>",
        "exec",
    )
)
mistake("clip_grad_norm")(globals()["clip_compiled_elsewhere"])


@mistake("clip_grad_norm")
def clip_in_a_thread_pool(parameters, max_norm):
    """hands torch.nn.utils.clip_grad_norm_ to a ThreadPoolExecutor: the shortcut runs in
    another thread, still on the kata's behalf"""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(torch.nn.utils.clip_grad_norm_, parameters, max_norm).result()
