"""The ways out of a test that learner code may take, and what the grader makes of them.

* `TimeLimit` (used around the whole test by grader.plugin.protocol) raises
  `KataTimeout` when the test runs past its limit: a BaseException, so that learner
  code's `except Exception` cannot swallow it;
* `sys.exit`, `KeyboardInterrupt`, `pytest.exit`, `pytest.skip`, `pytest.fail` and
  `pytest.xfail` would end the run, or skip the test or excuse its failure: `escape`
  gives the `LearnerEscape` to raise instead, an ordinary error of that test. Wherever
  they come from: the graded tests never call them (they fail with AssertionError, see
  grader.checks.fail, and skip only by a mark, `needs_cuda` say, which pytest applies
  before the test starts), so during a kata's test they can only be the code's.
  (grader.plugin.outcomes refuses any other skip of a graded test, in setup too.)

`safe_str` shows an exception or a value whose `__str__` raises, for the messages.
"""

from __future__ import annotations

import signal
import threading

import pytest


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


def escape(exc: BaseException, kid: str, where: str) -> LearnerEscape | None:
    """The error to report instead of an exception that would end or skip the run."""
    if isinstance(exc, SystemExit):
        what = f"called sys.exit({safe_str(exc.code, repr)})"
    elif isinstance(exc, KeyboardInterrupt):
        what = "raised KeyboardInterrupt"
    elif isinstance(exc, pytest.exit.Exception):
        what = "called pytest.exit()"
    elif isinstance(exc, pytest.skip.Exception):
        what = "called pytest.skip()"
    elif isinstance(exc, pytest.fail.Exception):  # pytest.xfail's exception is a kind of it
        what = "called pytest.fail/xfail()"
    else:
        return None
    return LearnerEscape(
        f"{kid}: the code {what} {where}; a kata must return or raise an ordinary exception"
    )


def safe_str(value, show=str) -> str:
    """show(value) (str or repr) as a plain str; where that raises or gives something else,
    the type's name and why its text cannot be shown."""
    try:
        text = show(value)
        if type(text) is not str:  # a str subclass could answer anything, == included
            text = str.__str__(text) if isinstance(text, str) else None
        if text is not None:
            return text
        problem = f"{show.__name__}() gave no str"
    except Exception as exc:
        problem = f"{show.__name__}() raised {type(exc).__name__}"
    return f"{type(value).__name__} (its message could not be shown: {problem})"
