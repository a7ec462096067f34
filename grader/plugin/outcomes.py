"""A test's status and message, from the reports of its phases (setup, call, teardown).

Each report gets `kata_status` and `kata_message` (`classify`: what its exception
means for a learner) and `kata_needs` (another kata whose stub it ran into), and is kept
in the session's `reports` under its test's id, where grader.plugin.protocol takes the
real run's from; `summarize` makes one status and message of them.

A graded test is skipped only by its marks (`needs_cuda`, evaluated by pytest before the
test starts): any other skip or xfail, raised while a fixture ran learner code, say, is
an escape (grader.plugin.escapes), reported as an error. Learner exceptions are shown
with `safe_str`: one whose `__str__` raises is told, not an internal error.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from grader import target
from grader.layout import Status, cap
from grader.plugin.collection import kata_id
from grader.plugin.escapes import (
    KataTimeout,
    LearnerEscape,
    NotRunAfterTimeout,
    escape,
    safe_str,
)
from grader.plugin.state import STATE


@pytest.hookimpl(wrapper=True, tryfirst=True)  # outermost: after pytest's own xfail handling
def pytest_runtest_makereport(item, call):
    report = yield
    kid = kata_id(item)
    if kid is not None and report.skipped and not _skipped_by_mark(item, call):
        status, report.kata_message = Status.ERROR, _skip_escape(kid, call)
        report.outcome, report.longrepr = "failed", report.kata_message
        if hasattr(report, "wasxfail"):
            del report.wasxfail
    else:
        status, report.kata_message = classify(kid, call.excinfo)
    report.kata_status = status.value  # a plain str: reports may be serialized (xdist)
    report.kata_needs = needed_kata(kid, call.excinfo)
    item.config.stash[STATE].reports.setdefault(item.nodeid, []).append(report)
    return report


def _skip_escape(kid: str, call) -> str:
    where = {"setup": "while the test was set up", "call": "during the test"}.get(
        call.when, f"in the test's {call.when}"
    )
    found = escape(call.excinfo.value, kid, where) if call.excinfo is not None else None
    return str(found or f"{kid}: the test was skipped {where}; only the grader skips a test")


def _skipped_by_mark(item, call) -> bool:
    """Whether a skip is the graded test's own: pytest applies a `skip` or `skipif` mark in
    setup, before any fixture or learner code runs. (Conditions are evaluated when the
    test module is imported; a graded test's are booleans, never strings.)"""
    if call.when != "setup" or call.excinfo is None:
        return False
    if not isinstance(call.excinfo.value, pytest.skip.Exception):
        return False
    if any(item.iter_markers("skip")):
        return True
    return any(
        any(isinstance(c, bool) and c for c in (*m.args, m.kwargs.get("condition", False)))
        for m in item.iter_markers("skipif")
    )


def needed_kata(kid: str | None, excinfo) -> str:
    """The id of another kata whose stub this test ran into, or ""."""
    exc = excinfo.value if excinfo is not None else None
    if isinstance(exc, NotImplementedError) and exc.args:
        raised_for = safe_str(exc.args[0])
        if raised_for != kid and raised_for.startswith("sprint"):
            return raised_for
    return ""


def classify(kid: str | None, excinfo) -> tuple[Status, str]:
    """(status, message) for one phase of one test."""
    if excinfo is None:
        return Status.PASSED, ""
    exc = excinfo.value
    if isinstance(exc, NotRunAfterTimeout):
        return Status.TIMEOUT, str(exc)
    if isinstance(exc, KataTimeout) or isinstance(exc.__cause__, KataTimeout):
        return Status.TIMEOUT, f"{kid or 'the test'} {exc}"
    if isinstance(exc, NotImplementedError) and exc.args:
        raised_for = safe_str(exc.args[0])
        if raised_for == kid:
            return Status.NOT_STARTED, (
                f"{kid} still raises NotImplementedError: write it in "
                f"{target.display_path(kid.rsplit('.', 1)[0])}"
            )
        if raised_for.startswith("sprint"):
            return Status.ERROR, (
                f"{kid} needs {raised_for}, which is not done yet (it still raises "
                "NotImplementedError): do that kata first"
            )
    if isinstance(exc, AssertionError):
        return Status.FAILED, cap(safe_str(exc) or "assertion failed")
    if isinstance(exc, LearnerEscape):
        return Status.ERROR, cap(str(exc))
    where = _learner_frame(excinfo)
    return Status.ERROR, cap(f"{type(exc).__name__}: {safe_str(exc)}{where}")


def _learner_frame(excinfo) -> str:
    """'  (at exercises/sprint1/tensors.py:12 in split_heads)' for the deepest target frame."""
    root = str(target.target_root())
    folder = str(target.target_root() / target.target_name())
    last = None
    for entry in excinfo.traceback:
        if str(entry.path).startswith(folder):
            last = entry
    if last is None:
        return ""
    try:
        shown = Path(str(last.path)).relative_to(root)
    except ValueError:
        shown = last.path
    return f"\n  at {shown}:{last.lineno + 1} in {last.name}"


def needs_another_kata(reports) -> bool:
    """Whether the test failed on a kata it builds on that still raises NotImplementedError:
    every variant fails the same way then, so none of them explains anything."""
    return any(getattr(r, "kata_needs", "") for r in reports)


def summarize(reports) -> tuple[Status, str]:
    """The status and message of a test from the reports of its phases."""
    for report in reports:
        status = Status(getattr(report, "kata_status", "passed" if report.passed else "error"))
        if report.skipped and status != Status.TIMEOUT:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else ""
            return Status.SKIPPED, str(reason).removeprefix("Skipped: ")
        if status != Status.PASSED:
            return status, getattr(report, "kata_message", "") or str(report.longrepr)
    return Status.PASSED, ""
