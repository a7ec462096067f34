"""Every kata has a difficulty and three levels of hints, and neither the level-1 and
level-2 hints nor any failure message the tests can print quotes the reference.

What counts as quoting is decided by tests/harness/leaks.py from the reference's own
source (and the correct alternatives'): see there. The messages the known mistakes
actually produce are checked in test_variants.py, from the same run that proves them caught.
"""

import ast
import re

import pytest

from grader import catalog, layout
from grader.catalog import ROOT
from tests.harness import leaks

KATAS = catalog.all_katas()


@pytest.mark.parametrize("sprint", catalog.sprints())
def test_every_sprint_has_an_introduction(sprint):
    head = catalog.info(sprint)
    assert head.title and len(head.intro) > 100, f"{sprint}: write its title and introduction"
    assert 1 <= len(head.sources) <= 3, f"{sprint}: name one or two primary sources to read"


@pytest.mark.parametrize("kata", KATAS, ids=lambda k: k.id)
def test_three_levels_of_hints_and_a_difficulty(kata):
    info = catalog.kata_info(kata.id)
    assert info.difficulty in (1, 2, 3), f"{kata.id}: difficulty must be 1, 2 or 3"
    assert len(info.hints) == 3 and all(h.strip() for h in info.hints), (
        f"{kata.id}: write three hints (a nudge, the tool in words, a sketch)"
    )


@pytest.mark.parametrize("kata", KATAS, ids=lambda k: k.id)
def test_level_one_and_two_hints_quote_no_code_of_the_answer(kata):
    expressions = leaks.reference_expressions(kata.id)
    for level, hint in enumerate(catalog.kata_info(kata.id).hints[:2], 1):
        found = leaks.quoted(hint, expressions)
        assert not found, f"{kata.id} hint level {level} quotes the answer: {found}"


def message_texts(path):
    """Every string a test module can put in a message: its string literals (the literal
    parts of f-strings, with {} for what is filled in) and its mistakes' descriptions,
    less the docstrings of modules, classes, functions and correct alternatives."""
    tree = ast.parse(path.read_text())
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.FunctionDef | ast.ClassDef) and ast.get_docstring(
            node
        ):
            decorators = getattr(node, "decorator_list", [])
            if not any(
                getattr(getattr(d, "func", None), "id", "") == "mistake" for d in decorators
            ):
                docstrings.add(id(node.body[0].value))
    for node in ast.walk(tree):
        if id(node) in docstrings:
            continue
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value
        elif isinstance(node, ast.JoinedStr):
            parts = [v.value if isinstance(v, ast.Constant) else "{}" for v in node.values]
            yield node.lineno, "".join(parts)


def graded_modules():
    for sprint in catalog.sprints():
        for module in catalog.modules(sprint):
            for kind in layout.HARNESS_KINDS:
                path = ROOT / layout.harness_file(kind, f"{sprint}.{module}")
                if path.exists():
                    yield f"{sprint}.{module}", path


@pytest.mark.parametrize(
    ("module_id", "path"), list(graded_modules()), ids=lambda v: getattr(v, "name", v)
)
def test_messages_written_in_the_tests_quote_no_code_of_the_answer(module_id, path):
    expressions = leaks.module_expressions(module_id)
    found = [
        f"line {line}: {leaks.quoted(text, expressions)[0]!r} in {text!r}"
        for line, text in message_texts(path)
        if leaks.quoted(text, expressions)
    ]
    assert not found, (
        f"{path.relative_to(ROOT)} prints code of the reference; describe the mistake in words:\n"
        + "\n".join(found)
    )


def test_the_from_scratch_rule_is_written_for_exactly_the_katas_that_enforce_one():
    """A kata's manifest entry has a from_scratch text if and only if it forbids a call."""
    written = {k.id for k in KATAS if catalog.kata_info(k.id).from_scratch}
    enforced = {k.id for k in KATAS if catalog.kata_info(k.id).forbid}
    assert written == enforced, {
        "forbids a call, no from_scratch text in katas.toml": sorted(enforced - written),
        "from_scratch text in katas.toml, forbids nothing": sorted(written - enforced),
    }


@pytest.mark.parametrize(
    "kata", [k for k in KATAS if catalog.kata_info(k.id).forbid], ids=lambda k: k.id
)
def test_every_forbidden_name_is_a_torch_function(kata):
    from grader.guard import resolve

    for name in catalog.kata_info(kata.id).forbid:
        assert re.fullmatch(r"torch(\.\w+)+", name), f"{kata.id}: forbid {name!r}"
        assert callable(resolve(name)), f"{kata.id}: forbid {name!r} names no function"
