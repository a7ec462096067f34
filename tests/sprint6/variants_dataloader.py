"""Known mistakes and correct alternatives of sprint6.dataloader."""

import math
import random
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from grader.variants import alternative, mistake

# --- default_collate --------------------------------------------------------------------------


def _collate(samples, floats=torch.float64, sequence=list, dicts=True, check_lengths=True):
    elem = samples[0]
    if isinstance(elem, Tensor):
        return torch.stack(list(samples))
    if isinstance(elem, float):
        return torch.tensor(samples, dtype=floats)
    if isinstance(elem, int):
        return torch.tensor(samples)
    if isinstance(elem, str):
        return list(samples)
    again = {"floats": floats, "sequence": sequence, "dicts": dicts}
    again["check_lengths"] = check_lengths
    if isinstance(elem, dict) and dicts:
        return {k: _collate([s[k] for s in samples], **again) for k in elem}
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):
        return type(elem)(*(_collate(list(f), **again) for f in zip(*samples)))
    if isinstance(elem, tuple | list | dict):
        if check_lengths and any(len(s) != len(elem) for s in samples):
            raise RuntimeError("samples of different lengths")
        return sequence(_collate(list(c), **again) for c in zip(*samples))
    raise TypeError(f"cannot collate {type(elem).__name__}")


@mistake("default_collate")
def collate_floats_as_float32(samples):
    """Python floats made into a tensor with torch.tensor's default dtype, float32: torch's
    collate makes them float64"""
    return _collate(samples, floats=torch.float32)


@mistake("default_collate")
def collate_tuples_into_tuples(samples):
    """a batch of tuples collated into a tuple of batches, where torch's rule gives a list"""
    return _collate(samples, sequence=tuple)


@mistake("default_collate")
def collate_dicts_like_sequences(samples):
    """dicts treated like sequences: zip over them walks their keys, so the batch is a list
    of key tuples instead of a dict of batches"""
    return _collate(samples, dicts=False)


@mistake("default_collate")
def collate_zip_cuts_to_shortest(samples):
    """zip over samples of different lengths without checking them: the longer samples are
    silently cut to the shortest instead of raising"""
    return _collate(samples, check_lengths=False)


@mistake("default_collate")
def collate_numbers_as_a_list(samples):
    """numbers left as a list of Python numbers instead of made into a tensor"""
    if isinstance(samples[0], int | float):
        return list(samples)
    return _collate(samples)


@mistake("default_collate")
def collate_calls_torch(samples):
    """calls torch.utils.data.default_collate, the function this kata asks you to write"""
    from torch.utils.data import default_collate

    return default_collate(samples)


@mistake("default_collate")
def collate_calls_torch_collate_tensor_fn(samples):
    """stacks tensors with torch's own collate_tensor_fn, a piece of torch's collate"""
    from torch.utils.data._utils.collate import collate_tensor_fn

    if isinstance(samples[0], Tensor):
        return collate_tensor_fn(list(samples))
    return _collate(samples)


@alternative("default_collate")
def collate_by_transposing(samples):
    """Tensors stacked through unsqueeze and cat, numbers through a list of 0-d tensors,
    sequences transposed by index rather than by zip, dicts as Mappings."""
    elem = samples[0]
    if isinstance(elem, Tensor):
        return torch.cat([s.unsqueeze(0) for s in samples])
    if isinstance(elem, bool):
        return torch.tensor(list(samples), dtype=torch.bool)
    if isinstance(elem, int | float):
        dtype = torch.float64 if isinstance(elem, float) else torch.int64
        return torch.stack([torch.tensor(x, dtype=dtype) for x in samples])
    if isinstance(elem, str):
        return tuple(samples)
    if isinstance(elem, Mapping):
        return dict((k, collate_by_transposing([s[k] for s in samples])) for k in elem)
    if isinstance(elem, Sequence):
        for s in samples:
            if len(s) != len(elem):
                raise RuntimeError(f"a sample of length {len(s)} among samples of {len(elem)}")
        columns = [collate_by_transposing([s[k] for s in samples]) for k in range(len(elem))]
        if isinstance(elem, tuple) and hasattr(elem, "_fields"):
            return type(elem)(*columns)
        return columns
    raise TypeError(f"default_collate cannot batch a {type(elem).__name__}")


