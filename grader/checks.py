"""Assertions that say what went wrong, in the words of the kata.

Every message names the call, its inputs (shape, dtype, device), what was expected
and what came back, and the first place where they differ:

    sprint1.tensors.split_heads(x, n_heads=4) with x (2, 5, 8) float32 cpu:
    value at [0, 1, 0, 0] is 8.0, expected 2.0 (4 of 80 entries differ, max |diff| 6.0)
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable

import torch
from torch import Tensor


def needs_cuda(test):
    """Mark a test that runs on a CUDA device: skipped, with the reason, where there is none."""
    import pytest

    return pytest.mark.skipif(
        not torch.cuda.is_available(), reason="no CUDA device on this machine"
    )(test)


def describe(value) -> str:
    """'(2, 5, 8) float32 cpu' for a tensor, a short repr for anything else."""
    if isinstance(value, Tensor):
        grad = " requires_grad" if value.requires_grad else ""
        return (
            f"{tuple(value.shape)} {str(value.dtype).removeprefix('torch.')} {value.device}{grad}"
        )
    # no memory addresses: a message must read the same at every run, since the grader
    # names a known mistake by finding the very same message from the mistake's run
    text = re.sub(r" at 0x[0-9a-fA-F]+", "", repr(value))
    return text if len(text) <= 60 else text[:57] + "..."


class Shown:
    """An argument that shows as `text` in failure messages: Shown("f(t) = sin(t)")."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self):
        return self.text


def call_text(kata: str, args: Iterable = (), kwargs: dict | None = None) -> str:
    """'sprint1.tensors.split_heads(x (2, 5, 8) float32 cpu, n_heads=4)'."""
    parts = [describe(a) for a in args]
    parts += [f"{k}={describe(v)}" for k, v in (kwargs or {}).items()]
    return f"{kata}({', '.join(parts)})"


def fail(where: str, problem: str, mistake: str = "") -> None:
    message = f"{where}:\n  {problem}"
    if mistake:
        message += f"\n  A common cause: {mistake}"
    raise AssertionError(message)


def _index_text(index) -> str:
    return "[" + ", ".join(str(int(i)) for i in index) + "]"


def check_tensor(got, where: str, *, shape=None, dtype=None, device=None) -> Tensor:
    """got is a tensor with the given shape, dtype and device (each optional)."""
    if not isinstance(got, Tensor):
        fail(where, f"expected a Tensor, got {type(got).__name__}: {describe(got)}")
    if shape is not None and tuple(got.shape) != tuple(shape):
        fail(where, f"expected shape {tuple(shape)}, got {tuple(got.shape)}")
    if dtype is not None and got.dtype != dtype:
        fail(where, f"expected dtype {dtype}, got {got.dtype}")
    if device is not None and got.device != torch.device(device):
        fail(where, f"expected device {device}, got {got.device}")
    return got


def check_close(
    got,
    want: Tensor,
    where: str,
    *,
    rtol: float | None = None,
    atol: float | None = None,
    check_dtype: bool = True,
    mistake: str = "",
) -> None:
    """got matches want in shape, dtype (unless check_dtype=False), device and values.

    rtol/atol default to torch.testing.assert_close's for the dtype. The message gives
    the first differing index, both values, and how many entries differ.
    """
    check_tensor(
        got, where, shape=want.shape, dtype=want.dtype if check_dtype else None, device=want.device
    )
    got_cmp, want_cmp = got.detach(), want.detach()
    if got_cmp.dtype != want_cmp.dtype:
        got_cmp = got_cmp.to(want_cmp.dtype)
    if want_cmp.is_floating_point() or want_cmp.is_complex():
        if rtol is None or atol is None:
            default_rtol, default_atol = _default_tolerance(want_cmp.dtype)
            rtol = default_rtol if rtol is None else rtol
            atol = default_atol if atol is None else atol
        bad = ~torch.isclose(got_cmp, want_cmp, rtol=rtol, atol=atol, equal_nan=True)
    else:
        bad = got_cmp != want_cmp
    if not bad.any():
        return
    first = bad.nonzero()[0].tolist() if bad.dim() else []
    g = got_cmp[tuple(first)].item() if first else got_cmp.item()
    w = want_cmp[tuple(first)].item() if first else want_cmp.item()
    count = int(bad.sum())
    detail = f"{count} of {bad.numel()} entries differ"
    if want_cmp.is_floating_point():
        diff = (got_cmp.double() - want_cmp.double()).abs()
        diff = diff[~torch.isnan(diff)]
        if diff.numel():
            detail += f", max |diff| {diff.max().item():.3g}"
        if torch.isnan(got_cmp).any() and not torch.isnan(want_cmp).any():
            detail += ", and the output has NaN where none was expected"
        detail += f"; tolerance rtol={rtol:g}, atol={atol:g}"
    at = f" at {_index_text(first)}" if first else ""
    fail(where, f"value{at} is {_number(g)}, expected {_number(w)} ({detail})", mistake)


def _number(value) -> str:
    return f"{value:.6g}" if isinstance(value, float) else repr(value)


def _default_tolerance(dtype: torch.dtype) -> tuple[float, float]:
    return {
        torch.float16: (1e-3, 1e-5),
        torch.bfloat16: (1.6e-2, 1e-5),
        torch.float32: (1.3e-6, 1e-5),
        torch.float64: (1e-7, 1e-7),
    }.get(dtype, (1.3e-6, 1e-5))


