"""`python -m grader SELECTOR... [--target T] [--json PATH]`: grade and print a scorecard.

This is what `nox -s grade` runs. It imports no torch and no learner code itself.
Exit status: 0 when every selected kata passed, 1 when any did not, 2 on a usage error,
3 when the JSON report could not be written (the scorecard is printed all the same).
The scorecard and the report say so when a file of the grader, of the tests or of their
configuration changed while grading ran: the results may not be true then.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from grader import catalog, layout, processes, progress, report, runner
from grader.layout import ROOT, TARGETS, Status

USAGE = (
    "usage: nox -s grade -- SELECTOR... [--target exercises|solutions] [--json PATH] "
    "[--timeout SECONDS] [--memory-limit SIZE]\n"
    "  SELECTOR is a sprint (sprint1), all, a module (sprint1.tensors), a kata "
    "(sprint1.tensors.split_heads) or a kata's bare name (split_heads)\n"
    "  --memory-limit: what each grading process may take (default 4G, or $KATA_MEMORY_LIMIT;"
    " none for no limit)"
)
REPORT_NOT_WRITTEN = 3  # the exit status when --json could not be written


class UsageError(Exception):
    pass


@dataclass
class Request:
    selectors: list[str]  # sprint, module or kata ids, as given
    target: str
    json: Path | None
    timeout: float | None
    sprints: list[str]
    katas: list[catalog.Kata]
    memory_limit: int | None = processes.MEMORY_LIMIT  # bytes per grading process; None: none

    @property
    def label(self) -> str:
        return ", ".join(self.selectors)


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(f"{message}\n{USAGE}")


def select(selectors: list[str]) -> list[catalog.Kata]:
    """The katas the selectors name, in catalog order; UsageError names a wrong one and
    suggests the closest ids."""
    sprints = catalog.sprints()
    if all(s in sprints for s in selectors):  # the usual case: only those sprints are read
        return [k for sprint in sprints if sprint in selectors for k in catalog.katas(sprint)]
    chosen: list[catalog.Kata] = []
    everything = catalog.all_katas()  # read once: each module's source is parsed
    for selector in dict.fromkeys(selectors):
        try:
            found = catalog.resolve(selector, everything=everything)
        except catalog.UnknownSelector as exc:
            raise UsageError(f"{exc}\n{USAGE}") from None
        chosen += [k for k in found if k not in chosen]
    order = {k.id: i for i, k in enumerate(everything)}
    return sorted(chosen, key=lambda k: order[k.id])


def parse(argv: list[str]) -> Request:
    """Check the command line; raises UsageError with the usage line on anything wrong."""
    parser = _Parser(prog="grade", add_help=False)
    parser.add_argument("selectors", nargs="*")
    parser.add_argument("--target", default="exercises")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--timeout", type=float)
    parser.add_argument("--memory-limit")
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
    if args.json is not None:
        folder = args.json.parent if str(args.json.parent) else Path(".")
        if not folder.is_dir():
            raise UsageError(
                f"--json {args.json}: the folder {folder} does not exist (make it first)\n{USAGE}"
            )
        if args.json.is_dir():
            raise UsageError(f"--json {args.json} is a folder; give a file name\n{USAGE}")
    memory = args.memory_limit or os.environ.get("KATA_MEMORY_LIMIT")
    try:
        memory_limit = processes.MEMORY_LIMIT if memory is None else processes.parse_size(memory)
    except ValueError as exc:
        raise UsageError(f"--memory-limit: {exc}\n{USAGE}") from None
    katas = select(args.selectors)
    sprints = list(dict.fromkeys(k.sprint for k in katas))
    return Request(
        args.selectors, args.target, args.json, args.timeout, sprints, katas, memory_limit
    )


def test_paths(katas: list[catalog.Kata], root: Path = ROOT) -> list[str]:
    """The test files that grade these katas, relative to the project's root."""
    paths = []
    for kata in katas:
        path = layout.harness_file("test", kata.module_id).as_posix()
        if path not in paths and (root / path).exists():
            paths.append(path)
    return paths


def grade(request: Request, *, launch=runner.spawn, progress_bar=None) -> list[report.KataResult]:
    """Run the tests of the requested katas in a child and return a result per kata."""
    paths = test_paths(request.katas)
    if not paths:
        outcome = runner.Outcome()
    else:
        outcome = runner.run(
            paths,
            request.target,
            timeout=request.timeout,
            extra_env={"KATA_SELECT": ",".join(k.id for k in request.katas)},
            progress=progress_bar,
            launch=launch,
            limits=dataclasses.replace(
                processes.Limits.from_env(os.environ), memory=request.memory_limit
            ),
        )
    return report.kata_results(request.katas, outcome)


def _progress_bar():
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


def show(
    request: Request,
    results: list[report.KataResult],
    seconds: float,
    graded=None,
    harness_changed: list[str] = (),
) -> str:
    """The scorecard (with the time taken), after recording in the progress file the
    results that were graded now (`graded`, by default all of them)."""
    if request.target == "exercises":
        progress.record(results if graded is None else graded)
    text = report.scorecard(
        request.target,
        request.sprints,
        results,
        report.use_colour(),
        request.label,
        changed=progress.changed_at(request.target, request.katas),
        harness_changed=harness_changed,
    )
    return f"{text}\n\n({seconds:.1f} s)"


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _stop)
    try:
        request = parse(sys.argv[1:] if argv is None else argv)
    except UsageError as exc:
        print(exc, file=sys.stderr)
        return 2
    started = time.monotonic()
    harness = runner.harness_fingerprint()
    bar = _progress_bar()
    results = grade(request, progress_bar=bar)
    if bar:
        sys.stderr.write("\r\033[K")
    changed = runner.harness_changes(harness)
    text = show(request, results, time.monotonic() - started, harness_changed=changed)
    status = 0 if all(r.status == Status.PASSED for r in results) else 1
    if request.json:
        data = report.to_json(request.target, request.sprints, results, harness_changed=changed)
        try:
            report.write_json(request.json, data)
            text += f"\nReport written to {request.json}"
        except OSError as exc:
            print(f"the report could not be written to {request.json}: {exc}", file=sys.stderr)
            status = REPORT_NOT_WRITTEN
    try:
        print(text)
        sys.stdout.flush()
    except BrokenPipeError:  # `| head`: the reader has gone; the status still tells
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return status
