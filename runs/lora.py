"""LoRA fine-tuning of your GPT: a pretrained base, LoRA on its attention, a few hundred
steps on Shakespeare, and the adapter saved in peft's format.

The base model is one of
- `--weights gpt2` (the default): GPT-2 through transformers, copied into your GPT with
  your load_gpt2_weights, with GPT-2's tokenizer. A hub name needs internet access once
  (as `nox -s train -- gpt2`); a folder saved with `save_pretrained` needs none;
- `--ckpt out/gpt/ckpt.pt`: the capstone's checkpoint (`nox -s train -- gpt`), with its
  character tokenizer: nothing to download.

Your apply_lora wraps the targets (`--targets`, default c_attn) and freezes the rest; the
training is one call of your own train() (sprint5) with an AdamW over the LoRA
parameters alone, so only A and B move. The loss is measured before and after on the
same batches. The adapter goes to out/lora/ as peft writes one: adapter_config.json and
adapter_model.safetensors, whose keys are your lora_state_dict's. GPT-2's attention is a
transformers Conv1D, which stores its weight as (in, out): peft then wants
fan_in_fan_out=true, and the config says so (A (r, in) and B (out, r) keep their shapes).
When peft is installed, the run loads the adapter with peft's PeftModel.from_pretrained
onto the untouched base and prints the largest logit gap from your model.
"""

from __future__ import annotations

import copy
import json
import time
import warnings
from pathlib import Path

import torch

from runs.common import GPT_KATAS, NotReady, out_dir, require

LORA_KATAS = ["sprint7.lora.LoRALinear", "sprint7.lora.apply_lora", "sprint7.lora.lora_state_dict"]
TRAIN_KATAS = [
    "sprint3.training.clip_grad_norm",
    "sprint3.training.cosine_lr",
    "sprint5.train_gpt.get_batch",
    "sprint5.train_gpt.estimate_loss",
    "sprint5.train_gpt.train",
]


def add_arguments(parser) -> None:
    base = parser.add_argument_group("the base model (GPT-2's weights, or the capstone's)")
    base.add_argument("--weights", default="gpt2", help="hub name or local folder (gpt2)")
    base.add_argument("--ckpt", help="the capstone's checkpoint instead (out/gpt/ckpt.pt)")
    base.add_argument("--text", help="fine-tune on this UTF-8 file instead of Shakespeare")
    tune = parser.add_argument_group("LoRA and training")
    tune.add_argument("--targets", nargs="+", default=["c_attn"], help="(default c_attn)")
    tune.add_argument("--r", type=int, default=8)
    tune.add_argument("--alpha", type=float, default=16)
    tune.add_argument("--iters", type=int, default=200)
    tune.add_argument("--batch-size", type=int, default=4)
    tune.add_argument("--block-size", type=int, default=128, help="(at most the model's)")
    tune.add_argument("--lr", type=float, default=1e-3)
    tune.add_argument("--min-lr", type=float, default=1e-4)
    tune.add_argument("--warmup-iters", type=int, default=20)
    tune.add_argument("--eval-interval", type=int, default=50)
    tune.add_argument("--eval-iters", type=int, default=10)
    tune.add_argument("--prompt", default="ROMEO:")
    tune.add_argument("--sample-tokens", type=int, default=60)
    tune.add_argument("--no-peft-check", action="store_true", help="skip loading it with peft")
    tune.add_argument("--device", default="cpu", help="cpu (default) or cuda")


class Base:
    """The base model in your GPT, its tokenizer, and what peft needs to load an adapter
    onto the same weights: `pristine()` (an untouched copy, in peft's eyes the base
    model) and `logits_of` (its output's logits)."""

    def __init__(self, model, encode, decode, source: str, conv1d: bool, pristine, logits_of):
        self.model, self.encode, self.decode = model, encode, decode
        self.source, self.conv1d = source, conv1d
        self.pristine, self.logits_of = pristine, logits_of


