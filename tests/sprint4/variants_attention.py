import math

import torch
import torch.nn.functional as F
from torch import nn

from grader.variants import alternative, mistake

# --- causal_mask --------------------------------------------------------------------------


@mistake("causal_mask")
def mask_upper_triangular(T, device=None):
    """triu instead of tril: each query sees the future keys, not the past"""
    return torch.ones(T, T, dtype=torch.bool, device=device).triu()


@mistake("causal_mask")
def mask_inverted(T, device=None):
    """~tril: True where j > i, the keys a query must not see"""
    return ~torch.ones(T, T, dtype=torch.bool, device=device).tril()


@mistake("causal_mask")
def mask_float(T, device=None):
    """torch.tril(torch.ones(T, T)): a float mask of 1.0 and 0.0, not bool"""
    return torch.tril(torch.ones(T, T, device=device))


@mistake("causal_mask")
def mask_strictly_lower(T, device=None):
    """tril(diagonal=-1): a token cannot see itself"""
    return torch.ones(T, T, dtype=torch.bool, device=device).tril(diagonal=-1)


@mistake("causal_mask")
def mask_ignores_device(T, device=None):
    """the mask is built without the device argument, whatever device says: it lands on the
    default device"""
    return torch.ones(T, T, dtype=torch.bool).tril()


@mistake("causal_mask")
def mask_positions_on_two_devices(T, device=None):
    """compares the key positions, made on `device`, with query positions made on the
    default device: a device error anywhere but the default"""
    return torch.arange(T, device=device)[None, :] <= torch.arange(T)[:, None]


@alternative("causal_mask")
def mask_built_then_moved(T, device=None):
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    return mask if device is None else mask.to(device=device)


@alternative("causal_mask")
def mask_by_comparing_positions(T, device=None):
    i = torch.arange(T, device=device)
    return i[None, :] <= i[:, None]  # (T, T): key j ≤ query i


@alternative("causal_mask")
def mask_torch_tril(T, device=None):
    return torch.tril(torch.ones(T, T, device=device)).bool()


# --- scaled_dot_product_attention -----------------------------------------------------------


@mistake("scaled_dot_product_attention")
def sdpa_calls_torch(q, k, v, mask=None):
    """calls F.scaled_dot_product_attention, the shortcut this kata asks you to write"""
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


@mistake("scaled_dot_product_attention")
def sdpa_divides_by_d(q, k, v, mask=None):
    """divides the scores by d instead of √d"""
    att = q @ k.transpose(-2, -1) / q.size(-1)
    if mask is not None:
        att = att.masked_fill(~mask, float("-inf"))
    return torch.softmax(att, dim=-1) @ v


@mistake("scaled_dot_product_attention")
def sdpa_softmax_over_queries(q, k, v, mask=None):
    """softmax over dim=-2, the queries, instead of over the keys"""
    att = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))
    if mask is not None:
        att = att.masked_fill(~mask, float("-inf"))
    return torch.softmax(att, dim=-2) @ v


@mistake("scaled_dot_product_attention")
def sdpa_masks_with_zero(q, k, v, mask=None):
    """sets the masked scores to 0 instead of −inf, so masked keys keep weight e^0"""
    att = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))
    if mask is not None:
        att = att.masked_fill(~mask, 0.0)
    return torch.softmax(att, dim=-1) @ v


@mistake("scaled_dot_product_attention")
def sdpa_mask_inverted(q, k, v, mask=None):
    """masked_fill(mask, -inf): removes the keys the mask keeps, keeps the ones it removes"""
    att = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))
    if mask is not None:
        att = att.masked_fill(mask, float("-inf"))
    return torch.softmax(att, dim=-1) @ v


@mistake("scaled_dot_product_attention")
def sdpa_masks_after_softmax(q, k, v, mask=None):
    """zeroes the masked weights after the softmax: the rows no longer sum to 1"""
    att = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.size(-1)), dim=-1)
    if mask is not None:
        att = att * mask
    return att @ v


