"""Grades sprint3.functional against torch's own functions, computed in float64.

Every kata here is "from scratch": its `forbid` list in tests/sprint3/katas.toml names
the torch functions it may not call, the one of the same name and the others of its
family (softmax, sigmoid, tanh, logsumexp, ... each gives the others by arithmetic), and
its docstring names the same list. The grader raises when the code under test reaches
one of them, by any route; the tests' own oracle calls are fine. Each kata is checked
on moderate inputs, on inputs up to ±1000 where a naive exp overflows, in float64, for
its gradient, and for leaving its input unchanged.
"""

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from grader import kata, target_module
from grader.checks import (
    Snapshot,
    check_close,
    check_tensor,
    fail,
    likely_mistake,
)
from tests.kata_helpers import kata_call, seeded

functional = target_module("sprint3.functional")
EPS32 = torch.finfo(torch.float32).eps  # 1.19e-7: float32's relative spacing

# Bounded outputs (sigmoid, tanh, softmax) near 0 are compared absolutely: float32 routes
# that are right lose up to ~1e-7 there (1 − e^u, say), 10x inside ATOL.
RTOL, ATOL = 1e-5, 1e-6
# Gradients are compared in float64, where every correct route agrees to ~1e-15.
GRAD_TOL = {"rtol": 1e-7, "atol": 1e-9}

# Inputs where the naive formulas break: e^x overflows float32 above x ≈ 88.7 and
# underflows to 0 below x ≈ −103; ±1000 is the syllabus's bound.
EXTREMES = [-1000.0, -100.0, -95.0, -89.0, -88.5, -88.0, -20.0, -3.0, -1e-3, 0.0]
EXTREMES += [1e-3, 0.5, 3.0, 20.0, 88.0, 88.5, 89.0, 95.0, 100.0, 1000.0]


def extremes(dtype=torch.float32) -> Tensor:
    return torch.tensor(EXTREMES, dtype=dtype)


def _max_abs(x: Tensor) -> float:
    return x.detach().abs().max().item() if x.numel() else 0.0


def log_tol(x: Tensor) -> dict:
    """For log-domain outputs (log_softmax, cross_entropy) of float32 inputs up to |x|.

    float32 stores a number near M only to within M·EPS32/2, and x − c with c ≈ max(x)
    spans up to 2M: any correct route carries an absolute error of order M·EPS32 (torch's
    own float32 log_softmax is 1.1e-4 from float64 at |x| = 1000; x − logsumexp(x) is 1.3e-5 off
    there). So 4·M·EPS32 absolute on top of 1e-5 relative: 4.8e-4 at
    |x| = 1000, ~2e-6 at |x| ≈ 3. −inf, NaN and a wrong formula miss by far more.
    """
    return {"rtol": RTOL, "atol": ATOL + 4 * _max_abs(x) * EPS32}


def prob_tol(x: Tensor) -> dict:
    """For probabilities (softmax) of float32 inputs up to |x|: exp(x − c) turns the
    absolute error of x − c (above) into a relative one, so rtol grows by 2·M·EPS32
    (2.4e-4 at |x| = 1000; exp(x − logsumexp(x)) measured 2.9e-5 there)."""
    return {"rtol": RTOL + 2 * _max_abs(x) * EPS32, "atol": ATOL}


def check_finite(got, x: Tensor, where: str, mistake: str = "") -> None:
    """got is a tensor shaped like x with no NaN or inf; the message names the input."""
    check_tensor(got, where, shape=tuple(x.shape))
    bad = ~torch.isfinite(got.detach())
    if bad.any():
        index = bad.nonzero()[0].tolist()
        at = "[" + ", ".join(map(str, index)) + "]"
        fail(
            where,
            f"the output at {at} is {got.detach()[tuple(index)].item()} where x{at} is "
            f"{x[tuple(index)].item():g}; expected a finite number "
            f"({int(bad.sum())} of {bad.numel()} entries are not finite)",
            mistake,
        )


def check_graph(got, where: str) -> None:
    check_tensor(got, where)
    if not got.requires_grad:
        fail(
            where,
            "the output does not require grad for an input that does, so backward() cannot "
            "reach the input",
            "the graph was cut: .detach(), .data, .item()/.tolist(), torch.tensor(...) or "
            "torch.no_grad() inside the function; use tensor operations only",
        )


