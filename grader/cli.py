"""`python -m grader SPRINT... [--target T] [--json PATH]`: grade and print a scorecard.

This is what `nox -s grade` runs. It imports no torch and no learner code itself.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from grader import catalog, report, runner
from grader.catalog import ROOT, TARGETS

USAGE = (
    "usage: nox -s grade -- SPRINT... [--target exercises|solutions] [--json PATH] "
    "[--timeout SECONDS]\n"
    "  SPRINT is sprint1, sprint2, ... or all; a module (sprint1.tensors) or one kata "
    "(sprint1.tensors.split_heads) works too"
)


class UsageError(Exception):
    pass


@dataclass
class Request:
    selectors: list[str]  # sprint, module or kata ids
    target: str
    json: Path | None
    timeout: float | None
    sprints: list[str]
    katas: list[catalog.Kata]


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(f"{message}\n{USAGE}")


def parse(argv: list[str]) -> Request:
    """Check the command line; raises UsageError with the usage line on anything wrong."""
    parser = _Parser(prog="grade", add_help=False)
    parser.add_argument("selectors", nargs="*")
    parser.add_argument("--target", default="exercises")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--timeout", type=float)
    parser.add_argument("-h", "--help", action="store_true")
    args = parser.parse_args(argv)
    if args.help:
        raise UsageError(USAGE)
    if not args.selectors:
        raise UsageError(f"say what to grade\n{USAGE}")
    if args.target not in TARGETS:
        raise UsageError(f"unknown target {args.target!r} (exercises or solutions)\n{USAGE}")
    if args.timeout is not None and args.timeout <= 0:
        raise UsageError(f"--timeout must be positive\n{USAGE}")
    available = catalog.sprints()
    selectors = available if "all" in args.selectors else list(dict.fromkeys(args.selectors))
    chosen: list[catalog.Kata] = []
    for selector in selectors:
        sprint = selector.split(".")[0]
        if sprint not in available:
            known = ", ".join([*available, "all"])
            raise UsageError(f"unknown sprint {selector!r} (there are {known})\n{USAGE}")
        matching = [k for k in catalog.katas(sprint) if selector in (k.sprint, k.module_id, k.id)]
        if not matching:
            raise UsageError(f"no module or kata called {selector!r} in {sprint}\n{USAGE}")
        chosen += [k for k in matching if k not in chosen]
    sprints = list(dict.fromkeys(k.sprint for k in chosen))
    return Request(selectors, args.target, args.json, args.timeout, sprints, chosen)


def _progress(total_hint: list[int]):
    if not sys.stderr.isatty():
        return None
    seen = [0]

    def show(result):
        seen[0] += 1
        sys.stderr.write(f"\r  graded {seen[0]} tests ...")
        sys.stderr.flush()

    return show


def _stop(signum, frame):
    raise SystemExit(128 + signum)  # unwinds through the runner, which kills the child


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _stop)
    try:
        request = parse(sys.argv[1:] if argv is None else argv)
    except UsageError as exc:
        print(exc, file=sys.stderr)
        return 2
    paths = []
    for kata in request.katas:
        path = f"tests/{kata.sprint}/test_{kata.module}.py"
        if path not in paths and (ROOT / path).exists():
            paths.append(path)
    started = time.monotonic()
    progress = _progress([])
    extra = {"KATA_SELECT": ",".join(request.selectors)}
    if not paths:
        outcome = runner.Outcome()
    else:
        outcome = runner.run(
            paths, request.target, timeout=request.timeout, extra_env=extra, progress=progress
        )
    if progress:
        sys.stderr.write("\r\033[K")
    results = report.kata_results(request.katas, outcome)
    label = ", ".join(request.selectors)
    print(report.scorecard(request.target, request.sprints, results, report.use_colour(), label))
    print(f"\n({time.monotonic() - started:.1f} s)")
    if request.json:
        report.write_json(request.json, report.to_json(request.target, request.sprints, results))
    return 0
