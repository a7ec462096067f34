"""Grades sprint7.kv_cache: generate_cached against a generate oracle written here.

The model is the tests' own copy of nanoGPT's module tree (`NanoGPT`, tests/nanogpt.py,
from torch's layers, with exactly the names generate_cached's docstring lists), so the
kata is graded on its own, without the learner's Sprint 5 GPT. The oracle is
GPT.generate's contract step by step: crop to the last block_size tokens, run the whole
context through the model, take the last position's logits / temperature, top_k with
−inf, and draw with torch.multinomial and the same seeded generator.

Float drift: a cache computes the same numbers by another route (one query against L
cached keys instead of T queries against T), so its logits differ from the full pass by
rounding, and a sampled token flips when a draw falls within that rounding of a boundary
between two tokens. In float64 the drift is ~1e-15, and such a flip is beyond reach: the
sampling tests run the model in float64 and compare the tokens exactly. One test runs it
in float32, the GPT's own dtype, greedily (top_k=1) at a seed whose two largest logits are
at least 0.03 apart at every step, a thousand times the float32 drift (~1e-6).

The cost: forward hooks on every block's attn.c_attn count the rows (batch × positions)
each call projects. Within block_size a KV cache projects each position once: at most
B · (T + new) rows per block over the whole generation, where running the context again
at every step costs B · T per token.
"""

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from grader import kata, target_module
from grader.checks import (
    Shown,
    Snapshot,
    check_global_rngs,
    check_tensor,
    describe,
    fail,
    global_rngs,
)
from tests.kata_helpers import kata_call, seeded_generator
from tests.nanogpt import Cfg, NanoGPT

kv_cache = target_module("sprint7.kv_cache")