def grad_of(fn, x: Tensor, r: Tensor) -> Tensor:
    """d(Σ fn(x)·r)/dx by autograd, for a float64 copy of x."""
    leaf = x.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad((fn(leaf) * r).sum(), leaf)
    return grad


def call(fn, where: str):
    """fn(), with the RuntimeErrors that usual slips raise turned into teaching failures."""
    try:
        return fn()
    except NotImplementedError:
        raise
    except RuntimeError as exc:
        text = str(exc)
        if "in-place" in text:
            mistake = (
                "an in-place op (clamp_, masked_fill_, x[...] = ..., -=) on the input: "
                "autograd refuses it on a tensor that requires grad, and it changes the "
                "caller's tensor; use out-of-place ops"
            )
        elif "must match the size" in text:
            mistake = (
                "a max or sum along dim without keepdim=True has one dim fewer and "
                "broadcasts against the wrong dims; reduce with keepdim=True"
            )
        else:
            raise
        fail(where, f"raised RuntimeError: {text.splitlines()[0]}", mistake)


def check_grad(
    kata_fn, ref_fn, x: Tensor, where: str, zero_hint: str = "", nan_hint: str = "", of: str = "x"
) -> None:
    """kata_fn's gradient at x (float64) equals ref_fn's, for the loss Σ out·r.

    zero_hint is the common cause given when the gradients differ only where x is 0,
    nan_hint the one given when the gradient is NaN or inf where torch's is a number.
    """
    leaf = x.detach().clone().requires_grad_(True)
    out = call(lambda: kata_fn(leaf), where)
    check_graph(out, where)
    r = seeded(*out.shape, dtype=out.dtype, seed=99)
    (got,) = torch.autograd.grad((out * r).sum(), leaf)
    want = grad_of(ref_fn, x, r)
    mistake = ""
    if zero_hint and got.shape == want.shape:
        bad = ~torch.isclose(got, want.to(got.dtype), **GRAD_TOL, equal_nan=True)
        if bad.any() and bool((x[bad] == 0).all()):
            mistake = zero_hint
    if nan_hint and got.shape == want.shape and (~got.isfinite() & want.isfinite()).any():
        mistake = nan_hint
    check_close(got, want, f"{where} → {of}.grad", **GRAD_TOL, mistake=mistake)


def check_unchanged(fn, where: str, **tensors: Tensor) -> None:
    snap = Snapshot(**tensors)
    fn()
    snap.check(where)


# --- elementwise activations ------------------------------------------------------------


