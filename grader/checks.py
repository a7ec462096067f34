"""Assertions that say what went wrong, in the words of the kata.

Every message names the call, its inputs (shape, dtype, device), what was expected
and what came back, and the first place where they differ:

    sprint1.tensors.split_heads(x, n_heads=4) with x (2, 5, 8) float32 cpu:
    value at [0, 1, 0, 0] is 8.0, expected 2.0 (4 of 80 entries differ, max |diff| 6.0)
"""

from __future__ import annotations

import random
import re
import sys
from collections.abc import Iterable

import torch
from torch import Tensor


def needs_cuda(test):
    """Mark a test that runs on a CUDA device: skipped, with the reason, where there is none.

    A graded test skips only by such a mark, evaluated as its module is imported: a skip
    raised while a test runs is taken for the learner's code escaping (grader.plugin.
    escapes), whoever raised it."""
    import pytest

    return pytest.mark.skipif(
        not torch.cuda.is_available(), reason="no CUDA device on this machine"
    )(test)


def needs_package(name: str, install: str):
    """Mark a test (or a test class) that needs an optional package: skipped, with how to
    install it, where it is missing. Found without importing it."""
    import importlib.util

    import pytest

    return pytest.mark.skipif(
        importlib.util.find_spec(name) is None, reason=f"{name} is not installed ({install})"
    )


def describe(value) -> str:
    """'(2, 5, 8) float32 cpu' for a tensor, a short repr for anything else."""
    if type(value) in _TENSORS:
        grad = " requires_grad" if value.requires_grad else ""
        return (
            f"{tuple(value.shape)} {str(value.dtype).removeprefix('torch.')} {value.device}{grad}"
        )
    if isinstance(value, Tensor):  # its own __torch_function__ would answer for it
        return f"{a(type(value).__name__)} (a subclass of torch.Tensor)"
    try:
        text = repr(value)
        if type(text) is not str:
            raise TypeError(f"__repr__ returned {type(text).__name__}")
    except Exception as exc:
        return f"<{a(type(value).__name__)} whose repr raised {type(exc).__name__}>"
    # no memory addresses: a message must read the same at every run, since the grader
    # names a known mistake by finding the very same message from the mistake's run
    text = re.sub(r" at 0x[0-9a-fA-F]+", "", text)
    return text if len(text) <= 60 else text[:57] + "..."


# --- values a kata may return ------------------------------------------------------------

_TENSORS = (Tensor, torch.nn.Parameter)  # the types check_tensor takes: exactly these
_PLAIN = frozenset(
    {int, float, bool, complex, str, bytes, type(None), *_TENSORS}
    | {torch.Size, torch.device, torch.dtype, torch.Generator, torch.layout, torch.memory_format}
)
_CONTAINERS = (tuple, list, dict, set, frozenset)
_SEQUENCES = frozenset({tuple, list})
_VALUES = {  # a base a value may subclass → what to return instead
    Tensor: ("torch.Tensor", "tensor"),
    bool: ("bool", "bool"),
    int: ("int", "int"),
    float: ("float", "float"),
    complex: ("complex", "complex"),
    str: ("str", "str"),
    bytes: ("bytes", "bytes"),
    tuple: ("tuple", "tuple"),
    list: ("list", "list"),
    dict: ("dict", "dict"),
    set: ("set", "set"),
    frozenset: ("frozenset", "frozenset"),
}
# their types may subclass the above: the libraries', the standard library's containers,
# and the tests' own (a namedtuple that a test hands to a kata comes back in its answer)
_TRUSTED_PACKAGES = ("torch", "torchvision", "numpy", "collections", "tests")


def _trusted(kind: type) -> bool:
    """A type that torch, torchvision, numpy, collections or the tests define
    (torch.return_types.max, a numpy float64, an OrderedDict, a test's namedtuple): found
    where it says it lives, by identity."""
    home = getattr(kind, "__module__", None)
    if type(home) is not str or home.partition(".")[0] not in _TRUSTED_PACKAGES:
        return False
    return getattr(sys.modules.get(home), kind.__qualname__, None) is kind


