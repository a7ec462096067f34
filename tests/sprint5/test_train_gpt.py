"""Grades sprint5.train_gpt with the test's own tiny models.

get_batch on data whose values give away where each window starts; estimate_loss and
train on `Recorder`, a bigram language model with GPT's interface (forward(idx, targets)
→ (logits, loss), configure_optimizers) that records every call it gets: its mode,
whether gradients were on, the batch, and at each optimizer step the lr and the
gradients' total norm. So these katas need neither GPT nor GPTConfig done.
"""

import inspect
import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from grader import kata, target_module
from grader.checks import (
    check_close,
    check_global_rngs,
    check_tensor,
    describe,
    expect_raises,
    fail,
    global_rngs,
)
from tests.kata_helpers import F32_STEPS_TOL, kata_call, seeded_generator
from tests.sprint3.optim_oracle import TorchAdamW

train_gpt = target_module("sprint5.train_gpt")


# --- get_batch --------------------------------------------------------------------------------


@kata("get_batch")
class TestGetBatch:
    @staticmethod
    def batch(data, block_size, batch_size, generator):
        """get_batch, a window running off the end of the data turned into a teaching failure."""
        try:
            return train_gpt.get_batch(data, block_size, batch_size, generator=generator)
        except (RuntimeError, IndexError) as exc:
            if "size" not in str(exc) and "out of" not in str(exc):
                raise
            fail(
                kata_call(data, block_size, batch_size),
                f"raised {type(exc).__name__}: {str(exc).splitlines()[0]}",
                "the starts are drawn from a range one too long: the last start leaves y a "
                "token short",
            )

    def test_windows(self):
        data = torch.arange(100, 140)  # value − 100 = position
        where = kata_call(data, 6, 5, generator="seed 0")
        out = train_gpt.get_batch(data, 6, 5, generator=seeded_generator(0))
        if not (isinstance(out, tuple) and len(out) == 2):
            fail(
                where,
                f"expected a tuple (x, y), got {describe(out)}",
                "x and y stacked into one tensor, or put in a list, where the docstring "
                "promises a tuple",
            )
        x, y = out
        check_tensor(x, where + " x", shape=(5, 6), dtype=torch.int64)
        check_tensor(y, where + " y", shape=(5, 6), dtype=torch.int64)
        starts = x[:, :1] - 100
        want_x = 100 + starts + torch.arange(6)
        check_close(x, want_x, where + ": each x row is block_size consecutive tokens")
        check_close(
            y,
            x + 1,
            where + ": each y row is its x row shifted one token on",
            mistake="y is not the next token at every position: the same window as x, or one "
            "shifted the wrong way",
        )

    def test_every_start_possible_none_outside(self):
        # N = T + 3: the starts 0, 1, 2 are the only ones that fit (x and y inside the data)
        data = torch.arange(9)
        seen: set[int] = set()
        g = seeded_generator(1)
        for _ in range(20):
            x, y = self.batch(data, 6, 16, g)
            check_tensor(y, kata_call(data, 6, 16) + " y", shape=(16, 6))
            seen.update(x[:, 0].tolist())
        where = kata_call(data, 6, 16) + ", 20 draws"
        if not seen <= {0, 1, 2}:
            fail(where, f"windows start at {sorted(seen)}: only 0, 1, 2 fit (y needs s + 6 < 9)")
        if seen != {0, 1, 2}:
            fail(
                where,
                f"windows only start at {sorted(seen)}, never at {sorted({0, 1, 2} - seen)}",
                "the starts are drawn from a range one too short: the last window that fits "
                "is never drawn (torch.randint's upper bound is itself left out)",
            )

    def test_generator(self):
        data = torch.arange(50)
        before = global_rngs()
        a = train_gpt.get_batch(data, 4, 8, generator=seeded_generator(2))
        b = train_gpt.get_batch(data, 4, 8, generator=seeded_generator(2))
        where = kata_call(data, 4, 8, generator="seed 2")
        check_global_rngs(before, where)
        check_close(
            b[0],
            a[0],
            where + " twice with the same seed",
            mistake="the starts are not drawn with the generator given",
        )
        c = train_gpt.get_batch(data, 4, 8, generator=seeded_generator(3))
        if torch.equal(c[0], a[0]):
            fail(where, "seeds 2 and 3 give the same batch: are the starts random?")

    def test_too_short_raises(self):
        data = torch.arange(6)
        expect_raises(
            ValueError,
            lambda: train_gpt.get_batch(data, 6, 2, generator=seeded_generator(0)),
            kata_call(data, 6, 2),
            "6 tokens cannot hold x and y of block_size 6 (y ends one token after x)",
            "no length check before the starts are drawn, or one that lets N = block_size through",
        )