@mistake("scaled_dot_product_attention")
def sdpa_scales_q_in_place(q, k, v, mask=None):
    """q /= √d: the right scores, but the caller's q is changed"""
    q /= math.sqrt(q.size(-1))
    att = q @ k.transpose(-2, -1)
    if mask is not None:
        att = att.masked_fill(~mask, float("-inf"))
    return torch.softmax(att, dim=-1) @ v


@alternative("scaled_dot_product_attention")
def sdpa_einsum_where(q, k, v, mask=None):
    att = torch.einsum("...qd,...kd->...qk", q, k) / math.sqrt(q.size(-1))
    if mask is not None:
        att = torch.where(mask, att, float("-inf"))
    return torch.einsum("...qk,...kv->...qv", torch.softmax(att, dim=-1), v)


@alternative("scaled_dot_product_attention")
def sdpa_additive_mask(q, k, v, mask=None):
    att = (q / math.sqrt(q.size(-1))) @ k.mT
    if mask is not None:
        bias = torch.zeros(mask.shape, dtype=q.dtype).masked_fill(~mask, float("-inf"))
        att = att + bias
    att = att - att.amax(dim=-1, keepdim=True)
    e = att.exp()
    return (e / e.sum(dim=-1, keepdim=True)) @ v


# --- AttentionHead ------------------------------------------------------------------------


class _HeadLayers(nn.Module):
    def __init__(self, n_embd, head_size, block_size, dropout=0.0):
        super().__init__()
        self.key = nn.Linear(n_embd, head_size, bias=False)
        self.query = nn.Linear(n_embd, head_size, bias=False)
        self.value = nn.Linear(n_embd, head_size, bias=False)
        self.dropout = nn.Dropout(dropout)
        self.n_embd = n_embd

    def masked_attention(self, x, mask):
        """mask: (≥T, ≥T), nonzero where a key may be seen; its top-left T × T is used."""
        T = x.size(1)
        q, k, v = self.query(x), self.key(x), self.value(x)
        wei = q @ k.transpose(-2, -1) * k.size(-1) ** -0.5
        wei = wei.masked_fill(mask[:T, :T] == 0, float("-inf"))
        return self.dropout(torch.softmax(wei, dim=-1)) @ v


class _Head(_HeadLayers):
    def __init__(self, n_embd, head_size, block_size, dropout=0.0):
        super().__init__(n_embd, head_size, block_size, dropout)
        self.register_buffer("tril", torch.tril(torch.ones(block_size, block_size)))


@mistake("AttentionHead")
class HeadScaledByNEmbd(_Head):
    """scales the scores by 1/√n_embd (C) instead of 1/√head_size"""

    def forward(self, x):
        T, C = x.shape[1:]
        q, k, v = self.query(x), self.key(x), self.value(x)
        wei = q @ k.transpose(-2, -1) * C**-0.5
        wei = wei.masked_fill(self.tril[:T, :T] == 0, float("-inf"))
        return self.dropout(torch.softmax(wei, dim=-1)) @ v


@mistake("AttentionHead")
class HeadNotCausal(_Head):
    """forgets the causal mask: every token also attends to the future"""

    def forward(self, x):
        q, k, v = self.query(x), self.key(x), self.value(x)
        wei = q @ k.transpose(-2, -1) * k.size(-1) ** -0.5
        return self.dropout(torch.softmax(wei, dim=-1)) @ v


@mistake("AttentionHead")
class HeadMaskAfterSoftmax(_Head):
    """multiplies the weights by the lower-triangular mask after the softmax"""

    def forward(self, x):
        T = x.size(1)
        q, k, v = self.query(x), self.key(x), self.value(x)
        wei = torch.softmax(q @ k.transpose(-2, -1) * k.size(-1) ** -0.5, dim=-1)
        return self.dropout(wei * self.tril[:T, :T]) @ v


@mistake("AttentionHead")
class HeadWithBias(_Head):
    """key/query/value built with nn.Linear's default bias=True"""

    def __init__(self, n_embd, head_size, block_size, dropout=0.0):
        super().__init__(n_embd, head_size, block_size, dropout)
        self.key = nn.Linear(n_embd, head_size)
        self.query = nn.Linear(n_embd, head_size)
        self.value = nn.Linear(n_embd, head_size)

    def forward(self, x):
        T = x.size(1)
        q, k, v = self.query(x), self.key(x), self.value(x)
        wei = q @ k.transpose(-2, -1) * k.size(-1) ** -0.5
        wei = wei.masked_fill(self.tril[:T, :T] == 0, float("-inf"))
        return self.dropout(torch.softmax(wei, dim=-1)) @ v


