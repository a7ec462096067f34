"""Known mistakes and correct alternatives of sprint7.mixed_precision."""

import torch

from grader.variants import alternative, mistake

# --- mistakes ---------------------------------------------------------------------------------


def _forward(model, batch, device_type, dtype):
    inputs, targets = batch
    with torch.autocast(device_type=device_type, dtype=dtype):
        _, loss = model(inputs, targets)
    return loss


@mistake("autocast_train_step")
def backward_not_scaled(
    model, batch, optimizer, scaler=None, device_type="cpu", dtype=torch.bfloat16
):
    """loss.backward() even when a scaler is given: scaler.step then divides gradients that
    were never multiplied by the scale"""
    optimizer.zero_grad()
    loss = _forward(model, batch, device_type, dtype)
    loss.backward()
    if scaler is None:
        optimizer.step()
    else:
        scaler.step(optimizer)
        scaler.update()
    return loss.item()


@mistake("autocast_train_step")
def optimizer_steps_past_the_scaler(
    model, batch, optimizer, scaler=None, device_type="cpu", dtype=torch.bfloat16
):
    """optimizer.step() called directly after the scaled backward: the gradients are still
    multiplied by the scale, and a step with inf is taken, not skipped"""
    optimizer.zero_grad()
    loss = _forward(model, batch, device_type, dtype)
    (loss if scaler is None else scaler.scale(loss)).backward()
    optimizer.step()
    return loss.item()


@mistake("autocast_train_step")
def update_forgotten(model, batch, optimizer, scaler=None, device_type="cpu", dtype=torch.bfloat16):
    """scaler.step(optimizer) without scaler.update(): the scale is never lowered after an
    inf, and the next step is refused"""
    optimizer.zero_grad()
    loss = _forward(model, batch, device_type, dtype)
    if scaler is None:
        loss.backward()
        optimizer.step()
    else:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
    return loss.item()


@mistake("autocast_train_step")
def zero_grad_forgotten(
    model, batch, optimizer, scaler=None, device_type="cpu", dtype=torch.bfloat16
):
    """never zeroes the gradients: each step's add up with all the earlier ones"""
    loss = _forward(model, batch, device_type, dtype)
    if scaler is None:
        loss.backward()
        optimizer.step()
    else:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    return loss.item()


@mistake("autocast_train_step")
def zero_grad_before_the_step(
    model, batch, optimizer, scaler=None, device_type="cpu", dtype=torch.bfloat16
):
    """zeroes the gradients between backward and the optimizer's step: the step sees none"""
    loss = _forward(model, batch, device_type, dtype)
    if scaler is None:
        loss.backward()
        optimizer.zero_grad()
        optimizer.step()
    else:
        scaler.scale(loss).backward()
        optimizer.zero_grad()
        scaler.step(optimizer)
        scaler.update()
    return loss.item()


@mistake("autocast_train_step")
def returns_the_tensor(
    model, batch, optimizer, scaler=None, device_type="cpu", dtype=torch.bfloat16
):
    """returns the loss tensor itself, not its value as a Python float"""
    optimizer.zero_grad()
    loss = _forward(model, batch, device_type, dtype)
    if scaler is None:
        loss.backward()
        optimizer.step()
    else:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    return loss


@mistake("autocast_train_step")
def returns_the_scaled_loss(
    model, batch, optimizer, scaler=None, device_type="cpu", dtype=torch.bfloat16
):
    """returns the scaled loss's value (loss × scale) when a scaler is given"""
    optimizer.zero_grad()
    loss = _forward(model, batch, device_type, dtype)
    if scaler is None:
        loss.backward()
        optimizer.step()
        return loss.item()
    scaled = scaler.scale(loss)
    scaled.backward()
    scaler.step(optimizer)
    scaler.update()
    return scaled.item()


@mistake("autocast_train_step")
def autocast_for_cuda_always(
    model, batch, optimizer, scaler=None, device_type="cpu", dtype=torch.bfloat16
):
    """autocast hard-coded for "cuda": on a machine without one it is switched off (with a
    warning), and the forward runs in float32"""
    optimizer.zero_grad()
    loss = _forward(model, batch, "cuda", dtype)
    if scaler is None:
        loss.backward()
        optimizer.step()
    else:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    return loss.item()


@mistake("autocast_train_step")
def dtype_not_passed(model, batch, optimizer, scaler=None, device_type="cpu", dtype=torch.bfloat16):
    """torch.autocast(device_type) without the dtype: the device's default (bfloat16 on
    CPU, float16 on CUDA) whatever dtype was asked for"""
    optimizer.zero_grad()
    inputs, targets = batch
    with torch.autocast(device_type):
        _, loss = model(inputs, targets)
    if scaler is None:
        loss.backward()
        optimizer.step()
    else:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    return loss.item()


@mistake("autocast_train_step")
def no_autocast(model, batch, optimizer, scaler=None, device_type="cpu", dtype=torch.bfloat16):
    """no autocast at all: the forward runs in float32"""
    optimizer.zero_grad()
    _, loss = model(*batch)
    if scaler is None:
        loss.backward()
        optimizer.step()
    else:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    return loss.item()


# --- alternatives -----------------------------------------------------------------------------


@alternative("autocast_train_step")
def backward_inside_autocast(
    model, batch, optimizer, scaler=None, device_type="cpu", dtype=torch.bfloat16
):
    """The whole step inside torch.amp.autocast (backward runs each op in the dtype of its
    forward anyway), gradients zeroed through the model, to zeros rather than None, and
    the loss read with float()."""
    model.zero_grad(set_to_none=False)
    with torch.amp.autocast(device_type, dtype=dtype):
        _, loss = model(batch[0], batch[1])
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
    return float(loss.detach())


@alternative("autocast_train_step")
def unscale_first(model, batch, optimizer, scaler=None, device_type="cpu", dtype=torch.bfloat16):
    """A scaler that unscales explicitly first (as one does to clip the gradients, which
    must be clipped at their true size): scaler.step then does not unscale again."""
    inputs, targets = batch
    for group in optimizer.param_groups:
        for p in group["params"]:
            p.grad = None
    with torch.autocast(device_type, dtype):
        loss = model(inputs, targets)[1]
    if scaler is None:
        loss.backward()
        optimizer.step()
        return loss.item()
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)
    scaler.step(optimizer)
    scaler.update()
    return loss.item()
