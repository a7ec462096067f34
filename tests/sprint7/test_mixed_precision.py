"""Grades sprint7.mixed_precision: autocast_train_step against a step written out here.

The model is a small language model of the test's own (`TinyLM`: an embedding, two
Linears, a head; model(inputs, targets) → (logits, loss), as Sprint 5's GPT). Each test
builds it twice from one seed: the kata steps one copy, the oracle below (zero the
gradients, forward under torch.autocast, backward, step; the scaler's scale, step and
update when there is one) the other, and the two must end with the same weights, the same
optimizer state, the same scale and the same loss. Forward hooks on a Linear record the
dtype it computed in, which is how the tests see that autocast was on, for the right
device type and dtype.

GradScaler runs on CPU too (torch.amp.GradScaler("cpu")), so the scaler's rules are
checked here with bfloat16: a step whose gradients hold inf is skipped (the weights and
the optimizer's state stay as they were) and the scale drops by backoff_factor; after
growth_interval finite steps it grows by growth_factor. The inf is planted by a gradient
hook on one weight, for one step, in the kata's run and in the oracle's alike. float16
with a GradScaler is checked on CUDA (skipped, saying so, without a GPU).
"""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from grader import kata, target_module
from grader.checks import Shown, check_close, describe, fail, needs_cuda
from tests.kata_helpers import kata_call, seeded_generator

mixed_precision = target_module("sprint7.mixed_precision")

V, C = 16, 32  # vocabulary, channels


class TinyLM(nn.Module):
    """Embedding → Linear(C, 4C) → GELU → Linear(4C, C) → head(C, V); model(idx (B, T),
    targets (B, T)) → (logits (B, T, V), the mean cross-entropy)."""

    def __init__(self):
        super().__init__()
        self.wte = nn.Embedding(V, C)
        self.fc = nn.Linear(C, 4 * C)
        self.proj = nn.Linear(4 * C, C)
        self.head = nn.Linear(C, V)

    def forward(self, idx, targets):
        x = self.wte(idx)
        x = x + self.proj(F.gelu(self.fc(x)))
        logits = self.head(x)
        return logits, F.cross_entropy(logits.view(-1, V), targets.view(-1))


