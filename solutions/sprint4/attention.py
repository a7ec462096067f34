"""Attention from scratch: the causal mask, scaled dot-product attention, one head, and
GPT-2's multi-head causal self-attention.

Shapes: B batch, T time, C channels (n_embd), nh heads, hs head size (C // nh).
"From scratch" means matmul, arithmetic, exp, max, sum, where, masked_fill, softmax, ...:
torch's fused attention (torch.nn.functional.scaled_dot_product_attention) is off limits
in `scaled_dot_product_attention`, and the grader enforces it.
"""

import math

import torch
from torch import Tensor, nn


def causal_mask(T: int, device=None) -> Tensor:
    """A bool (T, T) tensor on `device` (None: the default device), True where query i
    may see key j, that is j ≤ i: True on and below the diagonal, False above it.

    causal_mask(3) == [[True, False, False], [True, True, False], [True, True, True]].
    """
    return torch.ones(T, T, dtype=torch.bool, device=device).tril()  # (T, T)


def _attention_weights(q: Tensor, k: Tensor, mask: Tensor | None) -> Tensor:
    """softmax(q·kᵀ/√d) over the keys, masked keys at −inf: (…, Tq, Tk)."""
    att = q @ k.transpose(-2, -1) * (1.0 / math.sqrt(q.size(-1)))  # (…, Tq, Tk)
    if mask is not None:
        att = att.masked_fill(~mask, float("-inf"))
    return torch.softmax(att, dim=-1)


def scaled_dot_product_attention(
    q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None
) -> Tensor:
    """softmax(q·kᵀ / √d) · v, the weights taken over the keys (the last dim of q·kᵀ).

    q (…, Tq, d), k (…, Tk, d), v (…, Tk, dv) → (…, Tq, dv), in q's dtype; the leading
    dims … (none, or any number: (B, nh), say) broadcast. `mask`, when given, is a bool
    tensor broadcastable to (…, Tq, Tk): key j is excluded from query i's softmax where
    it is False (its weight is exactly 0; a score of −inf before the softmax does that,
    a score of 0 does not). Equal to
    torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask), which this
    kata may not call. Every query row sees at least one key. Differentiable; q, k, v and
    mask left unchanged.

    Off limits (the grader refuses each under any name, torch.ops.aten included):
    torch.nn.functional.scaled_dot_product_attention,
    torch._scaled_dot_product_attention_math,
    torch.nn.functional.multi_head_attention_forward,
    torch.nn.MultiheadAttention.forward.
    """
    return _attention_weights(q, k, mask) @ v  # (…, Tq, Tk) x (…, Tk, dv) → (…, Tq, dv)


class AttentionHead(nn.Module):
    """One head of causal self-attention.

    AttentionHead(n_embd, head_size, block_size, dropout=0.0) has `key`, `query` and
    `value`, each nn.Linear(n_embd, head_size, bias=False). forward maps x (B, T, C) with
    C == n_embd and T ≤ block_size to (B, T, head_size):

        q, k, v = query(x), key(x), value(x)          # (B, T, hs) each
        wei = softmax(q·kᵀ / √head_size)             # (B, T, T), causal: j ≤ i only
        out = dropout(wei) · v                        # (B, T, hs)

    Causal: out[:, t] depends on x[:, :t+1] only. Dropout (probability `dropout`) acts
    on the attention weights in training mode only; in eval mode, or with dropout=0.0,
    the output is deterministic.
    """

    def __init__(self, n_embd: int, head_size: int, block_size: int, dropout: float = 0.0):
        super().__init__()
        self.key = nn.Linear(n_embd, head_size, bias=False)
        self.query = nn.Linear(n_embd, head_size, bias=False)
        self.value = nn.Linear(n_embd, head_size, bias=False)
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("mask", causal_mask(block_size), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        """x (B, T, C) → (B, T, head_size), causal."""
        T = x.size(1)  # time; x is (B, T, C)
        q, k, v = self.query(x), self.key(x), self.value(x)  # (B, T, hs) each
        wei = _attention_weights(q, k, self.mask[:T, :T])  # (B, T, T)
        return self.dropout(wei) @ v  # (B, T, hs)


class MultiHeadAttention(nn.Module):
    """GPT-2's causal self-attention with n_head heads, as nanoGPT's CausalSelfAttention.

    MultiHeadAttention(n_embd, n_head, block_size, dropout=0.0, bias=True) has
    - `c_attn` = nn.Linear(n_embd, 3·n_embd, bias=bias): its output splits along the last
      dim into q, k, v in that order, each (B, T, C);
    - `c_proj` = nn.Linear(n_embd, n_embd, bias=bias);
    - `attn_dropout` (on the attention weights) and `resid_dropout` (on the output), both
      nn.Dropout(dropout).
    forward maps x (B, T, C), T ≤ block_size, to (B, T, C). Each of q, k, v is laid out in
    heads as sprint1's split_heads does: (B, T, C) → (B, nh, T, hs), head h holding
    channels h·hs … (h+1)·hs − 1, hs = C // nh. Each head attends causally with scores
    scaled by 1/√hs (the head size, not C); the heads' outputs (B, nh, T, hs) are merged
    back to (B, T, C) in the same layout, then c_proj and resid_dropout. Dropout acts in
    training mode only. Raises ValueError when n_embd is not divisible by n_head.
    """

    def __init__(
        self, n_embd: int, n_head: int, block_size: int, dropout: float = 0.0, bias: bool = True
    ):
        super().__init__()
        if n_embd % n_head != 0:
            raise ValueError(f"n_embd={n_embd} is not divisible by n_head={n_head}")
        self.n_head = n_head
        self.n_embd = n_embd
        self.c_attn = nn.Linear(n_embd, 3 * n_embd, bias=bias)  # q, k, v for all heads
        self.c_proj = nn.Linear(n_embd, n_embd, bias=bias)
        self.attn_dropout = nn.Dropout(dropout)
        self.resid_dropout = nn.Dropout(dropout)
        self.register_buffer("mask", causal_mask(block_size), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        """x (B, T, C) → (B, T, C), causal."""
        B, T, C = x.size()  # batch, time, channels (n_embd)
        nh, hs = self.n_head, C // self.n_head
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)  # (B, T, C) each
        q = q.view(B, T, nh, hs).transpose(1, 2)  # (B, nh, T, hs)
        k = k.view(B, T, nh, hs).transpose(1, 2)  # (B, nh, T, hs)
        v = v.view(B, T, nh, hs).transpose(1, 2)  # (B, nh, T, hs)
        att = _attention_weights(q, k, self.mask[:T, :T])  # (B, nh, T, T)
        y = self.attn_dropout(att) @ v  # (B, nh, T, hs)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # (B, T, C): heads side by side
        return self.resid_dropout(self.c_proj(y))
