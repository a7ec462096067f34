"""Enforce "from scratch": while a kata's test runs, the code under test may not call the
torch shortcut that the kata asks the learner to build.

    @kata("softmax", forbid=("torch.softmax", "torch.Tensor.softmax",
                             "torch.nn.functional.softmax"))

Two checks cover every way of reaching a shortcut:

* a torch op called by name (`torch.softmax(x)`, `x.softmax()`, `F.softmax(x)`) is seen
  by a `TorchFunctionMode` as that very function;
* a Python-level helper that is not an op (`clip_grad_norm_`, `torch.optim.AdamW.step`)
  shows up as a frame on the stack when the ops inside it run, however it was imported.

Either counts only when the first caller outside torch and this harness is the graded
tree (or a known-mistake variant standing in for it): the tests themselves use the same
functions freely as oracles.
"""

from __future__ import annotations

import importlib
import os
import sys
import sysconfig
from pathlib import Path
from types import CodeType

import torch
from torch.overrides import TorchFunctionMode

from grader import layout, target

_SKIP = tuple(  # frames that are not "the caller": torch, this harness, installed packages
    dict.fromkeys(  # (typing_extensions' deprecation wrapper, say), the standard library
        [
            os.path.dirname(torch.__file__) + os.sep,
            os.path.dirname(__file__) + os.sep,
            sysconfig.get_paths()["purelib"] + os.sep,
            sysconfig.get_paths()["platlib"] + os.sep,
            sysconfig.get_paths()["stdlib"] + os.sep,
            "<frozen",
        ]
    )
)


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


class Forbid(TorchFunctionMode):
    """Active during a test's call: records and raises on a forbidden call from the target."""

    def __init__(self, names, kata: str):
        super().__init__()
        self.kata = kata
        self.by_function: dict[int, str] = {}
        self.by_code: dict[CodeType, str] = {}
        for dotted in names:
            obj = resolve(dotted)
            self.by_function[id(obj)] = dotted
            code = _innermost_code(obj)
            if code is not None:
                self.by_code[code] = dotted
        self._keep = [resolve(n) for n in names]  # ids stay valid while we hold them
        self.violations: list[str] = []
        self.learner_folder = str(target.target_root() / target.target_name()) + os.sep

    def _is_learner(self, filename: str) -> bool:
        """The graded tree, or a known variant standing in for it."""
        return filename.startswith(self.learner_folder) or (
            layout.module_of(Path(filename), kinds=("variants",)) is not None
        )

    def _learner_called(self, frame, forbidden: str | None) -> str | None:
        """The forbidden name if the nearest caller outside torch is the learner's code."""
        while frame is not None:
            code = frame.f_code
            if forbidden is None and code in self.by_code:
                forbidden = self.by_code[code]
            if not code.co_filename.startswith(_SKIP):
                return forbidden if self._is_learner(code.co_filename) else None
            frame = frame.f_back
        return None

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = self.by_function.get(id(func))
        hit = self._learner_called(sys._getframe(1), name)
        if hit is not None:
            self.violations.append(hit)
            raise ForbiddenCall(self.message(hit))
        return func(*args, **(kwargs or {}))

    def message(self, name: str) -> str:
        return (
            f"{self.kata} called {name}, the shortcut this kata asks you to build yourself "
            "from elementary tensor operations (arithmetic, matmul, exp, log, max, sum, "
            "mean, where, ...)"
        )

    def check(self) -> None:
        """Raise if a forbidden call happened, even one the learner's code caught."""
        if self.violations:
            raise ForbiddenCall(self.message(self.violations[0]))
