"""The benchmark report: pytest-benchmark's JSON → a Markdown table grouped by size, and a
PNG of CPU against GPU.

Per row (kata, implementation): the time per call on each device, the CPU/GPU speedup,
the target/reference ratio, tokens per second, achieved FLOP/s and the share of the
device's peak (FLOPs counted as nanoGPT's estimate_mfu does for the GPT: its MFU). A row
skipped on a device (no GPU, a stub, bf16 on CPU) shows why, never a blank. A time to take
as rough (fewer than MIN_ROUNDS rounds, or an IQR over MAX_IQR of the median) is flagged,
and a row that beats the reference by moving less memory gets a note saying so.

    python -m benchmarks.report out/bench/sprint4.json   # prints the table, writes .md/.png
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

# Peak dense FLOP/s by device name: (fp32 without tensor cores, bf16 tensor cores). Here,
# not in benchmarks.core: the report reads JSON and imports no torch (2-3 s less).
GPU_PEAKS = {
    "H100 PCIe": (51e12, 756e12),
    "H100": (67e12, 989e12),  # SXM
    "H200": (67e12, 989e12),
    "A100": (19.5e12, 312e12),
    "L4": (30.3e12, 121e12),
    "A10G": (31.2e12, 70e12),
    "T4": (8.1e12, 65e12),
}


def gpu_peak(name: str, dtype: str) -> float | None:
    for key, (fp32, bf16) in GPU_PEAKS.items():  # "H100 PCIe" is tried before "H100"
        if key in name:
            return bf16 if dtype == "bf16" else fp32
    return None


DEVICES = ("cpu", "cuda")
DEVICE_NAMES = {"cpu": "CPU", "cuda": "GPU"}
MIN_ROUNDS = 5  # fewer timed rounds than this: a rough time
MAX_IQR = 0.20  # an interquartile range above this share of the median: a noisy time
FLAG = "⚠"
TARGET_IS_REFERENCE = "the target is the reference"  # conftest's skip reason starts so


def load(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def rows(data: dict) -> dict:
    """{(size, size_label): {(kata, impl): {device: cell}}}, a cell being the timing's
    extra_info or {"skipped": reason}."""
    table: dict = defaultdict(lambda: defaultdict(dict))
    labels: dict[str, str] = {}
    for bench in data.get("benchmarks", []):
        info = dict(bench["extra_info"])
        stats = bench.get("stats") or {}
        if "rounds" in stats:
            info.update(rounds=stats["rounds"], iqr=stats.get("iqr"), median=stats.get("median"))
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
        "for the row's dtype (fp32 without tensor cores, or bf16) on CUDA. `MFU`: the same "
        "share for a GPT row, its FLOPs counted as nanoGPT's estimate_mfu does "
        "(6·N + 12·L·H·Q·T per token), so it is nanoGPT's model FLOPs utilisation. "
        f"{FLAG}: a time to take as rough, timed in fewer than {MIN_ROUNDS} rounds or with "
        f"an interquartile range above {MAX_IQR:.0%} of its median (time it again on a quiet "
        "machine).",
        "",
    ]
    if machine.get("target") == "solutions":
        lines[-1:] = [
            "Target: solutions/, the reference itself: it is timed once, in the reference "
            "rows, and there is no target row.",
            "",
        ]
    for (size, label), size_rows in sorted(rows(data).items()):
        size_rows = {
            key: cells
            for key, cells in size_rows.items()
            if not all(c.get("skipped", "").startswith(TARGET_IS_REFERENCE) for c in cells.values())
        }
        lines += [f"### {size}: {label}", ""]
        if not any("per_call_s" in c for cells in size_rows.values() for c in cells.values()):
            reasons = sorted({c["skipped"] for r in size_rows.values() for c in r.values()})
            lines += [f"Not run: {'; '.join(reasons) or 'nothing to time'}.", ""]
            continue
        lines += [
            "| kata | impl | dtype | CPU | GPU | CPU/GPU | ÷ reference | CPU tokens/s "
            "| GPU tokens/s | CPU FLOP/s (% peak) | GPU FLOP/s (% peak) |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for (kata, impl), cells in sorted(size_rows.items(), key=order):
            ref = size_rows.get((kata, "reference"), {})
            lines.append("| " + " | ".join(row_cells(kata, impl, cells, ref, machine)) + " |")
        lines.append("")
        lines += [f"- {note}" for note in memory_notes(size_rows)]
        if lines[-1] != "":
            lines.append("")
    return "\n".join(lines)


def rough(cell: dict) -> str:
    """Why a timing is to be taken as rough ("" when it is not): too few rounds, or noise."""
    rounds, iqr, median = cell.get("rounds"), cell.get("iqr"), cell.get("median")
    if rounds is not None and rounds < MIN_ROUNDS:
        return f"{rounds} rounds"
    if iqr is not None and median and iqr > MAX_IQR * median:
        return f"IQR {100 * iqr / median:.0f} % of the median"
    return ""


def fmt_bytes(n: float) -> str:
    for scale, unit in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n:.0f} B"


BIG_TEMPORARY = 64 * 2**20  # larger than any CPU's last-level cache: it goes to DRAM


def memory_notes(size_rows: dict) -> list[str]:
    """Why rows beat the reference where some look no faster (a Python loop, say): the
    reference materialises a temporary too large for any cache, they far smaller ones.
    One note per kata and device."""
    notes = []
    for (kata, impl), ref in sorted(size_rows.items(), key=order):
        if impl != "reference":
            continue
        for device in DEVICES:
            theirs = ref.get(device) or {}
            big = theirs.get("temp_bytes")
            if "per_call_s" not in theirs or not big or big < BIG_TEMPORARY:
                continue
            winners = []
            for (k, other), cells in sorted(size_rows.items(), key=order):
                mine = cells.get(device) or {}
                small, seconds = mine.get("temp_bytes"), mine.get("per_call_s")
                if k != kata or other == "reference" or not (small and seconds):
                    continue
                if small * 8 <= big and seconds < theirs["per_call_s"]:
                    winners.append(
                        f"`{other}` {fmt_time(seconds)} ({mine['temp']}, {fmt_bytes(small)})"
                    )
            if winners:
                notes.append(
                    f"On {DEVICE_NAMES[device]}, `reference` ({fmt_time(theirs['per_call_s'])}) "
                    f"materialises {theirs['temp']}: {fmt_bytes(big)} written to memory and read "
                    f"back. Rows that hold far less beat it: {', '.join(winners)}. Memory "
                    "traffic, not arithmetic, is what the reference pays for at this size."
                )
    return notes


IMPL_ORDER = [
    "target",
    "reference",
    "torch",
    "torch-fused-adamw",
    "matmul",
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
            why = rough(cell)
            out.append(fmt_time(cell["per_call_s"]) + (f" {FLAG} {why}" if why else ""))
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
        mfu = "MFU " if cell.get("mfu") else ""
        share = f" ({mfu}{100 * rate / top:.2f} %)" if top else ""
        out.append(fmt_rate(rate, "FLOP/s") + share)
    return out


SHORT = {"scaled_dot_product_attention": "sdpa", "MultiHeadAttention": "MHA"}


def short(kata: str) -> str:
    """A kata's name short enough for a chart's axis: sdpa, MHA, Block, GPT fwd+bwd, ..."""
    name = kata.split(".")[-1].removeprefix("sprint5 ")
    return SHORT.get(name, name)


def chart(data: dict, path: Path) -> Path | None:
    """One panel per size that ran: each row's time per call (log scale), one bar per
    device that ran anything (no empty GPU bars on a machine without one)."""
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    fig = figure(data)
    if fig is None:
        return None
    fig.savefig(path, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def figure(data: dict):
    """The chart as a matplotlib Figure, laid out so that no two texts overlap; None when
    nothing was timed."""
    import matplotlib.pyplot as plt

    panels = []
    for (_, label), size_rows in sorted(rows(data).items()):
        timed = [
            (key, cells)
            for key, cells in sorted(size_rows.items(), key=order)
            if any("per_call_s" in c for c in cells.values())
        ]
        if timed:
            panels.append((label, timed))
    if not panels:
        return None
    ran = [
        d
        for d in DEVICES
        if any(d in cells and "per_call_s" in cells[d] for _, t in panels for _, cells in t)
    ]
    gpu = data.get("machine_info", {}).get("torch", {}).get("cuda")
    names = {"cpu": "CPU", "cuda": f"GPU ({gpu})" if gpu else "GPU"}
    most = max(len(t) for _, t in panels)
    fig, axes = plt.subplots(
        len(panels), 1, figsize=(max(7.0, 1.0 * most + 2.5), 3.6 * len(panels)), squeeze=False
    )
    width = 0.8 / len(ran)
    for ax, (label, timed) in zip(axes[:, 0], panels):
        xs = range(len(timed))
        for i, device in enumerate(ran):
            times = [(cells.get(device) or {}).get("per_call_s") for _, cells in timed]
            heights = [t * 1e3 if t else float("nan") for t in times]  # nothing for a skip
            offset = (i - (len(ran) - 1) / 2) * width
            ax.bar([x + offset for x in xs], heights, width, label=names[device])
        ax.set_yscale("log")
        ax.set_ylabel("ms per call")
        ax.set_xticks(list(xs), [f"{short(kata)}\n{impl}" for (kata, impl), _ in timed], fontsize=7)
        ax.set_title(label, fontsize=9)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
        ax.grid(axis="y", alpha=0.3)
    if len(ran) == 1:
        (other,) = set(DEVICES) - set(ran)
        fig.suptitle(
            f"{DEVICE_NAMES[ran[0]]} only: no {DEVICE_NAMES[other]} row ran (the table says why)",
            fontsize=9,
        )
    fig.set_layout_engine("constrained")
    for _ in range(6):  # widen until no two texts overlap (tick labels are the ones at risk)
        if not overlapping_texts(fig):
            break
        fig.set_figwidth(fig.get_figwidth() * 1.25)
    return fig


def overlapping_texts(fig) -> list[tuple[str, str]]:
    """Pairs of the texts `fig` draws (titles, axis and tick labels, legends) whose boxes
    overlap."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    suptitle = getattr(fig, "_suptitle", None)  # matplotlib keeps it apart from fig.texts
    texts = [suptitle] if suptitle is not None else []
    for ax in fig.axes:
        texts += [ax.title, ax.xaxis.label, ax.yaxis.label]
        for axis in (ax.xaxis, ax.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            ticks = axis.get_major_ticks() + axis.get_minor_ticks()
            texts += [t.label1 for t in ticks if lo <= t.get_loc() <= hi]
        legend = ax.get_legend()
        texts += legend.get_texts() if legend else []
    boxes = [
        (t.get_text(), t.get_window_extent(renderer))
        for t in texts
        if t.get_visible() and t.get_text().strip()
    ]
    return [
        (a, b)
        for i, (a, box_a) in enumerate(boxes)
        for b, box_b in boxes[i + 1 :]
        if box_a.overlaps(box_b)
    ]


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
