"""Grades sprint6.functions against torch's own functions and autograd, in float64.

Each Function is called through apply, as a model would call it. Forward values are
compared with F.silu, F.layer_norm and F.cross_entropy in float32 and float64; gradients
with torch's autograd through those functions, for every input that requires grad, under
a random upstream gradient; torch.autograd.gradcheck runs on small float64 inputs; ±1000
inputs must stay finite. The tensors backward needs must go through ctx.save_for_backward
(saved-tensor hooks see them). Last, backward is called directly with the ctx that forward
filled, as the engine calls it, to read its raw result: one gradient per forward input,
None for eps and targets, each of its input's shape and dtype.

That direct call is also where autograd used inside backward is caught. The guard refuses
the aten ops of the forbidden functions everywhere, inside the engine's backward too, but
it sees a Python function such as torch.autograd.grad through a TorchFunctionMode, and a
mode is switched off while it handles a call: torch.autograd.grad and Tensor.backward,
with which a test starts the engine, are such calls, so the backward they run is out of
its sight. A backward that the test calls itself is not.
"""

import re

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.gradcheck import GradcheckError

from grader import kata, target_module
from grader.checks import Snapshot, check_close, check_tensor, describe, fail, likely_mistake
from tests.kata_helpers import F32_TOL, kata_call, seeded

functions = target_module("sprint6.functions")

# float64 values and gradients against torch's float64 by another route: a few dozen
# roundings of ~1e-16 each, amplified at most ~1e2 by LayerNorm's 1/√var on rows of
# spread ~0.5 and by cancellation in its gradient: ~1e-13; wrong formulas are off by ≳1e-2.
F64_TOL = {"rtol": 1e-9, "atol": 1e-11}


def check_is_function(cls, where: str) -> None:
    if not (isinstance(cls, type) and issubclass(cls, torch.autograd.Function)):
        fail(
            where,
            f"{describe(cls)} is not a subclass of torch.autograd.Function",
            "a plain class or function: autograd only calls a hand-written backward that "
            "belongs to a torch.autograd.Function subclass",
        )


def first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def autograd_error(exc: RuntimeError, names: list[str], where: str) -> None:
    """A RuntimeError from the engine about what backward returned, as a teaching failure.
    The engine's text names the learner's class: only its numbers are kept, so that the
    message is the same for every class that makes the same slip."""
    text = str(exc)
    count = re.search(r"incorrect number of gradients \(expected (\d+), got (\d+)\)", text)
    if count:
        fail(
            where,
            f"backward returned {count[2]} gradients; forward takes {count[1]} inputs "
            f"({', '.join(names)})",
            "one gradient per input of forward, in its order, is what autograd expects: "
            "None in the place of an input that is not a tensor (eps) or not differentiable "
            "(targets), not left out",
        )
    shape = re.search(r"invalid gradient at index (\d+) - got \[(.*?)\] but expected shape "
                      r"compatible with \[(.*?)\]", text)  # fmt: skip
    if shape:
        name = names[int(shape[1])] if int(shape[1]) < len(names) else f"input {shape[1]}"
        fail(
            where,
            f"backward returned a gradient of shape [{shape[2]}] for {name}, which has "
            f"shape [{shape[3]}]",
            "a parameter's gradient summed over the wrong dims: it gathers the contributions "
            "of every row, whatever the number of leading dims, and keeps the parameter's own"
            if name in ("weight", "bias")
            else "",
        )
    not_none = re.search(r"different than None at position (\d+)", text)
    if not_none:
        i = int(not_none[1]) - 1
        name = names[i] if i < len(names) else f"input {i}"
        fail(
            where,
            f"backward returned a tensor as the gradient of {name}, which is not a tensor",
            "a gradient for eps: a float has none, so its place in what backward returns "
            "holds None",
        )
    if "modified by an inplace operation" in text:
        fail(
            where,
            "autograd found that a tensor saved for backward was changed in place after "
            "forward saved it",
            "an in-place op (mul_, add_, +=) on a tensor after ctx.save_for_backward: "
            "backward would read the changed values",
        )
    fail(where, f"raised RuntimeError: {first_line(exc)}")


