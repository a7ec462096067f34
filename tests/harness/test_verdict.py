"""The verdict always arrives, complete and true to what ran, whatever the learner's code
does to the process that grades it: an exception that cannot be printed, forged or
malformed events, a deleted temporary folder, a hang at import with SIGALRM blocked, a
grandchild in a session of its own, a memory bomb, a thread that ends the process.

Each test plants one attack in a copy of the reference and asserts the planted kata's
verdict, that every other kata is graded as it should be, and that the report is whole.
A graded run costs seconds, so the attacks that can share one sit in different katas of
one run of Sprint 1 (a module-scoped fixture); each test reads its own kata's result.
The last few tests check the parent's rules on their own, with fake children.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from grader import catalog, cli, forkserver, processes, report, runner
from grader.catalog import ROOT
from tests.harness.conftest import Planted, alive, copy_project

SPRINT1 = [k.id for k in catalog.katas("sprint1")]
TENSORS = [k for k in SPRINT1 if k.startswith("sprint1.tensors.")]
FIRST_NETWORK = [k for k in SPRINT1 if k.startswith("sprint1.first_network.")]
PROJECT = ("grader", "tests", "solutions", "pyproject.toml", "noxfile.py")
MEMORY_LIMIT = "1536M"  # in the run with the memory bomb: it fills ~0.7 GB, not ~3.2
FILE_LIMIT = "16M"  # in the same run, with an output flood: 16 MB of it, not 256


def graded(root: Path, *args: str, cwd: Path = ROOT, env: dict | None = None) -> dict:
    """`python -m grader ARGS --target exercises --json ...` as a learner runs it; the
    report, with the run's stdout, stderr, exit status and seconds."""
    out = root / "out" / "report.json"
    out.parent.mkdir(exist_ok=True)
    env = dict(os.environ if env is None else env)
    env.pop("KATA_TARGET", None)
    cmd = [sys.executable, "-m", "grader", *args, "--target", "exercises", "--json", str(out)]
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    seconds = time.monotonic() - started
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    data = json.loads(out.read_text())
    data.update(stdout=proc.stdout, stderr=proc.stderr, code=proc.returncode, seconds=seconds)
    return data


def kata(data: dict, kata_id: str) -> dict:
    return next(k for k in data["katas"] if k["id"] == kata_id)


def assert_rest_passes(data: dict, planted: dict[str, str]) -> None:
    """The report lists every kata of Sprint 1 in order; the planted ones have their
    status, every other one passed, with all its tests."""
    got = {k["id"]: k["status"] for k in data["katas"]}
    assert list(got) == SPRINT1, "the report must list every kata, in order"
    want = {k: planted.get(k, "passed") for k in SPRINT1}
    assert got == want, {k: (got[k], want[k]) for k in SPRINT1 if got[k] != want[k]}
    for entry in data["katas"]:
        if entry["id"] not in planted:
            assert entry["passed"] == entry["total"] > 0, entry
    assert data["score"] == {"passed": len(SPRINT1) - len(planted), "total": len(SPRINT1)}
    assert data["code"] == (0 if not planted else 1)


# --- one run of Sprint 1 with an attack in each of ten katas -------------------------------

# The run takes a copy of the whole project (the attack on the harness's own files must
# not touch this one). Attacks that must act once per run leave a mark in the copy.

