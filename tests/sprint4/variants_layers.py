import math

import torch
import torch.nn.functional as F
from torch import nn

from grader.variants import alternative, mistake

# --- sinusoidal_positions --------------------------------------------------------------------


def _angles(T, d, exponent_scale=2.0):
    pos = torch.arange(T, dtype=torch.float64)[:, None]
    i = torch.arange((d + 1) // 2, dtype=torch.float64)
    return pos / 10000 ** (exponent_scale * i / d)  # (T, ⌈d/2⌉)


def _interleave(sin, cos, d):
    pe = torch.zeros(sin.size(0), d, dtype=torch.float64)
    pe[:, 0::2] = sin
    pe[:, 1::2] = cos[:, : d // 2]
    return pe.float()


@mistake("sinusoidal_positions")
def positions_sin_cos_swapped(T, d):
    """cos in the even columns and sin in the odd ones"""
    a = _angles(T, d)
    return _interleave(torch.cos(a), torch.sin(a), d)


@mistake("sinusoidal_positions")
def positions_concatenated(T, d):
    """all the sines first, then all the cosines, instead of interleaving them"""
    a = _angles(T, d)
    return torch.cat([torch.sin(a), torch.cos(a)], dim=1)[:, :d].float()


@mistake("sinusoidal_positions")
def positions_exponent_i_over_d(T, d):
    """10000^(i/d) with i the pair index: the exponent must be 2i/d"""
    a = _angles(T, d, exponent_scale=1.0)
    return _interleave(torch.sin(a), torch.cos(a), d)


@mistake("sinusoidal_positions")
def positions_column_index(T, d):
    """10000^(j/d) with j the column itself: sin and cos of a pair get different frequencies"""
    pos = torch.arange(T, dtype=torch.float64)[:, None]
    j = torch.arange(d, dtype=torch.float64)
    a = pos / 10000 ** (j / d)
    return torch.where(j % 2 == 0, torch.sin(a), torch.cos(a)).float()


@alternative("sinusoidal_positions")
def positions_exp_log(T, d):
    pos = torch.arange(T).float().unsqueeze(1)  # (T, 1)
    div = torch.exp(torch.arange(0, d, 2).float() * (-math.log(10000.0) / d))  # (⌈d/2⌉,)
    pe = torch.zeros(T, d)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)[:, : d // 2]
    return pe


@alternative("sinusoidal_positions")
def positions_outer_stack(T, d):
    freq = torch.pow(10000.0, -torch.arange(0, d, 2, dtype=torch.float64) / d)
    a = torch.outer(torch.arange(T, dtype=torch.float64), freq)  # (T, ⌈d/2⌉)
    return torch.stack([a.sin(), a.cos()], dim=-1).reshape(T, -1)[:, :d].float()


# --- LayerNorm -----------------------------------------------------------------------------


class _LN(nn.Module):
    def __init__(self, n, eps=1e-5, bias=True):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(n))
        self.bias = nn.Parameter(torch.zeros(n)) if bias else None

    def affine(self, y):
        y = y * self.weight
        return y + self.bias if self.bias is not None else y


@mistake("LayerNorm")
class LNUnbiasedVariance(_LN):
    """x.var(-1): the unbiased variance (divides by n − 1); LayerNorm divides by n"""

    def forward(self, x):
        mean = x.mean(-1, keepdim=True)
        var = x.var(-1, keepdim=True)
        return self.affine((x - mean) / torch.sqrt(var + self.eps))


@mistake("LayerNorm")
class LNEpsOutsideSqrt(_LN):
    """divides by std + eps: eps belongs inside the square root, √(var + eps)"""

    def forward(self, x):
        mean = x.mean(-1, keepdim=True)
        std = x.std(-1, unbiased=False, keepdim=True)
        return self.affine((x - mean) / (std + self.eps))


@mistake("LayerNorm")
class LNOverAllDims(_LN):
    """x.mean() and x.var() over the whole tensor, not each row's last dim"""

    def forward(self, x):
        return self.affine((x - x.mean()) / torch.sqrt(x.var(unbiased=False) + self.eps))


@mistake("LayerNorm")
class LNCallsTorch(_LN):
    """calls F.layer_norm, the shortcut this kata asks you to write"""

    def forward(self, x):
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, self.eps)


