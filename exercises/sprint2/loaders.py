"""DataLoaders: batching, reproducible shuffling, padding, and a train/validation split."""

from collections.abc import Callable, Sequence

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Subset


def make_loader(
    dataset: Dataset,
    batch_size: int,
    shuffle: bool = False,
    seed: int | None = None,
    num_workers: int = 0,
    drop_last: bool = False,
    collate_fn: Callable | None = None,
) -> DataLoader:
    """A `torch.utils.data.DataLoader` over `dataset`, reproducible when given a seed.

    Batches of `batch_size` items, in order unless `shuffle`; the last, smaller batch is
    dropped when `drop_last` (so len(loader) is n // batch_size, else ceil(n / batch_size));
    `collate_fn` is passed through (None means torch's default collate); `num_workers`
    worker processes load the items (0: the main process). Each pass gives every item
    exactly once.

    With shuffle and a seed, the loader has its own `torch.Generator` seeded with `seed`:
    each pass over the loader (each `for batch in loader`) is a new order; a new loader
    with the same seed repeats the same sequence of orders, whatever other loaders do in
    between; and the global RNGs are left untouched, during passes too (the DataLoader
    draws a base seed for its workers at every pass: from its generator when it has one,
    else from the global RNG). With seed=None shuffling follows the global RNG.

    Worker processes are started by fork on Linux, by spawn on macOS and Windows; under
    spawn the dataset and collate_fn must be picklable (defined at module level, not
    lambdas or local classes) and a script needs the `if __name__ == "__main__":` guard.
    """
    raise NotImplementedError("sprint2.loaders.make_loader")


def pad_collate(
    batch: Sequence[tuple[Tensor, int]], pad_value: int = 0
) -> tuple[Tensor, Tensor, Tensor]:
    """Collate (sequence, label) pairs of different lengths into padded tensors.

    batch is a non-empty list of B pairs (seq, label): seq a 1-D int64 tensor of any
    length (0 too), label a Python int. Returns (padded, lengths, labels), all int64:
    padded (B, T_max), row b holding seq b followed by `pad_value` up to T_max (right
    padding; T_max is the longest length in the batch); lengths (B,), the original
    length of each seq; labels (B,). The sequences are left unchanged. Use it as a
    DataLoader's `collate_fn`.
    """
    raise NotImplementedError("sprint2.loaders.pad_collate")


def split_dataset(dataset: Dataset, val_fraction: float, seed: int = 0) -> tuple[Subset, Subset]:
    """A random (train, val) split of `dataset` into two `torch.utils.data.Subset`s.

    val holds k = int(len(dataset) · val_fraction) items (int truncates: 10 items with
    val_fraction 0.27 give k = 2), train the other len(dataset) − k; val_fraction=0.0
    gives an empty val. The two are disjoint and together hold every item once. Which
    items go where is a random permutation drawn from a `torch.Generator` seeded with
    `seed` (not simply the first k items): the same seed, the same split; the global RNGs
    (torch's, Python's `random`, numpy's) are not touched. Both Subsets wrap `dataset`
    itself (`.dataset is dataset`), which is not changed.
    """
    raise NotImplementedError("sprint2.loaders.split_dataset")
