"""`nox -s tests` keeps the tests of a module with a module-scoped fixture on one xdist
worker (tests/scheduling.py), and hands out every other test on its own."""

import pytest

xdist = pytest.importorskip("xdist")

from tests.scheduling import SharedModulesTogether, shares_a_module_fixture  # noqa: E402


def scope(nodeid: str) -> str:
    scheduler = object.__new__(SharedModulesTogether)  # _split_scope reads no state
    return scheduler._split_scope(nodeid)


def test_a_module_with_a_module_scoped_fixture_goes_to_one_worker():
    assert shares_a_module_fixture("tests/harness/test_robustness.py")
    assert shares_a_module_fixture("tests/harness/test_watch.py")
    for test in ("test_sys_exit", "test_keyboard_interrupt"):
        assert scope(f"tests/harness/test_robustness.py::{test}") == (
            "tests/harness/test_robustness.py"
        )


def test_every_other_test_goes_on_its_own():
    assert not shares_a_module_fixture("tests/harness/test_cli.py")
    assert not shares_a_module_fixture("tests/harness/test_variants.py")  # session scope
    for nodeid in (
        "tests/harness/test_cli.py::test_bad_usage_exit_code",
        "tests/sprint1/test_tensors.py::TestSplitHeads::test_shape[2]",
        "tests/harness/test_variants.py::test_alternative_passes[sprint1.x.y:alternative:z]",
    ):
        assert scope(nodeid) == nodeid


def test_an_xdist_group_still_joins_its_tests():
    assert scope("tests/harness/test_cli.py::test_a@mine") == "mine"
    assert scope("tests/harness/test_robustness.py::test_sys_exit@mine") == "mine"