DELETE_FOLDER_AND_EXIT = """
import os, shutil
for fd in os.listdir("/proc/self/fd"):
    try:
        path = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        continue
    if "/kata-" in path:
        shutil.rmtree(os.path.dirname(path), ignore_errors=True)
os._exit(1)
"""
UNPRINTABLE_EXCEPTION = """
class Unprintable(Exception):
    def __str__(self):
        raise RuntimeError("no str for you")
raise Unprintable()
"""
FORGED_EVENTS = """
import json, os
events = None
for fd in os.listdir("/proc/self/fd"):
    try:
        if os.readlink(f"/proc/self/fd/{fd}").endswith("events.jsonl"):
            events = int(fd)
    except OSError:
        pass
me = os.environ["PYTEST_CURRENT_TEST"].rsplit(" ", 1)[0]
forged = [
    {"e": "result", "id": me},
    {"e": "result", "id": me, "status": "green"},
    {"e": "result", "id": me, "status": ["passed"]},
    {"e": "result", "id": ["unhashable"], "status": "passed"},
    {"e": "result", "id": "tests/sprint1/test_autograd.py::nothing", "status": "failed"},
    {"e": "start", "id": me},
    {"e": "start", "id": "no::such::test"},
    {"e": "start", "id": {"a": 1}},
    {"e": "collected", "tests": [{"id": "made::up", "kata": "sprint1.x.y", "timeout": 1e999}]},
    {"e": "collected", "tests": "all"},
    {"e": "import", "module": 7},
    {"e": "collect_error", "module": ["x"], "message": 3},
    {"e": 12},
    ["a", "list"],
    "a string",
]
lines = [json.dumps(e).encode() for e in forged]
lines += [b"not json", b"\\xff\\xfe", b"[" * 100_000, b'{"e": "result", "id": ']
if events is not None:
    os.write(events, b"\\n".join(lines) + b"\\n")
"""
ANSI_MESSAGE = (
    'raise ValueError("\\x1b[2J\\x1b[H\\x1b[32mEvery kata passes\\x1b[0m\\r\\x07'
    '\\x9b31m\\u202eok\\tthen a tab\\nthen a line")'
)
# A fork (grader.audit refuses a kata's subprocess, not a fork: torch's DataLoader workers
# are forks) whose child leaves the session and group, then keeps forging the report.
GRANDCHILD = """
import os, time
mark = {root!r} + "/grandchild.pid"
if not os.path.exists(mark):
    grader = os.getppid()
    if os.fork() == 0:
        try:
            os.setsid()  # out of the child's group and session
            open(mark + ".tmp", "w").write(str(os.getpid()))
            os.rename(mark + ".tmp", mark)
            args = open(f"/proc/{{grader}}/cmdline", "rb").read().split(b"\\0")
            report = args[args.index(b"--json") + 1].decode() if b"--json" in args else None
            while True:
                time.sleep(0.05)
                if report:
                    open(report, "w").write('{{"forged": true}}')
        finally:
            os._exit(0)
    while not os.path.exists(mark):
        time.sleep(0.01)
"""
MEMORY_BOMB = """
hog = []
while True:
    hog.append(torch.ones(2**26))  # 256 MiB at a time, touched
"""
OUTPUT_FLOOD = """
import sys
while True:
    sys.stdout.write("x" * 2**20)  # into pytest's capture file, a file like any other
"""
FOLDER_AT_TMP = """
import os
args = open(f"/proc/{os.getppid()}/cmdline", "rb").read().split(b"\\0")
os.makedirs(args[args.index(b"--json") + 1].decode() + ".tmp", exist_ok=True)
"""
HARNESS_EDIT = """
import os
mark = {root!r} + "/harness.edited"
if not os.path.exists(mark):
    open(mark, "w").close()
    with open({root!r} + "/tests/sprint1/katas.toml", "a") as manifest:
        manifest.write("# edited while grading ran\\n")
"""
THREAD_BOMB_AT_IMPORT = """
import os as _os
import threading as _threading

_called = _threading.Event()


def _end_the_process_once():
    _called.wait()
    if not _os.path.exists({root!r} + "/thread.fired"):
        open({root!r} + "/thread.fired", "w").close()
        _os._exit(1)


_threading.Thread(target=_end_the_process_once, name="bomb", daemon=True).start()
"""
FIRST_CALL_WAITS = """
if not _os.path.exists({root!r} + "/thread.fired"):  # the thread ends the process meanwhile
    _called.set()
    import time as _time
    _time.sleep(1)
"""
ONE_RUN = {
    "sprint1.tensors.split_heads": DELETE_FOLDER_AND_EXIT,
    "sprint1.tensors.merge_heads": UNPRINTABLE_EXCEPTION,
    "sprint1.tensors.pairwise_sq_dists": FORGED_EVENTS,
    "sprint1.tensors.masked_mean": ANSI_MESSAGE,
    "sprint1.tensors.gather_rows": GRANDCHILD,
    "sprint1.tensors.channels_last": MEMORY_BOMB,
    "sprint1.tensors.flatten_batch": OUTPUT_FLOOD,
    "sprint1.autograd.derivative": FOLDER_AT_TMP,
    "sprint1.autograd.gradient": HARNESS_EDIT,
    "sprint1.first_network.init_params": FIRST_CALL_WAITS,
}
ERRORS = ("split_heads", "merge_heads", "masked_mean", "channels_last", "flatten_batch")
ONE_RUN_VERDICT = {
    **{f"sprint1.tensors.{name}": "error" for name in ERRORS},
    **dict.fromkeys(FIRST_NETWORK, "error"),  # the import leaves a thread running
}


