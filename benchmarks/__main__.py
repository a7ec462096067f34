"""python -m benchmarks SPRINT... [--target exercises|solutions] [--device cpu|cuda|all]
[--threads N] [--sizes ID,...] [--budget SECONDS] [--out DIR]   (what `nox -s bench` runs)

Times the target's katas against the reference and torch's built-ins on every device
asked for, saves pytest-benchmark's JSON (with the machine, torch version, thread count
and every skipped row's reason), then prints the report and writes it as .md and .png.
"""

import argparse
import os
import subprocess
import sys
from pathlib import Path

from grader.catalog import ROOT

HERE = Path(__file__).resolve().parent
SUITES = sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_sprint*.py"))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="nox -s bench --",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("sprints", nargs="+", metavar="SPRINT", help=f"{', '.join(SUITES)} or all")
    p.add_argument("--target", choices=["exercises", "solutions"], default="exercises")
    p.add_argument("--device", choices=["cpu", "cuda", "all"], default="all")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: one per core)")
    p.add_argument("--sizes", help="comma-separated size ids (default: all)")
    p.add_argument(
        "--budget", type=float, help="seconds of timing per row (default 1.5; less is noisier)"
    )
    p.add_argument("--out", default=str(ROOT / "out" / "bench"), help="folder (out/bench)")
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    wanted = SUITES if "all" in args.sprints else args.sprints
    unknown = [s for s in wanted if s not in SUITES]
    if unknown:
        print(
            f"no benchmarks for {', '.join(unknown)}; there are: {', '.join(SUITES)}",
            file=sys.stderr,
        )
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    raw = out / f"{'-'.join(wanted)}-{args.target}.json"
    command = [
        sys.executable,
        "-m",
        "pytest",
        *(str(HERE / f"bench_{s}.py") for s in wanted),
        "-o",
        "addopts=",
        "-p",
        "no:cacheprovider",
        "-p",
        "pytest_benchmark.plugin",
        "-q",
        "-rs",
        f"--benchmark-json={raw}",
        "--benchmark-columns=median,iqr,rounds,iterations",
        "--benchmark-sort=name",
        f"--bench-device={args.device}",
    ]
    if args.threads:
        command.append(f"--bench-threads={args.threads}")
    if args.sizes:
        command.append(f"--bench-sizes={args.sizes}")
    if args.budget:
        command.append(f"--bench-budget={args.budget}")
    env = dict(os.environ, KATA_TARGET=args.target, PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    for name in [n for n in env if n.startswith("PYTEST_XDIST_")]:
        # started from a pytest-xdist worker (the suite's own tests): pytest-benchmark stops
        # timing in a process whose environment names a worker
        del env[name]
    code = subprocess.run(command, cwd=ROOT, env=env).returncode
    if not raw.exists():
        print("no results were saved (see pytest's output above)", file=sys.stderr)
        return code or 1
    from benchmarks import report

    print()
    report.main([str(raw)])
    return code


if __name__ == "__main__":
    sys.exit(main())
