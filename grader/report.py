"""Turn per-test results into per-kata statuses, a scorecard and a JSON file."""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from grader.catalog import Kata
from grader.layout import KATA_STATUSES, NOT_PASSING, Status, cap
from grader.runner import Outcome

STATUSES = KATA_STATUSES  # what a kata's "status" in the JSON can be
VERSION = 1  # of the JSON report's shape; raised when a field changes or goes
LINE = 120  # characters a scorecard row may take
TEST_NAME = re.compile(r"^(\w+::)*test_\w+(\[[^\]]*\])?: ")
COLOURS = {
    Status.PASSED: "32",
    Status.FAILED: "31",
    Status.NOT_STARTED: "33",
    Status.ERROR: "35",
    Status.TIMEOUT: "31;1",
}


@dataclass
class KataResult:
    id: str
    status: str
    passed: int
    total: int
    message: str = ""
    skipped: int = 0
    skip_reason: str = ""


def kata_results(katas: list[Kata], outcome: Outcome) -> list[KataResult]:
    by_kata: dict[str, list[str]] = {}
    for test_id, info in outcome.tests.items():
        by_kata.setdefault(info.get("kata"), []).append(test_id)
    collect_errors = {e.get("module"): e.get("message", "") for e in outcome.collect_errors}
    results = []
    for kata in katas:
        tests = by_kata.get(kata.id, [])
        if not tests:
            if outcome.fatal:
                message = outcome.fatal
            elif kata.module_id in collect_errors:
                message = f"its tests could not be loaded:\n{collect_errors[kata.module_id]}"
            else:
                message = "no tests were found for this kata"
            results.append(KataResult(kata.id, Status.ERROR, 0, 0, cap(message)))
            continue
        runs = []
        for test_id in tests:
            result = outcome.results.get(test_id)
            if result is None:
                runs.append((test_id, Status.ERROR, "not run: the grader lost track of this test"))
            else:
                runs.append((test_id, result.status, result.message))
        graded = [r for r in runs if r[1] != Status.SKIPPED]
        passed = sum(1 for r in graded if r[1] == Status.PASSED)
        statuses = {r[1] for r in graded}
        if Status.TIMEOUT in statuses:
            status = Status.TIMEOUT
        elif statuses == {Status.PASSED}:
            status = Status.PASSED
        elif statuses == {Status.NOT_STARTED}:
            status = Status.NOT_STARTED
        elif Status.ERROR in statuses or not graded:
            status = Status.ERROR
        else:
            status = Status.FAILED
        message = ""
        for test_id, test_status, test_message in graded:
            if status == Status.PASSED:
                break
            if test_status == status or (status == Status.FAILED and test_status != Status.PASSED):
                name = test_id.split("::", 1)[-1]
                message = f"{name}: {test_message}" if test_message else name
                break
        if not graded:
            message = "every test of this kata was skipped: " + runs[0][2]
        skips = [r[2] for r in runs if r[1] == Status.SKIPPED]
        results.append(
            KataResult(
                kata.id,
                status,
                passed,
                len(graded),
                cap(message),
                len(skips),
                skips[0] if skips else "",
            )
        )
    return results


def use_colour(stream=sys.stdout) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return hasattr(stream, "isatty") and stream.isatty()


def next_up(results: list[KataResult], changed: dict[str, float] | None = None):
    """The kata the learner is working on: one that is failed, errors or timed out (the one
    whose file changed last first), else the first not started one; None when all pass."""
    changed = changed or {}
    order = {r.id: i for i, r in enumerate(results)}
    broken = [r for r in results if r.status in NOT_PASSING]
    if broken:
        return min(broken, key=lambda r: (-changed.get(r.id, 0.0), order[r.id]))
    return next((r for r in results if r.status != Status.PASSED), None)


def reason(result: KataResult, width: int = 90) -> str:
    """One line on why a kata is not passing."""
    if result.status == Status.NOT_STARTED:
        return "not started"
    lines = [line.strip() for line in result.message.splitlines() if line.strip()]
    if not lines:
        return result.status
    first = TEST_NAME.sub("", lines[0])  # the message starts with the test's name
    if first.endswith(":") and len(lines) > 1:  # "call(...):", then the problem
        first = lines[1]
    width = max(width, 30)
    return first if len(first) <= width else first[: width - 3] + "..."


def scorecard(
    target: str,
    sprints: list[str],
    results: list[KataResult],
    colour: bool,
    label: str = "",
    changed: dict[str, float] | None = None,
    harness_changed: list[str] = (),
) -> str:
    def paint(text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if colour else text

    width = max([len(r.id) for r in results] + [20])
    lines = [paint(f"torch-katas: grading {target}/ on {label or ', '.join(sprints)}", "1"), ""]
    for r in results:
        count = f"{r.passed}/{r.total}"
        extra = f"  ({r.skipped} skipped: {r.skip_reason})" if r.skipped else ""
        row = f"  {r.id:<{width}}  {count:>7}  "
        if r.status in NOT_PASSING:  # every kata not passing says why
            extra += f"  {reason(r, LINE - len(row) - 13)}"
        status = paint(f"{r.status:<11}", COLOURS[r.status])
        lines.append(f"{row}{status}{extra}".rstrip())
    lines.append("")
    for sprint in sprints:
        mine = [r for r in results if r.id.split(".")[0] == sprint]
        done = sum(r.status == Status.PASSED for r in mine)
        tests = sum(r.passed for r in mine), sum(r.total for r in mine)
        code = "32;1" if done == len(mine) else "1"
        lines.append(
            paint(f"{sprint}: {done}/{len(mine)} katas passed ({tests[0]}/{tests[1]} tests)", code)
        )
    nxt = next_up(results, changed)
    if nxt is None:
        lines += ["", paint("Every kata passes. On to the next sprint!", "32;1")]
    else:
        lines += ["", paint(f"Next: {nxt.id} ({nxt.status})", COLOURS[nxt.status] + ";1")]
        lines += [("  " + line).rstrip() for line in nxt.message.splitlines()]
        lines += ["", f"Stuck? nox -s hint -- {nxt.id} gives a hint, one level at a time."]
    if harness_changed:
        lines += ["", paint(harness_warning(harness_changed), "31;1")]
    return "\n".join(lines)


def harness_warning(paths: list[str]) -> str:
    shown = ", ".join(paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")
    return (
        f"Warning: files of the grader or of its tests changed while grading ran ({shown}). "
        "These results may not be true: put those files back (git status shows them) and "
        "grade again."
    )


def to_json(
    target: str, sprints: list[str], results: list[KataResult], harness_changed: list[str] = ()
) -> dict:
    """The report. `harness_changed` is there only when files of the grader or its tests
    changed while grading ran (a key added within version 1: readers ignore what they do
    not know)."""
    data = {
        "version": VERSION,
        "target": target,
        "sprints": sprints,
        "katas": [
            {
                k: v
                for k, v in asdict(r).items()
                if k in ("id", "status", "passed", "total", "message")
            }
            for r in results
        ],
        "score": {
            "passed": sum(r.status == Status.PASSED for r in results),
            "total": len(results),
        },
    }
    if harness_changed:
        data["harness_changed"] = list(harness_changed)
    return data


def write_json(path: Path, data: dict) -> None:
    """Write the report atomically: a file of a unique name in the same folder, then a
    rename onto `path`. OSError when it cannot be written; nothing is left half done."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(data, indent=2) + "\n")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
