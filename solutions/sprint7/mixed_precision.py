"""Mixed precision: a training step under torch.autocast, with a gradient scaler.

Under autocast the matmuls (Linear, attention) run in a 16-bit float while the weights, the
optimizer's state and the reductions that need the range (softmax, losses, norms) stay in
float32. bfloat16 keeps float32's exponent range, so its gradients neither overflow nor
underflow and need no scaling: the CPU default and the usual choice on recent GPUs.
float16 has a 5-bit exponent: small gradients flush to zero. A GradScaler multiplies the
loss by a large scale before backward (so the gradients, scaled alike, stay representable),
divides them by it again before the optimizer steps, and, when a gradient came out inf or
NaN, skips that step and lowers the scale; after growth_interval good steps in a row it
raises the scale again.
"""

import torch
from torch import nn


def autocast_train_step(
    model: nn.Module,
    batch: tuple,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler | None = None,
    device_type: str = "cpu",
    dtype: torch.dtype = torch.bfloat16,
) -> float:
    """One training step of model on batch under torch.autocast(device_type, dtype);
    returns the loss as a Python float.

    batch is (inputs, targets), tensors on the model's device; model(inputs, targets)
    returns (logits, loss), loss a 0-d tensor, as Sprint 5's GPT does. optimizer is a
    torch.optim optimizer over the model's parameters, or any object with what the step
    and a GradScaler use of one: param_groups, zero_grad() and step(). The step:
    1. zero the parameters' gradients (whatever they held before);
    2. the forward pass, model(inputs, targets), inside torch.autocast(device_type,
       dtype=dtype): autocast's ops (the Linears' matmuls) run in dtype;
    3. without a scaler: loss.backward(), then optimizer.step();
       with a scaler (torch.amp.GradScaler): backward of the scaled loss
       (scaler.scale(loss)), then scaler.step(optimizer), which unscales the gradients and
       steps only when every one of them is finite (a step with an inf or NaN gradient
       is skipped: the weights and the optimizer's state stay as they were), then
       scaler.update(), which lowers the scale after a skipped step (× backoff_factor)
       and raises it after growth_interval finite steps in a row (× growth_factor).
    Returns loss.item(): the loss as computed, not multiplied by the scale.

    bfloat16 on CPU (the defaults) or CUDA needs no scaler; float16 on CUDA wants one.
    The model's mode (train/eval) is the caller's.
    """
    inputs, targets = batch
    optimizer.zero_grad(set_to_none=True)
    with torch.autocast(device_type=device_type, dtype=dtype):
        _, loss = model(inputs, targets)
    if scaler is None:
        loss.backward()
        optimizer.step()
    else:
        scaler.scale(loss).backward()  # gradients × scale
        scaler.step(optimizer)  # unscales; skips the step if any gradient is inf/NaN
        scaler.update()  # the scale for the next step
    return loss.item()
