"""The front door: `nox -s grade -- sprint1` grades your exercises, `nox -s tests` the project.

All sessions share one virtual environment, `.venv`, built from pyproject.toml. It is
installed on the first call and again only when the dependency lists change, so a
grading run costs little more than importing torch.
"""

import hashlib
import json
import os
import sys
import tomllib
from pathlib import Path

import nox

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from grader.cli import USAGE, UsageError, parse  # stdlib only: no torch here

nox.options.sessions = ["tests", "lint"]
VENV = HERE / ".venv"
STAMP = VENV / ".torch-katas-deps"


def requirements() -> list[str]:
    project = tomllib.loads((HERE / "pyproject.toml").read_text())["project"]
    extras = project.get("optional-dependencies", {})
    return project["dependencies"] + [dep for group in extras.values() for dep in group]


def venv_python(session: nox.Session) -> str:
    """The shared venv's python, (re)installed only when the requirements changed."""
    python = VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    wanted = requirements()
    stamp = hashlib.sha256(json.dumps([sys.version_info[:2], wanted]).encode()).hexdigest()
    if python.exists() and STAMP.exists() and STAMP.read_text() == stamp:
        return str(python)
    if not python.exists():
        session.log(f"creating {VENV.relative_to(HERE)} (once)")
        session.run(sys.executable, "-m", "venv", str(VENV), external=True)
    session.log("installing the requirements (first run, or pyproject.toml changed)")
    session.run(str(python), "-m", "pip", "install", "-q", *wanted, external=True)
    STAMP.write_text(stamp)
    return str(python)


def run_module(session: nox.Session, module: str, usage: str | None = None) -> None:
    """`python -m module` with the session's posargs in the shared venv; `usage` says what
    to pass when the module needs arguments and none came."""
    if usage and not session.posargs:
        session.error(usage)
    session.run(venv_python(session), "-m", module, *session.posargs, external=True)


@nox.session(venv_backend="none", default=False)
def grade(session: nox.Session) -> None:
    """Grade your exercises: nox -s grade -- sprint1 [--target solutions] [--json PATH]."""
    try:
        parse(session.posargs)
    except UsageError as exc:
        session.error(str(exc) if session.posargs else USAGE)
    session.run(venv_python(session), "-m", "grader", *session.posargs, external=True)


@nox.session(venv_backend="none")
def tests(session: nox.Session) -> None:
    """The project's own suite: every sprint against solutions/, the harness, the stubs,
    and the benchmarks run once each as tests (--benchmark-disable: no timing, no rot)."""
    args = session.posargs or ["tests", "benchmarks", "--benchmark-disable"]
    session.run(
        venv_python(session), "-m", "pytest", *args, external=True, env={"KATA_TARGET": "solutions"}
    )


@nox.session(venv_backend="none")
def lint(session: nox.Session) -> None:
    """ruff: the format check and the lint rules."""
    python = venv_python(session)
    session.run(python, "-m", "ruff", "format", "--check", ".", external=True)
    session.run(python, "-m", "ruff", "check", ".", external=True)


@nox.session(venv_backend="none", default=False)
def bench(session: nox.Session) -> None:
    """Benchmarks: nox -s bench -- sprint4 [--target solutions] [--device cpu|cuda|all]."""
    run_module(
        session,
        "benchmarks",
        "usage: nox -s bench -- {sprint1,sprint3,sprint4,sprint5,all} "
        "[--target exercises|solutions] [--device cpu|cuda|all] [--threads N] [--sizes ...]",
    )


@nox.session(venv_backend="none", default=False)
def stubs(session: nox.Session) -> None:
    """Regenerate exercises/ from solutions/ (files holding your work are kept; --force)."""
    run_module(session, "grader.stubs")


@nox.session(venv_backend="none", default=False)
def train(session: nox.Session) -> None:
    """A real run with your code: nox -s train -- {mlp,gpt,gpt2} [--target solutions] [...]."""
    run_module(
        session,
        "runs",
        "usage: nox -s train -- {mlp,gpt,gpt2} [--target exercises|solutions] [options]; "
        "nox -s train -- gpt -h lists a run's options",
    )
