"""Grades sprint7.lora against the maths in float64 and against peft's own LoRA.

LoRALinear: its parts (the very base Linear, frozen; A (r, in) drawn uniform on ±1/√in
from the generator given or the global RNG; B (out, r) zero), its output
base(x) + (alpha/r)·x Aᵀ Bᵀ and the gradients of A and B against float64 formulas, and
merge() against W + (alpha/r)·B A. apply_lora: on TinyLM, the test's own GPT-shaped
tree with traps for name matching, which Linears it wraps (against the contract's rule
and against peft's choice), what stays trainable, and the logits against the test's own
LoRA with the same A and B. lora_state_dict: keys and values, against the rule and
against peft's get_peft_model_state_dict.

peft's answers (a LoRA layer's output and merge_and_unload's weight, a tree's logits and
adapter) are computed once for fixed inputs and cached under out/cache/, one file per
peft version (PeftAnswers): importing peft costs several seconds, more than grading the
rest of the module. tests/harness/test_lora_run.py proves the cache equals live peft.
"""

import math
import os

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

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
    foreign_value,
    global_rngs,
    likely_mistake,
    needs_package,
)
from tests.kata_helpers import F32_TOL, kata_call, seeded, seeded_generator

lora = target_module("sprint7.lora")

# float64 layers of ≤ 64 terms per sum, against a float64 formula by another route:
# ~1e-15 apart; 1e-12 leaves room and still sees any wrong scaling or transpose.
F64_TOL = {"rtol": 1e-12, "atol": 1e-12}


# --- a tiny GPT-shaped tree (nanoGPT's names) ---------------------------------------------


class _Attn(nn.Module):
    def __init__(self, C):
        super().__init__()
        self.c_attn = nn.Linear(C, 3 * C)
        self.c_proj = nn.Linear(C, C)

    def forward(self, x):
        q, k, v = self.c_attn(x).chunk(3, dim=-1)
        return self.c_proj(torch.sigmoid(q) * k + v)  # attention's stand-in: q, k, v all count


class _MLP(nn.Module):
    def __init__(self, C):
        super().__init__()
        self.c_fc = nn.Linear(C, 4 * C)
        self.c_proj = nn.Linear(4 * C, C)

    def forward(self, x):
        return self.c_proj(F.gelu(self.c_fc(x)))


class _Block(nn.Module):
    def __init__(self, C):
        super().__init__()
        self.ln_1 = nn.LayerNorm(C)
        self.attn = _Attn(C)
        self.ln_2 = nn.LayerNorm(C)
        self.mlp = _MLP(C)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class TinyLM(nn.Module):
    """nanoGPT's module names (transformer.h.0.attn.c_attn, …) plus two traps for name
    matching: `proj_c_attn`, a Linear whose name ends in "c_attn" but not at a dot, and
    `c_attn_mix.0`, a Linear whose name holds "c_attn" without ending in it."""

    V, C = 11, 6

    def __init__(self):
        super().__init__()
        V, C = self.V, self.C
        self.transformer = nn.ModuleDict(
            dict(
                wte=nn.Embedding(V, C),
                h=nn.ModuleList(_Block(C) for _ in range(2)),
                ln_f=nn.LayerNorm(C),
            )
        )
        self.proj_c_attn = nn.Linear(C, C)
        self.c_attn_mix = nn.Sequential(nn.Linear(C, C))
        self.lm_head = nn.Linear(C, V, bias=False)

    def forward(self, idx):
        x = self.transformer.wte(idx)
        for block in self.transformer.h:
            x = block(x)
        x = x + self.proj_c_attn(x) + self.c_attn_mix(x)
        return self.lm_head(self.transformer.ln_f(x))


TREE_TARGETS = ("c_attn", "attn.c_proj")
TREE_WRAPPED = [f"transformer.h.{i}.attn.{n}" for i in range(2) for n in ("c_attn", "c_proj")]
TREE_IDX = torch.randint(TinyLM.V, (2, 5), generator=seeded_generator(71))


