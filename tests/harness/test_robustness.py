"""Learner code that hangs, exits, interrupts, skips, floods or breaks globals costs only
its own kata: every other kata keeps its true status and the report is complete.

A grading run costs a torch import or more, so the faults share runs: each run plants
several faults, every one in a kata (or, for faults at import, a module) of its own, and
grades all of Sprint 1 once; each test then checks its fault's kata, and the whole report
against what every kata should get. A run is made once per pytest process (module scope).
"""

import pytest

from grader import catalog
from tests.harness.conftest import Planted, alive, statuses

SPRINT1 = [k.id for k in catalog.katas("sprint1")]
SPLIT = "sprint1.tensors.split_heads"
LIMIT = 2.0  # seconds per test in these runs: each hang costs it (Sprint 1's slowest
# test takes ~0.25 s), and one that swallows the alarm costs it and the grace after it
# A loop that the SIGALRM timeout cannot stop: only the parent's kill ends it.
STUBBORN_LOOP = (
    "while True:\n        try:\n            sum(range(10**6))\n"
    "        except BaseException:\n            pass"
)
TENSORS = [k for k in SPRINT1 if k.startswith("sprint1.tensors.")]
AUTOGRAD = [k for k in SPRINT1 if k.startswith("sprint1.autograd.")]
FIRST_NETWORK = [k for k in SPRINT1 if k.startswith("sprint1.first_network.")]
# Learner code runs with the garbage collector on, as anywhere else; what torch and the
# tests made at import is frozen (grader.child holds the collector off until then).
GARBAGE_COLLECTED = (
    "import gc\n"
    "if not gc.isenabled() or gc.get_freeze_count() < 100_000:\n"
    "    raise RuntimeError(f'collector on: {gc.isenabled()}, frozen: {gc.get_freeze_count()}')"
)

# kata → (code run first when it is called, the status it must get)
IN_A_KATA = {
    "sprint1.tensors.arange_grid": ("while True: pass", "timeout"),
    "sprint1.tensors.channels_last": (STUBBORN_LOOP, "timeout"),
    "sprint1.tensors.flatten_batch": ("import sys; sys.exit(0)", "error"),
    "sprint1.tensors.merge_heads": ("raise KeyboardInterrupt", "error"),
    "sprint1.tensors.pairwise_sq_dists": ("import pytest; pytest.skip('later')", "error"),
    "sprint1.tensors.masked_mean": ("import pytest; pytest.xfail('hard')", "error"),
    "sprint1.tensors.gather_rows": ("import pytest; pytest.exit('bye')", "error"),
    "sprint1.tensors.to_device": (  # at its first call only
        "if not globals().get('_flooded'): globals()['_flooded'] = True; import sys; "
        "[sys.stdout.write('x' * 1_000_000 + '\\n') for _ in range(50)]",
        "passed",  # printing is allowed; the kata is still right
    ),
    "sprint1.tensors.pick_device": ("torch.set_default_dtype(torch.float64)", "failed"),
    "sprint1.autograd.derivative": (GARBAGE_COLLECTED, "passed"),
    "sprint1.autograd.gradient": ("raise ValueError('boom')", "error"),
    "sprint1.autograd.mse_grads": ("return None", "failed"),
    "sprint1.autograd.minimize": ("import os; os._exit(1)", "error"),
    "sprint1.first_network.count_params": (
        "torch.set_grad_enabled(False); torch.manual_seed(123); torch.set_num_threads(1)",
        "failed",
    ),
}
# split_heads, in the same run: the known mistake of viewing straight to (B, nh, T, hs)
SPLIT_AS_VIEW = (
    "return x.view(B, T, n_heads, C // n_heads).transpose(1, 2)  # (B, nh, T, hs)",
    "return x.view(B, n_heads, T, C // n_heads)",
)


