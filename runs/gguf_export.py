"""Your capstone GPT as a .gguf file with 4-bit weights: `nox -s train -- gguf`.

It takes the capstone's checkpoint (out/gpt/ckpt.pt, written by `nox -s train -- gpt`),
quantizes every 2-D weight whose last dim is a multiple of 32 with the target's
quantize_q4_0 (GGUF's Q4_0: blocks of 32 weights, 18 bytes each), keeps the rest (biases,
LayerNorms) in float32, and writes them with gguf.GGUFWriter under llama.cpp's GPT-2
tensor names and keys. Then it reads the file back with gguf.GGUFReader, rebuilds the GPT
from the file alone (its config from the keys, its weights through the target's
dequantize_q4_0), and prints the file's size against float32, the validation loss of the
Q4_0 model next to the original's (the capstone's own split and estimate_loss, on the
same batches) and a sample.

`--type q8_0` writes GGUF's Q8_0 instead (blocks of 32 int8 codes and a float16 scale),
through the target's quantize_int8 and dequantize_int8 on each block. It is the format
Q8_0, not necessarily gguf's own quantizer's bytes: a code that falls on a tie may round
the other way.

The file follows GGUF's layout (little-endian) and llama.cpp's GPT-2 names, but its
vocabulary is the capstone's characters, which no llama.cpp tokenizer reads: this run is
what reads it back.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import torch

from runs.common import GPT_KATAS, NotReady, out_dir, require

NEEDS = [
    *GPT_KATAS,
    "sprint5.tokenizer.CharTokenizer",
    "sprint5.train_gpt.get_batch",
    "sprint5.train_gpt.estimate_loss",
]
QUANT_NEEDS = {
    "q4_0": ["sprint7.quantization.quantize_q4_0", "sprint7.quantization.dequantize_q4_0"],
    "q8_0": ["sprint7.quantization.quantize_int8", "sprint7.quantization.dequantize_int8"],
}
BLOCK = 32  # weights per Q4_0 or Q8_0 block
ARCH = "gpt2"
# the GPT's state_dict names → llama.cpp's GPT-2 names (gguf.TENSOR_NAMES, MODEL_ARCH.GPT2)
NAMES = [
    (r"transformer\.wte\.(\w+)", r"token_embd.\1"),
    (r"transformer\.wpe\.(\w+)", r"position_embd.\1"),
    (r"transformer\.h\.(\d+)\.ln_1\.(\w+)", r"blk.\1.attn_norm.\2"),
    (r"transformer\.h\.(\d+)\.attn\.c_attn\.(\w+)", r"blk.\1.attn_qkv.\2"),
    (r"transformer\.h\.(\d+)\.attn\.c_proj\.(\w+)", r"blk.\1.attn_output.\2"),
    (r"transformer\.h\.(\d+)\.ln_2\.(\w+)", r"blk.\1.ffn_norm.\2"),
    (r"transformer\.h\.(\d+)\.mlp\.c_fc\.(\w+)", r"blk.\1.ffn_up.\2"),
    (r"transformer\.h\.(\d+)\.mlp\.c_proj\.(\w+)", r"blk.\1.ffn_down.\2"),
    (r"transformer\.ln_f\.(\w+)", r"output_norm.\1"),
    (r"lm_head\.(\w+)", r"output.\1"),
]


def add_arguments(parser) -> None:
    parser.add_argument(
        "--ckpt", help="the capstone's checkpoint (default out/gpt/ckpt.pt, from `train -- gpt`)"
    )
    parser.add_argument(
        "--type",
        choices=sorted(QUANT_NEEDS),
        default="q4_0",
        help="q4_0 (default, your quantize_q4_0) or q8_0 (your int8 katas on blocks of 32)",
    )
    parser.add_argument("--eval-iters", type=int, default=50, help="val batches for the loss")
    parser.add_argument("--sample-chars", type=int, default=600, help="characters to generate")
    parser.add_argument("--lines", type=int, default=10, help="lines of the sample to print")
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--top-k", type=int, default=None)


def gguf_name(name: str) -> str:
    """'transformer.h.0.attn.c_attn.weight' → 'blk.0.attn_qkv.weight' (others kept as
    they are)."""
    for pattern, repl in NAMES:
        if re.fullmatch(pattern, name):
            return re.sub(pattern, repl, name)
    return name


def exported(model) -> dict[str, torch.Tensor]:
    """The model's tensors to write, by their torch names: a tied lm_head.weight (wte's
    own Parameter) is written once, as token_embd."""
    state = model.state_dict(keep_vars=True)
    seen: set[int] = set()
    out = {}
    for name, t in state.items():
        if id(t) in seen:
            continue
        seen.add(id(t))
        out[name] = t.detach().float().cpu()
    return out


def quantizable(t: torch.Tensor) -> bool:
    return t.dim() == 2 and t.size(-1) % BLOCK == 0


def _checked(got, where: str, shapes: tuple, dtypes: tuple) -> tuple:
    """The target's (q, scale) with the promised shapes and dtypes, or NotReady."""
    if (
        not isinstance(got, tuple)
        or len(got) != 2
        or not all(isinstance(t, torch.Tensor) for t in got)
        or tuple(tuple(t.shape) for t in got) != shapes
        or tuple(t.dtype for t in got) != dtypes
    ):
        raise NotReady(
            f"{where} did not return tensors of shapes {shapes} and dtypes {dtypes}: grade it "
            f"with `nox -s grade -- {where.split('(')[0]}` until it passes"
        )
    return got


