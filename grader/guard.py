"""Enforce "from scratch": while a kata's test runs, the code under test may not call the
torch shortcuts that the kata asks the learner to build.

    [functional.softmax]
    forbid = ["torch.softmax", "torch.log_softmax", "torch.logsumexp", ...]

Each name is refused however it is reached, in every thread:

* at the dispatcher, where every route to an op meets (`torch.softmax`, `x.softmax()`,
  `F.softmax`, `nn.Softmax`, `torch.ops.aten._softmax`, `torch._C._VariableFunctions`,
  under no_grad or inference_mode): the aten ops behind each name (`ATEN`, found by
  tracing the shortcut, see tests/harness/test_guard.py) get a kernel of this module's at
  a dispatch key that the guard switches on for its thread (`_watch`). Only those
  ops leave C++; every other op costs ~2 µs more, where a dispatch mode would send each
  one through Python (~16 µs);
* a Python-level helper that has no op of its own (`clip_grad_norm_`,
  `torch.optim.AdamW.step`) shows up as a frame on the stack while the ops inside it
  run; a `TorchFunctionMode` looks for it, for the katas that forbid one;
* a thread started while a test runs gets the key and the mode as it starts (threading's
  profile hook), so `ThreadPoolExecutor().submit(torch.softmax, x, -1)` is refused too.

A refused op counts only when the code under test called it: when a frame of the
learner's code lies on the stack between the op and the test (the walk stops at the
frame the test runs above). Learner code is any frame that is not torch, the standard
library, an installed package, the grader or the tests: the graded tree, a known-mistake
variant standing in for it (tests/sprintN/variants_*.py), and code compiled from a string
or under a borrowed filename, judged by the module whose globals it runs in. The tests
call the same functions freely as oracles. In a thread started during the test, an op
with no caller of its own on the stack (`submit(torch.softmax, x, -1)`) is the learner's:
the tests run their oracles in their own thread. A learner class that inherits a
forbidden method (`class SGD(torch.optim.SGD)` running torch's own step) counts as the
learner calling it. Out of reach: a thread started before the test (at import), one
started without the threading module, another process.
"""

from __future__ import annotations

import importlib
import os
import site
import sys
import sysconfig
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import CodeType, FrameType

import torch
from torch.overrides import TorchFunctionMode

from grader import layout

# The aten ops (overload packets) that do the work of each forbidden name that has some,
# found by tracing the shortcut under a dispatch mode that logs (test_guard checks each
# entry against a trace). Aliases reach the same ops (Tensor.softmax, F.softmax,
# torch.special.softmax, nn.Softmax and softmin all run aten._softmax), so a forbid list
# names each function once. A name missing here must be a Python function: the guard
# looks for its frame on the stack instead.
_BATCH_NORM = (
    "native_batch_norm",
    "_native_batch_norm_legit",
    "_native_batch_norm_legit_no_training",
    "_batch_norm_with_update",
    "_batch_norm_no_update",
    "cudnn_batch_norm",
    "miopen_batch_norm",
)
_ATTENTION = (  # every backend of scaled_dot_product_attention, the math one included
    "_scaled_dot_product_flash_attention_for_cpu",
    "_scaled_dot_product_flash_attention",
    "_scaled_dot_product_efficient_attention",
    "_scaled_dot_product_cudnn_attention",
    "_scaled_dot_product_fused_attention_overrideable",
    "_native_multi_head_attention",  # nn.MultiheadAttention's fast path
    "_safe_softmax",
    "_masked_softmax",
)
ATEN: dict[str, tuple[str, ...]] = {
    "torch.relu": ("relu", "relu_"),
    "torch.softmax": ("_softmax", "_safe_softmax", "_masked_softmax"),
    "torch.nn.functional.softmin": ("_softmax",),
    "torch.log_softmax": ("_log_softmax",),
    "torch.logsumexp": ("logsumexp",),
    "torch.logcumsumexp": ("logcumsumexp", "_logcumsumexp"),
    "torch.logaddexp": ("logaddexp",),
    "torch.logaddexp2": ("logaddexp2",),
    "torch.sigmoid": ("sigmoid", "sigmoid_"),
    "torch.tanh": ("tanh", "tanh_"),
    "torch.nn.functional.logsigmoid": ("log_sigmoid_forward",),
    "torch.nn.functional.softplus": ("softplus",),
    "torch.nn.functional.silu": ("silu", "silu_"),
    "torch.nn.functional.glu": ("glu",),
    "torch.nn.functional.nll_loss": ("nll_loss_forward", "nll_loss2d_forward"),
    "torch.nn.functional.cross_entropy": ("_log_softmax", "nll_loss_forward", "nll_loss2d_forward"),
    "torch.nn.functional.binary_cross_entropy_with_logits": ("binary_cross_entropy_with_logits",),
    "torch.nn.functional.soft_margin_loss": ("soft_margin_loss",),
    "torch.nn.functional.gelu": ("gelu", "gelu_"),
    "torch.nn.functional.mse_loss": ("mse_loss",),
    "torch.nn.functional.layer_norm": ("native_layer_norm",),
    "torch.nn.LayerNorm.forward": ("native_layer_norm",),
    "torch.nn.functional.group_norm": ("native_group_norm",),
    "torch.nn.functional.batch_norm": _BATCH_NORM,
    "torch.nn.functional.instance_norm": _BATCH_NORM,
    "torch.nn.functional.scaled_dot_product_attention": _ATTENTION,
    "torch._scaled_dot_product_attention_math": ("_safe_softmax",),
    "torch._fused_sgd_": ("_fused_sgd_", "_fused_sgd"),
    "torch._fused_adam_": ("_fused_adam_", "_fused_adam"),
    "torch._fused_adamw_": ("_fused_adamw_", "_fused_adamw"),
}