def gradients(out: Tensor, inputs: dict[str, Tensor], upstream: Tensor, where: str) -> dict:
    """The gradients of (out · upstream).sum() with respect to each input that requires
    grad, through autograd's engine: {name: gradient}."""
    names = [name for name, t in inputs.items() if isinstance(t, Tensor) and t.requires_grad]
    check_tensor(out, where)
    if out.grad_fn is None:
        fail(
            where,
            "the result has no grad_fn though its inputs require grad",
            "the result detached from the graph (detach(), .data, a new tensor built from "
            "its values) before it is returned from forward",
        )
    try:
        got = torch.autograd.grad(out, [inputs[n] for n in names], upstream, allow_unused=True)
    except NotImplementedError:
        raise
    except RuntimeError as exc:
        autograd_error(exc, list(inputs), where + " → backward")
    for name, g in zip(names, got, strict=True):
        if g is None:
            fail(
                where + " → backward",
                f"the gradient of {name} is None, though {name} requires grad",
                "backward returned None in the place of an input that needs a gradient",
            )
    return dict(zip(names, got, strict=True))


def torch_gradients(fn, inputs: dict[str, Tensor], upstream: Tensor) -> dict:
    """The oracle: torch's autograd through fn (torch's own function) on copies."""
    copies = {n: t.detach().clone().requires_grad_(t.requires_grad) for n, t in inputs.items()}
    names = [n for n, t in copies.items() if t.requires_grad]
    got = torch.autograd.grad(fn(**copies), [copies[n] for n in names], upstream)
    return dict(zip(names, got, strict=True))


def gradcheck(fn, inputs: tuple, where: str) -> None:
    """torch.autograd.gradcheck in float64: backward against finite differences."""
    try:
        torch.autograd.gradcheck(fn, inputs)
    except NotImplementedError:
        raise
    except GradcheckError as exc:
        fail(
            where + " under torch.autograd.gradcheck",
            f"gradcheck failed: {first_line(exc).rstrip(',')}",
            "backward's formula disagrees with finite differences of forward",
        )
    except RuntimeError as exc:
        autograd_error(exc, [f"input {i}" for i in range(len(inputs))], where + " → backward")


def check_saved(call, where: str) -> None:
    """The tensors backward needs go through ctx.save_for_backward: saved-tensor hooks
    (as activation checkpointing and CPU offloading use) see them, and no tensor is kept
    as an attribute of ctx."""
    packed = []

    def pack(t):
        packed.append(t)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = call()
    ctx = out.grad_fn
    for name, value in vars(ctx).items() if hasattr(ctx, "__dict__") else ():
        held = value if isinstance(value, list | tuple) else [value]
        if any(isinstance(v, Tensor) for v in held):
            fail(
                where,
                f"ctx.{name} holds a tensor: a tensor kept as a plain attribute of ctx "
                "escapes saved-tensor hooks and autograd's check for in-place changes",
                "a tensor stored on ctx directly instead of through ctx.save_for_backward",
            )
    if not packed:
        fail(
            where,
            "forward saved no tensor with ctx.save_for_backward, yet backward needs at least "
            "one: where did it find them?",
            "tensors stored on ctx directly instead of through ctx.save_for_backward",
        )


def backward_directly(out: Tensor, upstream: Tensor, inputs: dict, where: str) -> tuple:
    """backward called with the ctx that forward filled (out.grad_fn) and the upstream
    gradient, as the engine calls it: its raw result, as a tuple, checked to hold one
    gradient per input of forward, each None or a tensor of its input's shape and dtype."""
    if out.grad_fn is None:
        fail(where, "the result has no grad_fn though its inputs require grad")
    got = out.grad_fn.apply(upstream)
    got = (got,) if isinstance(got, Tensor) or got is None else tuple(got)
    names = list(inputs)
    where += " → backward(ctx, grad)"
    if len(got) != len(names):
        fail(
            where,
            f"returned {len(got)} values; forward takes {len(names)} inputs ({', '.join(names)})",
            "one gradient per input of forward, in its order, is what autograd expects: "
            "None in the place of an input that is not a tensor (eps) or not differentiable "
            "(targets), not left out",
        )
    for name, g in zip(names, got, strict=True):
        x = inputs[name]
        wants_none = not isinstance(x, Tensor) or not x.is_floating_point()
        if wants_none:
            if g is not None:
                fail(
                    where,
                    f"returned {describe(g)} as the gradient of {name}, expected None: "
                    f"{name} is {describe(x)}, which has no gradient",
                    "a gradient made up for an input autograd cannot differentiate: its "
                    "place holds None",
                )
            continue
        check_tensor(g, f"{where}: the gradient of {name}", shape=x.shape, dtype=x.dtype)
    return got


