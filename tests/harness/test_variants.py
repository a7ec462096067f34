"""The known mistakes are caught and the correct alternatives pass, for every kata.

A child pytest run (`--kata-variants`) runs each sprint test once more for every variant
of its kata, with the variant patched in; the tests below read its results. Under xdist
there is one such run per sprint, made once per session by whichever worker asks for it
first: a worker that finds the run it needs taken makes another one meanwhile, so the
workers share the runs whatever order the tests come in.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from grader import catalog, layout, runner, variants
from grader.catalog import ROOT
from tests.harness import leaks
from tests.harness.conftest import XDIST_VARIABLES

try:
    import fcntl
except ImportError:  # Windows: each worker makes the runs it needs
    fcntl = None

MIN_MISTAKES, MIN_ALTERNATIVES = 3, 1


def all_variants() -> list[variants.Variant]:
    found = []
    for sprint in catalog.sprints():
        found += variants.all_for_sprint(sprint, catalog.modules(sprint))
    return found


ALL = all_variants()


def of_kind(kind: str) -> list:
    """The variants of one kind as parameters."""
    return [pytest.param(v, id=v.id) for v in ALL if v.kind == kind]


def sprint_of(variant: variants.Variant) -> str:
    return variant.kata.split(".", 1)[0]


def run_variants(sprints: list[str], out: Path) -> dict:
    """The outcome of every test of `sprints` with each variant of its kata patched in, by
    variant id; {"failed": why} when the run itself failed."""
    env = dict(os.environ, KATA_TARGET="solutions", PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    for name in ("KATA_ROOT", *XDIST_VARIABLES):
        env.pop(name, None)  # the reference's tree; a run of its own, not an xdist worker's
    proc = subprocess.run(
        runner.child_command(  # as a grade runs them: the same messages
            [
                *(f"tests/{sprint}" for sprint in sprints),
                "-q",
                "--tb=line",
                *runner.GRADED_RUN_OPTIONS,
                "--kata-variants",
                str(out),
            ]
        ),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    if proc.returncode != 0:
        ran = " ".join(sprints)
        return {
            "failed": f"the reference must pass while the variants of {ran} run:\n{proc.stdout}"
        }
    return json.loads(out.read_text())


def runs_of(sprints: list[str], workers: int) -> list[list[str]]:
    """The sprints each child run takes: all of them in one run for one process; under
    xdist, one run per sprint. Small runs leave a worker little to wait for when the run
    it needs is still being made by another, for a child start each (torch and pytest,
    ~1.5 s)."""
    return [list(sprints)] if workers == 1 else [[sprint] for sprint in sprints]


class VariantRuns:
    """The variant runs of one session, shared by its xdist workers through `folder`:
    <run>.json is a finished run, <run>.lock is held while one is made. A worker
    that finds the run it needs taken makes one nobody has started, then waits."""

    def __init__(self, folder: Path, runs: list[list[str]]):
        self.folder = folder
        self.run_of = {sprint: "+".join(run) for run in runs for sprint in run}
        self.size = {"+".join(run): sum(sprint_of(v) in run for v in ALL) for run in runs}
        self.loaded: dict[str, dict] = {}  # by run

    def of(self, variant: variants.Variant) -> dict:
        sprint = sprint_of(variant)
        if sprint not in self.run_of:
            chosen = ",".join(self.run_of)
            pytest.skip(f"KATA_VARIANT_SPRINTS={chosen} leaves {sprint} out")
        run = self.run_of[sprint]
        while run not in self.loaded:
            if self._make(run, wait=False):
                break
            others = [r for r in set(self.run_of.values()) if not self._done(r)]
            others.sort(key=lambda r: (-self.size[r], r))  # the longest runs first
            if not any(self._make(other, wait=False) for other in others):
                self._make(run, wait=True)  # every run is taken: wait for this one
        if "failed" in self.loaded[run]:  # said by each of its tests, never run again
            pytest.fail(self.loaded[run]["failed"], pytrace=False)
        return self.loaded[run][variant.id]

    def _done(self, run: str) -> bool:
        return run in self.loaded or (self.folder / f"{run}.json").exists()

    def _make(self, run: str, *, wait: bool) -> bool:
        """Load the run, making it first if no one has: False when another worker
        holds it (and `wait` is False)."""
        fd = os.open(self.folder / f"{run}.lock", os.O_CREAT | os.O_RDWR)
        try:
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
                except BlockingIOError:
                    return False
            done = self.folder / f"{run}.json"
            if not done.exists():
                try:
                    made = run_variants(run.split("+"), self.folder / f"{run}.out")
                except Exception as exc:  # a hang, say: its tests fail, the run is not retried
                    made = {"failed": f"the variant run of {run}: {exc!r}"}
                partial = self.folder / f"{run}.{os.getpid()}.tmp"
                partial.write_text(json.dumps(made))
                os.replace(partial, done)  # whole or absent, for the other workers
            self.loaded[run] = json.loads(done.read_text())
            return True
        finally:
            os.close(fd)  # and with it the lock


@pytest.fixture(scope="session")
def outcomes(request, tmp_path_factory):
    """outcomes(variant): its tests' results, from the variant run of its sprint.
    KATA_VARIANT_SPRINTS=sprint4,sprint5 skips the other sprints' variants (a quicker loop
    while editing)."""
    base, workers = tmp_path_factory.getbasetemp(), 1
    if hasattr(request.config, "workerinput"):  # an xdist worker: its folder is per worker
        base, workers = base.parent, request.config.workerinput["workercount"]
    folder = base / "variant-runs"
    folder.mkdir(exist_ok=True)
    chosen = [s for s in os.environ.get("KATA_VARIANT_SPRINTS", "").split(",") if s]
    return VariantRuns(folder, runs_of(chosen or catalog.sprints(), workers)).of


@pytest.mark.parametrize("variant", of_kind("mistake"))
def test_mistake_is_caught(outcomes, variant):
    tests = outcomes(variant)["tests"]
    assert any(t["status"] not in ("passed", "skipped") for t in tests.values()), (
        f"no test of {variant.kata} fails the known mistake {variant.name!r}: {variant.description}"
    )


@pytest.mark.parametrize("variant", of_kind("alternative"))
def test_alternative_passes(outcomes, variant):
    failing = {
        n: t
        for n, t in outcomes(variant)["tests"].items()
        if t["status"] not in ("passed", "skipped")  # skipped: hardware this machine lacks
    }
    assert not failing, f"the correct alternative {variant.name!r} fails: {failing}"


@pytest.mark.parametrize(
    "kata", [k for s in catalog.sprints() for k in catalog.katas(s)], ids=lambda k: k.id
)
def test_every_kata_has_mistakes_and_alternatives(kata):
    mine = [v for v in ALL if v.kata == kata.id]
    mistakes = sum(v.kind == "mistake" for v in mine)
    alternatives = sum(v.kind == "alternative" for v in mine)
    assert mistakes >= MIN_MISTAKES and alternatives >= MIN_ALTERNATIVES, (
        f"{kata.id} has {mistakes} known mistakes and {alternatives} alternatives; "
        f"write at least {MIN_MISTAKES} and {MIN_ALTERNATIVES} in "
        f"{layout.harness_file('variants', kata.module_id)}"
    )


def test_variants_name_real_katas():
    known = {k.id for s in catalog.sprints() for k in catalog.katas(s)}
    assert {v.kata for v in ALL} <= known


@pytest.mark.parametrize("variant", of_kind("mistake"))
def test_the_message_a_mistake_gets_quotes_no_code_of_the_answer(outcomes, variant):
    """What a learner who made this mistake reads describes it; it never prints the fix."""
    expressions = leaks.module_expressions(variant.kata.rsplit(".", 1)[0])
    found = {
        name.split("::", 1)[-1]: leaks.quoted(t["message"], expressions)[0]
        for name, t in outcomes(variant)["tests"].items()
        if leaks.quoted(t["message"], expressions)
    }
    assert not found, f"{variant.kata}'s messages quote the reference: {found}"
