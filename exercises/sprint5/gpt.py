"""GPT-2 as nanoGPT writes it: token and position embeddings, a stack of sprint4 Blocks, a
final LayerNorm and a language-model head tied to the token embedding.

Shapes: B batch, T time (≤ block_size), C channels (n_embd), V vocab_size. Token ids are
int64 (B, T); logits are float32 (B, T, V).
"""

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..sprint4.layers import Block, LayerNorm


@dataclass
class GPTConfig:
    """The GPT's sizes; the defaults are nanoGPT's Shakespeare-char model.

    __post_init__ raises ValueError when n_embd is not divisible by n_head.
    """

    block_size: int = 256  # the longest context, in tokens
    vocab_size: int = 65  # tiny Shakespeare's distinct characters
    n_layer: int = 6  # transformer blocks
    n_head: int = 6  # attention heads per block (head size 64)
    n_embd: int = 384  # channels C
    dropout: float = 0.0  # 0 for pretraining; ~0.1 – 0.2 when finetuning small data
    bias: bool = True  # biases in Linears and LayerNorms, as GPT-2

    def __post_init__(self):
        raise NotImplementedError("sprint5.gpt.GPTConfig")


class GPT(nn.Module):
    """A GPT-2 language model (nanoGPT's GPT), built from sprint4's Block and LayerNorm.

    GPT(config) has
    - `transformer` = nn.ModuleDict with `wte` = nn.Embedding(V, C), `wpe` =
      nn.Embedding(block_size, C), `drop` = nn.Dropout(dropout), `h` = nn.ModuleList of
      n_layer Block(C, n_head, block_size, dropout, bias), `ln_f` = LayerNorm(C, bias=bias);
    - `lm_head` = nn.Linear(C, V, bias=False) whose weight IS transformer.wte.weight (the
      same Parameter: weight tying).
    Init (drawn from the global RNG): every nn.Linear and nn.Embedding weight N(0, 0.02²),
    every Linear bias zero, then every `c_proj.weight` (attention's and the MLP's)
    N(0, (0.02/√(2·n_layer))²), as GPT-2 scales the residual projections; LayerNorms keep
    weight 1, bias 0.
    """

    def __init__(self, config: GPTConfig):
        raise NotImplementedError("sprint5.gpt.GPT")

    def forward(self, idx: Tensor, targets: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """idx int64 (B, T) → (logits (B, T, V), loss).

        logits = lm_head(ln_f(h(drop(wte(idx) + wpe(0 … T−1))))); loss is None without
        targets, else the mean cross-entropy over all B·T positions against targets int64
        (B, T), a scalar. ValueError when T > block_size.
        """
        raise NotImplementedError("sprint5.gpt.GPT")

    @torch.no_grad()
    def generate(
        self,
        idx: Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Extend idx int64 (B, T) by max_new_tokens sampled tokens → int64 (B, T + new).

        Each step feeds the last block_size tokens (idx may be longer than block_size),
        takes the last position's logits / temperature, keeps only the top_k largest when
        top_k is given (the rest −inf), and draws one token per row with
        torch.multinomial(softmax(·), 1, generator=generator). No gradients are recorded;
        the global RNG is untouched when a generator is given; the same generator seed
        gives the same tokens. The mode (train/eval) is the caller's: set eval first.
        """
        raise NotImplementedError("sprint5.gpt.GPT")

    def num_params(self, non_embedding: bool = True) -> int:
        """How many scalars the parameters hold, each Parameter counted once (the tied
        lm_head/wte weight once); non_embedding leaves out wpe's (wte stays, as lm_head).
        """
        raise NotImplementedError("sprint5.gpt.GPT")

    def configure_optimizers(
        self, weight_decay: float, learning_rate: float, betas: tuple[float, float]
    ) -> torch.optim.AdamW:
        """torch.optim.AdamW(lr=learning_rate, betas=betas) with two parameter groups:
        first every parameter of 2 or more dims (Linear and Embedding weights) with
        weight_decay, then the rest (biases, LayerNorm weights and biases) with
        weight_decay 0. Every parameter appears exactly once (the tied weight once).
        """
        raise NotImplementedError("sprint5.gpt.GPT")


def load_gpt2_weights(model: GPT, state_dict: dict[str, Tensor]) -> None:
    """Copy a Hugging Face GPT2LMHeadModel state dict into `model`, in place, no grad.

    The names match nanoGPT's (transformer.wte.weight, transformer.h.0.attn.c_attn.weight,
    …, lm_head.weight), but GPT-2's Conv1D layers store their weight as (in, out): the
    four `attn.c_attn`, `attn.c_proj`, `mlp.c_fc`, `mlp.c_proj` weights are transposed
    on the way in. Entries ending in `.attn.bias` or `.attn.masked_bias` are GPT-2's
    causal-mask buffers and are skipped. The tie holds afterwards (lm_head.weight is
    still wte.weight). ValueError when a model parameter has no entry or a shape differs.
    """
    raise NotImplementedError("sprint5.gpt.load_gpt2_weights")
