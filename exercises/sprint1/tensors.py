"""Tensors: creation, views, broadcasting, indexing and devices.

Every kata here takes tensors and returns new ones; none may change its inputs.
"""

import torch
from torch import Tensor


def arange_grid(rows: int, cols: int) -> Tensor:
    """An int64 (rows, cols) tensor holding 0 … rows·cols − 1 in row-major order.

    arange_grid(2, 3) == tensor([[0, 1, 2], [3, 4, 5]]). rows or cols may be 0.
    """
    raise NotImplementedError("sprint1.tensors.arange_grid")


def channels_last(images: Tensor) -> Tensor:
    """(N, C, H, W) → (N, H, W, C): the same pixels, channels moved to the end.

    out[n, h, w, c] == images[n, c, h, w]. A view (permute) is fine; a reshape is not.
    """
    raise NotImplementedError("sprint1.tensors.channels_last")


def flatten_batch(x: Tensor) -> Tensor:
    """(N, …) → (N, prod(…)): everything after the batch dim flattened, in row-major order.

    x has at least 2 dims. Must work on non-contiguous input such as the output of
    `channels_last`, where `view` cannot.
    """
    raise NotImplementedError("sprint1.tensors.flatten_batch")


def split_heads(x: Tensor, n_heads: int) -> Tensor:
    """(B, T, C) → (B, nh, T, hs) with hs = C // nh.

    Head h holds channels h·hs … (h+1)·hs − 1 of every time step:
    out[b, h, t, i] == x[b, t, h·hs + i].
    Raises ValueError when C is not divisible by n_heads.
    """
    raise NotImplementedError("sprint1.tensors.split_heads")


def merge_heads(x: Tensor) -> Tensor:
    """(B, nh, T, hs) → (B, T, nh·hs): the inverse of `split_heads`; the result is contiguous.

    out[b, t, h·hs + i] == x[b, h, t, i].
    """
    raise NotImplementedError("sprint1.tensors.merge_heads")


def pairwise_sq_dists(a: Tensor, b: Tensor) -> Tensor:
    """a (N, D) and b (M, D) → (N, M) squared Euclidean distances, by broadcasting.

    out[i, j] == sum_k (a[i, k] − b[j, k])². No Python loops. Same dtype as the inputs.
    """
    raise NotImplementedError("sprint1.tensors.pairwise_sq_dists")


def masked_mean(x: Tensor, mask: Tensor, dim: int) -> Tensor:
    """The mean over `dim` of the entries of x where the bool `mask` (same shape as x) is True.

    The result has x's shape without `dim`, and x's dtype. A slice with no True
    entry gives 0 (not NaN). Negative `dim` works.
    """
    raise NotImplementedError("sprint1.tensors.masked_mean")


def gather_rows(x: Tensor, index: Tensor) -> Tensor:
    """x (N, K) and an int64 index (N,) → (N,) with out[i] = x[i, index[i]]."""
    raise NotImplementedError("sprint1.tensors.gather_rows")


def to_device(obj, device):
    """Every tensor inside nested dicts, lists and tuples moved to `device`.

    Containers are rebuilt as new ones of the same kind (a tuple stays a tuple,
    a list a list, a dict a dict, with the same keys in the same order); anything
    that is not a tensor or a container is returned as it is. The input is left
    unchanged.
    """
    raise NotImplementedError("sprint1.tensors.to_device")


def pick_device() -> torch.device:
    """torch.device("cuda") when CUDA is available, else "mps" when available, else "cpu"."""
    raise NotImplementedError("sprint1.tensors.pick_device")