# --- who a frame belongs to ------------------------------------------------------------

SKIP, TEST, LEARNER = "skip", "test", "learner"
_SKIP = tuple(  # torch, this harness, installed packages (pytest, typing_extensions'
    dict.fromkeys(  # deprecation wrapper, say), the standard library
        [
            os.path.dirname(torch.__file__) + os.sep,
            os.path.dirname(__file__) + os.sep,
            *(sysconfig.get_paths()[key] + os.sep for key in ("purelib", "platlib", "stdlib")),
            *(folder + os.sep for folder in site.getsitepackages()),
            site.getusersitepackages() + os.sep,
            "<frozen",
        ]
    )
)
_TESTS = str(layout.ROOT / "tests") + os.sep
_origin_of_file: dict[str, str] = {}


def _classify(filename: str) -> str:
    origin = _origin_of_file.get(filename)
    if origin is None:
        if filename.startswith(_SKIP):
            origin = SKIP
        elif filename.startswith(_TESTS) and (
            layout.module_of(Path(filename), kinds=("variants",)) is None
        ):
            origin = TEST
        else:  # the graded tree, a variant standing in for it, anything else
            origin = LEARNER
        _origin_of_file[filename] = origin
    return origin


def _module_origin(name: str | None, namespace: dict | None = None) -> str:
    """Where a module's file lies; LEARNER for a module that is not what it claims: no
    such module, or (given `namespace`) a frame's globals that are not that module's."""
    module = sys.modules.get(name) if isinstance(name, str) else None
    if module is None or (
        namespace is not None and getattr(module, "__dict__", None) is not namespace
    ):
        return LEARNER
    filename = getattr(module, "__file__", None)
    return _classify(filename) if isinstance(filename, str) else SKIP  # builtins, say


def _origin(frame: FrameType) -> str:
    filename = frame.f_code.co_filename
    if filename.startswith("<") and not filename.startswith("<frozen"):
        # compiled from a string (exec, a dataclass's __init__): whose globals it runs in
        return _module_origin(frame.f_globals.get("__name__"), frame.f_globals)
    return _classify(filename)


def _posing(frame: FrameType) -> bool:
    """A frame filed under torch or the standard library whose globals are no module
    of theirs: code compiled with a borrowed filename."""
    return _module_origin(frame.f_globals.get("__name__"), frame.f_globals) is not SKIP


def _class_origin(cls: type) -> str:
    return _module_origin(getattr(cls, "__module__", None))


# --- what a forbid list refuses ----------------------------------------------------------


class ForbiddenCall(AssertionError):
    """The code under test called a shortcut its kata forbids."""


def resolve(dotted: str):
    """'torch.nn.functional.softmax' → the object; 'torch.optim.AdamW.step' works too."""
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for name in parts[split:]:
            obj = getattr(obj, name)
        return obj
    raise ValueError(f"cannot resolve {dotted!r}")


def _innermost_code(obj) -> CodeType | None:
    """The code of the function itself, under any decorators: the wrappers' code is shared
    by many torch functions (`_no_grad`, an optimizer's step wrapper) and names none."""
    code = None
    while obj is not None:
        code = getattr(obj, "__code__", code)
        obj = getattr(obj, "__wrapped__", None)
    return code


def _defining_class(dotted: str, code: CodeType) -> type | None:
    """For 'torch.optim.AdamW.step', the class whose body defines step (Adam): the last
    class in the MRO whose attribute runs that very code. (Building an optimizer puts a
    profiling wrapper of the inherited step into its own class, AdamW's too, so "the
    first class that has the attribute" depends on what the process built before.)"""
    owner, _, attr = dotted.rpartition(".")
    try:
        cls = resolve(owner)
    except (ValueError, AttributeError):
        return None
    if not isinstance(cls, type):
        return None
    found = [c for c in cls.__mro__ if _innermost_code(vars(c).get(attr)) is code]
    return found[-1] if found else None


