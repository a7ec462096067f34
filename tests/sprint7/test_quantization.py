"""Grades sprint7.quantization: int8 against the maths in float64, Q4_0 against the gguf
package byte for byte, Int8Linear against the layer it was built from.

int8: the scale must be each row's largest magnitude / 127, every code the nearest
integer to w / scale (ties either way), so that the round trip is within half a step of
every weight; rows of zeros, tiny rows, huge rows and every dim (0, negative) included.

Q4_0: the oracle is gguf.quants.quantize(w, GGMLQuantizationType.Q4_0) and
gguf.quants.dequantize on fixed inputs: random rows, a batch with leading dims, and
adversarial blocks (zeros, one outlier, a negative maximum, a positive and a negative
maximum tied, exact ties at .5, values a float32 rounding away from a tie, several entries
at the maximum, scales that are float16 subnormals or round to zero). Importing gguf costs
~0.15 s over numpy (python -X importtime), so its answers are cached under out/cache/, one
file per gguf version, as tests/sprint5's TinyGPT2 is; the test rebuilds the cache when
the version or the inputs change. dequantize_q4_0 is also checked against the format's
formula on every byte value, which needs no package.

Int8Linear: from a layer of a GPT's shape (n_embd 64 → 256, as c_fc) holding weights
with the statistics of a trained GPT-2 rather than of its init (see gpt_like_linear); the
module must hold int8 codes (no float copy of the weight), the nearest codes per output
row, and give the original's output within the quantization bound.
"""

from __future__ import annotations

import os

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from grader import kata, target_module
from grader.checks import (
    Snapshot,
    check_close,
    check_constants_are_buffers,
    check_moves_with_to,
    check_tensor,
    check_tuple,
    describe,
    expect_raises,
    fail,
    likely_mistake,
    needs_package,
    plain_tensors,
)
from tests.kata_helpers import kata_call, seeded, seeded_generator

quantization = target_module("sprint7.quantization")

GGUF = needs_package("gguf", "pip install 'gguf>=0.10'")


# --- int8 --------------------------------------------------------------------------------

# The scale against max |w| / 127 in float64: a float32 division (or a product with 1/127)
# is within an ulp or two (≤ 2.4e-7 relative); 1e-6 still catches 127.5 or 128 (4e-3).
SCALE_RTOL = 1e-6
# A code against w / scale in float64: the learner's float32 w / scale is off by ≤ ~127
# ulps of a code (1.5e-5), so a nearest code lies within 0.5 + 1e-4; a truncated one is
# off by up to 1.
CODE_SLACK = 1e-4
# The round trip |q · scale − w| against scale / 2: the code's slack above, plus 127 codes
# times the scale's own rounding (≤ 1e-6 relative accepted above): ≤ 3e-4 of a step.
STEP_SLACK = 3e-4


def row_scales(w: Tensor, dim: int) -> Tensor:
    """The oracle: max |w| / 127 along dim, in float64, of w's shape without dim."""
    return w.double().abs().amax(dim=dim) / 127


def int8_rows(seed: int = 0) -> Tensor:
    """(24, 40) float32 rows of many magnitudes, each a hard case of its own."""
    g = seeded_generator(seed)
    magnitudes = torch.tensor(
        [1.0, 0.02, 1e-12, 1e-30, 3e5, 1e30, 2e38, 3e38, 0.7, 5.0, 1e-3, 40.0], dtype=torch.float64
    )
    rows = []
    for m in magnitudes:  # rows whose largest magnitude is m itself: finite in float32
        r = torch.randn(40, generator=g, dtype=torch.float64)
        rows.append(r / r.abs().max() * m)
    ties = torch.arange(40, dtype=torch.float64) - 19.5  # scale 1: every entry a .5 tie
    ties[0] = 127.0
    rows.append(ties)
    rows.append(-ties)  # the maximum negative
    rows.append(torch.zeros(40, dtype=torch.float64))  # a row of zeros
    one = torch.zeros(40, dtype=torch.float64)
    one[17] = -3.0  # one non-zero entry
    rows.append(one)
    rows.append(torch.full((40,), 0.25, dtype=torch.float64))  # constant: every code 127
    heavy = torch.randn(40, generator=g, dtype=torch.float64) * 0.02
    heavy[5] = 1.5  # one outlier squashes the rest into a few codes
    rows.append(heavy)
    while len(rows) < 24:
        rows.append(torch.randn(40, generator=g, dtype=torch.float64) * (len(rows) - 10))
    return torch.stack(rows).float()


def int8_code_slips(w: Tensor, dim: int) -> list[tuple[str, Tensor]]:
    """The codes that the usual slips give, computed in w's dtype as a learner's would."""
    absmax = w.abs().amax(dim=dim, keepdim=True)
    s = absmax / 127
    safe = torch.where(s == 0, 1.0, s)
    return [
        (
            "the fraction cut off (a cast to int8, trunc) instead of rounding to the nearest "
            "code: up to a whole step off",
            torch.trunc(w / safe).clamp(-127, 127),
        ),
        ("codes rounded down (floor) instead of to the nearest", torch.floor(w / safe)),
        (
            "the codes as w · 127 / max |w|, multiplying first: w · 127 overflows to inf "
            "for |w| above ~2.7e36",
            torch.round(w * 127 / torch.where(absmax == 0, 1.0, absmax)).clamp(-127, 127),
        ),
    ]


