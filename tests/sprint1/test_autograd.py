"""Grades sprint1.autograd against closed-form maths and float64 oracles."""

import math

import torch
from torch import Tensor

from grader import kata, target_module
from grader.checks import (
    Snapshot,
    check_close,
    check_tensor,
    check_tuple,
    describe,
    fail,
    likely_mistake,
)
from tests.kata_helpers import F32_TOL, kata_call, seeded_generator

autograd = target_module("sprint1.autograd")


class Fn:
    """A test function that shows as its formula in failure messages."""

    def __init__(self, text, fn):
        self.text, self.fn = text, fn

    def __call__(self, t):
        return self.fn(t)

    def __repr__(self):
        return self.text


# --- derivative -----------------------------------------------------------------------

# float32 inside the kata is allowed: its rounding is ~1e-7 relative, 100x inside rtol.
# A forward difference with h = 1e-3 is off by h·f''/2, 50x outside it.
D_RTOL, D_ATOL = 1e-5, 1e-6

DERIVATIVE_CASES = [  # f, x, df/dx in closed form; f'' is far from 0 at most points
    (Fn("f(t) = sin(t)", torch.sin), 0.0, 1.0),
    (Fn("f(t) = t**3", lambda t: t**3), 2.0, 12.0),
    (
        Fn("f(t) = exp(sin(t))", lambda t: t.sin().exp()),
        0.7,
        math.cos(0.7) * math.exp(math.sin(0.7)),
    ),
    (Fn("f(t) = log(1 + t**2)", lambda t: torch.log(1 + t * t)), -1.5, 2 * -1.5 / (1 + 1.5**2)),
    (Fn("f(t) = tanh(3t)", lambda t: torch.tanh(3 * t)), 0.2, 3 * (1 - math.tanh(0.6) ** 2)),
    (Fn("f(t) = 1 / t", lambda t: 1 / t), 0.5, -4.0),
]


def _as_float(out, where: str) -> float:
    if isinstance(out, Tensor):
        fail(
            where,
            f"returned a Tensor ({describe(out)}), expected a Python float",
            "the gradient tensor itself was returned, not the Python number it holds (item())",
        )
    if not isinstance(out, float):
        fail(where, f"returned {type(out).__name__} {out!r}, expected a Python float")
    return out


@kata("derivative")
class TestDerivative:
    def test_closed_form(self):
        for f, x, want in DERIVATIVE_CASES:
            where = kata_call(f, x)
            got = _as_float(autograd.derivative(f, x), where)
            if not abs(got - want) <= D_ATOL + D_RTOL * abs(want):
                rel = abs(got - want) / abs(want)
                mistake = ""
                if 1e-5 < rel < 0.05:
                    mistake = (
                        "a finite-difference estimate (f(x+h) − f(x))/h, which is off by "
                        "about h·f''(x)/2; let autograd differentiate f exactly"
                    )
                fail(
                    where,
                    f"got {got!r}, expected {want!r} (relative error {rel:.2g}, "
                    f"tolerance {D_RTOL:g})",
                    mistake,
                )

    def test_returns_python_float(self):
        f = Fn("f(t) = t**2", lambda t: t**2)
        where = kata_call(f, 3.0)
        got = _as_float(autograd.derivative(f, 3.0), where)
        if abs(got - 6.0) > 1e-5:
            fail(where, f"got {got!r}, expected 6.0")

    def test_sees_what_autograd_sees(self):
        f = Fn("f(t) = t * t.detach()", lambda t: t * t.detach())
        where = kata_call(f, 3.0)
        got = _as_float(autograd.derivative(f, 3.0), where)
        if abs(got - 3.0) > 1e-5:
            mistake = ""
            if abs(got - 6.0) < 1e-3:
                mistake = (
                    "finite differences measure the slope of f's values (6.0, as for "
                    "t**2), but autograd treats t.detach() as a constant: ask autograd"
                )
            fail(
                where,
                f"got {got!r}, expected 3.0 (t.detach() is a constant to autograd, "
                "so df/dt = t.detach() = 3.0)",
                mistake,
            )


# --- gradient -------------------------------------------------------------------------


