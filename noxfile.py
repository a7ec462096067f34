"""The front door: `nox -s grade -- sprint1` grades your exercises, `nox -s tests` the project.
A bare `nox` prints the learner's commands and where you stand.

The sessions that run your code or torch share one virtual environment, `.venv`, built
from pyproject.toml. It is installed on the first call and again only when the
dependency lists change, so a grading run costs little more than importing torch. The
sessions around grading (hint, katas, progress, reset, solution) need no torch and run
straight away with nox's own Python.
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

nox.options.sessions = ["learn"]  # a bare `nox`
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


def run_module(
    session: nox.Session, module: str, usage: str | None = None, *, python: str | None = None
) -> None:
    """`python -m module` with the session's posargs (in the shared venv unless `python` is
    given); `usage` says what to pass when the module needs arguments and none came."""
    if usage and not session.posargs:
        usage_error(usage)
    session.run(python or venv_python(session), "-m", module, *session.posargs, external=True)


def usage_error(message: str) -> None:
    """Stop with exit status 2, as a command-line tool does on a usage error."""
    print(message, file=sys.stderr)
    raise SystemExit(2)


def learner_tool(session: nox.Session, *args: str, usage: str | None = None) -> None:
    """`python -m grader.learn ARGS posargs` with nox's own Python: no venv, no torch."""
    if usage and not session.posargs:
        usage_error(usage)
    session.run(sys.executable, "-m", "grader.learn", *args, *session.posargs, external=True)


@nox.session(venv_backend="none")
def learn(session: nox.Session) -> None:
    """What to run: the learner's commands, and where you stand (a bare `nox` runs this)."""
    learner_tool(session, "commands")


@nox.session(venv_backend="none", default=False)
def grade(session: nox.Session) -> None:
    """Grade your exercises: nox -s grade -- sprint1 [--target solutions] [--json PATH].
    Fails (status 1) unless every kata graded passes."""
    try:
        parse(session.posargs)
    except UsageError as exc:
        usage_error(str(exc) if session.posargs else USAGE)
    session.run(venv_python(session), "-m", "grader", *session.posargs, external=True)


@nox.session(venv_backend="none", default=False)
def watch(session: nox.Session) -> None:
    """Re-grade on every save: nox -s watch -- sprint4.attention (Ctrl-C stops)."""
    try:
        parse(session.posargs)
    except UsageError as exc:
        usage_error(str(exc) if session.posargs else USAGE.replace("grade", "watch", 1))
    session.run(venv_python(session), "-m", "grader.watch", *session.posargs, external=True)


@nox.session(venv_backend="none", default=False)
def hint(session: nox.Session) -> None:
    """The next hint for a kata: nox -s hint -- split_heads [--level 1|2|3]."""
    learner_tool(session, "hint", usage="usage: nox -s hint -- KATA [--level 1|2|3]")


@nox.session(venv_backend="none", default=False)
def katas(session: nox.Session) -> None:
    """Every kata with its order, difficulty and last status: nox -s katas [-- sprint2]."""
    learner_tool(session, "katas")


@nox.session(venv_backend="none", default=False)
def progress(session: nox.Session) -> None:
    """Every sprint at a glance, from your grading runs; writes PROGRESS.md."""
    learner_tool(session, "progress")


@nox.session(venv_backend="none", default=False)
def solution(session: nox.Session) -> None:
    """The reference for a kata you have passed: nox -s solution -- split_heads [--force]."""
    learner_tool(session, "solution", usage="usage: nox -s solution -- KATA [--force]")


@nox.session(venv_backend="none", default=False)
def reset(session: nox.Session) -> None:
    """Put back the stub of a kata, module or sprint (your code is backed up): nox -s reset
    -- split_heads [--yes]."""
    run_module(
        session,
        "grader.reset",
        "usage: nox -s reset -- KATA|MODULE|SPRINT... [--yes]",
        python=sys.executable,
    )