def aten_ops(packets) -> dict[torch._ops.OpOverload, str]:
    """Every overload of the named aten ops, by packet name ("_softmax")."""
    found = {}
    for packet_name in packets:
        packet = getattr(torch.ops.aten, packet_name, None)
        if packet is None:  # a backend this build of torch lacks
            continue
        for overload in packet.overloads():
            found[getattr(packet, overload)] = packet_name
    return found


class Plan:
    """What one forbid list refuses, worked out once per process (see `plan`)."""

    def __init__(self, names: tuple[str, ...]):
        self.refused: dict = {}  # aten OpOverload → (the name it stands for, its packet)
        self.by_code: dict[CodeType, str] = {}  # code of a forbidden Python function → name
        self.by_function: dict[int, str] = {}  # id of a C function with no op of its own
        self.owner: dict[CodeType, type] = {}  # code of a forbidden method → its class
        self.keep = [resolve(dotted) for dotted in names]  # so that the ids stay valid
        self.walks = False  # a name has no op: look for its frame at every torch call
        for dotted, obj in zip(names, self.keep):
            for op, packet in aten_ops(ATEN.get(dotted, ())).items():
                self.refused.setdefault(op, (dotted, packet))  # shared by two: the first
                _watch(op)
            code = _innermost_code(obj)
            if code is not None:
                self.by_code[code] = dotted  # shared decorator code: the last name holding it
                owner = _defining_class(dotted, code)
                if owner is not None:
                    self.owner[code] = owner
            if dotted not in ATEN:
                if code is None and not callable(obj):
                    raise ValueError(f"forbid {dotted!r}: not a function")
                if code is None:
                    self.by_function[id(obj)] = dotted
                self.walks = True


plan = cache(Plan)


# --- the guard --------------------------------------------------------------------------


@dataclass
class Hit:
    name: str  # the forbidden name
    op: str = ""  # the aten op that gave it away, where no frame of the name was seen
    where: str = ""  # the learner's file and line
    inherited: type | None = None  # the learner's class that inherits the forbidden method
    thread: bool = False  # run in a thread of the learner's, not the test's own


_ACTIVE: Forbid | None = None  # the guard of the test that runs now, if any
_local = threading.local()  # .started: this thread began while a guard was active
_hook_before = None  # threading's profile hook from before the guard's


class Forbid:
    """Active during a test's call: records and raises on a forbidden call from the target.

    `floor` is the frame the test runs above (by default the one that enters the guard):
    the walk from an op toward the test stops there."""

    def __init__(self, names, kata: str, floor: FrameType | None = None):
        self.kata = kata
        self.plan = plan(tuple(names))
        self.floor = floor
        self.violations: list[str] = []
        self._modes: list = []
        self._outer = None
        self._was_on = False
        self._clean: FrameType | None = None  # a frame whose walk found nothing (see _WatchCalls)

    def __enter__(self):
        global _ACTIVE, _hook_before
        if self.floor is None:
            self.floor = sys._getframe(1)
        self.thread = threading.get_ident()
        self._outer, _ACTIVE = _ACTIVE, self
        self._was_on = _switch(True)
        self._modes = [_WatchCalls()] if self.plan.walks else []
        for mode in self._modes:
            mode.__enter__()
        if self._outer is None:
            _hook_before = threading.getprofile()
            threading.setprofile(_enter_new_thread)
        return self

    def __exit__(self, *exc):
        global _ACTIVE
        for mode in reversed(self._modes):
            mode.__exit__(None, None, None)
        self._modes = []
        _switch(self._was_on)
        self._clean = None
        if self._outer is None:
            threading.setprofile(_hook_before)
        _ACTIVE, self._outer = self._outer, None
        return False

    def judge(self, frame: FrameType | None, name: str | None, op: str = "") -> Hit | None:
        """A Hit when learner code lies between `frame` and the test and a forbidden name
        is being run for it: `name` (the op or function being called), or a frame of a
        forbidden function on the way."""
        plan = self.plan
        here = threading.get_ident()
        floor = self.floor if here == self.thread else None
        saw_test = False
        while frame is not None and frame is not floor:
            code = frame.f_code
            found = plan.by_code.get(code)
            if found is not None:
                name, op = found, ""  # the outermost forbidden function names the call
                learner_class = self._learner_class(frame, code)
                if learner_class is not None:
                    return Hit(name, inherited=learner_class)
            origin = _origin(frame)
            if origin is SKIP and name is not None and _posing(frame):
                origin = LEARNER
            if origin is LEARNER:
                if name is None:
                    return None
                return Hit(name, op, where=f"{_display(code.co_filename)}:{frame.f_lineno}")
            if origin is TEST:
                if name is None:  # the test's own call, and nothing forbidden under it
                    return None
                saw_test = True
            frame = frame.f_back
        if name is not None and floor is None and not saw_test and getattr(_local, "started", 0):
            return Hit(name, op, thread=True)
        return None

    def _learner_class(self, frame: FrameType, code: CodeType) -> type | None:
        """The learner's class whose instance runs a forbidden method it inherits."""
        owner = self.plan.owner.get(code)
        if owner is None or not code.co_argcount:
            return None
        obj = frame.f_locals.get(code.co_varnames[0])
        if not isinstance(obj, owner):
            return None
        for cls in type(obj).__mro__:
            if cls is owner:
                return None
            if _class_origin(cls) is LEARNER:
                return cls
        return None

    def refuse(self, hit: Hit) -> None:
        message = self.message(hit)
        self.violations.append(message)
        raise ForbiddenCall(message)

    def message(self, hit: Hit) -> str:
        if hit.inherited is not None:
            cls, method = hit.inherited.__qualname__, hit.name.rpartition(".")[2]
            said = (
                f"{self.kata}: {cls} inherits {hit.name} from torch and runs it, torch's own "
                f"code for what this kata asks you to write; give {cls} a {method} of its own, "
                "built"
            )
        else:
            how = f" (through the op aten.{hit.op}, which every form of it runs)" if hit.op else ""
            at = f" at {hit.where}" if hit.where else ""
            thread = " in another thread" if hit.thread else ""
            said = (
                f"{self.kata} called {hit.name}{how}{at}{thread}, a shortcut this kata asks you "
                "to build yourself"
            )
        return (
            f"{said} from elementary tensor operations (arithmetic, matmul, exp, log, max, sum, "
            "mean, where, ...). Its docstring lists every torch function that is off limits."
        )

    def check(self) -> None:
        """Raise if a forbidden call happened, even one the learner's code caught."""
        if self.violations:
            raise ForbiddenCall(self.violations[0])


