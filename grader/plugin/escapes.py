"""The ways out of a test that learner code may take, and what the grader makes of them.

* `TimeLimit` (used around the whole test by grader.plugin.protocol) raises
  `KataTimeout` when the test runs past its limit: a BaseException, so that learner
  code's `except Exception` cannot swallow it;
* `sys.exit`, `KeyboardInterrupt`, `pytest.exit`, and a `pytest.skip`/`fail`/`xfail`
  raised through the graded tree would end the run or skip the test: `escape` gives the
  `LearnerEscape` to raise instead, an ordinary error of that test. (The tests' own
  `pytest.skip`, for hardware this machine lacks, stays a skip.)
"""

from __future__ import annotations

import signal
import threading

import pytest

from grader import target


class KataTimeout(BaseException):
    """Raised inside a test that ran past its time limit (not an Exception, so that
    `except Exception` in learner code cannot swallow it)."""


class NotRunAfterTimeout(KataTimeout):
    """Raised at the setup of a test whose kata has timed out already: it is not run."""


class LearnerEscape(Exception):
    """Learner code tried to end the process, interrupt it, or skip its own test."""


class TimeLimit:
    """A SIGALRM time limit for the current test, where the platform has one; 0 is none."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.usable = (
            seconds > 0
            and hasattr(signal, "setitimer")
            and threading.current_thread() is threading.main_thread()
        )

    def _fire(self, signum, frame):
        raise KataTimeout(f"ran past the time limit of {self.seconds:g} s")

    def __enter__(self):
        if self.usable:
            self.previous = signal.signal(signal.SIGALRM, self._fire)
            signal.setitimer(signal.ITIMER_REAL, self.seconds)
        return self

    def __exit__(self, *exc):
        if self.usable:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.previous)
        return False


def _from_target(exc: BaseException) -> bool:
    """Whether a traceback passes through the target tree (learner or reference code)."""
    tb = exc.__traceback__
    folder = str(target.target_root() / target.target_name())
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.startswith(folder):
            return True
        tb = tb.tb_next
    return False


def escape(exc: BaseException, kid: str, where: str) -> LearnerEscape | None:
    """The error to report instead of an exception that would end or skip the run."""
    if isinstance(exc, SystemExit):
        what = f"called sys.exit({exc.code!r})"
    elif isinstance(exc, KeyboardInterrupt):
        what = "raised KeyboardInterrupt"
    elif isinstance(exc, pytest.exit.Exception):
        what = "called pytest.exit()"
    elif isinstance(exc, pytest.skip.Exception | pytest.fail.Exception) and _from_target(exc):
        # pytest.xfail's exception is a kind of pytest.fail's
        what = (
            f"called pytest.{'skip' if isinstance(exc, pytest.skip.Exception) else 'fail/xfail'}()"
        )
    else:
        return None
    return LearnerEscape(
        f"{kid}: the code {what} {where}; a kata must return or raise an ordinary exception"
    )