def _gradient_cases():
    c = torch.randn(2, 3, generator=seeded_generator(1))
    x1 = torch.randn(2, 3, generator=seeded_generator(2))
    x2 = torch.randn(5, generator=seeded_generator(3), dtype=torch.float64)
    x3 = torch.tensor(0.4)
    return [
        (Fn("f(x) = sum(x**2) + sum(c·x)", lambda x: (x**2).sum() + (c * x).sum()), x1, 2 * x1 + c),
        (Fn("f(x) = logsumexp(x)", lambda x: torch.logsumexp(x, 0)), x2, torch.softmax(x2, 0)),
        (Fn("f(x) = x·exp(x)", lambda x: x * x.exp()), x3, x3.exp() * (1 + x3)),
    ]


QUAD = Fn("f(x) = sum(x**2) + sum(x[0] * x[1])", lambda x: (x**2).sum() + (x[0] * x[1]).sum())


def _quad_grad(x: Tensor) -> Tensor:
    """The gradient of QUAD for x of shape (2, K): 2x + [x[1]; x[0]]."""
    return 2 * x + x.flip(0)


@kata("gradient")
class TestGradient:
    def test_closed_form(self):
        for f, x, want in _gradient_cases():
            where = kata_call(f, x=x)
            check_close(autograd.gradient(f, x), want, where)

    def test_caller_tensor_requiring_grad_is_left_alone(self):
        x = torch.randn(2, 3, generator=seeded_generator(4)).requires_grad_(True)
        x.grad = torch.full((2, 3), 7.0)  # an old gradient from the caller's own work
        snap = Snapshot(x=x)
        where = kata_call(QUAD, x=x) + " with x.grad already set"
        got = autograd.gradient(QUAD, x)
        snap.check(where)
        want = _quad_grad(x.detach())
        old_grad_leaked = (
            "the answer includes x's old .grad: backward() adds to .grad, it does not "
            "overwrite it; differentiate a fresh copy"
        )
        mistake = likely_mistake(got, [(old_grad_leaked, want + 7.0)], 1e-5, 1e-5)
        check_close(got, want, where, mistake=mistake)
        if got.requires_grad:
            fail(
                where,
                "the result requires grad; it should be a plain tensor",
                "the gradient was computed with create_graph=True, or is still attached to a graph",
            )

    def test_caller_tensor_without_grad_is_left_alone(self):
        x = torch.randn(2, 4, generator=seeded_generator(5), dtype=torch.float64)
        snap = Snapshot(x=x)
        where = kata_call(QUAD, x=x)
        got = autograd.gradient(QUAD, x)
        snap.check(where)
        check_close(got, _quad_grad(x), where)

    def test_two_calls_give_the_same_answer(self):
        x = torch.randn(2, 2, generator=seeded_generator(6)).requires_grad_(True)
        where = kata_call(QUAD, x=x) + ", called twice"
        first = autograd.gradient(QUAD, x)
        second = autograd.gradient(QUAD, x)
        check_close(first, _quad_grad(x.detach()), where)
        check_close(
            second,
            _quad_grad(x.detach()),
            where,
            mistake="the second call added to a .grad the first call left behind",
        )


# --- minimize -------------------------------------------------------------------------


def _bowl(c: Tensor) -> Fn:
    return Fn("f(x) = sum((x - c)**2)", lambda x: ((x - c) ** 2).sum())


def _bowl_after(x0: Tensor, c: Tensor, lr: float, steps: int) -> Tensor:
    """Gradient descent on sum((x − c)²) in closed form: x_k = c + (1 − 2·lr)^k (x0 − c)."""
    return c + (1 - 2 * lr) ** steps * (x0 - c)


def _bowl_accumulating(x0: Tensor, c: Tensor, lr: float, steps: int) -> Tensor:
    x, acc = x0.clone(), torch.zeros_like(x0)
    for _ in range(steps):
        acc += 2 * (x - c)
        x = x - lr * acc
    return x


QUARTIC = Fn(
    "f(x) = sum(x**4) / 4 + sum(x[0] * x[1])", lambda x: (x**4).sum() / 4 + (x[0] * x[1]).sum()
)


def _quartic_descent(x0: Tensor, lr: float, steps: int) -> Tensor:
    """Gradient descent on QUARTIC in float64 with its gradient by hand: x³ + [x[1]; x[0]]."""
    x = x0.double().clone()
    for _ in range(steps):
        x = x - lr * (x**3 + x.flip(0))
    return x