class _Elementwise:
    """The tests every elementwise activation gets; subclasses name the kata."""

    name: str
    grad_at_zero = True  # relu's slope at 0 is a convention (torch: 0); the others have one
    overflow_hint = ""
    grad_overflow_hint = ""

    @property
    def kwargs(self) -> dict:
        return {}

    def call(self, x):
        return getattr(functional, self.name)(x, **self.kwargs)

    def ref(self, x):
        raise NotImplementedError  # the oracle, set by each subclass

    def where(self, x) -> str:
        return kata_call(x, **self.kwargs)

    def slips(self, x64: Tensor) -> list[tuple[str, Tensor]]:
        return []

    def check_values(self, x: Tensor, extra: str = "") -> None:
        where = self.where(x) + extra
        x64 = x.double()
        want = self.ref(x64).to(x.dtype)  # before the call: the oracle sees the input as given
        slips = [(t, w.to(x.dtype)) for t, w in self.slips(x64)]
        snap = Snapshot(x=x)
        got = call(lambda: self.call(x), where)
        snap.check(where)
        check_close(got, want, where, rtol=RTOL, atol=ATOL, mistake=likely_mistake(got, slips))

    def test_values(self):
        self.check_values(seeded(4, 7, scale=3.0))

    def test_finite_and_right_up_to_1000(self):
        x = extremes()
        where = self.where(x) + f" with x = {EXTREMES}"
        got = self.call(x)
        check_finite(got, x, where, self.overflow_hint)
        self.check_values(x, f" with x = {EXTREMES}")

    def test_float64_stays_float64(self):
        x = seeded(3, 5, scale=4.0, dtype=torch.float64, seed=1)
        where = self.where(x)
        got = self.call(x)
        check_tensor(got, where, shape=(3, 5))
        if got.dtype != torch.float64:
            fail(
                where,
                f"a float64 input gave a {got.dtype} output",
                "build the result from x with tensor ops (torch.where, clamp, exp, ...): "
                "torch.tensor(...) of Python numbers, or .float(), makes float32",
            )
        check_close(got, self.ref(x), where, rtol=1e-7, atol=1e-10)

    @pytest.mark.parametrize("shape", [(), (2, 3, 4)])
    def test_any_shape(self, shape):
        x = seeded(*shape, scale=2.0, seed=2)
        where = self.where(x)
        got = self.call(x)
        check_tensor(got, where, shape=shape, dtype=torch.float32)
        check_close(got, self.ref(x.double()).float(), where, rtol=RTOL, atol=ATOL)

    def test_gradient(self):
        x = seeded(3, 6, scale=3.0, dtype=torch.float64, seed=3)
        at = ""
        if self.grad_at_zero:
            x[0, 0] = 0.0
            at = " (x[0, 0] = 0)"
        check_grad(
            self.call,
            self.ref,
            x,
            self.where(x) + at,
            zero_hint=self.zero_slope_hint() if self.grad_at_zero else "",
        )

    def test_gradient_up_to_1000(self):
        # the docstrings promise torch's gradient at every input: a formula whose value
        # survives an overflowing exp (1 / inf = 0) can still have inf / inf in its backward
        x = extremes(torch.float64)
        if not self.grad_at_zero:
            x = x[x != 0]
        where = self.where(x) + f" with x = {x.tolist()}"
        zero_hint = self.zero_slope_hint() if self.grad_at_zero else ""
        check_grad(
            self.call, self.ref, x, where, zero_hint=zero_hint, nan_hint=self.grad_overflow_hint
        )

    def zero_slope_hint(self) -> str:
        return (
            "the gradient at x = 0 is wrong: abs(x) and sign(x) have slope 0 at 0, so a "
            "formula built on them loses the derivative there, where choosing between the "
            "two sides' formulas by the sign of x itself keeps it"
        )

    def test_input_unchanged(self):
        x = seeded(3, 4, scale=3.0, seed=4)
        check_unchanged(lambda: self.call(x), self.where(x), x=x)


@kata("relu")
class TestRelu(_Elementwise):
    name = "relu"
    grad_at_zero = False

    def ref(self, x):
        return torch.relu(x)

    def slips(self, x64):
        return [
            ("min(x, 0): this keeps the negatives", x64.clamp(max=0)),
            ("abs(x): negatives must become 0, not positive", x64.abs()),
        ]


@kata("sigmoid")
class TestSigmoid(_Elementwise):
    name = "sigmoid"
    overflow_hint = (
        "e^x / (1 + e^x) is inf / inf = NaN once e^x overflows (x > 88 in float32): a form "
        "built on e^x is safe only where x is negative, one built on e^(−x) only where x is "
        "positive"
    )
    grad_overflow_hint = (
        "an exp that overflows to inf (beyond |x| ≈ 88 in float32, 709 in float64): even "
        "where the value survives it (1 / (1 + inf) is the right limit 0), the backward pass "
        "divides inf by inf; and through torch.where a branch that is not taken still sends "
        "its gradient times 0, which is NaN for a NaN. Every exp, in every branch, must only "
        "ever see numbers ≤ 0"
    )

    def ref(self, x):
        return torch.sigmoid(x)

    def slips(self, x64):
        return [
            ("1 / (1 + e^x): the sign of the exponent is flipped", torch.sigmoid(-x64)),
            ("tanh(x) instead of the logistic sigmoid", torch.tanh(x64)),
        ]


