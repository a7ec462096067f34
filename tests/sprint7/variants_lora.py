"""Known mistakes and correct alternatives of sprint7.lora."""

import math

import torch
import torch.nn.functional as F
from torch import nn

from grader import target_module
from grader.variants import alternative, mistake

_lora = target_module("sprint7.lora")


# --- LoRALinear -----------------------------------------------------------------------------


class _LoRA(nn.Module):
    """A correct LoRALinear whose parts each mistake below changes one at a time."""

    def __init__(self, base, r=8, alpha=16, generator=None):
        super().__init__()
        self.base = base
        base.requires_grad_(False)
        self.r, self.alpha, self.scaling = r, alpha, alpha / r
        w = base.weight
        self.lora_A = nn.Parameter(torch.empty(r, base.in_features, dtype=w.dtype, device=w.device))
        self.lora_B = nn.Parameter(
            torch.zeros(base.out_features, r, dtype=w.dtype, device=w.device)
        )
        self.init_A(generator)

    def init_A(self, generator):
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5), generator=generator)

    def delta(self):
        """The weight update, (out, in)."""
        return self.scaling * (self.lora_B @ self.lora_A)

    def forward(self, x):
        return self.base(x) + self.scaling * (x @ self.lora_A.t() @ self.lora_B.t())

    @torch.no_grad()
    def merge(self):
        base = self.base
        merged = nn.Linear(base.in_features, base.out_features, bias=base.bias is not None)
        merged = merged.to(dtype=base.weight.dtype, device=base.weight.device)
        merged.weight.copy_(base.weight + self.delta())
        if base.bias is not None:
            merged.bias.copy_(base.bias)
        return merged


@mistake("LoRALinear")
class LoRALinearUnscaled(_LoRA):
    """the low-rank part x Aᵀ Bᵀ added as it is, without the alpha/r scaling"""

    def forward(self, x):
        return self.base(x) + x @ self.lora_A.t() @ self.lora_B.t()


@mistake("LoRALinear")
class LoRALinearIntegerScaling(_LoRA):
    """the scaling computed as alpha // r, an integer division: 5 // 3 is 1, not 5/3"""

    def __init__(self, base, r=8, alpha=16, generator=None):
        super().__init__(base, r, alpha, generator)
        self.scaling = alpha // r


@mistake("LoRALinear")
class LoRALinearBaseTrains(_LoRA):
    """the base Linear never frozen: its weight and bias keep requires_grad and train
    with A and B"""

    def __init__(self, base, r=8, alpha=16, generator=None):
        super().__init__(base, r, alpha, generator)
        base.requires_grad_(True)


@mistake("LoRALinear")
class LoRALinearInitSwapped(_LoRA):
    """A at zero and B drawn: the layer still starts equal to its base, but B is not zero
    and A is not the random one"""

    def init_A(self, generator):
        with torch.no_grad():
            self.lora_B.copy_(torch.rand(self.lora_B.shape, generator=generator) - 0.5)
            self.lora_A.zero_()


@mistake("LoRALinear")
class LoRALinearWrongFan(_LoRA):
    """A drawn by kaiming-uniform as an (in, r) tensor, then transposed: the bound comes
    from r (1/√r) instead of from in (1/√in)"""

    def init_A(self, generator):
        t = torch.empty(self.lora_A.shape[::-1], dtype=self.lora_A.dtype)
        nn.init.kaiming_uniform_(t, a=math.sqrt(5), generator=generator)
        with torch.no_grad():
            self.lora_A.copy_(t.t())


@mistake("LoRALinear")
class LoRALinearIgnoresGenerator(_LoRA):
    """A drawn from the global RNG even when a generator is given"""

    def init_A(self, generator):
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))


