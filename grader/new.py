"""`python -m grader.new sprintN.module.name`: the skeletons of a new kata (`nox -s new`).

It writes, where they are missing, every place a kata lives (CONTRIBUTING.md says what to
fill in next):

    solutions/sprintN/__init__.py     the sprint's package and its MODULES (a new sprint)
    solutions/sprintN/<module>.py     the reference: a signature and a docstring to write
    tests/sprintN/__init__.py         (a new sprint)
    tests/sprintN/test_<module>.py    a test class marked @kata("name")
    tests/sprintN/variants_<module>.py  three known mistakes and a correct alternative
    tests/sprintN/katas.toml          the sprint's introduction and the kata's hints

and then regenerates exercises/ and SYLLABUS.md. Every skeleton fails the project's own
tests until it is written for real, so a half-added kata cannot go unnoticed: the
reference raises NotImplementedError, the test and the variants say "write me", and the
hints are empty. Standard library only.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path

from grader import catalog, layout, stubs, syllabus
from grader.catalog import ROOT

ID = re.compile(r"^(sprint\d+)\.([a-z_][a-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)$")


def reference(kata: str, name: str) -> str:
    if name[0].isupper():
        return f'''

class {name}:
    """TODO: the contract, as the learner will read it in the stub: what it holds, its
    shapes and dtypes, its edge cases."""

    def __init__(self):
        raise NotImplementedError("{kata}: write the reference")
'''
    return f'''

def {name}():
    """TODO: the contract, as the learner will read it in the stub: arguments, shapes and
    dtypes, what comes back, the edge cases."""
    raise NotImplementedError("{kata}: write the reference")
'''


def test_class(module_id: str, name: str) -> str:
    title = "".join(part[:1].upper() + part[1:] for part in name.split("_"))
    return f'''

@kata("{name}")
class Test{title}:
    def test_contract(self):
        # Call the kata through `{module_id.split(".")[1]}.{name}`, compare with an oracle (torch's
        # own, or the maths in float64) and say what went wrong with grader.checks.
        raise AssertionError("{module_id}.{name}: write its tests")
'''


def variants(name: str) -> str:
    return f'''

@mistake("{name}")
def {name}_first_mistake(*args, **kwargs):
    """TODO: a realistic wrong implementation, described in words (never the fix)"""
    raise NotImplementedError("write a known mistake of {name}")


@mistake("{name}")
def {name}_second_mistake(*args, **kwargs):
    """TODO: another realistic wrong implementation"""
    raise NotImplementedError("write a known mistake of {name}")


@mistake("{name}")
def {name}_third_mistake(*args, **kwargs):
    """TODO: a third realistic wrong implementation"""
    raise NotImplementedError("write a known mistake of {name}")


@alternative("{name}")
def {name}_another_route(*args, **kwargs):
    """TODO: a correct implementation that takes another route than the reference"""
    raise NotImplementedError("write a correct alternative of {name}")
'''


def toml_entry(module: str, name: str) -> str:
    return f"""
