"""The benchmark report: the figures it derives are right, skipped rows keep their reason,
and `nox -s bench` runs end to end (on tiny sizes, so that it stays a test)."""

import json
import os
import subprocess
import sys

import pytest

from benchmarks import core, report
from grader.catalog import ROOT


def timed(kata, impl, device, seconds, dtype="fp32", flops=1e9, tokens=1000):
    return {
        "extra_info": {
            "kata": kata,
            "impl": impl,
            "device": device,
            "size": "s",
            "size_label": "tiny",
            "dtype": dtype,
            "flops": flops,
            "tokens": tokens,
            "per_call_s": seconds,
        }
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


def test_gpu_peaks_know_the_pcie_card_from_the_sxm_one():
    assert core.gpu_peak("NVIDIA H100 PCIe", "bf16") == 756e12
    assert core.gpu_peak("NVIDIA H100 80GB HBM3", "bf16") == 989e12
    assert core.gpu_peak("NVIDIA H100 80GB HBM3", "fp32") == 67e12
    assert core.gpu_peak("Some Future GPU", "fp32") is None


def test_nanogpt_flop_count():
    # nanoGPT's estimate_mfu for its 124M GPT-2: N = 124M, L 12, H 12, Q 64, T 1024.
    per_token = core.gpt_flops(124_000_000, 12, 12, 64, 1024)
    assert per_token == 6 * 124_000_000 + 12 * 12 * 12 * 64 * 1024


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
    md = (tmp_path / f"sprint1-{target}.md").read_text()
    if target == "exercises":
        assert "not started: sprint1.tensors.pairwise_sq_dists still raises" in md
    else:
        assert ("target", "cpu") in timed_rows
    if not __import__("torch").cuda.is_available():
        assert "skipped: no CUDA device on this machine" in md
    assert (tmp_path / f"sprint1-{target}.png").read_bytes()[:4] == b"\x89PNG"
    assert "Not run: size not asked for" in md  # the large size: one line, not silence