def foreign_value(value, promised: str = "") -> str:
    """What makes `value` untrustworthy as a kata's answer, as words that follow
    "returned", or "" when it is made of plain values.

    Plain values are exactly torch.Tensor (or a Parameter), int, float, bool, str, None,
    torch's small types (device, dtype, Size, ...), and tuples, lists and dicts of them.
    A subclass of any of these defined outside torch and numpy can make ==, isclose or -
    answer whatever it likes, so it is refused whatever it holds. `promised`, the return
    annotation of a kata whose contract promises plain values only ("int", "tuple[Tensor,
    Tensor]"), refuses every other object too; without it, other objects (a DataLoader,
    the learner's own Dataset) are left to the tests.
    """
    kind = type(value)
    if kind in _PLAIN or (kind in _SEQUENCES and all(type(v) in _PLAIN for v in value)):
        return ""  # the common answers (a tensor, a pair of them), without the walk
    found = _foreign(value, promised, set())
    if found is None:
        return ""
    at, what = found
    if not at:
        return what
    return f"{a(type(value).__name__)} holding, at {at}, {what}"


def _foreign(item, promised: str, seen: set) -> tuple[str, str] | None:
    kind = type(item)
    if kind in _PLAIN:
        return None
    if kind in _CONTAINERS or (issubclass(kind, _CONTAINERS) and _trusted(kind)):
        if id(item) in seen:  # torch.return_types.max, a test's namedtuple, an OrderedDict:
            return None  # what they hold is checked all the same
        seen.add(id(item))
        if isinstance(item, dict):
            for key, sub in item.items():
                found = _foreign(key, promised, seen)
                if found is not None:
                    return f"the key {describe(key)}", found[1]
                found = _foreign(sub, promised, seen)
                if found is not None:
                    return f"[{describe(key)}]{found[0]}", found[1]
            return None
        for index, sub in enumerate(item):
            found = _foreign(sub, promised, seen)
            if found is not None:
                return (f"[{index}]{found[0]}" if kind not in (set, frozenset) else ""), found[1]
        return None
    if _trusted(kind):
        return None
    for base, (name, plain) in _VALUES.items():
        if issubclass(kind, base):
            return "", (
                f"{a(kind.__name__)}, a subclass of {name}: return a plain {plain} (a subclass "
                "can make ==, isclose and arithmetic answer whatever it likes)"
            )
    if promised:
        return "", f"{a(kind.__name__)}, where the contract promises {promised}"
    return None


def a(name: str) -> str:
    """'a Tensor', 'an Agree': a name with its article."""
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


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


def check_tuple(
    got, names: str, where: str, slip: str = "a list where the docstring promises a tuple"
) -> None:
    """got is the tuple a docstring promises, `names` its items ("x, y"). A list is shown
    by its length (its tensors would take lines), and `slip` names it as the mistake."""
    if isinstance(got, tuple) and len(got) == len(names.split(",")):
        return
    is_list = isinstance(got, list)
    fail(
        where,
        f"expected a tuple ({names}), got "
        + (f"a list of {len(got)}" if is_list else describe(got)),
        slip if is_list else "",
    )


def check_tensor(got, where: str, *, shape=None, dtype=None, device=None) -> Tensor:
    """got is a tensor with the given shape, dtype and device (each optional): a plain
    torch.Tensor (or a Parameter), not a subclass whose comparisons could say anything."""
    if type(got) not in _TENSORS:
        if isinstance(got, Tensor) and not _trusted(type(got)):
            fail(where, f"got {foreign_value(got)}")
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
    detail = f"{int(bad.sum())} of {bad.numel()} entries differ"
    if want_cmp.is_floating_point():
        detail += _float_detail(got_cmp, want_cmp, bad)
        detail += f"; tolerance rtol={rtol:g}, atol={atol:g}"
    at = f" at {_index_text(first)}" if first else ""
    fail(where, f"value{at} is {_number(g)}, expected {_number(w)} ({detail})", mistake)


def _float_detail(got: Tensor, want: Tensor, bad: Tensor) -> str:
    """NaN and inf named as such; the largest difference only over finite entries that differ."""
    text = ""
    for name, test in (("NaN", torch.isnan), ("inf", torch.isinf)):
        unexpected = test(got) & ~test(want)
        if unexpected.any():
            text += f", {int(unexpected.sum())} {name} where a number was expected"
        missing = test(want) & ~test(got)
        if missing.any():
            text += f", {int(missing.sum())} numbers where {name} was expected"
    finite = bad & torch.isfinite(got) & torch.isfinite(want)
    if finite.any():
        diff = (got.double() - want.double()).abs()[finite]
        among = " among the finite ones" if text else ""
        text += f", max |diff| {diff.max().item():.3g}{among}"
    return text