@mistake("AttentionHead")
class HeadFullBlockMask(_Head):
    """uses the whole (block_size, block_size) mask: fails when T < block_size"""

    def forward(self, x):
        q, k, v = self.query(x), self.key(x), self.value(x)
        wei = q @ k.transpose(-2, -1) * k.size(-1) ** -0.5
        wei = wei.masked_fill(self.tril == 0, float("-inf"))
        return self.dropout(torch.softmax(wei, dim=-1)) @ v


@mistake("AttentionHead")
class HeadMaskPlainAttribute(_HeadLayers):
    """keeps the causal mask as a plain tensor attribute, not a registered buffer: .to()
    leaves it on the CPU and state_dict() does not hold it"""

    def __init__(self, n_embd, head_size, block_size, dropout=0.0):
        super().__init__(n_embd, head_size, block_size, dropout)
        self.tril = torch.tril(torch.ones(block_size, block_size))

    def forward(self, x):
        return self.masked_attention(x, self.tril)


@mistake("AttentionHead")
class HeadMaskMadeOnCPU(_HeadLayers):
    """makes the mask in forward on the default device (the CPU), not on the input's: the
    module breaks once it and its input are on a GPU"""

    def forward(self, x):
        T = x.size(1)
        return self.masked_attention(x, torch.tril(torch.ones(T, T)))


@alternative("AttentionHead")
class HeadKarpathy(_Head):
    def forward(self, x):
        T = x.size(1)
        k = self.key(x)  # (B, T, hs)
        q = self.query(x)  # (B, T, hs)
        wei = q @ k.transpose(-2, -1) * k.shape[-1] ** -0.5  # (B, T, T)
        wei = wei.masked_fill(self.tril[:T, :T] == 0, float("-inf"))
        wei = self.dropout(F.softmax(wei, dim=-1))
        return wei @ self.value(x)


@alternative("AttentionHead")
class HeadEinsumWhere(_Head):
    def forward(self, x):
        T = x.size(1)
        q, k, v = self.query(x), self.key(x), self.value(x)
        wei = torch.einsum("btd,bsd->bts", q, k) / math.sqrt(q.size(-1))
        pos = torch.arange(T, device=x.device)
        allowed = pos[None, :] <= pos[:, None]
        wei = torch.where(allowed, wei, float("-inf")).softmax(dim=-1)
        return torch.einsum("bts,bsd->btd", self.dropout(wei), v)


@alternative("AttentionHead")
class HeadMaskMadeInForward(_HeadLayers):
    """no buffer at all: the mask is made in forward, on the input's device"""

    def forward(self, x):
        T = x.size(1)
        return self.masked_attention(x, torch.ones(T, T, device=x.device).tril())


@alternative("AttentionHead")
class HeadNonPersistentBuffer(_HeadLayers):
    """a bool mask registered with persistent=False: it moves with the module and stays out
    of state_dict(), which the contract allows"""

    def __init__(self, n_embd, head_size, block_size, dropout=0.0):
        super().__init__(n_embd, head_size, block_size, dropout)
        mask = torch.ones(block_size, block_size, dtype=torch.bool).tril()
        self.register_buffer("causal", mask, persistent=False)

    def forward(self, x):
        return self.masked_attention(x, self.causal)


# --- MultiHeadAttention ---------------------------------------------------------------------


