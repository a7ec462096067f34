"""The functions and classes that the checks and the tests call, kept before any learner
code runs and put back after each kata: learner code that replaced torch.isclose,
Tensor.__ne__, builtins.abs, a test's oracle or grader.checks.fail would change what
every comparison says. grader.plugin.settings keeps them (`guard_grading`) and puts them
back (`reset_globals`), through `relied_on`, `Namespace` and `restore`.
"""

from __future__ import annotations

import os
import sys
from operator import is_
from types import FunctionType, ModuleType


def relied_on() -> list:
    """The modules and classes whose functions the checks and the tests call: torch's,
    Python's builtins and math, numpy, and every module of the grader and the tests."""
    import builtins
    import math

    torch = sys.modules["torch"]
    owners = [builtins, math, torch, torch.Tensor, torch._C.TensorBase, torch.nn.functional]
    owners += [torch.testing, sys.modules.get("numpy")]
    owners += [
        module
        for name, module in list(sys.modules.items())
        if type(module) is ModuleType and str(name).partition(".")[0] in ("grader", "tests")
    ]
    return [owner for owner in owners if owner is not None]


_PYTHONS_CACHES = frozenset({"__slotnames__"})  # set on a class by copyreg when pickled


class Namespace:
    """What a module or a class held before any learner code ran: of a class, every
    attribute (a property such as Tensor.shape too); of a module, its functions, classes
    and submodules (its other globals may be its own state)."""

    def __init__(self, owner):
        self.owner = owner
        self.name = str(getattr(owner, "__name__", "?"))
        self.keys = [k for k, v in vars(owner).items() if self._relied(v)]
        self.values = [vars(owner)[k] for k in self.keys]
        # torch and numpy change their own namespaces now and then: set_default_dtype
        # rebinds torch.Storage, importing torch._dynamo wraps torch.manual_seed
        top = str(getattr(owner, "__module__", self.name)).partition(".")[0]
        library = sys.modules.get(top) if top in ("torch", "numpy") else None
        self.folder = os.path.dirname(library.__file__) + os.sep if library else ""
        self.top = top

    def _relied(self, value) -> bool:
        return isinstance(self.owner, type) or callable(value) or type(value) is ModuleType

    def _theirs(self, value) -> bool:
        """Whether a new value is the library's own: a function of its own code, or a
        class it defines (found where it says it lives)."""
        if not self.folder:
            return False
        if type(value) is FunctionType:
            return value.__code__.co_filename.startswith(self.folder)
        if isinstance(value, type):
            home = str(value.__module__)
            found = getattr(sys.modules.get(home), str(value.__qualname__), None)
            return home.partition(".")[0] == self.top and found is value
        return False

    def put_back(self) -> str:
        """The first attribute that learner code replaced, removed or (on a class) added,
        put back as it was; "" when there is none. Fast when nothing changed: a module may
        gain names (importing a submodule adds one)."""
        space = vars(self.owner)
        added = isinstance(self.owner, type) and len(space) != len(self.keys)
        if not added and all(map(is_, map(space.get, self.keys), self.values)):
            return ""
        changed = ""
        for key in [k for k in space if k not in self.keys] if added else ():
            if self._theirs(space[key]) or key in _PYTHONS_CACHES:
                self.keys.append(key)
                self.values.append(space[key])
            else:
                changed = changed or f"{self.name}.{key}"
                delattr(self.owner, key)
        for i, (key, value) in enumerate(zip(self.keys, self.values, strict=True)):
            now = space.get(key)
            if now is value:
                continue
            if now is not None and self._theirs(now):
                self.values[i] = now
            else:
                changed = changed or f"{self.name}.{key}"
                setattr(self.owner, key, value)
        return changed


def restore(namespaces: list[Namespace]) -> str:
    """The first function or class of these namespaces that learner code replaced (each
    is put back), or ""."""
    changed = ""
    for namespace in namespaces:
        found = namespace.put_back()  # every one of them, whatever came before
        changed = changed or found
    return changed
