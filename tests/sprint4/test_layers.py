"""Grades sprint4.layers against explicit float64 maths and torch's own layers.

sinusoidal_positions is checked against the formula written out element by element;
LayerNorm against nn.LayerNorm holding the learner's weight and bias (LayerNorm is "from
scratch": torch's layer_norm is forbidden while its tests run); FeedForward and Block
through their named sub-modules, whose weights the tests copy into a float64
recomputation (F.layer_norm, F.scaled_dot_product_attention, F.gelu(approximate="tanh")).
"""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from grader import kata, target_module
from grader.checks import (
    Snapshot,
    check_close,
    check_constants_are_buffers,
    check_global_rngs,
    check_tensor,
    describe,
    fail,
    global_rngs,
    likely_mistake,
    needs_cuda,
)
from tests.kata_helpers import F32_TOL, kata_call, seeded
from tests.sprint4.test_attention import (
    check_dropout_modes,
    check_follows_device,
    check_follows_double,
    check_linear,
)

layers = target_module("sprint4.layers")


def randomize_(module: nn.Module, seed: int) -> nn.Module:
    """Every parameter redrawn from a seeded generator; LayerNorm weights near 1."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            r = torch.randn(p.shape, generator=g, dtype=torch.float64)
            p.copy_(1 + 0.3 * r if "ln_" in name and name.endswith("weight") else 0.4 * r)
    return module


def lin64(x: Tensor, layer: nn.Linear) -> Tensor:
    w = layer.weight.detach().double()
    b = None if layer.bias is None else layer.bias.detach().double()
    return F.linear(x, w, b)


def ln64(x: Tensor, ln, eps=1e-5) -> Tensor:
    w = ln.weight.detach().double()
    b = None if ln.bias is None else ln.bias.detach().double()
    return F.layer_norm(x, (x.size(-1),), w, b, eps)


MLP_WIDTH = "a hidden layer of another width: GPT-2's MLP widens to 4·n_embd and back"


# --- sinusoidal_positions -----------------------------------------------------------------


def positions64(T: int, d: int) -> Tensor:
    """The formula, one entry at a time, in float64."""
    pe = torch.zeros(T, d, dtype=torch.float64)
    for p in range(T):
        for col in range(d):
            two_i = col - col % 2
            angle = p / 10000 ** (two_i / d)
            pe[p, col] = math.sin(angle) if col % 2 == 0 else math.cos(angle)
    return pe


def position_slips(T: int, d: int) -> list[tuple[str, Tensor]]:
    want = positions64(T, d)
    out = []
    if d % 2 == 0:
        swapped = torch.empty_like(want)
        swapped[:, 0::2], swapped[:, 1::2] = want[:, 1::2], want[:, 0::2]
        out.append(("sin and cos swapped: sines go in the even columns 2i", swapped))
        out.append(
            (
                "sines in the first half and cosines in the second: they interleave, "
                "sin in column 2i and cos in column 2i+1",
                torch.cat([want[:, 0::2], want[:, 1::2]], dim=1),
            )
        )
    p = torch.arange(T, dtype=torch.float64)[:, None]
    i = torch.arange(d, dtype=torch.float64)[None, :]
    wrong = p / 10000 ** ((i - i % 2) / (2 * d))
    out.append(
        (
            "the exponent i/d, with i the index of the column pair, instead of 2i/d",
            torch.where(i % 2 == 0, torch.sin(wrong), torch.cos(wrong)),
        )
    )
    j = torch.arange(d, dtype=torch.float64)[None, :]
    by_column = p / 10000 ** (j / d)
    out.append(
        (
            "the exponent j/d with j the column itself: columns 2i and 2i+1 share one "
            "frequency, 10000^(2i/d)",
            torch.where(j % 2 == 0, torch.sin(by_column), torch.cos(by_column)),
        )
    )
    return out


@kata("sinusoidal_positions")
class TestSinusoidalPositions:
    @pytest.mark.parametrize(("T", "d"), [(8, 16), (5, 6), (1, 4), (6, 7), (3, 2)])
    def test_values(self, T, d):
        where = kata_call(T, d)
        got = layers.sinusoidal_positions(T, d)
        check_tensor(got, where, shape=(T, d), dtype=torch.float32)
        check_close(
            got,
            positions64(T, d).float(),
            where + ": PE[p, 2i] = sin(p / 10000^(2i/d)), PE[p, 2i+1] = cos(…)",
            rtol=1e-5,
            atol=1e-6,
            mistake=likely_mistake(got, position_slips(T, d)),
        )

    def test_far_positions(self):
        # p up to 511: the low frequencies must still be right
        where = kata_call(512, 8)
        got = layers.sinusoidal_positions(512, 8)
        check_tensor(got, where, shape=(512, 8), dtype=torch.float32)
        check_close(got, positions64(512, 8).float(), where, rtol=1e-4, atol=1e-4)

    def test_rng_untouched(self):
        before = global_rngs()
        layers.sinusoidal_positions(4, 6)
        check_global_rngs(before, kata_call(4, 6))


# --- LayerNorm ----------------------------------------------------------------------------


def ln_slips(ln, x: Tensor, eps: float) -> list[tuple[str, Tensor]]:
    x = x.double()
    w = ln.weight.detach().double()
    b = 0 if ln.bias is None else ln.bias.detach().double()
    mean = x.mean(-1, keepdim=True)
    return [
        (
            "the unbiased variance (Tensor.var's default divides by n − 1): LayerNorm divides by n",
            (x - mean) / torch.sqrt(x.var(-1, keepdim=True) + eps) * w + b,
        ),
        (
            "eps added to the standard deviation, not inside the square root",
            (x - mean) / (x.std(-1, unbiased=False, keepdim=True) + eps) * w + b,
        ),
        (
            "mean and variance over the whole tensor: LayerNorm normalises each row over "
            "the last dim on its own",
            (x - x.mean()) / torch.sqrt(x.var(unbiased=False) + eps) * w + b,
        ),
        (
            "weight and bias not applied",
            F.layer_norm(x, (x.size(-1),), eps=eps),
        ),
    ]


def make_ln(n=8, eps=1e-5, bias=True, seed=None):
    ln = layers.LayerNorm(n, eps=eps, bias=bias)
    if seed is not None:
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            ln.weight.copy_(1 + 0.5 * torch.randn(n, generator=g))
            if ln.bias is not None:
                ln.bias.copy_(0.5 * torch.randn(n, generator=g))
    return ln


@kata("LayerNorm")
class TestLayerNorm:
    def where(self, n, x=None, eps=1e-5, bias=True):
        kwargs = {}
        if eps != 1e-5:
            kwargs["eps"] = eps
        if not bias:
            kwargs["bias"] = False
        w = kata_call(n, **kwargs)
        return w if x is None else f"{w}(x {describe(x)})"

    def check(self, n, x, eps=1e-5, bias=True, seed=1):
        ln = make_ln(n, eps, bias, seed)
        where = self.where(n, x, eps, bias)
        want = ln64(x.double(), ln, eps).to(x.dtype)
        snap = Snapshot(x=x)
        got = ln(x)
        snap.check(where)
        check_close(got, want, where, **F32_TOL, mistake=likely_mistake(got, ln_slips(ln, x, eps)))

    @pytest.mark.parametrize("bias", [True, False])
    def test_parameters(self, bias):
        ln = layers.LayerNorm(6, bias=bias)
        where = self.where(6, bias=bias)
        w = getattr(ln, "weight", None)
        if not isinstance(w, nn.Parameter):
            fail(
                where,
                f"`weight` is {describe(w)}, expected an nn.Parameter",
                "weight kept as a plain tensor: it is not wrapped in nn.Parameter, so "
                "parameters() does not list it and it never trains",
            )
        check_close(w.detach(), torch.ones(6), where + ": weight")
        b = getattr(ln, "bias", "missing")
        if not bias:
            if b is not None:
                fail(where, f"`bias` is {describe(b)}, expected None with bias=False")
        else:
            if not isinstance(b, nn.Parameter):
                fail(where, f"`bias` is {describe(b)}, expected an nn.Parameter of zeros")
            check_close(b.detach(), torch.zeros(6), where + ": bias")
        names = sorted(name for name, _ in ln.named_parameters())
        want = ["bias", "weight"] if bias else ["weight"]
        if names != want:
            fail(where, f"named_parameters() gives {names}, expected {want}")

    def test_values(self):
        self.check(8, seeded(2, 5, 8, seed=2, scale=2.0, shift=0.5))

    def test_no_bias(self):
        self.check(8, seeded(3, 8, seed=3, scale=1.5), bias=False)

    def test_small_variance_and_eps(self):
        # std ≈ 0.02 with eps = 1e-3: where eps goes, and n vs n − 1, both show. The mean
        # stays near 0: E[x²] − E[x]², a correct route, loses ~mean²/var·1e-7 relative to
        # cancellation (1e-3 at mean 3), which no fair tolerance could admit
        self.check(5, seeded(4, 5, seed=4, scale=0.02), eps=1e-3)

    def test_normalises_the_last_dim_only(self):
        # rows with very different scales: normalising over all dims is far off
        x = seeded(3, 6, seed=5) * torch.tensor([[0.1], [1.0], [10.0]])
        self.check(6, x)

    def test_float64(self):
        ln = make_ln(6, seed=6).double()
        x = seeded(2, 3, 6, seed=7, dtype=torch.float64)
        where = self.where(6, x) + " (module .double())"
        got = ln(x)
        check_close(got, ln64(x, ln), where, rtol=1e-10, atol=1e-12)

    def test_gradient(self):
        ln = make_ln(6, seed=8).double()
        x = seeded(3, 6, seed=9, dtype=torch.float64).requires_grad_()
        r = seeded(3, 6, seed=10, dtype=torch.float64)
        where = self.where(6, x) + " → gradients"
        got = ln(x)
        for name in ("weight", "bias"):
            p = getattr(ln, name)
            if not isinstance(p, Tensor) or not p.requires_grad:
                fail(
                    where,
                    f"`{name}` is {describe(p)}, which does not require grad",
                    "weight and bias kept as plain tensors, not wrapped in nn.Parameter",
                )
        params = [x, ln.weight, ln.bias]
        grads = torch.autograd.grad((got * r).sum(), params, allow_unused=True)
        for name, g in zip(("x", "weight", "bias"), grads, strict=True):
            if g is None:
                fail(
                    where,
                    f"{name}.grad is None: the output does not depend on {name}",
                    "weight and bias not applied" if name != "x" else "",
                )
        ref = [t.detach().clone().requires_grad_() for t in params]
        want = torch.autograd.grad((F.layer_norm(ref[0], (6,), ref[1], ref[2]) * r).sum(), ref)
        for name, g, w in zip(("x", "weight", "bias"), grads, want, strict=True):
            check_close(g, w, f"{where}: {name}.grad", rtol=1e-8, atol=1e-10)

    def test_equals_nn_layer_norm(self):
        ln = make_ln(8, seed=11)
        ref = nn.LayerNorm(8)
        with torch.no_grad():
            ref.weight.copy_(ln.weight)
            ref.bias.copy_(ln.bias)
        x = seeded(2, 4, 8, seed=12)
        where = self.where(8, x) + " against nn.LayerNorm(8) with the same weight and bias"
        with torch.no_grad():
            want = ref(x)
        check_close(ln(x), want, where, **F32_TOL)


# --- FeedForward --------------------------------------------------------------------------


def ff_oracle(ff, x: Tensor) -> Tensor:
    return lin64(F.gelu(lin64(x.double(), ff.c_fc), approximate="tanh"), ff.c_proj)


def ff_slips(ff, x: Tensor) -> list[tuple[str, Tensor]]:
    h = lin64(x.double(), ff.c_fc)
    return [
        (
            "the exact GELU (erf): GPT-2 uses its tanh approximation",
            lin64(F.gelu(h), ff.c_proj),
        ),
        ("ReLU instead of GELU", lin64(torch.relu(h), ff.c_proj)),
        ("no activation between c_fc and c_proj", lin64(h, ff.c_proj)),
    ]


def make_ff(n_embd=8, dropout=0.0, bias=True, seed=1):
    torch.manual_seed(0)  # nn.Linear's default init draws from the global RNG
    return randomize_(layers.FeedForward(n_embd, dropout, bias), seed)


@kata("FeedForward")
class TestFeedForward:
    def where(self, x=None, dropout=0.0, bias=True):
        kwargs = {}
        if dropout:
            kwargs["dropout"] = dropout
        if not bias:
            kwargs["bias"] = False
        w = kata_call(8, **kwargs)
        return w if x is None else f"{w}(x {describe(x)})"

    @pytest.mark.parametrize("bias", [True, False])
    def test_layers(self, bias):
        ff = make_ff(bias=bias, dropout=0.1)
        where = self.where(dropout=0.1, bias=bias)
        check_linear(ff, "c_fc", 8, 32, bias, where, MLP_WIDTH)
        check_linear(ff, "c_proj", 32, 8, bias, where, MLP_WIDTH)
        d = getattr(ff, "dropout", None)
        if not isinstance(d, nn.Dropout) or d.p != 0.1:
            fail(where, f"`dropout` is {describe(d)}, expected nn.Dropout(p=0.1)")

    @pytest.mark.parametrize("bias", [True, False])
    def test_values(self, bias):
        ff = make_ff(bias=bias)
        x = seeded(2, 5, 8, seed=2, scale=1.5)  # pre-activations span about ±4
        where = self.where(x, bias=bias)
        snap = Snapshot(x=x)
        out = ff(x)
        snap.check(where)
        check_tensor(out, where, shape=(2, 5, 8), dtype=torch.float32)
        check_close(
            out,
            ff_oracle(ff, x).float(),
            where,
            rtol=1e-5,
            atol=2e-6,
            mistake=likely_mistake(out, ff_slips(ff, x)),
        )

    def test_dropout_train_vs_eval(self):
        ff = make_ff(dropout=0.5, seed=3)
        x = seeded(2, 6, 8, seed=4)
        check_dropout_modes(ff, x, ff_oracle, self.where(x, dropout=0.5))


# --- Block --------------------------------------------------------------------------------


def mha64(attn, x: Tensor, n_head: int) -> Tensor:
    B, T, C = x.shape
    q, k, v = lin64(x, attn.c_attn).split(C, dim=-1)
    q, k, v = (t.reshape(B, T, n_head, C // n_head).transpose(1, 2) for t in (q, k, v))
    y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, nh, T, hs)
    return lin64(y.transpose(1, 2).reshape(B, T, C), attn.c_proj)


def block_oracle(block, x: Tensor, n_head: int = 4) -> Tensor:
    x = x.double()
    x = x + mha64(block.attn, ln64(x, block.ln_1), n_head)
    return x + ff_oracle(block.mlp, ln64(x, block.ln_2))


def block_slips(block, x: Tensor, n_head: int = 4) -> list[tuple[str, Tensor]]:
    x = x.double()

    def attn(h):
        return mha64(block.attn, h, n_head)

    def mlp(h):
        return ff_oracle(block.mlp, h)

    post = ln64(x + attn(x), block.ln_1)
    post = ln64(post + mlp(post), block.ln_2)
    no_res1 = attn(ln64(x, block.ln_1))
    no_res1 = no_res1 + mlp(ln64(no_res1, block.ln_2))
    h = x + attn(ln64(x, block.ln_1))
    return [
        (
            "post-norm, x = ln(x + sublayer(x)): GPT-2 normalises each sub-layer's input "
            "and adds the result to the residual stream as it is",
            post,
        ),
        ("no residual around attention: x = attn(ln_1(x)) drops x", no_res1),
        ("no residual around the MLP: x = mlp(ln_2(x)) drops x", mlp(ln64(h, block.ln_2))),
        ("ln_1 used before the MLP too: ln_2 is its own LayerNorm", h + mlp(ln64(h, block.ln_1))),
        (
            "the LayerNorm applied to the residual stream (x = ln(x) before adding)",
            (lambda a: (lambda b: b + mlp(b))(ln64(a, block.ln_2)))(
                ln64(x, block.ln_1) + attn(ln64(x, block.ln_1))
            ),
        ),
    ]


BLOCK_TOL = {"rtol": 1e-5, "atol": 3e-5}  # two residual sums of float32 sub-layers


def make_block(n_embd=16, n_head=4, block_size=8, dropout=0.0, bias=True, seed=1):
    torch.manual_seed(0)  # nn.Linear's default init draws from the global RNG
    return randomize_(layers.Block(n_embd, n_head, block_size, dropout, bias), seed)


@kata("Block")
class TestBlock:
    def where(self, x=None, dropout=0.0, bias=True):
        kwargs = {}
        if dropout:
            kwargs["dropout"] = dropout
        if not bias:
            kwargs["bias"] = False
        w = kata_call(16, 4, 8, **kwargs)
        return w if x is None else f"{w}(x {describe(x)})"

    @pytest.mark.parametrize("bias", [True, False])
    def test_parts(self, bias):
        torch.manual_seed(0)
        block = layers.Block(16, 4, 8, 0.1, bias)
        where = self.where(dropout=0.1, bias=bias)
        for name in ("ln_1", "ln_2"):
            ln = getattr(block, name, None)
            w = getattr(ln, "weight", None)
            if not isinstance(ln, nn.Module) or not isinstance(w, Tensor) or w.shape != (16,):
                fail(where, f"`{name}` is {describe(ln)}, expected LayerNorm(16)")
            if (getattr(ln, "bias", None) is not None) != bias:
                fail(
                    where,
                    f"{name}.bias is {describe(getattr(ln, 'bias', None))} with bias={bias}",
                    "the bias flag is not passed on to ln_1 and ln_2",
                )
            check_close(w.detach(), torch.ones(16), f"{where}: {name}.weight at init")
        attn, mlp = getattr(block, "attn", None), getattr(block, "mlp", None)
        check_linear(attn, "c_attn", 16, 48, bias, where + ": attn")
        check_linear(attn, "c_proj", 16, 16, bias, where + ": attn")
        check_linear(mlp, "c_fc", 16, 64, bias, where + ": mlp", MLP_WIDTH)
        check_linear(mlp, "c_proj", 64, 16, bias, where + ": mlp", MLP_WIDTH)
        want = 2 * 16 * (1 + bias) + 16 * 48 + 16 * 16 + 2 * 16 * 64 + bias * (48 + 16 + 64 + 16)
        got = sum(p.numel() for p in block.parameters())
        if got != want:
            fail(where, f"block.parameters() holds {got} scalars, expected {want}")

    @pytest.mark.parametrize(("T", "bias"), [(8, True), (5, True), (6, False)])
    def test_values(self, T, bias):
        block = make_block(bias=bias)
        x = seeded(2, T, 16, seed=2)
        where = self.where(x, bias=bias)
        snap = Snapshot(x=x)
        out = block(x)
        snap.check(where)
        check_tensor(out, where, shape=(2, T, 16), dtype=torch.float32)
        check_close(
            out,
            block_oracle(block, x).float(),
            where,
            **BLOCK_TOL,
            mistake=likely_mistake(out, block_slips(block, x)),
        )

    def test_causal(self):
        block = make_block(seed=3)
        x = seeded(2, 8, 16, seed=4)
        x2 = x.clone()
        x2[:, 4:] = seeded(2, 4, 16, seed=5)
        where = self.where(x) + " with x[:, 4:] changed: out[:, :4]"
        with torch.no_grad():
            a, b = block(x)[:, :4], block(x2)[:, :4]
        check_close(
            b,
            a,
            where,
            rtol=1e-6,
            atol=1e-6,
            mistake="the attention is not causal: attn is not a MultiHeadAttention, or that "
            "one lets the future in",
        )

    def test_dropout_train_vs_eval(self):
        block = make_block(dropout=0.5, seed=6)
        x = seeded(2, 6, 16, seed=7)
        check_dropout_modes(block, x, block_oracle, self.where(x, dropout=0.5))

    def test_constants_are_buffers(self):
        torch.manual_seed(0)
        check_constants_are_buffers(layers.Block(16, 4, 8), self.where())

    def test_follows_double(self):
        block = make_block(seed=10)
        check_follows_double(block, seeded(2, 5, 16, seed=11), block_oracle, self.where())

    def test_follows_to_another_device(self):
        x = seeded(2, 5, 16, seed=12)
        check_follows_device(lambda: make_block(seed=13), x, block_oracle, self.where(), "meta")

    @needs_cuda
    def test_follows_to_cuda(self):
        x = seeded(2, 5, 16, seed=14)
        check_follows_device(
            lambda: make_block(seed=15), x, block_oracle, self.where(), "cuda", BLOCK_TOL
        )

    def test_gradients_reach_every_parameter(self):
        block = make_block(seed=8)
        x = seeded(2, 5, 16, seed=9)
        where = self.where(x) + ".sum().backward()"
        block(x).sum().backward()
        for name, p in block.named_parameters():
            if p.grad is None:
                fail(where, f"{name}.grad is None: this parameter is not in the graph")
