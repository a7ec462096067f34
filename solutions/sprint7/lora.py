"""LoRA: low-rank adapters on a frozen model, as peft builds them.

LoRA (Hu et al., 2021) fine-tunes a large model without touching its weights: a Linear
layer's W x becomes W x + (alpha/r)·B A x, with A (r, in) and B (out, r) for a small rank
r, and only A and B train. B starts at zero, so the adapted model starts exactly where
the base model is. An adapter is r·(in + out) numbers per layer instead of in·out, and
once merged (W + (alpha/r)·B A) it costs nothing at inference.

The names are peft's, so that an adapter trained here loads into peft (and the other way
round): a wrapped layer's matrices are `lora_A` and `lora_B`, and the adapter's file keys
are `base_model.model.<module path>.lora_A.weight` and `….lora_B.weight`. With the same
A and B, a layer here computes what peft's LoRA layer computes (LoraConfig(r=r,
lora_alpha=alpha, lora_dropout=0.0)), merged or not.
"""

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class LoRALinear(nn.Module):
    """A frozen nn.Linear plus a trainable low-rank update: peft's LoRA layer.

    LoRALinear(base, r=8, alpha=16, generator=None), for base an nn.Linear(in, out) with
    or without a bias, r ≥ 1 and alpha > 0, holds
    - `base`: that very nn.Linear (not a copy), frozen in place: its weight and its bias
      get requires_grad False;
    - `lora_A`: an nn.Parameter (r, in), drawn as peft (and nn.Linear) draw a weight:
      kaiming-uniform with a = √5, which is uniform on [−1/√in, 1/√in]; drawn with
      `generator` when one is given (the global RNG untouched), else from the global RNG;
    - `lora_B`: an nn.Parameter (out, r) of zeros;
    - `r` and `alpha` as given, and `scaling` = alpha / r, a float (5/3 for r=3, alpha=5).
    lora_A and lora_B have base.weight's dtype and device, and they are the layer's only
    parameters that require grad.

    forward(x): x (..., in) → base(x) + scaling · x Aᵀ Bᵀ, (..., out), x's dtype. With B at
    zero it is base(x). Gradients reach lora_A and lora_B, never base's weight or bias.

    merge() -> nn.Linear: a new plain nn.Linear(in, out), with a bias when base has one,
    of base's dtype and device, whose weight is W + scaling · B A and whose bias is a copy
    of base's: it gives this layer's output without the detour through A and B. base, A
    and B are left unchanged.
    """

    def __init__(
        self,
        base: nn.Linear,
        r: int = 8,
        alpha: float = 16,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        self.base = base
        base.requires_grad_(False)  # weight and bias: the base model stays as it was
        self.r, self.alpha = r, alpha
        self.scaling = alpha / r
        w = base.weight
        self.lora_A = nn.Parameter(torch.empty(r, base.in_features, dtype=w.dtype, device=w.device))
        self.lora_B = nn.Parameter(
            torch.zeros(base.out_features, r, dtype=w.dtype, device=w.device)
        )
        # U(−1/√in, 1/√in): the bound √(6 / ((1 + a²)·fan_in)) with a² = 5, fan_in = in
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5), generator=generator)

    def forward(self, x: Tensor) -> Tensor:
        return self.base(x) + self.scaling * F.linear(F.linear(x, self.lora_A), self.lora_B)

    @torch.no_grad()
    def merge(self) -> nn.Linear:
        base = self.base
        w = base.weight
        has_bias = base.bias is not None
        # made on the meta device, so nothing is drawn for an init that is replaced below
        merged = nn.Linear(base.in_features, base.out_features, bias=has_bias, device="meta")
        merged.weight = nn.Parameter(w + self.scaling * (self.lora_B @ self.lora_A))
        if has_bias:
            merged.bias = nn.Parameter(base.bias.clone())
        return merged


def apply_lora(
    model: nn.Module, target_names: tuple[str, ...] = ("c_attn",), r: int = 8, alpha: float = 16
) -> nn.Module:
    """Wrap model's target Linear layers in LoRALinear, in place; freeze everything else.

    A target is an nn.Linear whose qualified name (as model.named_modules() gives it,
    "transformer.h.0.attn.c_attn") is one of target_names or ends with "." + one of them,
    as peft matches a list of target_modules: names match whole dotted components from
    the end. So "c_proj" matches both "h.0.attn.c_proj" and "h.0.mlp.c_proj" and
    "attn.c_proj" only the first, while "c_attn" matches neither "proj_c_attn" nor
    "c_attn.0" (a child of a module named c_attn). A module of another type is left
    alone whatever its name. Each target is replaced, in its parent (a ModuleList's items
    too), by LoRALinear(that Linear, r, alpha), its lora_A drawn from the global RNG.
    Afterwards the only parameters of the model that require grad are the LoRA ones
    (every lora_A and lora_B); embeddings, LayerNorms, heads and the wrapped Linears are
    frozen.

    Returns model itself. ValueError when no Linear matches (as peft raises: a misspelled
    target would leave nothing to train), the model left exactly as it was.
    """
    targets = [
        name
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear)
        and any(name == t or name.endswith("." + t) for t in target_names)
    ]
    if not targets:
        raise ValueError(f"no nn.Linear in the model has a name that ends in {target_names}")
    model.requires_grad_(False)
    for name in targets:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        setattr(parent, child, LoRALinear(getattr(parent, child), r, alpha))
    return model


def lora_state_dict(model: nn.Module) -> dict[str, Tensor]:
    """The adapter of `model` under peft's key names: what peft's get_peft_model_state_dict
    gives for the same model, and what an adapter_model.safetensors file holds.

    For every LoRALinear in model, at the qualified name P that model.named_modules()
    gives it: "base_model.model.P.lora_A.weight" → its lora_A (r, in) and
    "base_model.model.P.lora_B.weight" → its lora_B (out, r), with their current values,
    dtype and device, detached (requires_grad False; like state_dict()'s tensors, they
    may share memory with the parameters). Nothing else: no base weight, no other
    parameter, trainable or not. An empty dict when model holds no LoRALinear.
    """
    out = {}
    for name, module in model.named_modules():
        if isinstance(module, LoRALinear):
            out[f"base_model.model.{name}.lora_A.weight"] = module.lora_A.detach()
            out[f"base_model.model.{name}.lora_B.weight"] = module.lora_B.detach()
    return out
