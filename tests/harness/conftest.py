"""Helpers for the harness's own tests: plant a bug in a copy of the reference, grade it;
and the order of a whole session that takes in tests/harness (see
pytest_collection_modifyitems)."""

import ast
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from grader.catalog import ROOT
from grader.runner import GRADED_RUN_OPTIONS


class Planted:
    """A copy of solutions/ under tmp/exercises/, to be broken on purpose and graded."""

    def __init__(self, root: Path):
        self.root = root
        shutil.copytree(
            ROOT / "solutions", root / "exercises", ignore=shutil.ignore_patterns("__pycache__")
        )

    def path(self, module_id: str) -> Path:
        sprint, module = module_id.split(".")
        return self.root / "exercises" / sprint / f"{module}.py"

    def replace(self, module_id: str, old: str, new: str) -> None:
        path = self.path(module_id)
        text = path.read_text()
        assert old in text, f"{old!r} not found in {path}"
        path.write_text(text.replace(old, new, 1))

    def first(self, kata_id: str, code: str) -> None:
        """Put `code` first in the body of a kata's function, after its docstring."""
        module_id, name = kata_id.rsplit(".", 1)
        path = self.path(module_id)
        source = path.read_text()
        node = next(n for n in ast.parse(source).body if getattr(n, "name", None) == name)
        first = node.body[1] if ast.get_docstring(node) else node.body[0]
        indent = " " * first.col_offset
        lines = textwrap.dedent(code).strip().splitlines()
        block = "".join(f"{indent}{line}\n" for line in lines)
        text = source.splitlines(keepends=True)
        text.insert(first.lineno - 1, block)
        path.write_text("".join(text))

    def prepend(self, module_id: str, code: str) -> None:
        path = self.path(module_id)
        path.write_text(code + "\n" + path.read_text())

    def grade(self, *selectors: str, timeout: float = 3.0) -> dict:
        return grade(*selectors, target="exercises", root=self.root, timeout=timeout)


def run_in_process(run: str, *flags: str) -> str:
    """`nox -s train -- RUN --target solutions FLAGS` in this process (the tests' target is
    the reference), on one thread as --threads=1 asks of a run of its own: what it
    prints. Cheaper than a process of its own by a torch import, for the tests that
    check a run's output rather than its command line."""
    import contextlib
    import importlib
    import io

    import torch

    from runs.__main__ import parser

    module = importlib.import_module(f"runs.{run}")
    threads, out = torch.get_num_threads(), io.StringIO()
    torch.set_num_threads(1)
    try:
        with contextlib.redirect_stdout(out):
            assert module.main(parser().parse_args([run, *flags]), "solutions") == 0
    finally:
        torch.set_num_threads(threads)
    return out.getvalue()


def copy_project(names: tuple[str, ...], dest: Path) -> Path:
    """Copy these files and folders of the project (no bytecode) into dest; dest."""
    for name in names:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, dest / name)
    return dest


def grade(*selectors, target="solutions", root: Path | None = None, timeout=None) -> dict:
    """Run `python -m grader` as a learner would; returns the JSON report (written to a
    folder of its own, so that parallel workers and earlier runs never share one)."""
    env = dict(os.environ)
    env.pop("KATA_TARGET", None)
    if root is not None:
        env["KATA_ROOT"] = str(root)
    with tempfile.TemporaryDirectory(prefix="grade-") as folder:
        out = Path(folder) / "report.json"
        cmd = [sys.executable, "-m", "grader", *selectors, "--target", target, "--json", str(out)]
        if timeout:
            cmd += ["--timeout", str(timeout)]
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode in (0, 1), proc.stdout + proc.stderr
        report = json.loads(out.read_text())
    passed = all(k["status"] == "passed" for k in report["katas"])
    assert proc.returncode == (0 if passed else 1), "exit status 0 only when every kata passed"
    report["stdout"] = proc.stdout
    return report


# Run in a fresh interpreter: note where each watched module is first imported (the test
# running then, or the sprint file being collected), run pytest, print that as JSON.
_WATCHED_RUN = """
import json, os, re, sys
import pytest
WATCHED, ARGS = json.loads(sys.argv[1]), json.loads(sys.argv[2])
first = {}

def where():
    test = os.environ.get("PYTEST_CURRENT_TEST")
    if test:
        return test.rsplit(" ", 1)[0]
    frame = sys._getframe(2)
    while frame is not None:
        found = re.search(r"(tests|solutions|exercises)/sprint[0-9]+/.*", frame.f_code.co_filename)
        if found:
            return found.group(0).replace(os.sep, "/") + f" (line {frame.f_lineno})"
        frame = frame.f_back
    return "outside the sprints' files"

def watch(event, args):  # "import" is raised by a real import, not by a find_spec probe
    if event == "import" and args[0] in WATCHED and args[0] not in first:
        first[args[0]] = where()

sys.addaudithook(watch)
rc = pytest.main([*ARGS, "-p", "no:terminal", "-p", "no:randomly"])
ops = sys.modules.get("torchvision.ops")
ops_run = ops is not None and "_deferred_loader" not in vars(ops)
print(json.dumps({"rc": int(rc), "first": first, "ops_run": ops_run}))
"""


def run_sprints_watching_imports(sprints: list[str], watched: list[str]) -> dict:
    """Run these sprints' graded tests against the reference in one fresh interpreter, as
    a grading child does (in this order); {"first": {module: where it was first imported},
    "ops_run": whether torchvision.ops's code ran}, for each of `watched` that was."""
    args = [*(f"tests/{sprint}" for sprint in sprints), *GRADED_RUN_OPTIONS]
    env = {**os.environ, "KATA_TARGET": "solutions", "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    env.pop("PYTEST_CURRENT_TEST", None)  # this test's, not the child's
    proc = subprocess.run(
        [sys.executable, "-c", _WATCHED_RUN, json.dumps(watched), json.dumps(args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["rc"] == 0, f"the reference failed a graded test: pytest exit {result['rc']}"
    return result


def alive(pid: int) -> bool:
    """Whether the process runs (a zombie, dead but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def statuses(report: dict) -> dict[str, str]:
    return {k["id"]: k["status"] for k in report["katas"]}


@pytest.fixture
def planted(tmp_path) -> Planted:
    return Planted(tmp_path)


XDIST_VARIABLES = ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID")


@pytest.fixture(autouse=True)
def as_a_learner_runs_it(monkeypatch):
    """The commands these tests start run as a learner's would, not as pytest-xdist workers
    (which is what they would say they are under `nox -s tests`): pytest-benchmark, for
    one, stops timing in a process whose environment names an xdist worker."""
    for name in XDIST_VARIABLES:
        monkeypatch.delenv(name, raising=False)


HEAVY_FIRST = ("benchmarks", "tests/harness")  # then the rest: the sprints' tiny tests


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Run the heavy tests first: the benchmarks (whole models through a training step),
    then the harness's (each starts processes), then the thousand small tests of the
    sprints. Under `nox -s tests` the xdist workers then finish together, the last tests
    being small ones. The sort is stable: pytest-randomly's order holds within each part.

    A hook of this conftest sees every item of the session, so it orders the whole of it;
    it takes effect whenever tests/harness is collected."""

    def part(item) -> int:  # node ids start with the path from the project's root
        heavy = [i for i, top in enumerate(HEAVY_FIRST) if item.nodeid.startswith(top + "/")]
        return heavy[0] if heavy else len(HEAVY_FIRST)

    items.sort(key=part)