def meminfo() -> dict[str, int]:
    """/proc/meminfo in bytes."""
    found = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        name, value = line.split(":", 1)
        found[name] = int(value.split()[0]) * 1024
    return found


class PeakMemory:
    """Samples the machine's memory in use (MemTotal - MemAvailable) while a run goes on."""

    def __init__(self):
        self.before = self.peak = self.used()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)

    @staticmethod
    def used() -> int:
        info = meminfo()
        return info["MemTotal"] - info["MemAvailable"]

    def _sample(self):
        while not self.done.wait(0.02):
            self.peak = max(self.peak, self.used())

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        self.thread.join()


@pytest.fixture(scope="module")
def one_run(tmp_path_factory):
    """Sprint 1 graded once in a copy of the project, an attack planted in ten katas."""
    root = copy_project(PROJECT, tmp_path_factory.mktemp("verdict"))
    planted = Planted(root)
    planted.prepend("sprint1.first_network", THREAD_BOMB_AT_IMPORT.format(root=str(root)))
    for kata_id, code in ONE_RUN.items():
        planted.first(kata_id, code.format(root=str(root)) if "{root" in code else code)
    env = {k: v for k, v in os.environ.items() if k != "KATA_ROOT"}
    env["KATA_FILE_LIMIT"] = FILE_LIMIT
    with PeakMemory() as memory:
        data = graded(root, "sprint1", "--memory-limit", MEMORY_LIMIT, cwd=root, env=env)
    data["root"], data["memory"] = root, memory
    data["report_path"] = root / "out" / "report.json"
    return data


def test_the_run_with_ten_attacks_grades_every_other_kata(one_run):
    assert_rest_passes(one_run, ONE_RUN_VERDICT)


def test_an_exception_that_cannot_be_printed_costs_its_kata_only(one_run):
    """Item 1: str() of the exception raises inside the child, whose pytest then ends the
    run with an INTERNALERROR: the test started and got no result. It is that test's
    error; a fresh child grades the rest (before, every later kata was "not run")."""
    entry = kata(one_run, "sprint1.tensors.merge_heads")
    assert entry["status"] == "error" and "merge_heads" in entry["message"]


def test_forged_and_malformed_events_are_dropped(one_run):
    """Item 2: results without a status or with one that does not exist, for another
    test or an unhashable id, starts of unknown or already started tests, a second
    "collected", lines that are not JSON or nest 100,000 deep: all dropped; the kata's
    own result stands, and the parent neither crashes nor invents a test."""
    entry = kata(one_run, "sprint1.tensors.pairwise_sq_dists")
    assert entry["status"] == "passed" and entry["passed"] == entry["total"] == 8
    assert "Traceback" not in one_run["stderr"]


def test_deleting_the_runs_folder_then_exiting_costs_that_kata_only(one_run):
    """Item 3: the parent reads through descriptors it opened itself and makes a fresh
    folder for each child. The test that exits is run again alone, exits again, and is
    the culprit; the rest of its kata is not run."""
    entry = kata(one_run, "sprint1.tensors.split_heads")
    assert entry["status"] == "error" and entry["passed"] == 0
    assert "exited with code 1" in entry["message"]
    assert "again when it ran alone in a fresh process" in entry["message"]


def test_a_folder_where_the_report_goes_does_not_lose_the_report(one_run):
    """Item 3: a folder at <json>.tmp; the report is written under a name of its own and
    renamed into place."""
    assert kata(one_run, "sprint1.autograd.derivative")["status"] == "passed"
    assert (one_run["report_path"].parent / "report.json.tmp").is_dir()
    assert "Report written to" in one_run["stdout"]