@kata("minimize")
class TestMinimize:
    def test_bowl_closed_form(self):
        x0 = torch.tensor([3.0, -1.0, 0.5], dtype=torch.float64)
        c = torch.tensor([1.0, 2.0, -2.0], dtype=torch.float64)
        lr, steps = 0.1, 5
        f = _bowl(c)
        where = kata_call(f, x0=x0, lr=lr, steps=steps)
        snap = Snapshot(x0=x0)
        got = autograd.minimize(f, x0, lr, steps)
        snap.check(where)
        slips = [
            (f"one step too few: ran {steps - 1} steps", _bowl_after(x0, c, lr, steps - 1)),
            (f"one step too many: ran {steps + 1} steps", _bowl_after(x0, c, lr, steps + 1)),
            ("x + lr·grad climbs uphill; descent is x − lr·grad", _bowl_after(x0, c, -lr, steps)),
            (
                "x.grad was never cleared, so each step used the sum of all gradients so far",
                _bowl_accumulating(x0, c, lr, steps),
            ),
        ]
        want = _bowl_after(x0, c, lr, steps)
        mistake = likely_mistake(got, slips, 1e-8, 1e-8)
        check_close(got, want, where, rtol=1e-10, atol=1e-10, mistake=mistake)

    def test_float32_matrix_against_float64_descent(self):
        x0 = torch.tensor([[0.8, -0.6, 1.1], [0.3, 0.9, -1.2]])
        lr, steps = 0.05, 10
        where = kata_call(QUARTIC, x0=x0, lr=lr, steps=steps)
        snap = Snapshot(x0=x0)
        got = autograd.minimize(QUARTIC, x0, lr, steps)
        snap.check(where)
        # float32 steps against a float64 run: ~1e-7 rounding a step, 10 steps, x ≈ 1
        check_close(got, _quartic_descent(x0, lr, steps).float(), where, rtol=1e-5, atol=1e-5)

    def test_steps_zero(self):
        x0 = torch.tensor([1.5, -2.0]).requires_grad_(True)
        f = _bowl(torch.zeros(2))
        where = kata_call(f, x0=x0, lr=0.1, steps=0)
        snap = Snapshot(x0=x0)
        got = autograd.minimize(f, x0, 0.1, 0)
        snap.check(where)
        check_close(got, x0.detach(), where)
        if got.requires_grad:
            fail(
                where,
                "the result requires grad",
                "the tensor handed back is still the one autograd tracks (x itself, with "
                "requires_grad on)",
            )

    def test_x0_requiring_grad_is_left_alone(self):
        x0 = torch.tensor([2.0, -1.0, 0.25]).requires_grad_(True)
        x0.grad = torch.full((3,), 5.0)
        c = torch.tensor([0.5, 0.5, 0.5])
        f = _bowl(c)
        where = kata_call(f, x0=x0, lr=0.2, steps=4)
        where += " with x0.grad already set"
        snap = Snapshot(x0=x0)
        got = autograd.minimize(f, x0, 0.2, 4)
        snap.check(where)
        check_tensor(got, where, shape=(3,), dtype=torch.float32)
        if got.requires_grad:
            fail(
                where,
                "the result requires grad; gradient descent's answer is a plain tensor",
                "the tensor handed back is still the one autograd tracks (x itself, with "
                "requires_grad on)",
            )
        check_close(
            got,
            _bowl_after(x0.detach().double(), c.double(), 0.2, 4).float(),
            where,
            rtol=1e-5,
            atol=1e-6,
        )

    def test_x0_without_grad_is_left_alone(self):
        x0 = torch.tensor([[1.0, -3.0], [0.5, 2.0]], dtype=torch.float64)
        c = torch.tensor([[0.0, 1.0], [2.0, -1.0]], dtype=torch.float64)
        f = _bowl(c)
        where = kata_call(f, x0=x0, lr=0.1, steps=3)
        snap = Snapshot(x0=x0)
        got = autograd.minimize(f, x0, 0.1, 3)
        snap.check(where)
        check_close(got, _bowl_after(x0, c, 0.1, 3), where, rtol=1e-10, atol=1e-10)


