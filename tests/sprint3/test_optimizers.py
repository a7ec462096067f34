"""Grades sprint3.optimizers against torch.optim's trajectories, step for step.

Each run puts the same starting parameters through the same small problem: once with
torch's optimizer (in a fixture, before the test proper), once with the learner's, and
compares the parameters after every step. The update code of torch.optim is off
limits to the code under test (the grader raises when it runs on the learner's behalf).

The problem: three parameters W (3, 4), b (4,), s (4,), whose gradient is set by hand
to C·(p − T) (a quadratic bowl with a different curvature for every entry), so a run
costs the optimizer's own work and little else.
"""

import copy
from dataclasses import dataclass, field

import pytest
import torch
from torch import Tensor

from grader import kata, target_module
from grader.checks import Shown, check_close, describe, fail
from tests.kata_helpers import F32_STEPS_TOL, kata_call
from tests.sprint3.optim_oracle import TorchAdamW, TorchSGD

optimizers = target_module("sprint3.optimizers")


# float64 runs: both sides do the same arithmetic in a different order, so they part by
# ~1e-16 a step, ~1e-14 after 25 steps; rtol 1e-7 leaves six orders of magnitude for that.
# The slips below move the parameters by 1e-5 or more (ε inside the square root shows
# where ε = 1e-3, in the param-group run). Bias corrections computed in float32 (1 − β^t
# from a float32 step tensor) are off by ~1e-5 of the update: 1 − 0.999 keeps 4 digits in
# float32. The docstring says to keep t a Python number, and this tolerance holds to it.
TOL64 = {"rtol": 1e-7, "atol": 1e-10}

NAMES = ("W", "b", "s")
SHAPES = ((3, 4), (4,), (4,))
SIZES = (12, 4, 4)
_g = torch.Generator().manual_seed(0)
START = torch.randn(20, generator=_g, dtype=torch.float64)  # W, b, s flattened
TARGET = torch.randn(20, generator=_g, dtype=torch.float64)
CURVATURE = 0.2 + 2.8 * torch.rand(20, generator=_g, dtype=torch.float64)


@dataclass(frozen=True)
class Case:
    """One run: the optimizer, its arguments, and what happens around the steps."""

    cls_name: str
    kwargs: dict
    steps: int
    groups: tuple = ()  # ((indices into NAMES, options), ...); () means one plain list
    dtype: torch.dtype = torch.float64
    no_grad: dict = field(default_factory=dict)  # param index → steps (0-based) without grad
    decay: float | None = None  # lr ×= decay after every step (LambdaLR), when given
    extra: str = ""  # said in the message

    def where(self) -> str:
        if self.groups:
            parts = []
            for idx, options in self.groups:
                names = ", ".join(NAMES[i] for i in idx)
                extra = "".join(f", {k!r}: {v!r}" for k, v in options.items())
                parts.append(f"{{'params': [{names}]{extra}}}")
            params = Shown("[" + ", ".join(parts) + "]")
        else:
            params = Shown("[W (3, 4), b (4,), s (4,)]")
        text = kata_call(params, **self.kwargs)
        return text + f" on {str(self.dtype).removeprefix('torch.')} parameters{self.extra}"


def params_from(flat: Tensor) -> list[Tensor]:
    """Leaf tensors W (3, 4), b (4,), s (4,) that require grad, from a flat (20,) tensor."""
    return [
        part.reshape(shape).clone().requires_grad_(True)
        for part, shape in zip(flat.split(SIZES), SHAPES)
    ]


def param_groups(params: list[Tensor], case: Case) -> list:
    if not case.groups:
        return list(params)
    return [{"params": [params[i] for i in idx], **options} for idx, options in case.groups]


