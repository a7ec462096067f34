"""A DataLoader from scratch: torch's collate rules, batching and shuffling by a generator,
and a sampler that batches sequences of similar length to cut padding."""

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor


def default_collate(samples: Sequence[Any]) -> Any:
    """Collate a batch: B samples of one structure → one structure of batches, as
    torch.utils.data.default_collate does.

    By the type of the first sample:
    - a Tensor: torch.stack of the B tensors, shape (B, *their shape), their dtype; tensors
      of different shapes raise RuntimeError (as torch.stack does).
    - a float: a float64 tensor (B,); an int: an int64 tensor (B,). A bool is an int here:
      B bools give a bool tensor, as torch.tensor of them does.
    - a str: the strings as they came, a list or a tuple (not a tensor).
    - a dict (any Mapping): a dict with the first sample's keys in its order, each value the
      collate of that key's B values.
    - a namedtuple: the same namedtuple type, each field the collate of its B values.
    - a tuple or a list: a list (a list even for tuples: torch's rule) holding, for each
      position, the collate of the B values at that position. Samples of different
      lengths raise RuntimeError (zip alone would cut them to the shortest).
    The rules recurse: a batch of (image, {"label": int, "name": str}) pairs becomes
    [images (B, ...), {"label": int64 (B,), "name": the B names}]. Any other type raises
    TypeError. The samples are not changed.

    Off limits (the grader refuses each, however it is imported):
    torch.utils.data.default_collate, torch.utils.data._utils.collate.collate,
    torch.utils.data._utils.collate.collate_tensor_fn,
    torch.utils.data._utils.collate.collate_int_fn,
    torch.utils.data._utils.collate.collate_float_fn.
    """
    raise NotImplementedError("sprint6.dataloader.default_collate")


class DataLoader:
    """Batches of a map-style dataset (len(dataset) and dataset[i] for an int i), without
    workers: torch.utils.data.DataLoader's single-process behaviour.

    Each pass (`for batch in loader`) yields collate_fn([dataset[i] for i in idx]) for
    each batch of indices idx (Python ints), collate_fn defaulting to default_collate:
    - without batch_sampler: the indices 0 … n−1 in order, or, when shuffle, a fresh
      random permutation of them for every pass, drawn from `generator` (from torch's
      global RNG when generator is None), cut into batches of batch_size; the last
      batch is smaller when batch_size does not divide n, and dropped when drop_last.
      A generator given leaves every global RNG (torch's, Python's, numpy's) untouched,
      and shuffle=False draws no random numbers at all. Two loaders whose generators
      are seeded alike give the same sequence of passes.
    - with batch_sampler (an iterable of lists of indices that has a len, iterated
      anew each pass): its batches. It rules out batch_size (other than 1), shuffle and
      drop_last: ValueError, as torch's.
    len(loader) is the number of batches of a pass: ceil(n / batch_size), or
    n // batch_size when drop_last; len(batch_sampler) with one. ValueError for
    batch_size < 1.

    Off limits (the grader refuses each, however it is imported):
    torch.utils.data.DataLoader.__iter__, torch.utils.data.DataLoader.__len__,
    torch.utils.data.RandomSampler.__iter__, torch.utils.data.SequentialSampler.__iter__,
    torch.utils.data.BatchSampler.__iter__, torch.utils.data.BatchSampler.__len__.
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int = 1,
        shuffle: bool = False,
        drop_last: bool = False,
        collate_fn: Callable | None = None,
        generator: torch.Generator | None = None,
        batch_sampler: Any = None,
    ):
        raise NotImplementedError("sprint6.dataloader.DataLoader")

    def __iter__(self) -> Iterator[Any]:
        raise NotImplementedError("sprint6.dataloader.DataLoader")

    def __len__(self) -> int:
        raise NotImplementedError("sprint6.dataloader.DataLoader")


class BucketBatchSampler:
    """Batches of indices whose lengths are alike, so that padding them costs little.

    lengths holds the length of each of the n sequences (a list of ints or a 1-D integer
    tensor). Each pass (iter(sampler)) yields lists of Python-int indices; per pass:
    1. a random permutation of 0 … n−1, drawn from `generator` (from torch's global RNG
       when it is None);
    2. cut into buckets of bucket_size = batch_size * 50 consecutive indices (the last
       bucket may be smaller);
    3. each bucket sorted by length and cut into batches of batch_size (the last batch
       of the last bucket may be smaller: no other batch is);
    4. the batches of all the buckets shuffled together, with the same generator.
    So every index comes exactly once per pass, each pass is new, and two samplers whose
    generators are seeded alike give the same passes. len(sampler) is the number of
    batches, ceil(n / batch_size). A generator given leaves every global RNG untouched.
    Use it as DataLoader(dataset, batch_sampler=sampler, collate_fn=pad_collate) (Sprint
    2's pad_collate): a batch pads to its longest sequence, and similar lengths leave
    little padding. ValueError for batch_size < 1.
    """

    def __init__(
        self,
        lengths: Sequence[int] | Tensor,
        batch_size: int,
        generator: torch.Generator | None = None,
    ):
        raise NotImplementedError("sprint6.dataloader.BucketBatchSampler")

    def __iter__(self) -> Iterator[list[int]]:
        raise NotImplementedError("sprint6.dataloader.BucketBatchSampler")

    def __len__(self) -> int:
        raise NotImplementedError("sprint6.dataloader.BucketBatchSampler")
