"""The reference GPT's fast path, for the benchmarks' gpu-best rows, wrapped from outside:
the reference (and so the kata) knows nothing of it.

`FastGPT(config)` is the reference `GPT` with three of nanoGPT's tricks, and nothing else
changed (the same parameters, names, init and RNG draws as `GPT(config)`):
- torch's fused attention (`F.scaled_dot_product_attention`, flash or memory-efficient
  on CUDA) swapped into every block's attention module, on that module's own weights;
- bf16 autocast around the forward on CUDA (CPU bf16 is slower than fp32, so not there),
  the logits handed back in float32 and the loss taken from them outside autocast;
- a fused AdamW (one kernel for all parameters) with the reference's parameter groups.

`benchmarks/test_fast_gpt.py` proves it computes what the plain GPT computes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from solutions.sprint4.attention import MultiHeadAttention
from solutions.sprint5.gpt import GPT


class FusedAttention(MultiHeadAttention):
    """The reference MultiHeadAttention's modules, with torch's fused kernel in between."""

    def forward(self, x: Tensor) -> Tensor:
        B, T, C = x.size()  # batch, time, channels
        nh, hs = self.n_head, C // self.n_head
        q, k, v = (
            t.view(B, T, nh, hs).transpose(1, 2) for t in self.c_attn(x).split(C, dim=2)
        )  # (B, nh, T, hs) each
        p = self.attn_dropout.p if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # (B, T, C)
        return self.resid_dropout(self.c_proj(y))


class FastGPT(GPT):
    """The reference GPT on the fast path (see the module's docstring)."""

    def __init__(self, config):
        super().__init__(config)
        make_fast(self)

    def forward(self, idx: Tensor, targets: Tensor | None = None):
        on_cuda = idx.device.type == "cuda"
        with torch.autocast(device_type=idx.device.type, dtype=torch.bfloat16, enabled=on_cuda):
            logits, _ = super().forward(idx)
        logits = logits.float()  # (B, T, V) float32, as the plain GPT's; the loss from them
        if targets is None:
            return logits, None
        return logits, F.cross_entropy(logits.flatten(0, 1), targets.flatten())

    def configure_optimizers(self, weight_decay, learning_rate, betas) -> torch.optim.AdamW:
        plain = super().configure_optimizers(weight_decay, learning_rate, betas)
        groups = [
            {"params": g["params"], "weight_decay": g["weight_decay"]} for g in plain.param_groups
        ]
        return torch.optim.AdamW(groups, lr=learning_rate, betas=betas, fused=True)


def make_fast(model: GPT) -> GPT:
    """Put a reference GPT, built and maybe trained, on the fast path, in place."""
    for block in model.transformer.h:
        block.attn.__class__ = FusedAttention  # the same module, parameters and buffers
    model.__class__ = FastGPT
    return model