def set_grads(params: list[Tensor], k: int, case: Case) -> Tensor:
    """Put C·(p − T) in every .grad (None where the case says so); return the flat params.

    Few tensor operations on purpose: they are counted on the learner's time.
    """
    with torch.no_grad():
        flat = torch.cat([params[0].flatten(), params[1], params[2]])  # (20,)
        grads = (CURVATURE.to(flat.dtype) * (flat - TARGET.to(flat.dtype))).split(SIZES)
        for i, (p, g) in enumerate(zip(params, grads)):
            p.grad = None if k in case.no_grad.get(i, ()) else g.view(SHAPES[i])
    return flat


def run(case: Case, make, where: str) -> tuple[Tensor, object]:
    """The flat parameters before step 1, after step 1, …, after the last: (steps + 1, 20)."""
    params = params_from(START.to(case.dtype))
    opt = make(param_groups(params, case))
    scheduler = None
    if case.decay is not None:
        scheduler = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: case.decay**k)
    history = []
    for k in range(case.steps):
        history.append(set_grads(params, k, case))
        _step(opt, where)
        if scheduler is not None:
            scheduler.step()
    with torch.no_grad():
        history.append(torch.cat([params[0].flatten(), params[1], params[2]]))
    return torch.stack(history), (opt, params)


def _own_step_check(opt, where: str) -> None:
    """The optimizer is a torch.optim.Optimizer whose step() is not torch's."""
    if not isinstance(opt, torch.optim.Optimizer):
        fail(
            where,
            f"made a {type(opt).__name__}, which is not a torch.optim.Optimizer",
            "the class does not subclass torch.optim.Optimizer",
        )
    for cls in type(opt).__mro__:
        if "step" in vars(cls):
            if cls.__module__.startswith("torch."):
                fail(
                    where,
                    f"its step() is {cls.__module__}.{cls.__qualname__}.step, torch's own "
                    "update code",
                    "subclassing a torch optimizer (torch.optim.SGD, Adam, AdamW) inherits "
                    "the update this kata asks you to write, where torch.optim.Optimizer "
                    "leaves step() to you",
                )
            return


def construct(cls_name: str, params, kwargs: dict, where: str):
    opt = getattr(optimizers, cls_name)(params, **kwargs)
    _own_step_check(opt, where)
    return opt


def _step(opt, where: str) -> None:
    try:
        opt.step()
    except NotImplementedError:
        raise
    except RuntimeError as exc:
        if "leaf Variable" not in str(exc) and "in-place" not in str(exc):
            raise
        fail(
            where,
            f"step() raised RuntimeError: {exc}",
            "autograd refuses an in-place change of a parameter it tracks while it is "
            "recording, and step() ran with autograd on (outside torch.no_grad())",
        )


def run_mine(case: Case):
    where = case.where()
    return run(case, lambda groups: construct(case.cls_name, groups, case.kwargs, where), where)


def run_torch(case: Case, classes=None) -> Tensor:
    """torch.optim's trajectory for the case: by default from the oracle that follows it
    op for op (tests/sprint3/optim_oracle.py), which spares grading the ~3 s that
    torch.optim's own step costs on first use; the project's suite checks the two agree."""
    classes = classes or {"SGD": TorchSGD, "AdamW": TorchAdamW}
    make = classes[case.cls_name]
    return run(case, lambda groups: make(groups, **case.kwargs), f"torch.optim.{case.cls_name}")[0]


def compare(got: Tensor, want: Tensor, case: Case, hint) -> None:
    """Name the first step after which a parameter differs; hint(k) says why it might."""
    tol = TOL64 if case.dtype == torch.float64 else F32_STEPS_TOL
    close = torch.isclose(got, want, **tol).all(dim=1)  # (steps + 1,)
    if close.all():
        return
    k = int((~close).nonzero()[0])  # 1-based step count: row k is after step k
    offset = 0
    for name, shape, size in zip(NAMES, SHAPES, SIZES):
        check_close(
            got[k, offset : offset + size].view(shape),
            want[k, offset : offset + size].view(shape),
            f"{case.where()}: {name} after step {k} of {case.steps} "
            f"(against torch.optim.{case.cls_name} from the same start)",
            **tol,
            mistake=hint(k),
        )
        offset += size