def expect_raises(error: type[BaseException], call, where: str, why: str, mistake: str = ""):
    """call() must raise `error`; says what came instead: a return value or another error."""
    try:
        value = call()
    except error:
        return
    except NotImplementedError:
        raise
    except Exception as exc:
        from grader.plugin.escapes import safe_str  # loaded with the plugin by now

        fail(
            where,
            f"raised {type(exc).__name__} ({safe_str(exc)}) where {error.__name__} was "
            f"expected: {why}",
            mistake,
        )
    fail(where, f"returned {describe(value)} where {error.__name__} was expected: {why}", mistake)


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
                    "switching on requires_grad on the caller's own tensor; a detached copy "
                    "is yours to change",
                )
            now = t.grad
            if (grad is None) != (now is None) or (grad is not None and not torch.equal(grad, now)):
                fail(
                    where,
                    f"the input {name}'s .grad was changed (was "
                    f"{'None' if grad is None else 'set'}, now "
                    f"{'None' if now is None else 'set'})",
                    "backward() reached the caller's tensor and filled its .grad: differentiate "
                    "a detached copy, or ask torch.autograd.grad, which stores no .grad",
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
            "drawing from Python's global generator; a generator object of your own, seeded "
            "from the seed you were given, leaves everyone else's random numbers alone",
        )
    now = np.random.get_state()
    if not (np.array_equal(now[1], numpy_state[1]) and now[2:] == numpy_state[2:]):
        fail(
            where,
            "numpy's global random generator was used (np.random.seed, np.random.rand, ...)",
            "drawing from numpy's global generator; a generator object of your own (numpy "
            "has them too, as does torch) leaves it alone",
        )


def check_rng_untouched(before: Tensor, where: str) -> None:
    if not torch.equal(before, torch.get_rng_state()):
        fail(
            where,
            "the global random number generator was used",
            "drawing with torch.rand*/randperm/shuffle from the global generator instead of "
            "the torch.Generator you were given (or one made from the seed)",
        )


class _WatchTorch:
    """A with-block that sees every torch call made inside it, through the
    TorchFunctionMode that `mode()` returns."""

    def mode(self):
        raise NotImplementedError

    def __enter__(self):
        self._mode = self.mode()
        self._mode.__enter__()
        return self

    def __exit__(self, *exc):
        self._mode.__exit__(*exc)
        return False


class count_torch_calls(_WatchTorch):
    """Count the torch functions and tensor methods called inside the block.

        with count_torch_calls() as calls:
            kata(a, b)
        if calls.count > 40: ...  # a Python loop over rows makes hundreds

    A vectorised kata makes a handful of calls whatever the sizes; a Python loop over
    the rows makes some for every row, so the count tells the two apart.
    """

    def mode(self):
        from torch.overrides import TorchFunctionMode

        counter = self
        self.count = 0

        class _Mode(TorchFunctionMode):
            def __torch_function__(self, func, types, args=(), kwargs=None):
                counter.count += 1
                return func(*args, **(kwargs or {}))

        return _Mode()


def likely_mistake(got, candidates, rtol: float = 1e-4, atol: float = 1e-5) -> str:
    """The text of the first (text, wrong_output) candidate that `got` matches, or "".

    For a `mistake=` hint: compute what the usual slips would return on the same input
    and name the one the learner's output agrees with.
    """
    if type(got) not in _TENSORS:
        return ""
    for text, wrong in candidates:
        if got.shape == wrong.shape and torch.allclose(
            got.detach().double(), wrong.detach().double(), rtol=rtol, atol=atol
        ):
            return text
    return ""


# --- what .to() moves: parameters and registered buffers ---------------------------------


def plain_tensors(module) -> list[tuple[str, Tensor]]:
    """(name, tensor) for each tensor that the module or one of its submodules keeps as a
    plain attribute (or inside a list, tuple or dict attribute): neither a parameter nor a
    registered buffer, so .to() neither moves nor converts it and state_dict() lacks it."""
    own = _module_own()
    found = []
    for prefix, sub in module.named_modules():
        for name, value in vars(sub).items():
            if name in own:
                continue
            if isinstance(value, dict):
                held = [(f"{name}[{key!r}]", v) for key, v in value.items()]
            elif isinstance(value, list | tuple):
                held = [(f"{name}[{i}]", v) for i, v in enumerate(value)]
            else:
                held = [(name, value)]
            found += [
                (f"{prefix}.{n}" if prefix else n, v) for n, v in held if isinstance(v, Tensor)
            ]
    return found


def _module_own() -> frozenset[str]:
    return frozenset(vars(torch.nn.Module())) | {"_parameters", "_buffers", "_modules"}