def encode(mods, w: torch.Tensor, qtype: str):
    """A 2-D float32 weight (rows, K) → (GGUF bytes uint8 (rows, K/32 · bytes a block),
    the ggml type), through the target's katas."""
    import numpy as np
    from gguf import GGMLQuantizationType

    quant = mods["quantization"]
    rows, nb = w.size(0), w.size(1) // BLOCK
    if qtype == "q4_0":
        where = "sprint7.quantization.quantize_q4_0(w)"
        shapes, dtypes = ((rows, nb, 16), (rows, nb)), (torch.uint8, torch.float16)
        q, scale = _checked(quant.quantize_q4_0(w), where, shapes, dtypes)
        kind = GGMLQuantizationType.Q4_0
    else:
        where = "sprint7.quantization.quantize_int8(blocks, dim=-1)"
        blocks = w.reshape(rows, nb, BLOCK)
        shapes, dtypes = ((rows, nb, BLOCK), (rows, nb)), (torch.int8, torch.float32)
        q, scale = _checked(quant.quantize_int8(blocks, dim=-1), where, shapes, dtypes)
        q, scale = q.view(torch.uint8), scale.to(torch.float16)
        kind = GGMLQuantizationType.Q8_0
    d = scale.contiguous().numpy().astype("<f2").view(np.uint8).reshape(rows, nb, 2)
    raw = np.concatenate([d, q.contiguous().numpy()], axis=-1)  # scale first, then codes
    return raw.reshape(rows, -1), kind


def decode(mods, raw, kind, shape: tuple[int, int]) -> torch.Tensor:
    """GGUF bytes of one quantized tensor (as GGUFReader gives them) → float32 weights,
    through the target's katas."""
    import numpy as np
    from gguf import GGMLQuantizationType

    quant = mods["quantization"]
    rows, K = shape
    nb = K // BLOCK
    per_block = 18 if kind == GGMLQuantizationType.Q4_0 else 34
    blocks = np.ascontiguousarray(raw).reshape(rows, nb, per_block)
    scale = torch.from_numpy(blocks[..., :2].copy().view("<f2").reshape(rows, nb))
    codes = torch.from_numpy(blocks[..., 2:].copy())
    if kind == GGMLQuantizationType.Q4_0:
        return quant.dequantize_q4_0(codes, scale, (rows, K))
    w = quant.dequantize_int8(codes.view(torch.int8), scale.float(), dim=-1)
    return w.reshape(rows, K)