SGD_CASES = {
    "momentum": Case("SGD", {"lr": 0.05, "momentum": 0.9}, steps=25),
    "weight_decay": Case("SGD", {"lr": 0.05, "weight_decay": 0.1}, steps=20),
    "momentum_and_weight_decay": Case(
        "SGD", {"lr": 0.03, "momentum": 0.8, "weight_decay": 0.05}, steps=25
    ),
    "param_groups": Case(
        "SGD",
        {"lr": 0.02, "momentum": 0.9},
        steps=25,
        groups=(((0,), {"lr": 0.05, "momentum": 0.5}), ((1, 2), {"weight_decay": 0.1})),
    ),
    "lr_changes": Case(
        "SGD",
        {"lr": 0.05, "momentum": 0.9},
        steps=20,
        decay=0.95,
        extra=", lr × 0.95 after every step (LambdaLR)",
    ),
    "no_grad": Case(
        "SGD",
        {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.1},
        steps=20,
        no_grad={2: range(20), 1: range(3)},
        extra=", s.grad None at every step, b.grad None for the first 3",
    ),
    "float32": Case(
        "SGD", {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.01}, steps=20, dtype=torch.float32
    ),
}

ADAMW_CASES = {
    "defaults": Case("AdamW", {}, steps=25),
    "hyper_parameters": Case(
        "AdamW", {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.1}, steps=25
    ),
    "param_groups": Case(
        "AdamW",
        {"lr": 0.005, "weight_decay": 0.05},
        steps=25,
        groups=(
            ((0,), {"lr": 0.02, "weight_decay": 0.0}),
            ((1, 2), {"betas": (0.5, 0.9), "eps": 1e-3}),
        ),
    ),
    "lr_changes": Case(
        "AdamW",
        {"lr": 0.02, "weight_decay": 0.1},
        steps=20,
        decay=0.9,
        extra=", lr × 0.9 after every step (LambdaLR)",
    ),
    "no_grad": Case(
        "AdamW",
        {"lr": 0.01, "weight_decay": 0.1},
        steps=20,
        no_grad={2: range(20), 1: range(5)},
        extra=", s.grad None at every step, b.grad None for the first 5",
    ),
    "float32": Case("AdamW", {"lr": 0.01, "weight_decay": 0.05}, steps=20, dtype=torch.float32),
}


@pytest.fixture(scope="module", autouse=True)
def torch_runs() -> dict[str, Tensor]:
    """torch.optim's trajectory for every case, computed once, outside the graded call."""
    cases = {f"SGD.{k}": c for k, c in SGD_CASES.items()}
    cases.update({f"AdamW.{k}": c for k, c in ADAMW_CASES.items()})
    return {key: run_torch(case) for key, case in cases.items()}


def _no_state_for_s(opt, params, where: str) -> None:
    s = params[2]
    if opt.state.get(s):
        fail(
            where,
            f"state was created for s, which never had a gradient: {sorted(opt.state[s])}",
            "skip parameters whose .grad is None before touching their state",
        )


def _state_dtypes(opt, params, where: str) -> None:
    for name, p in zip(NAMES, params):
        for key, value in opt.state.get(p, {}).items():
            if isinstance(value, Tensor) and value.dim() > 0 and value.dtype != p.dtype:
                fail(
                    where,
                    f"state[{name}][{key!r}] is {describe(value)}, expected {p.dtype} like {name}",
                    "the state was made with a fixed dtype (a torch.zeros of the shape, "
                    "say) instead of following the parameter's",
                )


# --- SGD --------------------------------------------------------------------------------


