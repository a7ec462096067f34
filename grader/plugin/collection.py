"""Which tests grade which kata, under which rules, and which of them run.

A test under `tests/sprintN/test_<module>.py` is graded: it must carry `@kata("<name>")`
(grader.catalog.kata) naming a kata of that module in solutions/. Its rules come from
the sprint's manifest, `tests/sprintN/katas.toml` (grader.catalog.info): the time
limit (`timeout`) and the calls its code may not make (`forbid`); one test may ask for
a longer limit than its kata's with a `kata_timeout(seconds)` mark. Tests elsewhere
(the harness's own, the benchmarks) are the project's, not graded: no limit unless marked.

Selection: `--kata-skip FILE` drops the tests already graded by an earlier child,
`KATA_SELECT=id,...` keeps the katas (or modules, or sprints) named. The parent learns
which tests are left, and their limits, from the "collected" event.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from grader import catalog, layout
from grader.layout import DEFAULT_TIMEOUT
from grader.plugin.state import STATE, State


def pytest_addoption(parser):
    group = parser.getgroup("katas", "torch-katas grading")
    group.addoption("--kata-events", help="append one JSON line per event to this file")
    group.addoption("--kata-skip", help="file of test ids already graded, one a line")
    group.addoption(
        "--kata-timeout", type=float, help=f"seconds a test may take (default {DEFAULT_TIMEOUT:g})"
    )
    group.addoption(
        "--kata-variants",
        help="run every test again with each known mistake and "
        "alternative of its kata patched in, and write the outcomes to this JSON file",
    )
    group.addoption(
        "--kata-diagnose",
        action="store_true",
        help="on a kata's first failure, say which known mistake gives the same failure",
    )


def pytest_configure(config):
    config.addinivalue_line("markers", "kata(name): the test grades kata <sprint>.<module>.<name>")
    config.addinivalue_line("markers", "kata_timeout(seconds): a longer time limit")
    if "torch" not in sys.modules:
        # Kata tests are tiny: one thread beats a pool fighting over the cores (~5x on 2
        # cores) and gives the same reduction order every run. A learner's setting wins.
        os.environ.setdefault("OMP_NUM_THREADS", "1")
    state = State()
    if config.getoption("kata_events"):
        state.events = os.open(config.getoption("kata_events"), os.O_WRONLY | os.O_APPEND)
        state.diagnose = True
    if config.getoption("kata_diagnose"):
        state.diagnose = True
    if config.getoption("kata_skip"):
        state.skip = set(Path(config.getoption("kata_skip")).read_text().split("\n")) - {""}
    timeout = config.getoption("kata_timeout") or os.environ.get("KATA_TIMEOUT")
    if timeout:
        state.timeout = float(timeout)
    if config.getoption("kata_variants"):
        state.variants_out = Path(config.getoption("kata_variants"))
    config.stash[STATE] = state


def kata_id(item) -> str | None:
    """The id of the kata a test grades; None for the project's own tests."""
    return item.config.stash[STATE].kata_of.get(item.nodeid)


def time_limit(item) -> float:
    """The test's limit in seconds: its kata_timeout mark, else its kata's in the manifest,
    else the default for graded tests; 0 (none) for the project's own tests."""
    mark = item.get_closest_marker("kata_timeout")
    if mark:
        return float(mark.args[0])
    kid = kata_id(item)
    if kid is None:
        return 0.0
    return _manifest(kid).timeout or item.config.stash[STATE].timeout


def forbidden(item) -> tuple[str, ...]:
    """The dotted names the code under test may not call while this test runs."""
    kid = kata_id(item)
    if kid is None:
        return ()
    return _manifest(kid).forbid


def _manifest(kid: str) -> catalog.KataInfo:
    """The kata's manifest entry; a kata without one (a test proves there is none) runs
    with the defaults."""
    found = catalog.info(kid.split(".")[0]).katas.get(kid)
    return found if found is not None else catalog.KataInfo(0, ())


def pytest_collection_modifyitems(session, config, items):
    state = config.stash[STATE]
    known: dict[str, set[str]] = {}
    keep, dropped = [], []
    select = [s for s in os.environ.get("KATA_SELECT", "").split(",") if s]
    for item in items:
        module_id = layout.module_of(Path(item.path), kinds=("test",))
        if module_id is None:
            keep.append(item)
            continue
        mark = item.get_closest_marker("kata")
        if mark is None or not mark.args:
            raise pytest.UsageError(f"{item.nodeid}: every graded test needs @kata('<name>')")
        sprint = module_id.split(".")[0]
        if sprint not in known:
            known[sprint] = {k.id for k in catalog.katas(sprint)}
        kid = f"{module_id}.{mark.args[0]}"
        if kid not in known[sprint]:
            raise pytest.UsageError(f"{item.nodeid}: {kid} is not a kata in solutions/")
        state.kata_of[item.nodeid] = kid
        chosen = not select or any(kid == s or kid.startswith(s + ".") for s in select)
        (dropped if item.nodeid in state.skip or not chosen else keep).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep
    state.emit(
        e="collected",
        tests=[
            {"id": item.nodeid, "kata": state.kata_of.get(item.nodeid), "timeout": time_limit(item)}
            for item in items
        ],
    )


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector):
    """A test file that cannot be collected (a syntax error in it, an import that fails)
    is told to the parent, which reports its module's katas as errors."""
    report = yield
    if report.failed:
        path = Path(str(report.fspath)) if report.fspath else None
        collector.config.stash[STATE].emit(
            e="collect_error",
            module=layout.module_of(path, kinds=("test",)) if path else None,
            path=str(report.fspath),
            message=layout.cap(str(report.longrepr)),
        )
    return report