@kata("tanh")
class TestTanh(_Elementwise):
    name = "tanh"
    overflow_hint = (
        "(e^x − e^(−x)) / (e^x + e^(−x)) is inf / inf = NaN once e^x or e^(−x) overflows "
        "(|x| > 88 in float32): only the exponential of a number ≤ 0 is safe from overflow"
    )
    grad_overflow_hint = (
        "an exp that overflows to inf (e^(2x) beyond x ≈ 44 in float32, 354 in float64): even"
        " where the value survives it (1 − 2 / inf is the right limit 1), the backward pass "
        "divides inf by inf; and through torch.where a branch that is not taken still sends "
        "its gradient times 0, which is NaN for a NaN. Every exp, in every branch, must only "
        "ever see numbers ≤ 0"
    )

    def ref(self, x):
        return torch.tanh(x)

    def slips(self, x64):
        return [
            ("2·σ(x) − 1 is tanh(x/2); tanh(x) = 2·σ(2x) − 1", torch.tanh(x64 / 2)),
            ("the sigmoid instead of tanh", torch.sigmoid(x64)),
        ]


def _gelu_slips(x64: Tensor, approximate: str) -> list[tuple[str, Tensor]]:
    c = (2 / torch.pi) ** 0.5
    slips = [
        (
            "x·σ(1.702x) is the 'quick GELU' approximation, not GELU",
            x64 * torch.sigmoid(1.702 * x64),
        )
    ]
    if approximate == "tanh":
        slips += [
            (
                "the erf form: with approximate='tanh' use the tanh approximation",
                F.gelu(x64),
            ),
            (
                "√(2π) instead of √(2/π) in the tanh approximation",
                0.5 * x64 * (1 + torch.tanh((2 * torch.pi) ** 0.5 * (x64 + 0.044715 * x64**3))),
            ),
            (
                "the cubic term is missing: tanh(√(2/π)·(x + 0.044715·x³))",
                0.5 * x64 * (1 + torch.tanh(c * x64)),
            ),
        ]
    else:
        slips += [
            (
                "the tanh approximation, where approximate='none' asks for erf",
                F.gelu(x64, approximate="tanh"),
            ),
            ("erf(x) instead of erf(x/√2)", 0.5 * x64 * (1 + torch.erf(x64))),
        ]
    return slips


@kata("gelu")
class TestGelu(_Elementwise):
    name = "gelu"
    overflow_hint = "x³ and e^x overflow float32 for large |x|: check what your formula does there"
    grad_overflow_hint = (
        "an exp that overflows to inf (the tanh form's inner term grows as x³): even where "
        "the value survives it, the backward pass divides inf by inf; and through torch.where"
        " a branch that is not taken still sends its gradient times 0, which is NaN for a "
        "NaN. Every exp, in every branch, must only ever see numbers ≤ 0"
    )

    @pytest.fixture(autouse=True, params=["none", "tanh"])
    def _approximate(self, request):
        self.approximate = request.param

    @property
    def kwargs(self) -> dict:
        return {"approximate": self.approximate}

    def ref(self, x):
        return F.gelu(x, approximate=self.approximate)

    def slips(self, x64):
        return _gelu_slips(x64, self.approximate)

    def test_values(self):
        super().test_values()
        if self.approximate == "none":  # and approximate defaults to "none"
            x = seeded(4, 5, scale=2.0, seed=5)
            where = kata_call(x)
            got = functional.gelu(x)
            check_close(
                got,
                F.gelu(x.double()).float(),
                where,
                rtol=RTOL,
                atol=ATOL,
                mistake=likely_mistake(got, _gelu_slips(x.double(), "none"))
                or "approximate must default to 'none'",
            )


# --- softmax and log_softmax -------------------------------------------------------------


SHAPES_DIMS = [((4, 7), -1), ((4, 7), 0), ((5, 5), 1), ((2, 3, 5), 1), ((2, 3, 4), -3), ((6,), 0)]


def big_rows() -> Tensor:
    """Rows up to ±1000: around +1000, around −1000, spread over both, and one at ~±90."""
    return torch.tensor(
        [
            [1000.0, 999.0, 998.5, -3.0, 0.0],
            [-1000.0, -999.0, -1000.0, -998.0, -1000.0],
            [1000.0, -1000.0, 0.0, 500.0, -500.0],
            [89.0, 95.0, -88.5, 100.0, -100.0],
            [0.5, -0.25, 1.0, 2.0, -1.0],
        ]
    )


