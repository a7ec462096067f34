"""Activations and losses from scratch, as torch.nn.functional has them.

"From scratch" means elementary tensor operations (arithmetic, exp, log, expm1, erf,
max, sum, where, gather, ...). Each function's docstring ends with the torch functions
that are off limits in it, and the grader enforces that list. sigmoid, tanh, softmax,
log_softmax and cross_entropy share one: torch's softmax and sigmoid family, whose
members give one another by arithmetic (tanh(x) = 2·sigmoid(2x) − 1, sigmoid(x) is
softmax([0, x]) at 1, softmax(x) = exp(log_softmax(x)), ...). Each function keeps the
autograd graph, leaves its input unchanged, and stays finite where the naive formula
overflows.
"""

import math

import torch
from torch import Tensor


def relu(x: Tensor) -> Tensor:
    """max(x, 0) elementwise: x of any shape and floating dtype → the same shape and dtype.

    Equal to torch.relu, gradient included (1 where x > 0, else 0).

    Off limits (the grader refuses each under any name: Tensor methods, in-place forms,
    torch.special, nn modules): torch.relu.
    """
    raise NotImplementedError("sprint3.functional.relu")


def sigmoid(x: Tensor) -> Tensor:
    """σ(x) = 1 / (1 + e^(−x)) elementwise; x of any shape and floating dtype.

    Equal to torch.sigmoid within float32 rounding (about 1e-5 relative; an absolute
    1e-6 where the answer is near 0) for every input up to ±1000, and never NaN or inf
    there: e^(−x) overflows float32 to inf below x ≈ −88, so mind what that does to your
    formula. Differentiable by autograd, with torch.sigmoid's gradient at every input,
    x = 0 included (abs() and sign() have slope 0 at 0: a formula built on them loses it).

    Off limits, the softmax and sigmoid family, each of which gives the others by
    arithmetic (the grader refuses each under any name: Tensor methods, in-place forms,
    torch.special, nn modules): torch.softmax, torch.nn.functional.softmin,
    torch.log_softmax, torch.logsumexp, torch.logcumsumexp, torch.logaddexp,
    torch.logaddexp2, torch.sigmoid, torch.tanh, torch.nn.functional.logsigmoid,
    torch.nn.functional.softplus, torch.nn.functional.silu, torch.nn.functional.glu,
    torch.nn.functional.nll_loss, torch.nn.functional.cross_entropy,
    torch.nn.functional.binary_cross_entropy_with_logits,
    torch.nn.functional.soft_margin_loss.
    """
    raise NotImplementedError("sprint3.functional.sigmoid")


def tanh(x: Tensor) -> Tensor:
    """tanh(x) = (e^x − e^(−x)) / (e^x + e^(−x)) elementwise; any shape, floating dtype.

    Equal to torch.tanh within float32 rounding (about 1e-5 relative; an absolute 1e-6
    near 0) for every input up to ±1000, and never NaN there: e^x is inf in float32
    above x ≈ 88, and inf / inf is NaN. Differentiable by autograd, with torch.tanh's
    gradient at every input, x = 0 included (abs() and sign() have slope 0 at 0).

    Off limits, the softmax and sigmoid family, each of which gives the others by
    arithmetic (the grader refuses each under any name: Tensor methods, in-place forms,
    torch.special, nn modules): torch.softmax, torch.nn.functional.softmin,
    torch.log_softmax, torch.logsumexp, torch.logcumsumexp, torch.logaddexp,
    torch.logaddexp2, torch.sigmoid, torch.tanh, torch.nn.functional.logsigmoid,
    torch.nn.functional.softplus, torch.nn.functional.silu, torch.nn.functional.glu,
    torch.nn.functional.nll_loss, torch.nn.functional.cross_entropy,
    torch.nn.functional.binary_cross_entropy_with_logits,
    torch.nn.functional.soft_margin_loss.
    """
    raise NotImplementedError("sprint3.functional.tanh")


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    """GELU(x) = x·Φ(x), Φ the standard normal CDF; elementwise, any shape, floating dtype.

    approximate="none": x·½(1 + erf(x/√2)), exact.
    approximate="tanh": ½·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), GPT-2's approximation.
    Equal to torch.nn.functional.gelu with the same `approximate` (about 1e-5 relative,
    an absolute 1e-6 near 0) for inputs up to ±1000, finite there; differentiable, with
    torch's gradient (x = 0 included).

    Off limits (the grader refuses each under any name: Tensor methods, in-place forms,
    torch.special, nn modules): torch.nn.functional.gelu.
    """
    raise NotImplementedError("sprint3.functional.gelu")


