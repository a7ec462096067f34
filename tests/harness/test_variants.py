"""The known mistakes are caught and the correct alternatives pass, for every kata.

One child pytest run (`--kata-variants`) runs each sprint test once more for every
variant of its kata, with the variant patched in; the tests below read its results.
"""

import json
import os
import subprocess
import sys

import pytest

from grader import catalog, variants
from grader.catalog import ROOT
from tests.harness import leaks

MIN_MISTAKES, MIN_ALTERNATIVES = 2, 1


def all_variants() -> list[variants.Variant]:
    found = []
    for sprint in catalog.sprints():
        found += variants.all_for_sprint(sprint, catalog.modules(sprint))
    return found


ALL = all_variants()


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("variants") / "variants.json"
    # KATA_VARIANT_SPRINTS=sprint4,sprint5 runs only those (a quicker loop while editing)
    chosen = [s for s in os.environ.get("KATA_VARIANT_SPRINTS", "").split(",") if s]
    paths = [f"tests/{sprint}" for sprint in chosen or catalog.sprints()]
    env = dict(os.environ, KATA_TARGET="solutions", PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    env.pop("KATA_ROOT", None)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            *paths,
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
    assert proc.returncode == 0, "the reference must pass while variants run:\n" + proc.stdout
    return json.loads(out.read_text())


@pytest.mark.parametrize("variant", [v for v in ALL if v.kind == "mistake"], ids=lambda v: v.id)
def test_mistake_is_caught(outcomes, variant):
    tests = outcomes[variant.id]["tests"]
    assert any(t["status"] not in ("passed", "skipped") for t in tests.values()), (
        f"no test of {variant.kata} fails the known mistake {variant.name!r}: {variant.description}"
    )


@pytest.mark.parametrize("variant", [v for v in ALL if v.kind == "alternative"], ids=lambda v: v.id)
def test_alternative_passes(outcomes, variant):
    failing = {
        n: t
        for n, t in outcomes[variant.id]["tests"].items()
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
        f"tests/{kata.sprint}/variants_{kata.module}.py"
    )


def test_variants_name_real_katas():
    known = {k.id for s in catalog.sprints() for k in catalog.katas(s)}
    assert {v.kata for v in ALL} <= known


@pytest.mark.parametrize("variant", [v for v in ALL if v.kind == "mistake"], ids=lambda v: v.id)
def test_the_message_a_mistake_gets_quotes_no_code_of_the_answer(outcomes, variant):
    """What a learner who made this mistake reads describes it; it never prints the fix."""
    expressions = leaks.module_expressions(variant.kata.rsplit(".", 1)[0])
    found = {
        name.split("::", 1)[-1]: leaks.quoted(t["message"], expressions)[0]
        for name, t in outcomes[variant.id]["tests"].items()
        if leaks.quoted(t["message"], expressions)
    }
    assert not found, f"{variant.kata}'s messages quote the reference: {found}"
