"""Known mistakes and correct alternatives of sprint7.ddp."""

import torch
import torch.distributed as dist
from torch.nn.utils import clip_grad_norm_

from grader.variants import alternative, mistake

# --- all_reduce_grads -----------------------------------------------------------------------


@mistake("all_reduce_grads")
def all_reduce_grads_sum_only(model, world_size):
    """all_reduce sums the gradients over the ranks, and the sum is never divided by
    world_size"""
    for p in model.parameters():
        if p.grad is not None:
            dist.all_reduce(p.grad)


@mistake("all_reduce_grads")
def all_reduce_grads_of_the_weights(model, world_size):
    """averages the weights (p.data) across the ranks instead of the gradients, which stay
    each rank's own"""
    for p in model.parameters():
        if p.grad is not None:
            dist.all_reduce(p.data)
            p.data /= world_size


@mistake("all_reduce_grads")
def all_reduce_grads_of_every_parameter(model, world_size):
    """hands every parameter's .grad to all_reduce, the frozen one's too, which is None"""
    for p in model.parameters():
        dist.all_reduce(p.grad)
        p.grad /= world_size


@mistake("all_reduce_grads")
def all_reduce_grads_zeros_for_the_frozen(model, world_size):
    """gives a parameter without a gradient one of zeros, to average it with the others: a
    frozen parameter then has a .grad (and an optimizer with weight decay or momentum moves
    it)"""
    for p in model.parameters():
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        dist.all_reduce(p.grad)
        p.grad /= world_size


@mistake("all_reduce_grads")
def all_reduce_grads_reduce_to_rank_0(model, world_size):
    """dist.reduce instead of dist.all_reduce: the sum lands on rank 0 only, and the other
    ranks keep gradients of their own"""
    for p in model.parameters():
        if p.grad is not None:
            dist.reduce(p.grad, dst=0)
            p.grad /= world_size


@alternative("all_reduce_grads")
def all_reduce_grads_divide_first(model, world_size):
    """each gradient divided by world_size first, then summed: the mean all the same"""
    for p in model.parameters():
        if p.grad is not None:
            p.grad.div_(world_size)
            dist.all_reduce(p.grad)


@alternative("all_reduce_grads")
def all_reduce_grads_one_flat_buffer(model, world_size):
    """every gradient in one flat buffer, one all_reduce for them all (DDP's buckets, in
    one), then copied back"""
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.flatten() for g in grads])
    dist.all_reduce(flat)
    flat /= world_size
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()


@alternative("all_reduce_grads")
def all_reduce_grads_average_op(model, world_size):
    """ReduceOp.AVG, which gloo runs too: the sum and the division in one collective"""
    for p in model.parameters():
        if p.grad is not None:
            dist.all_reduce(p.grad, op=dist.ReduceOp.AVG)


# --- ddp_train_step -------------------------------------------------------------------------


def _clip(model, max_norm):
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    norm = torch.sqrt(sum((g.double() ** 2).sum() for g in grads)).float()
    if norm > max_norm:
        for g in grads:
            g.mul_(max_norm / (norm + 1e-6))


def _step(
    rank,
    world_size,
    model,
    batch,
    loss_fn,
    optimizer,
    grad_clip=0.0,
    *,
    rows=None,
    forward=None,
    scale=1.0,
    after_backward=None,
    step_first=False,
    zero_grad=True,
    clip=True,
    reduce=True,
    divide=True,
    rank_0_only=False,
    check=True,
    as_tensor=False,
):
    """The reference's step, with one thing done wrong where a keyword says so."""
    inputs, targets = batch
    B = inputs.size(0)
    if check and B % world_size != 0:
        raise ValueError(f"a batch of {B} rows does not split into {world_size} equal shares")
    if rows is None:
        n = B // world_size
        rows = slice(rank * n, (rank + 1) * n)
    if zero_grad:
        optimizer.zero_grad()
    outputs = (forward or model)(inputs[rows])
    loss = loss_fn(outputs, targets[rows])
    if step_first:
        optimizer.step()
    (loss * scale).backward()
    if after_backward is not None:
        after_backward(model)
    if grad_clip > 0 and clip:
        _clip(model, grad_clip)
    if not step_first:
        optimizer.step()
    total = loss.detach().clone()
    if reduce and (rank == 0 or not rank_0_only):
        dist.all_reduce(total)
    total = total / (world_size if reduce and divide else 1)
    return total if as_tensor else total.item()


@mistake("ddp_train_step")
def ddp_train_step_whole_batch(rank, world_size, model, batch, loss_fn, optimizer, grad_clip=0.0):
    """every rank trains on the whole batch, not its own share: DDP's average of equal
    gradients is right, but the ranks do the same work twice over"""
    return _step(rank, world_size, model, batch, loss_fn, optimizer, grad_clip, rows=slice(None))


@mistake("ddp_train_step")
def ddp_train_step_same_share(rank, world_size, model, batch, loss_fn, optimizer, grad_clip=0.0):
    """every rank takes the first B / world_size rows: the rank is not used to pick its
    share, so half the batch is trained on twice and the rest never"""
    n = batch[0].size(0) // world_size
    return _step(rank, world_size, model, batch, loss_fn, optimizer, grad_clip, rows=slice(0, n))


@mistake("ddp_train_step")
def ddp_train_step_divides_again(rank, world_size, model, batch, loss_fn, optimizer, grad_clip=0.0):
    """divides the gradients by world_size after backward, taking DDP's all-reduce for a
    sum: DDP has averaged them already, so the step is halved"""

    def divide(m):
        for p in m.parameters():
            if p.grad is not None:
                p.grad /= world_size

    return _step(
        rank, world_size, model, batch, loss_fn, optimizer, grad_clip, after_backward=divide
    )


