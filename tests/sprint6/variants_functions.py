"""Known mistakes and correct alternatives of sprint6.functions."""

import torch
import torch.nn.functional as F
from torch.autograd import Function

from grader.variants import alternative, mistake

# --- SiLU -------------------------------------------------------------------------------------


def _sigmoid(x):
    return 1 / (1 + torch.exp(-x))


class _SiLU(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * _sigmoid(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        s = _sigmoid(x)
        return grad * s * (1 + x * (1 - s))


@mistake("SiLU")
class SiLUSigmoidOnly(_SiLU):
    """backward keeps only σ(x): the product rule's second term, x times σ's derivative,
    is left out"""

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * _sigmoid(x)


@mistake("SiLU")
class SiLUUpstreamIgnored(_SiLU):
    """backward returns silu'(x) without multiplying by the incoming gradient"""

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        s = _sigmoid(x)
        return s * (1 + x * (1 - s))


@mistake("SiLU")
class SiLUUnstableSigmoid(_SiLU):
    """σ written as e^x / (1 + e^x): inf / inf = NaN once e^x overflows (x ≳ 89 in float32)"""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * torch.exp(x) / (1 + torch.exp(x))

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        s = torch.exp(x) / (1 + torch.exp(x))
        return grad * s * (1 + x * (1 - s))


@mistake("SiLU")
class SiLUSigmoidFromOutput(_SiLU):
    """saves the output and recovers σ(x) as silu(x) / x in backward: 0 / 0 = NaN at x = 0"""

    @staticmethod
    def forward(ctx, x):
        y = x * _sigmoid(x)
        ctx.save_for_backward(x, y)
        return y

    @staticmethod
    def backward(ctx, grad):
        x, y = ctx.saved_tensors
        s = y / x
        return grad * s * (1 + x * (1 - s))


@mistake("SiLU")
class SiLUInputOnCtx(_SiLU):
    """keeps x as an attribute of ctx instead of saving it with ctx.save_for_backward"""

    @staticmethod
    def forward(ctx, x):
        ctx.x = x
        return x * _sigmoid(x)

    @staticmethod
    def backward(ctx, grad):
        s = _sigmoid(ctx.x)
        return grad * s * (1 + ctx.x * (1 - s))


@mistake("SiLU")
class SiLUAutogradInBackward(_SiLU):
    """backward recomputes forward with grad enabled and asks torch.autograd.grad for the
    gradient, instead of a formula"""

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        with torch.enable_grad():
            x = x.detach().requires_grad_()
            (gx,) = torch.autograd.grad(x * _sigmoid(x), x, grad)
        return gx


@mistake("SiLU")
class SiLUTorchSigmoidInBackward(_SiLU):
    """forward builds σ by hand, but backward calls torch.sigmoid, which is off limits there
    too"""

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        s = torch.sigmoid(x)
        return grad * s * (1 + x * (1 - s))


@alternative("SiLU")
class SiLUStableWhere(Function):
    """σ through e^(−|x|), which never overflows; backward from the saved output as
    σ + y·(1 − σ)"""

    @staticmethod
    def forward(ctx, x):
        e = torch.exp(-x.abs())
        s = torch.where(x >= 0, 1 / (1 + e), e / (1 + e))
        y = x * s
        ctx.save_for_backward(s, y)
        return y

    @staticmethod
    def backward(ctx, grad):
        s, y = ctx.saved_tensors
        return grad * (s + y * (1 - s))


@alternative("SiLU")
class SiLUSetupContext(Function):
    """torch 2's split form: forward without ctx, setup_context saves what backward needs"""

    @staticmethod
    def forward(x):
        return x * (1 / (1 + torch.exp(-x)))

    @staticmethod
    def setup_context(ctx, inputs, output):
        (x,) = inputs
        ctx.save_for_backward(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        s = _sigmoid(x)
        return grad * (s + x * s * (1 - s))


# --- LayerNormFunction ------------------------------------------------------------------------


def _stats(x, eps):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    rstd = 1 / torch.sqrt(var + eps)
    return (x - mean) * rstd, rstd


class _LayerNorm(Function):
    @staticmethod
    def forward(ctx, x, weight, bias, eps=1e-5):
        xhat, rstd = _stats(x, eps)
        ctx.save_for_backward(xhat, rstd, weight)
        return xhat * weight + bias

    @staticmethod
    def grad_x(xhat, rstd, dxhat):
        return rstd * (
            dxhat - dxhat.mean(-1, keepdim=True) - xhat * (dxhat * xhat).mean(-1, keepdim=True)
        )

    @staticmethod
    def backward(ctx, grad):
        xhat, rstd, weight = ctx.saved_tensors
        C = xhat.size(-1)
        dxhat = grad * weight
        grad_x = _LayerNorm.grad_x(xhat, rstd, dxhat)
        return grad_x, (grad * xhat).reshape(-1, C).sum(0), grad.reshape(-1, C).sum(0), None


@mistake("LayerNormFunction")
class LNStatisticsConstant(_LayerNorm):
    """backward treats each row's mean and variance as constants: x's gradient is the
    upstream gradient times weight over the standard deviation, nothing more"""

    @staticmethod
    def grad_x(xhat, rstd, dxhat):
        return rstd * dxhat

    @staticmethod
    def backward(ctx, grad):
        xhat, rstd, weight = ctx.saved_tensors
        C = xhat.size(-1)
        grad_x = LNStatisticsConstant.grad_x(xhat, rstd, grad * weight)
        return grad_x, (grad * xhat).reshape(-1, C).sum(0), grad.reshape(-1, C).sum(0), None


@mistake("LayerNormFunction")
class LNMeanConstant(_LayerNorm):
    """backward follows x through the variance but treats the mean as a constant"""

    @staticmethod
    def backward(ctx, grad):
        xhat, rstd, weight = ctx.saved_tensors
        C = xhat.size(-1)
        dxhat = grad * weight
        grad_x = rstd * (dxhat - xhat * (dxhat * xhat).mean(-1, keepdim=True))
        return grad_x, (grad * xhat).reshape(-1, C).sum(0), grad.reshape(-1, C).sum(0), None


@mistake("LayerNormFunction")
class LNUnbiasedVariance(_LayerNorm):
    """forward uses the unbiased variance (divided by C − 1, torch.var's default)"""

    @staticmethod
    def forward(ctx, x, weight, bias, eps=1e-5):
        mean = x.mean(-1, keepdim=True)
        rstd = 1 / torch.sqrt(x.var(-1, keepdim=True) + eps)
        xhat = (x - mean) * rstd
        ctx.save_for_backward(xhat, rstd, weight)
        return xhat * weight + bias


@mistake("LayerNormFunction")
class LNParamGradsOverFirstDim(_LayerNorm):
    """weight's and bias's gradients summed over dim 0 only: right for a 2-D x, the wrong
    shape once x has more leading dims"""

    @staticmethod
    def backward(ctx, grad):
        xhat, rstd, weight = ctx.saved_tensors
        grad_x = _LayerNorm.grad_x(xhat, rstd, grad * weight)
        return grad_x, (grad * xhat).sum(0), grad.sum(0), None


@mistake("LayerNormFunction")
class LNNoGradientForEps(_LayerNorm):
    """backward returns three gradients: nothing in the place of eps"""

    @staticmethod
    def backward(ctx, grad):
        return _LayerNorm.backward(ctx, grad)[:3]


@mistake("LayerNormFunction")
class LNCentresInPlace(_LayerNorm):
    """forward centres and scales x in place (sub_, mul_): the caller's x is changed"""

    @staticmethod
    def forward(ctx, x, weight, bias, eps=1e-5):
        mean = x.mean(-1, keepdim=True)
        rstd = 1 / torch.sqrt(((x - mean) ** 2).mean(-1, keepdim=True) + eps)
        xhat = x.sub_(mean).mul_(rstd)
        ctx.save_for_backward(xhat, rstd, weight)
        return xhat * weight + bias


@mistake("LayerNormFunction")
class LNSavedThenScaledInPlace(_LayerNorm):
    """saves x̂ with ctx.save_for_backward, then scales and shifts that same tensor in place
    to make the output: backward would read the output where it expects x̂"""

    @staticmethod
    def forward(ctx, x, weight, bias, eps=1e-5):
        xhat, rstd = _stats(x, eps)
        ctx.save_for_backward(xhat, rstd, weight)
        return xhat.mul_(weight).add_(bias)


@alternative("LayerNormFunction")
class LNRecomputeFromX(Function):
    """saves x and weight only and recomputes the statistics in backward; the gradient as
    (C·dx̂ − Σdx̂ − x̂·Σ(dx̂·x̂)) / (C·σ); parameter gradients by a matmul over the rows"""

    @staticmethod
    def forward(ctx, x, weight, bias, eps=1e-5):
        ctx.eps = eps
        ctx.save_for_backward(x, weight)
        xhat, _ = _stats(x, eps)
        return xhat * weight + bias

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        C = x.size(-1)
        xhat, rstd = _stats(x, ctx.eps)
        dxhat = grad * weight
        total = dxhat.sum(-1, keepdim=True)
        along = (dxhat * xhat).sum(-1, keepdim=True)
        grad_x = (C * dxhat - total - xhat * along) * rstd / C
        g2, xhat2 = grad.reshape(-1, C), xhat.reshape(-1, C)
        grad_weight = torch.einsum("rc,rc->c", g2, xhat2)
        grad_bias = torch.ones(g2.size(0), dtype=g2.dtype, device=g2.device) @ g2
        return grad_x, grad_weight, grad_bias, None


@alternative("LayerNormFunction")
class LNSetupContextVarMean(Function):
    """torch 2's split form, with the variance from torch.var(unbiased=False) and the
    gradients taking ctx.needs_input_grad into account"""

    @staticmethod
    def forward(x, weight, bias, eps=1e-5):
        mean = x.mean(-1, keepdim=True)
        var = x.var(-1, unbiased=False, keepdim=True)
        return (x - mean) / torch.sqrt(var + eps) * weight + bias

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, weight, _, *rest = inputs
        ctx.eps = rest[0] if rest else 1e-5
        ctx.save_for_backward(x, weight)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        mean = x.mean(-1, keepdim=True)
        rstd = torch.rsqrt(x.var(-1, unbiased=False, keepdim=True) + ctx.eps)
        xhat = (x - mean) * rstd
        lead = tuple(range(x.dim() - 1))
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = _LayerNorm.grad_x(xhat, rstd, grad * weight)
        if ctx.needs_input_grad[1]:
            grad_w = (grad * xhat).sum(lead) if lead else grad * xhat
        if ctx.needs_input_grad[2]:
            grad_b = grad.sum(lead) if lead else grad
        return grad_x, grad_w, grad_b, None


# --- SoftmaxCrossEntropy ----------------------------------------------------------------------


def _log_probs(logits):
    z = logits - logits.max(dim=1, keepdim=True).values
    return z - torch.exp(z).sum(dim=1, keepdim=True).log()


class _CrossEntropy(Function):
    @staticmethod
    def forward(ctx, logits, targets):
        log_probs = _log_probs(logits)
        ctx.save_for_backward(log_probs, targets)
        return -log_probs.gather(1, targets[:, None]).mean()

    @staticmethod
    def backward(ctx, grad):
        log_probs, targets = ctx.saved_tensors
        N, C = log_probs.shape
        d = torch.exp(log_probs) - F.one_hot(targets, C).to(log_probs.dtype)
        return grad * d / N, None


@mistake("SoftmaxCrossEntropy")
class CENotDividedByN(_CrossEntropy):
    """backward forgets that the loss is a mean: the gradient is not divided by N"""

    @staticmethod
    def backward(ctx, grad):
        log_probs, targets = ctx.saved_tensors
        C = log_probs.size(1)
        return grad * (torch.exp(log_probs) - F.one_hot(targets, C).to(log_probs.dtype)), None


@mistake("SoftmaxCrossEntropy")
class CEUnstableSoftmax(_CrossEntropy):
    """softmax of the raw logits, without taking out each row's max: e^1000 = inf gives NaN"""

    @staticmethod
    def forward(ctx, logits, targets):
        e = torch.exp(logits)
        log_probs = torch.log(e / e.sum(dim=1, keepdim=True))
        ctx.save_for_backward(log_probs, targets)
        return -log_probs.gather(1, targets[:, None]).mean()


@mistake("SoftmaxCrossEntropy")
class CEUpstreamIgnored(_CrossEntropy):
    """backward returns the loss's own gradient without multiplying by the incoming one"""

    @staticmethod
    def backward(ctx, grad):
        log_probs, targets = ctx.saved_tensors
        N, C = log_probs.shape
        d = torch.exp(log_probs) - F.one_hot(targets, C).to(log_probs.dtype)
        return d / N, None


@mistake("SoftmaxCrossEntropy")
class CEOneHotForgotten(_CrossEntropy):
    """backward returns the softmax over N: the −1 at each row's target is forgotten"""

    @staticmethod
    def backward(ctx, grad):
        log_probs, _ = ctx.saved_tensors
        return grad * torch.exp(log_probs) / log_probs.size(0), None


@mistake("SoftmaxCrossEntropy")
class CEOneGradient(_CrossEntropy):
    """backward returns the logits' gradient alone, nothing in the place of targets"""

    @staticmethod
    def backward(ctx, grad):
        return _CrossEntropy.backward(ctx, grad)[0]


@mistake("SoftmaxCrossEntropy")
class CEZerosForTargets(_CrossEntropy):
    """backward returns a tensor of zeros as the gradient of the integer targets"""

    @staticmethod
    def backward(ctx, grad):
        grad_logits, _ = _CrossEntropy.backward(ctx, grad)
        _, targets = ctx.saved_tensors
        return grad_logits, torch.zeros_like(targets)


@alternative("SoftmaxCrossEntropy")
class CESaveProbsScatter(Function):
    """log-sum-exp by hand, picks by indexing; saves the softmax and subtracts 1 at the
    targets with scatter_add on a fresh tensor"""

    @staticmethod
    def forward(ctx, logits, targets):
        N = logits.size(0)
        m = logits.amax(dim=1, keepdim=True)
        lse = m + torch.log(torch.exp(logits - m).sum(dim=1, keepdim=True))  # (N, 1)
        probs = torch.exp(logits - lse)
        ctx.save_for_backward(probs, targets)
        picked = logits[torch.arange(N, device=logits.device), targets]
        return (lse[:, 0] - picked).sum() / N

    @staticmethod
    def backward(ctx, grad):
        probs, targets = ctx.saved_tensors
        N = probs.size(0)
        minus = torch.full((N, 1), -1.0, dtype=probs.dtype, device=probs.device)
        d = probs.scatter_add(1, targets[:, None], minus)
        return d * (grad / N), None


@alternative("SoftmaxCrossEntropy")
class CESetupContextRecompute(Function):
    """torch 2's split form; backward recomputes the softmax from the saved logits and
    returns no gradient when logits need none"""

    @staticmethod
    def forward(logits, targets):
        return -_log_probs(logits).gather(1, targets[:, None]).mean()

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)

    @staticmethod
    def backward(ctx, grad):
        if not ctx.needs_input_grad[0]:
            return None, None
        logits, targets = ctx.saved_tensors
        N, C = logits.shape
        e = torch.exp(logits - logits.amax(dim=1, keepdim=True))
        probs = e / e.sum(dim=1, keepdim=True)
        target_mask = torch.arange(C, device=logits.device) == targets[:, None]
        return (probs - target_mask.to(probs.dtype)) * grad / N, None
