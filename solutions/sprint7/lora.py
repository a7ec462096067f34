"""lora: TODO, what this module of sprint7 builds."""

import torch


class LoRALinear:
    """TODO: the contract, as the learner will read it in the stub: what it holds, its
    shapes and dtypes, its edge cases."""

    def __init__(self):
        raise NotImplementedError("sprint7.lora.LoRALinear: write the reference")


def apply_lora():
    """TODO: the contract, as the learner will read it in the stub: arguments, shapes and
    dtypes, what comes back, the edge cases."""
    raise NotImplementedError("sprint7.lora.apply_lora: write the reference")


def lora_state_dict():
    """TODO: the contract, as the learner will read it in the stub: arguments, shapes and
    dtypes, what comes back, the edge cases."""
    raise NotImplementedError("sprint7.lora.lora_state_dict: write the reference")