def int8_scale_slips(w: Tensor, dim: int) -> list[tuple[str, Tensor]]:
    w = w.double()
    lo, hi = w.amin(dim=dim), w.amax(dim=dim)
    absmax = w.abs().amax(dim=dim)
    return [
        (
            "an asymmetric (min-max) scale, (max − min) / 255: symmetric int8 spans "
            "−127 … 127 with the row's largest magnitude, and no zero point",
            (hi - lo) / 255,
        ),
        ("the scale from the largest value instead of the largest magnitude", hi / 127),
        ("the scale as max |w| / 128 instead of / 127", absmax / 128),
        ("the scale as max |w| / 255 instead of / 127", absmax / 255),
        (
            "one scale for the whole tensor, spread over the rows: each row needs its own",
            torch.full_like(absmax, w.abs().max().item() / 127),
        ),
        (
            "a floor on the scale (a clamp at 1e-8, say, to avoid dividing by zero): rows "
            "of small values lose their precision; divide safely only where the scale is 0",
            (absmax / 127).clamp(min=1e-8),
        ),
        (
            "a floor on the absmax (a clamp at 1e-8, say, to avoid dividing by zero): rows "
            "of small values lose their precision; divide safely only where the scale is 0",
            absmax.clamp(min=1e-8) / 127,
        ),
    ]


def quantize_int8(w: Tensor, dim: int | None = None) -> tuple[Tensor, Tensor, str]:
    """(q, scale, where): the learner's quantize_int8 with its types, shapes and dtypes
    checked, w left as it was."""
    kwargs = {} if dim is None else {"dim": dim}
    where = kata_call(w, **kwargs)
    snap = Snapshot(w=w)
    got = quantization.quantize_int8(w, **kwargs)
    snap.check(where)
    check_tuple(got, "q, scale", where)
    q, scale = got
    d = -1 if dim is None else dim
    kept = tuple(n for i, n in enumerate(w.shape) if i != d % w.dim())
    check_tensor(q, where + ": q", shape=w.shape, dtype=torch.int8, device=w.device)
    check_tensor(scale, where + ": scale", device=w.device)
    if tuple(scale.shape) != kept:
        fail(
            where + ": scale",
            f"has shape {tuple(scale.shape)}, expected {kept}: one scale per row along "
            f"dim={d}, w's shape without that dim",
            "the dim kept (keepdim=True) or one scale for the whole tensor"
            if scale.dim() in (w.dim(), 0)
            else "the scale taken along another dim than `dim`",
        )
    check_tensor(scale, where + ": scale", dtype=w.dtype)
    return q, scale, where


def check_int8(w: Tensor, dim: int | None = None) -> None:
    """The scale, the codes and the half-step round trip of quantize_int8(w, dim)."""
    q, scale, where = quantize_int8(w, dim)
    d = -1 if dim is None else dim
    want = row_scales(w, d)
    if torch.isnan(scale).any():
        fail(
            where + ": scale",
            f"holds {int(torch.isnan(scale).sum())} NaN",
            "0 / 0 on a row of zeros",
        )
    check_close(
        scale,
        want.to(w.dtype),
        where + ": scale, each row's max |w| / 127",
        rtol=SCALE_RTOL,
        atol=0.0,
        mistake=likely_mistake(scale, int8_scale_slips(w, d), rtol=1e-5, atol=0.0),
    )
    if q.min() < -127:
        fail(
            where + ": q",
            f"holds the code {int(q.min())}: symmetric int8 codes lie in −127 … 127",
            "codes clamped to −128 … 127, the int8 range, or a scale too small",
        )
    exact = w.double() / torch.where(want == 0, 1.0, want).unsqueeze(d)  # in steps
    off = (q.double() - exact).abs()
    bad = off > 0.5 + CODE_SLACK
    if bad.any():
        at = bad.nonzero()[0].tolist()
        fail(
            where + ": q",
            f"q{at} is {int(q[tuple(at)])} for w{at} = {w[tuple(at)].item():.6g}, which is "
            f"{exact[tuple(at)].item():.6g} steps of its row's scale: the nearest code is "
            f"{round(exact[tuple(at)].item())} "
            f"({int(bad.sum())} of {bad.numel()} codes are not the nearest)",
            likely_mistake(q, int8_code_slips(w, d), rtol=0, atol=0)
            or "codes not rounded to the nearest integer of w / scale",
        )
    # the round trip, row by row: |q · s − w| = s · |q − w / s| ≤ s / 2 for the nearest q
    err = (q.double() * scale.double().unsqueeze(d) - w.double()).abs()
    bound = want.unsqueeze(d) * (0.5 + STEP_SLACK)
    over = err > bound
    if over.any():
        at = tuple(over.nonzero()[0].tolist())
        half = (want.unsqueeze(d) / 2).expand_as(err)[at].item()
        fail(
            where,
            f"the round trip q · scale is off by {err[at].item():.4g} at {list(at)}, more "
            f"than half a step of its row ({half:.4g}): w{list(at)} = {w[at].item():.6g}",
        )


