"""functions: TODO, what this module of sprint6 builds."""

import torch


class SiLU:
    """TODO: the contract, as the learner will read it in the stub: what it holds, its
    shapes and dtypes, its edge cases."""

    def __init__(self):
        raise NotImplementedError("sprint6.functions.SiLU: write the reference")


class LayerNormFunction:
    """TODO: the contract, as the learner will read it in the stub: what it holds, its
    shapes and dtypes, its edge cases."""

    def __init__(self):
        raise NotImplementedError("sprint6.functions.LayerNormFunction: write the reference")


class SoftmaxCrossEntropy:
    """TODO: the contract, as the learner will read it in the stub: what it holds, its
    shapes and dtypes, its edge cases."""

    def __init__(self):
        raise NotImplementedError("sprint6.functions.SoftmaxCrossEntropy: write the reference")
