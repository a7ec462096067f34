"""The learner's commands around grading: hints, the reference after a pass, the list of
katas, and progress. `python -m grader.learn COMMAND ...`; nox's sessions call it.

    hint SELECTOR [--level N]     the next hint for a kata (levels 1, 2, 3), remembered
    solution SELECTOR [--force]   the reference for a kata you have passed
    katas [SELECTOR...]           every kata with its order, difficulty and status
    progress                      every sprint at a glance; writes PROGRESS.md
    commands                      what to run, for a bare `nox`

Standard library only: nothing here imports torch or runs learner code. Where hints and
difficulties come from: each sprint's `tests/<sprint>/katas.toml`.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

from grader import catalog, layout, progress, target
from grader.layout import ROOT, Status

LEVELS = {
    1: "a nudge",
    2: "the tool or the formula, in words",
    3: "a sketch: this one shows code",
}
STARS = {1: "*  ", 2: "** ", 3: "***"}
COMMANDS = """\
torch-katas: the learner's commands

  nox -s grade -- sprint1          grade your exercises (a sprint, module, kata, or all)
  nox -s watch -- sprint1.tensors  re-grade on every save
  nox -s hint -- split_heads       the next hint for a kata (three levels; --level N)
  nox -s katas -- sprint1          every kata with its order, difficulty and status
  nox -s progress                  every sprint at a glance; writes PROGRESS.md
  nox -s reset -- split_heads      put back the stub of a kata (your code is backed up)
  nox -s solution -- split_heads   the reference, once you have passed the kata
  nox -s train -- mlp              a real run with your code (mlp, gpt, gpt2)
  nox -s bench -- sprint4          your code against the reference and torch's own

