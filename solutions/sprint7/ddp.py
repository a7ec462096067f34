"""Data parallelism: one model in world_size processes, each on its share of the batch, their
gradients averaged so that every process takes the same step.

Each process (a rank, 0 … world_size − 1) runs the same code. torchrun, or
torch.multiprocessing.spawn, starts one per CPU or GPU; each joins the process group first,

    dist.init_process_group("gloo", rank=rank, world_size=world_size)  # "nccl" on GPUs

(torchrun's environment says where rank 0 listens: MASTER_ADDR, MASTER_PORT; a test may
give a store instead). A collective such as dist.all_reduce returns once every rank has
called it: a rank that skips one, or calls one that the others do not, leaves them all
waiting. DistributedDataParallel wraps a model once, after the group exists: it copies rank
0's weights to every rank, and during backward it averages the gradients across the ranks.
"""

from collections.abc import Callable

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from ..sprint3.training import clip_grad_norm


def all_reduce_grads(model: nn.Module, world_size: int) -> None:
    """Average every parameter's gradient across the process group, in place, by hand: what
    DistributedDataParallel does during backward.

    Every rank calls it after its own backward (each rank on its own share of the batch)
    and before optimizer.step(). For each parameter of `model` whose .grad is a tensor, in
    the order of model.parameters(): dist.all_reduce it (a sum over the ranks, in place: on
    return every rank's .grad holds the sum), then divide it by world_size. Afterwards every
    rank holds the same .grad, the mean of the ranks' gradients, of the same shape and
    dtype; the weights are left as they are. A parameter whose .grad is None (frozen with
    requires_grad=False, or unused by the forward) is skipped and its .grad stays None.
    The ranks run the same model, so they all skip the same ones: all_reduce pairs each
    rank's n-th call with the others' n-th. Returns None.

    Needs the default process group (dist.init_process_group) of world_size ranks.

    Off limits (the grader refuses each, however it is imported):
    torch.nn.parallel.DistributedDataParallel.__init__,
    torch.distributed.algorithms.model_averaging.utils.average_parameters.
    """
    for p in model.parameters():
        if p.grad is not None:
            dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
            p.grad /= world_size


def ddp_train_step(
    rank: int,
    world_size: int,
    model: DistributedDataParallel,
    batch: tuple[Tensor, Tensor] | list[Tensor],
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    optimizer: torch.optim.Optimizer,
    grad_clip: float = 0.0,
) -> float:
    """One data-parallel training step, run by every rank at once; returns the whole batch's
    loss, the same float on every rank.

    The caller has made the process group of world_size ranks (dist.init_process_group),
    wrapped the model once in DistributedDataParallel (so every rank starts from rank 0's
    weights) and built `optimizer` over its parameters; every rank then calls this with the
    same arguments but its own `rank`.

    `batch` is (inputs, targets), the whole batch of B rows (dim 0), the same on every rank;
    ValueError, on every rank, when B is not a multiple of world_size. This rank trains on
    its own B / world_size rows, the ranks' shares together covering the batch once: here
    the rank-th contiguous chunk, rows rank·B/W … (rank + 1)·B/W − 1 (DistributedSampler's
    strided rows rank, rank + W, … do as well).

    In this order: clear the gradients (optimizer.zero_grad()); outputs = model(its inputs),
    through the DDP wrapper (its forward arms the averaging); loss = loss_fn(outputs, its
    targets), a mean over its rows; loss.backward(), during which DDP all-reduces every
    gradient and divides it by world_size, so that each rank holds the gradient of the
    whole batch (scale or divide nothing yourself); when grad_clip > 0, clip the gradients'
    total norm to grad_clip (sprint3's clip_grad_norm: every rank clips the same averaged
    gradients alike); optimizer.step(), once. Afterwards every rank holds the weights that
    one process gets from the same step on the whole batch, to float rounding.

    Returns the whole batch's loss before the update: the mean over the ranks of their
    losses (a dist.all_reduce of a detached copy, divided by world_size), as a Python
    float, the same on every rank (rank 0 logs it).
    """
    inputs, targets = batch
    B = inputs.size(0)
    if B % world_size != 0:
        raise ValueError(f"a batch of {B} rows does not split into {world_size} equal shares")
    share = B // world_size
    rows = slice(rank * share, (rank + 1) * share)
    optimizer.zero_grad()
    loss = loss_fn(model(inputs[rows]), targets[rows])
    loss.backward()  # DDP averages the gradients across the ranks here
    if grad_clip > 0:
        clip_grad_norm(model.parameters(), grad_clip)
    optimizer.step()
    total = loss.detach().clone()
    dist.all_reduce(total)
    return total.item() / world_size
