"""The known mistakes are caught and the correct alternatives pass, for every kata.

One child pytest run per sprint (`--kata-variants`) runs each of the sprint's tests once
more for every variant of its kata, with the variant patched in; the tests below read its
results. Each sprint's run happens once per session, whichever xdist worker asks for it
first: a worker that finds a run taken by another starts one nobody has started yet, then
waits for the one it needs, so the workers share the runs whatever order the tests come
in. The tests of a sprint also form one xdist group, for a scheduler that honours it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from grader import catalog, layout, variants
from grader.catalog import ROOT
from tests.harness import leaks
from tests.harness.conftest import XDIST_VARIABLES

try:
    import fcntl
except ImportError:  # Windows: each worker makes the runs it needs
    fcntl = None

MIN_MISTAKES, MIN_ALTERNATIVES = 2, 1


def all_variants() -> list[variants.Variant]:
    found = []
    for sprint in catalog.sprints():
        found += variants.all_for_sprint(sprint, catalog.modules(sprint))
    return found


ALL = all_variants()


def of_kind(kind: str) -> list:
    """The variants of one kind as parameters, each in its sprint's xdist group."""
    return [
        pytest.param(v, id=v.id, marks=pytest.mark.xdist_group(f"variants-{sprint_of(v)}"))
        for v in ALL
        if v.kind == kind
    ]


def sprint_of(variant: variants.Variant) -> str:
    return variant.kata.split(".", 1)[0]


def run_variants(sprint: str, out: Path) -> dict:
    """The outcome of every test of `sprint` with each variant of its kata patched in, by
    variant id; {"failed": why} when the run itself failed."""
    env = dict(os.environ, KATA_TARGET="solutions", PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    for name in ("KATA_ROOT", *XDIST_VARIABLES):
        env.pop(name, None)  # the reference's tree; a run of its own, not an xdist worker's
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            f"tests/{sprint}",
            "-q",
            "--tb=line",
            "-p",
            "no:warnings",
            "--kata-variants",
            str(out),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    if proc.returncode != 0:
        return {"failed": f"the reference must pass while {sprint}'s variants run:\n{proc.stdout}"}
    return json.loads(out.read_text())


class VariantRuns:
    """The sprints' variant runs of one session, shared by its xdist workers through
    `folder`: <sprint>.json is a finished run, <sprint>.lock is held while one is made."""

    def __init__(self, folder: Path, sprints: list[str]):
        self.folder, self.sprints = folder, sprints
        self.loaded: dict[str, dict] = {}

    def of(self, variant: variants.Variant) -> dict:
        sprint = sprint_of(variant)
        if sprint not in self.sprints:
            pytest.skip(f"KATA_VARIANT_SPRINTS={','.join(self.sprints)} leaves {sprint} out")
        while sprint not in self.loaded:
            if self._make(sprint, wait=False):
                break
            others = [s for s in self.sprints if not self._done(s)]
            if not any(self._make(other, wait=False) for other in others):
                self._make(sprint, wait=True)  # every run is taken: wait for this one
        if "failed" in self.loaded[sprint]:  # said by each of its tests, never run again
            pytest.fail(self.loaded[sprint]["failed"], pytrace=False)
        return self.loaded[sprint][variant.id]

    def _done(self, sprint: str) -> bool:
        return sprint in self.loaded or (self.folder / f"{sprint}.json").exists()

    def _make(self, sprint: str, *, wait: bool) -> bool:
        """Load the sprint's run, making it first if no one has: False when another worker
        holds it (and `wait` is False)."""
        fd = os.open(self.folder / f"{sprint}.lock", os.O_CREAT | os.O_RDWR)
        try:
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
                except BlockingIOError:
                    return False
            done = self.folder / f"{sprint}.json"
            if not done.exists():
                try:
                    made = run_variants(sprint, self.folder / f"{sprint}.{os.getpid()}.out")
                except Exception as exc:  # a hang, say: its tests fail, the run is not retried
                    made = {"failed": f"{sprint}'s variant run: {exc!r}"}
                partial = self.folder / f"{sprint}.{os.getpid()}.tmp"
                partial.write_text(json.dumps(made))
                os.replace(partial, done)  # whole or absent, for the other workers
            self.loaded[sprint] = json.loads(done.read_text())
            return True
        finally:
            os.close(fd)  # and with it the lock


@pytest.fixture(scope="session")
def outcomes(request, tmp_path_factory):
    """outcomes(variant): its tests' results, from its sprint's run. KATA_VARIANT_SPRINTS=
    sprint4,sprint5 skips the other sprints' variants (a quicker loop while editing)."""
    base = tmp_path_factory.getbasetemp()
    if hasattr(request.config, "workerinput"):  # an xdist worker: its folder is per worker
        base = base.parent
    folder = base / "variant-runs"
    folder.mkdir(exist_ok=True)
    chosen = [s for s in os.environ.get("KATA_VARIANT_SPRINTS", "").split(",") if s]
    return VariantRuns(folder, chosen or catalog.sprints()).of


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
