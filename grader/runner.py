"""The trusted parent: runs pytest in a child and survives whatever the child does.

The child streams JSON lines (see grader.plugin.state) to a file. The parent reads them as
they come, through a descriptor it opened before the child started, and checks each one
against what the run allows (`_Attempt.accept`): a test it announced, a status that
exists, one result per test it started. Anything else is dropped: nothing a child
writes can crash the parent or stretch a test's time limit.

When a child hangs past a test's time limit, the parent kills it and records a timeout;
when it dies during a test, that test runs again alone in a fresh child, and only a
second death makes it the culprit; a test that started but never got a result is an
error. Either way a new child grades the tests that are left. A kill while a module of
the graded tree was being imported costs that module's tests once, not once per kata.
In the normal case that is one child and one torch import.

Whatever learner code starts is gone when a child is done: this process is a child
subreaper (Linux), so that even a process that left the child's session is reparented
here, and every descendant is killed and reaped after each child. Each child runs under
limits: its memory, the size of each file it writes, and the processes and threads it may
start (grader.processes has both).

Only the standard library is imported here: no torch, no learner code.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from grader import processes
from grader.layout import DEFAULT_TIMEOUT, ROOT, Status, cap
from grader.processes import Limits

POLL = 0.02  # seconds between reads of the event file
GRACE = 3.0  # seconds past a test's own limit (the child's SIGALRM) before a kill
COLLECT_LIMIT = 120.0  # seconds for a child to import torch and collect
IDLE_LIMIT = 60.0  # seconds a child may spend between one test's result and the next start
STDERR_TAIL = 1500  # characters of a dead child's stderr kept for the message
READ_SIZE = 1 << 20  # bytes of the event file read at a time
COLLECT_ERRORS = 1000  # collection errors kept (one per test file there is, at most)
LINE_LIMIT = 8 << 20  # bytes one event may take (the "collected" of a whole sprint is ~100 KB)
HARNESS = ("grader", "tests")  # folders whose files grade; with the files of TEST_CONFIG
TEST_CONFIG = ("pyproject.toml", "noxfile.py", "conftest.py", "*/conftest.py")
HASHED_SIZE = 1 << 20  # files of the harness up to this size are hashed, larger ones stat'ed
# pytest's options for a run of graded tests: graded tests fail through grader.checks (the
# one bare assert carries its own message) and nothing reads captured logs or warnings;
# together ~1 s less a sprint. The harness's variant and import-watching runs use them too.
GRADED_RUN_OPTIONS = ("-p", "no:warnings", "-p", "no:logging", "--assert=plain")


@dataclass
class TestResult:
    id: str
    kata: str | None
    status: str
    message: str = ""


@dataclass
class Outcome:
    tests: dict[str, dict] = field(default_factory=dict)  # nodeid → collected info
    results: dict[str, TestResult] = field(default_factory=dict)
    collect_errors: list[dict] = field(default_factory=list)
    fatal: str = ""  # set when no child could even collect


# --- text from the child ----------------------------------------------------------------

# ANSI escape sequences (CSI, OSC, two-character; the one-byte CSI), then every other
# control character but newline and tab, and the bidirectional overrides: a learner's
# message must not clear the screen, move the cursor or paint a scorecard of its own.
_ESCAPES = re.compile(
    r"\x1b(\[[0-?]*[ -/]*[@-~]?|\][^\x07\x1b]*(\x07|\x1b\\)?|[ -~])?|\x9b[0-?]*[ -/]*[@-~]?"
)
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def clean(text: str) -> str:
    """The text with escape sequences and control characters taken out (\\n, \\t kept)."""
    return _CONTROLS.sub("", _ESCAPES.sub("", text))


def _text(value) -> str:
    return cap(clean(value)) if isinstance(value, str) else ""


# --- children ---------------------------------------------------------------------------


def _kill(proc) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _signal_name(code: int) -> str:
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


def _tail(fd: int) -> str:
    """The end of what the child wrote to its stderr (read through the parent's own fd)."""
    try:
        size = os.fstat(fd).st_size
        data = os.pread(fd, STDERR_TAIL, max(0, size - STDERR_TAIL))
    except OSError:
        return ""
    return clean(data.decode(errors="replace")).strip()


def child_command(args: list[str]) -> list[str]:
    """The command line of a grading child: `python -m pytest ARGS` as grader.child runs
    it, with the garbage collector held off while torch and the tests are imported."""
    return [sys.executable, "-m", "grader.child", *args]


def spawn(args: list[str], env: dict[str, str], stderr) -> subprocess.Popen:
    """Start a grading child (child_command) in a new process group that dies with this
    process, under the limits its environment names (Limits.from_env).

    Another launcher (grader.forkserver's) may stand in: it takes the same arguments and
    returns an object with `pid`, `poll()`, `wait()` and `returncode`, like Popen's, and
    may name in `helpers` the pids of its own processes that are not the run's."""
    rlimits = Limits.from_env(env).rlimits()

    def setup() -> None:
        processes.die_with_parent()
        processes.apply_limits(rlimits)

    return subprocess.Popen(
        child_command(args),
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
        start_new_session=True,  # its own group: a kill takes its workers too
        preexec_fn=setup,
    )


def child_env(
    target: str, extra_env: dict[str, str] | None = None, limits: Limits | None = None
) -> dict[str, str]:
    env = dict(
        os.environ,
        KATA_TARGET=target,
        PYTEST_DISABLE_PLUGIN_AUTOLOAD="1",
        **(limits or Limits()).to_env(),
        **(extra_env or {}),
    )
    # Graded tests are tiny: one thread is faster than a pool fighting over the cores,
    # and gives the same reduction order every run. A learner's own setting wins.
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


# --- the harness's own files -----------------------------------------------------------------


def harness_fingerprint(root: Path = ROOT) -> dict[str, tuple]:
    """Path → (size, mtime, hash) of every file that grades: grader/, tests/ and the test
    configuration (pycache left out). Cheap: ~100 small files."""
    paths = [p for folder in HARNESS for p in (root / folder).rglob("*") if p.is_file()]
    paths += [p for pattern in TEST_CONFIG for p in root.glob(pattern)]
    found = {}
    for path in paths:
        if "__pycache__" in path.parts:
            continue
        try:
            info = path.stat()
            digest = ""
            if info.st_size <= HASHED_SIZE:
                digest = hashlib.sha1(path.read_bytes()).hexdigest()
        except OSError:
            continue
        found[path.relative_to(root).as_posix()] = (info.st_size, info.st_mtime_ns, digest)
    return found


def harness_changes(before: dict[str, tuple], root: Path = ROOT) -> list[str]:
    """The files of the harness added, removed or changed since `before`."""
    after = harness_fingerprint(root)
    return sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))


