"""What a learner has done, kept between runs in `.katas/state.json` (git ignores it).

Every grading run of exercises/ records, per kata, when it was first attempted (first
graded with code of the learner's own in it), when it first passed, its current status
and when it was last graded; `nox -s hint` records which hint levels were shown.
Deleting the file loses only this history: the next run starts a new one.

`nox -s progress` prints every sprint at a glance and writes PROGRESS.md, a skills log.
Standard library only: no torch, no learner code.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from grader import layout, target
from grader.layout import Status

VERSION = 1


def state_path() -> Path:
    return target.target_root() / ".katas" / "state.json"


def now() -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime())


def load() -> dict:
    """The state file's content; an empty history when it is missing or unreadable."""
    try:
        data = json.loads(state_path().read_text())
    except (OSError, ValueError):
        return {"version": VERSION, "katas": {}}
    if not isinstance(data, dict) or not isinstance(data.get("katas"), dict):
        return {"version": VERSION, "katas": {}}
    return data


def save(data: dict) -> None:
    """Write the state atomically (a temporary file, then a rename)."""
    path = state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    data["version"] = VERSION
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".state-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1, sort_keys=True)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def kata_state(data: dict, kata_id: str) -> dict:
    entry = data["katas"].get(kata_id)
    if not isinstance(entry, dict):
        entry = data["katas"][kata_id] = {}
    return entry


def record(results) -> None:
    """Record a grading run of exercises/ (KataResults); never fails the run itself."""
    try:
        data = load()
        stamp = now()
        for result in results:
            entry = kata_state(data, result.id)
            entry["status"] = result.status
            entry["last_graded"] = stamp
            if result.status != Status.NOT_STARTED:
                entry.setdefault("first_attempt", stamp)
            if result.status == Status.PASSED:
                entry.setdefault("first_pass", stamp)
        save(data)
    except OSError as exc:
        print(f"(progress not recorded: {exc})", file=sys.stderr)


def status(data: dict, kata_id: str) -> str:
    """The kata's status at its last grading run, or "" if it was never graded."""
    return data["katas"].get(kata_id, {}).get("status", "")


def has_passed(data: dict, kata_id: str) -> bool:
    return bool(data["katas"].get(kata_id, {}).get("first_pass"))


def changed_at(target_name: str, katas) -> dict[str, float]:
    """kata id → when the file holding it in the graded tree last changed."""
    times: dict[str, float] = {}
    for kata in katas:
        path = layout.module_file(target_name, kata.module_id, target.target_root())
        with contextlib.suppress(OSError):
            times[kata.id] = path.stat().st_mtime
    return times
