"""quantization: TODO, what this module of sprint7 builds."""

import torch


def quantize_int8():
    """TODO: the contract, as the learner will read it in the stub: arguments, shapes and
    dtypes, what comes back, the edge cases."""
    raise NotImplementedError("sprint7.quantization.quantize_int8: write the reference")


def dequantize_int8():
    """TODO: the contract, as the learner will read it in the stub: arguments, shapes and
    dtypes, what comes back, the edge cases."""
    raise NotImplementedError("sprint7.quantization.dequantize_int8: write the reference")


def quantize_q4_0():
    """TODO: the contract, as the learner will read it in the stub: arguments, shapes and
    dtypes, what comes back, the edge cases."""
    raise NotImplementedError("sprint7.quantization.quantize_q4_0: write the reference")


def dequantize_q4_0():
    """TODO: the contract, as the learner will read it in the stub: arguments, shapes and
    dtypes, what comes back, the edge cases."""
    raise NotImplementedError("sprint7.quantization.dequantize_q4_0: write the reference")


class Int8Linear:
    """TODO: the contract, as the learner will read it in the stub: what it holds, its
    shapes and dtypes, its edge cases."""

    def __init__(self):
        raise NotImplementedError("sprint7.quantization.Int8Linear: write the reference")