# --- the recording model ----------------------------------------------------------------------


class Recorder(nn.Module):
    """A bigram LM, vocab 8, with GPT's interface; it records what is done with it."""

    V = 8

    def __init__(self, scale=1.0, seed=0):
        super().__init__()
        g = seeded_generator(seed)
        self.table = nn.Parameter(torch.randn(self.V, self.V, generator=g) * scale)
        self.bias = nn.Parameter(torch.zeros(self.V))
        self.calls: list[tuple[bool, bool, Tensor, float]] = []  # training, grad, x, loss
        self.steps: list[tuple[float, float]] = []  # (lr, gradient norm) at each step
        self.grads: list[dict[str, Tensor]] = []  # the gradients each step was given
        self.opt_args = None

    def forward(self, idx, targets=None):
        logits = self.table[idx] + self.bias  # (B, T, V)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(-1, self.V), targets.reshape(-1))
            self.calls.append((self.training, torch.is_grad_enabled(), idx.clone(), loss.item()))
        return logits, loss

    def configure_optimizers(self, weight_decay, learning_rate, betas):
        self.opt_args = (weight_decay, learning_rate, tuple(betas))
        model = self

        # torch.optim.AdamW's own step imports torch._dynamo (~2-3 s, more than the rest
        # of this sprint's grading); sprint3's oracle is the same algorithm bit for bit.
        class RecordingAdamW(TorchAdamW):
            def step(self, closure=None):
                grads = [p.grad.double() for p in model.parameters() if p.grad is not None]
                norm = math.sqrt(sum((g * g).sum().item() for g in grads))
                model.steps.append((self.param_groups[0]["lr"], norm))
                model.grads.append(
                    {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
                )
                return super().step()

        groups = [
            {"params": [self.table], "weight_decay": weight_decay},
            {"params": [self.bias], "weight_decay": 0.0},
        ]
        return RecordingAdamW(groups, lr=learning_rate, betas=betas)


def sequence(n: int, offset: int = 0) -> Tensor:
    return (torch.arange(n) + offset) % Recorder.V  # 0 1 2 … 7 0 1 …: bigrams decide all


# --- estimate_loss ----------------------------------------------------------------------------


@kata("estimate_loss")
class TestEstimateLoss:
    SPLITS: ClassVar = {"train": torch.arange(0, 30), "val": torch.arange(100, 130)}

    def run(self, model, seed=0, eval_iters=5):
        where = kata_call(
            "model", {k: Tensor for k in self.SPLITS}, 4, 3, eval_iters, generator=f"seed {seed}"
        )
        return where, train_gpt.estimate_loss(
            model, self.SPLITS, 4, 3, eval_iters, generator=seeded_generator(seed)
        )

    class Echo(Recorder):
        """loss = the mean token id of x: a different value for every batch."""

        def forward(self, idx, targets=None):
            loss = idx.double().mean() + 0 * self.bias.sum()
            self.calls.append((self.training, torch.is_grad_enabled(), idx.clone(), loss.item()))
            return None, loss

    def test_means_per_split(self):
        model = self.Echo()
        where, got = self.run(model)
        if not isinstance(got, dict) or list(got) != ["train", "val"]:
            fail(where, f"returned {describe(got)}, expected a dict with keys 'train', 'val'")
        for name, low in [("train", 0), ("val", 100)]:
            losses = [c[3] for c in model.calls if low <= c[2].min() < low + 100]
            if len(losses) != 5:
                fail(where, f"{len(losses)} batches from {name!r}, expected eval_iters=5")
            value = got[name]
            if not isinstance(value, float):
                fail(where, f"{name!r} is {describe(value)}, expected a Python float (.item())")
            want = sum(losses) / len(losses)
            # nanoGPT keeps the losses in a float32 tensor and takes its mean: ~6e-8
            # relative rounding each, ~2e-7 in all; the slips (a sum, one batch's loss)
            # are off by a few percent or more
            if abs(value - want) > 1e-6 * abs(want):
                fail(
                    where,
                    f"{name!r} is {value}, expected the mean of its 5 batch losses, {want}",
                    "the value is not the mean of the split's eval_iters batch losses (their "
                    "sum, or the last batch's loss)",
                )

    def test_eval_mode_no_grad_mode_restored(self):
        for start_training in (True, False):
            model = self.Echo()
            model.train(start_training)
            where, _ = self.run(model)
            if any(training for training, *_ in model.calls):
                fail(
                    where,
                    "the model ran in training mode",
                    "the model is not switched to eval mode, so dropout stays on",
                )
            if any(grad for _, grad, *_ in model.calls):
                fail(
                    where,
                    "the model ran with gradients on",
                    "no torch.no_grad (or inference_mode) around the estimate: every batch "
                    "builds a graph",
                )
            if model.training != start_training:
                fail(
                    where,
                    f"model.training is {model.training} afterwards, was {start_training}",
                    "the mode is not restored: model.train() at the end whatever the mode was "
                    "before, or no switch back at all",
                )

    def test_generator(self):
        before = global_rngs()
        where, a = self.run(self.Echo(), seed=4)
        _, b = self.run(self.Echo(), seed=4)
        check_global_rngs(before, where)
        if a != b:
            fail(
                where,
                f"twice with the same seed: {a} then {b}",
                "the generator given is not passed on to get_batch",
            )


# --- train ------------------------------------------------------------------------------------


def cosine64(it, warmup, max_iters, max_lr, min_lr):
    if it < warmup:
        return max_lr * (it + 1) / warmup
    if it >= max_iters:
        return min_lr
    r = (it - warmup) / (max_iters - warmup)
    return min_lr + 0.5 * (1 + math.cos(math.pi * r)) * (max_lr - min_lr)


SCHEDULE = {
    "max_iters": 10,
    "batch_size": 4,
    "block_size": 6,
    "learning_rate": 0.05,
    "min_lr": 0.005,
    "warmup_iters": 3,
    "weight_decay": 0.2,
    "grad_clip": 0.01,
    "eval_interval": 4,
    "eval_iters": 2,
}


# the keyword defaults the docstring's signature gives
TRAIN_DEFAULTS = {
    "learning_rate": 1e-3,
    "min_lr": 1e-4,
    "warmup_iters": 100,
    "weight_decay": 0.1,
    "grad_clip": 1.0,
    "eval_interval": 250,
    "eval_iters": 20,
    "generator": None,
    "progress": True,
    "optimizer": None,
    "start_iter": 0,
    "on_eval": None,
    "stop": None,
}


def reference_train(model, data, *, accumulate=False, **kw) -> None:
    """The steps of the docstring's loop, written out, on a Recorder (which records the
    gradients each step hands the optimizer); no evaluation. accumulate=True leaves each
    step's gradient in .grad for the next (the usual slip), to name it when it is what
    came back."""
    opt = model.configure_optimizers(kw["weight_decay"], kw["learning_rate"], (0.9, 0.99))
    model.train()
    params = list(model.parameters())
    for it in range(kw["max_iters"]):
        lr = cosine64(it, kw["warmup_iters"], kw["max_iters"], kw["learning_rate"], kw["min_lr"])
        for group in opt.param_groups:
            group["lr"] = lr
        x, y = train_gpt.get_batch(data, kw["block_size"], kw["batch_size"], kw["generator"])
        _, loss = model(x, y)
        grads = torch.autograd.grad(loss, params)
        for p, g in zip(params, grads, strict=True):
            p.grad = p.grad + g if accumulate and p.grad is not None else g
        total = math.sqrt(sum((p.grad.double() ** 2).sum().item() for p in params))
        if kw["grad_clip"] and total > kw["grad_clip"]:
            for p in params:
                p.grad = p.grad * (kw["grad_clip"] / (total + 1e-6))
        opt.step()


@kata("train")
class TestTrain:
    def test_keyword_defaults(self):
        # a run that leaves them out: one step, then the evaluation due at the end
        model = Recorder()
        kw = {"max_iters": 1, "batch_size": 2, "block_size": 4, "progress": False}
        where = kata_call("Recorder", "train_data", "val_data", **kw, generator="seed 6")
        train_gpt.train(model, sequence(60), sequence(30, 3), **kw, generator=seeded_generator(6))
        if model.opt_args != (0.1, 1e-3, (0.9, 0.99)):
            fail(
                where,
                f"configure_optimizers got {model.opt_args}, expected (0.1, 0.001, (0.9, 0.99)): "
                "weight_decay 0.1 and learning_rate 1e-3 by default",
            )
        lrs, want = [lr for lr, _ in model.steps], cosine64(0, 100, 1, 1e-3, 1e-4)
        if len(lrs) != 1 or abs(lrs[0] - want) > 1e-9 * want:
            fail(where, f"the step ran with lr {lrs}, expected [{want}] (warmup_iters 100)")
        evals = sum(not training for training, *_ in model.calls)
        if evals != 2 * 20:
            fail(
                where,
                f"{evals} eval forwards, expected 2 splits × eval_iters 20",
                "eval_iters defaults to nanoGPT's 200, where the docstring says 20"
                if evals == 2 * 200
                else "",
            )
        where = f"{kata_call.name}'s signature"
        params = inspect.signature(train_gpt.train).parameters
        open_ended = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        for name, want in TRAIN_DEFAULTS.items():
            param = params.get(name)
            if param is None:
                if open_ended:  # **kwargs: what it defaults to cannot be read
                    continue
                fail(where, f"there is no keyword argument {name!r} (default {want!r})")
            got = param.default
            if got is inspect.Parameter.empty:
                fail(where, f"{name} has no default, expected {want!r}")
            if got != want or isinstance(got, bool) != isinstance(want, bool):
                fail(
                    where,
                    f"{name} defaults to {got!r}, expected {want!r}",
                    "the defaults of nanoGPT's train.py (eval_interval 2000, eval_iters 200, "
                    "learning_rate 6e-4, …) where the docstring gives its own"
                    if name in ("eval_interval", "eval_iters", "learning_rate")
                    else "",
                )

    def test_each_step_against_a_reference_loop(self):
        # grad_clip 1: clipped to 0.01, a gradient left over from the step before would be
        # swamped by the new one, which clipping scales down with it
        kw = dict(SCHEDULE, max_iters=6, grad_clip=1.0, eval_interval=250, progress=False)
        data = sequence(60)
        where = kata_call("Recorder", "train_data", "val_data", **kw, generator="seed 5")
        model = Recorder(scale=3.0)
        train_gpt.train(model, data, sequence(30, 3), **kw, generator=seeded_generator(5))
        evaluation = ("eval_interval", "eval_iters", "progress")
        steps = {k: v for k, v in kw.items() if k not in evaluation}
        ref, slip = Recorder(scale=3.0), Recorder(scale=3.0)
        reference_train(ref, data, **steps, generator=seeded_generator(5))
        reference_train(slip, data, **steps, generator=seeded_generator(5), accumulate=True)
        if len(model.grads) != len(ref.grads):
            fail(where, f"the optimizer stepped {len(model.grads)} times, expected 6")
        for k, (got, want, wrong) in enumerate(zip(model.grads, ref.grads, slip.grads)):
            for name, w in want.items():
                g = got.get(name)
                if g is None:
                    fail(where, f"step {k + 1} ran with no gradient for {name}")
                mistake = ""
                if g.shape == w.shape and torch.allclose(g, wrong[name], **F32_STEPS_TOL):
                    mistake = (
                        "the gradients are not cleared before backward: backward adds to "
                        ".grad, so each step's gradient holds the earlier steps' too"
                    )
                check_close(
                    g,
                    w,
                    f"{where} → {name}'s gradient at step {k + 1}, as the optimizer got it "
                    "(after clipping), against the docstring's loop run alongside",
                    **F32_STEPS_TOL,
                    mistake=mistake,
                )
        for name, p in ref.named_parameters():
            check_close(
                dict(model.named_parameters())[name].detach(),
                p.detach(),
                f"{where} → {name} after 6 steps, against the docstring's loop run alongside",
                **F32_STEPS_TOL,
            )

    def test_schedule_clipping_and_history(self, capsys):
        model = Recorder(scale=3.0)
        where = kata_call("Recorder", "train_data", "val_data", **SCHEDULE)
        history = train_gpt.train(
            model,
            sequence(60),
            sequence(30, 3),
            **SCHEDULE,
            generator=seeded_generator(0),
            progress=False,
        )
        printed = capsys.readouterr()
        if printed.out or printed.err:
            text = printed.out + printed.err
            fail(
                where,
                f"printed to {'stderr' if printed.err else 'stdout'} with progress=False",
                "the progress bar shown whatever progress says"
                if "%|" in text or "it/s" in text
                else "",
            )
        if model.opt_args != (0.2, 0.05, (0.9, 0.99)):
            fail(
                where,
                f"configure_optimizers got {model.opt_args}, expected (0.2, 0.05, (0.9, 0.99))",
            )
        if not isinstance(history, list) or [h.get("iter") for h in history] != [4, 8, 10]:
            got = [h.get("iter") for h in history] if isinstance(history, list) else history
            fail(
                where,
                f"evaluations at iters {got}, expected [4, 8, 10] (every 4 steps and the end)",
                "evaluating before a step, or counting steps from 0: an evaluation follows "
                "every eval_interval-th step and the last one, counting steps from 1",
            )
        want_lrs = [cosine64(i, 3, 10, 0.05, 0.005) for i in range(10)]
        got_lrs = [lr for lr, _ in model.steps]
        if len(got_lrs) != 10 or any(
            abs(g - w) > 1e-9 * w for g, w in zip(got_lrs, want_lrs, strict=True)
        ):
            fail(
                where,
                f"the optimizer stepped with lrs {[round(v, 5) for v in got_lrs]}, expected "
                f"{[round(v, 5) for v in want_lrs]}",
                "the lr is off the schedule: a step gets another step's value (one early "
                "or late), or a param group is left at its old lr",
            )
        for h in history:
            if set(h) != {"iter", "train_loss", "val_loss", "lr"}:
                fail(where, f"an evaluation has keys {sorted(h)}")
            want = want_lrs[h["iter"] - 1]
            if not all(isinstance(h[k], float) for k in ("train_loss", "val_loss", "lr")):
                fail(where, f"{h}: losses and lr must be Python floats")
            if abs(h["lr"] - want) > 1e-9 * want:
                fail(where, f"at iter {h['iter']} lr is {h['lr']}, expected {want} (that step's)")
        worst = max(norm for _, norm in model.steps)
        if worst > 0.01 * (1 + 1e-4):
            fail(
                where,
                f"a step ran with gradient norm {worst:.4g} > grad_clip=0.01",
                "no gradient clipping, or clipping before backward or after the optimizer's step",
            )
        train_calls = [c for c in model.calls if c[0]]
        eval_calls = [c for c in model.calls if not c[0]]
        if len(train_calls) != 10 or not all(c[1] for c in train_calls):
            fail(where, f"{len(train_calls)} training-mode forwards, expected 10 with gradients")
        if len(eval_calls) != 3 * 2 * 2 or any(c[1] for c in eval_calls):
            fail(where, f"{len(eval_calls)} eval forwards, expected 3 evaluations × 2 splits × 2")

    def test_loss_goes_down_reproducibly(self):
        kw = {
            "max_iters": 40,
            "batch_size": 4,
            "block_size": 8,
            "learning_rate": 0.1,
            "min_lr": 0.01,
            "warmup_iters": 5,
            "eval_interval": 20,
            "eval_iters": 4,
            "progress": False,
        }
        where = kata_call("Recorder", "train_data", "val_data", **kw)
        before = global_rngs()
        runs = []
        for _ in range(2):
            model = Recorder()
            history = train_gpt.train(
                model, sequence(80), sequence(40, 5), **kw, generator=seeded_generator(7)
            )
            runs.append(history)
        check_global_rngs(before, where + " with a generator")
        if runs[0] != runs[1]:
            fail(where, "two runs with the same seed give different histories")
        first, last = runs[0][0], runs[0][-1]
        start = math.log(Recorder.V)
        if not last["val_loss"] < 0.5 * start or not last["train_loss"] < first["train_loss"]:
            fail(
                where,
                f"losses {[(h['train_loss'], h['val_loss']) for h in runs[0]]}: the model "
                f"should learn the bigrams (val loss well under {start:.2f})",
            )

    def test_progress_bar(self, capsys):
        kw = dict(SCHEDULE, max_iters=2, eval_interval=2)
        train_gpt.train(Recorder(), sequence(60), sequence(30), **kw, generator=seeded_generator(0))
        printed = capsys.readouterr()
        if not printed.err and not printed.out:
            fail(
                kata_call("Recorder", "train_data", "val_data", **kw),
                "nothing printed with progress=True (the default)",
                "no tqdm bar around the loop, or one disabled whatever progress says",
            )

    def test_hooks_stop_and_resume_the_same_run(self):
        """optimizer, start_iter, on_eval, stop: the capstone saves at each evaluation, stops
        between two steps and resumes; stopped after step 4 and resumed there, the run ends
        where the whole run ends."""
        kw = dict(SCHEDULE, progress=False)
        data, val = sequence(60), sequence(30, 3)
        whole = Recorder(scale=3.0)
        want = train_gpt.train(whole, data, val, **kw, generator=seeded_generator(0))
        model, g = Recorder(scale=3.0), seeded_generator(0)
        optimizer = model.configure_optimizers(0.2, 0.05, (0.9, 0.99))
        model.opt_args, seen, asked = None, [], []
        hooks = {"optimizer": "its own", "on_eval": "a list's append", "stop": "True after 4"}
        where = kata_call("Recorder", "train_data", "val_data", **kw, **hooks)
        first = train_gpt.train(
            model,
            data,
            val,
            **kw,
            generator=g,
            optimizer=optimizer,
            on_eval=seen.append,
            stop=lambda step: asked.append(step) or step == 4,
        )
        if model.opt_args is not None:
            fail(
                where,
                "configure_optimizers was called though an optimizer was given",
                "a new optimizer whatever `optimizer` says: a resumed run loses AdamW's moments",
            )
        if asked != [1, 2, 3, 4]:
            fail(where, f"stop was called with {asked}, expected 1, 2, 3, 4 (the steps done)")
        if [h.get("iter") for h in first] != [4] or seen != first:
            fail(
                where,
                f"stopped after step 4 it returned iters {[h.get('iter') for h in first]} and "
                f"on_eval saw {[h.get('iter') for h in seen]}, expected [4] both times",
                "stop is asked before the evaluation due at that step, or on_eval is not called "
                "with each entry appended",
            )
        where = kata_call("Recorder", "train_data", "val_data", **kw, **hooks, start_iter=4)
        second = train_gpt.train(
            model, data, val, **kw, generator=g, optimizer=optimizer, start_iter=4
        )
        got_lrs, want_lrs = [lr for lr, _ in model.steps], [lr for lr, _ in whole.steps]
        if got_lrs != want_lrs:
            fail(
                where,
                f"the 10 steps ran with lrs {[round(v, 5) for v in got_lrs]}, expected "
                f"{[round(v, 5) for v in want_lrs]} as in one run",
                "the resumed loop starts over: its steps or its schedule count from 0, not from "
                "start_iter",
            )
        if first + second != want or not torch.equal(model.table, whole.table):
            fail(where, f"stopped and resumed: {first + second}; in one run: {want}")
