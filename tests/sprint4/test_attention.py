"""Grades sprint4.attention against torch's own attention, computed in float64.

scaled_dot_product_attention is "from scratch": its tests forbid torch's fused attention
(the tests' own oracle calls are fine). The modules are checked through their named
sub-modules (key/query/value, c_attn/c_proj): the tests copy the learner's weights into a
float64 recomputation built on torch.nn.functional.scaled_dot_product_attention.
"""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from grader import kata, target_module
from grader.checks import (
    Shown,
    Snapshot,
    check_close,
    check_constants_are_buffers,
    check_global_rngs,
    check_moves_with_to,
    check_no_default_device_tensors,
    check_tensor,
    describe,
    expect_raises,
    fail,
    global_rngs,
    likely_mistake,
    needs_cuda,
    plain_tensors,
)
from tests.kata_helpers import F32_TOL, kata_call, seeded

attention = target_module("sprint4.attention")


def random_mask(*shape, seed=0) -> Tensor:
    """A bool mask (…, Tq, Tk), about half True, key 0 always visible (no empty row)."""
    g = torch.Generator().manual_seed(seed)
    mask = torch.rand(shape, generator=g) < 0.5
    mask[..., 0] = True
    return mask


def sdpa64(q, k, v, mask=None, is_causal=False) -> Tensor:
    return F.scaled_dot_product_attention(
        q.double(), k.double(), v.double(), attn_mask=mask, is_causal=is_causal
    )


def sdpa_slips(q, k, v, mask=None) -> list[tuple[str, Tensor]]:
    """What the usual slips return on these inputs, in float64."""
    q, k, v = q.double(), k.double(), v.double()
    d = q.size(-1)
    s = q @ k.transpose(-2, -1)
    m = mask if mask is not None else torch.ones(s.shape[-2:], dtype=torch.bool)
    out = [
        ("dividing the scores by d instead of √d", sdpa64(q / math.sqrt(d), k, v, mask)),
        ("no 1/√d scaling of the scores", sdpa64(q * math.sqrt(d), k, v, mask)),
        (
            "softmax over the queries (dim=-2) instead of over the keys",
            torch.softmax((s / math.sqrt(d)).masked_fill(~m, float("-inf")), dim=-2).nan_to_num()
            @ v
            if s.size(-1) == s.size(-2)
            else None,
        ),
        (
            "masked scores set to 0 instead of −inf: a score of 0 still gets weight e^0",
            torch.softmax((s / math.sqrt(d)).masked_fill(~m, 0.0), dim=-1) @ v,
        ),
        (
            "the mask applied after the softmax (weights · mask): the rows no longer sum to 1",
            (torch.softmax(s / math.sqrt(d), dim=-1) * m) @ v,
        ),
        (
            "the mask inverted: masked_fill(mask, -inf) drops the keys where mask is True, "
            "though True means the key is kept",
            torch.softmax((s / math.sqrt(d)).masked_fill(m, float("-inf")), dim=-1).nan_to_num()
            @ v,
        ),
    ]
    return [(t, w) for t, w in out if w is not None]


def call(fn, where: str):
    """fn(), with the RuntimeErrors that usual slips raise turned into teaching failures."""
    try:
        return fn()
    except NotImplementedError:
        raise
    except RuntimeError as exc:
        text = str(exc)
        if "leaf Variable that requires grad" in text:
            fail(
                where,
                f"raised RuntimeError: {text.splitlines()[0]}",
                "an input changed in place (q /= …, masked_fill_ on k): autograd refuses it on "
                "a tensor that requires grad, and the caller's tensor would change anyway",
            )
        if "must match the size" in text or "cannot be multiplied" in text:
            fail(
                where,
                f"raised RuntimeError: {text.splitlines()[0]}",
                "the shapes do not line up: k is transposed on the wrong dims (.T reverses "
                "every dim, not just the last two), or the weights (…, Tq, Tk) meet v "
                "(…, Tk, dv) the wrong way round",
            )
        raise


