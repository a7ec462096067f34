"""The trusted parent: runs pytest in a child and survives whatever the child does.

The child streams JSON lines (see grader.plugin.state) to a file. The parent reads them as
they come. If the child hangs past a test's time limit, or dies, the parent records
that test, kills the child's whole process group, and starts a new child for the
tests that are left. In the normal case that is one child and one torch import.

Only the standard library is imported here: no torch, no learner code.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from grader.layout import DEFAULT_TIMEOUT, ROOT, Status

POLL = 0.02  # seconds between reads of the event file
GRACE = 3.0  # seconds past a test's own limit (the child's SIGALRM) before a kill
COLLECT_LIMIT = 120.0  # seconds for a child to import torch and collect
STDERR_TAIL = 1500  # characters of a dead child's stderr kept for the message


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


def _die_with_parent() -> None:
    """In the child, before exec: on Linux, be killed when the parent dies, even by
    SIGKILL, so that a hung child is never left running on its own."""
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _kill(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _signal_name(code: int) -> str:
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


def _tail(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - STDERR_TAIL))
            return f.read().decode(errors="replace").strip()
    except OSError:
        return ""


def spawn(args: list[str], env: dict[str, str], stderr) -> subprocess.Popen:
    """Start `python -m pytest ARGS` in a new process group that dies with this process.

    Another launcher (grader.forkserver's) may stand in: it takes the same arguments and
    returns an object with `pid`, `poll()`, `wait()` and `returncode`, like Popen's."""
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", *args],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
        start_new_session=True,  # its own group: a kill takes its workers too
        preexec_fn=_die_with_parent,
    )


def child_env(target: str, extra_env: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(
        os.environ,
        KATA_TARGET=target,
        PYTEST_DISABLE_PLUGIN_AUTOLOAD="1",
        **(extra_env or {}),
    )
    # Graded tests are tiny: one thread is faster than a pool fighting over the cores,
    # and gives the same reduction order every run. A learner's own setting wins.
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def run(
    paths: list[str],
    target: str,
    *,
    timeout: float | None = None,
    extra_env: dict[str, str] | None = None,
    progress=None,
    launch=spawn,
) -> Outcome:
    """Grade the tests under `paths` against `target`; returns what every test did."""
    outcome = Outcome()
    env = child_env(target, extra_env)
    with tempfile.TemporaryDirectory(prefix="kata-") as tmp:
        tmpdir = Path(tmp)
        attempt = 0
        while True:
            attempt += 1
            events = tmpdir / f"events-{attempt}.jsonl"
            events.touch()
            stderr_path = tmpdir / f"stderr-{attempt}.txt"
            skip = tmpdir / f"skip-{attempt}.txt"
            skip.write_text("\n".join(outcome.results))
            args = [
                *paths,
                "-q",
                "--tb=no",
                "-p",
                "no:warnings",
                "--kata-events",
                str(events),
                "--kata-skip",
                str(skip),
            ]
            if timeout:
                args += ["--kata-timeout", str(timeout)]
            before = len(outcome.results)
            with open(stderr_path, "wb") as stderr:
                proc = launch(args, env, stderr)
                try:
                    _follow(proc, events, outcome, progress)
                finally:
                    if proc.poll() is None:
                        _kill(proc)
            if not outcome.tests and not outcome.results:
                outcome.fatal = (
                    f"the grading process ended before it found any test "
                    f"(exit code {proc.returncode}):\n{_tail(stderr_path)}"
                )
                break
            left = [t for t in outcome.tests if t not in outcome.results]
            if not left:
                break
            if len(outcome.results) == before or attempt > len(outcome.tests) + 2:
                for test_id in left:  # no progress: do not loop forever
                    outcome.results[test_id] = TestResult(
                        test_id,
                        outcome.tests[test_id].get("kata"),
                        Status.ERROR,
                        "not run: the test process kept ending before it got to this "
                        f"test:\n{_tail(stderr_path)}",
                    )
                break
    return outcome


def _follow(proc, events: Path, outcome: Outcome, progress) -> None:
    """Read events until the child is done, has died, or had to be stopped; the caller
    starts another child for whatever tests are left."""
    current: str | None = None
    started = time.monotonic()
    collected = False
    buffer = b""
    with open(events, "rb") as stream:
        while True:
            code = proc.poll()  # before the read, so that the read sees all it wrote
            chunk = stream.read()
            if chunk:
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    event = _parse(line)
                    kind = event.get("e")
                    if kind == "collected":
                        collected = True
                        for test in event["tests"]:
                            outcome.tests.setdefault(test["id"], test)
                    elif kind == "collect_error":
                        outcome.collect_errors.append(event)
                    elif kind == "start":
                        current, started = event["id"], time.monotonic()
                    elif kind == "result":
                        test = outcome.tests.get(event["id"], {})
                        result = TestResult(
                            event["id"], test.get("kata"), event["status"], event.get("message", "")
                        )
                        outcome.results[event["id"]] = result
                        current = None
                        if progress:
                            progress(result)
                    elif kind == "done":
                        # Every result is in: the caller kills the child rather than wait
                        # for torch's interpreter shutdown (or a thread the learner left).
                        return
            if code is not None:
                if current is not None:
                    how = (
                        f"was killed by {_signal_name(code)}"
                        if code < 0
                        else f"exited with code {code}"
                    )
                    _record_crash(outcome, current, how, progress)
                return
            now = time.monotonic()
            if current is not None:
                limit = outcome.tests.get(current, {}).get("timeout", DEFAULT_TIMEOUT)
                if now - started > limit + GRACE:
                    _kill(proc)
                    _record_timeout(outcome, current, limit, progress)
                    return
            elif not collected and now - started > COLLECT_LIMIT:
                _kill(proc)
                return
            if not chunk:
                time.sleep(POLL)


def _parse(line: bytes) -> dict:
    try:
        event = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return event if isinstance(event, dict) else {}


def _record_crash(outcome: Outcome, test_id: str, how: str, progress) -> None:
    kata = outcome.tests.get(test_id, {}).get("kata")
    message = (
        f"{kata or test_id}: the test process {how} during this test. Does the code "
        "call os._exit, or crash the interpreter? The other tests were run in a fresh "
        "process."
    )
    result = TestResult(test_id, kata, Status.ERROR, message)
    outcome.results[test_id] = result
    if progress:
        progress(result)


def _record_timeout(outcome: Outcome, test_id: str, limit: float, progress) -> None:
    kata = outcome.tests.get(test_id, {}).get("kata")
    result = TestResult(
        test_id,
        kata,
        Status.TIMEOUT,
        f"{kata or test_id} ran past the time limit of {limit:g} s and "
        "had to be stopped (an endless loop?)",
    )
    outcome.results[test_id] = result
    if progress:
        progress(result)
    for other, info in outcome.tests.items():  # the kata is timed out: skip its other tests
        if other not in outcome.results and kata and info.get("kata") == kata:
            outcome.results[other] = TestResult(
                other, kata, Status.TIMEOUT, f"{kata}: not run, an earlier test of it timed out"
            )