@alternative("default_collate")
def collate_with_a_table_of_rules(samples):
    """torch's own design in miniature: a table from type to rule, looked up along the MRO."""
    elem = samples[0]
    for cls in type(elem).__mro__:
        rule = _RULES.get(cls)
        if rule is not None:
            return rule(samples)
    raise TypeError(f"no rule to collate {type(elem).__name__}")


def _collate_tuple(samples):
    if hasattr(samples[0], "_fields"):
        return type(samples[0])(*map(collate_with_a_table_of_rules, map(list, zip(*samples))))
    return _collate_list(samples)


def _collate_list(samples):
    if len({len(s) for s in samples}) > 1:
        raise RuntimeError("each element in list of batch should be of equal size")
    return [collate_with_a_table_of_rules(list(c)) for c in zip(*samples)]


_RULES = {
    Tensor: torch.stack,
    float: lambda s: torch.tensor(s, dtype=torch.double),
    int: lambda s: torch.tensor(s),
    str: lambda s: s,
    dict: lambda s: {k: collate_with_a_table_of_rules([x[k] for x in s]) for k in s[0]},
    tuple: _collate_tuple,
    list: _collate_list,
}


# --- DataLoader -------------------------------------------------------------------------------


class _Loader:
    def __init__(
        self,
        dataset,
        batch_size=1,
        shuffle=False,
        drop_last=False,
        collate_fn=None,
        generator=None,
        batch_sampler=None,
    ):
        if batch_sampler is not None and (batch_size != 1 or shuffle or drop_last):
            raise ValueError("batch_sampler excludes batch_size, shuffle and drop_last")
        if batch_size < 1:
            raise ValueError("batch_size < 1")
        self.dataset, self.batch_size, self.shuffle = dataset, batch_size, shuffle
        self.drop_last, self.generator, self.batch_sampler = drop_last, generator, batch_sampler
        self.collate_fn = collate_fn or _collate

    def order(self):
        n = len(self.dataset)
        return torch.randperm(n, generator=self.generator).tolist() if self.shuffle else range(n)

    def batches(self):
        if self.batch_sampler is not None:
            return list(self.batch_sampler)
        order = list(self.order())
        out = [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        if self.drop_last and len(out[-1]) < self.batch_size:
            out.pop()
        return out

    def __iter__(self):
        for idx in self.batches():
            yield self.collate_fn([self.dataset[i] for i in idx])

    def __len__(self):
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)


@mistake("DataLoader")
class LoaderLenAlwaysCeil(_Loader):
    """len() rounds up whatever drop_last says: with drop_last=True it counts the dropped
    last batch"""

    def __len__(self):
        return math.ceil(len(self.dataset) / self.batch_size)


@mistake("DataLoader")
class LoaderLenAlwaysFloor(_Loader):
    """len() is n // batch_size whatever drop_last says: with drop_last=False it misses the
    last, smaller batch"""

    def __len__(self):
        return len(self.dataset) // self.batch_size


@mistake("DataLoader")
class LoaderDropsLastAlways(_Loader):
    """range(0, n - batch_size + 1, batch_size) as the batch starts: the last, smaller batch
    is lost even when drop_last is False"""

    def batches(self):
        if self.batch_sampler is not None:
            return list(self.batch_sampler)
        order, B = list(self.order()), self.batch_size
        return [order[i : i + B] for i in range(0, len(order) - B + 1, B)]


@mistake("DataLoader")
class LoaderGlobalRNG(_Loader):
    """shuffles with torch.randperm(n) without the generator: the global RNG is drawn from
    and the seed given does not fix the order"""

    def order(self):
        n = len(self.dataset)
        return torch.randperm(n).tolist() if self.shuffle else range(n)


@mistake("DataLoader")
class LoaderPythonShuffle(_Loader):
    """shuffles with random.shuffle, Python's global generator, not the generator given"""

    def order(self):
        order = list(range(len(self.dataset)))
        if self.shuffle:
            random.shuffle(order)
        return order


@mistake("DataLoader")
class LoaderOnePermutation(_Loader):
    """draws the permutation once in __init__: every pass has the same order"""

    def __init__(self, dataset, *args, **kwargs):
        super().__init__(dataset, *args, **kwargs)
        self.fixed = super().order()

    def order(self):
        return self.fixed


