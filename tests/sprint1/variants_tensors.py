"""Known mistakes and correct alternatives for sprint1/tensors.py."""

import torch
from torch.utils._pytree import tree_map

from grader.variants import alternative, mistake

# --- arange_grid


@mistake("arange_grid")
def column_major(rows, cols):
    """fills the grid column by column: arange(rows·cols).view(cols, rows).T"""
    return torch.arange(rows * cols).view(cols, rows).T


@mistake("arange_grid")
def float_numbers(rows, cols):
    """makes floats (torch.arange(float(n)) or torch.linspace), not int64"""
    return torch.arange(float(rows * cols)).view(rows, cols)


@mistake("arange_grid")
def counts_from_one(rows, cols):
    """counts 1 … rows·cols instead of 0 … rows·cols − 1"""
    return torch.arange(1, rows * cols + 1).view(rows, cols)


@alternative("arange_grid")
def broadcast_rows_and_columns(rows, cols):
    return torch.arange(rows)[:, None] * cols + torch.arange(cols)[None, :]


# --- channels_last


@mistake("channels_last")
def reshape_instead_of_permute(images):
    """reshape to (N, H, W, C): the right shape, but pixels and channels scrambled"""
    N, C, H, W = images.shape
    return images.reshape(N, H, W, C)


@mistake("channels_last")
def permute_swaps_h_and_w(images):
    """permute(0, 3, 2, 1): channels last, but H and W swapped"""
    return images.permute(0, 3, 2, 1)


@mistake("channels_last")
def transpose_channels_with_width(images):
    """a single transpose of the channel dim with the last one: channels end up last, but
    W and H trade places (invisible on square images)"""
    return images.transpose(1, -1)


@alternative("channels_last")
def movedim(images):
    return images.movedim(1, -1).contiguous()


@alternative("channels_last")
def einsum_relabel(images):
    return torch.einsum("nchw->nhwc", images)


# --- flatten_batch


@mistake("flatten_batch")
def view_on_any_input(x):
    """x.view(N, -1): fails on a non-contiguous input"""
    return x.view(x.shape[0], -1)


@mistake("flatten_batch")
def flattens_the_batch_too(x):
    """x.flatten() flattens the batch dim as well, giving (N·D,)"""
    return x.flatten()


@mistake("flatten_batch")
def memory_order(x):
    """reads the values in memory order (as_strided), not the tensor's logical order"""
    n = x.shape[0]
    d = x.numel() // n
    base = x if x.is_contiguous() else torch.empty_like(x, memory_format=torch.preserve_format)
    if base is not x:
        base.copy_(x)
    return torch.as_strided(base, (n, d), (d, 1))


@alternative("flatten_batch")
def flatten_from_dim_1(x):
    return x.flatten(1)


@alternative("flatten_batch")
def contiguous_then_view(x):
    return x.contiguous().view(len(x), -1)


# --- split_heads


