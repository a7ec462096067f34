"""Known mistakes and correct alternatives of sprint6.functions."""

from grader.variants import alternative, mistake


@mistake("SiLU")
def SiLU_first_mistake(*args, **kwargs):
    """TODO: a realistic wrong implementation, described in words (never the fix)"""
    raise NotImplementedError("write a known mistake of SiLU")


@mistake("SiLU")
def SiLU_second_mistake(*args, **kwargs):
    """TODO: another realistic wrong implementation"""
    raise NotImplementedError("write a known mistake of SiLU")


@alternative("SiLU")
def SiLU_another_route(*args, **kwargs):
    """TODO: a correct implementation that takes another route than the reference"""
    raise NotImplementedError("write a correct alternative of SiLU")


@mistake("LayerNormFunction")
def LayerNormFunction_first_mistake(*args, **kwargs):
    """TODO: a realistic wrong implementation, described in words (never the fix)"""
    raise NotImplementedError("write a known mistake of LayerNormFunction")


@mistake("LayerNormFunction")
def LayerNormFunction_second_mistake(*args, **kwargs):
    """TODO: another realistic wrong implementation"""
    raise NotImplementedError("write a known mistake of LayerNormFunction")


@alternative("LayerNormFunction")
def LayerNormFunction_another_route(*args, **kwargs):
    """TODO: a correct implementation that takes another route than the reference"""
    raise NotImplementedError("write a correct alternative of LayerNormFunction")


@mistake("SoftmaxCrossEntropy")
def SoftmaxCrossEntropy_first_mistake(*args, **kwargs):
    """TODO: a realistic wrong implementation, described in words (never the fix)"""
    raise NotImplementedError("write a known mistake of SoftmaxCrossEntropy")


@mistake("SoftmaxCrossEntropy")
def SoftmaxCrossEntropy_second_mistake(*args, **kwargs):
    """TODO: another realistic wrong implementation"""
    raise NotImplementedError("write a known mistake of SoftmaxCrossEntropy")


@alternative("SoftmaxCrossEntropy")
def SoftmaxCrossEntropy_another_route(*args, **kwargs):
    """TODO: a correct implementation that takes another route than the reference"""
    raise NotImplementedError("write a correct alternative of SoftmaxCrossEntropy")
