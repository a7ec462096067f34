"""dataloader: TODO, what this module of sprint6 builds."""

import torch


def default_collate():
    """TODO: the contract, as the learner will read it in the stub: arguments, shapes and
    dtypes, what comes back, the edge cases."""
    raise NotImplementedError("sprint6.dataloader.default_collate")


class DataLoader:
    """TODO: the contract, as the learner will read it in the stub: what it holds, its
    shapes and dtypes, its edge cases."""

    def __init__(self):
        raise NotImplementedError("sprint6.dataloader.DataLoader")


class BucketBatchSampler:
    """TODO: the contract, as the learner will read it in the stub: what it holds, its
    shapes and dtypes, its edge cases."""

    def __init__(self):
        raise NotImplementedError("sprint6.dataloader.BucketBatchSampler")