# --- SiLU -------------------------------------------------------------------------------------


def silu_slips(x: Tensor, g: Tensor) -> list[tuple[str, Tensor]]:
    x, g = x.detach().double(), g.double()
    s = 1 / (1 + torch.exp(-x))
    return [
        (
            "the product rule half done: the gradient of x · σ(x) taken as σ(x), the term "
            "with the derivative of σ left out",
            g * s,
        ),
        (
            "the upstream gradient not multiplied in: backward returns silu'(x) itself, "
            "which is right only when the gradient coming in is all ones",
            s * (1 + x * (1 - s)),
        ),
        ("the derivative of σ(x) taken as σ(x) itself", g * (s + x * s)),
    ]


@kata("SiLU")
class TestSiLU:
    def apply(self, x: Tensor):
        where = kata_call.then(".apply")(x)
        check_is_function(functions.SiLU, kata_call.name)
        snap = Snapshot(x=x)
        out = functions.SiLU.apply(x)
        snap.check(where)
        return out, where

    def check_values(self, x: Tensor, tol: dict):
        out, where = self.apply(x)
        want = F.silu(x.double()).to(x.dtype)
        check_close(out, want, where, **tol)

    def check_gradient(self, x: Tensor, tol: dict):
        x = x.requires_grad_()
        g = seeded(*x.shape, seed=99, dtype=x.dtype)
        snap = Snapshot(x=x)
        out, where = self.apply(x)
        got = gradients(out, {"x": x}, g, where)["x"]
        snap.check(where)
        want = torch_gradients(lambda x: F.silu(x.double()), {"x": x}, g.double())["x"]
        check_close(
            got, want.to(x.dtype), where + ": x's gradient", **tol,
            mistake=likely_mistake(got, silu_slips(x, g)),
        )  # fmt: skip

    def test_values_float32(self):
        # 0 and small values, where a route through y / x divides 0 by 0
        x = torch.cat([seeded(22, seed=1, scale=3.0), torch.tensor([0.0, 1e-3])])
        self.check_values(x.reshape(4, 6), F32_TOL)

    def test_values_float64(self):
        self.check_values(seeded(2, 3, 4, seed=2, scale=4.0, dtype=torch.float64), F64_TOL)

    def test_gradient_float64(self):
        # 0 included: a route that finds σ(x) as silu(x) / x divides 0 by 0 there
        x = seeded(4, 5, seed=3, scale=3.0, dtype=torch.float64).flatten()
        x = torch.cat([x, torch.zeros(1, dtype=torch.float64)])
        self.check_gradient(x, F64_TOL)

    def test_gradient_float32(self):
        self.check_gradient(seeded(3, 6, seed=4, scale=3.0), F32_TOL)

    def test_gradcheck(self):
        x = seeded(3, 4, seed=5, scale=2.0, dtype=torch.float64).requires_grad_()
        check_is_function(functions.SiLU, kata_call.name)
        gradcheck(functions.SiLU.apply, (x,), kata_call.then(".apply")(x))

    def test_large_inputs(self):
        # e^(−x) overflows to inf at x ≲ −89 in float32 and −710 in float64: the value and
        # the gradient stay finite (both 0 there) on a stable route
        for dtype in (torch.float32, torch.float64):
            x = torch.tensor([-1000.0, -100.0, -30.0, 0.0, 30.0, 100.0, 1000.0], dtype=dtype)
            tol = F32_TOL if dtype == torch.float32 else F64_TOL
            self.check_values(x, tol)
            self.check_gradient(x.clone(), tol)

    def test_saves_for_backward(self):
        x = seeded(2, 3, seed=6).requires_grad_()
        check_is_function(functions.SiLU, kata_call.name)
        check_saved(lambda: functions.SiLU.apply(x), kata_call.then(".apply")(x))

    def test_backward_called_directly(self):
        x = seeded(2, 5, seed=7, dtype=torch.float64).requires_grad_()
        g = seeded(2, 5, seed=8, dtype=torch.float64)
        out, where = self.apply(x)
        (got,) = backward_directly(out, g, {"x": x}, where)
        want = torch_gradients(lambda x: F.silu(x), {"x": x}, g)["x"]
        check_close(got, want, where + " → backward(ctx, grad)", **F64_TOL)


# --- LayerNormFunction ------------------------------------------------------------------------


