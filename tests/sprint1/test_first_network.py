"""Grades sprint1.first_network against float64 oracles, statistics and its own reruns."""

import functools
import math

import torch
import torch.nn.functional as F
from torch import Tensor

from grader import kata, target_module
from grader.checks import (
    Snapshot,
    check_close,
    check_rng_untouched,
    check_tensor,
    check_tuple,
    describe,
    fail,
    likely_mistake,
    rng_state,
)
from tests.kata_helpers import F32_TOL, check_count, kata_call, seeded_generator

first_network = target_module("sprint1.first_network")

KEYS = ("W1", "b1", "W2", "b2")


class Shown:
    """An argument that shows as `text` in failure messages (a dict of params, say)."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self):
        return self.text


def _params_text(params: dict) -> Shown:
    inner = ", ".join(f"{k} {tuple(v.shape)}" for k, v in params.items())
    return Shown("{" + inner + "}")


def _shapes(n_in: int, n_hidden: int, n_out: int) -> dict[str, tuple]:
    return {"W1": (n_in, n_hidden), "b1": (n_hidden,), "W2": (n_hidden, n_out), "b2": (n_out,)}


def _random_params(n_in, n_hidden, n_out, seed) -> dict[str, Tensor]:
    """Leaf float32 params that require grad, with non-zero biases (unlike init_params)."""
    g = seeded_generator(seed)
    shapes = _shapes(n_in, n_hidden, n_out)
    return {k: torch.randn(s, generator=g).requires_grad_(True) for k, s in shapes.items()}


def _forward64(x: Tensor, p: dict[str, Tensor]) -> Tensor:
    """relu(x @ W1 + b1) @ W2 + b2 in float64; differentiable if p's tensors are."""
    h = torch.relu(x.double() @ p["W1"] + p["b1"])
    return h @ p["W2"] + p["b2"]


def _as64(p: dict[str, Tensor]) -> dict[str, Tensor]:
    return {k: p[k].detach().double() for k in KEYS}


def _check_keys(params, where: str) -> None:
    if not isinstance(params, dict):
        fail(where, f"expected a dict of tensors, got {describe(params)}")
    if set(params) != set(KEYS):
        fail(where, f"expected the keys {', '.join(KEYS)}, got {', '.join(map(str, params))}")


# --- init_params ------------------------------------------------------------------------


def _init_where(n_in, n_hidden, n_out, seed) -> str:
    """The call as text; seed None means no generator."""
    kwargs = {}
    if seed is not None:
        kwargs["generator"] = Shown(f"torch.Generator().manual_seed({seed})")
    return kata_call(n_in, n_hidden, n_out, **kwargs)


def _std_mistake(std: float, fan_in: int, fan_out: int) -> str:
    """Name the slip that gives this std instead of √(2/fan_in), if one does (within 5%)."""

    def near(value: float) -> bool:
        return abs(std / value - 1) < 0.05

    if near(math.sqrt(1 / fan_in)):
        return "std √(1/fan_in) (LeCun/Xavier); He init for ReLU doubles the variance: √(2/fan_in)"
    if near(math.sqrt(2 / fan_out)):
        return (
            "fan_out (the columns of W) instead of fan_in (the rows). Note that "
            "torch.nn.init.kaiming_normal_ takes its fan_in from dim 1, as in nn.Linear's "
            "(out, in) layout: for W stored (n_in, n_hidden) that is the fan_out"
        )
    if near(1.0):
        return "plain torch.randn: the weights were never scaled by √(2/fan_in)"
    return ""


