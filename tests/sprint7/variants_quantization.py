"""Known mistakes and correct alternatives of sprint7.quantization."""

import torch
import torch.nn.functional as F
from torch import nn

from grader.variants import alternative, mistake

# --- quantize_int8 ------------------------------------------------------------------------


def _scale(w, dim):
    absmax = w.abs().amax(dim=dim, keepdim=True)
    scale = absmax / 127
    return scale, torch.where(scale == 0, torch.ones_like(scale), scale)


@mistake("quantize_int8")
def int8_truncated(w, dim=-1):
    """the codes cast to int8 straight from w / scale: the cast cuts the fraction off
    (toward zero) instead of rounding to the nearest code, up to a whole step off"""
    scale, safe = _scale(w, dim)
    return (w / safe).clamp(-127, 127).to(torch.int8), scale.squeeze(dim)


@mistake("quantize_int8")
def int8_one_scale_per_tensor(w, dim=-1):
    """one scale for the whole tensor (its largest magnitude / 127), repeated for every
    row: rows of small values get few codes"""
    scale = (w.abs().max() / 127).expand(w.abs().amax(dim=dim).shape).clone()
    safe = scale if scale.max() > 0 else torch.ones_like(scale)
    return torch.round(w / safe.unsqueeze(dim)).to(torch.int8), scale


@mistake("quantize_int8")
def int8_min_max(w, dim=-1):
    """asymmetric (min-max) quantization: scale (max − min) / 255 and codes shifted by the
    row's minimum, as if there were a zero point"""
    lo, hi = w.amin(dim=dim, keepdim=True), w.amax(dim=dim, keepdim=True)
    scale = (hi - lo) / 255
    safe = torch.where(scale == 0, torch.ones_like(scale), scale)
    q = torch.round((w - lo) / safe) - 128
    return q.clamp(-128, 127).to(torch.int8), scale.squeeze(dim)


@mistake("quantize_int8")
def int8_last_dim_always(w, dim=-1):
    """the scale taken along the last dim whatever dim is: rows and columns confused"""
    scale, safe = _scale(w, -1)
    return torch.round(w / safe).clamp(-127, 127).to(torch.int8), scale.squeeze(-1)


@mistake("quantize_int8")
def int8_scale_floor(w, dim=-1):
    """the scale clamped to at least 1e-8 so as never to divide by zero: rows of tiny
    values (1e-12) all round to code 0"""
    scale = (w.abs().amax(dim=dim, keepdim=True) / 127).clamp(min=1e-8)
    return torch.round(w / scale).clamp(-127, 127).to(torch.int8), scale.squeeze(dim)


@mistake("quantize_int8")
def int8_times_127_first(w, dim=-1):
    """the codes as w · 127 / max |w|, multiplying first: w · 127 overflows float32 to inf
    for |w| above ~2.7e36"""
    absmax = w.abs().amax(dim=dim, keepdim=True)
    safe = torch.where(absmax == 0, torch.ones_like(absmax), absmax)
    q = torch.round(w * 127 / safe).clamp(-127, 127).to(torch.int8)
    return q, (absmax / 127).squeeze(dim)


@mistake("quantize_int8")
def int8_scale_keepdim(w, dim=-1):
    """the scale returned with the quantized dim kept (size 1) instead of removed"""
    scale, safe = _scale(w, dim)
    return torch.round(w / safe).clamp(-127, 127).to(torch.int8), scale


@alternative("quantize_int8")
def int8_reciprocal_round_half_up(w, dim=-1):
    """w · (127 / max |w|) rounded half away from zero (floor(|x| + 0.5) with the sign);
    rows of zeros through nan_to_num"""
    absmax = w.abs().amax(dim=dim, keepdim=True)
    x = torch.nan_to_num(w * (127 / absmax), nan=0.0)
    q = torch.sign(x) * torch.floor(x.abs() + 0.5)
    return q.clamp(-127, 127).to(torch.int8), (absmax / 127).squeeze(dim)


@alternative("quantize_int8")
def int8_movedim_rows(w, dim=-1):
    """the dim moved last and flattened to rows, a scale per row with amax, back again"""
    moved = w.movedim(dim, -1)
    rows = moved.reshape(-1, moved.size(-1))
    absmax = rows.abs().max(dim=1).values
    scale = absmax / 127
    step = scale.clone()
    step[step == 0] = 1.0
    q = torch.round(rows / step[:, None]).clamp(-127, 127).to(torch.int8)
    q = q.reshape(moved.shape).movedim(-1, dim)
    return q, scale.reshape(moved.shape[:-1])