def test_control_characters_are_taken_out_of_messages(one_run):
    """Item 6: ANSI escapes, a carriage return, a bell, a C1 CSI and a bidi override in
    a learner's message reach neither the JSON nor the terminal; tab and newline stay."""
    message = kata(one_run, "sprint1.tensors.masked_mean")["message"]
    assert "Every kata passes" in message and "ok\tthen a tab\nthen a line" in message
    for bad in ("\x1b", "\r", "\x07", "\x9b", "\u202e", "[2J", "[32m"):
        assert bad not in message, repr(message)
        assert bad not in one_run["stdout"], repr(bad)


def test_a_grandchild_in_a_session_of_its_own_is_gone_before_the_report(one_run):
    """Item 7: setsid takes a grandchild out of the child's process group, and it has no
    parent-death signal; the grading parent is its subreaper and kills it before the
    report is written. The report is the grader's, and stays so."""
    assert kata(one_run, "sprint1.tensors.gather_rows")["status"] == "passed"
    pid = int((one_run["root"] / "grandchild.pid").read_text())
    assert not alive(pid), f"the grandchild {pid} outlived the grader"
    time.sleep(0.3)
    assert "forged" not in one_run["report_path"].read_text()


def test_a_memory_bomb_is_an_error_that_names_the_limit(one_run):
    """Item 8: each grading process may take --memory-limit of memory (RLIMIT_DATA); the
    bomb's kata is an error that names the limit, a fresh child grades the rest."""
    entry = kata(one_run, "sprint1.tensors.channels_last")
    assert entry["status"] == "error"
    assert (
        "the grader limits each grading process to 1.5 GiB of memory (--memory-limit)"
        in entry["message"]
    )
    memory = one_run["memory"]
    print(
        f"\nmemory bomb under --memory-limit {MEMORY_LIMIT}: the machine's memory in use "
        f"peaked at {memory.peak / 2**30:.2f} GiB ({memory.before / 2**30:.2f} GiB before "
        f"the run, +{(memory.peak - memory.before) / 2**30:.2f} GiB; "
        f"MemTotal {meminfo()['MemTotal'] / 2**30:.1f} GiB)"
    )


def test_a_flood_of_output_is_an_error_that_names_the_limit(one_run):
    """Item 8: each file a grading process writes may grow to a limit (RLIMIT_FSIZE,
    SIGXFSZ ignored): the write that breaks it fails, and the kata's error says why."""
    entry = kata(one_run, "sprint1.tensors.flatten_batch")
    assert entry["status"] == "error" and "File too large" in entry["message"]
    assert "the grader limits each file a grading process writes to 16 MiB" in entry["message"]
    assert len(one_run["stdout"]) < 20_000


def test_a_thread_that_ends_the_process_does_not_frame_the_test_it_interrupts(one_run):
    """Item 9: a thread started at import that would end the process while init_params is
    tested: the import that leaves it running is the module's error, saying so, before
    any of its tests can be framed (a test whose child dies anyway is run again alone in
    a fresh child: the fake-children tests below)."""
    assert not (one_run["root"] / "thread.fired").exists(), "the planted thread fired"
    for kata_id in FIRST_NETWORK:
        entry = kata(one_run, kata_id)
        assert entry["status"] == "error", entry
        assert "left a thread running: bomb" in entry["message"], entry["message"]


def test_a_change_to_the_harness_during_the_run_is_reported(one_run):
    """Item 10: the grader's files, the tests and their configuration are fingerprinted
    before and after; a change is a warning on the scorecard and a key in the JSON."""
    assert kata(one_run, "sprint1.autograd.gradient")["status"] == "passed"
    assert one_run["harness_changed"] == ["tests/sprint1/katas.toml"]
    assert "Warning: files of the grader or of its tests changed" in one_run["stdout"]


# --- one run of Sprint 1 with imports that fail, hang, and a watchdog kept busy -------------

