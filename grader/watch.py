"""`python -m grader.watch SELECTOR... [--target T] [--timeout S]`: red/green on save.

Grades the selection once and draws its scorecard, then watches the graded tree (.py
files only). A save re-grades what it affects: the selected modules whose file changed
and the selected modules that import it (a static scan of the tree's imports); the other
katas keep their last result, and the whole scorecard is drawn again. A save during a
grade stops that grade (its child is killed) and starts one that covers both.

Each grade runs in a child forked by a warm server (grader.forkserver) that has torch
loaded already; a save to tests/ or grader/ starts a fresh server. Ctrl-C stops the
watcher, the server and any grading child. This process imports the standard library
and watchfiles only: no torch, no learner code.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import os
import queue
import signal
import sys
import threading
import time
from pathlib import Path

import watchfiles

from grader import catalog, cli, forkserver, layout, report, runner, target
from grader.catalog import ROOT

USAGE = (
    "usage: nox -s watch -- SELECTOR... [--target exercises|solutions] [--timeout SECONDS]\n"
    "  grades the selection, then again each time you save a file of it (Ctrl-C to stop)"
)
HARNESS = ("tests", "grader")  # folders under the project's root whose code grades
CLEAR = "\033[2J\033[3J\033[H"


class Superseded(Exception):
    """A save came in while a grade ran: that grade's results are out of date."""


def parse(argv: list[str]) -> cli.Request:
    """The grade command line, less --json; raises cli.UsageError with this usage."""
    try:
        request = cli.parse(argv)
    except cli.UsageError as exc:
        raise cli.UsageError(str(exc).replace(cli.USAGE, USAGE)) from None
    if request.json is not None:
        raise cli.UsageError(f"watch writes no --json report\n{USAGE}")
    return request


# --- what a save affects ----------------------------------------------------------------


def tree_module(path: Path, tree: Path) -> str | None:
    """exercises/sprint4/attention.py → "sprint4.attention"; a package's __init__.py →
    "sprint4" (or "" for the tree's own); None for anything else."""
    try:
        parts = path.relative_to(tree).with_suffix("").parts
    except ValueError:
        return None
    if parts == ("__init__",):
        return ""
    if len(parts) != 2 or not catalog.SPRINT_RE.match(parts[0]):
        return None
    return parts[0] if parts[1] == "__init__" else ".".join(parts)


def imported_modules(source: str, module_id: str, tree_name: str) -> set[str]:
    """The tree's modules ("sprintN.module") that a module's source imports, relative
    (`from .attention import X`, `from ..sprint4 import layers`) or absolute."""
    sprint = module_id.split(".")[0]
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            base = _from_base(node, sprint, tree_name)
            if base is not None:
                found |= _named(base, [alias.name for alias in node.names])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == tree_name:
                    found |= _named(parts[1:], [])
    return found


def _from_base(node: ast.ImportFrom, sprint: str, tree_name: str) -> list[str] | None:
    """Where in the tree a `from X import ...` points (["sprint4", "attention"]); None
    outside it."""
    module = node.module.split(".") if node.module else []
    if node.level == 1:
        return [sprint, *module]
    if node.level == 2:
        return module
    if node.level == 0 and module[:1] == [tree_name]:
        return module[1:]
    return None


def _named(parts: list[str], names: list[str]) -> set[str]:
    """The module ids an import names: ["sprint4", "attention"] itself, or ["sprint4"]
    with each imported name taken as a module of it."""
    if len(parts) == 2:
        return {".".join(parts)}
    if len(parts) == 1:
        return {f"{parts[0]}.{name}" for name in names}
    return set()


def tree_modules(tree: Path) -> list[str]:
    """Every module of the tree, "sprintN.module"."""
    found = (tree_module(path, tree) for path in sorted(tree.glob("sprint*/*.py")))
    return [m for m in found if m and "." in m]