# --- mse_grads and mse_grads_by_hand ----------------------------------------------------


def _data(N: int, D: int, seed: int, dtype=torch.float32):
    g = seeded_generator(seed)
    x = torch.randn(N, D, generator=g, dtype=dtype)
    y = torch.randn(N, generator=g, dtype=dtype)
    w = torch.randn(D, generator=g, dtype=dtype)
    b = torch.randn((), generator=g, dtype=dtype)
    return x, y, w, b


def _mse_closed_form(x, y, w, b):
    """dL/dw = (2/N)·xᵀr, dL/db = (2/N)·Σr with r = x @ w + b − y, in float64."""
    x, y, w, b = (t.detach().double() for t in (x, y, w, b))
    N = x.shape[0]
    r = x @ w + b - y
    return (2 / N) * (x.T @ r), (2 / N) * r.sum()


def _mse_autograd64(x, y, w, b):
    """torch's own autograd on the loss, in float64: a second, independent oracle."""
    w64 = w.detach().double().requires_grad_(True)
    b64 = b.detach().double().requires_grad_(True)
    with torch.enable_grad():
        loss = ((x.detach().double() @ w64 + b64 - y.detach().double()) ** 2).mean()
        return torch.autograd.grad(loss, (w64, b64))


def _mse_mistakes(x, y, w, b):
    """(description, dw, db) for the usual slips, in float64."""
    x, y, w, b = (t.detach().double() for t in (x, y, w, b))
    N, D = x.shape
    r = x @ w + b - y
    r0 = x @ w - y
    found = [
        ("the sum of squares instead of the mean: N times too big", 2 * x.T @ r, 2 * r.sum()),
        ("the factor 2 from d(r²)/dr = 2r is missing", x.T @ r / N, r.sum() / N),
        (
            "divided by D (the features) instead of N (the examples)",
            2 / D * x.T @ r,
            2 / D * r.sum(),
        ),
        (
            "the bias b is missing from the prediction: r must be x @ w + b − y",
            2 / N * x.T @ r0,
            2 / N * r0.sum(),
        ),
        ("the sign is flipped: r is pred − y, not y − pred", -2 / N * x.T @ r, -2 / N * r.sum()),
    ]
    if N > 1:
        found.append(
            ("divided by N − 1 instead of N", 2 / (N - 1) * x.T @ r, 2 / (N - 1) * r.sum())
        )
    return found


def _check_mse(got, x, y, w, b, where, rtol, atol):
    check_tuple(got, "dL/dw, dL/db", where)
    dw, db = got
    want_dw, want_db = _mse_closed_form(x, y, w, b)
    check_tensor(dw, where + " → dL/dw", shape=w.shape, dtype=w.dtype)
    shape_hint = "keep b's shape: sum over the examples without keepdim, and don't reshape b"
    if isinstance(db, Tensor) and db.shape != b.shape:
        fail(
            where + " → dL/db",
            f"expected shape {tuple(b.shape)} (like b), got {tuple(db.shape)}",
            shape_hint,
        )
    check_tensor(db, where + " → dL/db", shape=b.shape, dtype=b.dtype)
    mistakes = _mse_mistakes(x, y, w, b)
    for name, got_t, want_t, index in (("dL/dw", dw, want_dw, 1), ("dL/db", db, want_db, 2)):
        candidates = [(m[0], m[index]) for m in mistakes]
        check_close(
            got_t,
            want_t.to(w.dtype),
            f"{where} → {name}",
            rtol=rtol,
            atol=atol,
            mistake=likely_mistake(got_t, candidates, 1e-4, 1e-6),
        )


# float32 inputs (F32_TOL) with N, D ≤ 8 and entries ~1: a few dozen roundings of ~6e-8
# each. float64 against the closed form, or torch's autograd in float64: correct routes
# agree to ~1e-15; the slips are off by far more.
F64_TOL = {"rtol": 1e-10, "atol": 1e-12}


def _mse_where(x, y, w, b, extra=""):
    return kata_call(x=x, y=y, w=w, b=b) + extra