def run(model: nn.Module, x: Tensor, where: str) -> Tensor:
    """model(x), with a causal mask of the wrong size turned into a teaching failure."""
    try:
        return model(x)
    except NotImplementedError:
        raise
    except RuntimeError as exc:
        text = str(exc)
        if not any(s in text for s in ("must match the size", "Expected size", "to broadcast")):
            raise
        fail(
            where,
            f"raised RuntimeError: {str(exc).splitlines()[0]}",
            "the whole (block_size, block_size) mask is used as it is, not cut to the "
            "input's length T, which may be shorter than block_size",
        )


# --- causal_mask ------------------------------------------------------------------------


def _is_meta(value) -> bool:
    return (isinstance(value, str) and value == "meta") or (
        isinstance(value, torch.device) and value.type == "meta"
    )


class MetaOnTheCpu(TorchFunctionMode):
    """A with-block in which the CPU plays the meta device, for a kata with a device
    argument: every machine has "meta", so a device that is ignored shows everywhere.

    Ops on real meta tensors import torch._dynamo the first time (~1.5 s, most of a grading
    run), so inside the block a meta device argument (device="meta", .to("meta")) becomes the
    CPU, and what that makes is marked; so is whatever is computed from marked tensors only.
    `on_meta(t)` tells whether t would be on meta. `mixed` names the first op that combined
    a marked tensor with an unmarked one of one or more dims (a device error on meta or a
    GPU); `.to("cpu")` and `.cpu()` unmark, as they would move the tensor back.
    """

    MARK = "_kata_on_meta"

    def __enter__(self):
        self.mixed = ""
        return super().__enter__()

    @classmethod
    def on_meta(cls, t) -> bool:
        return isinstance(t, Tensor) and hasattr(t, cls.MARK)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is torch.device:  # torch.device("meta") names the device: it stays meta
            return func(*args, **kwargs)
        given = (*args[1:], *kwargs.values())  # args[0] is the tensor of a method
        to_meta = any(_is_meta(a) for a in (*args, *kwargs.values()))
        args = tuple(torch.device("cpu") if _is_meta(a) else a for a in args)
        kwargs = {k: torch.device("cpu") if _is_meta(v) else v for k, v in kwargs.items()}
        out = func(*args, **kwargs)
        name = getattr(func, "__name__", "")
        inputs = [t for t in (*args, *kwargs.values()) if isinstance(t, Tensor)]
        if name in ("to", "type_as") and any(isinstance(a, Tensor) for a in given):
            to_meta = any(self.on_meta(a) for a in given)  # the device of that tensor
            inputs = []
        elif name == "cpu" or (
            name == "to" and any(isinstance(a, str | torch.device) for a in given)
        ):
            inputs = []  # moved to a device that is not meta
        if not to_meta:
            marked = [t for t in inputs if self.on_meta(t)]
            if not marked:
                return out
            others = [t for t in inputs if not self.on_meta(t) and t.dim() > 0]
            if others and name not in ("__setitem__", "copy_"):  # those copy across devices
                self.mixed = self.mixed or name
                return out
        for t in out if isinstance(out, tuple | list) else (out,):
            if isinstance(t, Tensor):
                setattr(t, self.MARK, True)
        return out


