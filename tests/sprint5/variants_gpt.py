import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from grader import target_module
from grader.variants import alternative, mistake

_layers = target_module("sprint4.layers")

# --- GPTConfig --------------------------------------------------------------------------------


@dataclass
class _Config:
    block_size: int = 256
    vocab_size: int = 65
    n_layer: int = 6
    n_head: int = 6
    n_embd: int = 384
    dropout: float = 0.0
    bias: bool = True

    def __post_init__(self):
        if self.n_embd % self.n_head:
            raise ValueError("n_embd must be divisible by n_head")


@mistake("GPTConfig")
@dataclass
class ConfigGPT2Sizes(_Config):
    """GPT-2 124M's sizes (block 1024, vocab 50304, 12 layers, C 768) as the defaults"""

    block_size: int = 1024
    vocab_size: int = 50304
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768


@mistake("GPTConfig")
@dataclass
class ConfigNoCheck:
    """no __post_init__: n_embd not divisible by n_head goes unnoticed"""

    block_size: int = 256
    vocab_size: int = 65
    n_layer: int = 6
    n_head: int = 6
    n_embd: int = 384
    dropout: float = 0.0
    bias: bool = True


@mistake("GPTConfig")
@dataclass
class ConfigDropoutInt(_Config):
    """dropout: int = 0 instead of the float 0.0"""

    dropout: int = 0


@alternative("GPTConfig")
@dataclass(frozen=True)
class ConfigFrozen:
    block_size: int = 256  # context
    vocab_size: int = 65
    n_layer: int = 6
    n_head: int = 6
    n_embd: int = 384
    dropout: float = 0.0
    bias: bool = True

    def __post_init__(self):
        if self.n_embd % self.n_head != 0:
            raise ValueError(f"{self.n_head} heads do not divide n_embd={self.n_embd}")


# --- GPT --------------------------------------------------------------------------------------


class _GPT(nn.Module):
    tie = True
    scale_c_proj = True

    def __init__(self, config):
        super().__init__()
        self.config = c = config
        self.transformer = nn.ModuleDict(
            dict(
                wte=nn.Embedding(c.vocab_size, c.n_embd),
                wpe=nn.Embedding(c.block_size, c.n_embd),
                drop=nn.Dropout(c.dropout),
                h=nn.ModuleList(
                    _layers.Block(c.n_embd, c.n_head, c.block_size, c.dropout, c.bias)
                    for _ in range(c.n_layer)
                ),
                ln_f=_layers.LayerNorm(c.n_embd, bias=c.bias),
            )
        )
        self.lm_head = nn.Linear(c.n_embd, c.vocab_size, bias=False)
        if self.tie:
            self.lm_head.weight = self.transformer.wte.weight
        self.init_weights()

    def init_weights(self):
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, 0.0, 0.02)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)
        if self.scale_c_proj:
            for name, p in self.named_parameters():
                if name.endswith("c_proj.weight"):
                    nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * self.config.n_layer))

    def final_norm(self, x):
        return self.transformer.ln_f(x)

    def forward(self, idx, targets=None):
        T = idx.size(1)
        if self.config.block_size < T:
            raise ValueError("T > block_size")
        x = self.transformer.wte(idx) + self.transformer.wpe(self.positions(T, idx.device))
        x = self.transformer.drop(x)
        for block in self.transformer.h:
            x = block(x)
        logits = self.lm_head(self.final_norm(x))
        if targets is None:
            return logits, None
        return logits, F.cross_entropy(logits.flatten(0, 1), targets.flatten())

    def positions(self, T, device):
        return torch.arange(T, device=device)

    def crop(self, idx):
        return idx[:, -self.config.block_size :]

    def next_logits(self, logits, temperature, top_k):
        logits = logits / temperature
        if top_k is not None:
            kth = torch.topk(logits, top_k).values[:, [-1]]
            logits = logits.masked_fill(logits < kth, float("-inf"))
        return logits

    @torch.no_grad()
    def generate(self, idx, max_new_tokens, temperature=1.0, top_k=None, generator=None):
        for _ in range(max_new_tokens):
            logits = self(self.crop(idx))[0][:, -1, :]
            probs = F.softmax(self.next_logits(logits, temperature, top_k), dim=-1)
            idx = torch.cat([idx, torch.multinomial(probs, 1, generator=generator)], dim=1)
        return idx

    def num_params(self, non_embedding=True):
        n = sum(p.numel() for p in self.parameters())
        return n - self.transformer.wpe.weight.numel() if non_embedding else n

    def decayed(self, name, p):
        return p.dim() >= 2

    def configure_optimizers(self, weight_decay, learning_rate, betas):
        named = dict(self.named_parameters())
        decay = [p for n, p in named.items() if self.decayed(n, p)]
        rest = [p for n, p in named.items() if not self.decayed(n, p)]
        groups = [
            {"params": decay, "weight_decay": weight_decay},
            {"params": rest, "weight_decay": 0.0},
        ]
        return torch.optim.AdamW(groups, lr=learning_rate, betas=betas)


@mistake("GPT")
class GPTUntied(_GPT):
    """lm_head keeps its own weight: it must be tied to (be) transformer.wte.weight"""

    tie = False


@mistake("GPT")
class GPTNoLnF(_GPT):
    """ln_f is built but never applied before lm_head"""

    def final_norm(self, x):
        return x


@mistake("GPT")
class GPTUnscaledCProj(_GPT):
    """c_proj weights keep std 0.02: GPT-2 scales them by 1/√(2·n_layer)"""

    scale_c_proj = False


@mistake("GPT")
class GPTDefaultInit(_GPT):
    """no custom init: PyTorch's default Linear and Embedding init (and nonzero biases)"""

    def init_weights(self):
        pass


