"""What there is to grade: sprints, modules and katas, read from the reference tree.

Nothing here imports torch or runs the trees' code; it reads their source with `ast`.
The reference `solutions/` tree is the catalog: every public top-level function or
class in `solutions/sprintN/<module>.py` is a kata, listed in the order that
`solutions/sprintN/__init__.py`'s `MODULES` gives the modules.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ("exercises", "solutions")
SPRINT_RE = re.compile(r"^sprint\d+$")


@dataclass(frozen=True)
class Kata:
    id: str  # sprint1.tensors.split_heads
    sprint: str  # sprint1
    module: str  # tensors
    name: str  # split_heads

    @property
    def module_id(self) -> str:
        return f"{self.sprint}.{self.module}"


def sprints(root: Path = ROOT) -> list[str]:
    """The sprints that exist, in numeric order."""
    found = [p.name for p in (root / "solutions").iterdir() if SPRINT_RE.match(p.name)]
    return sorted(found, key=lambda name: int(name[len("sprint") :]))


def modules(sprint: str, root: Path = ROOT) -> list[str]:
    """The sprint's modules in syllabus order (its `MODULES`), then any others by name."""
    folder = root / "solutions" / sprint
    listed: list[str] = []
    init = folder / "__init__.py"
    if init.exists():
        for node in ast.parse(init.read_text()).body:
            if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "MODULES" for t in node.targets
            ):
                listed = list(ast.literal_eval(node.value))
    present = sorted(p.stem for p in folder.glob("*.py") if not p.stem.startswith("_"))
    return [m for m in listed if m in present] + [m for m in present if m not in listed]


def public_names(source: str) -> list[str]:
    """Public top-level functions and classes of a module's source, in file order."""
    tree = ast.parse(source)
    kinds = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    return [n.name for n in tree.body if isinstance(n, kinds) and not n.name.startswith("_")]


def katas(sprint: str, root: Path = ROOT) -> list[Kata]:
    """Every kata of a sprint, in catalog order."""
    found = []
    for module in modules(sprint, root):
        source = (root / "solutions" / sprint / f"{module}.py").read_text()
        for name in public_names(source):
            found.append(Kata(f"{sprint}.{module}.{name}", sprint, module, name))
    return found


def kata(name: str, *, hint: str = "", timeout: float | None = None, forbid=()):
    """Mark a test class or function as grading one kata of the module under test.

    The full id comes from the test file: `tests/sprint1/test_tensors.py` with
    `@kata("split_heads")` grades `sprint1.tensors.split_heads`. `hint` is shown
    under the scorecard when this is the learner's next kata; `timeout` raises the
    per-test time limit (seconds) for slow tests such as training runs; `forbid` names
    the torch shortcuts (dotted paths) that the code under test may not call while the
    test runs (see grader.guard).
    """
    import pytest  # only test code calls this; the parent never does

    mark = pytest.mark.kata(name, hint=hint, forbid=tuple(forbid))
    if timeout is None:
        return mark

    def both(obj):
        return pytest.mark.kata_timeout(timeout)(mark(obj))

    return both


def module_id_for_test_file(path: Path) -> str | None:
    """tests/sprint1/test_tensors.py → "sprint1.tensors"; None outside a sprint folder."""
    sprint = path.parent.name
    if not SPRINT_RE.match(sprint) or not path.stem.startswith("test_"):
        return None
    return f"{sprint}.{path.stem[len('test_') :]}"
