"""Known mistakes and correct alternatives of sprint7.kv_cache."""

import math

import torch
import torch.nn.functional as F

from grader.variants import alternative, mistake

# --- the shared route, with a switch for each slip ----------------------------------------------


def _sample(logits, temperature, top_k, generator, slip):
    """One token per row from the last position's logits (B, V), as generate draws it."""
    if slip != "temperature_after_softmax":
        logits = logits / temperature
    if top_k is not None:
        v, _ = torch.topk(logits, min(top_k, logits.size(-1)))
        logits = logits.masked_fill(logits < v[:, -1:], float("-inf"))
    probs = F.softmax(logits, dim=-1)
    if slip == "temperature_after_softmax":
        probs = probs / temperature
    if slip == "global_rng":
        return torch.multinomial(probs, 1)
    return torch.multinomial(probs, 1, generator=generator)


def _run(model, idx, cache, start, slip=""):
    """Logits (B, t, V) of idx (B, t) at positions start …, using and filling `cache`."""
    tr = model.transformer
    B, t = idx.shape
    first = 0 if slip == "positions_restart" else start
    pos = torch.arange(first, first + t, device=idx.device)
    x = tr.drop(tr.wte(idx) + tr.wpe(pos))
    for i, block in enumerate(tr.h):
        attn, h = block.attn, block.ln_1(x)
        C = h.size(-1)
        nh = attn.n_head
        q, k, v = attn.c_attn(h).split(C, dim=2)
        q, k, v = (z.view(B, t, nh, C // nh).transpose(1, 2) for z in (q, k, v))
        dim = 1 if slip == "cat_on_heads" else 2
        if i < len(cache):
            k = torch.cat((cache[i][0], k), dim=dim)
            v = torch.cat((cache[i][1], v), dim=dim)
            cache[i] = (k, v)
        else:
            cache.append((k, v))
        if slip == "mask_buffer":  # the rows of Sprint 4's (block_size, block_size) mask
            seen = attn.mask[start : start + t, : start + t].bool()
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=seen)
        else:
            causal = start == 0 or slip == "causal_one_query"
            y = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        x = x + attn.c_proj(y.transpose(1, 2).reshape(B, t, C))
        x = x + block.mlp(block.ln_2(x))
    return model.lm_head(tr.ln_f(x))


def _generate(model, idx, max_new_tokens, temperature, top_k, generator, slip=""):
    block_size = model.config.block_size
    if slip == "eval_inside":
        model.eval()
    cache = []
    for _ in range(max_new_tokens):
        cached = cache[0][0].size(2) if cache else 0
        if slip == "whole_context":
            cache = []
            logits = _run(model, idx[:, -block_size:], cache, 0)
        elif cache and (cached < block_size or slip == "never_rebuilt"):
            logits = _run(model, idx[:, -1:], cache, cached, slip)
        elif cache and slip == "sliding":  # drop the oldest position, reuse the last one
            cache[:] = [(k[:, :, 1:], v[:, :, 1:]) for k, v in cache]
            logits = _run(model, idx[:, -1:], cache, block_size - 1)
        else:
            cache = []
            context = idx if slip == "uncropped_prompt" else idx[:, -block_size:]
            logits = _run(model, context, cache, 0, slip)
        nxt = _sample(logits[:, -1, :], temperature, top_k, generator, slip)
        idx = torch.cat((idx, nxt), dim=1)
    return idx


# --- mistakes ---------------------------------------------------------------------------------


@mistake("generate_cached")
@torch.no_grad()
def positions_restart_at_zero(
    model, idx, max_new_tokens, temperature=1.0, top_k=None, generator=None
):
    """each new token is embedded at position 0 (wpe(0)) instead of at the position after
    the cached ones"""
    return _generate(model, idx, max_new_tokens, temperature, top_k, generator, "positions_restart")


@mistake("generate_cached")
@torch.no_grad()
def whole_context_every_step(
    model, idx, max_new_tokens, temperature=1.0, top_k=None, generator=None
):
    """starts from an empty cache at every step and runs the whole cropped context again:
    the right tokens, at generate's cost"""
    return _generate(model, idx, max_new_tokens, temperature, top_k, generator, "whole_context")


@mistake("generate_cached")
@torch.no_grad()
def sliding_cache(model, idx, max_new_tokens, temperature=1.0, top_k=None, generator=None):
    """past block_size, drops the oldest cached key and value and puts the new token at
    position block_size − 1: the cached ones keep their old positions, which generate's
    shifted window does not"""
    return _generate(model, idx, max_new_tokens, temperature, top_k, generator, "sliding")


@mistake("generate_cached")
@torch.no_grad()
def cache_never_rebuilt(model, idx, max_new_tokens, temperature=1.0, top_k=None, generator=None):
    """keeps appending to the cache past block_size: positions run past the position
    embedding's table"""
    return _generate(model, idx, max_new_tokens, temperature, top_k, generator, "never_rebuilt")


@mistake("generate_cached")
@torch.no_grad()
def prompt_not_cropped(model, idx, max_new_tokens, temperature=1.0, top_k=None, generator=None):
    """the first pass (and every rebuild) runs the whole idx, not its last block_size tokens"""
    return _generate(model, idx, max_new_tokens, temperature, top_k, generator, "uncropped_prompt")


@mistake("generate_cached")
@torch.no_grad()
def causal_mask_on_one_query(
    model, idx, max_new_tokens, temperature=1.0, top_k=None, generator=None
):
    """is_causal=True also for the one new query: torch aligns that mask to the top left,
    so the new token attends only to the first cached position"""
    return _generate(model, idx, max_new_tokens, temperature, top_k, generator, "causal_one_query")


@mistake("generate_cached")
@torch.no_grad()
def attention_mask_buffer(model, idx, max_new_tokens, temperature=1.0, top_k=None, generator=None):
    """masks with the attention's own causal-mask buffer (Sprint 4's `mask`), a part the
    contract does not list: a model built with nanoGPT's names need not have it"""
    return _generate(model, idx, max_new_tokens, temperature, top_k, generator, "mask_buffer")


@mistake("generate_cached")
@torch.no_grad()
def cache_cat_on_heads(model, idx, max_new_tokens, temperature=1.0, top_k=None, generator=None):
    """appends the new keys and values along the heads dim (1) of (B, nh, L, hs) instead of
    along time (2)"""
    return _generate(model, idx, max_new_tokens, temperature, top_k, generator, "cat_on_heads")


@mistake("generate_cached")
@torch.no_grad()
def global_rng_draw(model, idx, max_new_tokens, temperature=1.0, top_k=None, generator=None):
    """draws with torch.multinomial from the global generator, not the one given"""
    return _generate(model, idx, max_new_tokens, temperature, top_k, generator, "global_rng")


@mistake("generate_cached")
@torch.no_grad()
def temperature_after_softmax(
    model, idx, max_new_tokens, temperature=1.0, top_k=None, generator=None
):
    """divides the probabilities by the temperature after the softmax: multinomial
    renormalises them, so the temperature does nothing"""
    return _generate(
        model, idx, max_new_tokens, temperature, top_k, generator, "temperature_after_softmax"
    )


@mistake("generate_cached")
def gradients_recorded(model, idx, max_new_tokens, temperature=1.0, top_k=None, generator=None):
    """no torch.no_grad: every step records a graph"""
    return _generate(model, idx, max_new_tokens, temperature, top_k, generator)


@mistake("generate_cached")
@torch.no_grad()
def eval_mode_left_on(model, idx, max_new_tokens, temperature=1.0, top_k=None, generator=None):
    """calls model.eval() and leaves the model in eval mode: the mode is the caller's"""
    return _generate(model, idx, max_new_tokens, temperature, top_k, generator, "eval_inside")


# --- alternatives -----------------------------------------------------------------------------


@alternative("generate_cached")
@torch.no_grad()
def static_cache(model, idx, max_new_tokens, temperature=1.0, top_k=None, generator=None):
    """A cache allocated once at block_size positions per block and written in place (as
    serving stacks' static caches are), attention written out by hand over its filled
    part; refilled from position 0 once full."""
    tr = model.transformer
    block_size = model.config.block_size
    B = idx.size(0)
    cache_k, cache_v = [], []
    filled = 0

    def run(tokens, start):
        t = tokens.size(1)
        x = tr.drop(tr.wte(tokens) + tr.wpe(torch.arange(start, start + t, device=idx.device)))
        for i, block in enumerate(tr.h):
            attn, h = block.attn, block.ln_1(x)
            C = h.size(-1)
            nh, hs = attn.n_head, C // attn.n_head
            q, k, v = attn.c_attn(h).split(C, dim=2)
            q, k, v = (z.view(B, t, nh, hs).transpose(1, 2) for z in (q, k, v))
            if len(cache_k) <= i:
                cache_k.append(k.new_zeros(B, nh, block_size, hs))
                cache_v.append(v.new_zeros(B, nh, block_size, hs))
            cache_k[i][:, :, start : start + t] = k
            cache_v[i][:, :, start : start + t] = v
            keys, values = cache_k[i][:, :, : start + t], cache_v[i][:, :, : start + t]
            att = (q @ keys.transpose(-2, -1)) / math.sqrt(hs)  # (B, nh, t, start + t)
            # query j (at position start + j) sees keys 0 … start + j
            seen = torch.ones(t, start + t, dtype=torch.bool, device=idx.device).tril(start)
            att = att.masked_fill(~seen, float("-inf")).softmax(dim=-1)
            y = (att @ values).transpose(1, 2).reshape(B, t, C)
            x = x + attn.c_proj(y)
            x = x + block.mlp(block.ln_2(x))
        return model.lm_head(tr.ln_f(x[:, -1:]))[:, -1]

    for _ in range(max_new_tokens):
        if 0 < filled < block_size:
            logits = run(idx[:, -1:], filled)
            filled += 1
        else:
            context = idx[:, -block_size:]
            logits = run(context, 0)
            filled = context.size(1)
        logits = logits / temperature
        if top_k is not None:
            kth = logits.topk(min(top_k, logits.size(-1)), dim=-1).values[:, -1:]
            logits = torch.where(logits < kth, float("-inf"), logits)
        nxt = torch.multinomial(logits.softmax(dim=-1), 1, generator=generator)
        idx = torch.cat((idx, nxt), dim=1)
    return idx


@alternative("generate_cached")
@torch.no_grad()
def token_by_token(model, idx, max_new_tokens, temperature=1.0, top_k=None, generator=None):
    """One path for everything: the prompt too is fed one token at a time; keys and values
    are cached as (B, L, C), before the split into heads, and attention is an einsum. Once
    the cache is full it is emptied and the cropped context fed again, token by token."""
    tr = model.transformer
    block_size = model.config.block_size
    keys, values = [], []  # per block: (B, L, C)

    def step(token):  # token (B, 1) at position len(cache) → logits (B, V)
        L = keys[0].size(1) if keys else 0
        x = tr.drop(tr.wte(token) + tr.wpe(torch.tensor([L], device=token.device)))
        for i, block in enumerate(tr.h):
            attn, h = block.attn, block.ln_1(x)
            B, _, C = h.shape
            nh = attn.n_head
            q, k, v = attn.c_attn(h).split(C, dim=2)
            if len(keys) <= i:
                keys.append(k)
                values.append(v)
            else:
                keys[i] = torch.cat((keys[i], k), dim=1)
                values[i] = torch.cat((values[i], v), dim=1)
            qh = q.view(B, nh, -1)  # (B, nh, hs): one query
            kh = keys[i].view(B, -1, nh, C // nh)  # (B, L + 1, nh, hs)
            vh = values[i].view(B, -1, nh, C // nh)
            w = torch.einsum("bhd,blhd->bhl", qh, kh) * (C // nh) ** -0.5
            y = torch.einsum("bhl,blhd->bhd", w.softmax(dim=-1), vh).reshape(B, 1, C)
            x = x + attn.c_proj(y)
            x = x + block.mlp(block.ln_2(x))
        return model.lm_head(tr.ln_f(x))[:, 0]

    logits = None
    for _ in range(max_new_tokens):
        if logits is None or keys[0].size(1) == block_size:
            keys.clear()
            values.clear()
            for j in range(min(idx.size(1), block_size)):
                logits = step(idx[:, -min(idx.size(1), block_size) + j :][:, :1])
        else:
            logits = step(idx[:, -1:])
        scaled = logits / temperature
        if top_k is not None:
            kth = scaled.topk(min(top_k, scaled.size(-1))).values[:, -1:]
            scaled = scaled.masked_fill(scaled < kth, float("-inf"))
        nxt = torch.multinomial(F.softmax(scaled, dim=-1), 1, generator=generator)
        idx = torch.cat((idx, nxt), dim=1)
    return idx