class Snapshot:
    """Copies of some tensors' state, to prove a call left them as they were.

    snap = Snapshot(x=x, w=w)
    kata(x, w)
    snap.check("sprint1.autograd.gradient(f, x)")
    """

    def __init__(self, **tensors: Tensor):
        self.items = {
            name: (
                t,
                t.detach().clone(),
                t.requires_grad,
                None if t.grad is None else t.grad.detach().clone(),
                t.shape,
                t.stride(),
            )
            for name, t in tensors.items()
        }

    def check(self, where: str) -> None:
        for name, (t, values, requires_grad, grad, shape, stride) in self.items.items():
            if t.shape != shape or t.stride() != stride:
                fail(
                    where,
                    f"the input {name} was reshaped in place: {tuple(shape)} became "
                    f"{tuple(t.shape)}",
                    "an in-place op such as resize_ or t_() on the input",
                )
            if not torch.equal(t.detach(), values) and not (
                values.is_floating_point()
                and torch.equal(t.detach().isnan(), values.isnan())
                and torch.equal(t.detach().nan_to_num(), values.nan_to_num())
            ):
                changed = (t.detach() != values).nonzero()
                at = _index_text(changed[0].tolist()) if changed.numel() else ""
                fail(
                    where,
                    f"the input {name} was changed: {name}{at} is "
                    f"{t.detach()[tuple(changed[0].tolist())].item() if at else '?'}, was "
                    f"{values[tuple(changed[0].tolist())].item() if at else '?'}",
                    "an in-place op (+=, mul_, masked_fill_, x[...] = ...) on the input; "
                    "work on a copy or use out-of-place ops",
                )
            if t.requires_grad != requires_grad:
                fail(
                    where,
                    f"the input {name} had requires_grad={requires_grad} and now has "
                    f"{t.requires_grad}",
                    "requires_grad_() on the caller's tensor; "
                    "use x.detach().clone().requires_grad_() on a copy",
                )
            now = t.grad
            if (grad is None) != (now is None) or (grad is not None and not torch.equal(grad, now)):
                fail(
                    where,
                    f"the input {name}'s .grad was changed (was "
                    f"{'None' if grad is None else 'set'}, now "
                    f"{'None' if now is None else 'set'})",
                    "calling .backward() reaches the caller's tensors; use "
                    "torch.autograd.grad or work on a detached copy",
                )


def rng_state() -> Tensor:
    """The global CPU generator's state, to check that a kata did not draw from it."""
    return torch.get_rng_state()


def global_rngs() -> tuple:
    """The state of every global RNG a kata could draw from: torch's, Python's, numpy's."""
    import numpy as np

    return rng_state(), random.getstate(), np.random.get_state()


def check_global_rngs(before: tuple, where: str) -> None:
    """None of the global RNGs in `before` (from global_rngs()) was drawn from since."""
    import numpy as np

    torch_state, python_state, numpy_state = before
    check_rng_untouched(torch_state, where)
    if random.getstate() != python_state:
        fail(
            where,
            "Python's global random generator was used (random.seed, random.shuffle, ...)",
            "a seeded torch.Generator (or random.Random(seed), a generator of your own) "
            "leaves everyone else's random numbers alone",
        )
    now = np.random.get_state()
    if not (np.array_equal(now[1], numpy_state[1]) and now[2:] == numpy_state[2:]):
        fail(
            where,
            "numpy's global random generator was used (np.random.seed, np.random.rand, ...)",
            "np.random.default_rng(seed) is a generator of your own; or use a torch.Generator",
        )


def check_rng_untouched(before: Tensor, where: str) -> None:
    if not torch.equal(before, torch.get_rng_state()):
        fail(
            where,
            "the global random number generator was used",
            "drawing with torch.rand*/randperm/shuffle without generator=; "
            "pass the torch.Generator you were given (or made from the seed)",
        )


class count_torch_calls:
    """Count the torch functions and tensor methods called inside the block.

        with count_torch_calls() as calls:
            kata(a, b)
        if calls.count > 40: ...  # a Python loop over rows makes hundreds

    A vectorised kata makes a handful of calls whatever the sizes; a Python loop over
    the rows makes some for every row, so the count tells the two apart.
    """

    def __enter__(self):
        from torch.overrides import TorchFunctionMode

        counter = self

        class _Mode(TorchFunctionMode):
            def __torch_function__(self, func, types, args=(), kwargs=None):
                counter.count += 1
                return func(*args, **(kwargs or {}))

        self.count = 0
        self._mode = _Mode()
        self._mode.__enter__()
        return self

    def __exit__(self, *exc):
        self._mode.__exit__(*exc)
        return False


def likely_mistake(got, candidates, rtol: float = 1e-4, atol: float = 1e-5) -> str:
    """The text of the first (text, wrong_output) candidate that `got` matches, or "".

    For a `mistake=` hint: compute what the usual slips would return on the same input
    and name the one the learner's output agrees with.
    """
    if not isinstance(got, Tensor):
        return ""
    for text, wrong in candidates:
        if got.shape == wrong.shape and torch.allclose(
            got.detach().double(), wrong.detach().double(), rtol=rtol, atol=atol
        ):
            return text
    return ""
