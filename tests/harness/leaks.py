"""Does a text quote the reference? The expressions of a kata's reference source, and a
test for whether a hint or a failure message contains one of them.

A level-1 or level-2 hint and every failure message must leave the code to the learner.
The list of what not to print is the reference itself: every call, operation and
subscript in the kata's source (and in the module's private helpers), written without
spaces, that is long enough to be code rather than a word. Whatever the kata's own
docstring already shows (its contract, which the stub shows too) is not a leak.
"""

from __future__ import annotations

import ast
import re
from functools import cache

from grader import catalog, layout
from grader.catalog import ROOT

MIN_LENGTH = 8  # characters without spaces: `x.sum(-1)` is code, `C // nh` is a shape


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text).replace("'", '"')


def _code_like(node: ast.expr) -> bool:
    if isinstance(node, ast.Call):
        return bool(node.args or node.keywords)
    if isinstance(node, ast.Compare):  # `mask is not None` reads as words
        return not all(isinstance(op, ast.Is | ast.IsNot) for op in node.ops)
    return isinstance(node, ast.BinOp | ast.Subscript | ast.UnaryOp | ast.BoolOp)


def _expressions(node: ast.AST) -> set[str]:
    """The code-like expressions of a function's or class's body (not its signature)."""
    found = set()
    body = node.body[1:] if ast.get_docstring(node) else node.body
    for sub in (s for statement in body for s in ast.walk(statement)):
        if isinstance(sub, ast.FunctionDef):  # a method: leave out its signature
            sub.args, sub.returns = ast.arguments([], [], None, [], [], None, []), None
        if not isinstance(sub, ast.expr) or not _code_like(sub):
            continue
        text = squash(ast.unparse(sub))
        if len(text) >= MIN_LENGTH:
            found.add(text)
        if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute):
            # `.var(-1, unbiased=False)` on any tensor gives the same away
            bare = ast.Call(ast.Attribute(ast.Name("_"), sub.func.attr), sub.args, sub.keywords)
            method = squash(ast.unparse(bare))[1:]
            if len(method) >= MIN_LENGTH:
                found.add(method)
    return found


def _alternatives(sprint: str, module: str, name: str) -> list[ast.AST]:
    """The correct alternatives written for the kata: they are answers too."""
    path = ROOT / layout.harness_file("variants", f"{sprint}.{module}")
    if not path.exists():
        return []
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            for deco in node.decorator_list:
                if (
                    isinstance(deco, ast.Call)
                    and getattr(deco.func, "id", "") == "alternative"
                    and deco.args
                    and getattr(deco.args[0], "value", None) == name
                ):
                    found.append(node)
    return found


@cache
def reference_expressions(kata_id: str) -> frozenset[str]:
    """The code expressions of a kata's reference (the kata and the module's private
    helpers) and of its correct alternatives, less what its docstring already shows."""
    sprint, module, name = kata_id.split(".")
    tree = ast.parse((ROOT / "solutions" / sprint / f"{module}.py").read_text())
    found: set[str] = set()
    for node in _alternatives(sprint, module, name):
        found |= _expressions(node)
    doc = ""
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef | ast.ClassDef):
            continue
        if node.name == name:
            doc = squash(ast.get_docstring(node) or "")
            if isinstance(node, ast.ClassDef):
                doc += "".join(
                    squash(ast.get_docstring(f) or "")
                    for f in node.body
                    if isinstance(f, ast.FunctionDef)
                )
        if node.name == name or node.name.startswith("_"):
            found |= _expressions(node)
    return frozenset(e for e in found if e not in doc)


def module_expressions(module_id: str) -> frozenset[str]:
    sprint = module_id.split(".")[0]
    return frozenset().union(
        *(reference_expressions(k.id) for k in catalog.katas(sprint) if k.module_id == module_id)
    )


def quoted(text: str, expressions) -> list[str]:
    """The reference expressions that `text` contains, longest first."""
    flat = squash(text)
    return sorted((e for e in expressions if e in flat), key=len, reverse=True)