# The child's own time limit (SIGALRM) cannot stop this: only the parent's kill does.
IGNORE_ALARM_AND_LOOP = """
import signal
signal.signal(signal.SIGALRM, signal.SIG_IGN)
while True:
    pass
"""
START_FLOOD = """
import json, os, signal, threading
me = os.environ["PYTEST_CURRENT_TEST"].rsplit(" ", 1)[0]
line = (json.dumps({"e": "start", "id": me}) + "\\n").encode()
fds = [int(fd) for fd in os.listdir("/proc/self/fd")]
events = [fd for fd in fds if os.path.realpath(f"/proc/self/fd/{fd}").endswith("events.jsonl")]


def flood():
    while True:
        os.write(events[0], line)


threading.Thread(target=flood, daemon=True).start()
"""
BROKEN_IMPORTS_RUN = {
    "sprint1.tensors": "raise ValueError('broken at import')",
    "sprint1.first_network": IGNORE_ALARM_AND_LOOP,
}
FLOODED = "sprint1.autograd.minimize"
LIMIT = 2.0  # seconds per test in this run (Sprint 1's slowest takes ~0.25 s)
IMPORTS_LOG = "first_network-imports.log"


@pytest.fixture(scope="module")
def imports_run(tmp_path_factory):
    planted = Planted(tmp_path_factory.mktemp("imports"))
    for module_id, code in BROKEN_IMPORTS_RUN.items():
        planted.prepend(module_id, code)
    # each import of the hanging module leaves a line: how many times it was tried
    planted.prepend(
        "sprint1.first_network", f"open({str(planted.root / IMPORTS_LOG)!r}, 'a').write('i\\n')"
    )
    planted.first(FLOODED, START_FLOOD + IGNORE_ALARM_AND_LOOP)
    env = dict(os.environ, KATA_ROOT=str(planted.root))
    return graded(planted.root, "sprint1", "--timeout", str(LIMIT), env=env) | {
        "root": planted.root
    }


def test_the_run_with_broken_imports_grades_every_other_kata(imports_run):
    verdict = dict.fromkeys(TENSORS, "error") | dict.fromkeys(FIRST_NETWORK, "timeout")
    assert_rest_passes(imports_run, verdict | {FLOODED: "timeout"})


def test_an_import_that_hangs_with_the_alarm_ignored_costs_its_time_once(imports_run):
    """Item 4: the child says when it imports a kata's module; a kill during the import
    stops the whole module's tests (in the next child, without importing it again), so
    the hang costs its time limit once, not once per kata (5 here)."""
    for kata_id in FIRST_NETWORK:
        entry = kata(imports_run, kata_id)
        assert entry["status"] == "timeout", entry
        assert (
            "importing exercises/sprint1/first_network.py ran past the time limit"
            in (entry["message"])
        ), entry
    # counted, not timed (a wall-clock bound failed on a loaded machine): one import, one kill
    tries = (imports_run["root"] / IMPORTS_LOG).read_text().count("i")
    assert tries == 1, f"the hanging module was imported {tries} times"


def test_a_cuda_test_is_skipped_not_graded_when_its_module_fails_to_import(imports_run):
    """Item 5: pytest's skipping runs before the target's import, so the test that needs a
    GPU is skipped, not counted as an error of the import."""
    entry = kata(imports_run, "sprint1.tensors.to_device")
    cuda = _has_cuda()
    assert entry["status"] == "error" and "broken at import" in entry["message"]
    assert (entry["passed"], entry["total"]) == (0, 5 if cuda else 4), entry


def test_start_events_written_over_and_over_do_not_keep_a_test_alive(imports_run):
    """Item 2: with SIGALRM ignored, a thread writes the running test's "start" again and
    again; a test starts once, so the watchdog still stops it at its limit."""
    entry = kata(imports_run, FLOODED)
    assert entry["status"] == "timeout" and "ran past the time limit" in entry["message"]


