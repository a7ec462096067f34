"""Keep one test's learner code from touching the next: its phases, and global settings.

Around each graded test:
* setup imports the kata's module (a failure there is that test's error) and puts every
  global setting a kata might touch back to its canonical value; teardown does it again;
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

import pytest

from grader import target
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


def reset_globals(state: State) -> None:
    """Put every global setting a kata might touch back to its canonical value."""
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
        reset_globals(item.config.stash[STATE])
