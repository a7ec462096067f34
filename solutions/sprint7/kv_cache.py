"""A KV cache: sampling from a GPT where each new token costs one position's work.

Sprint 5's GPT.generate runs the whole context through the model for every new token, T
positions of work for one token. In a causal model the keys and values of the positions
already seen do not change when a token is appended (attention only looks back), so keep
them: each block's k and v, (B, nh, L, hs) for the L positions seen so far, and feed the
model only the new token, which attends to the cached keys and values and its own.

Shapes: B batch, T time, C channels (n_embd), nh heads, hs = C // nh head size, V vocab.
"""

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@torch.no_grad()
def generate_cached(
    model: nn.Module,
    idx: Tensor,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Extend idx int64 (B, T) by max_new_tokens sampled tokens → int64 (B, T + new): the
    same tokens as GPT.generate(idx, max_new_tokens, temperature, top_k, generator) with
    a generator seeded alike, but with a KV cache.

    The sampling is generate's: each step takes the last position's logits / temperature,
    keeps only the top_k largest when top_k is given (the rest −inf), and draws one token
    per row with torch.multinomial(softmax(·), 1, generator=generator). idx may be longer
    than block_size; the model sees the last block_size tokens, as generate feeds them.

    The model is used only through these parts, nanoGPT's names (Sprint 5's GPT has them,
    and so does any model built alike), each called as a module:
    - model.config.block_size, the longest context;
    - model.transformer.wte (token embedding), .wpe (position embedding, absolute),
      .drop, .h (the blocks), .ln_f; model.lm_head (C → V);
    - in each block: ln_1; attn.c_attn (C → 3C, its output split along the last dim into
      q, k, v in that order, heads laid out as (B, nh, T, hs)); attn.n_head; attn.c_proj;
      ln_2; mlp. A block computes x = x + c_proj(attention(ln_1(x))), then
      x = x + mlp(ln_2(x)), attention being causal softmax(q kᵀ / √hs) v per head.
    Attention is recomputed here from q, k, v (without the model's attention dropout), so
    the tokens are generate's for a model in eval mode or with dropout 0.

    The cost: the first step runs the (cropped) prompt and keeps every block's k and v;
    each later step runs only the newest token, at position L (the number of positions
    cached), and appends its k and v: one position's work per token while the context
    fits in block_size. Past block_size the positions shift: generate feeds the last
    block_size tokens at positions 0 … block_size − 1, so every cached key and value,
    computed at its old position, is stale (position embeddings are absolute). A sliding
    cache would not give generate's tokens, so this one is rebuilt instead: once it holds
    block_size positions, each step runs the last block_size tokens afresh, exactly as
    generate does (block_size positions of work a token from then on).

    No gradients are recorded; the global RNG is untouched when a generator is given;
    neither idx nor the model's mode (train/eval) is changed.
    """
    block_size = model.config.block_size
    cache: list[tuple[Tensor, Tensor]] = []  # per block: k, v (B, nh, L, hs)
    for _ in range(max_new_tokens):
        cached = cache[0][0].size(2) if cache else 0  # L, the positions in the cache
        if cache and cached < block_size:
            logits = _forward(model, idx[:, -1:], cache, start=cached)  # the newest token
        else:  # the first step, or a full cache: (re)build it from the cropped context
            cache = []
            logits = _forward(model, idx[:, -block_size:], cache, start=0)
        logits = logits[:, -1, :] / temperature  # (B, V)
        if top_k is not None:
            v, _ = torch.topk(logits, min(top_k, logits.size(-1)))  # (B, k)
            logits[logits < v[:, [-1]]] = -float("inf")
        probs = F.softmax(logits, dim=-1)
        idx_next = torch.multinomial(probs, num_samples=1, generator=generator)  # (B, 1)
        idx = torch.cat((idx, idx_next), dim=1)
    return idx


def _forward(model: nn.Module, idx: Tensor, cache: list, start: int) -> Tensor:
    """Logits (B, t, V) of the t tokens idx (B, t) at positions start … start + t − 1,
    attending to the cached keys and values too; appends theirs to the cache (an empty
    cache is filled, one entry per block)."""
    tr = model.transformer
    t = idx.size(1)
    pos = torch.arange(start, start + t, dtype=torch.long, device=idx.device)  # (t,)
    x = tr.drop(tr.wte(idx) + tr.wpe(pos))  # (B, t, C)
    for i, block in enumerate(tr.h):
        past = cache[i] if i < len(cache) else None
        y, kv = _attention(block.attn, block.ln_1(x), past)
        if past is None:
            cache.append(kv)
        else:
            cache[i] = kv
        x = x + y
        x = x + block.mlp(block.ln_2(x))
    return model.lm_head(tr.ln_f(x))


def _attention(attn: nn.Module, x: Tensor, past: tuple[Tensor, Tensor] | None):
    """Causal self-attention of x (B, t, C) over the cached positions and its own →
    (output (B, t, C), (k, v) with the new positions appended, each (B, nh, L + t, hs))."""
    B, t, C = x.size()
    nh = attn.n_head
    q, k, v = attn.c_attn(x).split(C, dim=2)  # (B, t, C) each
    q, k, v = (z.view(B, t, nh, C // nh).transpose(1, 2) for z in (q, k, v))  # (B, nh, t, hs)
    if past is not None:
        k = torch.cat((past[0], k), dim=2)  # (B, nh, L + t, hs): along time
        v = torch.cat((past[1], v), dim=2)
    # a prompt (nothing cached) attends causally; one new token attends to every position
    # (is_causal aligns its mask to the top left: with one query it would see only key 0)
    y = F.scaled_dot_product_attention(q, k, v, is_causal=past is None)  # (B, nh, t, hs)
    y = y.transpose(1, 2).contiguous().view(B, t, C)  # heads side by side again
    return attn.c_proj(y), (k, v)