def gpt2_base(weights: str, gpt_module, device: str) -> Base:
    from runs.gpt2 import own_gpt2

    try:
        from transformers import AutoTokenizer, GPT2LMHeadModel
    except ImportError:
        raise NotReady("this run needs transformers: pip install 'transformers>=4.40'") from None
    try:
        hf = GPT2LMHeadModel.from_pretrained(weights).eval()
        tokenizer = AutoTokenizer.from_pretrained(weights)
    except OSError as exc:
        raise NotReady(
            f"could not load GPT-2 weights {weights!r}: {exc}\nA hub name needs internet "
            "access the first time; a folder must hold a save_pretrained model. Without "
            "either, fine-tune the capstone's checkpoint: --ckpt out/gpt/ckpt.pt"
        ) from None
    model = own_gpt2(gpt_module, hf, device)

    def encode(text: str) -> list[int]:
        tokenizer.model_max_length = len(text) + 1  # a corpus, not one model input
        return tokenizer.encode(text)

    return Base(
        model,
        encode,
        tokenizer.decode,
        weights,
        conv1d=True,
        pristine=lambda: hf.to(device),
        logits_of=lambda out: out.logits,
    )


def ckpt_base(path: str, device: str) -> Base:
    from runs.gpt import Run, target_modules

    if not Path(path).exists():
        raise NotReady(f"there is no checkpoint at {path}: train one with `nox -s train -- gpt`")
    run = Run.load(target_modules(), Path(path), device, None)
    model = run.model.eval()
    untouched = copy.deepcopy(model)
    return Base(
        model,
        run.tokenizer.encode,
        run.tokenizer.decode,
        str(Path(path).resolve()),
        conv1d=False,
        pristine=lambda: untouched,
        logits_of=lambda out: out[0],
    )


def adapter_config(args, base: Base) -> dict:
    """adapter_config.json as peft writes it for LoraConfig(r, lora_alpha, target_modules)."""
    return {
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM" if base.conv1d else None,  # None: any torch module
        "base_model_name_or_path": base.source,
        "r": args.r,
        "lora_alpha": int(args.alpha) if args.alpha == int(args.alpha) else args.alpha,
        "lora_dropout": 0.0,
        "target_modules": list(args.targets),
        "fan_in_fan_out": base.conv1d,  # transformers' Conv1D stores its weight as (in, out)
        "bias": "none",
        "modules_to_save": None,
        "init_lora_weights": True,
        "use_rslora": False,
        "use_dora": False,
        "inference_mode": True,
    }


def save_adapter(folder: Path, tensors: dict, config: dict) -> None:
    try:
        from safetensors.torch import save_file
    except ImportError:
        raise NotReady("saving the adapter needs safetensors: pip install safetensors") from None
    plain = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    save_file(plain, folder / "adapter_model.safetensors", metadata={"format": "pt"})
    (folder / "adapter_config.json").write_text(json.dumps(config, indent=2) + "\n")


def peft_gap(base: Base, folder: Path, model, idx: torch.Tensor) -> float:
    """The largest |logit difference| between your model and peft's, its adapter loaded
    from `folder` onto the untouched base."""
    from peft import PeftModel

    with warnings.catch_warnings():  # transformers' deprecation notes, raised inside peft
        warnings.simplefilter("ignore", FutureWarning)
        theirs = PeftModel.from_pretrained(base.pristine(), str(folder)).eval()
    with torch.no_grad():
        want = base.logits_of(theirs(idx))
        got = model(idx)[0]
    return (got - want).abs().max().item()


def needs(args) -> list[str]:
    """The katas the run uses: the GPT's, the training's, LoRA's and the base's loader."""
    loader = "sprint5.tokenizer.CharTokenizer" if args.ckpt else "sprint5.gpt.load_gpt2_weights"
    return [*GPT_KATAS, *TRAIN_KATAS, *LORA_KATAS, loader]


def main(args, target_name: str) -> int:
    require(needs(args), target_name)
    try:
        return _run(args, target_name)
    except NotImplementedError as exc:
        raise NotReady(
            f"the run reached a kata that is still a stub: {exc}\nGrade it with "
            f"`nox -s grade -- {exc}` until it passes, or add `--target solutions`."
        ) from None


