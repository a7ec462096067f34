"""Keep one test's learner code from touching the next: its phases, and global settings.

A session that grades (every test it runs is a kata's) first pins the target, reads the
katas' contracts and installs grader.audit's hook, before any learner code runs
(grader.plugin.settings.guard_grading). A grading child starts with the garbage collector
off (grader.child): here, before any learner code, what was imported is frozen and the
collector turned back on.

Around each graded test:
* setup imports the kata's module (a failure there is that test's error) and puts every
  global setting a kata might touch back to its canonical value; teardown does it again
  (grader.plugin.settings.reset_globals: torch's settings and seeds, and in a session
  that grades the import system and the namespaces the checks rely on);
* the call runs with the kata's forbidden calls guarded (grader.guard), and fails when
  it leaves the default dtype or grad mode changed;
* in setup and call, an escape (`sys.exit`, `KeyboardInterrupt`, ...) becomes an ordinary
  error (grader.plugin.escapes); after a timeout, setup lets no other test of the kata
  run.
"""

from __future__ import annotations

import gc
import os
import sys

import pytest

from grader import deferred, target
from grader.plugin import settings
from grader.plugin.collection import forbidden, kata_id
from grader.plugin.escapes import KataTimeout, LearnerEscape, NotRunAfterTimeout, escape
from grader.plugin.state import STATE


def pytest_collection_finish(session):
    if not gc.isenabled():  # held off by grader.child while torch and the tests imported
        gc.freeze()  # what they made lives as long as the process: no collection walks it
        gc.enable()  # learner code runs with the collector on, as anywhere else
    state = session.config.stash[STATE]
    torch = sys.modules.get("torch")
    if torch is not None:  # before any learner code has run
        deferred.skip_optimizer_dynamo_import()
        state.baseline = {
            "threads": torch.get_num_threads(),
            "cwd": os.getcwd(),
            "recursion": sys.getrecursionlimit(),
        }
    if session.items and all(kata_id(item) is not None for item in session.items):
        settings.guard_grading(state, {kata_id(item).rsplit(".", 1)[0] for item in session.items})


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
    settings.reset_globals(state)


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
        settings.check_globals_untouched(kid)
    return result


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_teardown(item, nextitem):
    try:
        return (yield)
    finally:
        kid = kata_id(item)
        last = kid is None or nextitem is None or kata_id(nextitem) != kid
        settings.reset_globals(item.config.stash[STATE], namespaces=last)