def make_model(seed=0, device="cpu") -> TinyLM:
    model = TinyLM()
    g = seeded_generator(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    return model.to(device)


def make_batch(seed, device="cpu", B=4, T=6) -> tuple[Tensor, Tensor]:
    g = seeded_generator(seed)
    x = torch.randint(V, (B, T), generator=g)
    return x.to(device), torch.roll(x, -1, dims=1).to(device)


class MomentumSGD:
    """SGD with momentum as torch.optim.SGD computes it (buf = momentum · buf + grad, then
    p −= lr · buf), with what a training step and a GradScaler use of an optimizer:
    param_groups, state, zero_grad(set_to_none=True) and step(). torch.optim's own would
    import torch._dynamo (~3 s) the first time one is built, more than the rest of these
    tests. SGD's step is proportional to the gradient, so a gradient left scaled (or
    unscaled when it never was) shows at once, where Adam's normalisation would hide it."""

    def __init__(self, params, lr=0.1, momentum=0.9):
        self.param_groups = [{"params": list(params), "lr": lr, "momentum": momentum}]
        self.state: dict = {}  # parameter → {"momentum_buffer": tensor}
        self.steps = 0  # the steps taken

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.param_groups[0]["params"]:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.detach_().zero_()

    @torch.no_grad()
    def step(self, closure=None) -> None:
        group = self.param_groups[0]
        for p in group["params"]:
            if p.grad is None:
                continue
            state = self.state.setdefault(p, {})
            buf = state.get("momentum_buffer")
            if buf is None:
                state["momentum_buffer"] = buf = p.grad.detach().clone()
            else:
                buf.mul_(group["momentum"]).add_(p.grad)
            p.add_(buf, alpha=-group["lr"])
        self.steps += 1


def make_scaler(device):
    # growth and backoff factors of the test's own, so that only the scaler's own update
    # gives the scales expected (not a halving written by hand)
    return torch.amp.GradScaler(
        device, init_scale=2.0**8, growth_factor=3.0, backoff_factor=0.25, growth_interval=2
    )


class Run:
    """A model, its optimizer and (optionally) a scaler, built alike for the kata and the
    oracle."""

    def __init__(self, seed, scaler=False, device="cpu"):
        self.model = make_model(seed, device)
        self.optimizer = MomentumSGD(self.model.parameters())
        self.scaler = make_scaler(device) if scaler else None
        self.device = device


def oracle_step(run: Run, batch, device_type, dtype) -> float:
    """The step as the docs write it: zero_grad, forward under autocast, (scaled)
    backward, (scaler.)step, scaler.update."""
    run.optimizer.zero_grad(set_to_none=True)
    with torch.autocast(device_type=device_type, dtype=dtype):
        _, loss = run.model(*batch)
    if run.scaler is None:
        loss.backward()
        run.optimizer.step()
    else:
        run.scaler.scale(loss).backward()
        run.scaler.step(run.optimizer)
        run.scaler.update()
    return loss.item()


def where_call(run: Run, batch, device_type, dtype) -> str:
    opt = "MomentumSGD(lr=0.1, momentum=0.9)"
    scaler = "None" if run.scaler is None else "GradScaler(init_scale=256, growth_interval=2)"
    return kata_call(
        Shown(f"TinyLM on {run.device}"),
        Shown(f"(inputs {describe(batch[0])}, targets)"),
        Shown(opt),
        scaler=Shown(scaler),
        device_type=device_type,
        dtype=dtype,
    )


SCALER_ERRORS = {  # what torch's GradScaler says when it is misused → what it means
    "since the last update()": (
        "the scaler refused a second step: step() has already been called since the last update()",
        "scaler.update() not called after scaler.step(optimizer): the scale is never "
        "adjusted, and the scaler's per-step bookkeeping is never reset",
    ),
    "_scale is None": (
        "the scaler refused to step: the loss was never scaled by it",
        "loss.backward() where a scaler is given: backward of scaler.scale(loss) makes the "
        "gradients that scaler.step(optimizer) unscales",
    ),
    "No inf checks were recorded": (
        "scaler.step(optimizer) found no gradient to check",
        "the gradients zeroed (to None) between backward and the step",
    ),
}


def kata_step(run: Run, batch, device_type, dtype, where) -> float:
    """The kata's step on run; its answer checked to be a Python float. Returns it."""
    try:
        got = mixed_precision.autocast_train_step(
            run.model, batch, run.optimizer, scaler=run.scaler, device_type=device_type, dtype=dtype
        )
    except (RuntimeError, AssertionError) as exc:
        for words, (problem, cause) in SCALER_ERRORS.items():
            if words in str(exc):
                fail(where, problem, cause)
        raise
    if type(got) is not float:
        fail(
            where,
            f"returned {describe(got)}, where the contract promises the loss as a Python float",
            "the loss tensor returned as it is: .item() gives its value as a float (and "
            "keeps the caller from holding on to the graph)",
        )
    return got


def step_both(run: Run, want: Run, batch, device_type, dtype, where, inf=False):
    """One step by the kata on run and by the oracle on want, with an inf planted in
    fc.weight's gradient when inf is set; checks the dtype fc computed in and returns
    (the kata's loss, the oracle's)."""
    seen: list[torch.dtype] = []
    hooks = [run.model.fc.register_forward_hook(lambda m, args, out: seen.append(out.dtype))]
    if inf:
        hooks += [
            r.model.fc.weight.register_hook(lambda g: torch.full_like(g, float("inf")))
            for r in (run, want)
        ]
    try:
        got = kata_step(run, batch, device_type, dtype, where)
        loss = oracle_step(want, batch, device_type, dtype)
    finally:
        for hook in hooks:
            hook.remove()
    check_dtype(seen, dtype, where, device_type)
    return got, loss


def check_dtype(seen, want, where, device_type) -> None:
    if not seen:
        fail(where, "the model's forward never ran (its fc Linear was not called)")
    if seen[-1] != want:
        got = str(seen[-1]).removeprefix("torch.")
        fail(
            where,
            f"the model's Linear computed in {got}; under torch.autocast({device_type!r}, "
            f"dtype={want}) it computes in {str(want).removeprefix('torch.')}",
            "autocast not entered around the forward, entered for another device type (an "
            "autocast for a device that is not there, or not the one given, is switched off "
            "with a warning), or the dtype given not passed on (autocast then uses its "
            "device's default)",
        )


# the kata and the oracle run the same ops on the same numbers in the same order: bitwise
# equal in practice, so the margin is only for a route that is equal in exact arithmetic
# (zeroing grads to 0 instead of None, unscaling by hand first); every mistake moves the
# weights by ≳1e-4 (a float32 forward instead of bfloat16 alone moves them ~1e-3)
STEP_TOL = {"rtol": 1e-6, "atol": 1e-7}


def check_same_state(run: Run, want: Run, where: str, tol=STEP_TOL, mistake="") -> None:
    """Weights, steps taken and momentum buffers of run equal want's."""
    for (name, p), q in zip(run.model.named_parameters(), want.model.parameters(), strict=True):
        check_close(p.detach(), q.detach(), f"{where}: weight {name}", **tol, mistake=mistake)
    mine, theirs = run.optimizer, want.optimizer
    if mine.steps != theirs.steps:
        fail(
            where,
            f"the optimizer has taken {mine.steps} steps, expected {theirs.steps}",
            mistake,
        )
    for (name, p), q in zip(run.model.named_parameters(), want.model.parameters(), strict=True):
        buf = mine.state.get(p, {}).get("momentum_buffer")
        expected = theirs.state.get(q, {}).get("momentum_buffer")
        if (buf is None) != (expected is None):
            fail(
                where,
                f"the optimizer's momentum for {name} is "
                f"{'missing' if buf is None else 'there'}, expected it "
                f"{'there' if buf is None else 'missing'}",
                mistake,
            )
        if buf is not None:
            check_close(buf, expected, f"{where}: the optimizer's momentum for {name}", **tol)


def check_loss(got: float, want: float, where: str) -> None:
    if not math.isclose(got, want, rel_tol=1e-6):  # the same forward: equal but for rounding
        fail(
            where,
            f"returned {got:.6g}, expected the loss {want:.6g}",
            "the scaled loss (loss × scale) returned: the loss itself is what the step computed"
            if want and math.isclose(got / want, 256.0, rel_tol=1e-3)
            else "",
        )


# --- autocast_train_step ----------------------------------------------------------------------


@kata("autocast_train_step")
class TestAutocastTrainStep:
    @pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
    def test_one_step_on_cpu(self, dtype):
        # float16 too: the dtype asked for, not the CPU's default (bfloat16)
        run, want = Run(1), Run(1)
        batch = make_batch(2)
        where = where_call(run, batch, "cpu", dtype)
        got, loss = step_both(run, want, batch, "cpu", dtype, where)
        check_same_state(
            run,
            want,
            where,
            mistake="the weights after one step differ from the oracle's (zero_grad, forward "
            "under autocast, backward, optimizer step): a step left out, or taken twice",
        )
        check_loss(got, loss, where)

    def test_gradients_zeroed_each_step(self):
        run, want = Run(5), Run(5)
        for p in run.model.parameters():  # left over from something else: must not count
            p.grad = torch.full_like(p, 3.0)
        for i, seed in enumerate((6, 7, 8)):
            batch = make_batch(seed)
            where = where_call(run, batch, "cpu", torch.bfloat16) + f", step {i + 1} of 3"
            got, loss = step_both(run, want, batch, "cpu", torch.bfloat16, where)
            check_same_state(
                run,
                want,
                where,
                mistake="the gradients not zeroed before the backward pass (they add up over "
                "the steps, and with whatever the parameters held before), or zeroed between "
                "backward and the optimizer's step",
            )
            check_loss(got, loss, where)

    def test_scaler_skips_inf_and_backs_off(self):
        scaler_steps("cpu", torch.bfloat16)

    @needs_cuda
    def test_float16_scaler_on_cuda(self):
        scaler_steps("cuda", torch.float16)


# CUDA's backward may sum in another order from run to run (atomics): float32 rounding
# on each gradient, ~1e-7 relative, over 4 SGD steps of lr 0.1
CUDA_TOL = {"rtol": 1e-5, "atol": 1e-6}


def scaler_steps(device: str, dtype: torch.dtype) -> None:
    """Four steps with a GradScaler (init_scale 256, backoff 0.25, growth ×3 every 2 finite
    steps), the second with an inf planted in fc.weight's gradient: after each, the same
    weights, optimizer state, scale and loss as the oracle's."""
    run, want = Run(9, scaler=True, device=device), Run(9, scaler=True, device=device)
    tol = STEP_TOL if device == "cpu" else CUDA_TOL
    scales = [256.0, 64.0, 64.0, 192.0]  # finite, inf (× 0.25), finite, finite (× 3)
    for i, seed in enumerate((10, 11, 12, 13)):
        batch = make_batch(seed, device)
        inf = i == 1
        where = where_call(run, batch, device, dtype) + f", step {i + 1} of 4"
        where += " (fc.weight's gradient inf)" if inf else ""
        before = [p.detach().clone() for p in run.model.parameters()]
        got, loss = step_both(run, want, batch, device, dtype, where, inf=inf)
        if inf:
            for (name, p), old in zip(run.model.named_parameters(), before, strict=True):
                if not torch.equal(p.detach(), old):
                    fail(
                        where,
                        f"weight {name} changed in a step whose gradients hold inf",
                        "optimizer.step() called directly: with a scaler, scaler.step("
                        "optimizer) is what unscales the gradients, checks them and skips "
                        "the step when one is inf or NaN",
                    )
        check_same_state(
            run,
            want,
            where,
            tol,
            "the gradients not unscaled before the optimizer steps, or unscaled when they "
            "were never scaled: backward of the scaled loss, then scaler.step(optimizer), "
            "which divides by the scale",
        )
        scale = run.scaler.get_scale()
        if scale != scales[i]:
            fail(
                where,
                f"the scaler's scale is {scale:g} after this step, expected {scales[i]:g}",
                "scaler.update() not called after each step: it is what lowers the scale "
                "after a step with inf (× backoff_factor) and raises it after "
                "growth_interval finite steps (× growth_factor)",
            )
        check_loss(got, loss, where)
