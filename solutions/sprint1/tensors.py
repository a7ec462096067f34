"""Tensors: creation, views, broadcasting, indexing and devices.

Every kata here takes tensors and returns new ones; none may change its inputs.
"""

import torch
from torch import Tensor


def arange_grid(rows: int, cols: int) -> Tensor:
    """An int64 (rows, cols) tensor holding 0 … rows·cols − 1 in row-major order.

    arange_grid(2, 3) == tensor([[0, 1, 2], [3, 4, 5]]). rows or cols may be 0.
    """
    return torch.arange(rows * cols, dtype=torch.int64).view(rows, cols)


def channels_last(images: Tensor) -> Tensor:
    """(N, C, H, W) → (N, H, W, C): the same pixels, channels moved to the end.

    out[n, h, w, c] == images[n, c, h, w]. A view (permute) is fine; a reshape is not.
    """
    return images.permute(0, 2, 3, 1)


def flatten_batch(x: Tensor) -> Tensor:
    """(N, …) → (N, prod(…)): everything after the batch dim flattened, in row-major order.

    x has at least 2 dims. Must work on non-contiguous input such as the output of
    `channels_last`, where `view` cannot.
    """
    return x.reshape(x.shape[0], -1)


def split_heads(x: Tensor, n_heads: int) -> Tensor:
    """(B, T, C) → (B, nh, T, hs) with hs = C // nh.

    Head h holds channels h·hs … (h+1)·hs − 1 of every time step:
    out[b, h, t, i] == x[b, t, h·hs + i].
    Raises ValueError when C is not divisible by n_heads.
    """
    B, T, C = x.shape  # batch, time, channels
    if n_heads <= 0 or C % n_heads != 0:
        raise ValueError(f"split_heads: C={C} is not divisible by n_heads={n_heads}")
    return x.view(B, T, n_heads, C // n_heads).transpose(1, 2)  # (B, nh, T, hs)


def merge_heads(x: Tensor) -> Tensor:
    """(B, nh, T, hs) → (B, T, nh·hs): the inverse of `split_heads`; the result is contiguous.

    out[b, t, h·hs + i] == x[b, h, t, i].
    """
    B, nh, T, hs = x.shape
    return x.transpose(1, 2).contiguous().view(B, T, nh * hs)


def pairwise_sq_dists(a: Tensor, b: Tensor) -> Tensor:
    """a (N, D) and b (M, D) → (N, M) squared Euclidean distances, by broadcasting.

    out[i, j] == sum_k (a[i, k] − b[j, k])². No Python loops. Same dtype as the inputs.
    """
    diff = a[:, None, :] - b[None, :, :]  # (N, M, D)
    return (diff * diff).sum(dim=-1)


def masked_mean(x: Tensor, mask: Tensor, dim: int) -> Tensor:
    """The mean over `dim` of the entries of x where the bool `mask` (same shape as x) is True.

    The result has x's shape without `dim`, and x's dtype. A slice with no True
    entry gives 0 (not NaN). Negative `dim` works.
    """
    m = mask.to(x.dtype)
    total = (x * m).sum(dim=dim)
    count = m.sum(dim=dim)
    return torch.where(count > 0, total / count.clamp(min=1), torch.zeros_like(total))


def gather_rows(x: Tensor, index: Tensor) -> Tensor:
    """x (N, K) and an int64 index (N,) → (N,) with out[i] = x[i, index[i]]."""
    return x.gather(1, index.unsqueeze(1)).squeeze(1)


def to_device(obj, device):
    """Every tensor inside nested dicts, lists and tuples moved to `device`.

    Containers are rebuilt as new ones of the same kind (a tuple stays a tuple,
    a list a list, a dict a dict, with the same keys in the same order); anything
    that is not a tensor or a container is returned as it is. The input is left
    unchanged.
    """
    if isinstance(obj, Tensor):
        return obj.to(device)
    if isinstance(obj, dict):
        return {key: to_device(value, device) for key, value in obj.items()}
    if isinstance(obj, list):
        return [to_device(item, device) for item in obj]
    if isinstance(obj, tuple):
        return tuple(to_device(item, device) for item in obj)
    return obj


def pick_device() -> torch.device:
    """torch.device("cuda") when CUDA is available, else "mps" when available, else "cpu"."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")
