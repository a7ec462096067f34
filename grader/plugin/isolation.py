"""Keep one test's learner code from touching the next: its phases, and global settings.

A session that grades (every test it runs is a kata's) first pins the target, reads the
katas' contracts and installs grader.audit's hook, before any learner code runs.

Around each graded test:
* setup imports the kata's module (a failure there is that test's error) and puts every
  global setting a kata might touch back to its canonical value; teardown does it again.
  In a session that grades, that includes the import system (sys.path, sys.meta_path,
  sys.path_hooks) as it was before any learner code ran, no module of the reference
  in sys.modules while exercises/ is graded, and the functions and classes of torch,
  Python's builtins, the tests and the grader: one that learner code replaced
  (`torch.isclose = ...` would make every check pass) is put back, and the test fails;
* the call runs with the kata's forbidden calls guarded (grader.guard), and fails when
  it leaves the default dtype or grad mode changed;
* in setup and call, an escape (`sys.exit`, `KeyboardInterrupt`, ...) becomes an ordinary
  error (grader.plugin.escapes); after a timeout, setup lets no other test of the kata
  run.
"""

from __future__ import annotations

import os
import random
import sys
from operator import is_
from types import FunctionType, ModuleType

import pytest

from grader import layout, target
from grader.plugin.collection import forbidden, kata_id
from grader.plugin.escapes import KataTimeout, LearnerEscape, NotRunAfterTimeout, escape
from grader.plugin.state import STATE, State


class GlobalStateChanged(AssertionError):
    """Learner code left a global torch setting changed."""


# --- global settings ------------------------------------------------------------------


def _skip_dynamo_import(torch) -> None:
    """torch wraps some Optimizer methods (add_param_group, zero_grad, ...) in
    torch._disable_dynamo, whose first call imports torch._dynamo: ~900 modules and about
    3 s, paid by the first optimizer a process builds. Graded tests never compile, so mark
    those wrappers as already resolved (to the plain method); grading Sprint 3 then costs
    little more than importing torch. (The wrapper looks for `__dynamo_disable` on the
    function it wraps and builds the disabled version only when that is missing; a test in
    tests/harness/test_cli.py proves that grading imports no torch._dynamo.)"""
    optim = sys.modules.get("torch.optim")
    if optim is None:
        return
    for attr in vars(optim.Optimizer).values():
        code, inner = getattr(attr, "__code__", None), getattr(attr, "__wrapped__", None)
        if code is not None and inner is not None and code.co_filename.endswith("_compile.py"):
            setattr(inner, "__dynamo_disable", inner)


def pytest_collection_finish(session):
    state = session.config.stash[STATE]
    torch = sys.modules.get("torch")
    if torch is not None:  # before any learner code has run
        _skip_dynamo_import(torch)
        state.baseline = {
            "threads": torch.get_num_threads(),
            "cwd": os.getcwd(),
            "recursion": sys.getrecursionlimit(),
        }
    if session.items and all(kata_id(item) is not None for item in session.items):
        _guard_grading(state, {kata_id(item).rsplit(".", 1)[0] for item in session.items})


def _guard_grading(state: State, module_ids: set[str]) -> None:
    """Before any learner code runs in a session that grades: the target pinned (learner
    code cannot switch it to the reference), the katas' contracts read (they come from
    solutions/, which grader.audit keeps from learner code), the audit hook installed,
    and the import system's state kept, to be put back before every test."""
    from grader import audit

    name, root = target.pin()
    for module_id in sorted(module_ids):
        target.contract(module_id)
    audit.install(name, root / name, layout.ROOT)
    state.baseline["imports"] = {
        attr: (getattr(sys, attr), list(getattr(sys, attr)))
        for attr in ("path", "meta_path", "path_hooks")
    }
    state.baseline["refuse_reference"] = name == "exercises"
    state.baseline["modules"] = -1  # how many there were when sys.modules was last checked
    state.baseline["namespaces"] = [_Namespace(owner) for owner in _relied_on()]


def _relied_on() -> list:
    """The modules and classes whose functions the checks and the tests call: replacing
    one (torch.isclose, torch.Tensor.__ne__, builtins.abs, a test's oracle, grader.checks.
    fail) would change what every comparison says."""
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


