"""How `nox -s tests` hands the tests to its pytest-xdist workers (--dist loadgroup).

One test at a time, as xdist's own loadgroup does, except the tests of a module that
defines a module-scoped fixture: those go to one worker together, so that the fixture's
run (Sprint 1 graded with faults planted, a watcher, a LoRA run) is made once, not once
per worker that happens to get one of its tests. An @xdist_group still joins its tests.

xdist's loadgroup would do this through @xdist_group marks, but pytest-xdist 3.8 cannot
see them under pytest 9.2 (pytest-xdist#1386: the mark's `@group` suffix no longer makes
it into the node id). Here the module's own source says it: nothing to keep in step.
xdist builds this scheduler through its public hook (tests/conftest.py), and its
LoadScopeScheduling groups by what `_split_scope` returns, the one method overridden.
"""

from __future__ import annotations

import ast
import functools

from xdist.scheduler import LoadGroupScheduling

from grader.catalog import ROOT


@functools.cache
def shares_a_module_fixture(path: str) -> bool:
    """Whether the test module at `path` (from the project's root) defines a fixture of
    module scope: @pytest.fixture(scope="module", ...)."""
    try:
        tree = ast.parse((ROOT / path).read_text())
    except (OSError, SyntaxError, ValueError):
        return False  # collection reports it; one test at a time meanwhile
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and any(
            word.arg == "scope" and getattr(word.value, "value", None) == "module"
            for word in node.keywords
        ):
            return True
    return False


class SharedModulesTogether(LoadGroupScheduling):
    def _split_scope(self, nodeid: str) -> str:
        grouped = super()._split_scope(nodeid)
        if grouped != nodeid:  # an @xdist_group, where pytest and xdist agree again
            return grouped
        path = nodeid.split("::", 1)[0]
        return path if path.endswith(".py") and shares_a_module_fixture(path) else nodeid