@kata("mse_grads")
class TestMseGrads:
    def test_float32(self):
        x, y, w, b = _data(6, 3, 10)
        where = _mse_where(x, y, w, b)
        snap = Snapshot(x=x, y=y, w=w, b=b)
        got = autograd.mse_grads(x, y, w, b)
        snap.check(where)
        _check_mse(got, x, y, w, b, where, **F32_TOL)

    def test_float64(self):
        x, y, w, b = _data(5, 8, 11, torch.float64)
        where = _mse_where(x, y, w, b)
        snap = Snapshot(x=x, y=y, w=w, b=b)
        got = autograd.mse_grads(x, y, w, b)
        snap.check(where)
        _check_mse(got, x, y, w, b, where, **F64_TOL)

    def test_caller_tensors_requiring_grad_are_left_alone(self):
        x, y, w, b = _data(7, 2, 12)
        w.requires_grad_(True)
        b.requires_grad_(True)
        w.grad, b.grad = torch.ones(2), torch.tensor(3.0)
        snap = Snapshot(x=x, y=y, w=w, b=b)
        where = _mse_where(x, y, w, b, " with w.grad and b.grad already set")
        got = autograd.mse_grads(x, y, w, b)
        snap.check(where)
        _check_mse(got, x, y, w, b, where, **F32_TOL)

    def test_caller_tensors_without_grad_are_left_alone(self):
        x, y, w, b = _data(4, 3, 13)
        snap = Snapshot(x=x, y=y, w=w, b=b)
        where = _mse_where(x, y, w, b)
        got = autograd.mse_grads(x, y, w, b)
        snap.check(where)
        _check_mse(got, x, y, w, b, where, **F32_TOL)


@kata("mse_grads_by_hand")
class TestMseGradsByHand:
    def test_against_torch_autograd(self):
        x, y, w, b = _data(6, 3, 20, torch.float64)
        where = _mse_where(x, y, w, b)
        snap = Snapshot(x=x, y=y, w=w, b=b)
        got = autograd.mse_grads_by_hand(x, y, w, b)
        snap.check(where)
        _check_mse(got, x, y, w, b, where, **F64_TOL)
        for name, got_t, want_t in zip(("dL/dw", "dL/db"), got, _mse_autograd64(x, y, w, b)):
            check_close(got_t, want_t, f"{where} → {name} (against torch autograd)", **F64_TOL)

    def test_float32(self):
        x, y, w, b = _data(8, 5, 21)
        where = _mse_where(x, y, w, b)
        snap = Snapshot(x=x, y=y, w=w, b=b)
        got = autograd.mse_grads_by_hand(x, y, w, b)
        snap.check(where)
        _check_mse(got, x, y, w, b, where, **F32_TOL)

    def test_under_no_grad(self):
        x, y, w, b = _data(5, 2, 22)
        w.requires_grad_(True)
        b.requires_grad_(True)
        snap = Snapshot(x=x, y=y, w=w, b=b)
        where = _mse_where(x, y, w, b, " under torch.no_grad()")
        with torch.no_grad():
            try:
                got = autograd.mse_grads_by_hand(x, y, w, b)
            except NotImplementedError:
                raise
            except RuntimeError as exc:
                if "grad" not in str(exc):  # not autograd's complaint: report it as it is
                    raise
                fail(
                    where,
                    f"raised RuntimeError: {exc}",
                    "autograd (backward or torch.autograd.grad) has no graph under no_grad(); "
                    "compute the gradients from the formula with plain tensor ops",
                )
        snap.check(where)
        _check_mse(got, x, y, w, b, where, **F32_TOL)

    def test_tensors_without_requires_grad(self):
        x, y, w, b = _data(3, 4, 23)
        snap = Snapshot(x=x, y=y, w=w, b=b)
        where = _mse_where(x, y, w, b)
        got = autograd.mse_grads_by_hand(x, y, w, b)
        snap.check(where)
        _check_mse(got, x, y, w, b, where, **F32_TOL)

    def test_one_example(self):
        x, y, w, b = _data(1, 4, 24, torch.float64)
        where = _mse_where(x, y, w, b)
        snap = Snapshot(x=x, y=y, w=w, b=b)
        got = autograd.mse_grads_by_hand(x, y, w, b)
        snap.check(where)
        _check_mse(got, x, y, w, b, where, **F64_TOL)