@mistake("LayerNorm")
class LNPlainTensors(nn.Module):
    """weight and bias as plain tensors, not nn.Parameter: they never train"""

    def __init__(self, n, eps=1e-5, bias=True):
        super().__init__()
        self.eps = eps
        self.weight = torch.ones(n)
        self.bias = torch.zeros(n) if bias else None

    def forward(self, x):
        mean = x.mean(-1, keepdim=True)
        var = x.var(-1, unbiased=False, keepdim=True)
        y = (x - mean) / torch.sqrt(var + self.eps) * self.weight
        return y + self.bias if self.bias is not None else y


@mistake("LayerNorm")
class LNNoAffine(_LN):
    """normalises but never applies weight and bias"""

    def forward(self, x):
        mean = x.mean(-1, keepdim=True)
        var = x.var(-1, unbiased=False, keepdim=True)
        return (x - mean) / torch.sqrt(var + self.eps)


@alternative("LayerNorm")
class LNVarRsqrt(_LN):
    def forward(self, x):
        mean = x.mean(-1, keepdim=True)
        var = x.var(-1, unbiased=False, keepdim=True)
        return self.affine((x - mean) * torch.rsqrt(var + self.eps))


@alternative("LayerNorm")
class LNMeanOfSquares(_LN):
    def forward(self, x):
        mean = x.mean(-1, keepdim=True)
        var = (x * x).mean(-1, keepdim=True) - mean * mean  # E[x²] − E[x]²
        return self.affine((x - mean) / (var + self.eps).sqrt())


@alternative("LayerNorm")
class LNVarMean(_LN):
    def forward(self, x):
        var, mean = torch.var_mean(x, dim=-1, correction=0, keepdim=True)
        return self.affine((x - mean) / torch.sqrt(var + self.eps))


# --- FeedForward ---------------------------------------------------------------------------


class _FF(nn.Module):
    def __init__(self, n_embd, dropout=0.0, bias=True, hidden=None):
        super().__init__()
        self.c_fc = nn.Linear(n_embd, hidden or 4 * n_embd, bias=bias)
        self.c_proj = nn.Linear(hidden or 4 * n_embd, n_embd, bias=bias)
        self.dropout = nn.Dropout(dropout)


@mistake("FeedForward")
class FFExactGelu(_FF):
    """nn.GELU() with its default exact (erf) form: GPT-2 uses the tanh approximation"""

    def forward(self, x):
        return self.dropout(self.c_proj(F.gelu(self.c_fc(x))))


@mistake("FeedForward")
class FFRelu(_FF):
    """ReLU instead of GELU"""

    def forward(self, x):
        return self.dropout(self.c_proj(F.relu(self.c_fc(x))))


@mistake("FeedForward")
class FFHiddenNEmbd(_FF):
    """a hidden layer n_embd wide: GPT-2's MLP widens to 4·n_embd"""

    def __init__(self, n_embd, dropout=0.0, bias=True):
        super().__init__(n_embd, dropout, bias, hidden=n_embd)

    def forward(self, x):
        return self.dropout(self.c_proj(F.gelu(self.c_fc(x), approximate="tanh")))


@mistake("FeedForward")
class FFNoDropout(_FF):
    """creates the dropout layer but never applies it"""

    def forward(self, x):
        return self.c_proj(F.gelu(self.c_fc(x), approximate="tanh"))


@alternative("FeedForward")
class FFFunctionalGelu(_FF):
    def forward(self, x):
        return self.dropout(self.c_proj(F.gelu(self.c_fc(x), approximate="tanh")))


@alternative("FeedForward")
class FFExplicitTanh(_FF):
    def forward(self, x):
        h = self.c_fc(x)
        h = 0.5 * h * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (h + 0.044715 * h.pow(3))))
        return self.dropout(self.c_proj(h))


# --- Block -----------------------------------------------------------------------------------