@pytest.mark.skipif(not forkserver.available(), reason="the fork server is Linux's")
def test_the_fork_server_leaves_no_grandchild_behind_either(planted, monkeypatch):
    """Item 7 under `nox -s watch`: the warm server forks the grading children; it is their
    subreaper, and kills what a child left before it reports the child's exit. The
    grading run leaves the server itself be."""
    planted.first("sprint1.tensors.gather_rows", GRANDCHILD.format(root=str(planted.root)))
    monkeypatch.setenv("KATA_ROOT", str(planted.root))
    server = forkserver.Server(runner.child_env("exercises"), ["sprint1"])
    try:
        outcome = runner.run(
            ["tests/sprint1/test_tensors.py"],
            "exercises",
            launch=server.launch,
            extra_env={"KATA_SELECT": "sprint1.tensors.gather_rows"},
        )
        assert {r.status for r in outcome.results.values()} == {"passed"}
        assert len(outcome.results) == 6
        pid = int((planted.root / "grandchild.pid").read_text())
        assert not alive(pid), f"the grandchild {pid} outlived its grading child"
        assert server.alive(), "the grading run killed the warm server"
    finally:
        server.stop()


# --- the parent's rules, with fake children ---------------------------------------------------

FAKE_CHILD = """
import json, os, sys
args = sys.argv[1:]
events = os.open(args[args.index("--kata-events") + 1], os.O_WRONLY | os.O_APPEND)
skip = set(open(args[args.index("--kata-skip") + 1]).read().split("\\n"))
broken = json.loads(os.environ.get("KATA_BROKEN_IMPORTS", "{}"))
script = json.loads(os.environ["FAKE_SCRIPT"])
tests = {t: kata for t, kata in script["tests"].items() if t not in skip}
def emit(**event):
    os.write(events, (json.dumps(event) + "\\n").encode())
emit(e="collected", tests=[{"id": t, "kata": k, "timeout": 5} for t, k in tests.items()])
for test, kata in tests.items():
    emit(e="start", id=test)
    module = kata.rsplit(".", 1)[0]
    if module in broken:
        status, message = broken[module]
        emit(e="result", id=test, kata=kata, status=status, message=message)
        continue
    how = script["how"].get(test, "passed")
    if how == "no result":
        emit(e="done")
        sys.exit(0)
    if how == "out of memory, then the next start in the same write":
        after = list(tests)[list(tests).index(test) + 1]
        result = dict(e="result", id=test, kata=kata, status="error", message="MemoryError: x")
        start = dict(e="start", id=after)
        os.write(events, (json.dumps(result) + "\\n" + json.dumps(start) + "\\n").encode())
        import time
        time.sleep(60)  # the parent stops this child: what filled the memory may hold it
    if how == "exit at import":
        emit(e="import", module=module)
        os._exit(3)
    if how == "exit" or (how == "exit once" and not os.path.exists(script["mark"])):
        open(script["mark"], "w").close()
        os._exit(3)
    emit(e="result", id=test, kata=kata, status="passed", message="", threads=["Thread-1 (bomb)"])
emit(e="done")
"""
FAKE_TESTS = {"a": "sprint1.m.a", "b": "sprint1.m.b", "c": "sprint1.n.c"}


def fake_run(tmp_path, how: dict[str, str], tests=FAKE_TESTS) -> runner.Outcome:
    """A grading run whose children are small scripts that follow `how` per test."""
    script = {"tests": tests, "how": how, "mark": str(tmp_path / "mark")}

    def launch(args, env, stderr):
        env = dict(env, FAKE_SCRIPT=json.dumps(script))
        return subprocess.Popen(
            [sys.executable, "-c", FAKE_CHILD, *args],
            env=env,
            stderr=stderr,
            cwd=ROOT,
            start_new_session=True,  # as a real child's: the parent kills its group
        )

    return runner.run(["tests"], "exercises", launch=launch)


def statuses_of(outcome: runner.Outcome) -> dict[str, str]:
    return {t: r.status for t, r in outcome.results.items()}


def test_a_started_test_without_a_result_is_its_error_even_after_done(tmp_path):
    outcome = fake_run(tmp_path, {"b": "no result"})
    assert statuses_of(outcome) == {"a": "passed", "b": "error", "c": "passed"}
    assert "started, but no result for it came back" in outcome.results["b"].message


def test_the_test_after_one_out_of_memory_runs_in_the_fresh_child(tmp_path):
    """A child that ran out of memory is stopped at that result; a start it wrote with it
    (in the same read) is not blamed: the next child runs that test."""
    outcome = fake_run(tmp_path, {"b": "out of memory, then the next start in the same write"})
    assert statuses_of(outcome) == {"a": "passed", "b": "error", "c": "passed"}
    assert "limits each grading process to 4 GiB" in outcome.results["b"].message