def sgd_hint(k: int) -> str:
    if k == 1:
        return (
            "the very first step differs: it is p ← p − lr·(p.grad + weight_decay·p), with "
            "each group's own lr and weight_decay (the momentum buffer starts as that g)"
        )
    return (
        "the first step matches and later ones drift: the momentum buffer is "
        "b ← momentum·b + g, g including the weight decay, with no (1 − momentum) factor, "
        "kept per parameter in self.state[p]"
    )


def sgd_lr_hint(k: int) -> str:
    if k == 1:
        return sgd_hint(k)
    return (
        "the lr changed between steps and the runs split: the lr was read once (not from "
        "the param group at every step), or it went into the momentum buffer (the velocity "
        "form v ← μ·v + lr·g, p ← p − v, which agrees only while lr is constant)"
    )


def sgd_no_grad_hint(k: int) -> str:
    return (
        "a parameter whose .grad is None must be skipped: no update (not even the weight "
        "decay), no momentum step; its buffer starts at its own first gradient"
    )


@kata("SGD")
class TestSGD:
    def test_one_plain_step(self):
        params = params_from(START)
        where = kata_call(Shown("[W (3, 4), b (4,), s (4,)]"), lr=0.1)
        opt = construct("SGD", params, {"lr": 0.1}, where)
        flat = set_grads(params, 0, Case("SGD", {}, 1))
        _step(opt, where)
        want = flat - 0.1 * CURVATURE * (flat - TARGET)
        for name, p, w in zip(NAMES, params, want.split(SIZES)):
            check_close(
                p.detach(),
                w.view(p.shape),
                f"{where}, one step → {name}",
                **TOL64,
                mistake="one step of plain SGD is p ← p − lr·p.grad",
            )

    @pytest.mark.parametrize("case", ["momentum", "weight_decay", "momentum_and_weight_decay"])
    def test_follows_torch(self, torch_runs, case):
        got, _ = run_mine(SGD_CASES[case])
        compare(got, torch_runs[f"SGD.{case}"], SGD_CASES[case], sgd_hint)

    def test_param_groups(self, torch_runs):
        got, _ = run_mine(SGD_CASES["param_groups"])
        compare(got, torch_runs["SGD.param_groups"], SGD_CASES["param_groups"], sgd_hint)

    def test_lr_changed_between_steps(self, torch_runs):
        got, _ = run_mine(SGD_CASES["lr_changes"])
        compare(got, torch_runs["SGD.lr_changes"], SGD_CASES["lr_changes"], sgd_lr_hint)

    def test_skips_params_without_grad(self, torch_runs):
        case = SGD_CASES["no_grad"]
        got, (opt, params) = run_mine(case)
        compare(got, torch_runs["SGD.no_grad"], case, sgd_no_grad_hint)
        _no_state_for_s(opt, params, case.where())

    def test_float32(self, torch_runs):
        case = SGD_CASES["float32"]
        got, (opt, params) = run_mine(case)
        compare(got, torch_runs["SGD.float32"], case, sgd_hint)
        _state_dtypes(opt, params, case.where())

    def test_state_dict_carries_momentum(self):
        _state_dict_round_trip("SGD", {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.01})

    def test_updates_in_place_outside_autograd(self):
        _in_place("SGD", {"lr": 0.05, "momentum": 0.9})

    def test_zero_grad_and_defaults(self):
        _zero_grad_and_groups("SGD", {"lr": 0.1}, {"lr": 0.1, "momentum": 0.0, "weight_decay": 0.0})


# --- AdamW ------------------------------------------------------------------------------


def adamw_hint(k: int) -> str:
    if k == 1:
        return (
            "the first step differs: with bias correction (t = 1 on the first step) it moves "
            "each weight by −lr·g/(|g| + ε) after the decoupled decay p ← p·(1 − lr·λ); "
            "check the bias correction, where ε goes, and that the decay is not added to g"
        )
    return (
        "the first step matches and later ones drift: t counts this parameter's steps "
        "(1, 2, …), m and v persist in self.state[p], ε goes outside the square root, and "
        "the decay multiplies p by (1 − lr·λ) rather than being added to the gradient"
    )


