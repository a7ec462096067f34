"""Where the project keeps each thing, and the rules both halves of the grader share.

Every other module asks here rather than spell a path or a rule out again:

* the trees: `solutions/sprintN/<module>.py` (the reference, the catalog's source) and
  `exercises/sprintN/<module>.py` (the learner's copy), see `module_file`;
* the harness of a sprint: `tests/sprintN/test_<module>.py` (the graded tests),
  `tests/sprintN/variants_<module>.py` (known mistakes and alternatives) and
  `tests/sprintN/katas.toml` (the manifest: what a learner reads about each kata, and
  its time limit and forbidden calls), see `harness_file` and `manifest_file`;
* the statuses a test or a kata can end with (`Status`), the default time limit of a
  test, and how long a message may grow (`cap`).

Standard library only: the trusted parent imports it, and so does the pytest child.
"Is this kata still a stub?" is answered next to the generator of stubs, in
`grader.stubs` (`stub_state`, `unfinished`).
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the project's root
TARGETS = ("exercises", "solutions")  # the trees that can be graded
SPRINT_RE = re.compile(r"^sprint\d+$")  # the name of a sprint's folder
HARNESS_KINDS = ("test", "variants")  # tests/<sprint>/<kind>_<module>.py
DEFAULT_TIMEOUT = 10.0  # seconds a graded test may take unless its kata says otherwise
MESSAGE_CAP = 4000  # characters a message may take, in the event stream and the report


class Status(StrEnum):
    """How a test, or a kata (the worst of its tests), ended. The values are what the
    event stream and the JSON report carry."""

    PASSED = "passed"
    FAILED = "failed"  # the code ran and its result was wrong
    NOT_STARTED = "not_started"  # the stub still raises its own NotImplementedError
    ERROR = "error"  # anything else went wrong: an exception, an exit, a crash, a needed kata
    TIMEOUT = "timeout"
    SKIPPED = "skipped"  # a test that skipped itself (no CUDA here); never a kata's status


KATA_STATUSES = tuple(s for s in Status if s is not Status.SKIPPED)
NOT_PASSING = (Status.FAILED, Status.ERROR, Status.TIMEOUT)  # ran, and went wrong


def sprint_number(sprint: str) -> int:
    return int(sprint.removeprefix("sprint"))


def split(module_id: str) -> tuple[str, str]:
    """ "sprint1.tensors" → ("sprint1", "tensors")."""
    sprint, module = module_id.split(".")
    return sprint, module


def module_file(tree: str, module_id: str, root: Path = ROOT) -> Path:
    """A module of a tree: ("solutions", "sprint1.tensors") → <root>/solutions/sprint1/tensors.py
    (`tree` is a target, exercises or solutions)."""
    sprint, module = split(module_id)
    return root / tree / sprint / f"{module}.py"


def harness_file(kind: str, module_id: str) -> Path:
    """A module's harness file, relative to the root: ("test", "sprint1.tensors") →
    tests/sprint1/test_tensors.py, its graded tests; ("variants", "sprint1.tensors") →
    tests/sprint1/variants_tensors.py, its known mistakes and correct alternatives.
    (No `test_file` helper: pytest would collect a `test_*` function imported by a test.)"""
    if kind not in HARNESS_KINDS:
        raise ValueError(f"no harness file of kind {kind!r} (one of {HARNESS_KINDS})")
    sprint, module = split(module_id)
    return Path("tests", sprint, f"{kind}_{module}.py")


def import_name(path: Path) -> str:
    """The dotted name a file under the root is imported by: tests/sprint1/variants_tensors.py
    → tests.sprint1.variants_tensors."""
    return ".".join(path.with_suffix("").parts)


def module_of(path: Path, kinds: tuple[str, ...] = HARNESS_KINDS) -> str | None:
    """The module a harness file belongs to: tests/sprint1/test_tensors.py (or
    variants_tensors.py) → "sprint1.tensors"; None for any other file, or another kind."""
    sprint = path.parent.name
    if not SPRINT_RE.match(sprint) or path.suffix != ".py":
        return None
    for kind in kinds:
        if path.stem.startswith(f"{kind}_"):
            return f"{sprint}.{path.stem[len(kind) + 1 :]}"
    return None


def manifest_file(sprint: str, root: Path = ROOT) -> Path:
    """The sprint's kata manifest: tests/<sprint>/katas.toml."""
    return root / "tests" / sprint / "katas.toml"


_CUT = re.compile(r"\n… \((\d+) more characters cut\)$")


def cap(message: str) -> str:
    """The message, cut to MESSAGE_CAP characters with a note of what was cut. Capping a
    capped message again (the report prefixes the test's name) keeps one note, counting
    everything cut."""
    if len(message) <= MESSAGE_CAP:
        return message
    earlier = 0
    found = _CUT.search(message)
    if found:
        message, earlier = message[: found.start()], int(found.group(1))
    keep = MESSAGE_CAP - 40
    return f"{message[:keep]}\n… ({len(message) - keep + earlier} more characters cut)"
