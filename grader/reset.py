"""`python -m grader.reset SELECTOR... [--yes]`: put back the stub of a kata, a module or
a sprint in exercises/, in place.

Each kata's one function or class is replaced by its stub (as `nox -s stubs` generates
it); the rest of the file, your helpers and imports included, is left as it is. A kata
that is already a stub is left alone. Before anything is written, every file that will
change is copied to `.katas/backup/<time>/` (git ignores it), and you are asked to
confirm (or pass --yes). A module whose file does not parse any more (a syntax error) is
put back whole, once you confirm. Standard library only.
"""

from __future__ import annotations

import argparse
import ast
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from grader import catalog, layout, stubs, target


class Refused(Exception):
    """Nothing was changed; the message says why."""


@dataclass
class Plan:
    path: Path  # the exercise file
    module_id: str
    old: str  # its text now
    new: str  # its text after the reset
    katas: list[str] = field(default_factory=list)  # the katas put back
    whole_file: bool = False


def _span(node: ast.stmt) -> tuple[int, int]:
    """(first, last) line of a top-level def or class, decorators included, 1-based."""
    return min([d.lineno for d in node.decorator_list] + [node.lineno]), node.end_lineno


def _top_level(tree: ast.Module) -> dict[str, ast.stmt]:
    kinds = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
    return {n.name: n for n in tree.body if isinstance(n, kinds)}


def stub_blocks(module_id: str) -> tuple[str, dict[str, str]]:
    """The module's whole stub text, and each kata's stub block (def or class) in it."""
    text = stubs.stub_source(layout.module_file("solutions", module_id).read_text(), module_id)
    lines = text.splitlines()
    blocks = {}
    for name, node in _top_level(ast.parse(text)).items():
        first, last = _span(node)
        blocks[name] = "\n".join(lines[first - 1 : last])
    return text, blocks


def plan(module_id: str, names: list[str]) -> Plan | None:
    """What resetting these katas of one module changes; None when nothing would."""
    path = layout.module_file("exercises", module_id, target.target_root())
    whole, blocks = stub_blocks(module_id)
    if not path.exists():
        return Plan(path, module_id, "", whole, names, whole_file=True)
    old = path.read_text()
    try:
        tree = ast.parse(old)
    except SyntaxError as exc:
        every = [k.name for k in catalog.katas(module_id.split(".")[0]) if k.module_id == module_id]
        if sorted(names) != sorted(every):
            raise Refused(
                f"{path.relative_to(target.target_root())} does not parse (line {exc.lineno}: "
                f"{exc.msg}), so one kata cannot be cut out of it: fix the syntax error, or "
                f"reset the whole module with nox -s reset -- {module_id}"
            ) from None
        return Plan(path, module_id, old, whole, names, whole_file=True)
    found = _top_level(tree)
    lines = old.splitlines()
    edits, missing, changed = [], [], []
    for name in names:
        node = found.get(name)
        if node is None:
            missing.append(name)
            changed.append(name)
            continue
        first, last = _span(node)
        if "\n".join(lines[first - 1 : last]) != blocks[name]:
            edits.append((first, last, blocks[name]))
            changed.append(name)
    if not changed:
        return None
    for first, last, block in sorted(edits, reverse=True):
        lines[first - 1 : last] = block.splitlines()
    new = "\n".join(lines).rstrip("\n") + "\n"
    for name in missing:  # a kata deleted from the file comes back at its end
        new += "\n\n" + blocks[name] + "\n"
    return Plan(path, module_id, old, new, changed)


def plans(selectors: list[str]) -> list[Plan]:
    chosen: list[catalog.Kata] = []
    for selector in selectors:
        try:
            chosen += [k for k in catalog.resolve(selector) if k not in chosen]
        except catalog.UnknownSelector as exc:
            raise Refused(str(exc)) from None
    found = []
    for module_id in dict.fromkeys(k.module_id for k in chosen):
        names = [k.name for k in chosen if k.module_id == module_id]
        change = plan(module_id, names)
        if change is not None:
            found.append(change)
    return found


def backup(changes: list[Plan]) -> Path:
    """Copy every file about to change to .katas/backup/<time>/, as it is now."""
    root = target.target_root()
    folder = root / ".katas" / "backup" / time.strftime("%Y%m%d-%H%M%S")
    n = 1
    while folder.exists():
        n += 1
        folder = folder.with_name(f"{folder.name.split('.')[0]}.{n}")
    for change in changes:
        if change.old:
            saved = folder / change.path.relative_to(root)
            saved.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(change.path, saved)
    return folder


def describe(change: Plan) -> str:
    shown = change.path.relative_to(target.target_root())
    if change.whole_file:
        return f"  {shown}: the whole file back to its stubs ({', '.join(change.katas)})"
    return f"  {shown}: {', '.join(change.katas)}"


def confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        return False
    try:
        return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")
    except EOFError:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="nox -s reset --", description="Put back the stub of a kata, module or sprint."
    )
    parser.add_argument("selectors", nargs="+", metavar="SELECTOR")
    parser.add_argument("--yes", "-y", action="store_true", help="do not ask")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        changes = plans(args.selectors)
    except Refused as exc:
        print(exc, file=sys.stderr)
        return 2
    if not changes:
        print("Nothing to reset: every kata named is still its stub.")
        return 0
    print("This puts back the stub of:")
    print("\n".join(describe(c) for c in changes))
    if not args.yes and not confirm("Your code is backed up first. Go on?"):
        print("Nothing changed. (Without a terminal to ask on, pass --yes.)", file=sys.stderr)
        return 1
    folder = backup(changes)
    for change in changes:
        change.path.parent.mkdir(parents=True, exist_ok=True)
        change.path.write_text(change.new)
    print(f"Done. What was there is saved under {folder.relative_to(target.target_root())}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
