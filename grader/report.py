"""Turn per-test results into per-kata statuses, a scorecard and a JSON file."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from grader.catalog import Kata
from grader.runner import Outcome

STATUSES = ("passed", "failed", "not_started", "error", "timeout")
MESSAGE_LIMIT = 4000  # characters of a message in the JSON
COLOURS = {"passed": "32", "failed": "31", "not_started": "33", "error": "35", "timeout": "31;1"}


@dataclass
class KataResult:
    id: str
    status: str
    passed: int
    total: int
    message: str = ""
    hint: str = ""
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
                message = f"its tests could not be collected:\n{collect_errors[kata.module_id]}"
            else:
                message = "no tests were collected for this kata"
            results.append(KataResult(kata.id, "error", 0, 0, _cap(message)))
            continue
        hint = next((outcome.tests[t].get("hint", "") for t in tests), "")
        runs = []
        for test_id in tests:
            result = outcome.results.get(test_id)
            if result is None:
                runs.append((test_id, "error", "not run: the grader lost track of this test"))
            else:
                runs.append((test_id, result.status, result.message))
        graded = [r for r in runs if r[1] != "skipped"]
        passed = sum(1 for r in graded if r[1] == "passed")
        statuses = {r[1] for r in graded}
        if "timeout" in statuses:
            status = "timeout"
        elif statuses == {"passed"}:
            status = "passed"
        elif statuses == {"not_started"}:
            status = "not_started"
        elif "error" in statuses or not graded:
            status = "error"
        else:
            status = "failed"
        message = ""
        for test_id, test_status, test_message in graded:
            if status == "passed":
                break
            if test_status == status or (status == "failed" and test_status != "passed"):
                name = test_id.split("::", 1)[-1]
                message = f"{name}: {test_message}" if test_message else name
                break
        if not graded:
            message = "every test of this kata was skipped: " + runs[0][2]
        skips = [r[2] for r in runs if r[1] == "skipped"]
        results.append(
            KataResult(
                kata.id,
                status,
                passed,
                len(graded),
                _cap(message),
                hint,
                len(skips),
                skips[0] if skips else "",
            )
        )
    return results


def _cap(message: str) -> str:
    if len(message) <= MESSAGE_LIMIT:
        return message
    return message[: MESSAGE_LIMIT - 40] + f"\n… ({len(message)} characters, cut)"


def use_colour(stream=sys.stdout) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return hasattr(stream, "isatty") and stream.isatty()


def scorecard(
    target: str, sprints: list[str], results: list[KataResult], colour: bool, label: str = ""
) -> str:
    def paint(text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if colour else text

    width = max([len(r.id) for r in results] + [20])
    lines = [paint(f"torch-katas: grading {target}/ on {label or ', '.join(sprints)}", "1"), ""]
    for r in results:
        count = f"{r.passed}/{r.total}"
        extra = f"  ({r.skipped} skipped: {r.skip_reason})" if r.skipped else ""
        lines.append(f"  {r.id:<{width}}  {count:>7}  {paint(r.status, COLOURS[r.status])}{extra}")
    lines.append("")
    for sprint in sprints:
        mine = [r for r in results if r.id.split(".")[0] == sprint]
        done = sum(r.status == "passed" for r in mine)
        tests = sum(r.passed for r in mine), sum(r.total for r in mine)
        code = "32;1" if done == len(mine) else "1"
        lines.append(
            paint(f"{sprint}: {done}/{len(mine)} katas passed ({tests[0]}/{tests[1]} tests)", code)
        )
    nxt = next((r for r in results if r.status != "passed"), None)
    if nxt is None:
        lines += ["", paint("Every kata passes. On to the next sprint!", "32;1")]
    else:
        lines += ["", paint(f"Next: {nxt.id} ({nxt.status})", COLOURS[nxt.status] + ";1")]
        lines += ["  " + line for line in nxt.message.splitlines()]
        if nxt.hint:
            lines.append("  " + paint("Hint: ", "36;1") + nxt.hint)
    return "\n".join(lines)


def to_json(target: str, sprints: list[str], results: list[KataResult]) -> dict:
    return {
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
        "score": {"passed": sum(r.status == "passed" for r in results), "total": len(results)},
    }


def write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)