@mistake("ddp_train_step")
def ddp_train_step_loss_times_world_size(
    rank, world_size, model, batch, loss_fn, optimizer, grad_clip=0.0
):
    """multiplies the loss by world_size before backward, to make up for an averaging that
    DDP's all-reduce does not undo: the step is world_size times too large"""
    return _step(rank, world_size, model, batch, loss_fn, optimizer, grad_clip, scale=world_size)


@mistake("ddp_train_step")
def ddp_train_step_steps_before_backward(
    rank, world_size, model, batch, loss_fn, optimizer, grad_clip=0.0
):
    """optimizer.step() before loss.backward(): each step uses the gradients of the step
    before (none at the first)"""
    return _step(rank, world_size, model, batch, loss_fn, optimizer, grad_clip, step_first=True)


@mistake("ddp_train_step")
def ddp_train_step_around_the_wrapper(
    rank, world_size, model, batch, loss_fn, optimizer, grad_clip=0.0
):
    """runs the forward on model.module, around the DDP wrapper: DDP's averaging is never
    armed, and each rank steps on its own rows' gradients"""
    return _step(
        rank, world_size, model, batch, loss_fn, optimizer, grad_clip, forward=model.module
    )


@mistake("ddp_train_step")
def ddp_train_step_no_zero_grad(rank, world_size, model, batch, loss_fn, optimizer, grad_clip=0.0):
    """never clears the gradients: each backward adds to the gradients of every step
    before"""
    return _step(rank, world_size, model, batch, loss_fn, optimizer, grad_clip, zero_grad=False)


@mistake("ddp_train_step")
def ddp_train_step_no_clip(rank, world_size, model, batch, loss_fn, optimizer, grad_clip=0.0):
    """takes grad_clip and never clips"""
    return _step(rank, world_size, model, batch, loss_fn, optimizer, grad_clip, clip=False)


@mistake("ddp_train_step")
def ddp_train_step_own_loss(rank, world_size, model, batch, loss_fn, optimizer, grad_clip=0.0):
    """returns this rank's loss, over its own rows, not the whole batch's"""
    return _step(rank, world_size, model, batch, loss_fn, optimizer, grad_clip, reduce=False)


@mistake("ddp_train_step")
def ddp_train_step_summed_loss(rank, world_size, model, batch, loss_fn, optimizer, grad_clip=0.0):
    """all-reduces the loss and returns the sum over the ranks, not the mean"""
    return _step(rank, world_size, model, batch, loss_fn, optimizer, grad_clip, divide=False)


@mistake("ddp_train_step")
def ddp_train_step_uneven_chunks(rank, world_size, model, batch, loss_fn, optimizer, grad_clip=0.0):
    """splits the batch with chunk and checks nothing: 7 rows give shares of 4 and 3,
    whose mean losses DDP then weighs alike"""
    n = -(-batch[0].size(0) // world_size)
    rows = slice(rank * n, (rank + 1) * n)
    return _step(
        rank, world_size, model, batch, loss_fn, optimizer, grad_clip, rows=rows, check=False
    )


@mistake("ddp_train_step")
def ddp_train_step_returns_the_tensor(
    rank, world_size, model, batch, loss_fn, optimizer, grad_clip=0.0
):
    """returns the averaged loss as a 0-d tensor, not a Python float"""
    return _step(rank, world_size, model, batch, loss_fn, optimizer, grad_clip, as_tensor=True)


@mistake("ddp_train_step")
def ddp_train_step_loss_on_rank_0(
    rank, world_size, model, batch, loss_fn, optimizer, grad_clip=0.0
):
    """all-reduces the loss on rank 0 only, the rank that logs: rank 0 waits for a
    collective that the other ranks never call"""
    return _step(rank, world_size, model, batch, loss_fn, optimizer, grad_clip, rank_0_only=True)


@alternative("ddp_train_step")
def ddp_train_step_strided_rows(rank, world_size, model, batch, loss_fn, optimizer, grad_clip=0.0):
    """DistributedSampler's strided rows (rank, rank + W, ...), torch's clip_grad_norm_, and
    the loss divided before it is summed"""
    inputs, targets = batch
    if inputs.size(0) % world_size:
        raise ValueError("the batch does not split evenly across the ranks")
    optimizer.zero_grad(set_to_none=True)
    loss = loss_fn(model(inputs[rank::world_size]), targets[rank::world_size])
    loss.backward()
    if grad_clip > 0:
        clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    mean = loss.detach() / world_size
    dist.all_reduce(mean, op=dist.ReduceOp.SUM)
    return float(mean)


@alternative("ddp_train_step")
def ddp_train_step_gathered_losses(
    rank, world_size, model, batch, loss_fn, optimizer, grad_clip=0.0
):
    """tensor_split for the shares, and every rank's loss gathered (all_gather) and
    averaged"""
    inputs, targets = batch
    if len(inputs) % world_size != 0:
        raise ValueError(f"{len(inputs)} rows for {world_size} ranks")
    x = torch.tensor_split(inputs, world_size)[rank]
    y = torch.tensor_split(targets, world_size)[rank]
    for p in model.parameters():
        p.grad = None
    loss = loss_fn(model(x), y)
    loss.backward()
    if grad_clip:
        _clip(model, grad_clip)
    optimizer.step()
    losses = [torch.zeros_like(loss) for _ in range(world_size)]
    dist.all_gather(losses, loss.detach())
    return torch.stack(losses).mean().item()