@nox.session(venv_backend="none", default=False)
def tests(session: nox.Session) -> None:
    """The project's own suite: every sprint against solutions/, the harness, the stubs,
    and the benchmarks run once each as tests (--benchmark-disable: no timing, no rot).

    In parallel: one pytest-xdist worker per core (-n auto), and one torch thread per
    worker (OMP_NUM_THREADS=1, --bench-threads 1: two workers with a pool each fight over
    the cores, a 2000-step training test then takes 10 s instead of 0.3), the heavy tests
    first (tests/harness/conftest.py). --dist loadgroup hands out tests one at a time,
    except that a module with a module-scoped fixture (a graded run with faults planted, a
    watcher) goes whole to one worker, so that the fixture is made once (tests/scheduling.py,
    as pytest-xdist 3.8 cannot see @xdist_group under pytest 9.2). Nothing else assumes
    which worker runs what: each sprint's variant run is made once and shared through
    files, and every temporary path is a test's own.

    In a random order, by default (pytest-randomly): the header says `Using
    --randomly-seed=N`, and `nox -s tests -- --randomly-seed=N` replays that order;
    `-- --randomly-dont-reorganize` runs in file order. pytest-randomly only shuffles here
    (--randomly-dont-reset-seed): every test starts from the seeds grader.plugin sets, as a
    graded test does. Grading children never load it (PYTEST_DISABLE_PLUGIN_AUTOLOAD=1).

    Arguments after -- are added: nox -s tests -- -x; -n 0 runs serially; paths replace
    the default ones: nox -s tests -- tests/sprint1 tests/harness/test_cli.py."""
    paths = [arg for arg in session.posargs if path_in_project(arg)]
    args = [*PARALLEL, *RANDOM, "--benchmark-disable"]
    if not paths or any(path_in_project(arg, "benchmarks") for arg in paths):
        args += ["--bench-threads", "1"]  # an option of benchmarks/conftest.py
    args += [] if paths else ["tests", "benchmarks"]
    session.run(
        venv_python(session),
        "-m",
        "pytest",
        *args,
        *session.posargs,
        external=True,
        env={"KATA_TARGET": "solutions", "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")},
    )


PARALLEL = ["-p", "xdist", "-n", "auto", "--dist", "loadgroup"]
RANDOM = ["-p", "randomly", "--randomly-dont-reset-seed"]


def path_in_project(arg: str, under: str = "") -> bool:
    """Whether a pytest argument names a file or folder of the project (or one `under`
    a folder of it), like tests/sprint1 or benchmarks/bench_sprint1.py::bench_x[cpu]."""
    if arg.startswith("-"):
        return False
    path = (HERE / arg.split("::")[0]).resolve()
    return path.exists() and path.is_relative_to(HERE / under)


@nox.session(venv_backend="none", default=False)
def lint(session: nox.Session) -> None:
    """ruff: the format check and the lint rules."""
    python = venv_python(session)
    session.run(python, "-m", "ruff", "format", "--check", ".", external=True)
    session.run(python, "-m", "ruff", "check", ".", external=True)


@nox.session(venv_backend="none", default=False)
def bench(session: nox.Session) -> None:
    """Benchmarks: nox -s bench -- sprint4 [--target solutions] [--device cpu|cuda|all]."""
    suites = sorted(p.stem.removeprefix("bench_") for p in (HERE / "benchmarks").glob("bench_*.py"))
    run_module(
        session,
        "benchmarks",
        f"usage: nox -s bench -- {{{','.join([*suites, 'all'])}}} "
        "[--target exercises|solutions] [--device cpu|cuda|all] [--threads N] [--sizes ...] "
        "[--budget SECONDS]",
    )


@nox.session(venv_backend="none", default=False)
def stubs(session: nox.Session) -> None:
    """For maintainers: regenerate exercises/ from solutions/ (edited files are kept;
    --force overwrites every one of them: to undo one kata, use nox -s reset)."""
    run_module(session, "grader.stubs")


@nox.session(venv_backend="none", default=False)
def new(session: nox.Session) -> None:
    """For maintainers: the skeletons of a new kata: nox -s new -- sprint6.micrograd.Value
    (CONTRIBUTING.md says what to write in them)."""
    run_module(
        session, "grader.new", "usage: nox -s new -- sprintN.module.name", python=sys.executable
    )


@nox.session(venv_backend="none", default=False)
def syllabus(session: nox.Session) -> None:
    """For maintainers: write SYLLABUS.md from solutions/ and tests/<sprint>/katas.toml."""
    run_module(session, "grader.syllabus", python=sys.executable)


@nox.session(venv_backend="none", default=False)
def train(session: nox.Session) -> None:
    """A real run with your code: nox -s train -- {mlp,gpt,gpt2,lora,gguf} [--target
    solutions] [...]."""
    run_module(
        session,
        "runs",
        "usage: nox -s train -- {mlp,gpt,gpt2,lora,gguf} [--target exercises|solutions] [options]; "
        "nox -s train -- gpt -h lists a run's options",
    )