@kata("init_params")
class TestInitParams:
    def test_keys_shapes_dtypes(self):
        where = _init_where(3, 5, 2, 0)
        params = first_network.init_params(3, 5, 2, generator=seeded_generator(0))
        _check_keys(params, where)
        for key, shape in _shapes(3, 5, 2).items():
            got = params[key]
            if isinstance(got, Tensor) and got.dim() == 2 and tuple(got.shape) == shape[::-1]:
                fail(
                    f"{where} → {key}",
                    f"expected shape {shape}, got {tuple(got.shape)}",
                    "the (out, in) layout of nn.Linear.weight; here x @ W needs W as (in, out)",
                )
            check_tensor(got, f"{where} → {key}", shape=shape, dtype=torch.float32)

    def test_leaves_that_require_grad(self):
        where = _init_where(4, 6, 3, 1)
        params = first_network.init_params(4, 6, 3, generator=seeded_generator(1))
        _check_keys(params, where)
        for key in KEYS:
            p = params[key]
            check_tensor(p, f"{where} → {key}")
            if not p.requires_grad:
                fail(
                    f"{where} → {key}",
                    "does not require grad, so training cannot compute its gradient",
                    "the tensor was made without requires_grad, so autograd does not track it",
                )
            if not p.is_leaf:
                fail(
                    f"{where} → {key}",
                    f"is not a leaf tensor (grad_fn {type(p.grad_fn).__name__}), so its .grad "
                    "will never be filled",
                    "requires_grad=True was set before an operation such as the scaling by "
                    "std, so the dict holds that operation's result instead of a leaf",
                )

    def test_biases_zero(self):
        where = _init_where(5, 7, 2, 2)
        params = first_network.init_params(5, 7, 2, generator=seeded_generator(2))
        _check_keys(params, where)
        for key, n in (("b1", 7), ("b2", 2)):
            check_close(
                params[key],
                torch.zeros(n),
                f"{where} → {key}",
                mistake="biases start at zero; only the weights are random",
            )

    def test_he_normal_statistics(self):
        # W1 (256, 1024) has 262144 draws, W2 (1024, 64) 65536. The sample std's relative
        # standard error is 1/√(2n) ≤ 0.28%, so 3% is over 10 standard errors, and still
        # far from the slips it catches (×0.71 for √(1/fan_in), ×0.5 or ×4 for fan_out).
        n_in, n_hidden, n_out = 256, 1024, 64
        where = _init_where(n_in, n_hidden, n_out, 3)
        params = first_network.init_params(n_in, n_hidden, n_out, generator=seeded_generator(3))
        _check_keys(params, where)
        for key, fan_in, fan_out in (("W1", n_in, n_hidden), ("W2", n_hidden, n_out)):
            w = check_tensor(params[key], f"{where} → {key}", shape=(fan_in, fan_out))
            w = w.detach().double().flatten()
            n, want_std = w.numel(), math.sqrt(2 / fan_in)
            std, mean = w.std().item(), w.mean().item()
            if abs(std / want_std - 1) > 0.03:
                fail(
                    f"{where} → {key}",
                    f"the weights' std is {std:.4g}, expected √(2/fan_in) = √(2/{fan_in}) = "
                    f"{want_std:.4g} (ratio {std / want_std:.3f}, tolerance 3%)",
                    _std_mistake(std, fan_in, fan_out),
                )
            if abs(mean) > 8 * want_std / math.sqrt(n):  # 8 standard errors of the mean
                fail(f"{where} → {key}", f"the weights' mean is {mean:.3g}, expected 0")
            # a normal puts 68.27% within one std; a uniform of that std only 57.7%
            inside = (w.abs() < want_std).double().mean().item()
            if abs(inside - 0.6827) > 0.015:  # 8 standard errors of a fraction at n = 65536
                fail(
                    f"{where} → {key}",
                    f"{inside:.1%} of the weights lie within one std of 0; a normal "
                    "distribution has 68.3%",
                    "a uniform distribution (torch.rand, kaiming_uniform_), where He init "
                    "here is normal",
                )

    def test_same_seed_same_weights(self):
        where = _init_where(3, 8, 2, 7) + ", called twice"
        a = first_network.init_params(3, 8, 2, generator=seeded_generator(7))
        b = first_network.init_params(3, 8, 2, generator=seeded_generator(7))
        _check_keys(a, where)
        _check_keys(b, where)
        for key in KEYS:
            if not torch.equal(a[key].detach(), b[key].detach()):
                fail(
                    f"{where} → {key}",
                    "two calls with generators of the same seed gave different values",
                    "some of the numbers were drawn without the generator that was passed in",
                )

    def test_different_seeds_differ(self):
        where = _init_where(3, 8, 2, 7) + " and again with manual_seed(8)"
        a = first_network.init_params(3, 8, 2, generator=seeded_generator(7))
        b = first_network.init_params(3, 8, 2, generator=seeded_generator(8))
        _check_keys(a, where)
        _check_keys(b, where)
        for key in ("W1", "W2"):
            if torch.equal(a[key].detach(), b[key].detach()):
                fail(
                    f"{where} → {key}",
                    "generators with different seeds gave the same weights",
                    "the generator you were given was not used (a new torch.Generator() or a "
                    "fixed seed inside the function)",
                )

    def test_generator_leaves_global_rng_alone(self):
        where = _init_where(4, 16, 3, 5)
        before = rng_state()
        params = first_network.init_params(4, 16, 3, generator=seeded_generator(5))
        check_rng_untouched(before, where)
        _check_keys(params, where)

    def test_without_generator_uses_global_rng(self):
        where = _init_where(3, 4, 2, None) + " after torch.manual_seed(s)"
        runs = []
        for seed in (11, 11, 12):
            torch.manual_seed(seed)
            runs.append(first_network.init_params(3, 4, 2))
        for params in runs:
            _check_keys(params, where)
        if not torch.equal(runs[0]["W1"].detach(), runs[1]["W1"].detach()):
            fail(where, "the same torch.manual_seed gave different weights")
        if torch.equal(runs[0]["W1"].detach(), runs[2]["W1"].detach()):
            fail(
                where,
                "torch.manual_seed(11) and torch.manual_seed(12) gave the same weights",
                "with generator=None the weights came from a fresh torch.Generator() of the "
                "function's own (always the same default seed), not from the global RNG",
            )


