"""`python -m grader.watch`: grades on start, red/green on save, survives what the learner's
code does, stops cleanly on Ctrl-C; the fork server grades as a spawned child does.

Each watcher runs on a planted copy of the reference (KATA_ROOT). The tests that share the
module's watcher form one xdist group (one worker, one watcher) and may run in any order:
each starts from a watcher that has drawn its first scorecard, and puts back what it
changed. `python -m tests.harness.test_watch` measures save → scorecard against `python -c
"import torch"`.
"""

from __future__ import annotations

import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from grader import catalog, cli, forkserver, runner, watch
from grader.catalog import ROOT
from tests.harness.conftest import Planted

MODULE = "sprint4.attention"
KATAS = [k.id for k in catalog.resolve(MODULE)]
MASK = "sprint4.attention.causal_mask"
MASK_BODY = "    return torch.ones(T, T, dtype=torch.bool, device=device).tril()"
SDPA = "sprint4.attention.scaled_dot_product_attention"
SDPA_BODY = "    return _attention_weights(q, k, mask) @ v"  # only its own kata calls it
LIMIT = 60.0  # seconds to wait for a scorecard (a cold server imports torch first)
ROW = re.compile(r"^\s+(sprint\d+\.\S+)\s+\d+/\d+\s+(\w+)", re.M)


class Watcher:
    """`python -m grader.watch` on a planted tree; a thread collects its scorecards."""

    def __init__(self, root: Path, *args: str):
        env = dict(os.environ, KATA_ROOT=str(root), NO_COLOR="1")
        env.pop("KATA_TARGET", None)
        # A watcher stops on Ctrl-C, as a learner's does, even when this process ignores
        # SIGINT (the tests started in the background by a shell, or under nohup): an
        # ignored signal stays ignored across exec, a handled one starts afresh.
        before = signal.getsignal(signal.SIGINT)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "grader.watch", *args],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                start_new_session=True,  # signals reach it only when a test sends them
            )
        finally:
            if before is not None:  # None: a handler that Python did not install, kept
                signal.signal(signal.SIGINT, before)
        self.cards: list[str] = []
        self.changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        lines: list[str] = []
        for line in self.proc.stdout:
            lines.append(line)
            if line.startswith("watching "):  # the footer ends a scorecard
                with self.changed:
                    self.cards.append("".join(lines))
                    self.changed.notify_all()
                lines = []

    def card(self, want=lambda s: True, after: int = 0, limit: float = LIMIT) -> dict:
        """The statuses of the first scorecard after the `after`th for which `want` holds."""
        deadline = time.monotonic() + limit
        seen = after
        with self.changed:
            while True:
                for text in self.cards[seen:]:
                    got = dict(ROW.findall(text))
                    if want(got):
                        return got
                seen = len(self.cards)
                left = deadline - time.monotonic()
                assert left > 0 and self.proc.poll() is None, self.failure()
                self.changed.wait(left)

    def failure(self) -> str:
        return f"no such scorecard; got:\n{''.join(self.cards[-2:])}"

    def save(self, path: Path, text: str) -> int:
        """Write the file; the number of scorecards drawn before it."""
        with self.changed:
            count = len(self.cards)
        path.write_text(text)
        return count

    def pids(self) -> set[int]:
        """This watcher's process and every descendant of it."""
        return {self.proc.pid} | descendants(self.proc.pid)

    def interrupt(self) -> tuple[int, str]:
        self.proc.send_signal(signal.SIGINT)
        try:
            code = self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        return code, self.proc.stderr.read()


def descendants(pid: int) -> set[int]:
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, todo = set(), [pid]
    while todo:
        parent = todo.pop()
        children = {p for p, pp in parents.items() if pp == parent}
        todo += children - found
        found |= children
    return found


