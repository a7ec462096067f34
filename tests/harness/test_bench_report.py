"""The benchmark report: the figures it derives are right, skipped rows keep their reason,
and `nox -s bench` runs end to end (on tiny sizes, so that it stays a test)."""

import json
import os
import subprocess
import sys

import pytest

from benchmarks import conftest, core, report
from grader.catalog import ROOT


def timed(kata, impl, device, seconds, dtype="fp32", flops=1e9, tokens=1000, size="s", **info):
    stats = info.pop("stats", None)
    bench = {
        "extra_info": {
            "kata": kata,
            "impl": impl,
            "device": device,
            "size": size,
            "size_label": "tiny" if size == "s" else f"the size {size}",
            "dtype": dtype,
            "flops": flops,
            "tokens": tokens,
            "per_call_s": seconds,
            **info,
        }
    }
    if stats:
        bench["stats"] = stats
    return bench


def skipped(kata, impl, device, reason, size="s"):
    params = {"size": size, "impl": impl, "device": device}
    return {
        "name": f"bench[{device}-{size}-{impl}]",
        "group": kata,
        "params": params,
        "reason": reason,
    }


DATA = {
    "machine_info": {
        "torch": {
            "version": "x",
            "threads": 2,
            "cpu_matmul_peak_flops": 1e11,
            "cuda": "NVIDIA H100 80GB HBM3",
            "tf32_matmul": False,
        },
    },
    "benchmarks": [
        timed("k.Block", "target", "cpu", 0.02),
        timed("k.Block", "reference", "cpu", 0.01),
        timed("k.Block", "target", "cuda", 0.001),
        timed("k.Block", "reference", "cuda", 0.0005),
        timed("k.Block", "gpu-best", "cuda", 0.0001, dtype="bf16"),
    ],
    "skipped": [
        {
            "name": "bench_block[cpu-s-gpu-best]",
            "group": "k.Block",
            "params": {"size": "s", "impl": "gpu-best", "device": "cpu"},
            "reason": "gpu-best rows run on CUDA only",
        },
    ],
}


def table_rows(text):
    return {
        tuple(c.strip() for c in line.strip("|").split("|"))[1]: [
            c.strip() for c in line.strip("|").split("|")
        ]
        for line in text.splitlines()
        if line.startswith("| k.")
    }


def test_ratios_speedups_throughput_and_share_of_peak():
    rows = table_rows(report.markdown(DATA))
    target, reference, best = rows["target"], rows["reference"], rows["gpu-best"]
    # kata impl dtype CPU GPU CPU/GPU target/ref tok/s(cpu, gpu) FLOP/s (% peak)(cpu, gpu)
    assert target[3] == "20.00 ms" and target[4] == "1.00 ms"
    assert target[5] == "20.0×" and target[6] == "cpu 2.00, cuda 2.00"
    assert target[7] == "50.00 ktok/s" and target[8] == "1.00 Mtok/s"  # 1000 tokens in 1 ms
    assert target[9] == "50.00 GFLOP/s (50.00 %)"  # of the measured CPU matmul peak
    assert target[10] == "1.00 TFLOP/s (1.49 %)"  # of the H100's fp32 peak, 67 T
    assert reference[6] == "–"
    assert best[3].startswith("skipped: gpu-best rows run on CUDA only")
    assert best[10] == "10.00 TFLOP/s (1.01 %)"  # of the bf16 peak, 989 T


def test_a_gpu_less_run_says_why_every_cuda_cell_is_empty():
    data = {
        "machine_info": {"torch": {"cpu_matmul_peak_flops": 5e10}},
        "benchmarks": [timed("k.sdpa", "reference", "cpu", 0.001)],
        "skipped": [
            {
                "name": "b",
                "group": "k.sdpa",
                "reason": "no CUDA device on this machine",
                "params": {"size": "s", "impl": "reference", "device": "cuda"},
            },
        ],
    }
    row = table_rows(report.markdown(data))["reference"]
    assert row[4] == "skipped: no CUDA device on this machine" and row[5] == "–"
    assert row[7] == "1.00 Mtok/s" and row[8] == "–"
    assert row[9] == "1.00 TFLOP/s (2000.00 %)" and row[10] == "–"  # made-up flops