def _softmax_slips(x64: Tensor, dim: int) -> list[tuple[str, Tensor]]:
    other = 0 if dim not in (0, -x64.dim()) else -1
    slips = (
        [
            (
                f"normalised along dim {other} instead of dim={dim}: sum (and max) along dim",
                torch.softmax(x64, other),
            )
        ]
        if x64.dim() > 1
        else []
    )
    e = torch.exp(x64)
    slips.append(("divided by the sum over the whole tensor, not along dim", e / e.sum()))
    return slips


LARGE_GRAD_HINT = (
    "an exp of a number above 0 somewhere, in a value or in a torch.where branch that is "
    "not taken: e^1000 is inf, and the backward pass turns it into inf / inf or 0 · inf = "
    "NaN even where the value came out right. Shift by the max along dim before every exp"
)


def _sums_to_one(got: Tensor, x: Tensor, dim: int, where: str) -> None:
    sums = got.detach().double().sum(dim=dim)
    bad = (sums - 1).abs() > prob_tol(x)["rtol"]  # each entry's relative error, summed
    if bad.any():
        index = bad.nonzero()[0].tolist()
        fail(
            where,
            f"the slice at {index} (all entries along dim={dim}) sums to "
            f"{sums[tuple(index)].item():.6g}, expected 1",
            "divide by the sum along the same dim, with keepdim=True so that it broadcasts",
        )


@kata("softmax")
class TestSoftmax:
    @pytest.mark.parametrize(("shape", "dim"), SHAPES_DIMS)
    def test_values(self, shape, dim):
        x = seeded(*shape, scale=3.0, seed=10)
        where = kata_call(x, dim=dim)
        got = call(lambda: functional.softmax(x, dim=dim), where)
        x64 = x.double()
        check_close(
            got,
            torch.softmax(x64, dim).float(),
            where,
            **prob_tol(x),
            mistake=likely_mistake(got, _softmax_slips(x64, dim))
            or "a max taken without keepdim=True broadcasts along the wrong dim",
        )
        _sums_to_one(got, x, dim, where)

    def test_default_dim_is_last(self):
        x = seeded(3, 4, scale=2.0, seed=11)
        got = functional.softmax(x)
        check_close(
            got,
            torch.softmax(x.double(), -1).float(),
            kata_call(x),
            **prob_tol(x),
        )

    def test_finite_and_right_up_to_1000(self):
        x = big_rows()
        where = kata_call(x, dim=-1) + f" with rows {x.tolist()}"
        got = functional.softmax(x, dim=-1)
        check_finite(
            got,
            x,
            where,
            "e^1000 is inf in float32 (and e^−1000 is 0, so a row far below 0 gives 0/0): "
            "subtract each row's own max (along dim, keepdim=True) before exp",
        )
        check_close(
            got,
            torch.softmax(x.double(), -1).float(),
            where,
            **prob_tol(x),
            mistake="subtract the max of each slice along dim, not one max over the whole tensor",
        )
        _sums_to_one(got, x, -1, where)

    def test_one_entry_along_dim(self):
        x = seeded(3, 1, scale=5.0, seed=12)
        where = kata_call(x, dim=-1)
        check_close(functional.softmax(x, dim=-1), torch.ones(3, 1), where, **prob_tol(x))

    def test_float64_stays_float64(self):
        x = seeded(3, 5, scale=4.0, dtype=torch.float64, seed=13)
        where = kata_call(x, dim=1)
        check_close(functional.softmax(x, dim=1), torch.softmax(x, 1), where, rtol=1e-7, atol=1e-12)

    @pytest.mark.parametrize("dim", [-1, 0])
    def test_gradient(self, dim):
        x = seeded(3, 4, scale=2.0, dtype=torch.float64, seed=14)
        where = kata_call(x, dim=dim)
        check_grad(
            lambda t: functional.softmax(t, dim=dim), lambda t: torch.softmax(t, dim), x, where
        )

    def test_gradient_up_to_1000(self):
        x = big_rows().double()
        where = kata_call(x, dim=-1) + f" with rows {x.tolist()}"
        check_grad(
            lambda t: functional.softmax(t, dim=-1),
            lambda t: torch.softmax(t, -1),
            x,
            where,
            nan_hint=LARGE_GRAD_HINT,
        )

    def test_input_unchanged(self):
        x = seeded(3, 4, scale=3.0, seed=15)
        check_unchanged(lambda: functional.softmax(x, dim=-1), kata_call(x), x=x)


