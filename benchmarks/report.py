"""The benchmark report: pytest-benchmark's JSON → a Markdown table grouped by size, and a
PNG of CPU against GPU.

Per row (kata, implementation): the time per call on each device, the CPU/GPU speedup,
the target/reference ratio, tokens per second, achieved FLOP/s and the share of the
device's peak (FLOPs counted as nanoGPT's estimate_mfu does for the GPT). A row skipped on
a device (no GPU, a stub, bf16 on CPU) shows why, never a blank.

    python -m benchmarks.report out/bench/sprint4.json   # prints the table, writes .md/.png
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

from benchmarks.core import gpu_peak

DEVICES = ("cpu", "cuda")


def load(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def rows(data: dict) -> dict:
    """{(size, size_label): {(kata, impl): {device: cell}}}, a cell being the timing's
    extra_info or {"skipped": reason}."""
    table: dict = defaultdict(lambda: defaultdict(dict))
    labels: dict[str, str] = {}
    for bench in data.get("benchmarks", []):
        info = bench["extra_info"]
        labels[info["size"]] = info["size_label"]
        table[info["size"]][(info["kata"], info["impl"])][info["device"]] = info
    for skipped in data.get("skipped", []):
        p = skipped["params"]
        if "size" not in p or "impl" not in p or "device" not in p:
            continue
        labels.setdefault(p["size"], p.get("size_label", p["size"]))
        kata = skipped.get("group") or skipped["name"].split("[")[0]  # group == kata
        row = table[p["size"]][(kata, p["impl"])]
        row.setdefault(p["device"], {"skipped": skipped["reason"]})
    return {(size, labels.get(size, size)): dict(r) for size, r in table.items()}


def peak(device: str, cell: dict, machine: dict) -> float | None:
    torch_info = machine.get("torch", {})
    if device == "cpu":
        return torch_info.get("cpu_matmul_peak_flops")
    return gpu_peak(torch_info.get("cuda") or "", cell.get("dtype", "fp32"))


def fmt_time(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} µs"


def fmt_rate(x: float | None, unit: str) -> str:
    if x is None:
        return "–"
    for scale, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if x >= scale:
            return f"{x / scale:.2f} {prefix}{unit}"
    return f"{x:.0f} {unit}"


def markdown(data: dict) -> str:
    machine = data.get("machine_info", {})
    t = machine.get("torch", {})
    cpu_peak = t.get("cpu_matmul_peak_flops")
    lines = [
        f"torch {t.get('version')}, {t.get('threads')} CPU thread(s) "
        f"({machine.get('cpu', {}).get('brand_raw', 'CPU')}; measured fp32 matmul peak "
        f"{fmt_rate(cpu_peak, 'FLOP/s')}), GPU: {t.get('cuda') or 'none'}; TF32 "
        f"{'on' if t.get('tf32_matmul') else 'off'} for fp32 rows.",
        "Times are the median per call. `÷ reference`: the row's time over the reference's on "
        "the same device (under 1 is faster; the target row is your target/reference ratio). "
        "`% peak`: of the measured fp32 matmul peak on CPU; of the GPU's datasheet dense peak "
        "for the row's dtype (fp32 without tensor cores, or bf16) on CUDA.",
        "",
    ]
    for (size, label), size_rows in sorted(rows(data).items()):
        reasons = {c.get("skipped") for cells in size_rows.values() for c in cells.values()}
        if len(reasons) == 1 and next(iter(reasons), None):  # the whole size left out
            lines += [f"### {size}: {label}", "", f"Not run: {reasons.pop()}.", ""]
            continue
        lines += [
            f"### {size}: {label}",
            "",
            "| kata | impl | dtype | CPU | GPU | CPU/GPU | ÷ reference | CPU tokens/s "
            "| GPU tokens/s | CPU FLOP/s (% peak) | GPU FLOP/s (% peak) |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for (kata, impl), cells in sorted(size_rows.items(), key=order):
            ref = size_rows.get((kata, "reference"), {})
            lines.append("| " + " | ".join(row_cells(kata, impl, cells, ref, machine)) + " |")
        lines.append("")
    return "\n".join(lines)


IMPL_ORDER = [
    "target",
    "reference",
    "torch",
    "torch-fused-adamw",
    "loop",
    "gpu-best",
    "gpu-best-compiled",
]


def order(item):
    (kata, impl), _ = item
    return kata, IMPL_ORDER.index(impl) if impl in IMPL_ORDER else 99


def row_cells(kata, impl, cells, ref, machine) -> list[str]:
    def time_of(cell):
        return cell.get("per_call_s") if cell else None

    out = [kata, impl]
    dtypes = {c.get("dtype") for c in cells.values() if "dtype" in c}
    out.append(", ".join(sorted(dtypes)) or "–")
    for device in DEVICES:
        cell = cells.get(device)
        if cell is None:
            out.append("–")
        elif "skipped" in cell:
            out.append(f"skipped: {cell['skipped']}")
        else:
            out.append(fmt_time(cell["per_call_s"]))
    cpu, gpu = time_of(cells.get("cpu")), time_of(cells.get("cuda"))
    out.append(f"{cpu / gpu:.1f}×" if cpu and gpu else "–")
    ratios = []
    for device in DEVICES:
        mine, theirs = time_of(cells.get(device)), time_of(ref.get(device))
        if impl != "reference" and mine and theirs:
            ratios.append(f"{device} {mine / theirs:.2f}")
    out.append(", ".join(ratios) or "–")
    for device in DEVICES:
        cell = cells.get(device) or {}
        seconds, tokens = cell.get("per_call_s"), cell.get("tokens")
        out.append(fmt_rate(tokens / seconds, "tok/s") if seconds and tokens else "–")
    for device in DEVICES:
        cell = cells.get(device) or {}
        seconds, flops = cell.get("per_call_s"), cell.get("flops")
        if not (seconds and flops):
            out.append("–")
            continue
        rate, top = flops / seconds, peak(device, cell, machine)
        share = f" ({100 * rate / top:.2f} %)" if top else ""
        out.append(fmt_rate(rate, "FLOP/s") + share)
    return out


SHORT = {"scaled_dot_product_attention": "sdpa", "MultiHeadAttention": "MHA"}


def short(kata: str) -> str:
    """A kata's name short enough for a chart's axis: sdpa, MHA, Block, GPT fwd+bwd, ..."""
    name = kata.split(".")[-1].removeprefix("sprint5 ")
    return SHORT.get(name, name)


def chart(data: dict, path: Path) -> Path | None:
    """One panel per size: each row's time per call on CPU and on GPU (log scale)."""
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = [
        (key, size_rows)
        for key, size_rows in sorted(rows(data).items())
        if any("per_call_s" in c for cells in size_rows.values() for c in cells.values())
    ]
    if not table:
        return None
    fig, axes = plt.subplots(len(table), 1, figsize=(12, 3.8 * max(len(table), 1)), squeeze=False)
    for ax, ((_, label), size_rows) in zip(axes[:, 0], table):
        names, cpu, gpu = [], [], []
        for (kata, impl), cells in sorted(size_rows.items(), key=order):
            names.append(f"{short(kata)}\n{impl}")
            cpu.append((cells.get("cpu") or {}).get("per_call_s") or 0)
            gpu.append((cells.get("cuda") or {}).get("per_call_s") or 0)
        xs = range(len(names))
        ax.bar([x - 0.2 for x in xs], [c * 1e3 for c in cpu], 0.4, label="CPU")
        ax.bar([x + 0.2 for x in xs], [g * 1e3 for g in gpu], 0.4, label="GPU")
        ax.set_yscale("log")
        ax.set_ylabel("ms per call")
        ax.set_xticks(list(xs), names, fontsize=7, rotation=35, ha="right")
        ax.set_title(label, fontsize=9)
        ax.legend(fontsize=8)
        ax.grid(axis="y", alpha=0.3)
        if not any(gpu):
            ax.text(
                0.99,
                0.95,
                "no GPU rows: skipped (see the table)",
                ha="right",
                va="top",
                transform=ax.transAxes,
                fontsize=8,
            )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    for name in argv:
        path = Path(name)
        data = load(path)
        text = markdown(data)
        path.with_suffix(".md").write_text(text + "\n")
        png = chart(data, path.with_suffix(".png"))
        print(text)
        print(f"table {path.with_suffix('.md')}")
        print(f"chart {png or 'none (nothing timed, or no matplotlib)'}\nraw {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