def tiny_lm(seed: int = 0) -> TinyLM:
    """A TinyLM whose every parameter is drawn from a seeded generator (LayerNorms
    around 1, the rest around 0), in eval mode."""
    torch.manual_seed(0)  # the layers' own init draws from the global RNG; all is redrawn
    model = TinyLM()
    g = seeded_generator(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            r = torch.randn(p.shape, generator=g)
            p.copy_(1 + 0.3 * r if "ln_" in name and name.endswith("weight") else 0.4 * r)
    return model.eval()


def tree_of(state_dict: dict[str, Tensor]) -> TinyLM:
    model = tiny_lm()
    model.load_state_dict(state_dict)
    return model


class _RefLoRA(nn.Module):
    """The test's own LoRA layer, for an oracle: base(x) + scaling · x Aᵀ Bᵀ."""

    def __init__(self, base, A, B, scaling):
        super().__init__()
        self.base, self.A, self.B, self.scaling = base, A, B, scaling

    def forward(self, x):
        return self.base(x) + self.scaling * (x @ self.A.t() @ self.B.t())


def oracle_logits(state_dict, adapters: dict[str, tuple[Tensor, Tensor]], scaling, idx):
    """TinyLM's logits with the test's own LoRA at each path of `adapters` (path → A, B)."""
    model = tree_of(state_dict)
    for path, (A, B) in adapters.items():
        parent, _, child = path.rpartition(".")
        holder = model.get_submodule(parent)
        setattr(holder, child, _RefLoRA(getattr(holder, child), A, B, scaling))
    with torch.no_grad():
        return model(idx)


# --- peft's answers, cached -----------------------------------------------------------------

LAYER_CASES = [(6, 5, 4, 8, True), (6, 5, 2, 5, False)]  # in, out, r, alpha, bias
TREE_R, TREE_ALPHA = 2, 3


class PeftAnswers:
    """What peft computes for fixed inputs, with the inputs: for each LAYER_CASES entry,
    a LoRA layer's output on x with given A and B and merge_and_unload()'s weight and
    bias; for TinyLM under LoraConfig(target_modules=TREE_TARGETS), its logits on TREE_IDX
    and its adapter (get_peft_model_state_dict), A and B drawn by the test.

    Importing peft costs several seconds (it imports transformers), so the first build is
    cached under out/cache/, one file per peft version; every later run reads it back in
    milliseconds. peft builds it either way; nothing is downloaded.
    """

    FORMAT = 1  # goes up when build() changes what it stores

    def __init__(self, saved: dict):
        self.layers: list[dict] = saved["layers"]
        self.tree: dict = saved["tree"]

    @staticmethod
    def build() -> dict:
        import peft

        g = seeded_generator(72)

        def draw(*shape, scale=0.5):
            return scale * torch.randn(shape, generator=g)

        layers = []
        for n_in, n_out, r, alpha, bias in LAYER_CASES:
            case = {"r": r, "alpha": alpha, "weight": draw(n_out, n_in), "x": draw(2, 3, n_in)}
            case["bias"] = draw(n_out) if bias else None
            case["A"], case["B"] = draw(r, n_in), draw(n_out, r)
            holder = nn.Module()
            holder.proj = nn.Linear(n_in, n_out, bias=bias)
            with torch.no_grad():
                holder.proj.weight.copy_(case["weight"])
                if bias:
                    holder.proj.bias.copy_(case["bias"])
            config = peft.LoraConfig(r=r, lora_alpha=alpha, target_modules=["proj"])
            wrapped = peft.get_peft_model(holder, config)
            layer = wrapped.base_model.model.proj
            with torch.no_grad():
                layer.lora_A["default"].weight.copy_(case["A"])
                layer.lora_B["default"].weight.copy_(case["B"])
                case["out"] = layer(case["x"])
                merged = wrapped.merge_and_unload().proj
            case["merged_weight"] = merged.weight.detach().clone()
            case["merged_bias"] = None if merged.bias is None else merged.bias.detach().clone()
            layers.append(case)

        model = tiny_lm(seed=73)
        state = {k: v.clone() for k, v in model.state_dict().items()}
        config = peft.LoraConfig(r=TREE_R, lora_alpha=TREE_ALPHA, target_modules=list(TREE_TARGETS))
        wrapped = peft.get_peft_model(model, config)
        with torch.no_grad():
            for _, module in sorted(wrapped.named_modules(), key=lambda item: item[0]):
                if isinstance(module, peft.tuners.lora.LoraLayer):
                    A, B = module.lora_A["default"].weight, module.lora_B["default"].weight
                    A.copy_(draw(*A.shape))
                    B.copy_(draw(*B.shape))
            logits = wrapped(TREE_IDX)
        adapter = {
            k: v.detach().clone() for k, v in peft.get_peft_model_state_dict(wrapped).items()
        }
        tree = {"state_dict": state, "idx": TREE_IDX, "logits": logits, "adapter": adapter}
        return {"layers": layers, "tree": tree}

    @classmethod
    def path(cls):
        from importlib import metadata

        from grader.catalog import ROOT

        version = metadata.version("peft")
        return ROOT / "out" / "cache" / f"lora-peft-{version}-format{cls.FORMAT}.pt"

    @classmethod
    def cached(cls) -> "PeftAnswers":
        path = cls.path()
        try:
            return cls(torch.load(path, weights_only=True))
        except Exception:  # missing or unreadable: build it again
            built = cls.build()
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            torch.save(built, tmp)
            tmp.replace(path)
            return cls(built)


def with_peft(test):
    """A test that reads peft's answers: skipped without peft; and its first run, which
    imports peft to build them (6 s on an idle 2-core machine, 15 s on a busy one), gets
    a minute rather than the default limit."""
    return needs_package("peft", "pip install 'peft>=0.13'")(pytest.mark.kata_timeout(60)(test))


_answers: list[PeftAnswers] = []


def peft_answers() -> PeftAnswers:
    """Once per process, and only when a test that needs them has got that far (a stub
    raises first, so grading stubs never imports peft)."""
    if not _answers:
        _answers.append(PeftAnswers.cached())
    return _answers[0]


def peft_paths(adapter: dict[str, Tensor]) -> list[str]:
    """The module paths of an adapter's keys: base_model.model.P.lora_A.weight → P."""
    prefix, suffix = "base_model.model.", ".lora_A.weight"
    return sorted(k[len(prefix) : -len(suffix)] for k in adapter if k.endswith(suffix))


# --- LoRALinear -----------------------------------------------------------------------------


def linear(n_in, n_out, bias=True, dtype=torch.float32, seed=0) -> nn.Linear:
    """An nn.Linear with seeded weights (its own init's draw from the global RNG is taken
    before the test looks at that RNG)."""
    base = nn.Linear(n_in, n_out, bias=bias, dtype=dtype)
    with torch.no_grad():
        base.weight.copy_(seeded(n_out, n_in, seed=seed, scale=0.5, dtype=dtype))
        if bias:
            base.bias.copy_(seeded(n_out, seed=seed + 1, scale=0.5, dtype=dtype))
    return base


def where_layer(base: nn.Linear, **kw) -> str:
    shown = f"nn.Linear({base.in_features}, {base.out_features}, bias={base.bias is not None}"
    if base.weight.dtype != torch.float32:
        shown += f", dtype={str(base.weight.dtype).removeprefix('torch.')}"
    return kata_call(Shown(shown + ")"), **kw)


def lora_parts(layer, where: str, r: int, base: nn.Linear) -> tuple[Tensor, Tensor]:
    """layer.lora_A (r, in) and layer.lora_B (out, r): Parameters of the layer, of base's
    dtype and device."""
    if not isinstance(layer, nn.Module):
        fail(where, f"built {describe(layer)}, expected an nn.Module")
    params = dict(layer.named_parameters())
    w = base.weight
    found = []
    for name, shape in (("lora_A", (r, base.in_features)), ("lora_B", (base.out_features, r))):
        t = getattr(layer, name, None)
        if not isinstance(t, nn.Parameter) or params.get(name) is not t:
            fail(
                where,
                f"`{name}` is {describe(t)}, expected an nn.Parameter of the layer "
                f"(named {name!r} in named_parameters())",
                "a plain tensor attribute, even one that requires grad, is no parameter: "
                "parameters() misses it, so an optimizer never steps it and .to() never moves it",
            )
        check_tensor(t, f"{where}: {name}", shape=shape, dtype=w.dtype, device=w.device)
        found.append(t)
    return found[0], found[1]


def set_AB(A: Tensor, B: Tensor, a: Tensor, b: Tensor) -> None:
    with torch.no_grad():
        A.copy_(a)
        B.copy_(b)


def scaling_mistake(got, x, base, A, B, r, alpha) -> str:
    """Which wrong scaling the output fits, in words, or ""."""
    with torch.no_grad():
        lora_part = x @ A.t() @ B.t()
        y = base(x)
    candidates = [
        ("the low-rank part not scaled by alpha/r", y + lora_part),
        ("alpha // r, an integer division (5 // 2 is 2, not 2.5)", y + (alpha // r) * lora_part),
        ("the scaling upside down: r/alpha instead of alpha/r", y + (r / alpha) * lora_part),
        ("scaled by alpha alone, not alpha/r", y + alpha * lora_part),
        ("scaled by 1/r, alpha left out", y + lora_part / r),
    ]
    return likely_mistake(got, candidates, rtol=1e-9, atol=1e-9)


@kata("LoRALinear")
class TestLoRALinear:
    def test_parts(self):
        base = linear(6, 5)
        where = where_layer(base, r=4, alpha=8)
        layer = lora.LoRALinear(base, r=4, alpha=8)
        A, B = lora_parts(layer, where, 4, base)
        if getattr(layer, "base", None) is not base:
            fail(
                where,
                f"layer.base is {describe(getattr(layer, 'base', None))}, not the nn.Linear given",
                "the base layer copied (or rebuilt) instead of held: wrapping a model's "
                "Linear must not duplicate its weights",
            )
        frozen = [(n, p) for n, p in base.named_parameters() if p.requires_grad]
        if frozen:
            fail(
                where,
                f"base.{frozen[0][0]} still has requires_grad=True",
                "the base layer not frozen: its weight and bias would train with A and B",
            )
        trainable = sorted(n for n, p in layer.named_parameters() if p.requires_grad)
        if trainable != ["lora_A", "lora_B"]:
            fail(
                where, f"the parameters that require grad are {trainable}, expected lora_A, lora_B"
            )
        if torch.any(B != 0):
            fail(
                where,
                "lora_B is not all zero at the start",
                "A and B initialised the other way round, or both drawn: B starts at zero so "
                "that the adapted layer starts equal to its base",
            )
        if torch.all(A == 0):
            fail(where, "lora_A is all zero: A is drawn at random (B alone starts at zero)")
        check_constants_are_buffers(layer, where)

    def test_starts_equal_to_base(self):
        base = linear(6, 5, seed=2)
        layer = lora.LoRALinear(base, r=4, alpha=8)
        for x in (seeded(2, 3, 6, seed=3), seeded(4, 6, seed=4)):
            where = f"{where_layer(base, r=4, alpha=8)}(x {describe(x)})"
            with torch.no_grad():
                got = check_no_default_device_tensors(lambda: layer(x), where)  # noqa: B023
                want = F.linear(x, base.weight, base.bias)
            check_tensor(got, where, shape=want.shape, dtype=torch.float32)
            check_close(got, want, where + ": at the start, with B at zero, base(x)", **F32_TOL)

    def test_A_drawn_kaiming_uniform(self):
        # A (16, 64): 1024 draws; kaiming-uniform with a = √5 is U(−1/√64, 1/√64), of std
        # 1/√(3·64). A sample std of n uniform draws is off by ~0.45/√n (1.4 % here): a 10 %
        # band tells that std from a normal draw's, or from the bound of another fan (1/√16).
        base = linear(64, 32)
        where = where_layer(base, r=16, alpha=8, generator="seed 5")
        before = global_rngs()
        layer = lora.LoRALinear(base, r=16, alpha=8, generator=seeded_generator(5))
        check_global_rngs(before, where + ", a generator given")
        A, _ = lora_parts(layer, where, 16, base)
        A = A.detach().double()
        bound = 1 / math.sqrt(64)
        wrong_fan = "a bound from the wrong fan (r or out instead of in, the size A multiplies)"
        if A.abs().max() > bound * (1 + 1e-6):
            fail(
                where,
                f"lora_A holds {A.abs().max().item():.4g}, beyond ±1/√in = ±{bound:.4g}",
                "lora_A drawn from a normal distribution, or uniform with " + wrong_fan,
            )
        std, want = A.std().item(), bound / math.sqrt(3)
        if abs(std - want) > 0.1 * want:
            fail(
                where,
                f"lora_A has std {std:.4g}, expected {want:.4g} (uniform on ±1/√in, in = 64)",
                "lora_A drawn with " + wrong_fan + ", or not kaiming-uniform with a = √5",
            )
        if abs(A.mean().item()) > 6 * want / math.sqrt(A.numel()):
            fail(where, f"lora_A has mean {A.mean().item():.3g}, expected 0")
        again = lora.LoRALinear(linear(64, 32), r=16, alpha=8, generator=seeded_generator(5))
        other = lora.LoRALinear(linear(64, 32), r=16, alpha=8, generator=seeded_generator(6))
        if not torch.equal(again.lora_A.detach().double(), A):
            fail(where, "two layers built with generators of one seed have different lora_A")
        if torch.equal(other.lora_A.detach().double(), A):
            fail(
                where,
                "generators of seeds 5 and 6 give the same lora_A",
                "lora_A not drawn with the generator given",
            )

    def test_A_drawn_from_the_global_rng(self):
        bases = [linear(8, 4, seed=s) for s in range(3)]  # their init's draws come first
        where = where_layer(bases[0], r=2, alpha=4) + " without a generator"
        drawn = []
        for base, seed in zip(bases, (7, 7, 8)):
            torch.manual_seed(seed)
            state = torch.get_rng_state()
            layer = lora.LoRALinear(base, r=2, alpha=4)
            A, _ = lora_parts(layer, where, 2, base)
            if torch.equal(torch.get_rng_state(), state):
                fail(where, "the global RNG was not drawn from: lora_A is drawn from it")
            drawn.append(A.detach())
        if not torch.equal(drawn[0], drawn[1]):
            fail(where, "after torch.manual_seed(7) twice, the two lora_A differ")
        if torch.equal(drawn[0], drawn[2]):
            fail(
                where,
                "torch.manual_seed(7) and (8) give the same lora_A",
                "lora_A drawn from a generator of a fixed seed of its own, not the global RNG",
            )

    def test_output_formula(self):
        for r, alpha, bias, seed in [(4, 8, True, 10), (2, 5, True, 11), (3, 1, False, 12)]:
            base = linear(6, 5, bias=bias, dtype=torch.float64, seed=seed)
            x = seeded(2, 3, 6, seed=seed + 1, dtype=torch.float64)
            where = f"{where_layer(base, r=r, alpha=alpha)}(x {describe(x)})"
            layer = lora.LoRALinear(base, r=r, alpha=alpha)
            A, B = lora_parts(layer, where, r, base)
            a = seeded(r, 6, seed=seed + 2, scale=0.5, dtype=torch.float64)
            b = seeded(5, r, seed=seed + 3, scale=0.5, dtype=torch.float64)
            set_AB(A, B, a, b)
            with torch.no_grad():
                got = layer(x)
            check_tensor(got, where, shape=(2, 3, 5), dtype=torch.float64)
            W, bb = base.weight.detach(), base.bias
            want = x @ W.t() + (alpha / r) * (x @ a.t() @ b.t())
            if bb is not None:
                want = want + bb.detach()
            check_close(
                got,
                want,
                where + f", A and B set: base(x) + (alpha/r)·x Aᵀ Bᵀ, alpha/r = {alpha / r:.4g}",
                **F64_TOL,
                mistake=scaling_mistake(got, x, base, a, b, r, alpha),
            )

    def test_gradients_reach_A_and_B_only(self):
        base = linear(6, 5, dtype=torch.float64, seed=20)
        x = seeded(2, 3, 6, seed=21, dtype=torch.float64)
        w = seeded(2, 3, 5, seed=22, dtype=torch.float64)  # loss = Σ w ⊙ layer(x)
        where = f"{where_layer(base, r=3, alpha=5)}(x {describe(x)}), then backward"
        layer = lora.LoRALinear(base, r=3, alpha=5)
        A, B = lora_parts(layer, where, 3, base)
        a = seeded(3, 6, seed=23, scale=0.5, dtype=torch.float64)
        b = seeded(5, 3, seed=24, scale=0.5, dtype=torch.float64)
        set_AB(A, B, a, b)
        (layer(x) * w).sum().backward()
        for name, p in base.named_parameters():
            if p.grad is not None:
                fail(
                    where,
                    f"base.{name} got a gradient",
                    "the base layer not frozen: requires_grad stays on for its weight and bias",
                )
        a0, b0 = a.clone().requires_grad_(), b.clone().requires_grad_()
        oracle = (5 / 3) * (x @ a0.t() @ b0.t())
        ga, gb = torch.autograd.grad((oracle * w).sum(), (a0, b0))
        for name, p, want in (("lora_A", A, ga), ("lora_B", B, gb)):
            if p.grad is None:
                fail(
                    where,
                    f"{name}.grad is None after backward",
                    "the low-rank part computed without gradients (under no_grad, or from "
                    "detached tensors)",
                )
            check_close(p.grad, want, where + f": {name}.grad", **F64_TOL)

    def test_merge(self):
        for r, alpha, bias, seed in [(4, 8, True, 30), (3, 5, False, 31)]:
            base = linear(6, 5, bias=bias, dtype=torch.float64, seed=seed)
            where = where_layer(base, r=r, alpha=alpha)
            layer = lora.LoRALinear(base, r=r, alpha=alpha)
            A, B = lora_parts(layer, where, r, base)
            a = seeded(r, 6, seed=seed + 2, scale=0.5, dtype=torch.float64)
            b = seeded(5, r, seed=seed + 3, scale=0.5, dtype=torch.float64)
            set_AB(A, B, a, b)
            where = kata_call.then(".merge")() + f" of {where}, A and B set"
            snap = Snapshot(
                **{"base.weight": base.weight, "lora_A": A, "lora_B": B},
                **({"base.bias": base.bias} if bias else {}),
            )
            merged = layer.merge()
            snap.check(where)
            if type(merged) is not nn.Linear:
                fail(
                    where,
                    f"returned {describe(merged)}, expected a plain nn.Linear",
                    "the LoRA layer itself (or its base) returned: merge builds a new nn.Linear",
                )
            want = base.weight.detach() + (alpha / r) * (b @ a)
            check_close(
                merged.weight,
                want,
                where + ": weight W + (alpha/r)·B A",
                **F64_TOL,
                mistake=likely_mistake(
                    merged.weight.detach(),
                    [("the product not scaled by alpha/r", base.weight.detach() + b @ a)],
                    rtol=1e-9,
                    atol=1e-9,
                ),
            )
            if merged.weight is base.weight:
                fail(where, "merged.weight is base.weight: the merged layer shares the base's")
            if not bias:
                if merged.bias is not None:
                    fail(where, f"merged.bias is {describe(merged.bias)}, the base has no bias")
            else:
                if merged.bias is None:
                    fail(where, "merged.bias is None", "the base's bias left out of the merge")
                check_close(merged.bias, base.bias.detach(), where + ": bias, the base's")
                if merged.bias is base.bias:
                    fail(where, "merged.bias is base.bias: the merged layer shares the base's")
            x = seeded(2, 3, 6, seed=seed + 4, dtype=torch.float64)
            with torch.no_grad():
                check_close(
                    merged(x),
                    layer(x),
                    where + f": merged(x) against the layer's (x {describe(x)})",
                    **F64_TOL,
                )

    def test_follows_base_dtype_and_device(self):
        base = linear(6, 5, dtype=torch.float64)
        where = where_layer(base, r=2, alpha=4)
        layer = lora.LoRALinear(base, r=2, alpha=4)
        lora_parts(layer, where, 2, base)
        check_moves_with_to(layer, where, "meta")

    @with_peft
    def test_same_as_peft(self):
        for i, (n_in, n_out, r, alpha, bias) in enumerate(LAYER_CASES):
            base = nn.Linear(n_in, n_out, bias=bias)
            where = where_layer(base, r=r, alpha=alpha)
            layer = lora.LoRALinear(base, r=r, alpha=alpha)
            A, B = lora_parts(layer, where, r, base)
            case = peft_answers().layers[i]
            with torch.no_grad():
                base.weight.copy_(case["weight"])
                if bias:
                    base.bias.copy_(case["bias"])
            set_AB(A, B, case["A"], case["B"])
            x = case["x"]
            with torch.no_grad():
                got = layer(x)
            # float32, one matmul of ≤ 6 terms against peft's float32 by its own route
            check_close(
                got,
                case["out"],
                f"{where}(x {describe(x)}), A and B set: against peft's LoRA layer "
                f"(LoraConfig(r={r}, lora_alpha={alpha}))",
                **F32_TOL,
                mistake=scaling_mistake(got, x, base, case["A"], case["B"], r, alpha),
            )
            merged = layer.merge()
            where = kata_call.then(".merge")() + f" of {where}, A and B set"
            if type(merged) is not nn.Linear:
                fail(where, f"returned {describe(merged)}, expected a plain nn.Linear")
            check_close(
                merged.weight,
                case["merged_weight"],
                where + ": weight against peft's merge_and_unload()",
                **F32_TOL,
            )
            if bias:
                check_close(merged.bias, case["merged_bias"], where + ": bias against peft's")


# --- apply_lora -----------------------------------------------------------------------------


def where_apply(targets=None, **kw) -> str:
    args = (Shown("TinyLM()"),) if targets is None else (Shown("TinyLM()"), targets)
    return kata_call(*args, **kw)


def wrapped_paths(model) -> list[str]:
    return sorted(n for n, m in model.named_modules() if isinstance(m, lora.LoRALinear))


def check_returns_model(got, model, where: str) -> None:
    if got is not model:
        fail(
            where,
            f"returned {describe(got)}, expected the model itself",
            "a copy of the model returned, or nothing: apply_lora changes the model in place "
            "and hands it back",
        )


def check_wrapped(model, originals: dict, want: list[str], where: str, r: int) -> None:
    """The LoRALinear paths are `want`, each holding the original Linear; every other
    Linear is still the original object."""
    got = wrapped_paths(model)
    if got != want:
        extra = [p for p in got if p not in want]
        missing = [p for p in want if p not in got]
        problem = "wrapped " + ", ".join(extra) if extra else "left " + ", ".join(missing)
        fail(
            where,
            f"{problem} (expected LoRALinear at exactly {', '.join(want)})",
            "a name matched as a substring (or by str.endswith without the dot), so a "
            "module whose name merely contains or ends in the target's letters is wrapped"
            if extra
            else "only the last component of the name compared, so a dotted target such as "
            "'attn.c_proj' never matches",
        )
    for path in want:
        module = model.get_submodule(path)
        if getattr(module, "base", None) is not originals[path]:
            fail(where, f"{path}.base is not the model's original nn.Linear at {path}")
        A = check_tensor(getattr(module, "lora_A", None), f"{where}: {path}.lora_A")
        if tuple(A.shape) != (r, originals[path].in_features):
            fail(
                where,
                f"{path}.lora_A has shape {tuple(A.shape)}, expected (r, in) = "
                f"({r}, {originals[path].in_features})",
                "r (and alpha) not passed on to LoRALinear, which then uses its defaults",
            )
    for path, original in originals.items():
        if (
            path not in want
            and isinstance(original, nn.Linear)
            and model.get_submodule(path) is not original
        ):
            fail(where, f"{path} was replaced, though it is not a target")


@kata("apply_lora")
class TestApplyLora:
    def test_wraps_the_targets(self):
        model = tiny_lm()
        originals = dict(model.named_modules())
        where = where_apply(TREE_TARGETS, r=2, alpha=3)
        got = lora.apply_lora(model, TREE_TARGETS, r=2, alpha=3)
        check_returns_model(got, model, where)
        check_wrapped(model, originals, TREE_WRAPPED, where, r=2)

    def test_defaults(self):
        model = tiny_lm()
        originals = dict(model.named_modules())
        where = where_apply()
        check_returns_model(lora.apply_lora(model), model, where)
        want = [f"transformer.h.{i}.attn.c_attn" for i in range(2)]
        check_wrapped(model, originals, want, where, r=8)

    def test_only_lora_parameters_train(self):
        model = tiny_lm()
        where = where_apply(TREE_TARGETS, r=2, alpha=3)
        lora.apply_lora(model, TREE_TARGETS, r=2, alpha=3)
        want = sorted(f"{p}.{n}" for p in TREE_WRAPPED for n in ("lora_A", "lora_B"))
        got = sorted(n for n, p in model.named_parameters() if p.requires_grad)
        if got != want:
            extra = [n for n in got if n not in want]
            missing = [n for n in want if n not in got]
            fail(
                where,
                f"{extra[0]} requires grad ({len(extra)} parameters more than the LoRA ones)"
                if extra
                else f"{missing[0]} does not require grad ({len(missing)} LoRA parameters frozen)",
                "only the wrapped Linears frozen: embeddings, LayerNorms and the other "
                "layers still train"
                if extra
                else "the whole model frozen after wrapping, LoRA parameters included",
            )

    def test_scaling_and_output(self):
        model = tiny_lm(seed=40)
        state = {k: v.clone() for k, v in model.state_dict().items()}
        with torch.no_grad():
            before = model(TREE_IDX)
        where = where_apply(TREE_TARGETS, r=2, alpha=3)
        lora.apply_lora(model, TREE_TARGETS, r=2, alpha=3)
        where_logits = f"{where}, then the model on idx {describe(TREE_IDX)}"
        with torch.no_grad():
            after = model(TREE_IDX)
        check_close(
            after, before, where_logits + ": at the start, the base model's logits", **F32_TOL
        )
        g = seeded_generator(41)
        adapters = {}
        for path in wrapped_paths(model):
            module = model.get_submodule(path)
            a = 0.5 * torch.randn(module.lora_A.shape, generator=g)
            b = 0.5 * torch.randn(module.lora_B.shape, generator=g)
            set_AB(module.lora_A, module.lora_B, a, b)
            adapters[path] = (a, b)
        with torch.no_grad():
            got = model(TREE_IDX)
        check_close(
            got,
            oracle_logits(state, adapters, 3 / 2, TREE_IDX),
            where_logits + ", every A and B set: logits with alpha/r = 1.5 at each target",
            **F32_TOL,
            mistake=likely_mistake(
                got,
                [
                    (
                        "r and alpha not passed on to LoRALinear, which then uses its defaults",
                        oracle_logits(state, adapters, 16 / 8, TREE_IDX),
                    )
                ],
            ),
        )

    def test_no_match_raises_and_changes_nothing(self):
        model = tiny_lm()
        originals = dict(model.named_modules())
        where = where_apply(("q_proj", "v_proj"))

        def call():
            got = lora.apply_lora(model, ("q_proj", "v_proj"))
            return Shown("the model" if got is model else describe(got))

        expect_raises(
            ValueError,
            call,
            where,
            "no Linear of the model is named q_proj or v_proj, as peft raises",
            "no check that something matched: a misspelled target leaves nothing to train",
        )
        frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
        if frozen:
            fail(
                where,
                f"after the ValueError, {frozen[0]} no longer requires grad",
                "the model frozen before the targets were found: the error must leave it as it was",
            )
        if dict(model.named_modules()) != originals:
            fail(where, "after the ValueError, the model's modules have changed")

    @with_peft
    def test_same_as_peft(self):
        tree = peft_answers().tree
        model = tree_of(tree["state_dict"])
        where = where_apply(TREE_TARGETS, r=TREE_R, alpha=TREE_ALPHA)
        lora.apply_lora(model, TREE_TARGETS, r=TREE_R, alpha=TREE_ALPHA)
        want, got = peft_paths(tree["adapter"]), wrapped_paths(model)
        if got != want:
            fail(
                where,
                f"wrapped {', '.join(got)}, where peft's LoraConfig(target_modules="
                f"{list(TREE_TARGETS)}) wraps {', '.join(want)}",
            )
        for path in got:
            module = model.get_submodule(path)
            key = f"base_model.model.{path}.lora_"
            adapter = tree["adapter"]
            set_AB(
                module.lora_A, module.lora_B, adapter[key + "A.weight"], adapter[key + "B.weight"]
            )
        with torch.no_grad():
            logits = model(tree["idx"])
        check_close(
            logits,
            tree["logits"],
            f"{where}, A and B set, on idx {describe(tree['idx'])}: logits against peft's",
            **F32_TOL,
        )


# --- lora_state_dict ------------------------------------------------------------------------


def unless_not_started() -> None:
    """lora_state_dict's tests build their models with LoRALinear first: a stub of
    lora_state_dict is found out before that, by one call that raises its own
    NotImplementedError, so that it shows as not started rather than as waiting on
    LoRALinear."""
    try:
        lora.lora_state_dict(nn.Linear(2, 2))
    except NotImplementedError as exc:
        if str(exc) == kata_call.name:
            raise
    except Exception:
        pass  # the real test says what is wrong


def wrap_by_hand(model, paths, r, alpha) -> None:
    """LoRALinear at each path, placed by the test (not by apply_lora)."""
    unless_not_started()
    for path in paths:
        parent, _, child = path.rpartition(".")
        holder = model.get_submodule(parent)
        setattr(holder, child, lora.LoRALinear(getattr(holder, child), r=r, alpha=alpha))


def check_adapter(got, want: dict[str, Tensor], where: str) -> None:
    """got is a dict with exactly want's keys, each value a detached tensor equal to want's."""
    if not isinstance(got, dict) or foreign_value(got):
        fail(where, f"returned {foreign_value(got) or describe(got)}, expected a dict")
    keys, expected = sorted(got), sorted(want)
    if keys != expected:
        extra = [k for k in keys if k not in want]
        missing = [k for k in expected if k not in got]
        causes = [
            (any(".default." in k for k in extra), "peft's in-model names (with the adapter's "
             "name, .default.) instead of the names it saves under"),
            (any(not k.startswith("base_model.model.") for k in extra), "the keys lack peft's "
             "prefix, base_model.model."),
            (any(not k.endswith((".lora_A.weight", ".lora_B.weight")) for k in extra),
             "more than the LoRA matrices: base weights, or every parameter that requires grad"),
        ]  # fmt: skip
        problems = []
        if extra:
            problems.append(f"{len(extra)} keys that are not the adapter's, such as {extra[0]!r}")
        if missing:
            problems.append(f"none of {len(missing)} adapter keys such as {missing[0]!r}")
        fail(
            where,
            f"returned {len(keys)} keys, expected {len(expected)}: " + "; ".join(problems),
            next((text for hit, text in causes if hit), ""),
        )
    for k in expected:
        t = check_tensor(got[k], f"{where}[{k!r}]")
        if t.requires_grad:
            fail(
                where,
                f"the tensor at {k!r} requires grad",
                "the Parameters themselves returned: an adapter's tensors are detached, as "
                "state_dict()'s are",
            )
        check_close(t, want[k], f"{where}[{k!r}]", rtol=0, atol=0)


@kata("lora_state_dict")
class TestLoraStateDict:
    def test_keys_and_values(self):
        model = tiny_lm()
        wrap_by_hand(model, TREE_WRAPPED, r=2, alpha=3)
        g = seeded_generator(50)
        want = {}
        for path in TREE_WRAPPED:
            module = model.get_submodule(path)
            a = torch.randn(2, module.base.in_features, generator=g)
            b = torch.randn(module.base.out_features, 2, generator=g)
            set_AB(module.lora_A, module.lora_B, a, b)
            want[f"base_model.model.{path}.lora_A.weight"] = a
            want[f"base_model.model.{path}.lora_B.weight"] = b
        where = kata_call(Shown("TinyLM() with LoRALinear at " + ", ".join(TREE_WRAPPED)))
        check_adapter(lora.lora_state_dict(model), want, where)

    def test_float64_on_a_nested_path(self):
        unless_not_started()
        outer = nn.Module()
        outer.inner = nn.ModuleList([nn.Linear(3, 2, dtype=torch.float64)])
        outer.inner[0] = lora.LoRALinear(outer.inner[0], r=1, alpha=2)
        layer = outer.inner[0]
        want = {
            "base_model.model.inner.0.lora_A.weight": layer.lora_A.detach().clone(),
            "base_model.model.inner.0.lora_B.weight": layer.lora_B.detach().clone(),
        }
        where = kata_call(Shown("a module with LoRALinear (float64) at inner.0"))
        check_adapter(lora.lora_state_dict(outer), want, where)

    def test_no_lora_is_empty(self):
        model = tiny_lm()
        where = kata_call(Shown("TinyLM() without LoRA"))
        got = lora.lora_state_dict(model)
        if not isinstance(got, dict) or got:
            fail(where, f"returned {describe(got)}, expected an empty dict")

    @with_peft
    def test_same_as_peft(self):
        model = tiny_lm()
        wrap_by_hand(model, TREE_WRAPPED, r=TREE_R, alpha=TREE_ALPHA)
        adapter = peft_answers().tree["adapter"]
        for path in TREE_WRAPPED:
            module = model.get_submodule(path)
            key = f"base_model.model.{path}.lora_"
            if key + "A.weight" in adapter:
                set_AB(
                    module.lora_A,
                    module.lora_B,
                    adapter[key + "A.weight"],
                    adapter[key + "B.weight"],
                )
        where = kata_call(Shown("TinyLM() with LoRALinear at " + ", ".join(TREE_WRAPPED)))
        check_adapter(
            lora.lora_state_dict(model),
            adapter,
            f"{where}: against peft's get_peft_model_state_dict, LoraConfig(target_modules="
            f"{list(TREE_TARGETS)})",
        )
