"""Generate the learner's stubs in exercises/ from the reference in solutions/.

The reference is the one source. A stub keeps the module as it is (docstring,
imports, constants) and every public function, class and method with its
signature and docstring, but its body becomes

    raise NotImplementedError("sprint1.tensors.split_heads")

naming the kata. Private helpers (`_name`, functions and classes) are dropped: the
learner writes their own.

    python -m grader.stubs            # write exercises/, keeping files a learner has edited
    python -m grader.stubs --force    # overwrite even those, losing that work (no backup)
    python -m grader.stubs --check    # exit 1 if a committed stub differs from the generator

This is also the one place that tells a stub from a kata's code (`stub_state`): `write`
keeps a file that is more than stubs, and the runs and the benchmarks (`unfinished`)
refuse or skip a kata that still raises its stub's error.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path
from typing import Literal

from grader import layout, target
from grader.layout import ROOT

StubState = Literal["untouched", "unfinished", "written"]


def stub_raise(kata_id: str) -> str:
    """The statement a stub's body becomes: it names the kata, which is how the grader
    tells "not started" from an error (and one kata's stub reached from another)."""
    return f'raise NotImplementedError("{kata_id}")'


def _body_range(func: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple[int, int, int]:
    """(first line to replace, last line, indent) of a function's body after its docstring."""
    body = func.body
    first = body[0]
    has_doc = (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    )
    start = first.end_lineno + 1 if has_doc else first.lineno
    return start, func.end_lineno, first.col_offset


def stub_source(source: str, module_id: str) -> str:
    """The stub of a solution module's source; module_id is "sprint1.tensors"."""
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    edits: list[tuple[int, int, str]] = []  # (first line, last line, replacement), 1-based

    def raise_line(indent: int, kata: str) -> str:
        return " " * indent + stub_raise(f"{module_id}.{kata}") + "\n"

    for node in tree.body:
        defines = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
        if isinstance(node, defines) and node.name.startswith("_"):  # a helper: dropped
            start = min([d.lineno for d in node.decorator_list] + [node.lineno])
            edits.append((start, node.end_lineno, ""))
            continue
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            first, last, indent = _body_range(node)
            edits.append((first, last, raise_line(indent, node.name)))
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    first, last, indent = _body_range(item)
                    edits.append((first, last, raise_line(indent, node.name)))
    for first, last, text in sorted(edits, reverse=True):
        lines[first - 1 : last] = [text] if text else []
    out = "".join(lines)
    while "\n\n\n\n" in out:  # dropped helpers leave gaps
        out = out.replace("\n\n\n\n", "\n\n\n")
    return out.rstrip("\n") + "\n"


def expected_tree(root: Path = ROOT) -> dict[Path, str]:
    """Every file that exercises/ should hold, relative path → text."""
    files: dict[Path, str] = {}
    solutions = root / "solutions"
    for path in sorted(solutions.rglob("*.py")):
        rel = path.relative_to(solutions)
        text = path.read_text()
        if path.name == "__init__.py" and rel.parent == Path("."):
            text = '"""Your work: stubs generated from solutions/ by `nox -s stubs`."""\n'
        elif path.name != "__init__.py":
            text = stub_source(text, layout.import_name(rel))
        files[rel] = text
    return files


def _functions(node: ast.AST) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    """A top-level def itself, or a class's methods."""
    kinds = ast.FunctionDef | ast.AsyncFunctionDef
    if isinstance(node, kinds):
        return [node]
    return [n for n in getattr(node, "body", []) if isinstance(n, kinds)]


def _is_stub_raise(node: ast.AST, kata_id: str) -> bool:
    return (
        isinstance(node, ast.Raise)
        and isinstance(node.exc, ast.Call)
        and getattr(node.exc.func, "id", "") == "NotImplementedError"
        and len(node.exc.args) == 1
        and isinstance(node.exc.args[0], ast.Constant)
        and node.exc.args[0].value == kata_id
    )


def stub_state(node: ast.AST, kata_id: str) -> StubState:
    """How far a kata's top-level def or class is from its stub:

    * "untouched": as the generator wrote it, every function in it (the def, or each
      method) its docstring and `raise NotImplementedError("<kata id>")`, nothing else;
    * "unfinished": something is written, but the stub's raise is still somewhere in it;
    * "written": no trace of the stub's raise (a class without methods counts so too).
    """
    functions = _functions(node)
    if not functions:
        return "written"
    untouched = True
    for func in functions:
        body = [n for n in func.body if not _is_docstring(n)]
        untouched &= len(body) == 1 and _is_stub_raise(body[0], kata_id)
    if untouched:
        return "untouched"
    if any(_is_stub_raise(n, kata_id) for n in ast.walk(node)):
        return "unfinished"
    return "written"


def _is_docstring(node: ast.AST) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)


def is_pristine(text: str, module_id: str) -> bool:
    """Whether an exercise file still holds only stubs: every def and class in it is an
    untouched stub (a helper of the learner's own is not)."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return False
    defines = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
    return all(
        stub_state(node, f"{module_id}.{node.name}") == "untouched"
        for node in tree.body
        if isinstance(node, defines)
    )


def unfinished(kata_ids: list[str]) -> list[str]:
    """The katas among `kata_ids` that are not written in the graded tree (KATA_TARGET,
    KATA_ROOT): still their stub, or with the stub's raise left in, or missing, or in a
    file that does not parse. Reads the source; runs nothing."""
    missing = []
    trees: dict[str, ast.Module | None] = {}
    for kata in kata_ids:
        module_id, name = kata.rsplit(".", 1)
        if module_id not in trees:
            try:
                trees[module_id] = ast.parse(target.source_path(module_id).read_text())
            except (OSError, SyntaxError):
                trees[module_id] = None
        tree = trees[module_id]
        node = (
            next((n for n in tree.body if getattr(n, "name", None) == name), None) if tree else None
        )
        if node is None or stub_state(node, kata) != "written":
            missing.append(kata)
    return missing


def drift(root: Path = ROOT) -> list[str]:
    """The exercise files that differ from what the generator gives, or should not exist."""
    want = expected_tree(root)
    exercises = root / "exercises"
    problems = []
    for rel, text in want.items():
        path = exercises / rel
        if not path.exists():
            problems.append(f"exercises/{rel} is missing")
        elif path.read_text() != text:
            problems.append(f"exercises/{rel} differs from the stub generated from solutions/{rel}")
    for path in sorted(exercises.rglob("*.py")) if exercises.exists() else []:
        if path.relative_to(exercises) not in want:
            problems.append(f"exercises/{path.relative_to(exercises)} has no solution")
    return problems


def write(root: Path = ROOT, force: bool = False) -> list[str]:
    """Write the stubs; returns what was done, a line a file."""
    done = []
    exercises = root / "exercises"
    for rel, text in expected_tree(root).items():
        path = exercises / rel
        if path.exists() and path.read_text() == text:
            continue
        module_id = layout.import_name(rel)
        if path.exists() and not force and not is_pristine(path.read_text(), module_id):
            done.append(
                f"kept    exercises/{rel} (it holds your work; to start a kata again, "
                "nox -s reset -- <kata> puts back its stub and keeps a backup)"
            )
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        done.append(f"wrote   exercises/{rel}")
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m grader.stubs", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--check", action="store_true", help="report drift, write nothing")
    parser.add_argument(
        "--force",
        action="store_true",
        help="overwrite edited exercise files too: their work is lost (a learner resets one "
        "kata with nox -s reset instead)",
    )
    args = parser.parse_args(argv)
    if args.check:
        problems = drift()
        for line in problems:
            print(line)
        return 1 if problems else 0
    for line in write(force=args.force):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())

__all__ = ["drift", "is_pristine", "stub_source", "stub_state", "unfinished", "write"]