@mistake("DataLoader")
class LoaderTensorIndices(_Loader):
    """iterates over the permutation tensor itself: the dataset is indexed with 0-d
    tensors, not Python ints"""

    def order(self):
        n = len(self.dataset)
        return torch.randperm(n, generator=self.generator) if self.shuffle else range(n)


@mistake("DataLoader")
class LoaderIgnoresBatchSamplerConflict(_Loader):
    """takes batch_sampler and quietly ignores batch_size, shuffle and drop_last when they
    come with it, where torch refuses the combination"""

    def __init__(self, dataset, batch_size=1, shuffle=False, drop_last=False, **kwargs):
        super().__init__(dataset, **kwargs)
        if kwargs.get("batch_sampler") is None:
            self.batch_size, self.shuffle, self.drop_last = batch_size, shuffle, drop_last


@mistake("DataLoader")
class LoaderWrapsTorch:
    """wraps torch.utils.data.DataLoader, the class this kata asks you to write"""

    def __init__(self, dataset, **kwargs):
        kwargs.setdefault("collate_fn", _collate)
        self.loader = torch.utils.data.DataLoader(dataset, **kwargs)

    def __iter__(self):
        return iter(self.loader)

    def __len__(self):
        return len(self.loader)


@mistake("DataLoader")
class LoaderTorchSamplers(_Loader):
    """builds its batches with torch's RandomSampler, SequentialSampler and BatchSampler,
    which this kata asks you to write"""

    def batches(self):
        from torch.utils.data import BatchSampler, RandomSampler, SequentialSampler

        if self.batch_sampler is not None:
            return list(self.batch_sampler)
        if self.shuffle:
            sampler = RandomSampler(self.dataset, generator=self.generator)
        else:
            sampler = SequentialSampler(self.dataset)
        return list(BatchSampler(sampler, self.batch_size, self.drop_last))


@alternative("DataLoader")
class LoaderWithGenerators:
    """Everything lazy: one generator function per pass, a batch collected index by index
    and yielded when full, the permutation from torch.argsort of random keys."""

    def __init__(
        self,
        dataset,
        batch_size=1,
        shuffle=False,
        drop_last=False,
        collate_fn=None,
        generator=None,
        batch_sampler=None,
    ):
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive")
        elif batch_size <= 0:
            raise ValueError(f"batch_size={batch_size}")
        self.dataset, self.batch_size, self.shuffle = dataset, batch_size, shuffle
        self.drop_last, self.generator, self.batch_sampler = drop_last, generator, batch_sampler
        self.collate_fn = collate_fn if collate_fn is not None else _collate

    def _indices(self):
        n = len(self.dataset)
        if not self.shuffle:
            yield from range(n)
            return
        keys = torch.rand(n, generator=self.generator, dtype=torch.float64)
        yield from torch.argsort(keys).tolist()

    def _index_batches(self):
        if self.batch_sampler is not None:
            yield from self.batch_sampler
            return
        batch = []
        for i in self._indices():
            batch.append(i)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __iter__(self):
        for idx in self._index_batches():
            yield self.collate_fn([self.dataset[i] for i in idx])

    def __len__(self):
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        full, rest = divmod(len(self.dataset), self.batch_size)
        return full + (1 if rest and not self.drop_last else 0)


@alternative("DataLoader")
class LoaderSeededFromGenerator(_Loader):
    """Each pass draws one seed from the generator and shuffles with a Python Random of its
    own seeded with it: another route, still reproducible and global-RNG free."""

    def order(self):
        order = list(range(len(self.dataset)))
        if self.shuffle:
            seed = int(torch.randint(2**62, (), generator=self.generator))
            random.Random(seed).shuffle(order)
        return order


# --- BucketBatchSampler -----------------------------------------------------------------------


class _Buckets:
    factor = 50

    def __init__(self, lengths, batch_size, generator=None):
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size}")
        self.lengths = [int(n) for n in lengths]
        self.batch_size, self.generator = batch_size, generator

    def perm(self, n):
        return torch.randperm(n, generator=self.generator).tolist()

    def sort(self, bucket):
        return sorted(bucket, key=lambda i: self.lengths[i])

    def batches(self):
        n, B = len(self.lengths), self.batch_size
        order, size = self.perm(n), B * self.factor
        out = []
        for start in range(0, n, size):
            bucket = self.sort(order[start : start + size])
            out += [bucket[i : i + B] for i in range(0, len(bucket), B)]
        return out

    def __iter__(self):
        batches = self.batches()
        return iter([batches[k] for k in self.perm(len(batches))])

    def __len__(self):
        return math.ceil(len(self.lengths) / self.batch_size)