def _run(args, target_name: str) -> int:
    from grader.target import load
    from runs.gpt import load_text
    from runs.shakespeare import split

    lora, train_gpt = load("sprint7.lora"), load("sprint5.train_gpt")
    if args.ckpt:
        base = ckpt_base(args.ckpt, args.device)
    else:
        base = gpt2_base(args.weights, load("sprint5.gpt"), args.device)
    model = base.model
    block_size = min(args.block_size, model.config.block_size)
    text, source = load_text(args.text)
    train_text, val_text = split(text)
    started = time.perf_counter()
    try:
        train_data, val_data = (
            torch.tensor(base.encode(part), dtype=torch.int64, device=args.device)
            for part in (train_text, val_text)
        )
    except ValueError as exc:  # a character the capstone's vocabulary lacks
        raise NotReady(f"the text does not fit the base's tokenizer: {exc}") from None
    if len(val_data) < block_size + 1:
        raise NotReady(f"the text is too short: its last 10 % must hold > {block_size} tokens")
    print(
        f"base {base.source}: {model.num_params(False):,} parameters in your GPT "
        f"({target_name}/)\ntext {source}: {len(train_data):,} train / {len(val_data):,} val "
        f"tokens (tokenized in {time.perf_counter() - started:.1f} s)"
    )

    lora.apply_lora(model, tuple(args.targets), r=args.r, alpha=args.alpha)
    trainable = [p for p in model.parameters() if p.requires_grad]
    n_train = sum(p.numel() for p in trainable)
    n_all = sum(p.numel() for p in model.parameters())
    print(
        f"LoRA r={args.r}, alpha={args.alpha:g} on {', '.join(args.targets)}: "
        f"{n_train:,} trainable parameters of {n_all:,} ({100 * n_train / n_all:.2f} %)"
    )

    splits = {"train": train_data, "val": val_data}

    def measure() -> dict[str, float]:  # the same batches before and after
        g = torch.Generator(device=args.device).manual_seed(args.seed + 1)
        return train_gpt.estimate_loss(
            model, splits, block_size, args.batch_size, args.eval_iters, g
        )

    before = measure()
    optimizer = torch.optim.AdamW(trainable, lr=args.lr, betas=(0.9, 0.99), weight_decay=0.0)
    g = torch.Generator(device=args.device).manual_seed(args.seed)
    started = time.perf_counter()

    def on_eval(row: dict) -> None:
        print(f"step {row['iter']:5d}  train {row['train_loss']:.4f}  val {row['val_loss']:.4f}")

    train_gpt.train(
        model,
        train_data,
        val_data,
        max_iters=args.iters,
        batch_size=args.batch_size,
        block_size=block_size,
        learning_rate=args.lr,
        min_lr=args.min_lr,
        warmup_iters=args.warmup_iters,
        weight_decay=0.0,
        grad_clip=1.0,
        eval_interval=args.eval_interval,
        eval_iters=args.eval_iters,
        generator=g,
        progress=not args.quiet,
        optimizer=optimizer,
        on_eval=on_eval,
    )
    seconds = time.perf_counter() - started
    after = measure()
    model.eval()
    print(
        f"loss before: train {before['train']:.4f}, val {before['val']:.4f}\n"
        f"loss after:  train {after['train']:.4f}, val {after['val']:.4f} "
        f"({args.iters} steps, {seconds:.1f} s)"
    )

    folder = out_dir("lora", args.out)
    tensors = lora.lora_state_dict(model)
    save_adapter(folder, tensors, adapter_config(args, base))
    print(f"adapter ({len(tensors)} tensors) saved to {folder}")

    if not args.no_peft_check:
        try:
            import peft  # noqa: F401
        except ImportError:
            print("peft is not installed: the adapter was not loaded back (pip install peft)")
        else:
            idx = val_data[: min(block_size, 64)].unsqueeze(0)
            gap = peft_gap(base, folder, model, idx)
            print(f"peft loads the adapter onto the base: logits max |diff| {gap:.2e} from yours")

    prompt = base.encode(args.prompt) or [0]
    idx = torch.tensor([prompt], dtype=torch.int64, device=args.device)
    g = torch.Generator(device=args.device).manual_seed(args.seed)
    top_k = min(50, model.config.vocab_size)
    out = model.generate(idx, args.sample_tokens, temperature=0.8, top_k=top_k, generator=g)
    print("--- sample ---")
    print(base.decode(out[0].tolist()))
    print("---")
    return 0