@mistake("LoRALinear")
class LoRALinearPlainTensors(_LoRA):
    """A and B kept as plain tensors that require grad, not nn.Parameters: parameters()
    misses them, so no optimizer ever steps them and .to() leaves them behind"""

    def __init__(self, base, r=8, alpha=16, generator=None):
        super().__init__(base, r, alpha, generator)
        A, B = self.lora_A.detach().clone(), self.lora_B.detach().clone()
        del self.lora_A, self.lora_B
        self.lora_A, self.lora_B = A.requires_grad_(), B.requires_grad_()


@mistake("LoRALinear")
class LoRALinearMergesInPlace(_LoRA):
    """merge() adds the update to the base's own weight and hands back the base: the
    wrapped layer (and whatever else shares that Linear) is changed"""

    @torch.no_grad()
    def merge(self):
        self.base.weight += self.delta()
        return self.base


@mistake("LoRALinear")
class LoRALinearMergeUnscaled(_LoRA):
    """merge() adds B A without the alpha/r scaling that forward applies"""

    def delta(self):
        return self.lora_B @ self.lora_A


@mistake("LoRALinear")
class LoRALinearMergeDropsBias(_LoRA):
    """merge() builds its nn.Linear without a bias, so the base's bias is lost"""

    @torch.no_grad()
    def merge(self):
        base = self.base
        merged = nn.Linear(base.in_features, base.out_features, bias=False)
        merged = merged.to(dtype=base.weight.dtype)
        merged.weight.copy_(base.weight + self.delta())
        return merged


@alternative("LoRALinear")
class LoRALinearThroughTheWeight(nn.Module):
    """forward through one merged weight, W + scaling·B A, rebuilt at every call (the
    gradients reach A and B through it); A drawn with torch.rand on ±1/√in; merge() from
    a deep copy of the base"""

    def __init__(self, base, r=8, alpha=16, generator=None):
        super().__init__()
        self.base = base
        for p in base.parameters():
            p.requires_grad = False
        self.r, self.alpha, self.scaling = r, alpha, alpha / r
        w = base.weight
        bound = 1 / math.sqrt(base.in_features)
        u = torch.rand(r, base.in_features, generator=generator, dtype=w.dtype, device=w.device)
        self.lora_A = nn.Parameter((2 * u - 1) * bound)
        self.lora_B = nn.Parameter(w.new_zeros(base.out_features, r))

    def weight(self):
        return self.base.weight + self.scaling * torch.einsum("or,ri->oi", self.lora_B, self.lora_A)

    def forward(self, x):
        return F.linear(x, self.weight(), self.base.bias)

    def merge(self):
        import copy

        merged = copy.deepcopy(self.base)
        with torch.no_grad():
            merged.weight.copy_(self.weight())
        return merged


@alternative("LoRALinear")
class LoRALinearLikePeft(nn.Module):
    """peft's own shape of it: A and B applied as bias-free F.linear in turn; merge()
    through an nn.Linear's load_state_dict"""

    def __init__(self, base, r=8, alpha=16, generator=None):
        super().__init__()
        self.base = base.requires_grad_(False)
        self.r, self.alpha = r, alpha
        self.scaling = float(alpha) / float(r)
        w = base.weight
        kw = {"dtype": w.dtype, "device": w.device}
        self.lora_A = nn.Parameter(torch.empty(r, base.in_features, **kw))
        nn.init.kaiming_uniform_(self.lora_A, a=5**0.5, generator=generator)
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, r, **kw))

    def forward(self, x):
        result = self.base(x)
        return result + F.linear(F.linear(x, self.lora_A), self.lora_B) * self.scaling

    def merge(self):
        b = self.base
        with torch.no_grad():
            state = {"weight": b.weight + (self.lora_B @ self.lora_A) * self.scaling}
            if b.bias is not None:
                state["bias"] = b.bias.clone()
        merged = nn.Linear(b.in_features, b.out_features, bias=b.bias is not None, device="meta")
        merged.load_state_dict(state, assign=True)
        return merged


# --- apply_lora -----------------------------------------------------------------------------