@mistake("BucketBatchSampler")
class BucketsSortedGlobally(_Buckets):
    """sorts every index by length over the whole dataset, then cuts batches: padding is
    minimal but every pass holds the very same batches"""

    def batches(self):
        order, B = self.sort(range(len(self.lengths))), self.batch_size
        return [order[i : i + B] for i in range(0, len(order), B)]


@mistake("BucketBatchSampler")
class BucketsNeverSorted(_Buckets):
    """shuffles and cuts into buckets but never sorts a bucket by length: the batches are as
    mixed, and padded, as a random batching's"""

    def sort(self, bucket):
        return bucket


@mistake("BucketBatchSampler")
class BucketsInSortedOrder(_Buckets):
    """yields the batches of each bucket in their sorted order, short to long, instead of
    shuffling them together"""

    def __iter__(self):
        return iter(self.batches())


@mistake("BucketBatchSampler")
class BucketsRandomDraws(_Buckets):
    """draws each bucket's indices with randint, independently: some indices come twice in a
    pass and others never"""

    def perm(self, n):
        return torch.randint(n, (n,), generator=self.generator).tolist()


@mistake("BucketBatchSampler")
class BucketsGlobalRNG(_Buckets):
    """shuffles with torch.randperm(n) without the generator: the global RNG is drawn from
    and the same seed gives different passes"""

    def perm(self, n):
        return torch.randperm(n).tolist()


@mistake("BucketBatchSampler")
class BucketsOfOddSize(_Buckets):
    """buckets of 100 indices whatever the batch size: each bucket ends in its own smaller
    batch, and len() no longer counts the batches"""

    def batches(self):
        n, B = len(self.lengths), self.batch_size
        order, out = self.perm(n), []
        for start in range(0, n, 100):
            bucket = self.sort(order[start : start + 100])
            out += [bucket[i : i + B] for i in range(0, len(bucket), B)]
        return out


@mistake("BucketBatchSampler")
class BucketsSortCallersList(_Buckets):
    """sorts the caller's list of lengths in place (lengths.sort()) while reading it: the
    caller's data is changed"""

    def __init__(self, lengths, batch_size, generator=None):
        super().__init__(lengths, batch_size, generator)
        if isinstance(lengths, list):
            lengths.sort()


@mistake("BucketBatchSampler")
class BucketsYieldTensors(_Buckets):
    """yields each batch as a slice of a tensor of indices, not as a list of ints"""

    def __iter__(self):
        return (torch.tensor(b) for b in super().__iter__())


@alternative("BucketBatchSampler")
class BucketsByArgsort:
    """Tensors throughout: one permutation, a stable argsort of each bucket's lengths, the
    batches' order a second permutation; lengths kept as a tensor copy."""

    def __init__(self, lengths, batch_size, generator=None):
        if batch_size < 1:
            raise ValueError("batch_size < 1")
        self.lengths = torch.as_tensor(lengths).clone()
        self.batch_size, self.generator = batch_size, generator

    def __iter__(self):
        B = self.batch_size
        perm = torch.randperm(len(self.lengths), generator=self.generator)
        batches = []
        for bucket in perm.split(B * 50):
            ranked = bucket[torch.argsort(self.lengths[bucket], stable=True)]
            batches += [b.tolist() for b in ranked.split(B)]
        shuffle = torch.randperm(len(batches), generator=self.generator)
        return (batches[k] for k in shuffle.tolist())

    def __len__(self):
        return -(-len(self.lengths) // self.batch_size)


@alternative("BucketBatchSampler")
class BucketsWithPythonRandom(_Buckets):
    """Python's Random, seeded once per pass from the generator, shuffles the indices and
    the batches; buckets of 100 batches, sorted with the index as tie-break."""

    factor = 100

    def batches(self):
        self.rng = random.Random(int(torch.randint(2**62, (), generator=self.generator)))
        return super().batches()

    def perm(self, n):
        order = list(range(n))
        self.rng.shuffle(order)
        return order

    def sort(self, bucket):
        return sorted(bucket, key=lambda i: (self.lengths[i], i))

    def __iter__(self):
        batches = self.batches()
        return iter([batches[k] for k in self.perm(len(batches))])