@kata("causal_mask")
class TestCausalMask:
    @pytest.mark.parametrize("T", [5, 8, 2, 1])
    def test_values(self, T):
        where = kata_call(T)
        got = attention.causal_mask(T)
        want = torch.ones(T, T, dtype=torch.bool).tril()
        check_tensor(got, where, shape=(T, T))
        if got.dtype != torch.bool:
            fail(
                where,
                f"expected dtype torch.bool, got {got.dtype}",
                "the mask is built from float ones (torch.ones makes float32 unless told "
                "otherwise), so it holds 1.0 and 0.0, not True and False: a float mask is "
                "added to or multiplied with scores, not used to select",
            )
        i, j = torch.arange(T)[:, None], torch.arange(T)[None, :]
        slips = [
            ("upper-triangular (triu): that lets query i see the future keys j ≥ i", (j >= i)),
            ("inverted: True above the diagonal, where j > i (the future)", (j > i)),
            ("strictly lower (tril(diagonal=-1)): a token must see itself too", (j < i)),
        ]
        # at T = 1 the last two agree, so name none
        mistake = likely_mistake(got.double(), slips) if T > 1 else ""
        check_close(got, want, where + " (True where query i may see key j ≤ i)", mistake=mistake)

    def test_device_meta(self):
        # every machine has "meta": a device argument that is ignored shows on the CPU too
        where = kata_call(4, device="meta")
        with MetaOnTheCpu() as meta:
            got = attention.causal_mask(4, device=torch.device("meta"))
        if meta.mixed:
            fail(
                where,
                f"{meta.mixed}() combined a tensor made on meta with one made on the default "
                "device: on any device but the default that is a device error",
                "one of the tensors the mask is built from was made without the device",
            )
        check_tensor(got, where, shape=(4, 4), dtype=torch.bool)
        if not MetaOnTheCpu.on_meta(got):
            fail(
                where,
                "expected the mask on device meta, got it on cpu (the default device)",
                "the device argument is not passed on to the tensor the mask is made from, "
                "so it lands on the default device",
            )
        check_close(got, torch.ones(4, 4, dtype=torch.bool).tril(), where)

    def test_device(self):
        where = kata_call(4, device="cpu")
        got = attention.causal_mask(4, device="cpu")
        check_tensor(got, where, shape=(4, 4), dtype=torch.bool)
        check_close(got, torch.ones(4, 4, dtype=torch.bool).tril(), where)
        if got.device.type != "cpu":
            fail(
                where,
                f"expected the mask on device cpu, got {got.device}",
                "the device argument is not passed on to the tensor the mask is made from, "
                "so it lands on the default device",
            )

    @needs_cuda
    def test_device_cuda(self):
        where = kata_call(4, device="cuda")
        got = attention.causal_mask(4, device=torch.device("cuda"))
        check_tensor(got, where, shape=(4, 4), dtype=torch.bool)
        if got.device.type != "cuda":
            fail(
                where,
                f"expected the mask on device cuda, got {got.device}",
                "the device argument is not passed on to the tensor the mask is made from, "
                "so it lands on the default device",
            )

    def test_rng_untouched(self):
        before = global_rngs()
        attention.causal_mask(6)
        check_global_rngs(before, kata_call(6))


# --- scaled_dot_product_attention --------------------------------------------------------


def check_sdpa(q, k, v, mask=None, extra=""):
    args = (q, k, v) if mask is None else (q, k, v, mask)
    where = kata_call(*args) + extra
    want = sdpa64(q, k, v, mask).to(q.dtype)
    slips = sdpa_slips(q, k, v, mask)
    snap = Snapshot(q=q, k=k, v=v) if mask is None else Snapshot(q=q, k=k, v=v, mask=mask)
    got = call(lambda: attention.scaled_dot_product_attention(*args), where)
    snap.check(where)
    check_close(got, want, where, **F32_TOL, mistake=likely_mistake(got, slips))
    return got


