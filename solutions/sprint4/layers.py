"""The parts of a transformer block: sinusoidal positions, LayerNorm from scratch, GPT-2's
feed-forward network, and the pre-norm Block that joins them to attention.

Shapes: B batch, T time, C channels (n_embd). "From scratch" for LayerNorm means mean,
arithmetic, sqrt/rsqrt, ...: torch's layer_norm is off limits, and the grader enforces it.
"""

import torch
from torch import Tensor, nn

from .attention import MultiHeadAttention


def sinusoidal_positions(T: int, d: int) -> Tensor:
    """The fixed position encoding of "Attention Is All You Need": a float32 (T, d) tensor

        PE[p, 2i]     = sin(p / 10000^(2i/d))
        PE[p, 2i + 1] = cos(p / 10000^(2i/d))

    for positions p = 0 … T−1: sines in the even columns, cosines in the odd ones,
    interleaved (column pair 2i, 2i+1 shares one frequency). For odd d the last column
    is a sine. Row 0 is [0, 1, 0, 1, …].
    """
    pos = torch.arange(T, dtype=torch.float64)[:, None]  # (T, 1)
    two_i = torch.arange(0, d, 2, dtype=torch.float64)  # (⌈d/2⌉,) the even columns
    angles = pos / 10000 ** (two_i / d)  # (T, ⌈d/2⌉)
    pe = torch.zeros(T, d, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angles)
    pe[:, 1::2] = torch.cos(angles[:, : d // 2])
    return pe.float()


class LayerNorm(nn.Module):
    """Layer normalisation over the last dim, as nn.LayerNorm(n, eps, bias=bias).

    LayerNorm(n, eps=1e-5, bias=True) has `weight`, an nn.Parameter of ones (n,), and
    `bias`, an nn.Parameter of zeros (n,), or None when bias=False. forward maps x (…, n)
    to the same shape and dtype:

        y = (x − mean) / √(var + eps) · weight + bias

    with mean and var taken over the last dim, var the biased variance (divide by n, not
    n − 1) and eps inside the square root. Differentiable; x left unchanged.

    Off limits, torch's normalisations, which give the same result on a reshaped input
    (the grader refuses each under any name, nn modules and an inherited forward
    included): torch.nn.functional.layer_norm, torch.nn.functional.group_norm,
    torch.nn.functional.batch_norm, torch.nn.functional.instance_norm,
    torch.nn.LayerNorm.forward.
    """

    def __init__(self, n: int, eps: float = 1e-5, bias: bool = True):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(n))
        self.bias = nn.Parameter(torch.zeros(n)) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        """x (…, n) → (…, n), normalised over the last dim."""
        mean = x.mean(dim=-1, keepdim=True)  # (…, 1)
        xc = x - mean
        var = (xc * xc).mean(dim=-1, keepdim=True)  # (…, 1) biased
        y = xc / torch.sqrt(var + self.eps) * self.weight
        return y + self.bias if self.bias is not None else y


class FeedForward(nn.Module):
    """GPT-2's position-wise feed-forward network (nanoGPT's MLP).

    FeedForward(n_embd, dropout=0.0, bias=True) has `c_fc` = nn.Linear(n_embd, 4·n_embd,
    bias=bias), `c_proj` = nn.Linear(4·n_embd, n_embd, bias=bias) and `dropout` =
    nn.Dropout(dropout). forward maps x (B, T, C) (any (…, C)) to the same shape:

        dropout(c_proj(gelu(c_fc(x))))

    with GELU's tanh approximation, as GPT-2:
    gelu(u) = ½·u·(1 + tanh(√(2/π)·(u + 0.044715·u³))) (nn.GELU(approximate="tanh")).
    """

    def __init__(self, n_embd: int, dropout: float = 0.0, bias: bool = True):
        super().__init__()
        self.c_fc = nn.Linear(n_embd, 4 * n_embd, bias=bias)
        self.gelu = nn.GELU(approximate="tanh")
        self.c_proj = nn.Linear(4 * n_embd, n_embd, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        """x (…, C) → (…, C)."""
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    """A pre-norm transformer block, as GPT-2's.

    Block(n_embd, n_head, block_size, dropout=0.0, bias=True) has `ln_1` =
    LayerNorm(n_embd, bias=bias), `attn` = MultiHeadAttention(n_embd, n_head, block_size,
    dropout, bias), `ln_2` = LayerNorm(n_embd, bias=bias) and `mlp` = FeedForward(n_embd,
    dropout, bias). forward maps x (B, T, C), T ≤ block_size, to (B, T, C):

        x = x + attn(ln_1(x))
        x = x + mlp(ln_2(x))

    normalising each sub-layer's input (pre-norm), never the residual stream itself.
    Causal, since attn is; x left unchanged.
    """

    def __init__(
        self, n_embd: int, n_head: int, block_size: int, dropout: float = 0.0, bias: bool = True
    ):
        super().__init__()
        self.ln_1 = LayerNorm(n_embd, bias=bias)
        self.attn = MultiHeadAttention(n_embd, n_head, block_size, dropout, bias)
        self.ln_2 = LayerNorm(n_embd, bias=bias)
        self.mlp = FeedForward(n_embd, dropout, bias)

    def forward(self, x: Tensor) -> Tensor:
        """x (B, T, C) → (B, T, C)."""
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))