# --- forward ----------------------------------------------------------------------------


def _forward_where(x, params) -> str:
    return kata_call(x=x, params=_params_text(params))


def _forward_slips(x: Tensor, p: dict[str, Tensor]) -> list[tuple[str, Tensor]]:
    x, p = x.double(), _as64(p)
    pre = x @ p["W1"] + p["b1"]
    h = torch.relu(pre)
    return [
        ("the relu is missing: x @ W1 + b1 goes straight into W2", pre @ p["W2"] + p["b2"]),
        ("b1 is missing: relu(x @ W1 + b1)", torch.relu(x @ p["W1"]) @ p["W2"] + p["b2"]),
        ("b2 is missing: ... @ W2 + b2", h @ p["W2"]),
        (
            "a relu on the output: logits must be able to go negative",
            torch.relu(h @ p["W2"] + p["b2"]),
        ),
        ("sigmoid instead of relu in the hidden layer", torch.sigmoid(pre) @ p["W2"] + p["b2"]),
    ]


@kata("forward")
class TestForward:
    def test_values(self):
        x = torch.randn(6, 3, generator=seeded_generator(20))
        params = _random_params(3, 7, 2, seed=21)
        where = _forward_where(x, params)
        snap = Snapshot(x=x, **params)
        got = first_network.forward(x, params)
        snap.check(where)
        mistake = ""
        if isinstance(got, Tensor):
            mistake = likely_mistake(got, _forward_slips(x, params))
        check_close(got, _forward64(x, _as64(params)).float(), where, **F32_TOL, mistake=mistake)

    def test_one_example_one_output(self):
        x = torch.tensor([[0.5, -1.0]])
        params = _random_params(2, 4, 1, seed=22)
        where = _forward_where(x, params)
        got = first_network.forward(x, params)
        if isinstance(got, Tensor) and got.shape != (1, 1):
            fail(
                where,
                f"expected shape (1, 1) = (N, n_out), got {tuple(got.shape)}",
                "a squeeze() on the output; keep the logits (N, n_out)",
            )
        check_close(got, _forward64(x, _as64(params)).float(), where, **F32_TOL)

    def test_gradients_reach_the_params(self):
        x = torch.randn(5, 3, generator=seeded_generator(23))
        params = _random_params(3, 6, 2, seed=24)
        r = torch.randn(5, 2, generator=seeded_generator(25))  # loss = sum(logits · r)
        where = _forward_where(x, params) + ", then (logits · r).sum().backward()"
        got = first_network.forward(x, params)
        check_tensor(got, where, shape=(5, 2))
        if not got.requires_grad:
            fail(
                where,
                "the logits do not require grad, so backward() cannot reach the params",
                "torch.no_grad(), .detach() or .data inside forward; keep the graph",
            )
        (got * r).sum().backward()
        ref = {k: v.detach().double().requires_grad_(True) for k, v in params.items()}
        (_forward64(x, ref) * r.double()).sum().backward()
        for key in KEYS:
            if params[key].grad is None:
                fail(f"{where} → {key}.grad", "is None: this param is not in the graph")
            check_close(params[key].grad, ref[key].grad.float(), f"{where} → {key}.grad", **F32_TOL)


