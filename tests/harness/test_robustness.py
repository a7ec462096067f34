"""Learner code that hangs, exits, interrupts, skips, floods or breaks globals costs only
its own kata: every other kata keeps its true status and the report is complete.

Each test plants one bad thing in a copy of the reference and grades all of Sprint 1.
"""

import pytest

from grader import catalog
from tests.harness.conftest import statuses

SPRINT1 = [k.id for k in catalog.katas("sprint1")]
SPLIT = "sprint1.tensors.split_heads"
SPLIT_BODY = "    B, T, C = x.shape  # batch, time, channels\n    if n_heads <= 0"
# A loop that the SIGALRM timeout cannot stop: only the parent's kill ends it.
STUBBORN_LOOP = (
    "while True:\n        try:\n            sum(range(10**6))\n"
    "        except BaseException:\n            pass"
)
TENSORS = [k for k in SPRINT1 if k.startswith("sprint1.tensors.")]


def planted_in_split_heads(planted, code: str) -> dict:
    planted.replace("sprint1.tensors", SPLIT_BODY, f"    {code}\n{SPLIT_BODY}")
    return planted.grade("sprint1")


def assert_only(report: dict, broken: dict[str, str]) -> None:
    """Every kata of Sprint 1 is in the report; `broken` ones have their status, others pass."""
    got = statuses(report)
    assert list(got) == SPRINT1, "the report must list every kata, in order"
    want = {k: broken.get(k, "passed") for k in SPRINT1}
    assert got == want, {k: (got[k], want[k]) for k in SPRINT1 if got[k] != want[k]}
    assert report["score"] == {"passed": len(SPRINT1) - len(broken), "total": len(SPRINT1)}


def message(report: dict, kata: str) -> str:
    return next(k["message"] for k in report["katas"] if k["id"] == kata)


def test_infinite_loop_is_a_timeout(planted):
    report = planted_in_split_heads(planted, "while True: pass")
    assert_only(report, {SPLIT: "timeout"})
    assert "time limit" in message(report, SPLIT)


def test_loop_that_swallows_the_alarm_is_killed_and_grading_goes_on(planted):
    report = planted_in_split_heads(planted, STUBBORN_LOOP)
    assert_only(report, {SPLIT: "timeout"})


def test_sys_exit(planted):
    report = planted_in_split_heads(planted, "import sys; sys.exit(0)")
    assert_only(report, {SPLIT: "error"})
    assert "sys.exit(0)" in message(report, SPLIT)


def test_os_exit_kills_the_process_and_a_new_one_grades_the_rest(planted):
    report = planted_in_split_heads(planted, "import os; os._exit(1)")
    assert_only(report, {SPLIT: "error"})
    assert "exited with code 1" in message(report, SPLIT)


def test_keyboard_interrupt(planted):
    report = planted_in_split_heads(planted, "raise KeyboardInterrupt")
    assert_only(report, {SPLIT: "error"})
    assert "KeyboardInterrupt" in message(report, SPLIT)


def test_pytest_skip_is_not_a_pass(planted):
    report = planted_in_split_heads(planted, "import pytest; pytest.skip('later')")
    assert_only(report, {SPLIT: "error"})
    assert "pytest.skip" in message(report, SPLIT)


def test_pytest_xfail_is_not_an_expected_failure(planted):
    report = planted_in_split_heads(planted, "import pytest; pytest.xfail('hard')")
    assert_only(report, {SPLIT: "error"})
    assert "pytest.fail/xfail()" in message(report, SPLIT)


def test_pytest_exit(planted):
    report = planted_in_split_heads(planted, "import pytest; pytest.exit('bye')")
    assert_only(report, {SPLIT: "error"})


def test_fifty_megabytes_of_stdout(planted):
    code = "import sys; [sys.stdout.write('x' * 1_000_000 + '\\n') for _ in range(50)]"
    report = planted_in_split_heads(planted, code)
    assert_only(report, {})  # printing is allowed; the kata is still right
    assert len(report["stdout"]) < 20_000