def importers(tree: Path) -> dict[str, set[str]]:
    """Module id → the tree's modules that import it directly (read from the files now)."""
    found: dict[str, set[str]] = {}
    for module_id in tree_modules(tree):
        sprint, module = module_id.split(".")
        try:
            source = (tree / sprint / f"{module}.py").read_text()
            imported = imported_modules(source, module_id, tree.name)
        except (OSError, SyntaxError, ValueError):
            continue  # a file mid-save or broken: its own grade says so
        for name in imported:
            found.setdefault(name, set()).add(module_id)
    return found


def affected(changed: set[str], tree: Path, selected: set[str]) -> set[str]:
    """The selected modules to grade again when these tree modules changed: the changed
    ones and those that import them, directly or not. A sprint's __init__ stands for
    every module of the sprint, the tree's for every module."""
    start = set()
    for module_id in changed:
        if "." in module_id:
            start.add(module_id)
        else:  # a package: importing any of its modules runs it
            start |= {m for m in tree_modules(tree) if module_id in ("", m.split(".")[0])}
    by = importers(tree)
    seen, todo = set(), list(start)
    while todo:
        module_id = todo.pop()
        if module_id not in seen:
            seen.add(module_id)
            todo += by.get(module_id, ())
    return seen & selected


def harness_module(path: Path) -> str | None:
    """tests/sprint4/test_attention.py or variants_attention.py → "sprint4.attention"."""
    return layout.module_of(path)


@dataclasses.dataclass
class Change:
    """What a batch of saves asks for."""

    modules: set[str]  # selected modules to grade again
    restart: bool = False  # the harness changed: the warm server is out of date


def classify(paths: list[Path], tree: Path, selected: set[str]) -> Change:
    """The modules to re-grade, and whether to restart the server, after these saves."""
    changed, modules, restart = set(), set(), False
    for path in paths:
        if path.suffix != ".py":
            continue
        module_id = tree_module(path, tree)
        if module_id is not None:
            changed.add(module_id)
        elif any(path.is_relative_to(ROOT / folder) for folder in HARNESS):
            restart = True
            graded = harness_module(path)
            if graded is not None:
                modules |= {graded} & selected
            elif not path.is_relative_to(ROOT / "tests" / "harness"):
                modules |= selected  # the grader, or test code shared by modules
    return Change(modules | affected(changed, tree, selected), restart)


def forget_bytecode(path: Path) -> None:
    """Delete a saved file's cached bytecode: Python trusts a .pyc whose source has the
    same size and modification second, so a quick edit of the same length (tril → triu)
    would otherwise grade the code from before the save."""
    for cached in path.parent.glob(f"__pycache__/{path.stem}.*.pyc"):
        with contextlib.suppress(OSError):
            cached.unlink()


# --- the watcher ------------------------------------------------------------------------


class Cancellable:
    """A launcher that another thread can stop: `cancel` kills the child it runs, and
    every later launch of the same grade raises Superseded."""

    def __init__(self, launch):
        self.launch = launch
        self.lock = threading.Lock()
        self.cancelled = False
        self.pid: int | None = None

    def arm(self) -> None:
        """A new grade begins."""
        with self.lock:
            self.cancelled, self.pid = False, None

    def disarm(self) -> None:
        """The grade is over: its last child is gone, so there is nothing to kill."""
        with self.lock:
            self.pid = None

    def cancel(self) -> None:
        with self.lock:
            self.cancelled, pid = True, self.pid
        if pid is not None:
            _kill_group(pid)

    def __call__(self, args, env, stderr):
        with self.lock:
            if self.cancelled:
                raise Superseded
        proc = self.launch(args, env, stderr)
        with self.lock:
            self.pid, cancelled = proc.pid, self.cancelled
        if cancelled:  # cancel came between the check and now
            _kill_group(proc.pid)
        return proc


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