# --- count_params -------------------------------------------------------------------------


def _count_where(params) -> str:
    return kata_call(_params_text(params))


@kata("count_params")
class TestCountParams:
    def test_xor_network(self):
        params = _random_params(2, 8, 1, seed=30)
        got = first_network.count_params(params)
        slips = {4: "counted the tensors, not the scalars in them", 24: "left out the biases"}
        slips[2 + 8 + 8 + 1] = (
            "counted the rows of each tensor (its len), not all the scalars in it"
        )
        slips[10 + 8 + 9 + 1] = "added the sizes of the dims instead of multiplying them"
        check_count(got, 2 * 8 + 8 + 8 * 1 + 1, _count_where(params), slips.get(got, ""))

    def test_any_tensors(self):
        params = {
            "emb": torch.zeros(10, 4),
            "scale": torch.tensor(1.0, requires_grad=True),  # 0-d: one scalar
            "conv": torch.zeros(2, 3, 4),
            "frozen": torch.zeros(7),  # does not require grad, still counts
        }
        got = first_network.count_params(params)
        slips = {4: "counted the tensors, not the scalars in them"}
        slips[1] = "counted only the tensors that require grad; every tensor counts"
        slips[40 + 1 + 24] = "left out a tensor that does not require grad; every tensor counts"
        check_count(got, 40 + 1 + 24 + 7, _count_where(params), slips.get(got, ""))

    def test_empty(self):
        check_count(first_network.count_params({}), 0, _count_where({}))


# --- sgd_step -----------------------------------------------------------------------------


def _with_grads(params: dict[str, Tensor], seed: int) -> dict[str, Tensor]:
    g = seeded_generator(seed)
    for p in params.values():
        p.grad = torch.randn(p.shape, generator=g)
    return params


def _sgd_where(params, lr) -> str:
    return kata_call(_params_text(params), lr)


def _sgd(params: dict[str, Tensor], lr: float, where: str):
    try:
        return first_network.sgd_step(params, lr)
    except NotImplementedError:
        raise
    except RuntimeError as exc:
        if "in-place" not in str(exc):
            raise
        fail(
            where,
            f"raised RuntimeError: {exc}",
            "autograd will not let a leaf it tracks change in place while it is recording, "
            "and the update ran outside torch.no_grad()",
        )


def _grad_cleared(p: Tensor) -> bool:
    return p.grad is None or not p.grad.any()


