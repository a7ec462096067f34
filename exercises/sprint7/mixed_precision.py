"""mixed_precision: TODO, what this module of sprint7 builds."""

import torch


def autocast_train_step():
    """TODO: the contract, as the learner will read it in the stub: arguments, shapes and
    dtypes, what comes back, the edge cases."""
    raise NotImplementedError("sprint7.mixed_precision.autocast_train_step")
