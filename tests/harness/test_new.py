"""`nox -s new -- sprintN.module.name` (grader.new) writes a kata's skeletons where the rest
of the project looks for them: in a copy of the project, a kata added to a module in the
middle of a sprint, a new module, and a new sprint."""

import json
import subprocess
import sys

import pytest

from tests.harness.conftest import copy_project
from tests.harness.test_cli import manifest_entries

COPIED = ("grader", "solutions", "exercises", "tests", "SYLLABUS.md", "pyproject.toml")
CATALOG = (  # every sprint's kata ids, in the catalog's order, as JSON
    "import json; from grader import catalog; "
    "print(json.dumps({s: [k.id for k in catalog.katas(s)] for s in catalog.sprints()}))"
)


@pytest.fixture
def project(tmp_path):
    return copy_project(COPIED, tmp_path)


def python(project, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=project, capture_output=True, text=True, timeout=120
    )


def new(project, kata: str) -> str:
    proc = python(project, "-m", "grader.new", kata)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def catalog_ids(project) -> dict[str, list[str]]:
    proc = python(project, "-c", CATALOG)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_a_kata_in_a_middle_module_is_listed_where_the_catalog_puts_it(project):
    """Sprint 3's functional module comes before its optimizers: the new kata's table goes
    after functional's last one, not at the end of katas.toml."""
    new(project, "sprint3.functional.swish")
    ids = catalog_ids(project)["sprint3"]
    assert "sprint3.functional.swish" in ids
    assert manifest_entries("sprint3", project) == ids
    assert "def swish(" in (project / "solutions/sprint3/functional.py").read_text()
    assert (
        'raise NotImplementedError("sprint3.functional.swish")'
        in (project / "exercises/sprint3/functional.py").read_text()
    )
    assert '@kata("swish")' in (project / "tests/sprint3/test_functional.py").read_text()
    variants = (project / "tests/sprint3/variants_functional.py").read_text()
    assert variants.count('@mistake("swish")') == 3 and '@alternative("swish")' in variants
    assert "sprint3.functional.swish" in (project / "SYLLABUS.md").read_text()


def test_a_new_module_and_a_new_sprint(project):
    new(project, "sprint3.extras.thing")
    assert "'extras'" in (project / "solutions/sprint3/__init__.py").read_text()  # MODULES
    new(project, "sprint9.widgets.Widget")
    ids = catalog_ids(project)
    assert ids["sprint3"][-1] == "sprint3.extras.thing"
    assert ids["sprint9"] == ["sprint9.widgets.Widget"]
    for sprint in ("sprint3", "sprint9"):
        assert manifest_entries(sprint, project) == ids[sprint]
    assert "[sprint]" in (project / "tests/sprint9/katas.toml").read_text()
    assert (project / "tests/sprint9/__init__.py").exists()


def test_an_existing_kata_or_a_bad_id_is_refused(project):
    for kata, says in (("sprint3.functional.relu", "exists already"), ("relu", "not an id")):
        proc = python(project, "-m", "grader.new", kata)
        assert proc.returncode != 0 and says in proc.stdout + proc.stderr, (kata, proc.stderr)