def _log_softmax_slips(x64: Tensor, dim: int) -> list[tuple[str, Tensor]]:
    m = x64.amax(dim=dim, keepdim=True)
    return [
        (
            "the max was subtracted inside the log-sum-exp but not added back: "
            "log Σ e^x = m + log Σ e^(x − m)",
            x64 - torch.log(torch.exp(x64 - m).sum(dim=dim, keepdim=True)),
        ),
        ("softmax, not its log", torch.softmax(x64, dim)),
        ("x − log Σ e^x along the wrong dim", torch.log_softmax(x64, 0 if dim != 0 else -1))
        if x64.dim() > 1
        else ("x − Σ e^x: the log is missing", x64 - torch.exp(x64).sum(dim, keepdim=True)),
    ]


@kata("log_softmax")
class TestLogSoftmax:
    @pytest.mark.parametrize(("shape", "dim"), SHAPES_DIMS)
    def test_values(self, shape, dim):
        x = seeded(*shape, scale=3.0, seed=20)
        where = kata_call(x, dim=dim)
        got = call(lambda: functional.log_softmax(x, dim=dim), where)
        x64 = x.double()
        check_close(
            got,
            torch.log_softmax(x64, dim).float(),
            where,
            **log_tol(x),
            mistake=likely_mistake(got, _log_softmax_slips(x64, dim))
            or "a max or sum taken without keepdim=True broadcasts along the wrong dim",
        )

    def test_default_dim_is_last(self):
        x = seeded(3, 4, scale=2.0, seed=21)
        check_close(
            functional.log_softmax(x),
            torch.log_softmax(x.double(), -1).float(),
            kata_call(x),
            **log_tol(x),
        )

    def test_finite_and_right_up_to_1000(self):
        x = big_rows()
        where = kata_call(x, dim=-1) + f" with rows {x.tolist()}"
        got = functional.log_softmax(x, dim=-1)
        check_finite(
            got,
            x,
            where,
            "log(softmax(x)) is log(0) = −inf where softmax underflows, and e^1000 is inf: "
            "x must be shifted by its max along dim before any exp, and the result stay in "
            "the log domain",
        )
        check_close(
            got,
            torch.log_softmax(x.double(), -1).float(),
            where,
            **log_tol(x),
            mistake=likely_mistake(got, _log_softmax_slips(x.double(), -1)),
        )

    def test_float64_stays_float64(self):
        x = seeded(3, 5, scale=4.0, dtype=torch.float64, seed=23)
        where = kata_call(x, dim=1)
        check_close(
            functional.log_softmax(x, dim=1), torch.log_softmax(x, 1), where, rtol=1e-7, atol=1e-10
        )

    @pytest.mark.parametrize("dim", [-1, 0])
    def test_gradient(self, dim):
        x = seeded(3, 4, scale=2.0, dtype=torch.float64, seed=24)
        where = kata_call(x, dim=dim)
        check_grad(
            lambda t: functional.log_softmax(t, dim=dim),
            lambda t: torch.log_softmax(t, dim),
            x,
            where,
        )

    def test_gradient_up_to_1000(self):
        x = big_rows().double()
        where = kata_call(x, dim=-1) + f" with rows {x.tolist()}"
        check_grad(
            lambda t: functional.log_softmax(t, dim=-1),
            lambda t: torch.log_softmax(t, -1),
            x,
            where,
            nan_hint=LARGE_GRAD_HINT,
        )

    def test_input_unchanged(self):
        x = seeded(3, 4, scale=3.0, seed=25)
        check_unchanged(lambda: functional.log_softmax(x, dim=-1), kata_call(x), x=x)


# --- cross_entropy -----------------------------------------------------------------------


def _targets(n: int, c: int, seed: int) -> Tensor:
    return torch.randint(0, c, (n,), generator=torch.Generator().manual_seed(seed))


def _ce_where(logits, targets, ignore_index=None, extra="") -> str:
    kwargs = {} if ignore_index is None else {"ignore_index": ignore_index}
    return kata_call(logits, targets, **kwargs) + extra