@kata("quantize_int8")
class TestQuantizeInt8:
    def test_rows_of_every_magnitude(self):
        """Tiny, huge (up to 3e38), zero, tied and constant rows: the scale, the nearest
        codes and the half-step round trip, row by row."""
        check_int8(int8_rows())

    @pytest.mark.parametrize("dim", [-1, 1, 0, -2])
    def test_along_each_dim_of_a_matrix(self, dim):
        w = seeded(12, 12, seed=3, scale=2.0)  # square: a dim mix-up keeps every shape
        w = w * torch.logspace(-2, 1, 12).unsqueeze(0)  # columns of different magnitude
        w = w * torch.logspace(1, -1, 12).unsqueeze(1)  # rows too
        check_int8(w, dim)

    @pytest.mark.parametrize("dim", [0, 1, 2, -1, -3])
    def test_along_each_dim_of_three(self, dim):
        w = seeded(3, 4, 5, seed=4, scale=3.0)
        w[1, 2] = 0.0
        w[:, :, 0] = 0.0
        check_int8(w, dim)

    def test_a_vector(self):
        """A 1-d w along dim 0: one row, a 0-d scale."""
        check_int8(seeded(33, seed=5), 0)

    def test_rows_of_zeros_give_scale_zero_and_codes_zero(self):
        w = torch.zeros(3, 32)
        w[1] = seeded(32, seed=6)
        q, scale, where = quantize_int8(w)
        if torch.isnan(scale).any() or scale[0].item() != 0 or scale[2].item() != 0:
            fail(
                where + ": scale",
                f"the rows of zeros have scales {scale[0].item()} and {scale[2].item()}, "
                "expected 0",
                "0 / 0, or a floor on the scale: a row of zeros has max |w| = 0",
            )
        if q[0].any() or q[2].any():
            fail(where + ": q", "the rows of zeros have non-zero codes")
        check_int8(torch.zeros(2, 5))

    def test_float64(self):
        check_int8(seeded(6, 40, seed=7, dtype=torch.float64), -1)


@kata("dequantize_int8")
class TestDequantizeInt8:
    @staticmethod
    def codes(*shape, seed: int) -> Tensor:
        return torch.randint(-127, 128, shape, generator=seeded_generator(seed), dtype=torch.int8)

    def check(self, q: Tensor, scale: Tensor, dim: int | None = None) -> None:
        kwargs = {} if dim is None else {"dim": dim}
        where = kata_call(q, scale, **kwargs)
        snap = Snapshot(q=q, scale=scale)
        got = quantization.dequantize_int8(q, scale, **kwargs)
        snap.check(where)
        d = -1 if dim is None else dim
        want = (q.double() * scale.double().unsqueeze(d)).to(scale.dtype)
        s = scale.double()
        slips = [("the codes divided by the scale instead of multiplied", q / s.unsqueeze(d))]
        if d % q.dim() != q.dim() - 1 and s.dim():
            try:
                wrong = q.double() * s.unsqueeze(-1)  # as if dim were -1
            except RuntimeError:  # shapes that do not broadcast: the call raised too
                wrong = None
            if wrong is not None and wrong.shape == q.shape:
                slips.append(
                    (
                        "the scale always spread along the last dim, whatever dim is: it "
                        "belongs at dim, where quantize_int8 took it away",
                        wrong,
                    )
                )
        # q · scale rounds once in float32 by any route (the exact product of a 7-bit code
        # and a 24-bit scale fits float64): equal up to that one rounding
        check_close(
            got,
            want,
            where,
            rtol=2.4e-7 if scale.dtype == torch.float32 else 1e-15,
            atol=0.0,
            mistake=likely_mistake(got, slips),
        )

    def test_rows(self):
        scale = seeded(6, seed=1).abs() * 0.01
        scale[2] = 0.0  # a row of zeros
        self.check(self.codes(6, 40, seed=2), scale)

    @pytest.mark.parametrize("dim", [0, 1, -1, -2])
    def test_each_dim_of_a_square_matrix(self, dim):
        self.check(self.codes(8, 8, seed=3), seeded(8, seed=4).abs() + 0.1, dim)

    @pytest.mark.parametrize("dim", [0, 1, 2, -1, -3])
    def test_each_dim_of_three(self, dim):
        q = self.codes(3, 4, 5, seed=5)
        shape = tuple(n for i, n in enumerate(q.shape) if i != dim % 3)
        self.check(q, seeded(*shape, seed=6).abs() + 0.01, dim)

    def test_a_vector_with_a_0d_scale(self):
        self.check(self.codes(33, seed=7), torch.tensor(0.037), 0)

    def test_float64_scale_gives_float64(self):
        self.check(self.codes(4, 9, seed=8), seeded(4, seed=9, dtype=torch.float64).abs())


# --- Q4_0 --------------------------------------------------------------------------------


def _near_ties(m: float) -> Tensor:
    """A block led by m whose 31 other entries lie a few float32 roundings from a tie,
    w · (1/d) + 8.5 landing on or next to an integer: where trunc against round, w / d
    against w · (1/d), float64 against float32 or a float16 d give other codes."""
    m32 = torch.tensor(m, dtype=torch.float32)
    d = m32 / -8
    ties = (torch.arange(-8, 8, dtype=torch.float32) + 0.5) * d  # 16 exact ties
    up = torch.nextafter(ties, torch.full_like(ties, float("inf")))
    down = torch.nextafter(ties, torch.full_like(ties, float("-inf")))
    rest = torch.stack([up, down], dim=1).flatten()[:31]
    return torch.cat([m32.reshape(1), rest])