class _Block(nn.Module):
    def __init__(self, n_embd, n_head, block_size, dropout=0.0, bias=True):
        super().__init__()
        from tests.sprint4.variants_attention import MHAEinsum

        self.ln_1 = nn.LayerNorm(n_embd, bias=bias)
        self.attn = MHAEinsum(n_embd, n_head, block_size, dropout, bias)
        self.ln_2 = nn.LayerNorm(n_embd, bias=bias)
        self.mlp = FFFunctionalGelu(n_embd, dropout, bias)


@mistake("Block")
class BlockPostNorm(_Block):
    """post-norm, x = ln(x + sublayer(x)), as the original Transformer: GPT-2 is pre-norm"""

    def forward(self, x):
        x = self.ln_1(x + self.attn(x))
        return self.ln_2(x + self.mlp(x))


@mistake("Block")
class BlockNoAttnResidual(_Block):
    """x = attn(ln_1(x)): no residual connection around attention"""

    def forward(self, x):
        x = self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


@mistake("Block")
class BlockNoMlpResidual(_Block):
    """x = mlp(ln_2(x)): no residual connection around the MLP"""

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return self.mlp(self.ln_2(x))


@mistake("Block")
class BlockOneLayerNorm(_Block):
    """ln_1 before both sub-layers: ln_2 is created but never used"""

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_1(x))


@mistake("Block")
class BlockNormalisesStream(_Block):
    """x = ln_1(x) then x = x + attn(x): the residual stream itself gets normalised"""

    def forward(self, x):
        x = self.ln_1(x)
        x = x + self.attn(x)
        x = self.ln_2(x)
        return x + self.mlp(x)


@mistake("Block")
class BlockAttentionPlainMask(_Block):
    """its attention keeps the causal mask as a plain tensor attribute, not a registered
    buffer: .to() leaves it on the CPU and state_dict() does not hold it"""

    def __init__(self, n_embd, n_head, block_size, dropout=0.0, bias=True):
        super().__init__(n_embd, n_head, block_size, dropout, bias)
        from tests.sprint4.variants_attention import MHAMaskPlainAttribute

        self.attn = MHAMaskPlainAttribute(n_embd, n_head, block_size, dropout, bias)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


@alternative("Block")
class BlockNamedSteps(_Block):
    def forward(self, x):
        h = self.ln_1(x)
        x = x + self.attn(h)
        h = self.ln_2(x)
        return x + self.mlp(h)


@alternative("Block")
class BlockSubLayers(_Block):
    def forward(self, x):
        for norm, sub in ((self.ln_1, self.attn), (self.ln_2, self.mlp)):
            x = x + sub(norm(x))
        return x


# --- side doors around the from-scratch guard ---------------------------------------------
# Each reaches torch's layer norm by a route the guard once missed: an inherited forward,
# the aten op behind the public name, a normalisation of the same family, another thread.


@mistake("LayerNorm")
class LNInheritsTorchForward(nn.LayerNorm):
    """subclasses nn.LayerNorm and inherits its forward: torch's layer_norm does the work"""

    def __init__(self, n, eps=1e-5, bias=True):
        super().__init__(n, eps=eps, bias=bias)


@mistake("LayerNorm")
class LNThroughAten(_LN):
    """calls torch.ops.aten.native_layer_norm, the op behind F.layer_norm"""

    def forward(self, x):
        shape = list(self.weight.shape)
        return torch.ops.aten.native_layer_norm(x, shape, self.weight, self.bias, self.eps)[0]


@mistake("LayerNorm")
class LNThroughGroupNorm(_LN):
    """one group of F.group_norm over rows of the last dim: the same numbers, from a
    normalisation torch already has"""

    def forward(self, x):
        rows = x.reshape(-1, x.shape[-1])
        return F.group_norm(rows, 1, self.weight, self.bias, self.eps).reshape(x.shape)


@mistake("LayerNorm")
class LNInAThreadPool(_LN):
    """hands F.layer_norm to a ThreadPoolExecutor: the shortcut runs in another thread,
    still on the kata's behalf"""

    def forward(self, x):
        from concurrent.futures import ThreadPoolExecutor

        shape = self.weight.shape
        with ThreadPoolExecutor(1) as pool:
            job = pool.submit(F.layer_norm, x, shape, self.weight, self.bias, self.eps)
            return job.result()