class _Namespace:
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
        put back as it was; "" when there is none. Fast when nothing changed (~30 ns a
        name): a module may gain names (importing a submodule adds one)."""
        space = vars(self.owner)
        added = isinstance(self.owner, type) and len(space) != len(self.keys)
        if not added and all(map(is_, map(space.get, self.keys), self.values)):
            return ""
        changed = ""
        for key in [k for k in space if k not in self.keys] if added else ():
            if self._theirs(space[key]):
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


def _put_back_namespaces(state: State) -> str:
    """The first function or class of _relied_on() that learner code replaced (each is
    put back), or ""."""
    changed = ""
    for namespace in state.baseline["namespaces"]:
        found = namespace.put_back()  # every one of them, whatever came before
        changed = changed or found
    return changed


def _restore_imports(state: State) -> None:
    """sys.path, sys.meta_path and sys.path_hooks as they were before any learner code
    ran (compared by identity: an entry's own == could say anything), and while
    exercises/ is graded no module of the reference in sys.modules (where it would be
    found without asking the import guard; grader.audit keeps its source from being read,
    so this is a second line)."""
    base = state.baseline
    for attr, (kept, items) in base["imports"].items():
        if getattr(sys, attr) is not kept:
            setattr(sys, attr, kept)
        if len(kept) != len(items) or any(a is not b for a, b in zip(kept, items, strict=True)):
            kept[:] = items
    if base["refuse_reference"] and len(sys.modules) != base["modules"]:  # a scan costs 0.2 ms
        for name in [m for m in sys.modules if str(m).partition(".")[0] == "solutions"]:
            del sys.modules[name]
        base["modules"] = len(sys.modules)


def reset_globals(state: State, after_test: bool = False) -> None:
    """Put every global setting a kata might touch back to its canonical value. After a
    test (its teardown), also raise GlobalStateChanged, once everything is put back, if
    learner code replaced one of the functions the checks rely on: an import that does
    so is caught after the first test of its module, whose checks ran under it."""
    replaced = ""
    if "imports" in state.baseline:
        if after_test:  # ~0.1 ms: once a test is enough
            replaced = _put_back_namespaces(state)
        _restore_imports(state)
    random.seed(0)
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed(0)
    torch = sys.modules.get("torch")
    if torch is None:
        return
    torch.set_default_dtype(torch.float32)
    torch.set_default_device(None)
    torch.set_grad_enabled(True)
    torch.autograd.set_detect_anomaly(False)
    if torch.are_deterministic_algorithms_enabled():  # the setter costs ~2 s on first use
        torch.use_deterministic_algorithms(False)
    _seed_torch(torch)
    base = state.baseline
    if base:
        if torch.get_num_threads() != base["threads"]:
            torch.set_num_threads(base["threads"])
        if os.getcwd() != base["cwd"]:
            os.chdir(base["cwd"])
        sys.setrecursionlimit(base["recursion"])
    if replaced:
        raise GlobalStateChanged(
            f"the code replaced {replaced}, which the checks and the tests rely on: a kata "
            "may not change torch, Python's builtins, the tests or the grader (it is put back)"
        )


def _seed_torch(torch) -> None:
    """torch.manual_seed(0), at a fraction of its cost after the first time.

    Where CUDA has not started, torch.manual_seed queues the seeding of each device kind
    (CUDA, XPU, MTIA) for later, formatting the stack each time: ~1.5 ms under pytest's
    deep stack, half a second of Sprint 3's grading. Queued once, seed 0 is what CUDA gets
    when it starts; after that only the CPU generator needs seeding, unless CUDA runs
    already or learner code queued a seed of its own since (torch keeps only the latest
    queued seed, in `_lazy_seed_tracker`; without it, every call is the full one)."""
    tracker = getattr(torch.cuda, "_lazy_seed_tracker", None)
    same = tracker is not None and _same_calls(tracker.get_calls(), _queued_seeds)
    if not same or torch.cuda.is_initialized():
        torch.manual_seed(0)
        if tracker is not None:
            _queued_seeds[:] = tracker.get_calls()
    else:
        torch.default_generator.manual_seed(0)


_queued_seeds: list = [object()]  # CUDA's queued seeds after our last full seeding (none yet)


def _same_calls(calls: list, kept: list) -> bool:
    """The very same objects (held here, so no id can be reused by a newer call)."""
    return len(calls) == len(kept) and all(a is b for a, b in zip(calls, kept))


def _check_globals_untouched(kid: str) -> None:
    torch = sys.modules.get("torch")
    if torch is None:
        return
    if torch.get_default_dtype() != torch.float32:
        raise GlobalStateChanged(
            f"{kid} left the default dtype set to {torch.get_default_dtype()}: a kata must not "
            "change global settings (torch.set_default_dtype); pass dtype= where you need one"
        )
    if not torch.is_grad_enabled():
        raise GlobalStateChanged(
            f"{kid} left gradient recording switched off: use `with torch.no_grad():` "
            "so that it is switched back on when the block ends"
        )


# --- the phases of a test ---------------------------------------------------------------


# Not tryfirst: pytest's own skipping hook (tryfirst) runs first, so that a test skipped
# for hardware this machine lacks imports nothing and is counted as skipped even when its
# module cannot be imported. pluggy calls the hook of a plugin registered later first, so
# this one still runs before pytest's runner sets up the test's fixtures.
@pytest.hookimpl
def pytest_runtest_setup(item):
    kid = kata_id(item)
    state = item.config.stash[STATE]
    if kid is not None:
        if kid in state.timed_out:  # before any fixture: its teardown has nothing to undo
            raise NotRunAfterTimeout(f"{kid}: not run, an earlier test of this kata timed out")
        module_id = kid.rsplit(".", 1)[0]
        broken = state.broken_imports.get(module_id)
        if broken is not None:  # an earlier child was stopped while importing it
            status, message = broken
            raise (NotRunAfterTimeout if status == "timeout" else LearnerEscape)(
                f"{kid}: {message}"
            )
        first = module_id not in state.imports
        if first:  # the parent then knows whose import a kill or a crash cut short
            state.imports.add(module_id)
            state.emit(e="import", module=module_id)
        try:
            target.load(module_id)
        except KataTimeout:
            raise
        except BaseException as exc:
            found = escape(exc, kid, f"while {target.display_path(module_id)} was imported")
            if found is not None:
                raise found from None
            raise
        finally:
            if first:
                state.emit(e="imported", module=module_id)
    reset_globals(state)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_call(item):
    kid = kata_id(item)
    names = forbidden(item)
    guard = None
    if names:
        from grader.guard import Forbid  # imports torch: only for the katas that need it

        guard = Forbid(names, kid, floor=sys._getframe(1))  # pluggy's: the test runs above
        guard.__enter__()
    try:
        result = yield
    except KataTimeout:
        raise
    except BaseException as exc:
        found = escape(exc, kid, "during the test") if kid else None
        if found is not None:
            raise found from None
        raise
    finally:
        if guard is not None:
            guard.__exit__(None, None, None)
    if guard is not None:
        guard.check()
    if kid is not None:
        _check_globals_untouched(kid)
    return result


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_teardown(item, nextitem):
    try:
        return (yield)
    finally:
        reset_globals(item.config.stash[STATE], after_test=True)
