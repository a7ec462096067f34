"""ddp: TODO, what this module of sprint7 builds."""

import torch


def all_reduce_grads():
    """TODO: the contract, as the learner will read it in the stub: arguments, shapes and
    dtypes, what comes back, the edge cases."""
    raise NotImplementedError("sprint7.ddp.all_reduce_grads")


def ddp_train_step():
    """TODO: the contract, as the learner will read it in the stub: arguments, shapes and
    dtypes, what comes back, the edge cases."""
    raise NotImplementedError("sprint7.ddp.ddp_train_step")