def make_model(seed=0, dtype=torch.float64, **kw) -> NanoGPT:
    """A NanoGPT with random weights large enough that the logits spread over several
    units (sampling is neither uniform nor greedy) and strong position embeddings, so that
    a token at the wrong position changes what comes next. In eval mode."""
    model = NanoGPT(Cfg(**kw))
    g = seeded_generator(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            r = torch.randn(p.shape, generator=g, dtype=torch.float64)
            if name.endswith("weight") and "ln_" in name:
                p.copy_(1 + 0.3 * r)
            elif "wpe" in name:
                p.copy_(r)
            else:
                p.copy_(0.3 * r)
    return model.to(dtype).eval()


def tokens(B, T, seed=0, vocab=24) -> Tensor:
    return torch.randint(vocab, (B, T), generator=seeded_generator(seed))


def model_text(model) -> Shown:
    c, dtype = model.config, model.lm_head.weight.dtype
    return Shown(f"NanoGPT(block_size={c.block_size}) {str(dtype).removeprefix('torch.')}")


def where_call(model, idx, n, seed, **kw) -> str:
    return kata_call(model_text(model), idx, n, **kw, generator=Shown(f"seeded {seed}"))


def generate_oracle(model, idx, n, temperature=1.0, top_k=None, seed=0) -> Tensor:
    """GPT.generate's contract, step by step, on the whole (cropped) context each time."""
    g = seeded_generator(seed)
    block_size = model.config.block_size
    with torch.no_grad():
        for _ in range(n):
            logits = model(idx[:, -block_size:])[:, -1, :] / temperature
            if top_k is not None:
                kth = torch.topk(logits, min(top_k, logits.size(-1))).values[:, -1:]
                logits = logits.masked_fill(logits < kth, float("-inf"))
            nxt = torch.multinomial(F.softmax(logits, dim=-1), 1, generator=g)
            idx = torch.cat([idx, nxt], dim=1)
    return idx


def generate(model, idx, n, where, seed=0, **kw) -> Tensor:
    """The kata's tokens, checked to be int64 (B, T + n) on idx's device with the prompt
    in front; an IndexError from a position past the embedding, as a teaching failure."""
    try:
        got = kv_cache.generate_cached(model, idx, n, **kw, generator=seeded_generator(seed))
    except AttributeError as exc:
        from grader.plugin.escapes import safe_str  # loaded with the plugin by now

        fail(
            where,
            f"raised AttributeError ({safe_str(exc)})",
            "a part of the model that the docstring does not list (the attention's own mask "
            "buffer or dropout, a method of your GPT): the model graded here has only the "
            "parts listed, as nanoGPT names them",
        )
    except IndexError as exc:
        if "index out of range" not in str(exc):
            raise
        fail(
            where,
            "raised IndexError (index out of range in self): a position ≥ block_size reached "
            "the position embedding wpe",
            "the context not cropped to its last block_size tokens: a prompt longer than "
            "block_size run whole, or a cache that keeps growing past block_size instead of "
            "being rebuilt from the cropped context",
        )
    B, T = idx.shape
    check_tensor(got, where, shape=(B, T + n), dtype=torch.int64, device=idx.device)
    if not torch.equal(got[:, :T], idx):
        fail(where, "the result does not start with the prompt idx", "the prompt dropped or cut")
    return got


def first_difference(got: Tensor, want: Tensor) -> tuple[int, int] | None:
    """(row, column) of the first column where got and want differ, or None."""
    bad = got != want
    if not bad.any():
        return None
    col = int(bad.any(dim=0).nonzero()[0])
    return int(bad[:, col].nonzero()[0]), col


def check_tokens(got, model, idx, n, where, seed, temperature=1.0, top_k=None) -> None:
    """got equals the oracle's tokens; where it does not, the first new token that differs
    and what went wrong there: a near miss (temperature or top_k ignored) when got is the
    oracle's answer without them, else what that step's context says (the prompt's own
    pass, a cached step within block_size, or a step past it)."""
    want = generate_oracle(model, idx, n, temperature, top_k, seed)
    found = first_difference(got, want)
    if found is None:
        return
    row, col = found
    T, block_size = idx.size(1), model.config.block_size
    step = col - T  # 0: the first new token, from the prompt's own pass
    context = T + step  # tokens in idx when that token was drawn
    problem = (
        f"new token {step} (column {col}) of row {row} is {int(got[row, col])}, expected "
        f"{int(want[row, col])}; the {step} before it agree. It was drawn from a context of "
        f"{context} tokens, block_size {block_size}"
    )
    if temperature != 1.0 and torch.equal(got, generate_oracle(model, idx, n, 1.0, top_k, seed)):
        cause = (
            "the temperature is not applied to the logits before the softmax (dividing the "
            "probabilities instead changes nothing: multinomial normalises them)"
        )
    elif top_k is not None and torch.equal(
        got, generate_oracle(model, idx, n, temperature, None, seed)
    ):
        cause = "top_k not applied: all but the k largest logits must be −inf before the softmax"
    elif step == 0:
        longer = (
            " (here longer than block_size: generate's first pass sees only its last "
            "block_size tokens, at positions 0 … block_size − 1)"
            if block_size < T
            else ""
        )
        cause = (
            "the first new token comes from the prompt's own pass (its last position's "
            f"logits): the prompt run wrongly{longer}, or the draw not made with the "
            "generator given"
        )
    elif context <= block_size:
        cause = (
            "a cached step is off: the new token sits at the position after the cached ones "
            "(not 0), each block's k and v are appended along time, and the one new query "
            "attends to every cached key (a causal mask aligned to the top left, as is_causal "
            "makes one, lets it see only the first)"
        )
    else:
        cause = (
            "past block_size the positions shift (generate feeds the last block_size tokens "
            "at positions 0 … block_size − 1): keys and values cached at their old positions, "
            "or a cache that slides, no longer give generate's logits"
        )
    fail(where, problem, cause)


# --- generate_cached ---------------------------------------------------------------------------

CASES = {  # id: (B, T, new, temperature, top_k); block_size 8
    "within-block": (2, 3, 6, 1.0, None),  # the last token is drawn from a full context
    "batch-of-one": (1, 4, 5, 0.7, 5),
    "past-block": (2, 5, 14, 1.3, None),  # crosses block_size and runs on past it
    "prompt-fills-block": (3, 8, 4, 1.6, 3),
    "prompt-past-block": (2, 11, 6, 0.8, 4),
}


@kata("generate_cached")
class TestGenerateCached:
    @pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
    def test_same_tokens_as_generate(self, case):
        B, T, n, temperature, top_k = case
        model = make_model(seed=1)
        idx = tokens(B, T, seed=2)
        kw = {"temperature": temperature, "top_k": top_k}
        where = where_call(model, idx, n, 5, **kw)
        got = generate(model, idx, n, where, seed=5, **kw)
        check_tokens(got, model, idx, n, where, 5, **kw)

    def test_float32_greedy(self):
        # float32, as the GPT runs: greedy, at a seed whose two largest logits are ≥ 0.03
        # apart at every step of the oracle, far beyond the cache's rounding (~1e-6)
        model = make_model(seed=3, dtype=torch.float32)
        idx = tokens(2, 3, seed=4)
        where = where_call(model, idx, 12, 0, top_k=1)
        got = generate(model, idx, 12, where, seed=0, top_k=1)
        check_tokens(got, model, idx, 12, where, 0, top_k=1)

    def test_one_position_per_new_token(self):
        model = make_model(seed=6, block_size=16)
        B, T, n = 2, 4, 7  # T + n ≤ block_size: the cache never fills
        idx = tokens(B, T, seed=7)
        rows = [[] for _ in model.transformer.h]
        hooks = [
            block.attn.c_attn.register_forward_hook(
                lambda m, args, out, seen=seen: seen.append(args[0].shape[:-1].numel())
            )
            for block, seen in zip(model.transformer.h, rows, strict=True)
        ]
        where = where_call(model, idx, n, 8)
        try:
            got = generate(model, idx, n, where, seed=8)
        finally:
            for hook in hooks:
                hook.remove()
        check_tokens(got, model, idx, n, where, 8)
        most = B * (T + n)  # each position of the result projected once, the last one too
        for i, seen in enumerate(rows):
            if not seen:
                fail(
                    where,
                    f"transformer.h[{i}].attn.c_attn was never called as a module",
                    "its weights used directly (F.linear, @): the contract calls each part as "
                    "a module, and that is how this test sees each step's work",
                )
            if sum(seen) > most:
                fail(
                    where,
                    f"transformer.h[{i}].attn.c_attn projected {sum(seen)} rows (batch × "
                    f"positions) in {len(seen)} calls ({', '.join(map(str, seen))}), where a "
                    f"KV cache projects each position once: at most B · (T + new) = {most}",
                    "the whole context run through the model at every step: a cache kept but "
                    "not used, or each step starting from an empty one",
                )

    def test_no_grad_rng_mode_input(self):
        model = make_model(seed=9).train()  # dropout 0: train mode samples the same
        idx = tokens(2, 4, seed=10)
        grad_modes = []
        hooks = [
            m.register_forward_hook(lambda *_: grad_modes.append(torch.is_grad_enabled()))
            for m in (model.lm_head, model.transformer.h[0].attn.c_attn)
        ]
        where = where_call(model, idx, 6, 3)
        snap = Snapshot(idx=idx)
        before = global_rngs()
        try:
            got = generate(model, idx, 6, where, seed=3)
        finally:
            for hook in hooks:
                hook.remove()
        check_global_rngs(before, where)
        snap.check(where)
        if any(grad_modes):
            fail(
                where,
                "the model ran with gradients enabled",
                "no torch.no_grad around the generation: every step records a graph that "
                "nothing will ever backpropagate through",
            )
        if got.requires_grad:
            fail(where, f"returned {describe(got)}: token ids carry no gradient")
        changed = [name or "the model" for name, m in model.named_modules() if not m.training]
        if changed:
            fail(
                where,
                f"the model was in train mode and {changed[0]} is in eval mode afterwards",
                "model.eval() called inside and not undone: the mode is the caller's",
            )
        check_tokens(got, model, idx, 6, where, 3)

    def test_zero_new_tokens(self):
        model = make_model(seed=11)
        idx = tokens(2, 5, seed=12)
        where = where_call(model, idx, 0, 0)
        got = generate(model, idx, 0, where, seed=0)
        if not torch.equal(got, idx):
            fail(where, "max_new_tokens=0 must give idx back as it is")
