"""The benchmarks' pytest wiring: options, the device axis, the session's settings, and
what goes into the saved JSON (machine facts, and the rows that were skipped and why).

The hooks stay thin: they record into one dict on `config`; report.py draws from the JSON.
"""

from __future__ import annotations

import os

import pytest
import torch

from benchmarks import core
from grader.target import target_name

DEVICES = ("cpu", "cuda")
ROWS = pytest.StashKey[dict]()
TARGET_IS_REFERENCE = (
    "the target is the reference (--target solutions): timed once, in the reference's row"
)


def pytest_addoption(parser):
    group = parser.getgroup("torch-katas benchmarks")
    group.addoption(
        "--bench-device",
        choices=["cpu", "cuda", "all"],
        default="all",
        help="the devices to time (default all: CUDA rows are skipped, with the reason, "
        "where there is no GPU)",
    )
    group.addoption(
        "--bench-sizes",
        default=None,
        help="comma-separated size ids to time (default all; the rest are skipped, saying so)",
    )
    group.addoption(
        "--bench-threads",
        type=int,
        default=None,
        help="torch CPU threads for the whole session (default: one per core)",
    )
    group.addoption(
        "--bench-budget",
        type=float,
        default=None,
        help=f"seconds of timing per row (default {core.BUDGET_SECONDS:g}); rows with "
        "fewer than 5 rounds are flagged in the report",
    )


def pytest_configure(config):
    threads = config.getoption("--bench-threads") or os.cpu_count() or 1
    config.stash[ROWS] = {"threads": threads, "skipped": []}
    if config.getoption("--bench-budget"):
        core.BUDGET_SECONDS = config.getoption("--bench-budget")  # this process's rows


@pytest.fixture(autouse=True)
def bench_settings(request):
    """The session's thread count and fp32 without TF32, for the benchmarks only: when
    they run inside `nox -s tests`, the other tests keep their own settings."""
    before = (
        torch.get_num_threads(),
        torch.backends.cuda.matmul.allow_tf32,
        torch.backends.cudnn.allow_tf32,
        torch.get_float32_matmul_precision(),
    )
    torch.set_num_threads(request.config.stash[ROWS]["threads"])
    core.fp32_exact()
    yield
    torch.set_num_threads(before[0])
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before[1:3]
    torch.set_float32_matmul_precision(before[3])


def pytest_generate_tests(metafunc):
    if "device" in metafunc.fixturenames:
        metafunc.parametrize("device", DEVICES, indirect=True)


def pytest_runtest_setup(item):
    params = item.callspec.params if hasattr(item, "callspec") else {}
    sizes = item.config.getoption("--bench-sizes")
    size = params.get("size")
    if sizes and size is not None and getattr(size, "id", size) not in sizes.split(","):
        pytest.skip(f"size not asked for (--sizes {sizes})")
    if params.get("device") == "cpu" and getattr(size, "cpu_skip", ""):
        pytest.skip(size.cpu_skip)
    timing = not item.config.getoption("benchmark_disable", True)
    if not timing and not sizes and size is not None and not _first_size(item, size):
        # as a test, each row runs once at its first (smallest) size: the same code as
        # the larger ones, in a fraction of the time; nox -s bench times them all
        pytest.skip("as a test only the first size runs; nox -s bench times every size")
    if timing and params.get("impl") == "target" and target_name() == "solutions":
        pytest.skip(TARGET_IS_REFERENCE)  # as a test (--benchmark-disable) it still runs


def _first_size(item, size) -> bool:
    """Whether `size` is the first of the values its @pytest.mark.parametrize lists. (Not
    callspec.indices: pytest 8 and later number direct parameters across the whole grid,
    so every row but the grid's first would look like a later size.)"""
    for mark in item.iter_markers("parametrize"):
        names = mark.args[0]
        names = [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)
        if "size" in names:
            first = mark.args[1][0]
            first = getattr(first, "values", first)  # a pytest.param
            return size == (first[names.index("size")] if len(names) > 1 else first)
    return True


@pytest.fixture
def device(request):
    """The device a row runs on; skipped, with the reason, when absent or not asked for."""
    name = request.param
    wanted = request.config.getoption("--bench-device")
    if wanted not in ("all", name):
        pytest.skip(f"not asked for (--device {wanted})")
    core.skip_unless_device(name)
    torch.manual_seed(0)
    return name


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    report = (yield).get_result()
    if report.skipped and "benchmark" in getattr(item, "fixturenames", ()):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        params = dict(item.callspec.params) if hasattr(item, "callspec") else {}
        size = params.get("size")
        if hasattr(size, "label"):
            params.update(size=size.id, size_label=size.label)
        item.config.stash[ROWS]["skipped"].append(
            {
                "name": item.name,
                "group": _group(item),
                "params": params,
                "reason": reason.removeprefix("Skipped: "),
            }
        )


def _group(item) -> str | None:
    marker = item.get_closest_marker("benchmark")
    return marker.kwargs.get("group") if marker else None


def pytest_benchmark_update_machine_info(config, machine_info):
    rows = config.stash[ROWS]
    before = torch.get_num_threads()
    core.fp32_exact()
    machine_info["target"] = target_name()
    machine_info["torch"] = {
        "version": torch.__version__,
        "threads": rows["threads"],
        "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
        "tf32_cudnn": torch.backends.cudnn.allow_tf32,
        "cpu_matmul_peak_flops": core.cpu_matmul_peak(rows["threads"]),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "cuda_version": torch.version.cuda,
    }
    torch.set_num_threads(before)


def pytest_benchmark_update_json(config, benchmarks, output_json):
    output_json["skipped"] = config.stash[ROWS]["skipped"]