def ln_inputs(shape: tuple, seed: int, dtype=torch.float32, scale=2.0, shift=0.5):
    C = shape[-1]
    x = seeded(*shape, seed=seed, scale=scale, shift=shift, dtype=dtype)
    weight = seeded(C, seed=seed + 1, scale=0.3, shift=1.0, dtype=dtype)
    bias = seeded(C, seed=seed + 2, scale=0.4, dtype=dtype)
    return x, weight, bias


def ln_oracle(x, weight, bias, eps=1e-5):
    return F.layer_norm(x, (x.size(-1),), weight, bias, eps)


def ln_value_slips(x, weight, bias, eps) -> list[tuple[str, Tensor]]:
    x, weight, bias = x.double(), weight.double(), bias.double()
    C = x.size(-1)
    var = x.var(-1, unbiased=False, keepdim=True)
    centred = x - x.mean(-1, keepdim=True)
    return [
        (
            "the unbiased variance (divided by C − 1): layer norm divides by C",
            centred / torch.sqrt(var * C / (C - 1) + eps) * weight + bias,
        ),
        (
            "eps added to the standard deviation instead of to the variance under the root",
            centred / (torch.sqrt(var) + eps) * weight + bias,
        ),
    ]


def ln_grad_slips(x, weight, bias, g, eps) -> list[tuple[str, Tensor]]:
    x, weight, g = x.detach().double(), weight.detach().double(), g.double()
    centred = x - x.mean(-1, keepdim=True)
    rstd = 1 / torch.sqrt(centred.pow(2).mean(-1, keepdim=True) + eps)
    xhat, dxhat = centred * rstd, g * weight
    return [
        (
            "the mean and the variance treated as constants: x's gradient taken as the "
            "upstream gradient times weight over the standard deviation, as if each row's "
            "statistics did not move with x",
            dxhat * rstd,
        ),
        (
            "the variance's dependence on x kept but the mean's left out",
            rstd * (dxhat - xhat * (dxhat * xhat).mean(-1, keepdim=True)),
        ),
        (
            "the mean's dependence on x kept but the variance's left out",
            rstd * (dxhat - dxhat.mean(-1, keepdim=True)),
        ),
        (
            "a tensor saved for backward changed in place afterwards (the output built on "
            "top of x̂, say): backward reads the changed values, and autograd cannot tell "
            "when the change happens in forward, before the save takes effect",
            _ln_backward_x(xhat * weight + bias.detach().double(), rstd, dxhat),
        ),
    ]


def _ln_backward_x(xhat, rstd, dxhat):
    """LayerNorm's x gradient from x̂ (here whatever backward took for x̂)."""
    mean_d = dxhat.mean(-1, keepdim=True)
    return rstd * (dxhat - mean_d - xhat * (dxhat * xhat).mean(-1, keepdim=True))