class _MHALayers(nn.Module):
    check_heads = True

    def __init__(self, n_embd, n_head, block_size, dropout=0.0, bias=True):
        super().__init__()
        if self.check_heads and n_embd % n_head:
            raise ValueError(f"{n_head} heads do not divide n_embd={n_embd}")
        self.n_head, self.n_embd, self.dropout = n_head, n_embd, dropout
        self.c_attn = nn.Linear(n_embd, 3 * n_embd, bias=bias)
        self.c_proj = nn.Linear(n_embd, n_embd, bias=bias)
        self.attn_dropout = nn.Dropout(dropout)
        self.resid_dropout = nn.Dropout(dropout)

    def heads(self, t):
        B, T, C = t.shape
        return t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)

    def merge(self, y):
        B, nh, T, hs = y.shape
        return y.transpose(1, 2).contiguous().view(B, T, nh * hs)

    def masked_forward(self, x, mask):
        """mask: (≥T, ≥T), nonzero where a key may be seen; its top-left T × T is used."""
        T, C = x.shape[1:]
        q, k, v = (self.heads(t) for t in self.c_attn(x).split(C, dim=2))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(C // self.n_head)
        att = att.masked_fill(mask[:T, :T] == 0, float("-inf"))
        y = self.attn_dropout(F.softmax(att, dim=-1)) @ v
        return self.resid_dropout(self.c_proj(self.merge(y)))


class _MHA(_MHALayers):
    def __init__(self, n_embd, n_head, block_size, dropout=0.0, bias=True):
        super().__init__(n_embd, n_head, block_size, dropout, bias)
        self.register_buffer("bias_mask", torch.tril(torch.ones(block_size, block_size)))

    def attend(self, q, k, v, scale):
        T = q.size(-2)
        att = (q @ k.transpose(-2, -1)) * scale
        att = att.masked_fill(self.bias_mask[:T, :T] == 0, float("-inf"))
        return self.attn_dropout(F.softmax(att, dim=-1)) @ v


@mistake("MultiHeadAttention")
class MHAScaledByNEmbd(_MHA):
    """scales the scores by 1/√n_embd (C) instead of 1/√hs, the head size"""

    def forward(self, x):
        C = x.size(-1)
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        y = self.attend(self.heads(q), self.heads(k), self.heads(v), 1.0 / math.sqrt(C))
        return self.resid_dropout(self.c_proj(self.merge(y)))


@mistake("MultiHeadAttention")
class MHASplitKQV(_MHA):
    """splits c_attn's output as k, q, v instead of q, k, v"""

    def forward(self, x):
        k, q, v = self.c_attn(x).split(self.n_embd, dim=2)
        hs = self.n_embd // self.n_head
        y = self.attend(self.heads(q), self.heads(k), self.heads(v), 1.0 / math.sqrt(hs))
        return self.resid_dropout(self.c_proj(self.merge(y)))


@mistake("MultiHeadAttention")
class MHAViewWithoutTranspose(_MHA):
    """splits the heads with view(B, nh, T, hs), no transpose: heads get jumbled rows"""

    def forward(self, x):
        B, T, C = x.size()
        nh, hs = self.n_head, C // self.n_head
        q, k, v = (t.reshape(B, nh, T, hs) for t in self.c_attn(x).split(C, dim=2))
        y = self.attend(q, k, v, 1.0 / math.sqrt(hs))
        return self.resid_dropout(self.c_proj(self.merge(y)))


@mistake("MultiHeadAttention")
class MHAMergeWithoutTranspose(_MHA):
    """merges the heads with view(B, T, C) straight from (B, nh, T, hs)"""

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(C, dim=2)
        hs = C // self.n_head
        y = self.attend(self.heads(q), self.heads(k), self.heads(v), 1.0 / math.sqrt(hs))
        return self.resid_dropout(self.c_proj(y.reshape(B, T, C)))


@mistake("MultiHeadAttention")
class MHANotCausal(_MHA):
    """no causal mask: each token also attends to the future"""

    def forward(self, x):
        C = x.size(-1)
        q, k, v = (self.heads(t) for t in self.c_attn(x).split(C, dim=2))
        att = F.softmax(q @ k.transpose(-2, -1) / math.sqrt(C // self.n_head), dim=-1)
        y = self.attn_dropout(att) @ v
        return self.resid_dropout(self.c_proj(self.merge(y)))


@mistake("MultiHeadAttention")
class MHAIgnoresBiasFlag(_MHA):
    """ignores the bias flag: c_attn and c_proj always have a bias"""

    def __init__(self, n_embd, n_head, block_size, dropout=0.0, bias=True):
        super().__init__(n_embd, n_head, block_size, dropout, True)

    def forward(self, x):
        C = x.size(-1)
        q, k, v = (self.heads(t) for t in self.c_attn(x).split(C, dim=2))
        y = self.attend(q, k, v, 1.0 / math.sqrt(C // self.n_head))
        return self.resid_dropout(self.c_proj(self.merge(y)))


@mistake("MultiHeadAttention")
class MHAMaskPlainAttribute(_MHALayers):
    """keeps the causal mask as a plain tensor attribute, not a registered buffer: .to()
    leaves it on the CPU and state_dict() does not hold it"""

    def __init__(self, n_embd, n_head, block_size, dropout=0.0, bias=True):
        super().__init__(n_embd, n_head, block_size, dropout, bias)
        self.bias_mask = torch.tril(torch.ones(block_size, block_size))

    def forward(self, x):
        return self.masked_forward(x, self.bias_mask)


@mistake("MultiHeadAttention")
class MHANoHeadCheck(_MHA):
    """never checks that n_head divides n_embd: the mismatch only shows, if at all, as a
    shape error in forward"""

    check_heads = False

    def forward(self, x):
        return self.masked_forward(x, self.bias_mask)


@alternative("MultiHeadAttention")
class MHAFlash(_MHALayers):
    """nanoGPT's fast path: torch's fused attention (allowed here, unlike in the SDPA kata)"""

    def forward(self, x):
        C = x.size(-1)
        q, k, v = (self.heads(t) for t in self.c_attn(x).split(C, dim=2))
        y = F.scaled_dot_product_attention(
            q, k, v, dropout_p=self.dropout if self.training else 0.0, is_causal=True
        )
        return self.resid_dropout(self.c_proj(self.merge(y)))


@alternative("MultiHeadAttention")
class MHAEinsum(_MHALayers):
    """no buffer at all: the mask is made in forward, on the input's device"""

    def forward(self, x):
        B, T, C = x.size()
        nh, hs = self.n_head, C // self.n_head
        qkv = self.c_attn(x).view(B, T, 3, nh, hs)  # q, k, v; then the heads
        q, k, v = qkv.unbind(dim=2)  # (B, T, nh, hs) each
        att = torch.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(hs)
        allowed = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
        att = self.attn_dropout(torch.where(allowed, att, float("-inf")).softmax(dim=-1))
        y = torch.einsum("bhqk,bkhd->bqhd", att, v).reshape(B, T, C)
        return self.resid_dropout(self.c_proj(y))


@alternative("MultiHeadAttention")
class MHANonPersistentBuffer(_MHALayers):
    """a bool mask registered with persistent=False: it moves with the module and stays out
    of state_dict(), which the contract allows"""

    def __init__(self, n_embd, n_head, block_size, dropout=0.0, bias=True):
        super().__init__(n_embd, n_head, block_size, dropout, bias)
        mask = torch.ones(block_size, block_size, dtype=torch.bool).tril()
        self.register_buffer("causal", mask, persistent=False)

    def forward(self, x):
        return self.masked_forward(x, self.causal)


# --- side doors around the from-scratch guard ---------------------------------------------
# Each reaches torch's fused attention by a route the guard once missed: the aten op behind
# the public name, torch's unfused math attention, or another thread.


@mistake("scaled_dot_product_attention")
def sdpa_through_aten(q, k, v, mask=None):
    """calls torch.ops.aten.scaled_dot_product_attention, the op behind
    F.scaled_dot_product_attention"""
    return torch.ops.aten.scaled_dot_product_attention(q, k, v, attn_mask=mask)


@mistake("scaled_dot_product_attention")
def sdpa_math_through_aten(q, k, v, mask=None):
    """calls torch.ops.aten._scaled_dot_product_attention_math, torch's own unfused attention"""
    return torch.ops.aten._scaled_dot_product_attention_math(q, k, v, attn_mask=mask)[0]


@mistake("scaled_dot_product_attention")
def sdpa_in_a_thread_pool(q, k, v, mask=None):
    """hands F.scaled_dot_product_attention to a ThreadPoolExecutor: the shortcut runs in
    another thread, still on the kata's behalf"""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(F.scaled_dot_product_attention, q, k, v, attn_mask=mask).result()
