"""What every benchmark shares: honest timing, the sizes, FLOP counts, device peaks, and
the three kinds of row (the target's code, the reference's, torch's own).

Timing rules (a benchmark that lies teaches the wrong lesson):
- warm up first (the first cuBLAS call, allocator growth, lazy init all cost);
- on CUDA, one torch.cuda.synchronize() inside every timed round, after k calls: the
  time covers the work, not just the kernel launches;
- the CPU thread count is set once for the session and recorded;
- fp32 compares with fp32: TF32 is off for every fp32 row; the "gpu-best" rows (bf16
  autocast, fused attention, torch.compile) are separate rows and say so;
- inputs are made on the device before timing; nothing crosses the bus inside a round.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import torch

from grader.stubs import unfinished

ROUND_SECONDS = 0.05  # k calls per round make a round last about this long
BUDGET_SECONDS = 1.5  # rounds per row: about this much timing, 3 rounds at least


@dataclass(frozen=True)
class Size:
    """One problem size; `id` names it in tables and test ids."""

    id: str
    label: str
    B: int = 0
    T: int = 0
    C: int = 0
    L: int = 0
    H: int = 0
    V: int = 65  # tiny Shakespeare's characters, as nanoGPT's char models
    cpu_skip: str = ""  # why its CPU rows are not run, when they are not

    @property
    def tokens(self) -> int:
        return self.B * self.T


# nanoGPT's Shakespeare-char CPU recipe and its GPU config.
CPU_RECIPE = Size(
    "cpu-recipe", "nanoGPT CPU recipe: B 12, T 64, C 128, 4 layers, 4 heads", 12, 64, 128, 4, 4
)
GPU_CONFIG = Size(
    "gpu-config",
    "nanoGPT Shakespeare GPU config: B 64, T 256, C 384, 6 layers, 6 heads",
    64,
    256,
    384,
    6,
    6,
)
TRANSFORMER_SIZES = [CPU_RECIPE, GPU_CONFIG]
# GPT-2 small as nanoGPT trains it (train_gpt2.py: B 12, T 1024; the vocabulary padded
# from 50257 to 50304, a multiple of 64, for faster matmuls).
GPT2_SMALL = Size(
    "gpt2-small",
    "GPT-2 small (124M) as nanoGPT trains it: B 12, T 1024, C 768, 12 layers, 12 heads, "
    "vocab 50304",
    12,
    1024,
    768,
    12,
    12,
    V=50304,
    cpu_skip="GPT-2 small is timed on CUDA only: a training step is about 10 TFLOP, "
    "minutes on a CPU",
)


def cpu_matmul_peak(threads: int, n: int = 2048) -> float:
    """fp32 FLOP/s of the best of a few n² matmuls at `threads`: the CPU's practical
    peak (what the rows' "% peak" on CPU is a share of)."""
    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b  # warm-up
    best, start = float("inf"), time.perf_counter()
    while time.perf_counter() - start < 1.0:
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best


def gpt_flops(n_params: int, L: int, H: int, Q: int, T: int) -> float:
    """nanoGPT's estimate_mfu count per token, forward and backward: 6N + 12·L·H·Q·T."""
    return 6 * n_params + 12 * L * H * Q * T


def fp32_exact() -> None:
    """No TF32 for fp32 matmuls and convolutions: fp32 rows compare with fp32."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def require_target(kata_ids: list[str]) -> None:
    """Skip the target's row, saying so, while a kata it runs is a stub."""
    missing = unfinished(kata_ids)
    if missing:
        verb = "raises" if len(missing) == 1 else "raise"
        pytest.skip(f"not started: {', '.join(missing)} still {verb} NotImplementedError")


def build(make: Callable[[], object]):
    """make(), or a skip naming the stub when the target's code reaches one."""
    try:
        return make()
    except NotImplementedError as exc:
        pytest.skip(f"not started: {exc} still raises NotImplementedError")


def measure(
    benchmark,
    fn: Callable[[], object],
    device: str,
    *,
    kata: str,
    impl: str,
    size: Size,
    flops: float,
    dtype: str = "fp32",
    tokens: int | None = None,
    mfu: bool = False,
    temp: tuple[int, str] | None = None,
) -> None:
    """Time fn() honestly with pytest-benchmark and record what the row is (kata, impl,
    size, dtype, FLOPs and tokens per call: what the report derives its columns from).
    mfu: the FLOPs are nanoGPT's estimate_mfu count, so the share of peak is its MFU.
    temp: (bytes, what) of the largest temporary a call materialises, when known: the
    report explains with it a row that beats the reference by moving less memory.

    Warm-up: 3 calls, or 1 when a call takes over 0.2 s. Then rounds of k calls (k
    chosen so a round lasts ~ROUND_SECONDS) with one synchronize after the k-th, and
    enough rounds for ~BUDGET_SECONDS. pytest-benchmark divides each round by k, so its
    stats, and `per_call_s` (the median) in extra_info, are per call. Under
    --benchmark-disable fn runs once, as a test.
    """
    benchmark.extra_info.update(
        kata=kata,
        impl=impl,
        size=size.id,
        size_label=size.label,
        dtype=dtype,
        flops=flops,
        tokens=tokens,
        device=device,
        threads=torch.get_num_threads(),
    )
    if mfu:
        benchmark.extra_info["mfu"] = True
    if temp is not None:
        benchmark.extra_info.update(temp_bytes=temp[0], temp=temp[1])
    if benchmark.disabled:  # a test run: once, through the fixture
        benchmark.pedantic(lambda: (fn(), sync(device)))
        return
    try:
        start, calls = time.perf_counter(), 0
        while calls < 1 or (calls < 3 and time.perf_counter() - start < 0.2):
            fn()  # a slow call (> 0.2 s) warms up once, a fast one 3 times
            sync(device)
            calls += 1
    except NotImplementedError as exc:  # a stub reached through another kata
        pytest.skip(f"not started: {exc} still raises NotImplementedError")
    except torch.cuda.OutOfMemoryError:  # GPT-2 small's naive attention on a small GPU
        pytest.skip(f"out of memory on this GPU at {size.id}")
    start = time.perf_counter()
    fn()
    sync(device)
    once = max(time.perf_counter() - start, 1e-7)
    k = max(1, int(ROUND_SECONDS / once))
    rounds = max(3, min(200, int(BUDGET_SECONDS / (k * once))))

    calls = 0

    def call():  # pytest-benchmark calls this k times per round, inside its timer
        nonlocal calls
        fn()
        calls += 1
        if calls % k == 0:
            sync(device)  # once per round, after its k-th call: the round covers the work

    benchmark.pedantic(call, rounds=rounds, iterations=k)  # warm already
    benchmark.extra_info.update(k=k, per_call_s=benchmark.stats.stats.median)


def skip_unless_device(device: str) -> None:
    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("no CUDA device on this machine")


def first_compiled_call(step: Callable[[], object], device: str) -> None:
    """Run a step that goes through torch.compile once: it compiles there, and a missing
    toolchain (no C compiler, no triton) becomes a skip with its reason, not an error."""
    try:
        step()
        sync(device)
    except Exception as exc:
        pytest.skip(f"torch.compile failed here: {type(exc).__name__}: {str(exc)[:200]}")
