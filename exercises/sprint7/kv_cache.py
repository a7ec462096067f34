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
    raise NotImplementedError("sprint7.kv_cache.generate_cached")