@mistake("split_heads")
def view_without_transpose(x, n_heads):
    """views straight to (B, nh, T, hs) without a transpose: heads get mixed time steps"""
    if x.shape[-1] % n_heads:
        raise ValueError("not divisible")
    B, T, C = x.shape
    return x.view(B, n_heads, T, C // n_heads)


@mistake("split_heads")
def interleaved_heads(x, n_heads):
    """views to (B, T, hs, nh): head h gets channels h, h+nh, h+2nh, ... instead of a block"""
    if x.shape[-1] % n_heads:
        raise ValueError("not divisible")
    B, T, C = x.shape
    return x.view(B, T, C // n_heads, n_heads).permute(0, 3, 1, 2)


@mistake("split_heads")
def no_divisibility_check(x, n_heads):
    """lets view fail with a RuntimeError instead of raising ValueError"""
    B, T, C = x.shape
    return x.view(B, T, n_heads, C // n_heads).transpose(1, 2)


@alternative("split_heads")
def stack_of_chunks(x, n_heads):
    if x.shape[-1] % n_heads:
        raise ValueError(f"{x.shape[-1]} channels do not split into {n_heads} heads")
    return torch.stack(x.chunk(n_heads, dim=-1), dim=1)


@alternative("split_heads")
def unflatten_and_permute(x, n_heads):
    if x.shape[-1] % n_heads:
        raise ValueError("C must be divisible by n_heads")
    return x.unflatten(-1, (n_heads, -1)).permute(0, 2, 1, 3).contiguous()


# --- merge_heads


@mistake("merge_heads")
def reshape_without_transpose(x):
    """reshapes (B, nh, T, hs) straight to (B, T, nh·hs) without moving nh next to hs"""
    B, nh, T, hs = x.shape
    return x.reshape(B, T, nh * hs)


@mistake("merge_heads")
def view_after_transpose(x):
    """transpose then view, without .contiguous(): view fails on the transposed tensor"""
    B, nh, T, hs = x.shape
    return x.transpose(1, 2).view(B, T, nh * hs)


@mistake("merge_heads")
def heads_inside_channels(x):
    """permute(0, 2, 3, 1): puts hs before nh, interleaving the heads' channels"""
    B, nh, T, hs = x.shape
    return x.permute(0, 2, 3, 1).reshape(B, T, nh * hs)


@alternative("merge_heads")
def cat_heads(x):
    return torch.cat(x.unbind(dim=1), dim=-1)


@alternative("merge_heads")
def einsum_then_reshape(x):
    return torch.einsum("bhtd->bthd", x).reshape(x.shape[0], x.shape[2], -1)


# --- pairwise_sq_dists


@mistake("pairwise_sq_dists")
def euclidean_not_squared(a, b):
    """takes the square root: Euclidean distances, not squared ones"""
    return ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1).sqrt()


@mistake("pairwise_sq_dists")
def sums_over_the_wrong_dim(a, b):
    """sums over dim 1 of the (N, M, D) differences instead of the last"""
    return ((a[:, None, :] - b[None, :, :]) ** 2).sum(1)


@mistake("pairwise_sq_dists")
def forgot_the_cross_term_factor(a, b):
    """|a|² + |b|² − ab: the cross term needs a factor 2"""
    return (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - a @ b.T


@mistake("pairwise_sq_dists")
def python_loops(a, b):
    """right values, from a Python loop over every pair (the kata asks for broadcasting)"""
    out = torch.empty(a.shape[0], b.shape[0], dtype=a.dtype)
    for i in range(a.shape[0]):
        for j in range(b.shape[0]):
            out[i, j] = ((a[i] - b[j]) ** 2).sum()
    return out


@alternative("pairwise_sq_dists")
def expand_the_square(a, b):
    return (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T


@alternative("pairwise_sq_dists")
def cdist_squared(a, b):
    return torch.cdist(a, b) ** 2


# --- masked_mean


@mistake("masked_mean")
def divides_by_slice_length(x, mask, dim):
    """(x * mask).mean(dim): divides by the whole slice, not by the count of Trues"""
    return (x * mask).mean(dim)


@mistake("masked_mean")
def nan_for_empty_slices(x, mask, dim):
    """sum / count without a guard: 0/0 gives NaN for a slice with no True entry"""
    return (x * mask).sum(dim) / mask.sum(dim)


@mistake("masked_mean")
def fills_the_input_in_place(x, mask, dim):
    """zeroes the masked-out entries of the caller's x in place (masked_fill_)"""
    count = mask.sum(dim)
    total = x.masked_fill_(~mask, 0).sum(dim)
    return torch.where(count > 0, total / count.clamp(min=1), torch.zeros_like(total))


@mistake("masked_mean")
def one_mean_for_everything(x, mask, dim):
    """x[mask].mean(): boolean indexing flattens, giving one number, not one per slice"""
    return x[mask].mean()


@alternative("masked_mean")
def nanmean_of_masked(x, mask, dim):
    out = torch.where(mask, x, torch.nan).nanmean(dim)
    return torch.nan_to_num(out, nan=0.0)


@alternative("masked_mean")
def float64_then_back(x, mask, dim):
    total = torch.where(mask, x.double(), 0.0).sum(dim)
    count = mask.sum(dim)
    return (total / count.clamp(min=1)).to(x.dtype)


# --- gather_rows


@mistake("gather_rows")
def indexes_columns_for_every_row(x, index):
    """x[:, index]: every row takes every index, giving (N, N)"""
    return x[:, index]


@mistake("gather_rows")
def gathers_along_dim_0(x, index):
    """gathers along dim 0: out[i] = x[index[i], i]"""
    return x.gather(0, index.unsqueeze(0)).squeeze(0)[: len(index)]


@mistake("gather_rows")
def forgets_to_squeeze(x, index):
    """gather gives (N, 1); the kata wants (N,)"""
    return x.gather(1, index.unsqueeze(1))


@alternative("gather_rows")
def arange_and_index(x, index):
    return x[torch.arange(len(x)), index]


@alternative("gather_rows")
def take_along_dim(x, index):
    return torch.take_along_dim(x, index[:, None], dim=1)[:, 0]


# --- to_device


@mistake("to_device")
def moves_in_place(obj, device):
    """fills the moved tensors back into the caller's own containers"""
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, dict):
        for key in obj:
            obj[key] = moves_in_place(obj[key], device)
        return obj
    if isinstance(obj, list):
        for i, item in enumerate(obj):
            obj[i] = moves_in_place(item, device)
        return obj
    if isinstance(obj, tuple):
        return tuple(moves_in_place(item, device) for item in obj)
    return obj


@mistake("to_device")
def tuples_become_lists(obj, device):
    """treats tuples like lists and hands back a list"""
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, dict):
        return {k: tuples_become_lists(v, device) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [tuples_become_lists(item, device) for item in obj]
    return obj


@mistake("to_device")
def only_the_top_level(obj, device):
    """moves the tensors of the outer container only, not those nested deeper"""
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, dict):
        return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(v.to(device) if isinstance(v, torch.Tensor) else v for v in obj)
    return obj


@alternative("to_device")
def pytree_map(obj, device):
    return tree_map(lambda v: v.to(device) if isinstance(v, torch.Tensor) else v, obj)


# --- pick_device


@mistake("pick_device")
def returns_a_string(*args):
    """returns the name ("cuda") instead of a torch.device"""
    if torch.cuda.is_available():
        return "cuda"
    if torch.backends.mps.is_available():
        return "mps"
    return "cpu"


@mistake("pick_device")
def forgets_mps(*args):
    """never considers Apple's mps backend"""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@mistake("pick_device")
def mps_before_cuda(*args):
    """asks for mps first, so a machine with both picks mps"""
    if torch.backends.mps.is_available():
        return torch.device("mps")
    if torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


@alternative("pick_device")
def device_count_and_accelerator(*args):
    if torch.cuda.device_count() > 0:
        return torch.device("cuda", 0)
    if torch.backends.mps.is_built() and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")
