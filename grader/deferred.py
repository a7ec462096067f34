"""Deferred imports: packages whose code runs only when something uses them.

`import torchvision` imports `torchvision.models` and `torchvision.ops`, and they pull in
`torch._dynamo`: about a second of a Sprint 2 grading run, for models and detection ops
that no kata uses. `install()` makes those two modules deferred in this process: they
are imported as empty modules, and their code runs the first time a name is looked up
in them (`torchvision.ops.nms`, `from torchvision.models import resnet18`). Everything
else, torchvision's transforms and datasets included, imports as usual.

`torch.autograd.grad` and `Tensor.backward` given an explicit gradient (gradcheck gives
one) import `torch.fx.experimental.symbolic_shapes` for two small checks, and it imports
sympy: about a second, a fifth of a Sprint 6 grading run. Deferred (`SYMBOLIC_SHAPES`),
that module starts with those two functions already in it (`PRESETS`), answering exactly
as torch's own for plain ints and bools; a symbolic value, or any other name, runs the
module's code.

Only the grading child and the project's test run install them (tests/conftest.py).

`skip_optimizer_dynamo_import()` is of the same kind, for a process that compiles nothing:
the first optimizer it builds would otherwise import `torch._dynamo` (~900 modules, 2-3 s).
The grading child and the runs (`python -m runs`) call it.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import types

DEFERRED = ("torchvision.models", "torchvision.ops")
SYMBOLIC_SHAPES = "torch.fx.experimental.symbolic_shapes"


class DeferredModule(types.ModuleType):
    """A module whose code runs on the first use of a name it does not have yet. Its
    spec, file and path are there from the start, so that probes such as inspect's
    (`hasattr(module, "__file__")`) do not set it off."""

    def __getattr__(self, name: str):
        if "_deferred_loader" not in self.__dict__ or (name.startswith("__") and name != "__all__"):
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
        return getattr(_loaded(self), name)


def _loaded(module: types.ModuleType) -> types.ModuleType:
    """The module with its own code run, into this very module (once)."""
    loader = module.__dict__.pop("_deferred_loader", None)
    if loader is not None:
        loader.exec_module(module)
    return module


def _plain(value) -> bool:
    """An int or bool, or a list or tuple of them: no symbolic value anywhere."""
    if isinstance(value, tuple | list):
        return all(map(_plain, value))
    return type(value) in (int, bool)


def _shape_checks(module: types.ModuleType) -> dict:
    """symbolic_shapes' sym_eq and expect_true, for plain values; the module's own for
    anything else."""

    def sym_eq(x, y):
        if not (_plain(x) and _plain(y)):
            return _loaded(module).sym_eq(x, y)
        if isinstance(x, tuple | list) and isinstance(y, tuple | list):
            return len(x) == len(y) and all(map(sym_eq, x, y))
        return x == y

    def expect_true(a, skip: int = 0):
        if type(a) is not bool:
            return _loaded(module).expect_true(a, skip + 1)
        return a

    return {"sym_eq": sym_eq, "expect_true": expect_true}


PRESETS = {SYMBOLIC_SHAPES: _shape_checks}  # names a deferred module has from the start


class _Loader(importlib.abc.Loader):
    def __init__(self, real: importlib.abc.Loader):
        self.real = real

    def create_module(self, spec):
        return DeferredModule(spec.name)

    def exec_module(self, module):
        module.__dict__["_deferred_loader"] = self.real
        preset = PRESETS.get(module.__name__)
        if preset is not None:
            module.__dict__.update(preset(module))


class _Finder(importlib.abc.MetaPathFinder):
    def __init__(self):
        self.names: set[str] = set()

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
    finder = next((f for f in sys.meta_path if isinstance(f, _Finder)), None)
    waiting = {n for n in names if n not in sys.modules}
    if not waiting:
        return
    if finder is None:
        finder = _Finder()
        sys.meta_path.insert(0, finder)
    finder.names |= waiting


def skip_optimizer_dynamo_import() -> None:
    """torch wraps some Optimizer methods (add_param_group, zero_grad, ...) in
    torch._disable_dynamo, whose first call imports torch._dynamo to build the method's
    disabled version. The wrapper looks for that version on the wrapped function first
    (`__dynamo_disable`): set it to the plain method, for every such method of
    torch.optim.Optimizer, and no optimizer imports torch._dynamo. Only for a process that
    never compiles (torch.compile would then trace into these methods); a no-op before
    torch.optim is imported. tests/harness/test_cli.py proves that grading imports no
    torch._dynamo, tests/harness/test_deferred.py that a run does not either."""
    optim = sys.modules.get("torch.optim")
    if optim is None:
        return
    for attr in vars(optim.Optimizer).values():
        code, inner = getattr(attr, "__code__", None), getattr(attr, "__wrapped__", None)
        if code is not None and inner is not None and code.co_filename.endswith("_compile.py"):
            setattr(inner, "__dynamo_disable", inner)