Start with exercises/sprint1/tensors.py; SYLLABUS.md lists every kata."""


class Usage(Exception):
    """A command line that names nothing, or names it wrongly; exit status 2."""


def one_kata(selector: str) -> catalog.Kata:
    try:
        found = catalog.resolve(selector)
    except catalog.UnknownSelector as exc:
        raise Usage(str(exc)) from None
    if len(found) != 1:
        raise Usage(f"{selector!r} names {len(found)} katas; name one, e.g. {found[0].id}")
    return found[0]


# --- hint -------------------------------------------------------------------------------


def hint(selector: str, level: int | None = None) -> str:
    """The next hint level for the kata (or `level`), and remember that it was shown."""
    kata = one_kata(selector)
    hints = catalog.kata_info(kata.id).hints
    data = progress.load()
    entry = progress.kata_state(data, kata.id)
    shown = int(entry.get("hints_shown", 0))
    if level is None:
        level = min(shown + 1, len(hints))
    if not 1 <= level <= len(hints):
        raise Usage(f"--level takes 1 to {len(hints)}")
    entry["hints_shown"] = max(shown, level)
    progress.save(data)
    lines = [f"{kata.id}, hint {level} of {len(hints)} ({LEVELS[level]}):", ""]
    lines += ["  " + line for line in hints[level - 1].splitlines()]
    lines.append("")
    if level < len(hints):
        lines.append(f"Still stuck? nox -s hint -- {kata.id} gives hint {level + 1}.")
    else:
        lines.append(
            f"That was the last hint. Once the kata passes, nox -s solution -- {kata.id} shows "
            "the reference."
        )
    return "\n".join(lines)


# --- solution -----------------------------------------------------------------------------


def reference_source(kata: catalog.Kata) -> str:
    """The kata's code in solutions/, with the module's private helpers it uses."""
    path = layout.module_file("solutions", kata.module_id)
    source = path.read_text()
    tree = ast.parse(source)
    nodes = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)}
    main = nodes[kata.name]
    used = {n.id for n in ast.walk(main) if isinstance(n, ast.Name)}
    used |= {n.attr for n in ast.walk(main) if isinstance(n, ast.Attribute)}
    chosen = [n for name, n in nodes.items() if name.startswith("_") and name in used]
    chosen.append(main)
    lines = source.splitlines()
    parts = []
    for node in sorted(chosen, key=lambda n: n.lineno):
        start = min([d.lineno for d in node.decorator_list] + [node.lineno])
        header = f"# {path.relative_to(ROOT)}, line {start}"
        parts.append(header + "\n" + "\n".join(lines[start - 1 : node.end_lineno]))
    return "\n\n\n".join(parts)


def solution(selector: str, force: bool = False) -> tuple[int, str]:
    kata = one_kata(selector)
    data = progress.load()
    if not force and not progress.has_passed(data, kata.id):
        status = progress.status(data, kata.id) or "never graded"
        return 1, (
            f"{kata.id} has not passed yet ({status.replace('_', ' ')}). Reading the reference "
            "before you have solved the kata spoils it: try nox -s hint -- "
            f"{kata.id} first.\nTo see it anyway: nox -s solution -- {kata.id} --force"
        )
    return 0, reference_source(kata)


# --- katas --------------------------------------------------------------------------------


def katas_table(selectors: list[str]) -> str:
    chosen: list[catalog.Kata] = []
    for selector in selectors or ["all"]:
        try:
            chosen += [k for k in catalog.resolve(selector) if k not in chosen]
        except catalog.UnknownSelector as exc:
            raise Usage(str(exc)) from None
    data = progress.load()
    width = max(len(k.id) for k in chosen)
    lines = [f"   #  {'kata':<{width}}  difficulty  status"]
    for sprint in dict.fromkeys(k.sprint for k in chosen):
        title = catalog.info(sprint).title
        lines.append(f"{sprint}: {title}" if title else sprint)
        every = catalog.katas(sprint)
        for kata in (k for k in chosen if k.sprint == sprint):
            info = catalog.kata_info(kata.id)
            order = every.index(kata) + 1
            state = progress.status(data, kata.id) or "-"
            scratch = "  from scratch" if info.from_scratch else ""
            difficulty = f"{info.difficulty} {STARS.get(info.difficulty, '')}"
            lines.append(
                f"  {order:>2}. {kata.id:<{width}}  {difficulty:<10}  {state:<11}{scratch}".rstrip()
            )
        lines.append("")
    lines.append(
        "Difficulty: 1 a warm-up, 2 takes thought, 3 a real piece of work. The status is "
        "the one your last grading run gave (- never graded); nothing was run now."
    )
    return "\n".join(lines)


# --- progress -----------------------------------------------------------------------------


def progress_table() -> str:
    data = progress.load()
    lines = ["torch-katas: your progress (from your grading runs)", ""]
    total = done = 0
    for sprint in catalog.sprints():
        katas = catalog.katas(sprint)
        passed = [k for k in katas if progress.status(data, k.id) == Status.PASSED]
        total, done = total + len(katas), done + len(passed)
        title = catalog.info(sprint).title
        lines.append(
            f"{sprint:<8} {_bar(len(passed), len(katas))} {len(passed):>2}/{len(katas)}  {title}"
        )
        for module in catalog.modules(sprint):
            mine = [k for k in katas if k.module == module]
            ok = sum(progress.status(data, k.id) == Status.PASSED for k in mine)
            lines.append(f"  {module:<14} {ok:>2}/{len(mine)}")
    lines += ["", f"{done}/{total} katas passed."]
    return "\n".join(lines)


def standing() -> str:
    """One line on where the learner stands, from the progress file."""
    data = progress.load()
    every = catalog.all_katas()
    passed = sum(progress.status(data, k.id) == Status.PASSED for k in every)
    if not data["katas"]:
        return f"You have not graded anything yet: {len(every)} katas are waiting."
    todo = next((k for k in every if progress.status(data, k.id) != Status.PASSED), None)
    where = f"; the first one not passing is {todo.id}" if todo else ""
    return f"You have passed {passed} of {len(every)} katas{where} (nox -s progress for more)."


def _bar(done: int, total: int, width: int = 20) -> str:
    filled = round(width * done / total) if total else 0
    return "[" + "#" * filled + "." * (width - filled) + "]"


def skills_log() -> str:
    """PROGRESS.md: per sprint, what was mastered and when, and what is under way."""
    data = progress.load()
    lines = [
        "# My torch-katas skills log",
        "",
        "Written by `nox -s progress` from the history of your grading runs (`.katas/state.json`).",
        "",
    ]
    for sprint in catalog.sprints():
        head = catalog.info(sprint)
        katas = catalog.katas(sprint)
        entries = {k.id: data["katas"].get(k.id, {}) for k in katas}
        mastered = sorted(
            (k for k in katas if entries[k.id].get("first_pass")),
            key=lambda k: entries[k.id]["first_pass"],
        )
        lines.append(f"## {sprint}: {head.title} ({len(mastered)}/{len(katas)})")
        lines.append("")
        if not mastered and not any(entries[k.id].get("first_attempt") for k in katas):
            lines += ["Not started yet.", ""]
            continue
        for kata in mastered:
            entry = entries[kata.id]
            now = "" if entry.get("status") == Status.PASSED else f" (now {entry.get('status')})"
            hints = entry.get("hints_shown", 0)
            used = f", {hints} hint{'s' * (hints != 1)}" if hints else ""
            lines.append(f"- [x] `{kata.id}`: passed {entry['first_pass']}{used}{now}")
        for kata in katas:
            entry = entries[kata.id]
            if entry.get("first_attempt") and not entry.get("first_pass"):
                lines.append(
                    f"- [ ] `{kata.id}`: under way since {entry['first_attempt']} "
                    f"({entry.get('status', '').replace('_', ' ')})"
                )
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def write_progress() -> tuple[str, Path]:
    path = target.target_root() / "PROGRESS.md"
    path.write_text(skills_log())
    return progress_table(), path


# --- main ---------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.learn")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("hint")
    p.add_argument("selector")
    p.add_argument("--level", type=int)
    p = sub.add_parser("solution")
    p.add_argument("selector")
    p.add_argument("--force", action="store_true")
    p = sub.add_parser("katas")
    p.add_argument("selectors", nargs="*")
    sub.add_parser("progress")
    sub.add_parser("commands")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        if args.command == "hint":
            print(hint(args.selector, args.level))
        elif args.command == "solution":
            code, text = solution(args.selector, args.force)
            print(text, file=sys.stdout if code == 0 else sys.stderr)
            return code
        elif args.command == "katas":
            print(katas_table(args.selectors))
        elif args.command == "progress":
            table, path = write_progress()
            print(f"{table}\n\nSkills log written to {path}")
        else:
            print(f"{COMMANDS}\n\n{standing()}")
    except Usage as exc:
        print(exc, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