def test_the_report_imports_no_torch():
    """It reads pytest-benchmark's JSON: `nox -s bench` pays torch's import in its pytest
    child only, not a second time for the report."""
    code = "import sys, benchmarks.report; assert 'torch' not in sys.modules"
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_gpu_peaks_know_the_pcie_card_from_the_sxm_one():
    assert report.gpu_peak("NVIDIA H100 PCIe", "bf16") == 756e12
    assert report.gpu_peak("NVIDIA H100 80GB HBM3", "bf16") == 989e12
    assert report.gpu_peak("NVIDIA H100 80GB HBM3", "fp32") == 67e12
    assert report.gpu_peak("Some Future GPU", "fp32") is None


def test_nanogpt_flop_count():
    # nanoGPT's estimate_mfu for its 124M GPT-2: N = 124M, L 12, H 12, Q 64, T 1024.
    per_token = core.gpt_flops(124_000_000, 12, 12, 64, 1024)
    assert per_token == 6 * 124_000_000 + 12 * 12 * 12 * 64 * 1024


def test_a_rough_time_is_flagged_with_its_reason():
    ok = {"rounds": 40, "iqr": 0.001, "median": 0.02}
    data = {
        "benchmarks": [
            timed("k.Block", "target", "cpu", 0.02, stats=ok),
            timed("k.Block", "reference", "cpu", 0.5, stats={**ok, "rounds": 3}),
            timed("k.Block", "torch", "cpu", 0.01, stats={**ok, "iqr": 0.005, "median": 0.01}),
        ]
    }
    text = report.markdown(data)
    rows = table_rows(text)
    assert rows["target"][3] == "20.00 ms"  # 40 rounds, IQR 5 %: nothing to say
    assert rows["reference"][3] == "500.00 ms ⚠ 3 rounds"
    assert rows["torch"][3] == "10.00 ms ⚠ IQR 50 % of the median"
    assert "⚠: a time to take as rough" in text


def test_a_gpt_rows_share_of_peak_is_called_mfu():
    data = {
        "machine_info": {"torch": {"cpu_matmul_peak_flops": 1e11}},
        "benchmarks": [timed("k.GPT", "reference", "cpu", 0.02, mfu=True)],
    }
    assert table_rows(report.markdown(data))["reference"][9] == "50.00 GFLOP/s (MFU 50.00 %)"


def test_a_row_that_moves_less_memory_and_wins_is_explained():
    kata, gib, row = "k.pairwise", 2**30, 2**19
    data = {
        "benchmarks": [
            timed(kata, "reference", "cpu", 1.18, temp_bytes=gib, temp="the (N, M, D) differences"),
            timed(kata, "loop", "cpu", 0.753, temp_bytes=row, temp="one row's (M, D) differences"),
            timed(kata, "matmul", "cpu", 2.0, temp_bytes=2**24, temp="the (N, M) result"),
            timed(kata, "target", "cpu", 0.5),  # its temporary is unknown: no claim about it
        ]
    }
    text = report.markdown(data)
    notes = [line for line in text.splitlines() if line.startswith("- ")]
    assert notes == [
        "- On CPU, `reference` (1.18 s) materialises the (N, M, D) differences: 1.00 GiB "
        "written to memory and read back. Rows that hold far less beat it: `loop` 753.00 ms "
        "(one row's (M, D) differences, 512.00 KiB). Memory traffic, not arithmetic, is what "
        "the reference pays for at this size."
    ]
    small = {"benchmarks": [dict(b) for b in data["benchmarks"]]}
    for b in small["benchmarks"]:
        b["extra_info"] = dict(
            b["extra_info"], temp_bytes=b["extra_info"].get("temp_bytes", 0) and 2**20
        )
    assert "- On" not in report.markdown(small)  # a temporary that fits a cache: no note


def test_the_target_row_is_left_out_when_the_target_is_the_reference():
    data = {
        "machine_info": {"target": "solutions", "torch": {}},
        "benchmarks": [timed("k.Block", "reference", "cpu", 0.01)],
        "skipped": [skipped("k.Block", "target", "cpu", conftest.TARGET_IS_REFERENCE)],
    }
    text = report.markdown(data)
    assert set(table_rows(text)) == {"reference"}
    assert "Target: solutions/, the reference itself: it is timed once" in text


def test_a_size_run_nowhere_says_every_reason_in_one_line():
    reason = core.GPT2_SMALL.cpu_skip
    data = {
        "benchmarks": [timed("k.GPT", "reference", "cpu", 0.01)],
        "skipped": [
            skipped("k.GPT", "reference", "cpu", reason, size="gpt2-small"),
            skipped("k.GPT", "reference", "cuda", "no CUDA device on this machine", "gpt2-small"),
        ],
    }
    text = report.markdown(data)
    assert f"Not run: {reason}; no CUDA device on this machine." in text


