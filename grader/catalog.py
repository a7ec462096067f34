"""What there is to grade: sprints, modules and katas, read from the reference tree.

Nothing here imports torch or runs the trees' code; it reads their source with `ast`.
The reference `solutions/` tree is the catalog: every public top-level function or
class in `solutions/sprintN/<module>.py` is a kata, listed in the order that
`solutions/sprintN/__init__.py`'s `MODULES` gives the modules.
"""

from __future__ import annotations

import ast
import difflib
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from grader import layout
from grader.layout import ROOT, SPRINT_RE  # ROOT is imported from here by many


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
    return sorted(found, key=layout.sprint_number)


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
        source = layout.module_file("solutions", f"{sprint}.{module}", root).read_text()
        for name in public_names(source):
            found.append(Kata(f"{sprint}.{module}.{name}", sprint, module, name))
    return found


def kata(name: str):
    """Mark a test class or function as grading one kata of the module under test.

    The full id comes from the test file: `tests/sprint1/test_tensors.py` with
    `@kata("split_heads")` grades `sprint1.tensors.split_heads`. Everything else about
    the kata lives in the sprint's `katas.toml` (see `info`): its hints and difficulty,
    its time limit and the calls it forbids.
    """
    import pytest  # only test code calls this; the parent never does

    return pytest.mark.kata(name)


@dataclass(frozen=True)
class KataInfo:
    """A kata's entry in its sprint's `katas.toml`: what a learner is told about it, and
    how its tests are run."""

    difficulty: int  # 1 warm-up, 2 takes thought, 3 a real piece of work
    hints: tuple[str, ...]  # level 1 a nudge, 2 the tool or formula in words, 3 may sketch code
    from_scratch: str = ""  # the shortcut that is off limits, where the kata is "from scratch"
    timeout: float | None = None  # seconds each of its tests may take, when not the default
    forbid: tuple[str, ...] = ()  # dotted names its code may not call (see grader.guard)


@dataclass(frozen=True)
class SprintInfo:
    title: str
    intro: str
    sources: tuple[str, ...]
    katas: dict[str, KataInfo] = field(default_factory=dict)  # kata id → info


@cache
def info(sprint: str, root: Path = ROOT) -> SprintInfo:
    """The sprint's manifest, `tests/<sprint>/katas.toml`: its introduction, and each
    kata's difficulty, hints, from-scratch rule, time limit and forbidden calls, keyed
    `[<module>.<kata>]`."""
    data = tomllib.loads(layout.manifest_file(sprint, root).read_text())
    head = data.pop("sprint", {})
    katas = {
        f"{sprint}.{module}.{name}": KataInfo(
            int(entry.get("difficulty", 0)),
            tuple(entry.get("hints", ())),
            entry.get("from_scratch", ""),
            float(entry["timeout"]) if "timeout" in entry else None,
            tuple(entry.get("forbid", ())),
        )
        for module, entries in data.items()
        for name, entry in entries.items()
    }
    return SprintInfo(
        head.get("title", ""), head.get("intro", "").strip(), tuple(head.get("sources", ())), katas
    )


def kata_info(kata_id: str, root: Path = ROOT) -> KataInfo:
    sprint = kata_id.split(".")[0]
    found = info(sprint, root).katas.get(kata_id)
    if found is None:
        where = layout.manifest_file(sprint, root).relative_to(root)
        raise KeyError(f"{kata_id} has no entry in {where}")
    return found


def all_katas(root: Path = ROOT) -> list[Kata]:
    return [k for sprint in sprints(root) for k in katas(sprint, root)]


class UnknownSelector(ValueError):
    """A selector that names no sprint, module or kata; the message suggests close ones."""


def resolve(selector: str, root: Path = ROOT, everything: list[Kata] | None = None) -> list[Kata]:
    """The katas a selector names, in catalog order: `all`, a sprint (`sprint1`), a module
    (`sprint1.tensors`), a kata id (`sprint1.tensors.split_heads`), or a bare kata or
    module name that is unique across the sprints (`channels_last`, `tensors`).
    `everything` is all_katas(root), where the caller has it already."""
    if everything is None:
        everything = all_katas(root)
    if selector == "all":
        return everything
    found = [k for k in everything if selector in (k.sprint, k.module_id, k.id)]
    if not found and "." not in selector:
        by_name = [k for k in everything if k.name == selector]
        by_module = [k for k in everything if k.module == selector]
        if len(by_name) == 1:
            found = by_name
        elif len({k.module_id for k in by_module}) == 1:
            found = by_module
        elif by_name or by_module:
            ids = sorted({k.id for k in by_name} | {k.module_id for k in by_module})
            raise UnknownSelector(f"{selector!r} is ambiguous: say which of {', '.join(ids)}")
    if found:
        return found
    names = [*sprints(root), "all"]
    names += list(dict.fromkeys(k.module_id for k in everything))
    names += [k.id for k in everything] + [k.name for k in everything]
    close = difflib.get_close_matches(selector, names, n=4, cutoff=0.6)
    ids = {k.name: k.id for k in everything}
    close = list(dict.fromkeys(ids.get(c, c) for c in close))
    hint = (
        f"; did you mean {' or '.join(close)}?"
        if close
        else f" (sprints: {', '.join(names[: len(sprints(root)) + 1])})"
    )
    raise UnknownSelector(f"no sprint, module or kata called {selector!r}{hint}")