@kata("sgd_step")
class TestSgdStep:
    def test_update_in_place(self):
        params = _with_grads(_random_params(3, 5, 2, seed=40), seed=41)
        lr = 0.1
        where = _sgd_where(params, lr)
        objects = dict(params)
        ptrs = {k: p.data_ptr() for k, p in params.items()}
        want = {k: (p.detach().double() - lr * p.grad.double()).float() for k, p in params.items()}
        plus = {k: (p.detach().double() + lr * p.grad.double()).float() for k, p in params.items()}
        before = {k: p.detach().clone() for k, p in params.items()}
        got = _sgd(params, lr, where)
        if got is not None:
            fail(where, f"returned {describe(got)}, expected None: it updates params in place")
        for key in KEYS:
            p = params[key]
            if p is not objects[key]:
                fail(
                    f"{where} → {key}",
                    "params[key] is a new tensor; the step must update the same tensor",
                    "an out-of-place update stored back in the dict under each key: the "
                    "tensors in params must change in place",
                )
            if p.data_ptr() != ptrs[key]:
                fail(
                    f"{where} → {key}",
                    "the tensor now points at new memory; the step must write into the old",
                    "assigning to p.data swaps the storage instead of writing into it",
                )
            mistake = ""
            if torch.equal(p.detach(), before[key]):
                mistake = (
                    "nothing changed: an out-of-place update assigned to the loop variable "
                    "only rebinds that name, or the grads were cleared before the update"
                )
            elif torch.allclose(p.detach(), plus[key]):
                mistake = "p + lr·grad climbs uphill; the step is p − lr·grad"
            check_close(p, want[key], f"{where} → {key}", mistake=mistake)

    def test_grads_cleared_and_still_leaves(self):
        params = _with_grads(_random_params(2, 4, 1, seed=42), seed=43)
        where = _sgd_where(params, 0.5)
        _sgd(params, 0.5, where)
        for key in KEYS:
            p = params[key]
            if not _grad_cleared(p):
                fail(
                    f"{where} → {key}",
                    "the gradient is still there after the step; the next backward() would "
                    "add to it",
                    "the gradients were not cleared (set to None or zeroed) after the update",
                )
            if not p.requires_grad:
                fail(f"{where} → {key}", "no longer requires grad, so training stops here")
            if not p.is_leaf or p.grad_fn is not None:
                fail(
                    f"{where} → {key}",
                    f"the update was recorded in the graph (grad_fn {type(p.grad_fn).__name__})",
                    "the update ran while autograd was recording, outside torch.no_grad()",
                )

    def test_any_keys(self):
        g = seeded_generator(44)
        params = {
            "emb": torch.randn(4, 3, generator=g).requires_grad_(True),
            "gain": torch.randn((), generator=g).requires_grad_(True),
        }
        _with_grads(params, seed=45)
        where = _sgd_where(params, 0.25)
        want = {
            k: (p.detach().double() - 0.25 * p.grad.double()).float() for k, p in params.items()
        }
        _sgd(params, 0.25, where)
        for key, p in params.items():
            check_close(p, want[key], f"{where} → {key}")

    def test_two_training_steps(self):
        # loss = sum(p · c) has gradient c at every step, so two steps give p − 2·lr·c
        g = seeded_generator(46)
        params = {
            k: torch.randn(s, generator=g).requires_grad_(True) for k, s in _shapes(2, 3, 1).items()
        }
        coeffs = {k: torch.randn(p.shape, generator=g) for k, p in params.items()}
        start = {k: p.detach().clone() for k, p in params.items()}
        lr = 0.1
        where = _sgd_where(params, lr) + " twice, each after loss = Σ(p·c) and loss.backward()"
        for _ in range(2):
            sum((params[k] * coeffs[k]).sum() for k in KEYS).backward()
            _sgd(params, lr, where)
        for key in KEYS:
            want = start[key] - 2 * lr * coeffs[key]
            mistake = ""
            if torch.allclose(params[key].detach(), start[key] - 3 * lr * coeffs[key]):
                mistake = (
                    "the first step's gradient was not cleared, so the second step used it again"
                )
            check_close(params[key], want, f"{where} → {key}", mistake=mistake)


# --- train_xor ----------------------------------------------------------------------------

XOR_X = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
XOR_Y = torch.tensor([0.0, 1.0, 1.0, 0.0], dtype=torch.float64)


@functools.cache
def _default_run(train_xor):
    """One run with the defaults per implementation (the function object is the cache key,
    so each known mistake gets its own run when the grader patches it in)."""
    return train_xor()


def _train_where(**kwargs) -> str:
    return kata_call(**kwargs)


def _check_run(result, where: str, steps: int) -> tuple[dict, list]:
    check_tuple(result, "params, losses", where)
    params, losses = result
    _check_keys(params, where + " → params")
    for key, shape in _shapes(2, 8, 1).items():
        check_tensor(params[key], f"{where} → params[{key!r}]", shape=shape)
    if not isinstance(losses, list):
        fail(where + " → losses", f"expected a list of floats, got {type(losses).__name__}")
    if len(losses) != steps:
        fail(where + " → losses", f"expected one loss a step ({steps}), got {len(losses)}")
    for i, loss in enumerate(losses):
        if not isinstance(loss, float):
            fail(
                f"{where} → losses[{i}]",
                f"expected a Python float, got {type(loss).__name__} {describe(loss)}",
                "the loss tensor was kept instead of the Python float it holds (item()); "
                "keeping the tensor also keeps its whole graph",
            )
    return params, losses


def _bce(params64: dict[str, Tensor], slope_at_0: float | None = None) -> Tensor:
    """The mean BCE on the logits. slope_at_0 replaces softplus's slope σ(0) = ½ where a
    logit is exactly 0 (the value is unchanged): what a hand-made softplus with a kink at
    0 gives autograd (clamp, relu and abs take 0 there), to name that slip."""
    z = _forward64(XOR_X, params64).squeeze(1)
    loss = F.binary_cross_entropy_with_logits(z, XOR_Y)
    if slope_at_0 is not None:
        loss = loss + ((slope_at_0 - 0.5) * z * (z == 0)).mean()
    return loss