def many_rows(devices=("cpu", "cuda")):
    """A sprint4-sized report: 3 katas, 4 to 5 implementations, two sizes."""
    out = []
    for size in ("cpu-recipe", "gpu-config"):
        for kata in ("s4.scaled_dot_product_attention", "s4.MultiHeadAttention", "s4.Block"):
            for i, impl in enumerate(["target", "reference", "torch", "gpu-best-compiled"]):
                for d, device in enumerate(devices):
                    out.append(timed(kata, impl, device, 10.0 ** -(i + 2 * d + 1), size=size))
    return out


def legend_labels(fig):
    return {t.get_text() for ax in fig.axes for t in ax.get_legend().get_texts()}


def test_the_chart_shows_only_the_devices_that_ran_and_no_text_overlaps(tmp_path):
    cpu_only = {"benchmarks": many_rows(("cpu",))}
    fig = report.figure(cpu_only)
    assert legend_labels(fig) == {"CPU"}
    assert "CPU only" in fig._suptitle.get_text()
    assert report.overlapping_texts(fig) == []
    both = {
        "machine_info": {"torch": {"cuda": "NVIDIA H100 80GB HBM3"}},
        "benchmarks": many_rows(),
    }
    fig = report.figure(both)
    assert legend_labels(fig) == {"CPU", "GPU (NVIDIA H100 80GB HBM3)"}
    assert report.overlapping_texts(fig) == []
    assert report.chart(both, tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"


def test_the_overlap_check_sees_an_overlap():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2, 2))
    ax.set_xticks(range(8), [f"a long label {i}" for i in range(8)])
    assert report.overlapping_texts(fig)
    plt.close(fig)


@pytest.mark.parametrize("target", ["solutions", "exercises"])
def test_nox_bench_runs_end_to_end(tmp_path, target):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "sprint1",
            f"--target={target}",
            "--sizes=256x256x16",
            "--threads=1",
            "--budget=0.05",  # a few rounds a row: what is tested is the run, not the times
            f"--out={tmp_path}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={k: v for k, v in os.environ.items() if k != "KATA_TARGET"},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    raw = json.loads((tmp_path / f"sprint1-{target}.json").read_text())
    assert raw["machine_info"]["torch"]["threads"] == 1
    assert raw["machine_info"]["torch"]["tf32_matmul"] is False
    timed_rows = {(b["extra_info"]["impl"], b["extra_info"]["device"]) for b in raw["benchmarks"]}
    assert {("reference", "cpu"), ("loop", "cpu"), ("torch", "cpu")} <= timed_rows
    assert ("matmul", "cpu") in timed_rows
    md = (tmp_path / f"sprint1-{target}.md").read_text()
    if target == "exercises":
        assert "not started: sprint1.tensors.pairwise_sq_dists still raises" in md
    else:  # the reference is the target: timed once
        assert ("target", "cpu") not in timed_rows and "| target |" not in md
        assert "it is timed once, in the reference rows" in md
    if not __import__("torch").cuda.is_available():
        assert "skipped: no CUDA device on this machine" in md
    assert (tmp_path / f"sprint1-{target}.png").read_bytes()[:4] == b"\x89PNG"
    assert "Not run: size not asked for" in md  # the large size: one line, not silence


def test_gpt2_small_is_skipped_on_cpu_with_its_reason_and_counted_as_nanogpt_does():
    from benchmarks import bench_sprint5

    size = core.GPT2_SMALL
    assert (size.B, size.T, size.C, size.L, size.H, size.V) == (12, 1024, 768, 12, 12, 50304)
    per_token = bench_sprint5.flops_per_call(size) / size.tokens
    n = round((per_token - 12 * 12 * 12 * 64 * 1024) / 6)
    assert n == 123_689_472  # wpe left out, biases in (nanoGPT, bias-free, prints 123.59M)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "benchmarks/bench_sprint5.py",
            "--benchmark-disable",
            "--bench-device=cpu",
            "--bench-sizes=gpt2-small",
            "-q",
            "-rs",
            "-p",
            "no:cacheprovider",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, KATA_TARGET="solutions"),
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "SKIPPED [7] benchmarks/conftest.py" in proc.stdout and size.cpu_skip in proc.stdout