def _ce_slips(logits: Tensor, targets: Tensor, ignore_index: int) -> list[tuple[str, Tensor]]:
    x64 = logits.double()
    keep = targets != ignore_index
    logp = torch.log_softmax(x64, -1)
    picked = logp.gather(1, targets.where(keep, 0)[:, None])[:, 0].where(keep, 0.0)
    n = targets.shape[0]
    slips = [
        (
            "averaged over all N examples, ignored ones included; the mean is over the "
            "targets that are not ignore_index",
            -picked.sum() / n,
        ),
        ("the sum over the examples, not the mean", -picked.sum()),
        (
            "the rows with a negative target were dropped, whatever ignore_index says: "
            "compare the targets with ignore_index itself",
            F.cross_entropy(x64, targets.where(targets >= 0, -100)),
        ),
        (
            "the mean of the picked logits without the log-sum-exp: that is not a log-likelihood",
            -x64.gather(1, targets.where(keep, 0)[:, None])[:, 0].where(keep, 0.0).sum()
            / keep.sum(),
        ),
    ]
    return slips


def _check_ce(logits, targets, where, ignore_index=-100, tol=None) -> None:
    kwargs = {} if ignore_index == -100 else {"ignore_index": ignore_index}
    want = F.cross_entropy(logits.double(), targets, ignore_index=ignore_index)
    slips = _ce_slips(logits, targets, ignore_index)
    snap = Snapshot(logits=logits, targets=targets)
    got = functional.cross_entropy(logits, targets, **kwargs)
    snap.check(where)
    check_tensor(got, where, shape=(), dtype=logits.dtype)
    check_close(
        got,
        want.to(logits.dtype),
        where,
        **(tol or log_tol(logits)),
        mistake=likely_mistake(got, slips),
    )


@kata("cross_entropy")
class TestCrossEntropy:
    @pytest.mark.parametrize(("n", "c"), [(6, 5), (1, 3), (8, 2), (4, 10)])
    def test_values(self, n, c):
        logits = seeded(n, c, scale=2.0, seed=30 + n)
        targets = _targets(n, c, seed=n)
        _check_ce(logits, targets, _ce_where(logits, targets))

    def test_is_a_0d_tensor(self):
        logits, targets = seeded(4, 3, seed=31), torch.tensor([0, 2, 1, 2])
        where = _ce_where(logits, targets)
        got = functional.cross_entropy(logits, targets)
        check_tensor(got, where, shape=(), dtype=torch.float32)

    def test_large_logits(self):
        logits = big_rows()
        targets = torch.tensor([2, 3, 1, 4, 0])
        where = _ce_where(logits, targets, extra=f" with logits {logits.tolist()}")
        got = functional.cross_entropy(logits, targets)
        check_finite(
            got.reshape(1) if isinstance(got, Tensor) else got,
            torch.tensor([_max_abs(logits)]),
            where,
            "e^1000 overflows and log(softmax) is log(0) = −inf for a target far below its "
            "row's max: the log-probabilities need the stable route log_softmax takes",
        )
        _check_ce(logits, targets, where)

    def test_ignore_index_default(self):
        logits = seeded(6, 4, scale=2.0, seed=32)
        targets = torch.tensor([1, -100, 3, 0, -100, 2])
        _check_ce(logits, targets, _ce_where(logits, targets, extra=" (two targets are -100)"))

    def test_ignore_index_is_a_class(self):
        # ignore_index may be a valid class: here every target 1 is left out
        logits = seeded(7, 3, scale=2.0, seed=33)
        targets = torch.tensor([1, 0, 2, 1, 1, 0, 2])
        where = _ce_where(logits, targets, ignore_index=1)
        _check_ce(logits, targets, where, ignore_index=1)

    def test_all_but_one_ignored(self):
        logits = seeded(5, 4, scale=3.0, seed=34)
        targets = torch.tensor([-100, -100, 2, -100, -100])
        where = _ce_where(logits, targets, extra=" (only row 2 counts)")
        _check_ce(logits, targets, where)

    def test_float64_stays_float64(self):
        logits = seeded(5, 3, scale=2.0, dtype=torch.float64, seed=35)
        targets = torch.tensor([0, 2, -100, 1, 2])
        where = _ce_where(logits, targets)
        _check_ce(logits, targets, where, tol={"rtol": 1e-7, "atol": 1e-10})

    def test_gradient(self):
        logits = seeded(6, 4, scale=2.0, dtype=torch.float64, seed=36)
        targets = torch.tensor([3, -100, 0, 1, -100, 2])
        where = _ce_where(logits, targets) + ", then backward()"
        leaf = logits.clone().requires_grad_(True)
        got = functional.cross_entropy(leaf, targets)
        check_graph(got, where)
        got.backward()
        ref = logits.clone().requires_grad_(True)
        F.cross_entropy(ref, targets).backward()
        check_close(
            leaf.grad,
            ref.grad,
            where + " → logits.grad",
            **GRAD_TOL,
            mistake="ignored rows must get a zero gradient, and the mean divides by the "
            "number of rows that count",
        )

    def test_gradient_up_to_1000(self):
        logits = big_rows().double()
        targets = torch.tensor([2, 3, 1, 4, 0])
        where = _ce_where(logits, targets, extra=f" with logits {logits.tolist()}")
        check_grad(
            lambda t: functional.cross_entropy(t, targets),
            lambda t: F.cross_entropy(t, targets),
            logits,
            where + ", then backward()",
            nan_hint=LARGE_GRAD_HINT,
            of="logits",
        )

    def test_inputs_unchanged(self):
        logits = seeded(5, 4, seed=37)
        targets = torch.tensor([1, -100, 3, 0, -100])
        check_unchanged(
            lambda: functional.cross_entropy(logits, targets),
            _ce_where(logits, targets),
            logits=logits,
            targets=targets,
        )


