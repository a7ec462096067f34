"""Which tree is graded, and how its modules are imported.

The target is `exercises` (the learner's stubs, the default) or `solutions` (the
reference), chosen by `KATA_TARGET`. `KATA_ROOT` may point at another folder that
holds a tree of that name (the harness's own tests grade planted copies that way).

While `exercises` is graded, importing `solutions` is refused: a learner's code
that leans on the reference would otherwise pass without doing the kata.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.abc
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

from grader import layout
from grader.layout import ROOT, TARGETS


class TargetImportError(ImportError):
    """The target module could not be imported (a syntax error, a bad import, ...)."""


def target_name() -> str:
    name = os.environ.get("KATA_TARGET", "exercises")
    if name not in TARGETS:
        raise SystemExit(f"KATA_TARGET must be one of {', '.join(TARGETS)}, not {name!r}")
    return name


def target_root() -> Path:
    return Path(os.environ.get("KATA_ROOT", ROOT)).resolve()


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
    if name == "exercises" and not any(isinstance(f, _RefuseSolutions) for f in sys.meta_path):
        sys.meta_path.insert(0, _RefuseSolutions())
    _installed = name
    return name


def load(module_id: str) -> ModuleType:
    """Import `<target>.<module_id>` (e.g. exercises.sprint1.tensors).

    A failed import is remembered and raised again for every later test of that
    module, so a module that hangs or exits while importing costs its time once.
    """
    full = f"{install()}.{module_id}"
    module = sys.modules.get(full)
    if module is not None:
        return module
    if full in _failed:
        raise _failed[full]
    writes = sys.dont_write_bytecode
    sys.dont_write_bytecode = True  # the graded tree is read fresh every time (see install)
    try:
        return importlib.import_module(full)
    except (Exception, SystemExit, KeyboardInterrupt) as exc:
        failure = exc
        if isinstance(exc, SyntaxError | ImportError | AttributeError | NameError):
            failure = TargetImportError(
                f"could not import {display_path(module_id)}: {type(exc).__name__}: {exc}"
            )
            failure.__cause__ = exc
        _failed[full] = failure
        raise failure from None
    except BaseException as exc:  # a timeout while importing, say
        _failed[full] = exc
        raise
    finally:
        sys.dont_write_bytecode = writes


class _LazyModule:
    """Stands for a target module; imports it on first attribute access."""

    def __init__(self, module_id: str):
        self._module_id = module_id

    def __getattr__(self, name: str):
        if name.startswith("_"):  # pytest's collection probes objects (`__test__`, ...):
            raise AttributeError(name)  # that must never import learner code
        module = load(self._module_id)
        try:
            return getattr(module, name)
        except AttributeError:
            raise AttributeError(
                f"{display_path(self._module_id)} has no {name!r}: keep the stub's names"
            ) from None

    def __repr__(self) -> str:
        return f"<target module {self._module_id}>"


def target_module(module_id: str):
    """The target tree's module `module_id` ("sprint1.tensors"), imported when first used."""
    return _LazyModule(module_id)