def softmax(x: Tensor, dim: int = -1) -> Tensor:
    """e^(x_i) / Σ_j e^(x_j) along `dim` (negative dims count from the end).

    x of any shape and floating dtype → the same shape and dtype; every slice along `dim`
    is positive and sums to 1. Equal to torch.softmax(x, dim) within float32 rounding
    (about 1e-5 relative, more for inputs near ±1000, which float32 stores to ~6e-5) for
    inputs up to ±1000, finite there (e^1000 is inf: softmax does not change when a
    constant is subtracted along `dim`). Differentiable, with torch's gradient.

    Off limits, the softmax and sigmoid family, each of which gives the others by
    arithmetic (the grader refuses each under any name: Tensor methods, in-place forms,
    torch.special, nn modules): torch.softmax, torch.nn.functional.softmin,
    torch.log_softmax, torch.logsumexp, torch.logcumsumexp, torch.logaddexp,
    torch.logaddexp2, torch.sigmoid, torch.tanh, torch.nn.functional.logsigmoid,
    torch.nn.functional.softplus, torch.nn.functional.silu, torch.nn.functional.glu,
    torch.nn.functional.nll_loss, torch.nn.functional.cross_entropy,
    torch.nn.functional.binary_cross_entropy_with_logits,
    torch.nn.functional.soft_margin_loss.
    """
    raise NotImplementedError("sprint3.functional.softmax")


def log_softmax(x: Tensor, dim: int = -1) -> Tensor:
    """log(softmax(x, dim)) = x_i − log Σ_j e^(x_j) along `dim`, computed stably.

    Same shape and dtype as x; every entry ≤ 0. Equal to torch.log_softmax(x, dim) for
    inputs up to ±1000, and finite there, also where softmax itself underflows to 0 and
    log(softmax) would give −inf. Tolerance: float32 rounds numbers near 1000 to ~6e-5,
    so results are compared to about 1e-5 relative plus that absolute rounding.
    Differentiable, with torch's gradient.

    Off limits, the softmax and sigmoid family, each of which gives the others by
    arithmetic (the grader refuses each under any name: Tensor methods, in-place forms,
    torch.special, nn modules): torch.softmax, torch.nn.functional.softmin,
    torch.log_softmax, torch.logsumexp, torch.logcumsumexp, torch.logaddexp,
    torch.logaddexp2, torch.sigmoid, torch.tanh, torch.nn.functional.logsigmoid,
    torch.nn.functional.softplus, torch.nn.functional.silu, torch.nn.functional.glu,
    torch.nn.functional.nll_loss, torch.nn.functional.cross_entropy,
    torch.nn.functional.binary_cross_entropy_with_logits,
    torch.nn.functional.soft_margin_loss.
    """
    raise NotImplementedError("sprint3.functional.log_softmax")


def cross_entropy(logits: Tensor, targets: Tensor, ignore_index: int = -100) -> Tensor:
    """The mean negative log-likelihood of the targets under softmax(logits).

    logits (N, C) floating, targets (N,) int64 class indices in [0, C), or
    `ignore_index` for an example that does not count. Returns a 0-d tensor in the
    logits' dtype: −(1/K)·Σ log softmax(logits[i])[targets[i]] over the K examples whose
    target is not ignore_index (ignore_index may be any int, a valid class index too).
    Equal to torch.nn.functional.cross_entropy for logits up to ±1000 (finite there);
    differentiable with respect to the logits; logits and targets left unchanged.
    Every test has at least one target that counts.

    Off limits, the softmax and sigmoid family, each of which gives the others by
    arithmetic (the grader refuses each under any name: Tensor methods, in-place forms,
    torch.special, nn modules): torch.softmax, torch.nn.functional.softmin,
    torch.log_softmax, torch.logsumexp, torch.logcumsumexp, torch.logaddexp,
    torch.logaddexp2, torch.sigmoid, torch.tanh, torch.nn.functional.logsigmoid,
    torch.nn.functional.softplus, torch.nn.functional.silu, torch.nn.functional.glu,
    torch.nn.functional.nll_loss, torch.nn.functional.cross_entropy,
    torch.nn.functional.binary_cross_entropy_with_logits,
    torch.nn.functional.soft_margin_loss.
    """
    raise NotImplementedError("sprint3.functional.cross_entropy")


def mse_loss(pred: Tensor, target: Tensor) -> Tensor:
    """The mean squared error mean((pred − target)²) over every element, as a 0-d tensor.

    pred and target have the same shape (any, 0-d too) and floating dtype; the result
    has that dtype. Equal to torch.nn.functional.mse_loss; differentiable with respect
    to pred (and target); the inputs left unchanged.

    Off limits (the grader refuses each under any name: Tensor methods, in-place forms,
    torch.special, nn modules): torch.nn.functional.mse_loss.
    """
    raise NotImplementedError("sprint3.functional.mse_loss")
