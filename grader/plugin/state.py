"""What one pytest session of the grader keeps, and the event stream to the parent.

The state lives in `config.stash[STATE]`, made in `pytest_configure` (grader.plugin.
collection) from the command line. With `--kata-events FILE` every event is one JSON
line appended to FILE, written with one `os.write` so that a line is whole even when
the process dies right after it:

    {"e": "collected", "tests": [{"id": ..., "kata": ..., "timeout": ...}, ...]}
    {"e": "collect_error", "module": ..., "path": ..., "message": ...}
    {"e": "start", "id": ...}
    {"e": "import", "module": ...}      the test's target module is being imported
    {"e": "imported", "module": ...}    ... and that import is over, well or not
    {"e": "result", "id": ..., "kata": ..., "status": ..., "message": ..., "threads": [...]}
    {"e": "done"}

("threads", when there are any, names the threads learner code left running.) The
parent checks every event against what the run allows, and drops any other.

`grader.runner` reads them; without `--kata-events` nothing is written.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from grader.layout import DEFAULT_TIMEOUT


@dataclass
class State:
    events: int | None = None  # fd of the event stream, in child mode
    skip: set[str] = field(default_factory=set)  # test ids graded already (--kata-skip)
    timeout: float = DEFAULT_TIMEOUT  # a graded test's limit unless its kata says otherwise
    variants_out: Path | None = None  # --kata-variants: where the variants' outcomes go
    diagnose: bool = False  # name a known mistake on a kata's first failure
    kata_of: dict[str, str] = field(default_factory=dict)  # nodeid → kata id
    reports: dict[str, list] = field(default_factory=dict)  # nodeid → its phases' reports
    timed_out: set[str] = field(default_factory=set)  # katas with a test that timed out
    diagnosed: set[str] = field(default_factory=set)  # katas whose failure was diagnosed
    variant_results: dict[str, dict] = field(default_factory=dict)  # variant id → outcomes
    baseline: dict = field(default_factory=dict)  # global settings before any learner code
    imports: set[str] = field(default_factory=set)  # target modules this child began to import
    broken_imports: dict[str, list] = field(default_factory=lambda: _broken_imports())
    threads: set[int] = field(default_factory=set)  # idents of threads before learner code

    def emit(self, **event) -> None:
        """Send one event to the parent (nothing without --kata-events)."""
        if self.events is not None:
            os.write(self.events, (json.dumps(event) + "\n").encode())


def _broken_imports() -> dict[str, list]:
    """Module → [status, message]: target modules an earlier child of this grading run was
    stopped while importing (KATA_BROKEN_IMPORTS, set by grader.runner): not imported
    again, their tests get that status. Read when the session starts, before learner code."""
    try:
        found = json.loads(os.environ.get("KATA_BROKEN_IMPORTS", "{}"))
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


STATE = pytest.StashKey[State]()  # config.stash[STATE]: the session's State
