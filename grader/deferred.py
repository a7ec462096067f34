"""Deferred imports: packages whose code runs only when something uses them.

`import torchvision` imports `torchvision.models` and `torchvision.ops`, and they pull in
`torch._dynamo`: about a second of a Sprint 2 grading run, for models and detection ops
that no kata uses. `install()` makes those two modules deferred in this process: they
are imported as empty modules, and their code runs the first time a name is looked up
in them (`torchvision.ops.nms`, `from torchvision.models import resnet18`). Everything
else, torchvision's transforms and datasets included, imports as usual.

Only the grading child and the project's test run call it (tests/sprint2/conftest.py).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import types

DEFERRED = ("torchvision.models", "torchvision.ops")


class DeferredModule(types.ModuleType):
    """A module whose code runs on the first use of a name it does not have yet. Its
    spec, file and path are there from the start, so that probes such as inspect's
    (`hasattr(module, "__file__")`) do not set it off."""

    def __getattr__(self, name: str):
        loader = self.__dict__.get("_deferred_loader")
        if loader is None or (name.startswith("__") and name != "__all__"):
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
        del self.__dict__["_deferred_loader"]
        loader.exec_module(self)  # the module's own code, into this very module
        return getattr(self, name)


class _Loader(importlib.abc.Loader):
    def __init__(self, real: importlib.abc.Loader):
        self.real = real

    def create_module(self, spec):
        return DeferredModule(spec.name)

    def exec_module(self, module):
        module.__dict__["_deferred_loader"] = self.real


class _Finder(importlib.abc.MetaPathFinder):
    def __init__(self, names: tuple[str, ...]):
        self.names = set(names)

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in self.names:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return None
        spec.loader = _Loader(spec.loader)
        return spec


def install(names: tuple[str, ...] = DEFERRED) -> None:
    """Defer these modules in this process, unless they are imported already; idempotent."""
    if any(isinstance(f, _Finder) for f in sys.meta_path):
        return
    waiting = tuple(n for n in names if n not in sys.modules)
    if waiting:
        sys.meta_path.insert(0, _Finder(waiting))
