"""kv_cache: TODO, what this module of sprint7 builds."""

import torch


def generate_cached():
    """TODO: the contract, as the learner will read it in the stub: arguments, shapes and
    dtypes, what comes back, the edge cases."""
    raise NotImplementedError("sprint7.kv_cache.generate_cached")