def _descend64(p0: dict[str, Tensor], lr: float, steps: int, accumulate=False, slope_at_0=None):
    """Full-batch gradient descent on the mean BCE in float64: the trajectory to match.
    accumulate=True and slope_at_0 give the trajectories of two slips: gradients never
    cleared (each step adds to the last), and a softplus with a kink at 0."""
    p = {k: v.detach().double().clone().requires_grad_(True) for k, v in p0.items()}
    total = {k: torch.zeros_like(p[k]) for k in KEYS}
    losses = []
    for _ in range(steps):
        loss = _bce(p, slope_at_0)
        grads = torch.autograd.grad(loss, [p[k] for k in KEYS])
        with torch.no_grad():
            for key, grad in zip(KEYS, grads):
                total[key] = total[key] + grad if accumulate else grad
                p[key] -= lr * total[key]
        losses.append(loss.item())
    return {k: v.detach() for k, v in p.items()}, losses


KINK_AT_0 = (
    "the loss's slope at logit 0 is wrong. At the start the biases are 0, so the point "
    "(0, 0) has hidden units and logit exactly 0, where the BCE's slope is σ(0) − y = ½ − y; "
    "a hand-made BCE or softplus built on clamp, relu, abs or sign has a kink at 0, where "
    "autograd takes the slope of one side (0 or 1) instead. That is a real bug, not "
    "rounding: gradient descent on the BCE starts from that slope"
)


