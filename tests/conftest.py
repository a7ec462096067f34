"""Tells tests/kata_helpers.py which kata the running test grades (for `kata_call`).

Nothing is imported here that loads torch: the grader's plugin sets OMP_NUM_THREADS when
pytest configures, which only takes effect while torch is not loaded yet, and pytest loads
this file before that. tests/kata_helpers.py (which loads torch) is imported once tests run.
"""

from pathlib import Path

import pytest

from grader import catalog


def _kata_id(item) -> str | None:
    """sprint1.tensors.split_heads for a test of tests/sprint1/test_tensors.py marked
    @kata("split_heads"), the way the grader's plugin reads it; None for other tests."""
    module_id = catalog.module_id_for_test_file(Path(item.path))
    mark = item.get_closest_marker("kata")
    if module_id is None or mark is None or not mark.args:
        return None
    return f"{module_id}.{mark.args[0]}"


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    from tests import kata_helpers

    kata_helpers.enter_kata(_kata_id(item))


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item):
    from tests import kata_helpers

    kata_helpers.enter_kata(None)