[{module}.{name}]
difficulty = 0  # 1 a warm-up, 2 takes thought, 3 a real piece of work
hints = [
    "",  # 1: a nudge, no code
    "",  # 2: the tool or the formula, in words
    "",  # 3: may sketch code
]
"""


SPRINT_TOML = '''# What the grader and the learner's tools know about each kata of {sprint}: see
# CONTRIBUTING.md. The [sprint] table introduces the sprint in SYLLABUS.md.

[sprint]
title = ""
intro = """
"""
sources = []
'''


def add(path: Path, text: str, header: str = "") -> str:
    """Append text to a file (made with `header` when missing); a line for the report."""
    existed = path.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    before = path.read_text() if existed else header
    path.write_text(before.rstrip("\n") + "\n" + text if before.strip() else text.lstrip("\n"))
    return f"{'added to' if existed else 'wrote   '} {path.relative_to(ROOT)}"


# A kata's table in katas.toml, [module.name]: the manifest's order is that of these lines.
ENTRY = re.compile(r"^\[(\w+)\.(\w+)\][ \t]*(?:#.*)?$", re.MULTILINE)


def add_entry(path: Path, module: str, name: str, modules: list[str], header: str) -> str:
    """Put the kata's table where the catalog's order puts it (the manifest lists the
    katas in that order): after its module's tables, before those of the modules after
    it in MODULES, with the comment lines just above such a table. A line for the report."""
    if not path.exists():
        return add(path, toml_entry(module, name), header)
    lines = path.read_text().splitlines(keepends=True)
    later = set(modules[modules.index(module) + 1 :])
    at = next(
        (i for i, line in enumerate(lines) if (m := ENTRY.match(line)) and m[1] in later), None
    )
    if at is None:
        return add(path, toml_entry(module, name))
    while at > 0 and lines[at - 1].startswith("#"):
        at -= 1
    lines[at:at] = [toml_entry(module, name).lstrip("\n") + "\n"]
    path.write_text("".join(lines))
    return f"added to {path.relative_to(ROOT)}"


def register_module(sprint: str, module: str) -> str | None:
    """Add the module to the sprint's MODULES (the syllabus order), making the package."""
    init = ROOT / "solutions" / sprint / "__init__.py"
    if not init.exists():
        init.parent.mkdir(parents=True, exist_ok=True)
        init.write_text(
            f'"""{sprint.capitalize()}: TODO, what it teaches."""\n\n'
            f"MODULES = ({module!r},)  # in the order the syllabus teaches them\n"
        )
        return f"wrote    {init.relative_to(ROOT)}"
    source = init.read_text()
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "MODULES":
            modules = list(ast.literal_eval(node.value))
            if module in modules:
                return None
            lines = source.splitlines()
            first, last = node.lineno, node.end_lineno
            new = f"MODULES = {tuple([*modules, module])!r}"
            comment = lines[last - 1].split("#", 1)
            lines[first - 1 : last] = [new + (f"  #{comment[1]}" if len(comment) > 1 else "")]
            init.write_text("\n".join(lines) + "\n")
            return f"added to {init.relative_to(ROOT)} (MODULES)"
    init.write_text(source.rstrip("\n") + f"\n\nMODULES = ({module!r},)\n")
    return f"added to {init.relative_to(ROOT)} (MODULES)"


def new(kata: str) -> list[str]:
    match = ID.match(kata)
    if not match:
        raise ValueError(
            f"{kata!r} is not an id: sprintN.module.name, e.g. sprint6.micrograd.Value"
        )
    sprint, module, name = match.groups()
    if name.startswith("_"):
        raise ValueError("a kata's name is public: no leading underscore")
    if kata in {k.id for k in catalog.all_katas()}:
        raise ValueError(f"{kata} exists already")
    done = [line for line in [register_module(sprint, module)] if line]
    tests = ROOT / "tests" / sprint
    if not (tests / "__init__.py").exists():
        tests.mkdir(parents=True, exist_ok=True)
        (tests / "__init__.py").write_text("")
        done.append(f"wrote    {(tests / '__init__.py').relative_to(ROOT)}")
    module_id = f"{sprint}.{module}"
    done.append(
        add(
            ROOT / "solutions" / sprint / f"{module}.py",
            reference(kata, name),
            f'"""{module}: TODO, what this module of {sprint} builds."""\n\nimport torch\n',
        )
    )
    done.append(
        add(
            ROOT / layout.harness_file("test", module_id),
            test_class(module_id, name),
            f'"""Grades {module_id}: TODO, against what oracle."""\n\n'
            "from grader import kata, target_module\n"
            "from grader.checks import call_text, check_close, fail\n\n"
            f'{module} = target_module("{module_id}")\n',
        )
    )
    done.append(
        add(
            ROOT / layout.harness_file("variants", module_id),
            variants(name),
            f'"""Known mistakes and correct alternatives of {module_id}."""\n\n'
            "from grader.variants import alternative, mistake\n",
        )
    )
    modules = list(catalog.modules(sprint))
    manifest = layout.manifest_file(sprint)
    done.append(add_entry(manifest, module, name, modules, SPRINT_TOML.format(sprint=sprint)))
    catalog.info.cache_clear()
    stubs.write()
    syllabus.PATH.write_text(syllabus.render())
    done.append("wrote    exercises/ (the new stub) and SYLLABUS.md")
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nox -s new --", description=__doc__.split("\n")[0])
    parser.add_argument("kata", help="sprintN.module.name, e.g. sprint6.micrograd.Value")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        done = new(args.kata)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    print("\n".join(done))
    print("\nNext: write them for real, in the order CONTRIBUTING.md gives; nox -s tests says")
    print("what is still missing.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
