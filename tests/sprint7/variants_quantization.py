"""Known mistakes and correct alternatives of sprint7.quantization."""

from grader.variants import alternative, mistake


@mistake("quantize_int8")
def quantize_int8_first_mistake(*args, **kwargs):
    """TODO: a realistic wrong implementation, described in words (never the fix)"""
    raise NotImplementedError("write a known mistake of quantize_int8")


@mistake("quantize_int8")
def quantize_int8_second_mistake(*args, **kwargs):
    """TODO: another realistic wrong implementation"""
    raise NotImplementedError("write a known mistake of quantize_int8")


@alternative("quantize_int8")
def quantize_int8_another_route(*args, **kwargs):
    """TODO: a correct implementation that takes another route than the reference"""
    raise NotImplementedError("write a correct alternative of quantize_int8")


@mistake("dequantize_int8")
def dequantize_int8_first_mistake(*args, **kwargs):
    """TODO: a realistic wrong implementation, described in words (never the fix)"""
    raise NotImplementedError("write a known mistake of dequantize_int8")


@mistake("dequantize_int8")
def dequantize_int8_second_mistake(*args, **kwargs):
    """TODO: another realistic wrong implementation"""
    raise NotImplementedError("write a known mistake of dequantize_int8")


@alternative("dequantize_int8")
def dequantize_int8_another_route(*args, **kwargs):
    """TODO: a correct implementation that takes another route than the reference"""
    raise NotImplementedError("write a correct alternative of dequantize_int8")


@mistake("quantize_q4_0")
def quantize_q4_0_first_mistake(*args, **kwargs):
    """TODO: a realistic wrong implementation, described in words (never the fix)"""
    raise NotImplementedError("write a known mistake of quantize_q4_0")


@mistake("quantize_q4_0")
def quantize_q4_0_second_mistake(*args, **kwargs):
    """TODO: another realistic wrong implementation"""
    raise NotImplementedError("write a known mistake of quantize_q4_0")


@alternative("quantize_q4_0")
def quantize_q4_0_another_route(*args, **kwargs):
    """TODO: a correct implementation that takes another route than the reference"""
    raise NotImplementedError("write a correct alternative of quantize_q4_0")


@mistake("dequantize_q4_0")
def dequantize_q4_0_first_mistake(*args, **kwargs):
    """TODO: a realistic wrong implementation, described in words (never the fix)"""
    raise NotImplementedError("write a known mistake of dequantize_q4_0")


@mistake("dequantize_q4_0")
def dequantize_q4_0_second_mistake(*args, **kwargs):
    """TODO: another realistic wrong implementation"""
    raise NotImplementedError("write a known mistake of dequantize_q4_0")


@alternative("dequantize_q4_0")
def dequantize_q4_0_another_route(*args, **kwargs):
    """TODO: a correct implementation that takes another route than the reference"""
    raise NotImplementedError("write a correct alternative of dequantize_q4_0")


@mistake("Int8Linear")
def Int8Linear_first_mistake(*args, **kwargs):
    """TODO: a realistic wrong implementation, described in words (never the fix)"""
    raise NotImplementedError("write a known mistake of Int8Linear")


@mistake("Int8Linear")
def Int8Linear_second_mistake(*args, **kwargs):
    """TODO: another realistic wrong implementation"""
    raise NotImplementedError("write a known mistake of Int8Linear")


@alternative("Int8Linear")
def Int8Linear_another_route(*args, **kwargs):
    """TODO: a correct implementation that takes another route than the reference"""
    raise NotImplementedError("write a correct alternative of Int8Linear")
