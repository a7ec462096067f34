"""Known mistakes and correct alternatives of sprint7.lora."""

from grader.variants import alternative, mistake


@mistake("LoRALinear")
def LoRALinear_first_mistake(*args, **kwargs):
    """TODO: a realistic wrong implementation, described in words (never the fix)"""
    raise NotImplementedError("write a known mistake of LoRALinear")


@mistake("LoRALinear")
def LoRALinear_second_mistake(*args, **kwargs):
    """TODO: another realistic wrong implementation"""
    raise NotImplementedError("write a known mistake of LoRALinear")


@alternative("LoRALinear")
def LoRALinear_another_route(*args, **kwargs):
    """TODO: a correct implementation that takes another route than the reference"""
    raise NotImplementedError("write a correct alternative of LoRALinear")


@mistake("apply_lora")
def apply_lora_first_mistake(*args, **kwargs):
    """TODO: a realistic wrong implementation, described in words (never the fix)"""
    raise NotImplementedError("write a known mistake of apply_lora")


@mistake("apply_lora")
def apply_lora_second_mistake(*args, **kwargs):
    """TODO: another realistic wrong implementation"""
    raise NotImplementedError("write a known mistake of apply_lora")


@alternative("apply_lora")
def apply_lora_another_route(*args, **kwargs):
    """TODO: a correct implementation that takes another route than the reference"""
    raise NotImplementedError("write a correct alternative of apply_lora")


@mistake("lora_state_dict")
def lora_state_dict_first_mistake(*args, **kwargs):
    """TODO: a realistic wrong implementation, described in words (never the fix)"""
    raise NotImplementedError("write a known mistake of lora_state_dict")


@mistake("lora_state_dict")
def lora_state_dict_second_mistake(*args, **kwargs):
    """TODO: another realistic wrong implementation"""
    raise NotImplementedError("write a known mistake of lora_state_dict")


@alternative("lora_state_dict")
def lora_state_dict_another_route(*args, **kwargs):
    """TODO: a correct implementation that takes another route than the reference"""
    raise NotImplementedError("write a correct alternative of lora_state_dict")