def _display(filename: str) -> str:
    try:
        return str(Path(filename).relative_to(layout.ROOT))
    except ValueError:
        return filename


# The refused aten ops' kernels sit at a dispatch key that no tensor carries (PreDispatch,
# used by torch.export's tracing, which grading never runs). The guard adds the key to its
# thread's included set: an op without a kernel there falls through in C++, and a watched
# op runs `_refuse_then_run` first. What the op's own kernel calls runs without the key,
# as it would under a dispatch mode (which leaves its own calls alone). The private calls
# of torch this needs are the ones in these three functions.
_KEY = torch._C.DispatchKey.PreDispatch


@cache
def _library() -> torch.library.Library:
    return torch.library.Library("aten", "IMPL")  # made at the first op watched


@cache
def _watch(op) -> None:
    """Give `op` the refusing kernel (once: `cache`)."""
    _library().impl(op, _refuse_then_run(op), _KEY.name, with_keyset=True)


def _switch(on: bool) -> bool:
    """Turn the key on or off for this thread; returns whether it was on."""
    was = torch._C._dispatch_tls_is_dispatch_key_included(_KEY)
    torch._C._dispatch_tls_set_dispatch_key_included(_KEY, on)
    return was


def _refuse_then_run(op):
    without_key = torch._C.DispatchKeySet(_KEY)

    def kernel(keyset, *args, **kwargs):
        guard = _ACTIVE
        if guard is not None:
            refused = guard.plan.refused.get(op)
            if refused is not None:
                hit = guard.judge(sys._getframe(1), *refused)
                if hit is not None:
                    guard.refuse(hit)
        with torch._C._ExcludeDispatchKeyGuard(without_key):
            return op.redispatch(keyset.remove(_KEY), *args, **kwargs)

    return kernel


class _WatchCalls(TorchFunctionMode):
    """At each torch call, looks for a frame of a forbidden Python helper on the stack
    (and a forbidden C function with no op of its own, by identity)."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        guard = _ACTIVE
        if guard is not None and guard.plan.walks:
            frame = sys._getframe(1)
            name = guard.plan.by_function.get(id(func))
            # A loop of ops in one function walks once: the frames under a live frame do
            # not change, and the one kept here stays alive (its id cannot be reused).
            if name is not None or frame is not guard._clean:
                hit = guard.judge(frame, name)
                if hit is not None:
                    guard.refuse(hit)
                guard._clean = frame
        return func(*args, **(kwargs or {}))


def _enter_new_thread(frame, event, arg):
    """threading's profile hook while a guard is active, run once by each new thread as
    it starts: the thread gets the guard's key and mode, which stay (idle when no guard
    is)."""
    sys.setprofile(_hook_before)
    _local.started = 1
    _WatchCalls().__enter__()
    _switch(True)