@kata("LayerNormFunction")
class TestLayerNormFunction:
    def apply(self, x, weight, bias, *eps):
        where = kata_call.then(".apply")(x, weight, bias, *eps)
        check_is_function(functions.LayerNormFunction, kata_call.name)
        snap = Snapshot(x=x, weight=weight, bias=bias)
        out = functions.LayerNormFunction.apply(x, weight, bias, *eps)
        snap.check(where)
        return out, where

    def check_values(self, x, weight, bias, eps, tol):
        out, where = self.apply(x, weight, bias, eps)
        want = ln_oracle(x.double(), weight.double(), bias.double(), eps).to(x.dtype)
        slips = ln_value_slips(x, weight, bias, eps)
        check_close(out, want, where, **tol, mistake=likely_mistake(out, slips))

    def check_gradients(self, x, weight, bias, eps, tol):
        inputs = {"x": x, "weight": weight, "bias": bias}
        for t in inputs.values():
            t.requires_grad_()
        g = seeded(*x.shape, seed=98, dtype=x.dtype)
        snap = Snapshot(**inputs)
        out, where = self.apply(x, weight, bias, eps)
        got = gradients(out, inputs | {"eps": eps}, g, where)
        snap.check(where)
        want = torch_gradients(
            lambda x, weight, bias: ln_oracle(x.double(), weight.double(), bias.double(), eps),
            inputs,
            g.double(),
        )
        for name in inputs:
            slips = ln_grad_slips(x, weight, bias, g, eps) if name == "x" else []
            check_close(
                got[name], want[name].to(x.dtype), f"{where}: {name}'s gradient", **tol,
                mistake=likely_mistake(got[name], slips),
            )  # fmt: skip

    def test_values_float32(self):
        self.check_values(*ln_inputs((2, 5, 8), seed=1), 1e-5, F32_TOL)

    def test_values_float64(self):
        self.check_values(*ln_inputs((3, 6), seed=4, dtype=torch.float64), 1e-5, F64_TOL)

    def test_default_eps(self):
        x, weight, bias = ln_inputs((4, 6), seed=7, scale=0.01)
        out, where = self.apply(x, weight, bias)
        want = ln_oracle(x.double(), weight.double(), bias.double()).float()
        check_close(out, want, where + " (eps left out: 1e-5)", **F32_TOL)

    def test_small_variance_and_eps(self):
        # std ≈ 0.02 with eps = 1e-3: where eps goes, and C vs C − 1, both show
        self.check_values(*ln_inputs((4, 5), seed=10, scale=0.02, shift=0.0), 1e-3, F32_TOL)

    def test_gradients_float64(self):
        self.check_gradients(*ln_inputs((2, 3, 6), seed=13, dtype=torch.float64), 1e-5, F64_TOL)

    def test_gradients_float32(self):
        self.check_gradients(*ln_inputs((5, 8), seed=16), 1e-5, F32_TOL)

    def test_any_number_of_leading_dims(self):
        # one row alone, and two leading dims: weight's and bias's gradients gather every row
        for shape, seed in (((6,), 19), ((2, 2, 3, 4), 22)):
            self.check_gradients(*ln_inputs(shape, seed=seed, dtype=torch.float64), 1e-5, F64_TOL)

    def test_gradcheck(self):
        x, weight, bias = ln_inputs((2, 3, 4), seed=25, dtype=torch.float64)
        inputs = tuple(t.requires_grad_() for t in (x, weight, bias))
        check_is_function(functions.LayerNormFunction, kata_call.name)
        gradcheck(
            lambda x, weight, bias: functions.LayerNormFunction.apply(x, weight, bias, 1e-5),
            inputs,
            kata_call.then(".apply")(*inputs, 1e-5),
        )

    def test_saves_for_backward(self):
        x, weight, bias = (t.requires_grad_() for t in ln_inputs((2, 4), seed=28))
        check_is_function(functions.LayerNormFunction, kata_call.name)
        check_saved(
            lambda: functions.LayerNormFunction.apply(x, weight, bias, 1e-5),
            kata_call.then(".apply")(x, weight, bias, 1e-5),
        )

    def test_backward_called_directly(self):
        x, weight, bias = ln_inputs((3, 5), seed=31, dtype=torch.float64)
        inputs = {"x": x, "weight": weight, "bias": bias}
        for t in inputs.values():
            t.requires_grad_()
        g = seeded(3, 5, seed=34, dtype=torch.float64)
        out, where = self.apply(x, weight, bias, 1e-5)
        got = backward_directly(out, g, inputs | {"eps": 1e-5}, where)
        want = torch_gradients(ln_oracle, inputs, g)
        for name, grad in zip(inputs, got, strict=False):
            check_close(grad, want[name], f"{where} → backward(ctx, grad): {name}", **F64_TOL)


# --- SoftmaxCrossEntropy ----------------------------------------------------------------------


def ce_slips(logits: Tensor, targets: Tensor, g: float) -> list[tuple[str, Tensor]]:
    logits = logits.detach().double()
    N, C = logits.shape
    p = torch.softmax(logits, dim=1)
    one_hot = F.one_hot(targets, C).double()
    return [
        ("the gradient not divided by N: the loss is the mean over the rows", g * (p - one_hot)),
        (
            "the upstream gradient not multiplied in: backward returns the gradient of the "
            "loss itself, right only when the gradient coming in is 1",
            (p - one_hot) / N,
        ),
        (
            "the one-hot of the targets not subtracted: the gradient of the log-sum-exp "
            "alone, without the term of the picked logit",
            g * p / N,
        ),
    ]


