"""One test from "start" to "result", and the end of the session.

A wrapper around pytest's own run protocol: pytest sets up, calls, tears down and logs
the test as always; around it this module

* sends "start" to the parent;
* first runs the known variants, under --kata-variants (grader.plugin.diagnosis);
* runs the test under its time limit (grader.plugin.escapes.TimeLimit), and after a
  timeout lets no other test of that kata run (its setup says so instead);
* makes one status and message of the phases' reports (grader.plugin.outcomes), adds
  what the known mistakes say about a kata's first failure, and sends "result", with
  the names of any threads learner code left running (should the process die later,
  the parent can say what may have ended it).

At the end of the session the variants' outcomes are written and "done" is sent.
"""

from __future__ import annotations

import threading

import pytest

from grader.layout import Status, cap
from grader.plugin import diagnosis
from grader.plugin.collection import kata_id, time_limit
from grader.plugin.escapes import TimeLimit
from grader.plugin.outcomes import needs_another_kata, summarize
from grader.plugin.state import STATE


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    state = item.config.stash[STATE]
    kid = kata_id(item)
    if not state.threads:  # before the first test: no learner code has run yet
        state.threads = {t.ident for t in threading.enumerate()}
    state.emit(e="start", id=item.nodeid)
    if state.variants_out is not None and kid is not None and kid not in state.timed_out:
        diagnosis.run_variants(item, nextitem, kid)
    state.reports[item.nodeid] = []  # from here on, the real run's
    with TimeLimit(time_limit(item)):
        result = yield
    reports = state.reports.pop(item.nodeid, [])
    status, message = summarize(reports)
    if status == Status.TIMEOUT and kid:
        state.timed_out.add(kid)
    first_failure = kid is not None and kid not in state.diagnosed
    if status in (Status.FAILED, Status.ERROR) and first_failure and state.diagnose:
        state.diagnosed.add(kid)
        said = (
            "" if needs_another_kata(reports) else diagnosis.diagnose(item, nextitem, kid, message)
        )
        state.reports.pop(item.nodeid, None)  # the re-runs' reports
        if said.startswith("This is exactly"):
            message = diagnosis.without_common_cause(message)
        if said:
            message = cap(f"{message}\n\n{said}")
    left = [t.name for t in threading.enumerate() if t.ident not in state.threads]
    extra = {"threads": left} if left else {}
    state.emit(e="result", id=item.nodeid, kata=kid, status=status, message=message, **extra)
    return result


def pytest_sessionfinish(session, exitstatus):
    diagnosis.write_variants(session.config)
    session.config.stash[STATE].emit(e="done")