# --- mse_loss ----------------------------------------------------------------------------


def _mse_slips(pred: Tensor, target: Tensor) -> list[tuple[str, Tensor]]:
    d = pred.double() - target.double()
    return [
        ("the sum of the squared errors, not their mean", (d**2).sum()),
        ("the mean absolute error (L1), not the squared error", d.abs().mean()),
        ("the square of the mean error, not the mean of the squares", d.mean() ** 2),
        ("the root of the mean squared error (RMSE)", (d**2).mean().sqrt()),
    ]


@kata("mse_loss")
class TestMseLoss:
    @pytest.mark.parametrize("shape", [(5,), (4, 3), (2, 3, 4), ()])
    def test_values(self, shape):
        pred, target = seeded(*shape, seed=40), seeded(*shape, seed=41)
        where = kata_call(pred, target)
        got = functional.mse_loss(pred, target)
        check_tensor(
            got,
            where,
            shape=(),
            dtype=torch.float32,
        )
        check_close(
            got,
            F.mse_loss(pred.double(), target.double()).float(),
            where,
            rtol=RTOL,
            atol=ATOL,
            mistake=likely_mistake(got, _mse_slips(pred, target)),
        )

    def test_float64_stays_float64(self):
        pred = seeded(6, 2, dtype=torch.float64, seed=42)
        target = seeded(6, 2, dtype=torch.float64, seed=43)
        where = kata_call(pred, target)
        check_close(functional.mse_loss(pred, target), F.mse_loss(pred, target), where)

    def test_gradient(self):
        pred = seeded(4, 3, dtype=torch.float64, seed=44)
        target = seeded(4, 3, dtype=torch.float64, seed=45)
        where = kata_call(pred, target) + ", then backward()"
        p, t = pred.clone().requires_grad_(True), target.clone().requires_grad_(True)
        got = functional.mse_loss(p, t)
        check_graph(got, where)
        got.backward()
        rp, rt = pred.clone().requires_grad_(True), target.clone().requires_grad_(True)
        F.mse_loss(rp, rt).backward()
        check_close(p.grad, rp.grad, where + " → pred.grad", **GRAD_TOL)
        check_close(t.grad, rt.grad, where + " → target.grad", **GRAD_TOL)

    def test_inputs_unchanged(self):
        pred, target = seeded(4, 3, seed=46), seeded(4, 3, seed=47)
        check_unchanged(
            lambda: functional.mse_loss(pred, target),
            kata_call(pred, target),
            pred=pred,
            target=target,
        )