# --- a grading run ---------------------------------------------------------------------------


def run(
    paths: list[str],
    target: str,
    *,
    timeout: float | None = None,
    extra_env: dict[str, str] | None = None,
    progress=None,
    launch=spawn,
    limits: Limits | None = None,
) -> Outcome:
    """Grade the tests under `paths` against `target`; returns what every test did."""
    return _Run(paths, target, timeout, extra_env, progress, launch, limits or Limits()).go()


@dataclass
class _Ending:
    """How one child ended, as its attempt saw it."""

    how: str  # "done", "exited", "timeout", "restart" (stopped after a limit), "stalled"
    code: int | None = None
    current: str | None = None  # the test started and without a result
    importing: str | None = None  # the module being imported then
    threads: list[str] = field(default_factory=list)  # threads learner code left running


class _Run:
    """One grading run: a child after another, each for the tests left, until every test
    has a result; what each child's end means for the test it was running (`_settle`)."""

    def __init__(self, paths, target, timeout, extra_env, progress, launch, limits):
        self.paths, self.target, self.timeout = paths, target, timeout
        self.progress, self.launch, self.limits = progress, launch, limits
        self.env = child_env(target, extra_env, limits)
        self.outcome = Outcome()
        self.retry: str | None = None  # a test that died with its child: run it alone
        self.first_crash = ""  # what the first death of the retried test said
        self.threads: list[str] = []  # threads left running when it first died
        self.broken: dict[str, list[str]] = {}  # module → [status, message]: not imported again

    def go(self) -> Outcome:
        outcome = self.outcome
        processes.become_subreaper()
        keep = processes.children()  # processes this one ran before: not the run's to kill
        attempt = 0
        while True:
            attempt += 1
            before = (len(outcome.results), self.retry)
            ending, stderr_tail = self._attempt(keep)
            self._settle(ending, stderr_tail)
            if not outcome.tests and not outcome.results:
                outcome.fatal = (
                    f"the grading process ended before it found any test "
                    f"({_ended(ending)}):\n{stderr_tail}"
                )
                break
            left = [t for t in outcome.tests if t not in outcome.results]
            if not left:
                break
            stuck = (len(outcome.results), self.retry) == before
            if stuck or attempt > 2 * len(outcome.tests) + 2:
                for test_id in left:  # no progress: do not loop forever
                    self._record(
                        test_id,
                        Status.ERROR,
                        "not run: the test process kept ending before it got to this "
                        f"test:\n{stderr_tail}",
                    )
                break
        return outcome

    def _attempt(self, keep: set[int]) -> tuple[_Ending, str]:
        """Start one child for the tests left (or the test to retry) and follow it."""
        folder = Path(tempfile.mkdtemp(prefix="kata-"))
        paths, skip = self.paths, set(self.outcome.results)
        if self.retry is not None:  # its file only, and every other test in it skipped
            paths = [self.retry.split("::", 1)[0]]
            skip |= set(self.outcome.tests) - {self.retry}
        events_path, skip_path = folder / "events.jsonl", folder / "skip.txt"
        skip_path.write_text("\n".join(skip))
        args = [*paths, "-q", "--tb=no", *GRADED_RUN_OPTIONS]
        args += ["--kata-events", str(events_path), "--kata-skip", str(skip_path)]
        if self.timeout:
            args += ["--kata-timeout", str(self.timeout)]
        env = dict(self.env)
        if self.broken:
            env["KATA_BROKEN_IMPORTS"] = json.dumps(self.broken)
        # The parent reads through descriptors it opened itself: whatever the child does
        # to the folder (delete it, swap a file) does not reach them.
        events = os.open(events_path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with tempfile.TemporaryFile(dir=folder) as stderr:
                proc = self.launch(args, env, stderr)
                try:
                    ending = _Attempt(self, proc, events).follow()
                finally:
                    if proc.poll() is None:
                        _kill(proc)
                    processes.reap_descendants(keep | set(getattr(proc, "helpers", ())))
                return ending, _tail(stderr.fileno())
        finally:
            os.close(events)
            shutil.rmtree(folder, ignore_errors=True)

    # --- what an ending means -------------------------------------------------------

    def _settle(self, ending: _Ending, stderr_tail: str) -> None:
        retried, self.retry = self.retry, None
        test_id = ending.current
        if retried is not None and test_id != retried and retried not in self.outcome.results:
            # the retry never got to its test (or was stopped otherwise): the first death
            # is all there is to go on
            self._blame(retried, self.first_crash)
        if test_id is None:
            return
        kata = self.outcome.tests.get(test_id, {}).get("kata")
        name = kata or test_id
        where = f"while {self._display(ending.importing)} was imported" if ending.importing else ""
        if ending.how == "timeout":
            limit = self._limit(test_id)
            doing = f"importing {self._display(ending.importing)}" if ending.importing else name
            self._record(
                test_id,
                Status.TIMEOUT,
                f"{doing} ran past the time limit of {limit:g} s and had to be stopped "
                "(an endless loop?)",
            )
            self._rest_of_kata(
                kata, Status.TIMEOUT, f"{kata}: not run, an earlier test of it timed out"
            )
            if ending.importing:
                self._broken(ending.importing, Status.TIMEOUT, f"{doing} ran past the time limit")
        elif ending.how == "exited":
            how = (
                f"was killed by {_signal_name(ending.code)}"
                if ending.code is not None and ending.code < 0
                else f"exited with code {ending.code}"
            )
            message = f"{name}: the test process {how} during this test {where}".rstrip()
            if retried != test_id:  # first death: a fresh child runs it again, alone
                self.retry = test_id
                self.threads = ending.threads
                self.first_crash = self._crash_message(message, ending, stderr_tail, again=False)
                return
            self._blame(test_id, self._crash_message(message, ending, stderr_tail, again=True))
            if ending.importing:
                self._broken(ending.importing, Status.ERROR, f"the test process {how} {where}")
        else:  # "done", "restart", "stalled": the child went on without this test's result
            self._record(
                test_id,
                Status.ERROR,
                f"{name}: this test started, but no result for it came back from the test "
                "process (an exception the grader could not read, or code that ended the "
                "test run?). The other tests were graded in a fresh process.",
            )
            self._rest_of_kata(
                kata, Status.ERROR, f"{kata}: not run, an earlier test of it got no result"
            )

    def _crash_message(self, message: str, ending: _Ending, stderr_tail: str, again: bool) -> str:
        text = message + (", and again when it ran alone in a fresh process." if again else ".")
        text += (
            " Does the code call os._exit, or crash the interpreter? The other tests were "
            "run in a fresh process."
        )
        threads = ending.threads or self.threads  # a child that died at once told nothing
        if threads:
            shown = ", ".join(threads[:5])
            text += (
                f" Threads started during the tests were still running: {shown}; one of them "
                "may have ended the process."
            )
        note = self.limits.note(stderr_tail)
        if note:
            text += f" ({note})"
        return text

    def _blame(self, test_id: str, message: str) -> None:
        self._record(test_id, Status.ERROR, message)
        kata = self.outcome.tests.get(test_id, {}).get("kata")
        self._rest_of_kata(
            kata, Status.ERROR, f"{kata}: not run, an earlier test of it ended the test process"
        )

    def _broken(self, module: str, status: Status, why: str) -> None:
        """Later children do not import `module` again; its tests are not run. Stopped
        twice while importing it (a child that ignored the word): its tests are done."""
        message = f"not run: {why} in an earlier test process"
        if module in self.broken:
            for test_id, info in self.outcome.tests.items():
                kata = info.get("kata") or ""
                if test_id not in self.outcome.results and kata.startswith(module + "."):
                    self._record(test_id, status, f"{kata}: {message}")
        self.broken[module] = [str(status), message]

    def _rest_of_kata(self, kata: str | None, status: Status, message: str) -> None:
        if not kata:
            return
        for other, info in self.outcome.tests.items():
            if other not in self.outcome.results and info.get("kata") == kata:
                self._record(other, status, message)

    def _record(self, test_id: str, status: Status, message: str) -> TestResult:
        kata = self.outcome.tests.get(test_id, {}).get("kata")
        note = self.limits.note(message) if status == Status.ERROR else ""
        if note and note not in message:
            message = f"{message}\n({note})"
        result = TestResult(test_id, kata, status, cap(clean(message)))
        self.outcome.results[test_id] = result
        if self.progress:
            self.progress(result)
        return result

    def _limit(self, test_id: str) -> float:
        return self.outcome.tests.get(test_id, {}).get("timeout", DEFAULT_TIMEOUT)

    def _display(self, module: str) -> str:
        return f"{self.target}/{module.replace('.', '/')}.py"


def _ended(ending: _Ending) -> str:
    if ending.code is None:
        return "it was stopped"
    if ending.code < 0:
        return f"killed by {_signal_name(ending.code)}"
    return f"exit code {ending.code}"


class _Attempt:
    """One child, followed from its start to its end: the events it sends, checked one
    by one (`accept`), and the watchdogs on its time."""

    def __init__(self, run: _Run, proc, events: int):
        self.run, self.outcome, self.proc, self.events = run, run.outcome, proc, events
        self.collected: set[str] | None = None  # this child's tests, from its "collected"
        self.started: set[str] = set()  # the tests it announced, each once
        self.current: str | None = None  # started, no result yet
        self.importing: str | None = None  # the module being imported for it
        self.since = time.monotonic()  # when the watchdog's clock last started
        self.threads: list[str] = []
        self.restart = False  # a limit was broken: go on in a fresh child

    def follow(self) -> _Ending:
        """Read events until the child is done, has died, or had to be stopped; the caller
        starts another child for whatever tests are left."""
        buffer = b""
        while True:
            code = self.proc.poll()  # before the read, so that the read sees all it wrote
            try:
                chunk = os.read(self.events, READ_SIZE)
            except OSError:
                chunk = b""
            if chunk:
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                if len(buffer) > LINE_LIMIT:  # a line without end: not an event
                    buffer = b""
                for line in lines:
                    if self.accept(_parse(line)) == "done":
                        return self._ending("done")
                    if self.restart:  # at once: a test this child started after the one
                        return self._ending("restart")  # that broke a limit is the next's
            if code is not None:
                if chunk:
                    continue  # the rest of what it wrote before it ended
                return self._ending("exited", code)
            if self._overdue():  # checked between reads too: a flood of lines stops nothing
                _kill(self.proc)
                return self._ending("timeout" if self.current is not None else "stalled")
            if not chunk:
                time.sleep(POLL)

    def _overdue(self) -> bool:
        """Whether the child ran past its current watchdog: the test's limit and a grace
        after its start; COLLECT_LIMIT to collect; IDLE_LIMIT between tests."""
        waited = time.monotonic() - self.since
        if self.current is not None:
            return waited > self.run._limit(self.current) + GRACE
        return waited > (COLLECT_LIMIT if self.collected is None else IDLE_LIMIT)

    def _ending(self, how: str, code: int | None = None) -> _Ending:
        return _Ending(how, code, self.current, self.importing, self.threads)

    def accept(self, event: dict) -> str | None:
        """Take one event if it is one the run allows; return its kind, or None when it is
        dropped (malformed, or not possible at this point)."""
        kind = event.get("e")
        if kind == "collected":
            return self._collected(event.get("tests"))
        if kind == "collect_error":
            module = event.get("module")
            self.outcome.collect_errors.append(
                {
                    "module": module if isinstance(module, str) else None,
                    "path": _text(event.get("path")),
                    "message": _text(event.get("message")),
                }
            )
        elif kind == "start":
            test_id = event.get("id")
            if (
                not isinstance(test_id, str)
                or self.collected is None
                or test_id not in self.collected
                or test_id in self.started  # a test starts once: the watchdog is not reset
                or test_id in self.outcome.results
                or self.current is not None
            ):
                return None
            self.started.add(test_id)
            self.current, self.importing, self.since = test_id, None, time.monotonic()
        elif kind in ("import", "imported"):
            module = event.get("module")
            kata = self.outcome.tests.get(self.current or "", {}).get("kata") or ""
            if not isinstance(module, str) or not kata.startswith(module + "."):
                return None
            self.importing = module if kind == "import" else None
        elif kind == "result":
            return self._result(event)
        elif kind != "done":
            return None
        return kind

    def _collected(self, tests) -> str | None:
        """The child's tests: the first list it sends is the one (it comes before any
        learner code runs); each test's kata and time limit, checked."""
        if self.collected is not None or not isinstance(tests, list):
            return None
        self.collected = set()
        for test in tests:
            if not isinstance(test, dict) or not isinstance(test.get("id"), str):
                continue
            kata, limit = test.get("kata"), test.get("timeout")
            if not isinstance(limit, int | float) or not math.isfinite(limit) or limit < 0:
                limit = DEFAULT_TIMEOUT
            info = {
                "id": test["id"],
                "kata": kata if isinstance(kata, str) else None,
                "timeout": float(limit),
            }
            self.outcome.tests.setdefault(test["id"], info)
            self.collected.add(test["id"])
        self.since = time.monotonic()
        return "collected"

    def _result(self, event: dict) -> str | None:
        """The result of the test that is running: one, with a status that exists."""
        test_id, status = event.get("id"), event.get("status")
        if not isinstance(test_id, str) or test_id != self.current:
            return None
        if not isinstance(status, str) or status not in STATUSES:
            return None
        threads = event.get("threads")
        if isinstance(threads, list):
            self.threads = [clean(str(t))[:80] for t in threads[:20]]
        result = self.run._record(test_id, Status(status), _text(event.get("message")))
        self.current, self.importing, self.since = None, None, time.monotonic()
        if result.status == Status.ERROR and self.run.limits.out_of_memory(result.message):
            self.restart = True  # what filled the memory may hold it still: a fresh child
            kata = result.kata
            self.run._rest_of_kata(
                kata, Status.ERROR, f"{kata}: not run, an earlier test of it ran out of memory"
            )
        return "result"


STATUSES = {str(s) for s in Status}


def _parse(line: bytes) -> dict:
    try:
        event = json.loads(line)
    except (ValueError, RecursionError):
        return {}
    return event if isinstance(event, dict) else {}