def write(path: Path, model, settings: dict, chars: list[str], mods, qtype: str) -> dict:
    """The model as a .gguf file, its shape from the checkpoint's settings; what was
    written: {counts, fp32 bytes, blocks, blocks equal to gguf's}."""
    import numpy as np
    from gguf import GGUFWriter, quants

    writer = GGUFWriter(str(path), ARCH)
    writer.add_name("torch-katas capstone GPT")
    writer.add_context_length(settings["block_size"])
    writer.add_embedding_length(settings["n_embd"])
    writer.add_feed_forward_length(4 * settings["n_embd"])
    writer.add_block_count(settings["n_layer"])
    writer.add_head_count(settings["n_head"])
    writer.add_layer_norm_eps(1e-5)
    writer.add_file_type(2 if qtype == "q4_0" else 7)  # llama.cpp's MOSTLY_Q4_0 / MOSTLY_Q8_0
    writer.add_tokenizer_model("none")  # characters, one token each: no llama.cpp tokenizer
    writer.add_token_list(chars)
    info = {"quantized": 0, "float32": 0, "fp32_bytes": 0, "blocks": 0, "same_as_gguf": 0}
    for name, t in exported(model).items():
        info["fp32_bytes"] += t.numel() * 4
        if quantizable(t):
            raw, kind = encode(mods, t, qtype)
            writer.add_tensor(gguf_name(name), raw, raw_shape=raw.shape, raw_dtype=kind)
            info["quantized"] += 1
            info["blocks"] += t.numel() // BLOCK
            theirs = quants.quantize(t.numpy(), kind).reshape(raw.shape)
            per = raw.shape[1] // (t.size(1) // BLOCK)
            info["same_as_gguf"] += int(
                (raw.reshape(-1, per) == theirs.reshape(-1, per)).all(axis=1).sum()
            )
        else:
            writer.add_tensor(gguf_name(name), t.numpy().astype(np.float32))
            info["float32"] += 1
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return info


def read(path: Path, mods):
    """A GPT rebuilt from the .gguf file alone: (model, chars, {tensor type: count})."""
    from gguf import GGMLQuantizationType, GGUFReader

    reader = GGUFReader(str(path))

    def field(key: str):
        f = reader.get_field(key)
        if f is None:
            raise NotReady(f"{path} has no key {key}: not a file this run wrote")
        return f.contents()

    chars = field("tokenizer.ggml.tokens")
    config = mods["gpt"].GPTConfig(
        block_size=int(field(f"{ARCH}.context_length")),
        vocab_size=len(chars),
        n_layer=int(field(f"{ARCH}.block_count")),
        n_head=int(field(f"{ARCH}.attention.head_count")),
        n_embd=int(field(f"{ARCH}.embedding_length")),
        dropout=0.0,
        bias=any(t.name.endswith(".bias") for t in reader.tensors),
    )
    model = mods["gpt"].GPT(config)
    state = model.state_dict()
    torch_names = {gguf_name(n): n for n in state}
    tensors = {}
    kinds: dict[str, int] = {}
    for t in reader.tensors:
        shape = tuple(int(n) for n in reversed(t.shape.tolist()))  # ggml lists ne0 first
        kind = GGMLQuantizationType(t.tensor_type)
        kinds[kind.name] = kinds.get(kind.name, 0) + 1
        if kind in (GGMLQuantizationType.Q4_0, GGMLQuantizationType.Q8_0):
            w = decode(mods, t.data, kind, shape)
        else:
            w = torch.from_numpy(t.data.copy()).reshape(shape)
        tensors[torch_names.get(t.name, t.name)] = w
    if "lm_head.weight" in state and "lm_head.weight" not in tensors:
        tensors["lm_head.weight"] = tensors["transformer.wte.weight"]  # tied: written once
    model.load_state_dict(tensors)
    return model.eval(), chars, kinds


def sample(model, tokenizer, chars, n_chars: int, temperature, top_k, seed: int) -> str:
    """n_chars generated from a newline, as the capstone samples."""
    start = tokenizer.encode("\n") if "\n" in chars else [0]
    idx = torch.tensor([start], dtype=torch.int64)
    g = torch.Generator().manual_seed(seed)
    out = model.generate(idx, n_chars, temperature=temperature, top_k=top_k, generator=g)
    return tokenizer.decode(out[0, len(start) :].tolist())


def target_modules() -> dict:
    from grader.target import load
    from runs import gpt

    return {**gpt.target_modules(), "quantization": load("sprint7.quantization")}


def main(args, target_name: str) -> int:
    require(NEEDS + QUANT_NEEDS[args.type], target_name)
    try:
        import gguf  # noqa: F401
    except ImportError:
        raise NotReady("this run needs the gguf package: pip install 'gguf>=0.10'") from None
    from grader.catalog import ROOT

    ckpt = Path(args.ckpt) if args.ckpt else ROOT / "out" / "gpt" / "ckpt.pt"
    if not ckpt.exists():
        raise NotReady(
            f"there is no checkpoint at {ckpt}: this run exports the capstone's GPT, so "
            "train it first with `nox -s train -- gpt` (add `--target solutions` to train the "
            "reference), or point --ckpt at a checkpoint that run wrote"
        )
    try:
        return _export(args, target_name, ckpt)
    except NotImplementedError as exc:  # a stub that the katas above call
        raise NotReady(
            f"the run reached a kata that is still a stub: {exc}\nGrade it with "
            f"`nox -s grade -- {exc}` until it passes, or add `--target solutions`."
        ) from None