def q4_cases() -> dict[str, Tensor]:
    """The fixed float32 inputs that quantize_q4_0 is compared with gguf on, by name."""
    g = seeded_generator(40)
    cases: dict[str, Tensor] = {}
    cases["random normal rows (8, 256)"] = torch.randn(8, 256, generator=g)
    rows = torch.randn(16, 128, generator=g) * 0.02 * torch.logspace(-1, 1, 16).unsqueeze(1)
    rows[:, 7] *= 20  # an outlier feature, as trained GPT-2 weights have
    cases["GPT-like rows with an outlier column (16, 128)"] = rows
    cases["leading dims (2, 3, 64)"] = torch.randn(2, 3, 64, generator=g) * 3

    def block(values) -> Tensor:
        return torch.tensor(values, dtype=torch.float32).reshape(1, 32)

    cases["a block of zeros"] = torch.zeros(1, 32)
    outlier = torch.randn(32, generator=g) * 0.01
    outlier[9] = 4.0
    cases["one outlier"] = outlier.reshape(1, 32)
    neg = torch.randn(32, generator=g)
    neg[20] = -6.0
    cases["a negative maximum"] = neg.reshape(1, 32)
    tie = torch.randn(32, generator=g)
    tie[3], tie[11] = -5.0, 5.0
    cases["a negative and a positive maximum tied (negative first)"] = tie.reshape(1, 32)
    tie = torch.randn(32, generator=g)
    tie[2], tie[25] = 5.0, -5.0
    cases["a positive and a negative maximum tied (positive first)"] = tie.reshape(1, 32)
    halves = [-8.0] + [k + 0.5 for k in range(-8, 8)] + [k + 0.5 for k in range(-7, 8)]
    cases["ties at .5 (d = 1)"] = block(halves)
    cases["ties at .5 (d = −1)"] = -block(halves)
    cases["several entries at the maximum"] = block([3.0, -1.0, 3.0, 0.5] * 8)
    cases["entries at minus the maximum"] = block([-3.0, 3.0, 1.4, -2.9] * 8)
    cases["float16 subnormal scales"] = torch.randn(4, 32, generator=g) * 1e-4
    cases["scales that round to 0 in float16"] = torch.randn(2, 32, generator=g) * 1e-7
    cases["large values (scale near float16's largest)"] = torch.randn(2, 32, generator=g) * 9e4
    cases["values a rounding away from a tie"] = torch.stack(
        [_near_ties(m) for m in (-1.588769793510437, 0.3, -0.8, 2.75, -13.1, 0.0417)]
    )
    mixed = torch.randn(3, 96, generator=g)
    mixed[1, 32:64] = 0.0
    mixed[2, :32] = 0.0
    cases["rows with a block of zeros among others"] = mixed
    return cases


