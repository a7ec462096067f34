"""module: TODO, what this module of sprint6 builds."""

import torch


class Parameter:
    """TODO: the contract, as the learner will read it in the stub: what it holds, its
    shapes and dtypes, its edge cases."""

    def __init__(self):
        raise NotImplementedError("sprint6.module.Parameter")


class Module:
    """TODO: the contract, as the learner will read it in the stub: what it holds, its
    shapes and dtypes, its edge cases."""

    def __init__(self):
        raise NotImplementedError("sprint6.module.Module")
