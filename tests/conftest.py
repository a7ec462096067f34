"""Tells tests/kata_helpers.py which kata the running test grades (for `kata_call`), and
defers the modules that graded code never needs but would import (grader.deferred):
torchvision's models and ops, and the symbolic shapes that pull in sympy.

Nothing is imported here that loads torch: the grader's plugin sets OMP_NUM_THREADS when
pytest configures, which only takes effect while torch is not loaded yet, and pytest loads
this file before that. tests/kata_helpers.py (which loads torch) is imported once tests run.
"""

import pytest

from grader import deferred
from grader.plugin.collection import kata_id

deferred.install((*deferred.DEFERRED, deferred.SYMBOLIC_SHAPES))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    from tests import kata_helpers

    kata_helpers.enter_kata(kata_id(item))  # as the grader's plugin reads it


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item):
    from tests import kata_helpers

    kata_helpers.enter_kata(None)


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist, which grading never loads
def pytest_xdist_make_scheduler(config, log):
    """Under --dist loadgroup, the scheduler of tests/scheduling.py."""
    if config.getoption("dist") == "loadgroup":
        from tests.scheduling import SharedModulesTogether

        return SharedModulesTogether(config, log)
    return None