def _apply(model, target_names, r, alpha, matches, freeze="model", check_first=True, wrap=None):
    """apply_lora with one part swappable: the name test, the freezing, the order."""
    wrap = wrap or (lambda linear: _lora.LoRALinear(linear, r, alpha))
    targets = [
        n for n, m in model.named_modules() if isinstance(m, nn.Linear) and matches(n, target_names)
    ]
    if freeze == "model" and not check_first:
        model.requires_grad_(False)
    if not targets:
        raise ValueError(f"no nn.Linear matches {target_names}")
    if freeze == "model" and check_first:
        model.requires_grad_(False)
    for name in targets:
        parent, _, child = name.rpartition(".")
        holder = model.get_submodule(parent)
        setattr(holder, child, wrap(getattr(holder, child)))
    if freeze == "all after":
        model.requires_grad_(False)
    return model


def _dotted(name, targets):
    return any(name == t or name.endswith("." + t) for t in targets)


@mistake("apply_lora")
def apply_lora_substring(model, target_names=("c_attn",), r=8, alpha=16):
    """a target found anywhere in the name (`in`), so c_attn_mix.0 and proj_c_attn are
    wrapped too"""
    return _apply(model, target_names, r, alpha, lambda n, ts: any(t in n for t in ts))


@mistake("apply_lora")
def apply_lora_endswith_without_dot(model, target_names=("c_attn",), r=8, alpha=16):
    """str.endswith on the target alone, without the dot: proj_c_attn is wrapped as if it
    were c_attn"""
    return _apply(model, target_names, r, alpha, lambda n, ts: n.endswith(tuple(ts)))


@mistake("apply_lora")
def apply_lora_last_component(model, target_names=("c_attn",), r=8, alpha=16):
    """only the last component of the name compared with the targets, so a dotted target
    such as "attn.c_proj" never matches"""
    return _apply(model, target_names, r, alpha, lambda n, ts: n.rsplit(".", 1)[-1] in ts)


@mistake("apply_lora")
def apply_lora_freezes_only_targets(model, target_names=("c_attn",), r=8, alpha=16):
    """only the wrapped Linears frozen (by LoRALinear): embeddings, LayerNorms and the
    other layers still train"""
    return _apply(model, target_names, r, alpha, _dotted, freeze="none")


@mistake("apply_lora")
def apply_lora_freezes_everything(model, target_names=("c_attn",), r=8, alpha=16):
    """the whole model frozen after the wrapping, LoRA parameters included: nothing trains"""
    return _apply(model, target_names, r, alpha, _dotted, freeze="all after")


@mistake("apply_lora")
def apply_lora_default_rank(model, target_names=("c_attn",), r=8, alpha=16):
    """r and alpha not passed on: every LoRALinear gets its defaults (8, 16)"""
    return _apply(model, target_names, r, alpha, _dotted, wrap=_lora.LoRALinear)


@mistake("apply_lora")
def apply_lora_freezes_before_checking(model, target_names=("c_attn",), r=8, alpha=16):
    """the model frozen before the targets are found: when none matches, the ValueError
    leaves a frozen model behind"""
    return _apply(model, target_names, r, alpha, _dotted, check_first=False)


@mistake("apply_lora")
def apply_lora_silent_without_match(model, target_names=("c_attn",), r=8, alpha=16):
    """no ValueError when nothing matches: the whole model is frozen and nothing trains"""
    try:
        return _apply(model, target_names, r, alpha, _dotted, check_first=False)
    except ValueError:
        return model


@alternative("apply_lora")
def apply_lora_recursive(model, target_names=("c_attn",), r=8, alpha=16):
    """a recursive walk over named_children building each qualified name, matching the
    dotted components from the end; then only parameters named lora_A or lora_B train"""
    found = []

    def walk(module, prefix):
        for name, child in module.named_children():
            full = f"{prefix}.{name}" if prefix else name
            parts = full.split(".")
            if isinstance(child, nn.Linear) and any(
                parts[-len(t.split(".")) :] == t.split(".") for t in target_names
            ):
                found.append((module, name, child))
            else:
                walk(child, full)

    walk(model, "")
    if not found:
        raise ValueError("no target found")
    for module, name, child in found:
        setattr(module, name, _lora.LoRALinear(child, r=r, alpha=alpha))
    for name, p in model.named_parameters():
        p.requires_grad = name.rsplit(".", 1)[-1] in ("lora_A", "lora_B")
    return model