def graded(tmp_path_factory, plant) -> dict:
    """Sprint 1 graded once with `plant(planted)`'s faults, as a learner's run would be
    (not as a pytest-xdist worker: see tests/harness/conftest.py)."""
    planted = Planted(tmp_path_factory.mktemp("planted"))
    plant(planted)
    with pytest.MonkeyPatch.context() as patch:
        for name in [n for n in __import__("os").environ if n.startswith("PYTEST_XDIST_")]:
            patch.delenv(name)
        return planted.grade("sprint1", timeout=LIMIT)


@pytest.fixture(scope="module")
def faults_in_katas(tmp_path_factory) -> dict:
    def plant(planted):
        for kata, (code, _) in IN_A_KATA.items():
            planted.first(kata, code)
        planted.replace("sprint1.tensors", *SPLIT_AS_VIEW)

    return graded(tmp_path_factory, plant)


@pytest.fixture(scope="module")
def faults_at_import(tmp_path_factory) -> dict:
    def plant(planted):
        planted.replace("sprint1.tensors", "def split_heads(", "def split_heads(((")
        planted.prepend("sprint1.autograd", "import sys\nsys.exit(3)")
        planted.prepend("sprint1.first_network", "while True:\n    pass")

    return graded(tmp_path_factory, plant)


@pytest.fixture(scope="module")
def more_faults_at_import(tmp_path_factory) -> dict:
    def plant(planted):
        planted.prepend("sprint1.tensors", "from solutions.sprint1.tensors import arange_grid")
        planted.prepend("sprint1.autograd", "import torch\ntorch.set_default_dtype(torch.float64)")

    return graded(tmp_path_factory, plant)


def assert_only(report: dict, broken: dict[str, str]) -> None:
    """Every kata of Sprint 1 is in the report; `broken` ones have their status, others pass."""
    got = statuses(report)
    assert list(got) == SPRINT1, "the report must list every kata, in order"
    want = {k: broken.get(k, "passed") for k in SPRINT1}
    assert got == want, {k: (got[k], want[k]) for k in SPRINT1 if got[k] != want[k]}
    passed = sum(status == "passed" for status in want.values())
    assert report["score"] == {"passed": passed, "total": len(SPRINT1)}


def message(report: dict, kata: str) -> str:
    return next(k["message"] for k in report["katas"] if k["id"] == kata)


def check_in_a_kata(report: dict, kata: str, *said: str) -> None:
    """The kata got its status and says each of `said`; every other kata is as planted."""
    broken = {k: status for k, (_, status) in IN_A_KATA.items() if status != "passed"}
    assert_only(report, {**broken, SPLIT: "failed"})
    for text in said:
        assert text in message(report, kata)


def test_infinite_loop_is_a_timeout(faults_in_katas):
    check_in_a_kata(faults_in_katas, "sprint1.tensors.arange_grid", "time limit")


def test_loop_that_swallows_the_alarm_is_killed_and_grading_goes_on(faults_in_katas):
    check_in_a_kata(faults_in_katas, "sprint1.tensors.channels_last", "time limit")


def test_sys_exit(faults_in_katas):
    check_in_a_kata(faults_in_katas, "sprint1.tensors.flatten_batch", "sys.exit(0)")


def test_os_exit_kills_the_process_and_a_new_one_grades_the_rest(faults_in_katas):
    check_in_a_kata(faults_in_katas, "sprint1.autograd.minimize", "exited with code 1")


def test_keyboard_interrupt(faults_in_katas):
    check_in_a_kata(faults_in_katas, "sprint1.tensors.merge_heads", "KeyboardInterrupt")


def test_pytest_skip_is_not_a_pass(faults_in_katas):
    check_in_a_kata(faults_in_katas, "sprint1.tensors.pairwise_sq_dists", "pytest.skip")


def test_pytest_xfail_is_not_an_expected_failure(faults_in_katas):
    check_in_a_kata(faults_in_katas, "sprint1.tensors.masked_mean", "pytest.fail/xfail()")