def check_constants_are_buffers(model, where: str) -> None:
    """Every tensor the model holds is a parameter or a registered buffer."""
    stray = plain_tensors(model)
    if not stray:
        return
    name, tensor = stray[0]
    more = f" (so are {', '.join(n for n, _ in stray[1:])})" if len(stray) > 1 else ""
    fail(
        where,
        f"`{name}` is a plain tensor attribute, {describe(tensor)}{more}: neither a parameter "
        "nor a registered buffer, so .to(device), .double() and .half() leave it where and "
        "as it is, and state_dict() does not hold it",
        "a constant tensor (the causal mask, say) assigned to the module as a plain "
        "attribute: only parameters and tensors registered with register_buffer move and "
        "convert with the module",
    )


def check_moves_with_to(model, where: str, device: str = "meta") -> None:
    """After model.to(device) every tensor the model holds is on that device. The meta
    device (shapes, no data) is on every machine; nothing runs on it here, since ops on
    meta tensors import torch._dynamo (seconds) the first time."""
    model = model.to(device)
    held = [(f"parameter {n}", t) for n, t in model.named_parameters()]
    held += [(f"buffer {n}", t) for n, t in model.named_buffers()]
    held += [(f"attribute {n}", t) for n, t in plain_tensors(model)]
    left = [(n, t) for n, t in held if t.device.type != torch.device(device).type]
    if left:
        name, tensor = left[0]
        fail(
            f"{where} after .to({device!r})",
            f"the {name} stayed on {tensor.device}",
            "a tensor held outside the parameters and registered buffers: .to() moves only those",
        )


_FACTORIES = (
    "arange", "empty", "eye", "full", "linspace", "ones", "rand", "randint", "randn",
    "tensor", "tril_indices", "triu_indices", "zeros",
)  # fmt: skip


class default_device_tensors(_WatchTorch):
    """Catch a forward that makes a tensor on the default device and mixes it with the
    input's tensors: on a GPU that is a device error; on the CPU it goes unseen.

        with default_device_tensors() as made:
            model(x)
        if made.mixed: ...  # "torch.ones" made without device= and used with x

    A factory call (torch.ones, arange, full, ...) without device= marks its result, and
    so does any op on marked tensors only; `.to()`, `.cuda()` with a device unmark. An op
    that combines a marked tensor of one or more dims with an unmarked one is recorded:
    a 0-d tensor may mix, as a CPU scalar does with CUDA tensors.
    """

    MARK = "_kata_made_on_default_device"  # set on the tensors it marks

    def mode(self):
        from torch.overrides import TorchFunctionMode

        tracker, mark = self, self.MARK
        self.mixed: list[str] = []
        factories = {getattr(torch, name) for name in _FACTORIES}
        movers = {"to", "cuda", "cpu", "type_as"}  # method names: with a device, they unmark

        def tensors_in(value):
            if isinstance(value, Tensor):
                yield value
            elif isinstance(value, list | tuple):
                for item in value:
                    yield from tensors_in(item)
            elif isinstance(value, dict):
                for item in value.values():
                    yield from tensors_in(item)

        class _Mode(TorchFunctionMode):
            def __torch_function__(self, func, types, args=(), kwargs=None):
                kwargs = kwargs or {}
                out = func(*args, **kwargs)
                if func in factories:
                    if kwargs.get("device") is None:
                        for t in tensors_in(out):
                            setattr(t, mark, f"torch.{func.__name__}")
                    return out
                name = getattr(func, "__name__", "")
                if name in movers and (
                    name != "to"
                    or any(isinstance(a, torch.device | str | Tensor) for a in args[1:])
                    or kwargs.get("device") is not None
                ):
                    for t in tensors_in(out):  # .to() returns the tensor itself when it can
                        if hasattr(t, mark):
                            delattr(t, mark)
                    return out
                inputs = list(tensors_in((args, kwargs)))
                marked = [t for t in inputs if hasattr(t, mark)]
                if not marked:
                    return out
                if any(not hasattr(t, mark) and t.dim() > 0 for t in inputs):
                    wide = [t for t in marked if t.dim() > 0]
                    if wide and getattr(wide[0], mark) not in tracker.mixed:
                        tracker.mixed.append(getattr(wide[0], mark))
                    return out  # a mix: the result is on the input's device
                for t in tensors_in(out):
                    setattr(t, mark, getattr(marked[0], mark))
                return out

        return _Mode()


def check_no_default_device_tensors(call, where: str) -> None:
    """call() (a forward) makes no tensor on the default device that it then uses with
    its input's tensors; returns what call() returned."""
    with default_device_tensors() as made:
        out = call()
    if made.mixed:
        fail(
            where,
            f"forward makes a tensor with {made.mixed[0]} on the default device and uses it "
            "with the input's tensors: on a GPU (or any device but the default) that is a "
            "device error",
            "a tensor made in forward without saying its device: make it on the input's "
            "device, or hold it as a registered buffer built once",
        )
    return out