@kata("train_xor")
class TestTrainXor:
    def test_defaults_learn_xor(self):
        where = _train_where()
        params, losses = _check_run(_default_run(first_network.train_xor), where, 2000)
        if not losses[-1] < 0.05:
            fail(where, f"the last loss is {losses[-1]:.4g}, expected below 0.05")
        logits = _forward64(XOR_X, _as64(params)).squeeze(1)
        for point, logit, label in zip(XOR_X.tolist(), logits.tolist(), XOR_Y.tolist()):
            if (logit > 0) != (label == 1):
                fail(
                    where,
                    f"the trained network gives the point {point} the logit {logit:.3g}, but "
                    f"its label is {int(label)} (logit > 0 should mean label 1)",
                )
        # losses[-1] was measured before the last update, which moves a loss of ~0.01 by
        # ~1e-5; 2% of it (or 1e-4) covers that and still tells BCE from other losses
        final = _bce(_as64(params)).item()
        if abs(final - losses[-1]) > max(0.02 * losses[-1], 1e-4):
            fail(
                where,
                f"losses[-1] is {losses[-1]:.5g}, but the mean binary cross-entropy of the "
                f"returned network on the four points is {final:.5g}",
                "a loss other than the mean BCE on the logits (MSE, or a sum)",
            )

    def test_defaults_are_steps_2000_lr_0_1_seed_0(self):
        where = _train_where() + " against train_xor(steps=3, lr=0.1, seed=0)"
        _, losses = _check_run(_default_run(first_network.train_xor), _train_where(), 2000)
        _, short = _check_run(first_network.train_xor(steps=3, lr=0.1, seed=0), where, 3)
        if losses[:3] != short:
            fail(
                where,
                f"the first three losses differ: {losses[:3]} and {short}",
                "defaults other than steps=2000, lr=0.1, seed=0, or runs that are not repeatable",
            )

    def test_steps_follow_gradient_descent_on_bce(self):
        lr, steps = 0.1, 4
        where = _train_where(steps=steps, lr=lr, seed=3)
        start_where = _train_where(steps=0, lr=lr, seed=3)
        start, _ = _check_run(first_network.train_xor(steps=0, lr=lr, seed=3), start_where, 0)
        self.check_first_update(start, lr)
        params, losses = _check_run(
            first_network.train_xor(steps=steps, lr=lr, seed=3), where, steps
        )
        want_params, want_losses = _descend64(start, lr, steps)
        # float32 against float64 over 4 small steps: ~1e-7 relative error a step
        check_close(
            torch.tensor(losses, dtype=torch.float64),
            torch.tensor(want_losses, dtype=torch.float64),
            where + " → losses (against float64 gradient descent on the mean BCE, starting "
            "from the params of train_xor(steps=0, seed=3))",
            rtol=1e-5,
            atol=1e-6,
            mistake=_loss_slip(losses, want_losses, start, lr),
        )
        for key in KEYS:
            check_close(
                params[key].detach().double(),
                want_params[key],
                f"{where} → {key} after {steps} steps",
                rtol=1e-5,
                atol=1e-6,
                mistake="a gradient that was not cleared between steps (it accumulates), "
                "or an update other than p − lr·grad",
            )

    @staticmethod
    def check_first_update(start: dict[str, Tensor], lr: float) -> None:
        """The first step's update of each parameter against float64 gradient descent on
        the mean BCE, from the params of train_xor(steps=0, seed=3)."""
        where = _train_where(steps=1, lr=lr, seed=3)
        params, losses = _check_run(first_network.train_xor(steps=1, lr=lr, seed=3), where, 1)
        p0 = _as64(start)
        want, want_losses = _descend64(start, lr, 1)
        check_close(
            torch.tensor(losses, dtype=torch.float64),
            torch.tensor(want_losses, dtype=torch.float64),
            where + " → losses[0], the loss at the params of train_xor(steps=0, seed=3)",
            rtol=1e-5,
            atol=1e-6,
            mistake=_loss_slip(losses, want_losses, start, lr),
        )
        kinked = [_descend64(start, lr, 1, slope_at_0=s)[0] for s in (0.0, 1.0)]
        for key in KEYS:
            got = params[key].detach().double() - p0[key]
            mistake = likely_mistake(got, [(KINK_AT_0, k[key] - p0[key]) for k in kinked])
            # float32 params of size ~1 hold an update of ~1e-2 to ~6e-8 absolute
            check_close(
                got,
                want[key] - p0[key],
                f"{where} → the first step's update of {key} (its value after the step less "
                "its value from train_xor(steps=0, seed=3)), against gradient descent on the "
                "mean BCE",
                rtol=1e-5,
                atol=1e-6,
                mistake=mistake,
            )

    def test_same_seed_same_run(self):
        where = _train_where(steps=5, seed=1) + ", called twice"
        torch.manual_seed(94)  # the losses a message prints read the same at every run
        a_params, a_losses = _check_run(first_network.train_xor(steps=5, seed=1), where, 5)
        b_params, b_losses = _check_run(first_network.train_xor(steps=5, seed=1), where, 5)
        if a_losses != b_losses or not all(torch.equal(a_params[k], b_params[k]) for k in KEYS):
            fail(
                where,
                f"two runs with the same seed differ (losses {a_losses} and {b_losses})",
                "drawing the initial weights from the global RNG instead of from a "
                "torch.Generator seeded with seed",
            )

    def test_different_seeds_differ(self):
        where = _train_where(steps=2, seed=Shown("0 and 1"))
        a_params, _ = _check_run(first_network.train_xor(steps=2, seed=0), where, 2)
        b_params, _ = _check_run(first_network.train_xor(steps=2, seed=1), where, 2)
        if torch.equal(a_params["W1"], b_params["W1"]):
            fail(
                where,
                "seeds 0 and 1 gave the same weights",
                "the seed is not used: an unseeded torch.Generator, or a fixed seed",
            )

    def test_global_rng_untouched(self):
        where = _train_where(steps=2, seed=0)
        before = rng_state()
        _check_run(first_network.train_xor(steps=2, seed=0), where, 2)
        check_rng_untouched(before, where)


def _loss_slip(losses: list, want: list, start: dict[str, Tensor], lr: float) -> str:
    """Name the loss that losses[0] is, when it is not the mean BCE on the logits."""
    if not losses or not isinstance(losses[0], float):
        return ""
    z = _forward64(XOR_X, _as64(start)).squeeze(1)
    slips = [
        ("MSE on sigmoid(logits) instead of the BCE", F.mse_loss(torch.sigmoid(z), XOR_Y)),
        (
            "the summed BCE instead of its mean",
            F.binary_cross_entropy_with_logits(z, XOR_Y, reduction="sum"),
        ),
    ]
    for text, value in slips:
        if abs(losses[0] - value.item()) < 1e-4:
            return text
    uncleared = _descend64(start, lr, len(losses), accumulate=True)[1]
    if len(want) > 1 and all(abs(g - u) < 1e-5 for g, u in zip(losses, uncleared)):
        return (
            "the gradients are not cleared between steps: backward adds each step's gradient "
            "to the last ones, so every update after the first uses their sum"
        )
    return ""