def load_checkpoint(mods, ckpt: Path):
    """(model, settings, chars, source) from the capstone's checkpoint: its GPT rebuilt as
    runs.gpt.Run builds it, without the optimizer (this run does not train)."""
    from runs.gpt import MODEL_FIELDS

    saved = torch.load(ckpt, map_location="cpu", weights_only=True)
    settings, chars = dict(saved["settings"]), list(saved["chars"])
    config = mods["gpt"].GPTConfig(vocab_size=len(chars), **{f: settings[f] for f in MODEL_FIELDS})
    model = mods["gpt"].GPT(config)
    model.load_state_dict(saved["model"])
    return model.eval(), settings, chars, saved["source"], saved["iter"]


def _export(args, target_name: str, ckpt: Path) -> int:
    from runs import gpt

    mods = target_modules()
    original, s, run_chars, source, step = load_checkpoint(mods, ckpt)
    tokenizer = mods["tokenizer"].CharTokenizer(run_chars)
    text, _ = gpt.load_text(None if source == "shakespeare" else source)
    if sorted(set(text)) != run_chars:
        raise NotReady(f"the text at {source} is not the one {ckpt} was trained on")
    _, val_data = gpt.encode_splits(tokenizer, text, "cpu")
    folder = out_dir("gguf", args.out)
    path = folder / f"gpt-{args.type}.gguf"
    info = write(path, original, s, run_chars, mods, args.type)
    model, chars, kinds = read(path, mods)
    if chars != run_chars:
        raise NotReady(f"{path} holds another vocabulary than {ckpt}")

    def val_loss(m) -> float:
        g = torch.Generator().manual_seed(args.seed)  # the same batches for both models
        losses = mods["train_gpt"].estimate_loss(
            m, {"val": val_data}, s["block_size"], s["batch_size"], args.eval_iters, g
        )
        return losses["val"]

    before, after = val_loss(original), val_loss(model)
    size = path.stat().st_size
    name = args.type.upper()
    print(
        f"checkpoint {ckpt}: step {step}, {s['n_layer']} layers, {s['n_head']} heads, "
        f"n_embd {s['n_embd']}, block {s['block_size']}, vocabulary {len(chars)}\n"
        f"wrote {path}: {info['quantized']} weights as {name} ({info['blocks']:,} blocks of "
        f"{BLOCK}), {info['float32']} tensors as F32\n"
        f"{name} blocks byte for byte equal to gguf's own quantizer: "
        f"{info['same_as_gguf']:,} of {info['blocks']:,}\n"
        f"file size {size:,} bytes; the same tensors in float32 take {info['fp32_bytes']:,} "
        f"bytes: {size / info['fp32_bytes']:.3f}x ({info['fp32_bytes'] / size:.2f}x smaller)\n"
        f"read back with gguf.GGUFReader: {', '.join(f'{n} {k}' for k, n in kinds.items())}\n"
        f"val loss ({args.eval_iters} batches of {s['batch_size']} x {s['block_size']}, the "
        f"capstone's split): float32 {before:.4f}, {name} {after:.4f} "
        f"({after - before:+.4f}; perplexity {math.exp(before):.3f} → {math.exp(after):.3f})"
    )
    model_sample = sample(
        model, tokenizer, chars, args.sample_chars, args.temperature, args.top_k, args.seed
    )
    float_sample = sample(
        original,
        tokenizer,
        chars,
        args.sample_chars,
        args.temperature,
        args.top_k,
        args.seed,
    )
    same = next((i for i, (a, b) in enumerate(zip(model_sample, float_sample)) if a != b), None)
    agree = len(model_sample) if same is None else same
    (folder / f"sample-{args.type}.txt").write_text(model_sample, encoding="utf-8")
    print(
        f"\n--- sample of the {name} model ({args.lines} lines, temperature {args.temperature}, "
        f"seed {args.seed}) ---"
    )
    print("\n".join(model_sample.split("\n")[: args.lines]))
    print(
        f"---\nthe float32 model, same seed, writes the same first {agree} of "
        f"{len(model_sample)} characters"
    )
    return 0