def running(pid: int) -> bool:
    """Whether the process exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def all_passed(got: dict) -> bool:
    return [got.get(k) for k in KATAS] == ["passed"] * len(KATAS)


def mask_is(status: str):
    return lambda got: got.get(MASK) == status


needs_linux = pytest.mark.skipif(not forkserver.available(), reason="the fork server is Linux's")


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Planted:
    return Planted(tmp_path_factory.mktemp("watched"))


@pytest.fixture(scope="module")
def watcher(tree):
    """The module's watcher, once it has drawn its first scorecard (whichever test comes
    first, a save never lands in the grade on start); Ctrl-C at the end."""
    running_watcher = Watcher(tree.root, MODULE, "--timeout", "2")
    try:
        running_watcher.card()
        yield running_watcher
    finally:
        pids = running_watcher.pids()
        code, stderr = running_watcher.interrupt()
    assert code == 0 and "Traceback" not in stderr, stderr
    assert not [p for p in pids if running(p)], "Ctrl-C left processes behind"


@pytest.fixture
def attention(tree, watcher):
    """The planted attention.py; put back as it was after the test."""
    path = tree.path(MODULE)
    original = path.read_text()
    yield path, original
    if path.read_text() != original:
        watcher.card(all_passed, after=watcher.save(path, original))


# --- what a save affects ----------------------------------------------------------------


def test_a_save_regrades_its_module_and_those_that_import_it(tmp_path):
    tree = Planted(tmp_path).root / "exercises"
    selected = {"sprint4.attention", "sprint4.layers", "sprint5.gpt", "sprint1.tensors"}
    assert watch.affected({"sprint4.attention"}, tree, selected) == selected - {"sprint1.tensors"}
    assert watch.affected({"sprint4.layers"}, tree, selected) == {"sprint4.layers", "sprint5.gpt"}
    assert watch.affected({"sprint4"}, tree, {"sprint4.layers"}) == {"sprint4.layers"}
    change = watch.classify([tree / "sprint1" / "tensors.py"], tree, {"sprint4.attention"})
    assert change == watch.Change(set(), restart=False)
    test_file = ROOT / "tests" / "sprint4" / "test_attention.py"
    change = watch.classify([test_file], tree, {"sprint4.attention"})
    assert change == watch.Change({"sprint4.attention"}, restart=True)


def test_the_watcher_imports_no_torch_and_checks_its_command_line():
    code = "import sys, grader.watch; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0
    for args in ([], ["nothing_called_this"], [MODULE, "--json", "out.json"]):
        proc = subprocess.run(
            [sys.executable, "-m", "grader.watch", *args], cwd=ROOT, capture_output=True, text=True
        )
        assert proc.returncode == 2, proc.stderr
        assert "usage: nox -s watch" in proc.stderr


# --- the watcher --------------------------------------------------------------------------


def test_grades_on_start(watcher):
    got = watcher.card()
    assert all_passed(got), got
    assert list(got) == KATAS


def test_a_broken_kata_turns_red_then_green_on_save(watcher, attention):
    path, original = attention
    count = watcher.save(path, original.replace(MASK_BODY, MASK_BODY.replace("tril", "triu")))
    got = watcher.card(mask_is("failed"), after=count)
    assert got[MASK] == "failed"
    got = watcher.card(all_passed, after=watcher.save(path, original))
    assert got[MASK] == "passed"


def test_a_syntax_error_is_survived(watcher, attention):
    path, original = attention
    count = watcher.save(path, original.replace("def causal_mask(", "def causal_mask(("))
    watcher.card(lambda got: set(got.values()) == {"error"}, after=count)
    watcher.card(all_passed, after=watcher.save(path, original))


@pytest.mark.parametrize(
    "code, status",
    [
        ("while True: pass", "timeout"),
        ("import os; os._exit(1)", "error"),
        ("import ctypes; ctypes.string_at(0)", "error"),  # a segfault
        ("import sys; sys.exit(3)", "error"),
    ],
    ids=["hang", "os_exit", "segfault", "sys_exit"],
)
def test_a_hang_or_a_crash_is_survived(watcher, attention, code, status):
    path, original = attention
    count = watcher.save(path, original.replace(SDPA_BODY, f"    {code}\n{SDPA_BODY}"))
    got = watcher.card(lambda got: got.get(SDPA) == status, after=count)
    assert [s for k, s in got.items() if k != SDPA] == ["passed"] * (len(KATAS) - 1), got
    watcher.card(all_passed, after=watcher.save(path, original))


def test_a_save_during_a_grade_restarts_it_and_leaves_no_child(watcher, attention):
    path, original = attention
    count = watcher.save(path, original.replace(MASK_BODY, f"    while True: pass\n{MASK_BODY}"))
    time.sleep(0.7)  # the grade is in the hang now; the next save stops it
    watcher.card(all_passed, after=watcher.save(path, original))
    assert "timeout" not in "".join(watcher.cards[count:]), "the stale grade was drawn"
    deadline = time.monotonic() + 2
    while len([p for p in descendants(watcher.proc.pid) if running(p)]) > 1:
        assert time.monotonic() < deadline, "a grading child was left running"
        time.sleep(0.1)  # only the server may be left


@needs_linux
def test_ctrl_c_during_a_grade_stops_the_server_and_its_child(tmp_path):
    planted = Planted(tmp_path)
    planted.replace(MODULE, MASK_BODY, f"    while True: pass\n{MASK_BODY}")
    stopped = Watcher(tmp_path, MODULE, "--timeout", "60")
    deadline = time.monotonic() + LIMIT
    while len(stopped.pids()) < 3:  # the watcher, its server and the server's child
        assert time.monotonic() < deadline and stopped.proc.poll() is None, "no grade started"
        time.sleep(0.1)
    time.sleep(0.5)
    pids = stopped.pids()
    code, stderr = stopped.interrupt()
    assert code == 0, stderr
    assert "Traceback" not in stderr, stderr
    time.sleep(0.2)
    assert not [p for p in pids if running(p)], "Ctrl-C left processes behind"


# --- the fork server ----------------------------------------------------------------------


@needs_linux
def test_the_fork_servers_child_grades_as_a_spawned_one(tmp_path, monkeypatch):
    planted = Planted(tmp_path)
    planted.replace(MODULE, MASK_BODY, MASK_BODY.replace("tril", "triu"))  # a message to match
    monkeypatch.setenv("KATA_ROOT", str(tmp_path))
    request = cli.parse([MODULE, "--timeout", "5"])
    spawned = cli.grade(request)
    server = forkserver.Server(runner.child_env(request.target), request.sprints)
    try:
        forked = cli.grade(request, launch=server.launch)
        assert forked == spawned
        assert {r.id: r.status for r in forked}[MASK] == "failed"
        if runner.child_env(request.target)["OMP_NUM_THREADS"] == "1":
            threads = os.listdir(f"/proc/{server.proc.pid}/task")
            assert len(threads) == 1, "the server must fork single-threaded (no torch op)"
        server.proc.kill()  # a server that died is replaced
        server.proc.wait()
        assert cli.grade(request, launch=server.launch) == spawned
    finally:
        server.stop()
    assert server.proc is None


# --- the latency measure ------------------------------------------------------------------


def measure(saves: int = 5) -> tuple[float, float]:
    """Median seconds from a save of sprint4.attention to its new scorecard, and median
    seconds of `python -c "import torch"`."""
    imports = []
    for _ in range(saves):
        started = time.monotonic()
        subprocess.run([sys.executable, "-c", "import torch"], check=True)
        imports.append(time.monotonic() - started)
    with tempfile.TemporaryDirectory() as tmp:
        planted = Planted(Path(tmp))
        path = planted.path(MODULE)
        timer = Watcher(planted.root, MODULE, "--target", "exercises")
        try:
            timer.card(all_passed)
            times = []
            for n in range(saves):
                time.sleep(0.5)
                count = timer.save(path, path.read_text() + f"\n# save {n}\n")
                started = time.monotonic()
                timer.card(after=count)
                times.append(time.monotonic() - started)
        finally:
            timer.interrupt()
    return statistics.median(times), statistics.median(imports)


if __name__ == "__main__":
    save, torch_import = measure()
    print(f"save → scorecard: {save:.2f} s (median of 5)")
    print(f"python -c 'import torch': {torch_import:.2f} s (median of 5)")
    print(f"ratio: {save / torch_import:.2f}")