def test_default_dtype_changed_at_import(planted):
    planted.prepend("sprint1.tensors", "import torch\ntorch.set_default_dtype(torch.float64)")
    assert_only(planted.grade("sprint1"), {})


def test_default_dtype_left_changed_by_a_kata(planted):
    report = planted_in_split_heads(planted, "torch.set_default_dtype(torch.float64)")
    assert_only(report, {SPLIT: "failed"})
    assert "default dtype" in message(report, SPLIT)


def test_grad_mode_seed_and_threads_left_changed(planted):
    code = "torch.set_grad_enabled(False); torch.manual_seed(123); torch.set_num_threads(1)"
    report = planted_in_split_heads(planted, code)
    assert_only(report, {SPLIT: "failed"})
    assert "gradient recording" in message(report, SPLIT)


def test_syntax_error_costs_its_module_only(planted):
    planted.replace("sprint1.tensors", "def split_heads(", "def split_heads(((")
    report = planted.grade("sprint1")
    assert_only(report, dict.fromkeys(TENSORS, "error"))
    assert "SyntaxError" in message(report, SPLIT)


def test_sys_exit_at_import_costs_its_module_only(planted):
    planted.prepend("sprint1.tensors", "import sys\nsys.exit(3)")
    report = planted.grade("sprint1")
    assert_only(report, dict.fromkeys(TENSORS, "error"))
    assert "sys.exit(3)" in message(report, SPLIT)


def test_endless_import_costs_its_module_only(planted):
    planted.prepend("sprint1.tensors", "while True:\n    pass")
    report = planted.grade("sprint1")
    assert_only(report, dict.fromkeys(TENSORS, "timeout"))


def test_importing_the_solutions_is_refused(planted):
    planted.prepend("sprint1.tensors", "from solutions.sprint1.tensors import arange_grid")
    report = planted.grade("sprint1")
    assert_only(report, dict.fromkeys(TENSORS, "error"))
    assert "may not import the reference solutions" in message(report, SPLIT)


def test_a_known_mistake_is_named(planted):
    planted.replace(
        "sprint1.tensors",
        "return x.view(B, T, n_heads, C // n_heads).transpose(1, 2)  # (B, nh, T, hs)",
        "return x.view(B, n_heads, T, C // n_heads)",
    )
    report = planted.grade("sprint1.tensors")
    assert statuses(report)[SPLIT] == "failed"
    assert "known mistake gives: views straight to (B, nh, T, hs)" in message(report, SPLIT)


@pytest.mark.parametrize("code", ["raise ValueError('boom')", "return None"])
def test_error_and_failure_are_told_apart(planted, code):
    report = planted_in_split_heads(planted, code)
    want = "error" if "raise" in code else "failed"
    assert_only(report, {SPLIT: want})


def test_killing_the_grader_takes_its_stuck_child_with_it(planted):
    """A grader killed from outside (Ctrl-C, a CI timeout, SIGKILL) leaves no test process
    running: the child dies with its parent."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from grader.catalog import ROOT

    planted.replace("sprint1.tensors", SPLIT_BODY, f"    {STUBBORN_LOOP}\n{SPLIT_BODY}")
    env = dict(os.environ, KATA_ROOT=str(planted.root))
    env.pop("KATA_TARGET", None)
    for how in (signal.SIGTERM, signal.SIGKILL):
        parent = subprocess.Popen(
            [sys.executable, "-m", "grader", "sprint1.tensors.split_heads", "--timeout", "60"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        children = []
        for _ in range(300):  # wait until the child is running the planted loop
            time.sleep(0.1)
            out = subprocess.run(
                ["pgrep", "-P", str(parent.pid)], capture_output=True, text=True
            ).stdout.split()
            if out:
                children = [int(pid) for pid in out]
                break
        assert children, "the grader never started a child"
        time.sleep(3)
        parent.send_signal(how)
        parent.wait(timeout=30)
        time.sleep(1)
        alive = [pid for pid in children if _alive(pid)]
        assert not alive, f"after {how.name} the child {alive} still runs"


def _alive(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return True