def adamw_lr_hint(k: int) -> str:
    if k == 1:
        return adamw_hint(k)
    return (
        "the lr changed between steps and the runs split: the lr was read once, not from "
        "the param group at every step (a scheduler writes it there), for the decay or "
        "for the update"
    )


def adamw_no_grad_hint(k: int) -> str:
    return (
        "a parameter whose .grad is None must be skipped (no decay either), and t counts "
        "each parameter's own steps: b's first step is its t = 1 even when the others are "
        "at t = 6; keep t in self.state[p], not one counter for the whole optimizer"
    )


@kata("AdamW")
class TestAdamW:
    def test_first_step_by_hand(self):
        # m̂ = g and v̂ = g² after one step, so p1 = p0·(1 − lr·λ) − lr·g/(|g| + ε)
        lr, wd, eps = 0.01, 0.1, 1e-8
        params = params_from(START)
        kwargs = {"lr": lr, "weight_decay": wd}
        where = kata_call(Shown("[W (3, 4), b (4,), s (4,)]"), **kwargs)
        opt = construct("AdamW", params, kwargs, where)
        flat = set_grads(params, 0, Case("AdamW", {}, 1))
        _step(opt, where)
        g = CURVATURE * (flat - TARGET)
        want = flat * (1 - lr * wd) - lr * g / (g.abs() + eps)
        for name, p, w in zip(NAMES, params, want.split(SIZES)):
            check_close(
                p.detach(),
                w.view(p.shape),
                f"{where}, one step → {name}",
                **TOL64,
                mistake=adamw_hint(1),
            )

    @pytest.mark.parametrize("case", ["defaults", "hyper_parameters"])
    def test_follows_torch(self, torch_runs, case):
        got, _ = run_mine(ADAMW_CASES[case])
        compare(got, torch_runs[f"AdamW.{case}"], ADAMW_CASES[case], adamw_hint)

    def test_param_groups(self, torch_runs):
        got, _ = run_mine(ADAMW_CASES["param_groups"])
        compare(got, torch_runs["AdamW.param_groups"], ADAMW_CASES["param_groups"], adamw_hint)

    def test_lr_changed_between_steps(self, torch_runs):
        got, _ = run_mine(ADAMW_CASES["lr_changes"])
        compare(got, torch_runs["AdamW.lr_changes"], ADAMW_CASES["lr_changes"], adamw_lr_hint)

    def test_skips_params_without_grad(self, torch_runs):
        case = ADAMW_CASES["no_grad"]
        got, (opt, params) = run_mine(case)
        compare(got, torch_runs["AdamW.no_grad"], case, adamw_no_grad_hint)
        _no_state_for_s(opt, params, case.where())

    def test_float32(self, torch_runs):
        case = ADAMW_CASES["float32"]
        got, (opt, params) = run_mine(case)
        compare(got, torch_runs["AdamW.float32"], case, adamw_hint)
        _state_dtypes(opt, params, case.where())

    def test_state_dict_carries_moments_and_step(self):
        _state_dict_round_trip("AdamW", {"lr": 0.02, "weight_decay": 0.05})

    def test_updates_in_place_outside_autograd(self):
        _in_place("AdamW", {"lr": 0.01})

    def test_zero_grad_and_defaults(self):
        _zero_grad_and_groups(
            "AdamW", {}, {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 1e-2}
        )


# --- shared by both katas ---------------------------------------------------------------


