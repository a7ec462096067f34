"""Autograd Functions whose backward passes are written by hand.

A torch.autograd.Function pairs a forward, which runs without recording a graph, with a
backward, which turns the gradient of the loss with respect to each output into the
gradient with respect to each input. Here every backward is a formula worked out on paper:
no autograd runs inside it, and torch.autograd.gradcheck compares it with finite
differences in float64.

What the three share:
- they are called through apply, with positional arguments as written in each docstring;
- forward(ctx, ...) saves every tensor that backward needs with ctx.save_for_backward (so
  that saved-tensor hooks, as activation checkpointing and offloading use, see them, and
  an in-place change to one is caught), and anything else (a float, a count) as a plain
  attribute of ctx;
- backward(ctx, grad) returns one gradient per input of forward, in order: a tensor of
  that input's shape and dtype, or None for an input that is not a tensor (eps) or not
  differentiable (integer targets);
- neither pass changes its inputs in place.
"""

import torch
import torch.nn.functional as F
from torch import Tensor


class SiLU(torch.autograd.Function):
    """silu(x) = x · σ(x), with σ(x) = 1 / (1 + e^(−x)), elementwise.

    SiLU.apply(x) equals torch.nn.functional.silu(x), gradient included. x: any shape,
    float32 or float64; the result has x's shape and dtype. Value and gradient are finite
    for every finite x, ±1000 included, and right at x = 0.

    Off limits, autograd inside backward (the gradient is a formula) and the softmax and
    sigmoid family, each of which gives the others by arithmetic (the grader refuses each
    under any name: Tensor methods, in-place forms, torch.special, nn modules):
    torch.autograd.grad, torch.autograd.backward, torch.Tensor.backward, torch.softmax,
    torch.nn.functional.softmin, torch.log_softmax, torch.logsumexp, torch.logcumsumexp,
    torch.logaddexp, torch.logaddexp2, torch.sigmoid, torch.tanh,
    torch.nn.functional.logsigmoid, torch.nn.functional.softplus,
    torch.nn.functional.silu, torch.nn.functional.glu, torch.nn.functional.nll_loss,
    torch.nn.functional.cross_entropy, torch.nn.functional.binary_cross_entropy_with_logits,
    torch.nn.functional.soft_margin_loss.
    """

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return x / (1 + torch.exp(-x))  # e^(−x) = inf at x ≪ 0 gives x / inf = 0, no NaN

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        s = 1 / (1 + torch.exp(-x))  # σ(x)
        return grad * s * (1 + x * (1 - s))  # product rule, with σ' = σ · (1 − σ)


class LayerNormFunction(torch.autograd.Function):
    """Layer normalisation over the last dim, with an affine weight and bias.

    LayerNormFunction.apply(x, weight, bias, eps=1e-5) equals
    torch.nn.functional.layer_norm(x, (C,), weight, bias, eps), gradients included.
    x (..., C) with one or more dims; weight (C,) and bias (C,); all three of one dtype,
    float32 or float64; eps a positive float. Each row along the last dim is normalised
    by its own mean and its biased variance (the mean of the squared deviations, divided
    by C, not C − 1): y = (x − mean) / √(var + eps) · weight + bias, of x's shape and dtype.

    backward returns (grad_x, grad_weight, grad_bias, None), None for eps. The mean and the
    variance are functions of x: grad_x goes through them too. weight and bias act on
    every row, so their gradients gather the contributions of all the rows.

    Off limits, autograd inside backward (the gradient is a formula) and torch's
    normalisation layers, which give layer_norm on a reshaped input (the grader refuses
    each under any name: torch.layer_norm, nn.LayerNorm, the aten op):
    torch.autograd.grad, torch.autograd.backward, torch.Tensor.backward,
    torch.nn.functional.layer_norm, torch.nn.functional.group_norm,
    torch.nn.functional.batch_norm, torch.nn.functional.instance_norm.
    """

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor, eps: float = 1e-5) -> Tensor:
        mean = x.mean(dim=-1, keepdim=True)  # (..., 1)
        var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)  # biased: divided by C
        rstd = 1 / torch.sqrt(var + eps)  # (..., 1)
        xhat = (x - mean) * rstd  # (..., C), each row of mean 0 and variance ~1
        ctx.save_for_backward(xhat, rstd, weight)
        return xhat * weight + bias

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, Tensor, Tensor, None]:
        xhat, rstd, weight = ctx.saved_tensors
        C = xhat.size(-1)
        dxhat = grad * weight  # (..., C)
        # xhat depends on x directly, through the mean (the second term) and through the
        # variance (the third)
        grad_x = rstd * (
            dxhat
            - dxhat.mean(dim=-1, keepdim=True)
            - xhat * (dxhat * xhat).mean(dim=-1, keepdim=True)
        )
        grad_weight = (grad * xhat).reshape(-1, C).sum(dim=0)  # over every row
        grad_bias = grad.reshape(-1, C).sum(dim=0)
        return grad_x, grad_weight, grad_bias, None


class SoftmaxCrossEntropy(torch.autograd.Function):
    """The mean cross-entropy of logits against class indices.

    SoftmaxCrossEntropy.apply(logits, targets) equals
    torch.nn.functional.cross_entropy(logits, targets) with its defaults (reduction
    "mean", no class weights, no label smoothing), gradient included. logits (N, C),
    float32 or float64, N ≥ 1; targets (N,) int64, each in 0 … C − 1. Returns a 0-d tensor
    of logits' dtype: the mean over the N rows of −log softmax(logits row)[target]. Value
    and gradient are finite for any finite logits, ±1000 included.

    backward returns (grad_logits, None): targets are not differentiable.

    Off limits, autograd inside backward (the gradient is a formula) and the softmax and
    sigmoid family, each of which gives the others by arithmetic (the grader refuses each
    under any name: Tensor methods, in-place forms, torch.special, nn modules):
    torch.autograd.grad, torch.autograd.backward, torch.Tensor.backward, torch.softmax,
    torch.nn.functional.softmin, torch.log_softmax, torch.logsumexp, torch.logcumsumexp,
    torch.logaddexp, torch.logaddexp2, torch.sigmoid, torch.tanh,
    torch.nn.functional.logsigmoid, torch.nn.functional.softplus,
    torch.nn.functional.silu, torch.nn.functional.glu, torch.nn.functional.nll_loss,
    torch.nn.functional.cross_entropy, torch.nn.functional.binary_cross_entropy_with_logits,
    torch.nn.functional.soft_margin_loss.
    """

    @staticmethod
    def forward(ctx, logits: Tensor, targets: Tensor) -> Tensor:
        N = logits.size(0)  # rows
        z = logits - logits.amax(dim=1, keepdim=True)  # (N, C), each row's largest is 0
        log_probs = z - torch.log(torch.exp(z).sum(dim=1, keepdim=True))  # (N, C)
        ctx.save_for_backward(log_probs, targets)
        rows = torch.arange(N, device=logits.device)
        return -log_probs[rows, targets].mean()

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:
        log_probs, targets = ctx.saved_tensors
        N, C = log_probs.shape
        one_hot = F.one_hot(targets, C).to(log_probs.dtype)  # (N, C)
        # d(loss)/d(logits) = (softmax − one-hot) / N; grad is the 0-d upstream gradient
        return grad * (torch.exp(log_probs) - one_hot) / N, None