# --- dequantize_int8 ---------------------------------------------------------------------


@mistake("dequantize_int8")
def dequant_int8_divides(q, scale, dim=-1):
    """the codes divided by the scale instead of multiplied"""
    return q.to(scale.dtype) / scale.unsqueeze(dim)


@mistake("dequantize_int8")
def dequant_int8_last_dim_always(q, scale, dim=-1):
    """the scale spread along the last dim whatever dim is"""
    return q.to(scale.dtype) * scale.unsqueeze(-1)


@mistake("dequantize_int8")
def dequant_int8_float64(q, scale, dim=-1):
    """computed and returned in float64 whatever the scale's dtype"""
    return q.double() * scale.double().unsqueeze(dim)


@mistake("dequantize_int8")
def dequant_int8_half(q, scale, dim=-1):
    """the product taken in float16 (to save memory), then cast back: it rounds to
    float16's 11 bits"""
    return (q.half() * scale.half().unsqueeze(dim)).to(scale.dtype)


@alternative("dequantize_int8")
def dequant_int8_movedim(q, scale, dim=-1):
    """the dim moved last, each row scaled by broadcasting, moved back"""
    return (q.movedim(dim, -1).to(scale.dtype) * scale.unsqueeze(-1)).movedim(-1, dim)


@alternative("dequantize_int8")
def dequant_int8_view(q, scale, dim=-1):
    """the scale reshaped to q's shape with a 1 at dim, product in float64, cast back"""
    shape = list(q.shape)
    shape[dim] = 1
    return (q.double() * scale.double().reshape(shape)).to(scale.dtype)


# --- quantize_q4_0 -----------------------------------------------------------------------