@kata("scaled_dot_product_attention")
class TestScaledDotProductAttention:
    def test_no_mask(self):
        check_sdpa(
            seeded(2, 3, 5, 8, seed=1), seeded(2, 3, 5, 8, seed=2), seeded(2, 3, 5, 8, seed=3)
        )

    def test_tq_tk_d_dv_differ(self):
        q, k, v = seeded(2, 3, 4, seed=4), seeded(2, 6, 4, seed=5), seeded(2, 6, 7, seed=6)
        got = check_sdpa(q, k, v, extra=" with Tq=3, Tk=6, d=4, dv=7")
        check_tensor(got, "", shape=(2, 3, 7))

    def test_scaled_by_sqrt_d(self):
        # large scores: dividing by d or by nothing changes the softmax by far
        q, k, v = (
            seeded(1, 4, 16, seed=7, scale=2.0),
            seeded(1, 5, 16, seed=8),
            seeded(1, 5, 3, seed=9),
        )
        check_sdpa(q, k, v, extra=" (d=16: scores are divided by √16 = 4)")

    def test_mask_broadcasts(self):
        q, k, v = (
            seeded(2, 2, 3, 4, seed=10),
            seeded(2, 2, 6, 4, seed=11),
            seeded(2, 2, 6, 5, seed=12),
        )
        check_sdpa(q, k, v, random_mask(3, 6, seed=13), " with a (Tq, Tk) mask")
        check_sdpa(q, k, v, random_mask(2, 1, 3, 6, seed=14), " with a (B, 1, Tq, Tk) mask")

    def test_causal_mask(self):
        q, k, v = (
            seeded(2, 2, 6, 4, seed=15),
            seeded(2, 2, 6, 4, seed=16),
            seeded(2, 2, 6, 4, seed=17),
        )
        mask = torch.ones(6, 6, dtype=torch.bool).tril()
        got = check_sdpa(q, k, v, mask, " with a causal (T, T) mask")
        want = sdpa64(q, k, v, is_causal=True).float()
        check_close(got, want, "causal attention", **F32_TOL)

    def test_masked_keys_get_no_weight(self):
        # a masked key's value is huge: any weight left on it shows at once
        q, k, v = seeded(1, 4, 4, seed=18), seeded(1, 5, 4, seed=19), seeded(1, 5, 3, seed=20)
        mask = torch.ones(4, 5, dtype=torch.bool)
        mask[:, 3] = False
        v = v.clone()
        v[:, 3] = 1000.0
        check_sdpa(q, k, v, mask, " with key 3 masked out for every query (v[:, 3] = 1000)")

    def test_float64(self):
        q, k, v = (seeded(2, 4, 3, seed=s, dtype=torch.float64) for s in (21, 22, 23))
        where = kata_call(q, k, v)
        got = attention.scaled_dot_product_attention(q, k, v)
        check_close(got, sdpa64(q, k, v), where, rtol=1e-10, atol=1e-12)

    def test_gradient(self):
        q, k, v = (seeded(2, 4, 3, seed=s, dtype=torch.float64) for s in (24, 25, 26))
        mask = random_mask(4, 4, seed=27)
        leaves = [t.clone().requires_grad_() for t in (q, k, v)]
        where = kata_call(*leaves, mask) + ".sum().backward()"
        r = seeded(2, 4, 3, seed=28, dtype=torch.float64)
        got = call(lambda: attention.scaled_dot_product_attention(*leaves, mask), where)
        if not isinstance(got, Tensor) or not got.requires_grad:
            fail(where, "the output does not require grad", "the graph was cut (.detach, .data)")
        grads = torch.autograd.grad((got * r).sum(), leaves)
        ref = [t.clone().requires_grad_() for t in (q, k, v)]
        want = torch.autograd.grad((sdpa64(*ref, mask) * r).sum(), ref)
        for name, g, w in zip("qkv", grads, want, strict=True):
            check_close(g, w, f"{where} → {name}.grad", rtol=1e-8, atol=1e-10)

    def test_rng_untouched(self):
        q, k, v = (seeded(2, 4, 3, seed=s) for s in (29, 30, 31))
        before = global_rngs()
        attention.scaled_dot_product_attention(q, k, v)
        check_global_rngs(before, kata_call(q, k, v))


# --- the modules --------------------------------------------------------------------------