@alternative("apply_lora")
def apply_lora_by_parents(model, target_names=("c_attn",), r=8, alpha=16):
    """every parent's direct children visited with their full names; the model frozen
    first, once the targets are known (the new LoRA parameters require grad by
    themselves)"""
    pairs = []
    for parent_name, parent in model.named_modules():
        for child_name, child in parent.named_children():
            full = f"{parent_name}.{child_name}".lstrip(".")
            if type(child) is nn.Linear and (
                full in target_names or full.endswith(tuple("." + t for t in target_names))
            ):
                pairs.append((parent, child_name, child))
    if not pairs:
        raise ValueError(f"none of {target_names} names a Linear of the model")
    for p in model.parameters():
        p.requires_grad_(False)
    for parent, child_name, child in pairs:
        parent.add_module(child_name, _lora.LoRALinear(child, r, alpha))
    return model


# --- lora_state_dict ------------------------------------------------------------------------


def _adapter(model, key):
    out = {}
    for name, module in model.named_modules():
        if isinstance(module, _lora.LoRALinear):
            for which in ("A", "B"):
                out[key(name, which)] = getattr(module, f"lora_{which}").detach()
    return out


@mistake("lora_state_dict")
def lora_state_dict_no_prefix(model):
    """the module paths without peft's base_model.model. prefix"""
    return _adapter(model, lambda name, w: f"{name}.lora_{w}.weight")


@mistake("lora_state_dict")
def lora_state_dict_adapter_name(model):
    """peft's in-model names, with the adapter's name (lora_A.default.weight): the names
    of a live PeftModel's state_dict, not those it saves under"""
    return _adapter(model, lambda name, w: f"base_model.model.{name}.lora_{w}.default.weight")


@mistake("lora_state_dict")
def lora_state_dict_trainable(model):
    """every parameter that requires grad taken for the adapter: a LayerNorm or an
    embedding that still trains gets in"""
    return {
        "base_model.model."
        + n.replace("lora_A", "lora_A.weight").replace("lora_B", "lora_B.weight"): p.detach()
        for n, p in model.named_parameters()
        if p.requires_grad
    }


@mistake("lora_state_dict")
def lora_state_dict_parameters(model):
    """the Parameters themselves returned, not detached: they still require grad"""
    out = {}
    for name, module in model.named_modules():
        if isinstance(module, _lora.LoRALinear):
            out[f"base_model.model.{name}.lora_A.weight"] = module.lora_A
            out[f"base_model.model.{name}.lora_B.weight"] = module.lora_B
    return out


@mistake("lora_state_dict")
def lora_state_dict_with_base(model):
    """the LoRA layers' whole state dicts, the base weight and bias with A and B"""
    out = {}
    for name, module in model.named_modules():
        if isinstance(module, _lora.LoRALinear):
            for key, value in module.state_dict().items():
                key = key + ".weight" if key in ("lora_A", "lora_B") else key
                out[f"base_model.model.{name}.{key}"] = value
    return out


@alternative("lora_state_dict")
def lora_state_dict_from_state_dict(model):
    """from model.state_dict(): its keys that end in lora_A or lora_B, renamed"""
    return {
        f"base_model.model.{key}.weight": value
        for key, value in model.state_dict().items()
        if key.endswith((".lora_A", ".lora_B"))
    }


@alternative("lora_state_dict")
def lora_state_dict_copies(model):
    """from named_parameters by the last component of the name, as detached copies"""
    out = {}
    for name, p in model.named_parameters():
        path, _, leaf = name.rpartition(".")
        if leaf in ("lora_A", "lora_B"):
            out[f"base_model.model.{path}.{leaf}.weight"] = p.detach().clone()
    return out