class Watcher:
    """Grades a request, then again on each save that affects it, until interrupted."""

    def __init__(self, request: cli.Request):
        self.request = request
        self.tree = target.target_root() / request.target
        self.selected = {k.module_id for k in request.katas}
        self.results: dict[str, report.KataResult] = {}
        self.changes: queue.Queue = queue.Queue()
        self.stop = threading.Event()
        self.server = None
        launch = runner.spawn
        if forkserver.available():
            self.server = forkserver.Server(runner.child_env(request.target), request.sprints)
            launch = self.server.launch
        self.launch = Cancellable(launch)
        self.thread = threading.Thread(target=self._watch, name="watch", daemon=True)

    def run(self) -> None:
        if self.server is not None:
            self.server.start()  # loads torch while the first grade gets ready
        self.thread.start()
        pending = set(self.selected)
        while True:
            if pending and self.grade(pending):
                pending = set()
            change = self.next_change()
            if change.restart and self.server is not None:
                self.server.start()
            pending |= change.modules

    def next_change(self) -> Change:
        """Wait for saves; every batch that came meanwhile, merged."""
        change = self._take(self.changes.get())
        while not self.changes.empty():
            more = self._take(self.changes.get())
            change = Change(change.modules | more.modules, change.restart or more.restart)
        return change

    @staticmethod
    def _take(item) -> Change:
        if isinstance(item, BaseException):  # the watching thread failed
            raise item
        return item

    def grade(self, modules: set[str]) -> bool:
        """Grade these modules and draw the scorecard; False when a save superseded it."""
        request = dataclasses.replace(
            self.request, katas=[k for k in self.request.katas if k.module_id in modules]
        )
        self.launch.arm()
        self.say(f"grading {', '.join(sorted(modules))} ...")
        started = time.monotonic()
        try:
            results = cli.grade(request, launch=self.launch)
        except Superseded:
            return False
        finally:
            self.launch.disarm()
        if self.launch.cancelled:
            return False
        self.results.update((r.id, r) for r in results)
        self.draw(time.monotonic() - started, results)
        return True

    def draw(self, seconds: float, graded: list) -> None:
        """The whole selection's scorecard; only `graded` are recorded as graded now."""
        results = [self.results[k.id] for k in self.request.katas if k.id in self.results]
        text = cli.show(self.request, results, seconds, graded)
        clear = CLEAR if sys.stdout.isatty() else ""
        self.say(f"{clear}{text}\n\n{self.footer()}")

    def footer(self) -> str:
        try:
            shown = self.tree.relative_to(Path.cwd())
        except ValueError:
            shown = self.tree
        return f"watching {shown}/ for changes to {self.request.label} (Ctrl-C to stop)"

    @staticmethod
    def say(text: str) -> None:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

    def _watch(self) -> None:
        """In a thread: turn saves into Changes for the main thread; cancel the grade
        in progress when they make it out of date."""
        folders = [self.tree, *(ROOT / f for f in HARNESS)]
        try:
            for batch in watchfiles.watch(
                *folders,
                watch_filter=watchfiles.PythonFilter(),
                debounce=50,
                step=20,
                stop_event=self.stop,
                raise_interrupt=False,
            ):
                paths = [Path(p) for _, p in batch]
                for path in paths:
                    forget_bytecode(path)
                change = classify(paths, self.tree, self.selected)
                if change.modules:  # first: each cancel is then followed by a put
                    self.launch.cancel()
                if change.modules or change.restart:
                    self.changes.put(change)
        except Exception as exc:
            self.changes.put(exc)

    def close(self) -> None:
        """Stop watching, and kill the grading child and the server."""
        self.stop.set()
        self.launch.cancel()
        if self.server is not None:
            self.server.stop()
        if self.thread.is_alive():
            self.thread.join(timeout=1)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    try:
        request = parse(sys.argv[1:] if argv is None else argv)
    except cli.UsageError as exc:
        print(exc, file=sys.stderr)
        return 2
    tree = target.target_root() / request.target
    if not tree.is_dir():
        print(f"there is no {tree} to watch", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _interrupt)
    watcher = None
    try:
        watcher = Watcher(request)
        watcher.run()
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut cleanup
        print("\nstopped watching", file=sys.stderr)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if watcher is not None:
            watcher.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