def test_a_test_whose_child_dies_once_is_run_again_and_keeps_its_result(tmp_path):
    outcome = fake_run(tmp_path, {"b": "exit once"})
    assert statuses_of(outcome) == {"a": "passed", "b": "passed", "c": "passed"}


def test_a_test_whose_child_dies_twice_is_the_culprit(tmp_path):
    outcome = fake_run(tmp_path, {"b": "exit"})
    assert statuses_of(outcome) == {"a": "passed", "b": "error", "c": "passed"}
    message = outcome.results["b"].message
    assert "exited with code 3 during this test, and again when it ran alone" in message
    assert "still running: Thread-1 (bomb)" in message  # as the first child said


def test_a_child_that_dies_twice_while_importing_costs_that_module_only(tmp_path):
    """Item 4 for a crash: the next child is told not to import the module again, and
    its other katas' tests say why they were not run."""
    outcome = fake_run(tmp_path, {"a": "exit at import"})
    assert statuses_of(outcome) == {"a": "error", "b": "error", "c": "passed"}
    assert "while exercises/sprint1/m.py was imported" in outcome.results["a"].message
    assert outcome.results["b"].message == (
        "not run: the test process exited with code 3 while exercises/sprint1/m.py was "
        "imported in an earlier test process"
    )


def test_a_report_that_cannot_be_written_is_said_with_exit_status_3(tmp_path, monkeypatch, capsys):
    """Item 3: any failure to write the JSON is a message and an exit status, never a
    traceback; the scorecard is printed all the same."""
    out = tmp_path / "report.json"
    result = report.KataResult("sprint1.tensors.arange_grid", "passed", 7, 7)

    def grade(request, **kwargs):
        out.mkdir()  # learner code made a folder where the report goes
        return [result]

    monkeypatch.setattr(cli, "grade", grade)
    code = cli.main(["sprint1.tensors.arange_grid", "--target", "solutions", "--json", str(out)])
    printed = capsys.readouterr()
    assert code == cli.REPORT_NOT_WRITTEN == 3
    assert f"the report could not be written to {out}" in printed.err
    assert "arange_grid" in printed.out and not list(tmp_path.glob(".report.json.*"))


def test_the_memory_limit_is_4_gib_unless_said_otherwise(monkeypatch):
    monkeypatch.delenv("KATA_MEMORY_LIMIT", raising=False)
    assert cli.parse(["sprint1"]).memory_limit == 4 * 2**30
    assert cli.parse(["sprint1", "--memory-limit", "512M"]).memory_limit == 512 * 2**20
    assert cli.parse(["sprint1", "--memory-limit", "none"]).memory_limit is None
    monkeypatch.setenv("KATA_MEMORY_LIMIT", "1.5GiB")
    assert cli.parse(["sprint1"]).memory_limit == int(1.5 * 2**30)
    with pytest.raises(cli.UsageError, match="not a size"):
        cli.parse(["sprint1", "--memory-limit", "lots"])


def test_a_grading_process_gets_the_limits(monkeypatch):
    """Memory and file size, soft and hard; processes too, except for root, whom the
    kernel never holds to RLIMIT_NPROC."""
    import resource

    limits = processes.Limits(memory=2**30, files=2**20, processes=100)
    got = dict(limits.rlimits())
    assert got[resource.RLIMIT_DATA] == 2**30 and got[resource.RLIMIT_FSIZE] == 2**20
    assert (resource.RLIMIT_NPROC in got) == (os.getuid() != 0)
    assert processes.Limits.from_env(limits.to_env()) == processes.Limits(2**30, 2**20)


# --- helpers ----------------------------------------------------------------------------------


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.fixture(autouse=True, scope="module")
def _no_grandchild_left(tmp_path_factory):
    """Should a test above fail half way, no planted grandchild is left running."""
    yield
    for mark in Path(tmp_path_factory.getbasetemp()).glob("*/grandchild.pid"):
        pid = int(mark.read_text() or 0)
        if pid and alive(pid):
            os.kill(pid, signal.SIGKILL)