def test_pytest_exit(faults_in_katas):
    check_in_a_kata(faults_in_katas, "sprint1.tensors.gather_rows", "pytest.exit()")


def test_fifty_megabytes_of_stdout(faults_in_katas):
    check_in_a_kata(faults_in_katas, "sprint1.tensors.to_device")
    assert len(faults_in_katas["stdout"]) < 20_000


def test_default_dtype_left_changed_by_a_kata(faults_in_katas):
    check_in_a_kata(faults_in_katas, "sprint1.tensors.pick_device", "default dtype")


def test_grad_mode_seed_and_threads_left_changed(faults_in_katas):
    check_in_a_kata(faults_in_katas, "sprint1.first_network.count_params", "gradient recording")


def test_learner_code_runs_with_the_garbage_collector_on(faults_in_katas):
    check_in_a_kata(faults_in_katas, "sprint1.autograd.derivative")


def test_error_and_failure_are_told_apart(faults_in_katas):
    check_in_a_kata(faults_in_katas, "sprint1.autograd.gradient", "ValueError: boom")
    check_in_a_kata(faults_in_katas, "sprint1.autograd.mse_grads")  # returned None: failed


def test_a_known_mistake_is_named(faults_in_katas):
    check_in_a_kata(faults_in_katas, SPLIT, "known mistake gives: views straight to (B, nh, T, hs)")


def test_syntax_error_costs_its_module_only(faults_at_import):
    assert_only(
        faults_at_import,
        {**dict.fromkeys(TENSORS + AUTOGRAD, "error"), **dict.fromkeys(FIRST_NETWORK, "timeout")},
    )
    assert "SyntaxError" in message(faults_at_import, SPLIT)


def test_sys_exit_at_import_costs_its_module_only(faults_at_import):
    test_syntax_error_costs_its_module_only(faults_at_import)
    assert "sys.exit(3)" in message(faults_at_import, "sprint1.autograd.gradient")


def test_endless_import_costs_its_module_only(faults_at_import):
    test_syntax_error_costs_its_module_only(faults_at_import)
    assert "time limit" in message(faults_at_import, "sprint1.first_network.init_params")


def test_importing_the_solutions_is_refused(more_faults_at_import):
    assert_only(more_faults_at_import, dict.fromkeys(TENSORS, "error"))
    assert "may not import the reference solutions" in message(more_faults_at_import, SPLIT)


def test_default_dtype_changed_at_import(more_faults_at_import):
    test_importing_the_solutions_is_refused(more_faults_at_import)  # autograd's all pass


def test_killing_the_grader_takes_its_stuck_child_with_it(planted):
    """A grader killed from outside (Ctrl-C, a CI timeout, SIGKILL) leaves no test process
    running: the child dies with its parent."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from grader.catalog import ROOT

    looping = planted.root / "looping"  # the child writes its pid here, then loops
    write_pid = (  # whole or absent: written aside, then renamed
        f"import os; open({str(looping)!r} + '.tmp', 'w').write(str(os.getpid())); "
        f"os.replace({str(looping)!r} + '.tmp', {str(looping)!r})\n"
    )
    planted.first(SPLIT, write_pid + STUBBORN_LOOP)
    env = dict(os.environ, KATA_ROOT=str(planted.root))
    env.pop("KATA_TARGET", None)
    for how in (signal.SIGTERM, signal.SIGKILL):
        looping.unlink(missing_ok=True)
        parent = subprocess.Popen(
            [sys.executable, "-m", "grader", "sprint1.tensors.split_heads", "--timeout", "60"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while not looping.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert looping.exists(), "the grader's child never reached the planted loop"
        child = int(looping.read_text())
        assert alive(child)
        parent.send_signal(how)
        parent.wait(timeout=30)
        deadline = time.monotonic() + 10
        while alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(child), f"after {how.name} the child {child} still runs"
