"""Helpers for the harness's own tests: plant a bug in a copy of the reference, grade it."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grader.catalog import ROOT


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

    def prepend(self, module_id: str, code: str) -> None:
        path = self.path(module_id)
        path.write_text(code + "\n" + path.read_text())

    def grade(self, *selectors: str, timeout: float = 3.0) -> dict:
        return grade(*selectors, target="exercises", root=self.root, timeout=timeout)


def grade(*selectors, target="solutions", root: Path | None = None, timeout=None) -> dict:
    """Run `python -m grader` as a learner would; returns the JSON report."""
    out = Path(os.environ.get("TMPDIR", "/tmp")) / f"grade-{os.getpid()}-{id(selectors)}.json"
    env = dict(os.environ)
    env.pop("KATA_TARGET", None)
    if root is not None:
        env["KATA_ROOT"] = str(root)
    cmd = [sys.executable, "-m", "grader", *selectors, "--target", target, "--json", str(out)]
    if timeout:
        cmd += ["--timeout", str(timeout)]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    report = json.loads(out.read_text())
    passed = all(k["status"] == "passed" for k in report["katas"])
    assert proc.returncode == (0 if passed else 1), "exit status 0 only when every kata passed"
    out.unlink()
    report["stdout"] = proc.stdout
    return report


def statuses(report: dict) -> dict[str, str]:
    return {k["id"]: k["status"] for k in report["katas"]}


@pytest.fixture
def planted(tmp_path) -> Planted:
    return Planted(tmp_path)
