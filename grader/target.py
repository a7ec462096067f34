"""Which tree is graded, and how its modules are imported.

The target is `exercises` (the learner's stubs, the default) or `solutions` (the
reference), chosen by `KATA_TARGET`. `KATA_ROOT` may point at another folder that
holds a tree of that name (the harness's own tests grade planted copies that way).

While `exercises` is graded, importing `solutions` is refused: a learner's code
that leans on the reference would otherwise pass without doing the kata. A grading
session `pin`s the target before any learner code runs (grader.plugin.isolation), so
that code which changes KATA_TARGET or KATA_ROOT later changes nothing; grader.audit
closes the other ways to the reference.

Tests reach the target's katas through `target_module`: every function it hands out
checks what it returns (`grader.checks.foreign_value`): plain tensors and numbers, not
subclasses whose comparisons lie, and where the reference's signature promises plain
values, nothing else.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import importlib
import importlib.abc
import importlib.util
import os
import re
import sys
import threading
import types
import weakref
from pathlib import Path
from types import ModuleType

from grader import layout
from grader.layout import ROOT, TARGETS


class TargetImportError(ImportError):
    """The target module could not be imported (a syntax error, a bad import, ...)."""


_pinned: tuple[str, Path] | None = None  # (target, root), once a grading session pins them


def target_name() -> str:
    if _pinned is not None:
        return _pinned[0]
    name = os.environ.get("KATA_TARGET", "exercises")
    if name not in TARGETS:
        raise SystemExit(f"KATA_TARGET must be one of {', '.join(TARGETS)}, not {name!r}")
    return name


def target_root() -> Path:
    if _pinned is not None:
        return _pinned[1]
    return Path(os.environ.get("KATA_ROOT", ROOT)).resolve()


def pin() -> tuple[str, Path]:
    """Read KATA_TARGET and KATA_ROOT now, once for the rest of the process, and while
    exercises/ is graded refuse `import solutions` from here on. A grading session calls
    this before any learner code runs: learner code that sets KATA_TARGET=solutions
    (or points KATA_ROOT at a copy of the reference) then changes nothing."""
    global _pinned
    _pinned = (target_name(), target_root())
    if _pinned[0] == "exercises":
        _refuse_solutions()
    return _pinned


def source_path(module_id: str) -> Path:
    """The file that holds a module of the target tree, e.g. exercises/sprint1/tensors.py."""
    return layout.module_file(target_name(), module_id, target_root())


def display_path(module_id: str) -> str:
    path = source_path(module_id)
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


class _RefuseSolutions(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname == "solutions" or fullname.startswith("solutions."):
            raise ImportError(
                f"import of {fullname!r} refused: while exercises/ is graded, the learner's "
                "code may not import the reference solutions. Write the kata yourself."
            )
        return None


def _refuse_solutions() -> None:
    if not any(isinstance(f, _RefuseSolutions) for f in sys.meta_path):
        sys.meta_path.insert(0, _RefuseSolutions())


_installed: str | None = None
_failed: dict[str, BaseException] = {}


def install() -> str:
    """Make `import <target>` load the tree under target_root(); idempotent."""
    global _installed
    name = target_name()
    if _installed == name:
        return name
    folder = target_root() / name
    for loaded in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
        del sys.modules[loaded]
    for stale in folder.glob("**/__pycache__/*.pyc"):
        # Python trusts a .pyc whose source has the same size and mtime (to the second):
        # a quick edit of the same length would be graded as the code before it.
        with contextlib.suppress(OSError):
            stale.unlink()
    spec = importlib.util.spec_from_file_location(
        name, folder / "__init__.py", submodule_search_locations=[str(folder)]
    )
    package = importlib.util.module_from_spec(spec)
    sys.modules[name] = package
    spec.loader.exec_module(package)
    if name == "exercises":
        _refuse_solutions()
    _installed = name
    return name


def load(module_id: str) -> ModuleType:
    """Import `<target>.<module_id>` (e.g. exercises.sprint1.tensors).

    A failed import is remembered and raised again for every later test of that
    module, so a module that hangs or exits while importing costs its time once. So is
    an import that leaves a thread running: that thread would run on through every
    later test (and may end the process from under them).
    """
    full = f"{install()}.{module_id}"
    module = sys.modules.get(full)
    if module is not None:
        if getattr(module, "__file__", None) != str(source_path(module_id)):
            raise TargetImportError(
                f"sys.modules[{full!r}] is not {display_path(module_id)}: the learner's code "
                "put another module in its place"
            )
        return module
    if full in _failed:
        raise _failed[full]
    writes = sys.dont_write_bytecode
    sys.dont_write_bytecode = True  # the graded tree is read fresh every time (see install)
    threads = set(sys._current_frames())
    try:
        module = importlib.import_module(full)
    except (Exception, SystemExit, KeyboardInterrupt) as exc:
        failure = exc
        if isinstance(exc, SyntaxError | ImportError | AttributeError | NameError):
            from grader.plugin.escapes import safe_str  # (the plugin imports this module)

            failure = TargetImportError(
                f"could not import {display_path(module_id)}: {type(exc).__name__}: {safe_str(exc)}"
            )
            failure.__cause__ = exc
        _failed[full] = failure
        raise failure from None
    except BaseException as exc:  # a timeout while importing, say
        _failed[full] = exc
        raise
    finally:
        sys.dont_write_bytecode = writes
    left = _threads_started(threads)
    if left:
        sys.modules.pop(full, None)
        _failed[full] = TargetImportError(
            f"importing {display_path(module_id)} left a thread running: {left}; a kata's "
            "module only defines things when it is imported, and a thread started then would "
            "run on through every test"
        )
        raise _failed[full]
    return module


def _threads_started(before: set[int]) -> str:
    """'ender in exercises/sprint1/tensors.py:12' for each thread running now that was not
    in `before` (thread idents), where it is now: its innermost line in the graded tree."""
    names = {t.ident: t.name for t in threading.enumerate()}
    folder = str(target_root() / target_name()) + os.sep
    found = []
    for ident, frame in sys._current_frames().items():
        if ident in before:
            continue
        where = frame
        while where is not None and not where.f_code.co_filename.startswith(folder):
            where = where.f_back
        where = where or frame
        path = where.f_code.co_filename
        with contextlib.suppress(ValueError):
            path = str(Path(path).relative_to(target_root()))
        found.append(f"{names.get(ident, f'thread {ident}')} in {path}:{where.f_lineno}")
    return ", ".join(found)


# --- what the tests reach: the katas, their return values checked ------------------------

_PLAIN_PROMISES = re.compile(
    r"(?:Tensor|torch\.Tensor|int|float|bool|complex|str|bytes|None|tuple|list|dict|set|"
    r"frozenset|torch\.device|torch\.dtype|torch\.Size|Optional|Union)$"
)


@functools.cache
def contract(module_id: str) -> dict[str, str | dict[str, str]]:
    """What the reference module promises: for each public function, its return
    annotation as written ("" where it has none); for each class, the same for each of
    its methods and properties.

    Read from solutions/ with ast (the stubs in exercises/ are the learner's to change). A
    grading session reads every graded module's contract before any learner code runs."""
    tree = ast.parse(layout.module_file("solutions", module_id).read_text())

    def returns(node) -> str:
        return ast.unparse(node.returns) if node.returns is not None else ""

    functions = (ast.FunctionDef, ast.AsyncFunctionDef)
    found: dict[str, str | dict[str, str]] = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            found[node.name] = {n.name: returns(n) for n in node.body if isinstance(n, functions)}
        elif isinstance(node, functions):
            found[node.name] = returns(node)
    return found


def _plain_only(promised: str) -> bool:
    """Whether an annotation promises plain values only: "tuple[Tensor, Tensor]" does,
    "DataLoader" and "" (no annotation) do not."""
    names = re.findall(r"[A-Za-z_][\w.]*", promised)
    return bool(names) and all(_PLAIN_PROMISES.match(n) for n in names)


def _checked(kata: str, fn, promised: str, method: bool = False):
    """fn, whose return value is checked (grader.checks.foreign_value) before the test sees
    it: a kata that returns a value whose comparisons lie fails, saying so. (A method's
    first argument, self or cls, is left out of the call shown.)"""
    from grader import checks  # the child has torch by the time a test calls a kata

    promise = promised if _plain_only(promised) else ""

    def kata_call(*args, **kwargs):
        value = fn(*args, **kwargs)
        problem = checks.foreign_value(value, promise)
        if problem:
            shown = args[1:] if method else args
            checks.fail(checks.call_text(kata, shown, kwargs), f"returned {problem}")
        return value

    functools.update_wrapper(kata_call, fn, updated=())
    kata_call._kata_checked = True
    return kata_call


_LIBRARIES = {"torch", "torchvision", "numpy", "builtins", "typing", "abc", "collections"}
_DUNDERS = ("__call__", "__getitem__")  # what a Dataset or a transform answers with
_classes_checked: weakref.WeakSet = weakref.WeakSet()


def _check_methods(kata: str, cls: type, promised: dict[str, str]) -> None:
    """Check what the methods of a class kata return, as `_checked` does a function's:
    each public method, property, `__call__` and `__getitem__` that the learner's classes
    in its MRO define (torch's and Python's own are left as they are), wrapped in place,
    once."""
    for klass in cls.__mro__:
        top = str(getattr(klass, "__module__", "")).partition(".")[0]
        if top in _LIBRARIES or klass in _classes_checked:
            continue
        _classes_checked.add(klass)
        for name, attr in list(vars(klass).items()):
            if name.startswith("_") and name not in _DUNDERS:
                continue
            where, said = f"{kata}.{name}", promised.get(name, "")
            if isinstance(attr, property) and attr.fget is not None:
                wrapped = _checked(where, attr.fget, said, method=True)
                setattr(klass, name, property(wrapped, attr.fset, attr.fdel, attr.__doc__))
            elif isinstance(attr, classmethod | staticmethod):
                inner = attr.__func__
                wrapped = _checked(where, inner, said, method=isinstance(attr, classmethod))
                setattr(klass, name, type(attr)(wrapped))
            elif isinstance(attr, types.FunctionType) and not hasattr(attr, "_kata_checked"):
                setattr(klass, name, _checked(where, attr, said, method=True))


class _LazyModule:
    """Stands for a target module; imports it on first attribute access."""

    def __init__(self, module_id: str):
        self._module_id = module_id
        # (name, id(found)) → (found, given): one wrapper per object found, so that a test's
        # cache keyed on the function (one run per implementation) also hits when the
        # variants' run swaps the kata back and forth; `found` is kept, so its id is not reused
        self._handed_out: dict[tuple[str, int], tuple[object, object]] = {}

    def __getattr__(self, name: str):
        if name.startswith("_"):  # pytest's collection probes objects (`__test__`, ...):
            raise AttributeError(name)  # that must never import learner code
        module = load(self._module_id)
        try:
            found = getattr(module, name)
        except AttributeError:
            raise AttributeError(
                f"{display_path(self._module_id)} has no {name!r}: keep the stub's names"
            ) from None
        given = self._handed_out.get((name, id(found)))
        if given is not None and given[0] is found:
            return given[1]
        module_id = self._module_id
        promised = contract(module_id).get(name, "")
        if isinstance(promised, dict):  # a class kata: its instances are the learner's own
            if isinstance(found, type):
                _check_methods(f"{self._module_id}.{name}", found, promised)
            return found
        if not callable(found) or (isinstance(found, type) and name not in contract(module_id)):
            return found  # a constant, or a helper class of the learner's own
        given = _checked(f"{self._module_id}.{name}", found, promised)
        self._handed_out[name, id(found)] = (found, given)
        return given

    def __repr__(self) -> str:
        return f"<target module {self._module_id}>"


def target_module(module_id: str):
    """The target tree's module `module_id` ("sprint1.tensors"), imported when first used."""
    return _LazyModule(module_id)