@kata("SoftmaxCrossEntropy")
class TestSoftmaxCrossEntropy:
    def apply(self, logits, targets):
        where = kata_call.then(".apply")(logits, targets)
        check_is_function(functions.SoftmaxCrossEntropy, kata_call.name)
        snap = Snapshot(logits=logits, targets=targets)
        out = functions.SoftmaxCrossEntropy.apply(logits, targets)
        snap.check(where)
        return out, where

    def check_values(self, logits, targets, tol):
        out, where = self.apply(logits, targets)
        want = F.cross_entropy(logits.double(), targets).to(logits.dtype)
        check_tensor(out, where, shape=(), dtype=logits.dtype)
        if not torch.isfinite(out):
            fail(
                where,
                f"the loss is {out.item()}, expected {want.item():.6g}",
                "exp of the raw logits: it overflows to inf at large logits; shift each row "
                "by its largest logit first",
            )
        check_close(out, want, where, **tol)

    def check_gradient(self, logits, targets, g: float, tol):
        logits.requires_grad_()
        snap = Snapshot(logits=logits, targets=targets)
        out, where = self.apply(logits, targets)
        upstream = torch.tensor(g, dtype=logits.dtype)
        got = gradients(out, {"logits": logits, "targets": targets}, upstream, where)["logits"]
        snap.check(where)
        want = torch_gradients(
            lambda logits: F.cross_entropy(logits.double(), targets),
            {"logits": logits},
            upstream.double(),
        )["logits"]
        check_close(
            got, want.to(logits.dtype), f"{where} → backward with upstream gradient {g}: "
            "logits' gradient", **tol, mistake=likely_mistake(got, ce_slips(logits, targets, g)),
        )  # fmt: skip

    def test_values_float32(self):
        self.check_values(seeded(5, 7, seed=1, scale=3.0), torch.tensor([0, 6, 3, 3, 1]), F32_TOL)

    def test_values_float64(self):
        logits = seeded(4, 3, seed=2, scale=2.0, dtype=torch.float64)
        self.check_values(logits, torch.tensor([2, 0, 1, 2]), F64_TOL)

    def test_one_row(self):
        self.check_values(seeded(1, 4, seed=3), torch.tensor([2]), F32_TOL)

    def test_gradient_float64(self):
        logits = seeded(4, 6, seed=4, scale=2.0, dtype=torch.float64)
        self.check_gradient(logits, torch.tensor([5, 0, 2, 2]), 2.5, F64_TOL)

    def test_gradient_float32(self):
        logits, targets = seeded(6, 5, seed=5, scale=2.0), torch.tensor([0, 1, 2, 3, 4, 0])
        self.check_gradient(logits, targets, 1.0, F32_TOL)

    def test_gradcheck(self):
        logits = seeded(3, 4, seed=6, dtype=torch.float64).requires_grad_()
        targets = torch.tensor([3, 0, 1])
        check_is_function(functions.SoftmaxCrossEntropy, kata_call.name)
        gradcheck(
            lambda logits: functions.SoftmaxCrossEntropy.apply(logits, targets),
            (logits,),
            kata_call.then(".apply")(logits, targets),
        )

    def test_large_logits(self):
        # e^1000 overflows in float32 and float64: a row shifted by its largest logit does
        # not. The loss is ~1000 here, and a correct float32 route (a shifted logsumexp)
        # lands within ~1.3e-5 of it: inside rtol 1e-5
        for dtype in (torch.float32, torch.float64):
            logits = torch.tensor(
                [[1000.0, -1000.0, 0.0], [-1000.0, -1000.0, 1000.0], [1000.0, 1000.0, -1000.0]],
                dtype=dtype,
            )
            targets = torch.tensor([1, 2, 0])
            tol = F32_TOL if dtype == torch.float32 else F64_TOL
            self.check_values(logits, targets, tol)
            self.check_gradient(logits.clone(), targets, 1.0, tol)

    def test_saves_for_backward(self):
        logits, targets = seeded(3, 4, seed=7).requires_grad_(), torch.tensor([1, 0, 3])
        check_is_function(functions.SoftmaxCrossEntropy, kata_call.name)
        check_saved(
            lambda: functions.SoftmaxCrossEntropy.apply(logits, targets),
            kata_call.then(".apply")(logits, targets),
        )

    def test_backward_called_directly(self):
        logits = seeded(4, 5, seed=8, dtype=torch.float64).requires_grad_()
        targets = torch.tensor([4, 4, 0, 2])
        out, where = self.apply(logits, targets)
        upstream = torch.tensor(1.5, dtype=torch.float64)
        got = backward_directly(out, upstream, {"logits": logits, "targets": targets}, where)
        want = torch_gradients(
            lambda logits: F.cross_entropy(logits, targets), {"logits": logits}, upstream
        )
        check_close(got[0], want["logits"], where + " → backward(ctx, grad): logits", **F64_TOL)