def _state_dict_round_trip(cls_name: str, kwargs: dict) -> None:
    """4 steps, state_dict() into a fresh optimizer on copies: both go on the same way."""
    case = Case(cls_name, kwargs, steps=8)
    where = case.where()
    first_params = params_from(START)
    first = construct(cls_name, first_params, kwargs, where)
    for k in range(4):
        set_grads(first_params, k, case)
        _step(first, where)
    if not any(first.state.get(p) for p in first_params):
        fail(
            where + ", after 4 steps",
            "self.state is empty: the optimizer keeps its running values somewhere else",
            "keep each parameter's running values in self.state[p] (a dict per parameter), "
            "which state_dict() saves and load_state_dict() restores",
        )
    with torch.no_grad():
        now = torch.cat([first_params[0].flatten(), first_params[1], first_params[2]])
    second_params = params_from(now)
    second = construct(cls_name, second_params, kwargs, where)
    second.load_state_dict(copy.deepcopy(first.state_dict()))  # as if saved to disk
    for k in range(4, 8):
        for params, opt in ((first_params, first), (second_params, second)):
            set_grads(params, k, case)
            _step(opt, where)
    for name, got, want in zip(NAMES, second_params, first_params):
        check_close(
            got.detach(),
            want.detach(),
            f"{where}: 4 steps, then state_dict() loaded into a new {cls_name} on copies of "
            f"the parameters, and 4 more steps on each → {name}",
            **TOL64,
            mistake="some state lives outside self.state (a step counter or buffers kept "
            "on self), so load_state_dict() does not restore it",
        )


def _in_place(cls_name: str, kwargs: dict) -> None:
    case = Case(cls_name, kwargs, steps=3)
    where = case.where() + ", 3 steps"
    params = params_from(START)
    opt = construct(cls_name, params, kwargs, where)
    ptrs = [p.data_ptr() for p in params]
    for k in range(3):
        set_grads(params, k, case)
        _step(opt, where)
    for name, p, ptr, p0 in zip(NAMES, params, ptrs, START.split(SIZES)):
        if torch.equal(p.detach().flatten(), p0):
            fail(
                f"{where} → {name}",
                "did not change: the parameters were not updated in place",
                "an out-of-place update assigned to a local name only rebinds that name",
            )
        if p.grad_fn is not None or not p.is_leaf:
            fail(
                f"{where} → {name}",
                f"the update was recorded by autograd (grad_fn {type(p.grad_fn).__name__})",
                "the update ran while autograd was recording, outside torch.no_grad()",
            )
        if not p.requires_grad:
            fail(f"{where} → {name}", "no longer requires grad after the step")
        if p.data_ptr() != ptr:
            fail(
                f"{where} → {name}",
                "the parameter now lives in new memory; the step must write into it in place",
                "assigning to p.data swaps the storage instead of writing into it",
            )


def _zero_grad_and_groups(cls_name: str, kwargs: dict, defaults: dict) -> None:
    params = params_from(START)
    where = Case(cls_name, kwargs, steps=0).where()
    opt = construct(cls_name, params, kwargs, where)
    groups = opt.param_groups
    if len(groups) != 1 or len(groups[0]["params"]) != 3:
        fail(
            where,
            f"param_groups has {len(groups)} group(s), expected one holding the 3 parameters",
            "params and the defaults were not both handed to torch.optim.Optimizer's own "
            "__init__, which builds param_groups from them",
        )
    for key, value in defaults.items():
        if key not in groups[0]:
            fail(
                where,
                f"param_groups[0] has no {key!r}; its keys are {sorted(groups[0])}",
                "the defaults dict uses the argument names as keys: "
                + ", ".join(repr(k) for k in defaults),
            )
        if groups[0][key] != value:
            fail(where, f"param_groups[0][{key!r}] is {groups[0][key]!r}, expected {value!r}")
    set_grads(params, 0, Case(cls_name, kwargs, steps=1))
    opt.zero_grad()
    for name, p in zip(NAMES, params):
        if p.grad is not None and p.grad.any():
            fail(
                f"{where}, grads set, then zero_grad() → {name}.grad",
                "still holds the gradient",
                "leave zero_grad() to torch.optim.Optimizer (do not override it)",
            )