class GgufQ40:
    """gguf's answers on q4_cases(): for each case its Q4_0 bytes, uint8 (…, K/32 · 18),
    and gguf's dequantization of them, float32 (…, K).

    Built once with the gguf package (importing it costs ~0.15 s more than numpy) and
    cached under out/cache/, one file per gguf version, with the inputs it was built on:
    a later run whose inputs differ builds it again."""

    def __init__(self, saved: dict):
        self.inputs: dict[str, Tensor] = saved["inputs"]
        self.bytes: dict[str, Tensor] = saved["bytes"]
        self.values: dict[str, Tensor] = saved["values"]

    @classmethod
    def build(cls, cases: dict[str, Tensor]) -> GgufQ40:
        from gguf import GGMLQuantizationType, quants

        raw = {
            name: torch.from_numpy(quants.quantize(w.numpy(), GGMLQuantizationType.Q4_0).copy())
            for name, w in cases.items()
        }
        values = {
            name: torch.from_numpy(quants.dequantize(b.numpy(), GGMLQuantizationType.Q4_0).copy())
            for name, b in raw.items()
        }
        return cls({"inputs": cases, "bytes": raw, "values": values})

    @classmethod
    def cached(cls) -> GgufQ40:
        from importlib import metadata

        from grader.catalog import ROOT

        cases = q4_cases()
        path = ROOT / "out" / "cache" / f"q4_0-gguf-{metadata.version('gguf')}.pt"
        try:
            found = cls(torch.load(path, weights_only=True))
            same = found.inputs.keys() == cases.keys() and all(
                torch.equal(found.inputs[k], cases[k]) for k in cases
            )
            if same:
                return found
        except Exception:  # missing or unreadable: build it again
            pass
        built = cls.build(cases)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        torch.save({"inputs": built.inputs, "bytes": built.bytes, "values": built.values}, tmp)
        tmp.replace(path)
        return built

    def blocks(self, name: str) -> tuple[Tensor, Tensor]:
        """(q uint8 (…, n, 16), scale float16 (…, n)) of a case, from gguf's bytes."""
        w = self.inputs[name]
        raw = self.bytes[name].reshape(*w.shape[:-1], w.size(-1) // 32, 18)
        scale = raw[..., :2].contiguous().view(torch.float16).squeeze(-1)
        return raw[..., 2:].contiguous(), scale


@pytest.fixture(scope="module")
def gguf_q4():
    return GgufQ40.cached()


Q4_CASES = list(q4_cases())


def _pack(codes: Tensor) -> Tensor:
    """codes (…, 32) 0 … 15 → bytes (…, 16): element j low, element j + 16 high."""
    return codes[..., :16] | (codes[..., 16:] << 4)


def q4_bytes(w: Tensor) -> Tensor:
    """The format's own bytes for w (…, K), uint8 (…, K/32 · 18), as gguf writes them: the
    test's oracle where the gguf package is not needed (the reference and gguf agree on
    every case of q4_cases)."""
    b = w.reshape(*w.shape[:-1], w.size(-1) // 32, 32)
    d = b.gather(-1, b.abs().argmax(-1, keepdim=True)) / -8
    inv = torch.where(d == 0, 0.0, 1 / d)
    codes = torch.trunc(b * inv + 8.5).clamp(0, 15).to(torch.uint8)
    scale = d.to(torch.float16).view(torch.uint8)  # (…, n, 2), little-endian
    return torch.cat([scale, _pack(codes)], dim=-1).flatten(-2)


def q4_block_slips(w: Tensor) -> list[tuple[str, Tensor, Tensor]]:
    """(text, q (16,), scale bits int16) for the usual slips on one block w (32,)."""
    w = w.float()
    first = w.abs().argmax()
    m = w[first]
    d = m / -8
    inv = torch.where(d == 0, 0.0, 1 / d)
    right = torch.trunc(w * inv + 8.5).clamp(0, 15).to(torch.uint8)

    def codes_with(inv_: Tensor, dw: Tensor | None = None) -> Tensor:
        return torch.trunc((w if dw is None else dw) * inv_ + 8.5).clamp(0, 15).to(torch.uint8)

    def bits(x: Tensor) -> Tensor:
        return x.reshape(1).to(torch.float16).view(torch.int16)[0]

    def with_m(m2: Tensor) -> tuple[Tensor, Tensor]:
        d2 = m2 / -8
        return _pack(codes_with(torch.where(d2 == 0, 0.0, 1 / d2))), bits(d2)

    ok = bits(d)
    pos, neg = w.max(), w.min()
    slips = [
        (
            "codes packed as neighbours (element 2i low, 2i + 1 high): Q4_0 puts element j "
            "in the low nibble and element j + 16 in the high nibble of byte j",
            right[0::2] | (right[1::2] << 4),
            ok,
        ),
        (
            "the nibbles swapped: element j goes in the low nibble, element j + 16 in the high",
            right[16:] | (right[:16] << 4),
            ok,
        ),
        (
            "codes rounded to the nearest (round) instead of trunc(w · (1/d) + 8.5): the two "
            "part where w · (1/d) lands on a .5 tie",
            _pack((torch.round(w * inv) + 8).clamp(0, 15).to(torch.uint8)),
            ok,
        ),
        (
            "codes from w / d instead of w · (1/d): the two round differently near a tie, "
            "and gguf multiplies by the reciprocal",
            _pack(torch.trunc(w / torch.where(d == 0, 1.0, d) + 8.5).clamp(0, 15).to(torch.uint8)),
            ok,
        ),
        (
            "codes computed in float64 instead of float32: gguf rounds every step in float32",
            _pack(
                torch.trunc(w.double() * torch.where(d == 0, 0.0, 1 / d.double()) + 8.5)
                .clamp(0, 15)
                .to(torch.uint8)
            ),
            ok,
        ),
        (
            "1/d taken from the float16 scale: gguf computes the codes with the float32 d and "
            "rounds d to float16 only to store it",
            _pack(codes_with(torch.where(d == 0, 0.0, 1 / d.half().float()))),
            ok,
        ),
        (
            "the codes not clipped to 0 … 15: an entry near −m gives 16, which spills into "
            "the other nibble",
            (
                (torch.trunc(w * inv + 8.5).to(torch.int64)[:16])
                | (torch.trunc(w * inv + 8.5).to(torch.int64)[16:] << 4)
            ).to(torch.uint8),
            ok,
        ),
        (
            "d = m / 8 instead of m / −8: the sign of d is the opposite of the largest "
            "entry's, so that entry gets code 0",
            _pack(codes_with(torch.where(d == 0, 0.0, -1 / d))),
            bits(-d),
        ),
        ("d from the largest magnitude without its sign", *with_m(w.abs().max())),
        ("d from the largest magnitude without its sign", *with_m(-w.abs().max())),
        ("d from the largest value (max) instead of the largest magnitude", *with_m(pos)),
        ("d from the smallest value (min) instead of the largest magnitude", *with_m(neg)),
        (
            "a tie between a positive and a negative largest magnitude settled by sign: gguf "
            "takes the first of them in the block",
            *with_m(pos if pos >= -neg else neg),
        ),
        (
            "a tie between a positive and a negative largest magnitude settled by sign: gguf "
            "takes the first of them in the block",
            *with_m(neg if -neg >= pos else pos),
        ),
        (
            "1/d taken where d = 0: 0 · inf is NaN, and NaN cast to uint8 gives code 0, not 8 "
            "(a block of zeros has every code 8)",
            _pack(torch.trunc(w * (1 / d) + 8.5).clamp(0, 15).to(torch.uint8)),
            ok,
        ),
        (
            "a block of zeros given d = +0.0: gguf stores m / −8 = −0.0 (float16 bits 0x8000)",
            _pack(right),
            bits(torch.tensor(0.0)),
        ),
    ]
    lo = w.min()
    d1 = (w.max() - lo) / 15  # Q4_1's min-max scale, as a Q4_0
    codes1 = torch.trunc((w - lo) * torch.where(d1 == 0, 0.0, 1 / d1) + 0.5).clamp(0, 15)
    slips.append(
        (
            "an asymmetric (min-max) scale, (max − min) / 15 with an offset: that is Q4_1; "
            "Q4_0 is symmetric, d = m / −8 around code 8",
            _pack(codes1.to(torch.uint8)),
            bits(d1),
        )
    )
    if not w.any():  # a block of zeros: the slips that only zeros tell apart come first
        first = ("a block of zeros given", "1/d taken where d = 0", "d = m / 8", "an asymmetric")
        return [s for s in slips if s[0].startswith(first)]
    if pos == -neg:  # a positive and a negative largest magnitude: the tie first
        return sorted(slips, key=lambda s: not s[0].startswith("a tie between"))
    return slips


def check_q4_bytes(q: Tensor, scale: Tensor, w: Tensor, raw: Tensor, where: str) -> None:
    """The learner's (q, scale) against gguf's bytes raw (…, K/32 · 18), block by block."""
    nb = w.size(-1) // 32
    want = raw.reshape(*w.shape[:-1], nb, 18)
    want_bits = want[..., :2].contiguous().view(torch.int16).squeeze(-1)
    want_q = want[..., 2:]
    got_bits = scale.contiguous().view(torch.int16)
    bad = (got_bits != want_bits) | (q != want_q).any(-1)
    if not bad.any():
        return
    at = bad.nonzero()[0].tolist()
    block = w.reshape(*w.shape[:-1], nb, 32)[tuple(at)]
    gb, wb, gq, wq = got_bits[tuple(at)], want_bits[tuple(at)], q[tuple(at)], want_q[tuple(at)]
    causes = []  # on one block, two slips can give the same bytes: name each
    for text, slip_q, slip_bits in q4_block_slips(block):
        if torch.equal(slip_q, gq) and slip_bits == gb and text not in causes:
            causes.append(text)
    cause = "; or ".join(causes)
    count = f"{int(bad.sum())} of {bad.numel()} blocks differ"
    if gb != wb:
        g16, w16 = gb.reshape(1).view(torch.float16), wb.reshape(1).view(torch.float16)
        fail(
            where,
            f"block {at}: scale is {g16.item():.6g} (float16 bits 0x{int(gb) & 0xFFFF:04x}), "
            f"gguf writes {w16.item():.6g} (0x{int(wb) & 0xFFFF:04x}); the block's (first) entry "
            f"of largest magnitude is {block[block.abs().argmax()].item():.6g} ({count})",
            cause,
        )
    j = int((gq != wq).nonzero()[0])
    codes = ", ".join(
        f"element {e} = {block[e].item():.9g}: code {got} (gguf {ref})"
        for e, got, ref in (
            (j, int(gq[j]) & 0xF, int(wq[j]) & 0xF),
            (j + 16, int(gq[j]) >> 4, int(wq[j]) >> 4),
        )
    )
    fail(
        where,
        f"block {at}: byte {j} of q is 0x{int(gq[j]):02x}, gguf writes 0x{int(wq[j]):02x} "
        f"(low nibble element {j}, high nibble element {j + 16}: {codes}); the scale is "
        f"right ({count})",
        cause,
    )


def quantize_q4(w: Tensor) -> tuple[Tensor, Tensor, str]:
    """(q, scale, where): the learner's quantize_q4_0 with types, shapes and dtypes checked."""
    where = kata_call(w)
    snap = Snapshot(w=w)
    got = quantization.quantize_q4_0(w)
    snap.check(where)
    check_tuple(got, "q, scale", where)
    q, scale = got
    nb = w.size(-1) // 32
    check_tensor(q, where + ": q", shape=(*w.shape[:-1], nb, 16), dtype=torch.uint8)
    check_tensor(scale, where + ": scale", device=w.device)
    if tuple(scale.shape) != (*w.shape[:-1], nb):
        fail(
            where + ": scale",
            f"has shape {tuple(scale.shape)}, expected {(*w.shape[:-1], nb)}: one per block of 32",
            "one scale per row or per tensor instead of per block of 32"
            if scale.numel() < w.numel() // 32
            else "",
        )
    if scale.dtype != torch.float16:
        fail(
            where + ": scale",
            f"has dtype {scale.dtype}, expected torch.float16",
            "the scale kept in float32: Q4_0 stores each block's d as float16"
            if scale.dtype == torch.float32
            else "",
        )
    return q, scale, where


@kata("quantize_q4_0")
class TestQuantizeQ40:
    def test_shapes_and_dtypes(self):
        quantize_q4(seeded(2, 3, 64, seed=1))
        quantize_q4(seeded(32, seed=2))

    def test_blocks_of_zeros(self):
        """Every code 8 (bytes 0x88) and d = 0 · (1/−8) = −0.0, with no NaN on the way, next
        to a random block; against the format's formula, which needs no package."""
        w = torch.zeros(2, 64)
        w[1, 32:] = seeded(32, seed=3)
        q, scale, where = quantize_q4(w)
        check_q4_bytes(q, scale, w, q4_bytes(w), where + " on blocks of zeros and a random one")

    def test_a_last_dim_not_a_multiple_of_32_raises(self):
        w = seeded(4, 48, seed=4)
        expect_raises(
            ValueError,
            lambda: quantization.quantize_q4_0(w),
            kata_call(w),
            "Q4_0 blocks are 32 weights long, and 48 does not split into them",
        )

    @GGUF
    @pytest.mark.parametrize("case", Q4_CASES)
    def test_bytes_equal_ggufs(self, gguf_q4, case):
        w = gguf_q4.inputs[case].clone()
        q, scale, where = quantize_q4(w)
        check_q4_bytes(q, scale, w, gguf_q4.bytes[case], f"{where} on {case}")


@kata("dequantize_q4_0")
class TestDequantizeQ40:
    @staticmethod
    def call(q: Tensor, scale: Tensor, shape) -> tuple[Tensor, str]:
        where = kata_call(q, scale, tuple(shape))
        snap = Snapshot(q=q, scale=scale)
        got = quantization.dequantize_q4_0(q, scale, shape)
        snap.check(where)
        check_tensor(got, where, shape=tuple(shape), dtype=torch.float32, device=q.device)
        return got, where

    @staticmethod
    def slips(q: Tensor, scale: Tensor, shape) -> list[tuple[str, Tensor]]:
        d = scale.double().unsqueeze(-1)
        low, high = (q & 0xF).long(), (q >> 4).long()
        inter = torch.stack([low, high], dim=-1).flatten(-2)  # 2i low, 2i + 1 high
        ordered = torch.cat([low, high], dim=-1)
        return [
            (
                "the nibbles read as neighbours (byte i holding elements 2i and 2i + 1): Q4_0 "
                "holds element i in the low nibble and i + 16 in the high one",
                ((inter - 8) * d).reshape(shape),
            ),
            (
                "the nibbles swapped: the low nibble is element i, the high one element i + 16",
                ((torch.cat([high, low], dim=-1) - 8) * d).reshape(shape),
            ),
            ("the codes' offset of 8 not subtracted", (ordered * d).reshape(shape)),
            (
                "8 subtracted in uint8, where codes below 8 wrap around to 249 … 255",
                (((ordered - 8) % 256) * d).reshape(shape),
            ),
            (
                "the product taken in float16: (code − 8) · d rounds to float16's 11 bits",
                ((ordered - 8).half() * scale.half().unsqueeze(-1)).double().reshape(shape),
            ),
        ]

    def test_every_byte_against_the_formula(self):
        """All 256 byte values, scales of both signs, a subnormal and a zero, against
        (code − 8) · d in float64; needs no package."""
        g = seeded_generator(11)
        q = torch.arange(256, dtype=torch.int64).reshape(16, 16)
        q = q[torch.randperm(16, generator=g)].to(torch.uint8).reshape(2, 8, 16)
        scale = (torch.randn(2, 8, generator=g) * 3).half()
        scale[0, 1], scale[1, 4], scale[1, 5] = 3e-6, 0.0, -65504.0
        shape = (2, 256)
        got, where = self.call(q, scale, shape)
        low, high = (q & 0xF).long(), (q >> 4).long()
        codes = torch.cat([low, high], dim=-1)
        want = ((codes - 8).double() * scale.double().unsqueeze(-1)).reshape(shape).float()
        # (code − 8) · d is exact in float32 (a float16 times a 4-bit integer): no tolerance
        slips = self.slips(q, scale, shape)
        check_close(got, want, where, rtol=0.0, atol=0.0, mistake=likely_mistake(got, slips))

    def test_shape_as_a_torch_size_and_leading_dims(self):
        g = seeded_generator(12)
        q = torch.randint(0, 256, (2, 3, 2, 16), generator=g, dtype=torch.uint8)
        scale = torch.randn(2, 3, 2, generator=g).half()
        got, where = self.call(q, scale, torch.Size([2, 3, 64]))
        codes = torch.cat([(q & 0xF).long(), (q >> 4).long()], dim=-1)
        want = ((codes - 8).double() * scale.double().unsqueeze(-1)).reshape(2, 3, 64).float()
        check_close(got, want, where, rtol=0.0, atol=0.0)

    @GGUF
    @pytest.mark.parametrize("case", Q4_CASES)
    def test_values_equal_ggufs(self, gguf_q4, case):
        q, scale = gguf_q4.blocks(case)
        shape = tuple(gguf_q4.inputs[case].shape)
        got, where = self.call(q, scale, shape)
        check_close(
            got,
            gguf_q4.values[case],
            f"{where}, gguf's bytes for {case}, against gguf.quants.dequantize",
            rtol=0.0,
            atol=0.0,  # exact: see test_every_byte_against_the_formula
            mistake=likely_mistake(got, self.slips(q, scale, shape), rtol=0, atol=0),
        )


# --- Int8Linear ----------------------------------------------------------------------------


def gpt_like_linear(n_in: int = 64, n_out: int = 256, bias: bool = True, seed: int = 0):
    """An nn.Linear(n_in, n_out) shaped as a GPT block's c_fc, holding weights with the
    statistics of a trained GPT-2 rather than of its init.

    No trained checkpoint is at hand offline, so the test makes them: N(0, 0.02²) as GPT's
    init, then rows of unequal size (a log-normal factor per output row), heavier tails
    than a normal (a Student-t with 4 degrees of freedom), and three input features ten
    times larger than the rest (the outlier features of LLM.int8(), Dettmers et al. 2022).
    Those are what tell per-row scales from one scale per tensor or per column."""
    g = seeded_generator(seed)
    normal = torch.randn(n_out, n_in, generator=g)
    chi2 = torch.randn(4, n_out, n_in, generator=g).pow(2).mean(0)  # Student-t, 4 dof
    w = 0.02 * normal / chi2.sqrt()
    w = w * torch.exp(0.5 * torch.randn(n_out, 1, generator=g))
    w[:, [3, 17, n_in - 5]] *= 10.0
    layer = nn.Linear(n_in, n_out, bias=bias)
    with torch.no_grad():
        layer.weight.copy_(w)
        if bias:
            layer.bias.copy_(0.02 * torch.randn(n_out, generator=g))
    return layer


def build_int8(linear: nn.Linear):
    """(module, where): Int8Linear.from_linear(linear), linear left as it was."""
    where = kata_call.then(".from_linear")(
        f"nn.Linear({linear.in_features}, {linear.out_features}, bias={linear.bias is not None})"
    )
    snap = Snapshot(**dict(linear.named_parameters()))
    module = quantization.Int8Linear.from_linear(linear)
    snap.check(where)
    if not isinstance(module, nn.Module):
        fail(where, f"returned {describe(module)}, expected an nn.Module")
    return module, where


def held_tensors(module: nn.Module) -> list[tuple[str, Tensor]]:
    found = [(f"parameter {n}", t) for n, t in module.named_parameters()]
    found += [(f"buffer {n}", t) for n, t in module.named_buffers()]
    found += [(f"attribute {n}", t) for n, t in plain_tensors(module)]
    return found


def codes_of(module: nn.Module, linear: nn.Linear, where: str) -> Tensor:
    """The int8 (out, in) tensor the module holds, as a registered buffer."""
    shape = tuple(linear.weight.shape)
    held = [
        (n, t)
        for n, t in held_tensors(module)
        if t.dtype == torch.int8 and tuple(t.shape) in (shape, shape[::-1])
    ]
    if not held:
        kinds = ", ".join(f"{n} {describe(t)}" for n, t in held_tensors(module)) or "nothing"
        fail(
            where,
            f"the module holds no int8 tensor of the weight's shape {shape}: it holds {kinds}",
            "the weight kept as float (quantized and dequantized at once), or the codes cast "
            "back to float before they are stored",
        )
    name, codes = held[0]
    if not name.startswith("buffer"):
        fail(
            where,
            f"the int8 codes are held as {name}: neither a registered buffer nor in "
            "state_dict(), so .to() leaves them and a saved model lacks them",
            "the codes assigned as a plain attribute instead of registered with register_buffer",
        )
    return codes if tuple(codes.shape) == shape else codes.t()


@kata("Int8Linear")
class TestInt8Linear:
    def test_holds_int8_codes_and_no_float_weight(self):
        linear = gpt_like_linear()
        module, where = build_int8(linear)
        codes_of(module, linear, where)
        n = linear.weight.numel()
        for name, t in held_tensors(module):
            if t.is_floating_point() and t.numel() >= n:
                fail(
                    where,
                    f"the module holds a floating-point {name}, {describe(t)}: the weight in "
                    "float, which int8 storage is meant to replace",
                    "the original Linear (or its weight) kept next to the codes, or the "
                    "dequantized weight cached",
                )
        size = sum(t.numel() * t.element_size() for t in module.state_dict().values())
        most = n + 3 * linear.out_features * 4  # the codes, the scales, the bias, a margin
        if size > most:
            fail(
                where,
                f"state_dict() holds {size} bytes; int8 codes, float32 scales and a bias "
                f"take about {n + 2 * linear.out_features * 4}",
                "a floating-point copy of the weight kept in the state dict",
            )

    def test_codes_are_the_nearest_per_output_row(self):
        linear = gpt_like_linear(seed=1)
        module, where = build_int8(linear)
        codes = codes_of(module, linear, where)
        w = linear.weight.detach().double()
        s = w.abs().amax(dim=1, keepdim=True) / 127
        exact = w / s
        off = (codes.double() - exact).abs()
        bad = off > 0.5 + CODE_SLACK
        if bad.any():
            at = bad.nonzero()[0].tolist()
            w32 = linear.weight.detach()  # the slips as a learner's float32 code makes them
            row = w32.abs().amax(dim=1, keepdim=True) / 127
            slips = [
                (
                    "one scale for the whole weight instead of one per output row: rows of "
                    "small weights get few codes",
                    torch.round(w32 / (w32.abs().max() / 127)),
                ),
                (
                    "one scale per input column instead of per output row (the weight is "
                    "(out, in): its rows are the output features)",
                    torch.round(w32 / (w32.abs().amax(dim=0, keepdim=True) / 127)),
                ),
                (
                    "the fraction cut off (a cast to int8, trunc) instead of rounding to the "
                    "nearest code",
                    torch.trunc(w32 / row),
                ),
            ]
            fail(
                where + ": the int8 codes",
                f"code {at} is {int(codes[tuple(at)])}, weight {w[tuple(at)].item():.6g} is "
                f"{exact[tuple(at)].item():.4f} steps of its row's scale (max |row| / 127) "
                f"({int(bad.sum())} of {bad.numel()} codes are not the nearest)",
                likely_mistake(codes, slips, rtol=0, atol=0),
            )

    @pytest.mark.parametrize("bias", [True, False])
    def test_output_within_the_quantization_bound(self, bias):
        linear = gpt_like_linear(bias=bias, seed=2)
        module, where = build_int8(linear)
        codes = codes_of(module, linear, where)
        x = seeded(2, 5, 64, seed=3)
        where = f"{where}(x {describe(x)})"
        with torch.no_grad():
            y = module(x)
            ref = linear(x).double()
        check_tensor(y, where, shape=(2, 5, 256), dtype=torch.float32)
        w = linear.weight.detach().double()
        s = w.abs().amax(dim=1) / 127  # (out,)
        # each code is within half a step of its weight: |Δy_o| ≤ Σᵢ |xᵢ| · s_o / 2, with
        # room for float32 sums of 64 terms (~1e-7 of |y|, far below the bound's scale)
        bound = x.double().abs().sum(-1, keepdim=True) * s / 2 * (1 + STEP_SLACK) + 1e-5
        b = linear.bias.detach().double() if bias else None
        err = (y.double() - ref).abs()
        if (err > bound).any():
            at = (err > bound).nonzero()[0].tolist()
            fail(
                where,
                f"output {at} is {y[tuple(at)].item():.6g}, the float Linear gives "
                f"{ref[tuple(at)].item():.6g}: off by {err[tuple(at)].item():.3g}, more than "
                f"the quantization bound {bound[tuple(at)].item():.3g} (Σ |x| · scale / 2)",
                likely_mistake(
                    y,
                    [
                        ("the bias left out", F.linear(x.double(), codes.double() * s[:, None])),
                        (
                            "the scales left out of forward: the codes used as the weight",
                            F.linear(x.double(), codes.double(), b),
                        ),
                    ],
                    rtol=1e-4,  # float32 sums of 64 products: ~1e-6 of outputs up to ~20
                    atol=1e-5,
                ),
            )
        # the same output as the codes the module holds, times each row's scale
        want = F.linear(x.double(), codes.double() * s.unsqueeze(1), b)
        check_close(
            y,
            want.float(),
            where + ": against x @ (codes · scale)ᵀ + bias",
            rtol=1e-5,
            atol=1e-5,  # float32 sums of 64 products, outputs ≲ 1: ~1e-7; 100x margin
        )

    def test_buffers_move_with_to(self):
        module, where = build_int8(gpt_like_linear(n_in=32, n_out=16, seed=4))
        check_constants_are_buffers(module, where)
        check_moves_with_to(module, where)