def randomize_(module: nn.Module, seed: int) -> nn.Module:
    """Every parameter redrawn from a seeded generator (biases too, so they matter)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64) * 0.4)
    return module


def check_linear(module, name, n_in, n_out, bias, where, width_mistake="") -> nn.Linear:
    """`module.<name>` is nn.Linear(n_in, n_out, bias=bias); `width_mistake` names the
    mistake that gives a layer of other sizes."""
    layer = getattr(module, name, None)
    if not isinstance(layer, nn.Linear):
        fail(
            where,
            f"has no nn.Linear named `{name}` (found {describe(layer)})",
            "the layer is missing or kept under another name: the grader finds it by the "
            "name the contract gives",
        )
    got = (layer.in_features, layer.out_features, layer.bias is not None)
    if got != (n_in, n_out, bias):
        fail(
            where,
            f"{name} is Linear(in={got[0]}, out={got[1]}, bias={got[2]}), expected "
            f"Linear(in={n_in}, out={n_out}, bias={bias})",
            "the bias flag is not passed on to every nn.Linear (whose own default is a bias)"
            if got[:2] == (n_in, n_out)
            else width_mistake,
        )
    return layer


def check_dropout(module, name, p, where) -> None:
    layer = getattr(module, name, None)
    if not isinstance(layer, nn.Dropout) or layer.p != p:
        fail(where, f"`{name}` is {describe(layer)}, expected nn.Dropout(p={p})")


def lin64(x: Tensor, layer: nn.Linear) -> Tensor:
    w = layer.weight.detach().double()
    b = None if layer.bias is None else layer.bias.detach().double()
    return F.linear(x, w, b)


def head_oracle(head, x: Tensor) -> Tensor:
    x = x.double()
    q, k, v = lin64(x, head.query), lin64(x, head.key), lin64(x, head.value)
    return F.scaled_dot_product_attention(q, k, v, is_causal=True)


def head_slips(head, x: Tensor, n_embd: int) -> list[tuple[str, Tensor]]:
    x = x.double()
    q, k, v = lin64(x, head.query), lin64(x, head.key), lin64(x, head.value)
    hs, T = q.size(-1), q.size(-2)
    tril = torch.ones(T, T, dtype=torch.bool).tril()
    wei = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(hs), dim=-1)
    return [
        (
            "scores scaled by 1/√n_embd (C) instead of 1/√head_size",
            F.scaled_dot_product_attention(q * math.sqrt(hs / n_embd), k, v, is_causal=True),
        ),
        ("no causal mask: each token also attends to the future", sdpa64(q, k, v)),
        (
            "the mask applied after the softmax: the weights no longer sum to 1",
            (wei * tril) @ v,
        ),
    ]


def check_causal(model, x: Tensor, t0: int, where: str) -> None:
    """Changing x[:, t0:] leaves out[:, :t0] as it was."""
    x2 = x.clone()
    x2[:, t0:] = seeded(*x2[:, t0:].shape, seed=77)
    with torch.no_grad():
        a, b = model(x)[:, :t0], model(x2)[:, :t0]
    check_close(
        b,
        a,
        f"{where} with x[:, {t0}:] changed: out[:, :{t0}]",
        rtol=1e-6,
        atol=1e-6,
        mistake="the future leaks in: the scores are not masked with a causal (T, T) mask "
        "before the softmax",
    )


EVAL_DROPOUT = (
    "dropout acts in eval mode too: F.dropout called with training=True (or a mask of one's "
    "own) ignores the module's mode, where an nn.Dropout layer follows it"
)


def check_dropout_modes(model: nn.Module, x: Tensor, oracle, where: str) -> None:
    """With dropout > 0: eval is deterministic and right; train differs from eval."""
    model.eval()
    with torch.no_grad():
        e1, e2 = model(x), model(x)
    check_close(
        e2,
        e1,
        where + " in eval mode, called twice",
        rtol=0,
        atol=0,
        mistake=EVAL_DROPOUT,
    )
    check_close(e1, oracle(model, x).float(), where + " in eval mode", **F32_TOL)
    model.train()
    with torch.no_grad():
        t = model(x)
    if torch.allclose(t, e1):
        fail(
            where,
            "in training mode with dropout=0.5 the output equals eval mode's",
            "the nn.Dropout layers are built but never applied in forward",
        )


# --- what .to() and .double() convert: parameters and registered buffers --------------


def check_follows_double(model: nn.Module, x: Tensor, oracle, where: str) -> None:
    """After model.double(), a float64 input gives a float64 output of the right values."""
    model = model.double()
    x = x.double()
    where = f"{where} after .double(), on x {describe(x)}"
    out = run(model, x, where)
    check_tensor(out, where)
    if out.dtype != torch.float64:
        fail(
            where,
            f"the output is {out.dtype}, expected torch.float64: the module did not follow "
            ".double()",
            "a tensor kept outside the parameters and buffers, or one made in forward with "
            "a dtype of its own, stays float32 and pulls the result back to it",
        )
    check_close(out, oracle(model, x), where, rtol=1e-10, atol=1e-12)


def check_follows_device(make, x: Tensor, oracle, where: str, device: str, tol=F32_TOL) -> None:
    """make() works on `device`: on "meta" (every machine has it, shapes and no data),
    every tensor it holds moves there and, run on the CPU, its forward makes no tensor on
    the default device that it then mixes with the input's; elsewhere it runs there and
    gives the right values."""
    model = make()
    if device == "meta":
        check_no_default_device_tensors(lambda: run(model, x, where), f"{where}(x {describe(x)})")
        check_moves_with_to(model, where, "meta")
        return
    want = oracle(model, x).float()
    model = model.to(device)
    x = x.to(device)
    where = f"{where} after .to({device!r}), on x {describe(x)}"
    try:
        out = run(model, x, where)
    except RuntimeError as exc:
        if "device" not in str(exc):
            raise
        left = [(n, t.device) for n, t in plain_tensors(model) if t.device != x.device]
        fail(
            where,
            f"raised RuntimeError: {str(exc).splitlines()[0]}",
            f"the plain tensor attribute {', '.join(f'`{n}`' for n, _ in left)} stayed behind "
            f"on {left[0][1]}: .to() moves only parameters and registered buffers"
            if left
            else "a tensor made in forward on the default device (cpu) rather than on the "
            "input's device",
        )
    check_tensor(out, where)
    if out.device != x.device:
        fail(
            where,
            f"the output is on {out.device}, expected {x.device} (the input's and the "
            "module's device)",
            "a tensor made in forward on the default device (cpu) rather than on the input's "
            "device",
        )
    check_close(out.cpu(), want, where, **tol)


def make_head(n_embd=16, head_size=8, block_size=8, dropout=0.0):
    torch.manual_seed(0)  # nn.Linear's default init draws from the global RNG
    return attention.AttentionHead(n_embd, head_size, block_size, dropout)


@kata("AttentionHead")
class TestAttentionHead:
    def where(self, x=None, dropout=0.0):
        w = kata_call(16, 8, 8, **({"dropout": dropout} if dropout else {}))
        return w if x is None else f"{w}(x {describe(x)})"

    def test_layers(self):
        head = make_head()
        for name in ("key", "query", "value"):
            check_linear(head, name, 16, 8, False, self.where())

    @pytest.mark.parametrize("T", [8, 5, 1])
    def test_values(self, T):
        head = randomize_(make_head(), 1)
        x = seeded(2, T, 16, seed=2)
        where = self.where(x)
        snap = Snapshot(x=x)
        out = run(head, x, where)
        snap.check(where)
        check_tensor(out, where, shape=(2, T, 8), dtype=torch.float32)
        check_close(
            out,
            head_oracle(head, x).float(),
            where,
            **F32_TOL,
            mistake=likely_mistake(out, head_slips(head, x, 16)),
        )

    def test_causal(self):
        head = randomize_(make_head(), 3)
        x = seeded(2, 8, 16, seed=4)
        check_causal(head, x, 3, self.where(x))

    def test_dropout_zero_is_deterministic(self):
        head = randomize_(make_head(), 6).train()
        x = seeded(2, 6, 16, seed=7)
        where = self.where(x) + " in training mode"
        before = global_rngs()
        out = run(head, x, where)
        check_global_rngs(before, where + " (dropout=0.0 draws no random numbers)")
        check_close(out, head_oracle(head, x).float(), where, **F32_TOL)

    def test_dropout_train_vs_eval(self):
        x = seeded(2, 8, 16, seed=8)
        torch.manual_seed(0)
        head = randomize_(make_head(dropout=0.5), 5)
        check_dropout_modes(head, x, head_oracle, self.where(x, dropout=0.5))

    def test_constants_are_buffers(self):
        check_constants_are_buffers(make_head(), self.where())

    def test_follows_double(self):
        check_follows_double(
            randomize_(make_head(), 10), seeded(2, 5, 16, seed=11), head_oracle, self.where()
        )

    def test_follows_to_another_device(self):
        x = seeded(2, 5, 16, seed=12)
        check_follows_device(
            lambda: randomize_(make_head(), 13), x, head_oracle, self.where(), "meta"
        )

    @needs_cuda
    def test_follows_to_cuda(self):
        x = seeded(2, 5, 16, seed=14)
        check_follows_device(
            lambda: randomize_(make_head(), 15), x, head_oracle, self.where(), "cuda"
        )


# --- MultiHeadAttention -------------------------------------------------------------------


def mha_oracle(mha, x: Tensor, n_head: int) -> Tensor:
    x = x.double()
    B, T, C = x.shape
    q, k, v = lin64(x, mha.c_attn).split(C, dim=-1)
    q, k, v = (t.reshape(B, T, n_head, C // n_head).transpose(1, 2) for t in (q, k, v))
    y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, nh, T, hs)
    return lin64(y.transpose(1, 2).reshape(B, T, C), mha.c_proj)


def mha_slips(mha, x: Tensor, n_head: int) -> list[tuple[str, Tensor]]:
    x = x.double()
    B, T, C = x.shape
    hs = C // n_head
    q, k, v = lin64(x, mha.c_attn).split(C, dim=-1)

    def heads(t):
        return t.reshape(B, T, n_head, hs).transpose(1, 2)

    def finish(y):
        return lin64(y.transpose(1, 2).reshape(B, T, C), mha.c_proj)

    def att(q, k, v, **kw):
        return F.scaled_dot_product_attention(q, k, v, **kw)

    return [
        (
            "scores scaled by 1/√n_embd (C) instead of 1/√hs, the head size",
            finish(att(heads(q) * math.sqrt(hs / C), heads(k), heads(v), is_causal=True)),
        ),
        (
            "q, k, v split from c_attn in the wrong order (they come as q, k, v)",
            finish(att(heads(k), heads(q), heads(v), is_causal=True)),
        ),
        (
            "heads split with view(B, nh, T, hs) and no transpose: each head gets a jumble of "
            "time steps and channels",
            finish(att(*(t.reshape(B, n_head, T, hs) for t in (q, k, v)), is_causal=True)),
        ),
        (
            "no causal mask: each token also attends to the future",
            finish(att(heads(q), heads(k), heads(v))),
        ),
        (
            "heads merged with view(B, T, C) without transposing back from (B, nh, T, hs)",
            lin64(att(heads(q), heads(k), heads(v), is_causal=True).reshape(B, T, C), mha.c_proj),
        ),
    ]


def mha4_oracle(mha, x: Tensor) -> Tensor:
    return mha_oracle(mha, x, 4)


def make_mha(n_embd=16, n_head=4, block_size=8, dropout=0.0, bias=True):
    torch.manual_seed(0)  # nn.Linear's default init draws from the global RNG
    return attention.MultiHeadAttention(n_embd, n_head, block_size, dropout, bias)


@kata("MultiHeadAttention")
class TestMultiHeadAttention:
    def where(self, x=None, n_head=4, dropout=0.0, bias=True):
        kwargs = {}
        if dropout:
            kwargs["dropout"] = dropout
        if not bias:
            kwargs["bias"] = False
        w = kata_call(16, n_head, 8, **kwargs)
        return w if x is None else f"{w}(x {describe(x)})"

    @pytest.mark.parametrize("bias", [True, False])
    def test_layers(self, bias):
        mha = make_mha(bias=bias, dropout=0.1)
        where = self.where(bias=bias, dropout=0.1)
        check_linear(mha, "c_attn", 16, 48, bias, where)
        check_linear(mha, "c_proj", 16, 16, bias, where)
        check_dropout(mha, "attn_dropout", 0.1, where)
        check_dropout(mha, "resid_dropout", 0.1, where)

    @pytest.mark.parametrize(
        ("n_head", "T", "bias"), [(4, 8, True), (2, 5, True), (4, 6, False), (1, 3, True)]
    )
    def test_values(self, n_head, T, bias):
        mha = randomize_(make_mha(n_head=n_head, bias=bias), 1)
        x = seeded(2, T, 16, seed=2)
        where = self.where(x, n_head=n_head, bias=bias)
        snap = Snapshot(x=x)
        out = run(mha, x, where)
        snap.check(where)
        check_tensor(out, where, shape=(2, T, 16), dtype=torch.float32)
        check_close(
            out,
            mha_oracle(mha, x, n_head).float(),
            where,
            **F32_TOL,
            mistake=likely_mistake(out, mha_slips(mha, x, n_head)),
        )

    def test_causal(self):
        mha = randomize_(make_mha(), 3)
        x = seeded(2, 8, 16, seed=4)
        check_causal(mha, x, 5, self.where(x))

    def test_dropout_zero_is_deterministic(self):
        mha = randomize_(make_mha(), 6).train()
        x = seeded(2, 6, 16, seed=7)
        where = self.where(x) + " in training mode"
        before = global_rngs()
        out = run(mha, x, where)
        check_global_rngs(before, where + " (dropout=0.0 draws no random numbers)")
        check_close(out, mha_oracle(mha, x, 4).float(), where, **F32_TOL)

    def test_dropout_train_vs_eval(self):
        x = seeded(2, 8, 16, seed=8)
        torch.manual_seed(0)
        mha = randomize_(make_mha(dropout=0.5), 5)
        check_dropout_modes(mha, x, lambda m, x: mha_oracle(m, x, 4), self.where(x, dropout=0.5))

    def test_n_embd_not_divisible_raises(self):
        def build():
            attention.MultiHeadAttention(16, 5, 8)
            return Shown("a module")

        expect_raises(
            ValueError,
            build,
            kata_call(16, 5, 8),
            "16 channels do not split into 5 heads of equal size",
            "no check in __init__ that n_head divides n_embd (or one made with assert, which "
            "raises AssertionError)",
        )

    def test_constants_are_buffers(self):
        check_constants_are_buffers(make_mha(), self.where())

    def test_follows_double(self):
        check_follows_double(
            randomize_(make_mha(), 10), seeded(2, 5, 16, seed=11), mha4_oracle, self.where()
        )

    def test_follows_to_another_device(self):
        x = seeded(2, 5, 16, seed=12)
        check_follows_device(
            lambda: randomize_(make_mha(), 13), x, mha4_oracle, self.where(), "meta"
        )

    @needs_cuda
    def test_follows_to_cuda(self):
        x = seeded(2, 5, 16, seed=14)
        check_follows_device(
            lambda: randomize_(make_mha(), 15), x, mha4_oracle, self.where(), "cuda"
        )

    def test_gradients_reach_every_parameter(self):
        mha = make_mha()
        x = seeded(2, 5, 16, seed=9)
        where = self.where(x) + ".sum().backward()"
        mha(x).sum().backward()
        for name, p in mha.named_parameters():
            if p.grad is None:
                fail(where, f"{name}.grad is None: this parameter is not in the graph")