@mistake("GPT")
class GPTNoCrop(_GPT):
    """generate feeds the whole idx: past block_size tokens forward raises"""

    def crop(self, idx):
        return idx


@mistake("GPT")
class GPTCropFirst(_GPT):
    """generate feeds the first block_size tokens, not the last"""

    def crop(self, idx):
        return idx[:, : self.config.block_size]


@mistake("GPT")
class GPTTemperatureTimes(_GPT):
    """multiplies the logits by the temperature instead of dividing"""

    def next_logits(self, logits, temperature, top_k):
        return super().next_logits(logits * temperature * temperature, temperature, top_k)


@mistake("GPT")
class GPTTopKOff(_GPT):
    """top_k ignored: samples from the whole distribution"""

    def next_logits(self, logits, temperature, top_k):
        return logits / temperature


@mistake("GPT")
class GPTGlobalRNG(_GPT):
    """torch.multinomial without generator=: draws from the global RNG"""

    @torch.no_grad()
    def generate(self, idx, max_new_tokens, temperature=1.0, top_k=None, generator=None):
        for _ in range(max_new_tokens):
            logits = self(self.crop(idx))[0][:, -1, :]
            probs = F.softmax(self.next_logits(logits, temperature, top_k), dim=-1)
            idx = torch.cat([idx, torch.multinomial(probs, 1)], dim=1)
        return idx


@mistake("GPT")
class GPTBiasesDecayed(_GPT):
    """every parameter decayed, biases and LayerNorms too"""

    def decayed(self, name, p):
        return True


@mistake("GPT")
class GPTDecayByName(_GPT):
    """decays every parameter named *weight: LayerNorm weights get decayed"""

    def decayed(self, name, p):
        return name.endswith("weight")


@mistake("GPT")
class GPTNumParamsLessWte(_GPT):
    """non_embedding leaves out wte (the tied head) instead of wpe"""

    def num_params(self, non_embedding=True):
        n = sum(p.numel() for p in self.parameters())
        return n - self.transformer.wte.weight.numel() if non_embedding else n


@mistake("GPT")
class GPTLossLastStep(_GPT):
    """loss on the last position only, not all B·T positions"""

    def forward(self, idx, targets=None):
        logits, _ = super().forward(idx)
        if targets is None:
            return logits, None
        return logits, F.cross_entropy(logits[:, -1], targets[:, -1])


@mistake("GPT")
class GPTPositionsPlainAttribute(_GPT):
    """keeps the positions 0 … block_size − 1 as a plain tensor attribute, not a registered
    buffer: .to() leaves it on the CPU and state_dict() does not hold it"""

    def __init__(self, config):
        super().__init__(config)
        self.pos = torch.arange(config.block_size)

    def positions(self, T, device):
        return self.pos[:T]


@mistake("GPT")
class GPTPositionsOnTheDefaultDevice(_GPT):
    """makes the positions 0 … T − 1 in forward without saying a device: they land on the
    default device (the CPU), so a GPT moved to a GPU fails at the position embedding"""

    def positions(self, T, device):
        return torch.arange(T)


@alternative("GPT")
class GPTFunctionalHead(_GPT):
    """no lm_head call: F.linear with wte.weight; num_params from named_parameters"""

    def forward(self, idx, targets=None):
        T = idx.size(1)
        if self.config.block_size < T:
            raise ValueError(f"T={T} > block_size")
        pos = torch.arange(T, device=idx.device)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos)[None])
        for block in self.transformer.h:
            x = block(x)
        logits = F.linear(self.transformer.ln_f(x), self.transformer.wte.weight)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.transpose(1, 2), targets)
        return logits, loss

    def next_logits(self, logits, temperature, top_k):
        logits = logits / temperature
        if top_k is not None:
            v, i = torch.topk(logits, top_k)
            logits = torch.full_like(logits, float("-inf")).scatter(1, i, v)
        return logits

    def num_params(self, non_embedding=True):
        n = sum(p.numel() for _, p in self.named_parameters())
        return n - (self.config.block_size * self.config.n_embd if non_embedding else 0)


# --- load_gpt2_weights ------------------------------------------------------------------------

_CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")


def _copy_all(model, state_dict, convert):
    sd = model.state_dict()
    with torch.no_grad():
        for k, p in sd.items():
            p.copy_(convert(k, state_dict[k], p))


@mistake("load_gpt2_weights")
def load_transpose_when_shape_differs(model, state_dict):
    """transposes only weights whose shape differs: the square attn.c_proj stays untransposed"""
    _copy_all(model, state_dict, lambda k, v, p: v.t() if v.shape != p.shape else v)


@mistake("load_gpt2_weights")
def load_reshape_instead_of_transpose(model, state_dict):
    """fixes the Conv1D shapes with reshape instead of transposing"""
    _copy_all(model, state_dict, lambda k, v, p: v.reshape(p.shape))


@mistake("load_gpt2_weights")
def load_untie_head(model, state_dict):
    """assigns lm_head a new Parameter from the dict: the tie with wte breaks"""
    _copy_all(model, state_dict, lambda k, v, p: v.t() if k.endswith(_CONV1D) else v)
    model.lm_head.weight = nn.Parameter(state_dict["lm_head.weight"].clone())


@alternative("load_gpt2_weights")
def load_via_load_state_dict(model, state_dict):
    converted = {
        k: (v.t() if k.endswith(_CONV1D) else v)
        for k, v in state_dict.items()
        if not k.endswith((".attn.bias", ".attn.masked_bias"))
    }
    model.load_state_dict(converted, strict=True)