def _blocks(w):
    return w.reshape(*w.shape[:-1], w.size(-1) // 32, 32)


def _q4(w, pick="first", sign=-8, inv_from="f32", codes_how="trunc", pack="halves", zero="neg",
        clip=True):  # fmt: skip
    """Q4_0 with one step done another way (each mistake below names its own)."""
    if w.size(-1) % 32:
        raise ValueError("K must be a multiple of 32")
    b = _blocks(w)
    if pick == "first":
        m = b.gather(-1, b.abs().argmax(-1, keepdim=True))
    elif pick == "absmax":
        m = b.abs().amax(-1, keepdim=True)
    elif pick == "max":
        m = b.amax(-1, keepdim=True)
    else:  # "by_sign": the positive one wins a tie
        hi, lo = b.amax(-1, keepdim=True), b.amin(-1, keepdim=True)
        m = torch.where(hi >= -lo, hi, lo)
    d = m / sign
    if zero == "pos":
        d = torch.where(d == 0, torch.zeros_like(d), d)
    src = d.half().float() if inv_from == "f16" else d
    if codes_how == "trunc":
        inv = 1 / src if zero == "nan" else torch.where(src == 0, torch.zeros_like(src), 1 / src)
        x = torch.trunc(b * inv + 8.5)
    elif codes_how == "round":
        inv = torch.where(src == 0, torch.zeros_like(src), 1 / src)
        x = torch.round(b * inv) + 8
    elif codes_how == "div":
        x = torch.trunc(b / torch.where(src == 0, torch.ones_like(src), src) + 8.5)
    else:  # "f64"
        dd = src.double()
        x = torch.trunc(b.double() * torch.where(dd == 0, torch.zeros_like(dd), 1 / dd) + 8.5)
    codes = (x.clamp(0, 15) if clip else x).to(torch.int64)
    if pack == "halves":
        q = codes[..., :16] | (codes[..., 16:] << 4)
    elif pack == "pairs":
        q = codes[..., 0::2] | (codes[..., 1::2] << 4)
    else:  # "swapped"
        q = codes[..., 16:] | (codes[..., :16] << 4)
    return (q & 0xFF).to(torch.uint8), d.squeeze(-1).half()


@mistake("quantize_q4_0")
def q4_pairs(w):
    """neighbouring elements packed together (element 2i in the low nibble, 2i + 1 in the
    high) instead of element j with element j + 16"""
    return _q4(w, pack="pairs")


@mistake("quantize_q4_0")
def q4_nibbles_swapped(w):
    """element j put in the high nibble and element j + 16 in the low one"""
    return _q4(w, pack="swapped")


@mistake("quantize_q4_0")
def q4_rounded(w):
    """codes rounded to the nearest (round, ties to even) plus 8, instead of trunc(x ·
    (1/d) + 8.5): the two part at ties"""
    return _q4(w, codes_how="round")


@mistake("quantize_q4_0")
def q4_divides_by_d(w):
    """codes from w / d instead of w · (1/d): they round differently near a tie"""
    return _q4(w, codes_how="div")


@mistake("quantize_q4_0")
def q4_in_float64(w):
    """the codes computed in float64: gguf rounds each step in float32"""
    return _q4(w, codes_how="f64")


@mistake("quantize_q4_0")
def q4_reciprocal_of_float16_scale(w):
    """1/d taken from the scale after its rounding to float16"""
    return _q4(w, inv_from="f16")


@mistake("quantize_q4_0")
def q4_not_clipped(w):
    """codes not clipped to 15: a 16 spills into the neighbouring nibble"""
    return _q4(w, clip=False)


@mistake("quantize_q4_0")
def q4_plus_eight(w):
    """d = m / 8 instead of m / −8"""
    return _q4(w, sign=8)


@mistake("quantize_q4_0")
def q4_magnitude_without_sign(w):
    """d from the largest magnitude without its sign (max |w| / −8)"""
    return _q4(w, pick="absmax")


@mistake("quantize_q4_0")
def q4_largest_value(w):
    """d from the largest value (max) rather than the entry of largest magnitude"""
    return _q4(w, pick="max")


@mistake("quantize_q4_0")
def q4_tie_by_sign(w):
    """m chosen from max and min, the positive one winning a tie of magnitudes: gguf takes
    the first of them in the block"""
    return _q4(w, pick="by_sign")


@mistake("quantize_q4_0")
def q4_zero_block_nan(w):
    """1/d taken even where d = 0: a block of zeros gives 0 · inf = NaN, cast to code 0"""
    return _q4(w, zero="nan")


@mistake("quantize_q4_0")
def q4_zero_block_plus_zero(w):
    """a block of zeros given the scale +0.0 apart, where gguf writes m / −8 = −0.0"""
    return _q4(w, zero="pos")


@mistake("quantize_q4_0")
def q4_scale_float32(w):
    """the scale returned in float32: Q4_0 stores it as float16"""
    q, _ = _q4(w)
    b = _blocks(w)
    return q, (b.gather(-1, b.abs().argmax(-1, keepdim=True)) / -8).squeeze(-1)


@mistake("quantize_q4_0")
def q4_scale_per_row(w):
    """one scale per row (its largest magnitude, with its sign, / −8) for all its blocks"""
    m = w.gather(-1, w.abs().argmax(-1, keepdim=True))
    d = m / -8
    inv = torch.where(d == 0, torch.zeros_like(d), 1 / d)
    codes = torch.trunc(_blocks(w) * inv.unsqueeze(-1) + 8.5).clamp(0, 15).to(torch.uint8)
    return codes[..., :16] | (codes[..., 16:] << 4), d.squeeze(-1).half()


@mistake("quantize_q4_0")
def q4_min_max(w):
    """an asymmetric scale, (max − min) / 15, codes from the block's minimum (Q4_1's
    recipe written into Q4_0's layout)"""
    b = _blocks(w)
    lo, hi = b.amin(-1, keepdim=True), b.amax(-1, keepdim=True)
    d = (hi - lo) / 15
    inv = torch.where(d == 0, torch.zeros_like(d), 1 / d)
    codes = torch.trunc((b - lo) * inv + 0.5).clamp(0, 15).to(torch.uint8)
    return codes[..., :16] | (codes[..., 16:] << 4), d.squeeze(-1).half()


@alternative("quantize_q4_0")
def q4_max_and_arithmetic_packing(w):
    """torch.max for the first largest magnitude, reciprocal(), floor (the codes are
    positive), and packing by arithmetic in int32"""
    K = w.shape[-1]
    if K % 32 != 0:
        raise ValueError(f"{K} is not a multiple of 32")
    b = w.reshape(-1, 32)
    idx = torch.max(b.abs(), dim=1).indices
    m = b[torch.arange(b.size(0)), idx]
    d = m / -8
    inv = d.reciprocal()
    inv[d == 0] = 0.0
    codes = torch.floor(b * inv[:, None] + 8.5).clamp(0, 15).to(torch.int32)
    q = (codes[:, :16] + 16 * codes[:, 16:]).to(torch.uint8)
    lead = w.shape[:-1]
    return q.reshape(*lead, K // 32, 16), d.to(torch.float16).reshape(*lead, K // 32)


@alternative("quantize_q4_0")
def q4_view_halves(w):
    """the block viewed as two halves of 16 (unflatten), m * (−0.125) for d, the sign of
    m found through a one-hot mask of the first largest magnitude"""
    if w.size(-1) % 32:
        raise ValueError("the last dim must split into blocks of 32")
    b = w.unflatten(-1, (-1, 32))
    first = F.one_hot(b.abs().argmax(-1), 32).bool()
    m = (b * first).sum(-1, keepdim=True)
    d = m * -0.125
    inv = torch.where(d != 0, 1.0 / d, torch.zeros_like(d))
    codes = (b * inv + 8.5).trunc().clamp(0, 15).to(torch.uint8).unflatten(-1, (2, 16))
    return codes[..., 0, :] | codes[..., 1, :] << 4, d[..., 0].half()


# --- dequantize_q4_0 ---------------------------------------------------------------------


def _codes(q):
    return torch.cat([q & 0x0F, q >> 4], dim=-1)


@mistake("dequantize_q4_0")
def dq4_pairs(q, scale, shape):
    """the nibbles read as neighbours: byte i taken as elements 2i (low) and 2i + 1 (high)"""
    codes = torch.stack([q & 0x0F, q >> 4], dim=-1).flatten(-2).float()
    return ((codes - 8) * scale.float().unsqueeze(-1)).reshape(shape)


@mistake("dequantize_q4_0")
def dq4_swapped(q, scale, shape):
    """the high nibble read as element i and the low one as element i + 16"""
    codes = torch.cat([q >> 4, q & 0x0F], dim=-1).float()
    return ((codes - 8) * scale.float().unsqueeze(-1)).reshape(shape)


@mistake("dequantize_q4_0")
def dq4_no_offset(q, scale, shape):
    """the codes' offset of 8 not subtracted"""
    return (_codes(q).float() * scale.float().unsqueeze(-1)).reshape(shape)


@mistake("dequantize_q4_0")
def dq4_uint8_wrap(q, scale, shape):
    """8 subtracted while the codes are still uint8: codes below 8 wrap to 248 … 255"""
    return ((_codes(q) - 8).float() * scale.float().unsqueeze(-1)).reshape(shape)


@mistake("dequantize_q4_0")
def dq4_float16(q, scale, shape):
    """the product taken in float16 and returned as float16"""
    return ((_codes(q).half() - 8) * scale.unsqueeze(-1)).reshape(shape)


@mistake("dequantize_q4_0")
def dq4_float16_product(q, scale, shape):
    """the product taken in float16 then cast to float32: it rounds to 11 bits"""
    return ((_codes(q).half() - 8) * scale.unsqueeze(-1)).float().reshape(shape)


@alternative("dequantize_q4_0")
def dq4_stack_halves(q, scale, shape):
    """low and high nibbles stacked on a new dim before the 16 bytes, flattened; the
    product in float64, cast to float32"""
    codes = torch.stack([q % 16, q // 16], dim=-2).flatten(-2).to(torch.int16) - 8
    return (codes.double() * scale.double()[..., None]).float().reshape(shape)


@alternative("dequantize_q4_0")
def dq4_bit_shifts_int32(q, scale, shape):
    """shifts by 0 and 4 broadcast over a new dim, in int32"""
    shifts = torch.tensor([0, 4], dtype=torch.int32).reshape(2, 1)
    codes = (q.to(torch.int32).unsqueeze(-2) >> shifts) & 0xF  # (…, n, 2, 16)
    values = (codes.flatten(-2) - 8).float() * scale.float().unsqueeze(-1)
    return values.view(*shape)


# --- Int8Linear --------------------------------------------------------------------------


class _Int8Linear(nn.Module):
    def __init__(self, weight, scale, bias=None):
        super().__init__()
        self.register_buffer("weight", weight)
        self.register_buffer("scale", scale)
        self.register_buffer("bias", bias)

    @staticmethod
    def quantize(w):
        s = w.abs().amax(dim=1, keepdim=True) / 127
        q = torch.round(w / torch.where(s == 0, torch.ones_like(s), s)).to(torch.int8)
        return q, s.squeeze(1)

    @classmethod
    def from_linear(cls, linear):
        q, s = cls.quantize(linear.weight.detach())
        bias = None if linear.bias is None else linear.bias.detach().clone()
        return cls(q, s, bias)

    def forward(self, x):
        y = x @ self.weight.float().t() * self.scale
        return y if self.bias is None else y + self.bias


@mistake("Int8Linear")
class Int8LinearKeepsFloat(_Int8Linear):
    """keeps the original Linear (its float weight) next to the codes"""

    @classmethod
    def from_linear(cls, linear):
        module = super().from_linear(linear)
        module.original = linear
        return module


@mistake("Int8Linear")
class Int8LinearPerTensor(_Int8Linear):
    """one scale for the whole weight instead of one per output row"""

    @staticmethod
    def quantize(w):
        s = w.abs().max() / 127
        q = torch.round(w / s).to(torch.int8)
        return q, s.expand(w.size(0)).clone()


@mistake("Int8Linear")
class Int8LinearPerColumn(_Int8Linear):
    """one scale per input column (the weight quantized along dim 0) instead of per output
    row"""

    @staticmethod
    def quantize(w):
        s = w.abs().amax(dim=0, keepdim=True) / 127
        return torch.round(w / s).to(torch.int8), s.squeeze(0)

    def forward(self, x):
        y = (x * self.scale) @ self.weight.float().t()
        return y if self.bias is None else y + self.bias


@mistake("Int8Linear")
class Int8LinearTruncates(_Int8Linear):
    """the codes cast to int8 straight from w / scale: truncated, not rounded"""

    @staticmethod
    def quantize(w):
        s = w.abs().amax(dim=1, keepdim=True) / 127
        return (w / s).to(torch.int8), s.squeeze(1)


@mistake("Int8Linear")
class Int8LinearNoBias(_Int8Linear):
    """the bias left out"""

    def forward(self, x):
        return x @ self.weight.float().t() * self.scale


@mistake("Int8Linear")
class Int8LinearScaleForgotten(_Int8Linear):
    """forward multiplies by the codes and forgets the scales"""

    def forward(self, x):
        y = x @ self.weight.float().t()
        return y if self.bias is None else y + self.bias


@mistake("Int8Linear")
class Int8LinearPlainAttributes(nn.Module):
    """the codes and scales kept as plain attributes: not buffers, so .to() and
    state_dict() miss them"""

    @classmethod
    def from_linear(cls, linear):
        module = cls()
        module.weight, module.scale = _Int8Linear.quantize(linear.weight.detach())
        module.bias = None if linear.bias is None else linear.bias.detach().clone()
        return module

    def forward(self, x):
        y = x @ self.weight.float().t() * self.scale
        return y if self.bias is None else y + self.bias


@alternative("Int8Linear")
class Int8LinearDequantizeThenLinear(nn.Module):
    """codes and (out, 1) scales under other names; forward rebuilds the float weight and
    calls F.linear; the bias as an nn.Parameter"""

    def __init__(self, qweight, weight_scale, bias):
        super().__init__()
        self.register_buffer("qweight", qweight)
        self.register_buffer("weight_scale", weight_scale)
        self.bias = None if bias is None else nn.Parameter(bias, requires_grad=False)

    @classmethod
    def from_linear(cls, linear):
        w = linear.weight.detach()
        s = w.abs().max(dim=1, keepdim=True).values / 127
        safe = torch.where(s == 0, torch.ones_like(s), s)
        q = torch.round(w / safe).clamp(-127, 127).to(torch.int8)
        bias = None if linear.bias is None else linear.bias.detach().clone()
        return cls(q, s, bias)

    def forward(self, x):
        return F.linear(x, self.qweight.to(x.dtype) * self.weight_scale, self.bias)


@alternative("Int8Linear")
class Int8LinearInt8Kernel(_Int8Linear):
    """forward through torch's int8 weight-only matmul kernel (_weight_int8pack_mm) on the
    flattened rows"""

    def forward(self, x):
        rows = x.reshape(-1, x.size(-1))
        y = torch._weight_int8pack_mm(rows, self.weight, self.scale)
        y = y.reshape(*x.shape[:-1], -1)
        return y if self.bias is None else y + self.bias
