import random

import numpy as np
import torch
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import DataLoader, RandomSampler, Sampler, Subset, random_split

from grader.variants import alternative, mistake

# --- make_loader ------------------------------------------------------------------------


def _loader(dataset, batch_size, shuffle, num_workers, drop_last, collate_fn, **kwargs):
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=num_workers,
        drop_last=drop_last,
        collate_fn=collate_fn,
        **kwargs,
    )


@mistake("make_loader")
def seeds_global_rng(
    dataset, batch_size, shuffle=False, seed=None, num_workers=0, drop_last=False, collate_fn=None
):
    """seeds the global RNG (torch.manual_seed) inside make_loader: reseeds everyone's random
    numbers"""
    if seed is not None:
        torch.manual_seed(seed)
    return _loader(dataset, batch_size, shuffle, num_workers, drop_last, collate_fn)


@mistake("make_loader")
def ignores_seed(
    dataset, batch_size, shuffle=False, seed=None, num_workers=0, drop_last=False, collate_fn=None
):
    """shuffle=True without a generator: the seed is never used, so runs do not repeat"""
    return _loader(dataset, batch_size, shuffle, num_workers, drop_last, collate_fn)


@mistake("make_loader")
def shuffles_once(
    dataset, batch_size, shuffle=False, seed=None, num_workers=0, drop_last=False, collate_fn=None
):
    """shuffles the indices once, when the loader is made: every pass has the same order"""
    g = torch.Generator().manual_seed(0 if seed is None else seed)
    if shuffle:
        dataset = Subset(dataset, torch.randperm(len(dataset), generator=g).tolist())
    return _loader(dataset, batch_size, False, num_workers, drop_last, collate_fn, generator=g)


class _ReseededSampler(Sampler):
    def __init__(self, n, seed):
        self.n, self.seed = n, seed

    def __len__(self):
        return self.n

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed)  # the mistake: a fresh seed every pass
        return iter(torch.randperm(self.n, generator=g).tolist())


@mistake("make_loader")
def reseeds_every_pass(
    dataset, batch_size, shuffle=False, seed=None, num_workers=0, drop_last=False, collate_fn=None
):
    """a sampler that seeds its generator at the start of every pass: every pass has the same
    order"""
    g = torch.Generator().manual_seed(0 if seed is None else seed)
    sampler = _ReseededSampler(len(dataset), 0 if seed is None else seed) if shuffle else None
    return _loader(
        dataset, batch_size, False, num_workers, drop_last, collate_fn, sampler=sampler, generator=g
    )


_SHARED = torch.Generator()


@mistake("make_loader")
def one_generator_for_all_loaders(
    dataset, batch_size, shuffle=False, seed=None, num_workers=0, drop_last=False, collate_fn=None
):
    """one generator at module level, re-seeded for each new loader: loaders share its stream"""
    if seed is not None:
        _SHARED.manual_seed(seed)
    return _loader(
        dataset, batch_size, shuffle, num_workers, drop_last, collate_fn, generator=_SHARED
    )


@mistake("make_loader")
def generator_on_sampler_only(
    dataset, batch_size, shuffle=False, seed=None, num_workers=0, drop_last=False, collate_fn=None
):
    """seeds a RandomSampler but not the DataLoader: each pass still draws the workers' base
    seed from the global RNG"""
    g = None if seed is None else torch.Generator().manual_seed(seed)
    sampler = RandomSampler(dataset, generator=g) if shuffle else None
    return _loader(dataset, batch_size, False, num_workers, drop_last, collate_fn, sampler=sampler)


@mistake("make_loader")
def ignores_drop_last(
    dataset, batch_size, shuffle=False, seed=None, num_workers=0, drop_last=False, collate_fn=None
):
    """drop_last is not passed on: the short last batch is always kept"""
    g = None if seed is None else torch.Generator().manual_seed(seed)
    return _loader(dataset, batch_size, shuffle, num_workers, False, collate_fn, generator=g)


@mistake("make_loader")
def ignores_num_workers(
    dataset, batch_size, shuffle=False, seed=None, num_workers=0, drop_last=False, collate_fn=None
):
    """num_workers is not passed on: everything loads in the main process"""
    g = None if seed is None else torch.Generator().manual_seed(seed)
    return _loader(dataset, batch_size, shuffle, 0, drop_last, collate_fn, generator=g)


@mistake("make_loader")
def ignores_collate_fn(
    dataset, batch_size, shuffle=False, seed=None, num_workers=0, drop_last=False, collate_fn=None
):
    """collate_fn is not passed on: batches always use the default collate"""
    g = None if seed is None else torch.Generator().manual_seed(seed)
    return _loader(dataset, batch_size, shuffle, num_workers, drop_last, None, generator=g)


@alternative("make_loader")
def explicit_sampler_sharing_the_generator(
    dataset, batch_size, shuffle=False, seed=None, num_workers=0, drop_last=False, collate_fn=None
):
    g = None
    if seed is not None:
        g = torch.Generator()
        g.manual_seed(seed)
    sampler = RandomSampler(dataset, generator=g) if shuffle else None
    return DataLoader(
        dataset,
        batch_size,
        sampler=sampler,
        num_workers=num_workers,
        drop_last=drop_last,
        collate_fn=collate_fn,
        generator=g,
    )


class _Batches(Sampler):
    """Batches of indices, a new permutation from the generator at every pass."""

    def __init__(self, n, batch_size, shuffle, drop_last, generator):
        self.n, self.batch_size, self.shuffle = n, batch_size, shuffle
        self.drop_last, self.generator = drop_last, generator

    def __len__(self):
        full, rest = divmod(self.n, self.batch_size)
        return full + (1 if rest and not self.drop_last else 0)

    def __iter__(self):
        if self.shuffle:
            order = torch.randperm(self.n, generator=self.generator).tolist()
        else:
            order = list(range(self.n))
        for k in range(len(self)):
            yield order[k * self.batch_size : (k + 1) * self.batch_size]


@alternative("make_loader")
def own_batch_sampler(
    dataset, batch_size, shuffle=False, seed=None, num_workers=0, drop_last=False, collate_fn=None
):
    g = torch.Generator().manual_seed(seed) if seed is not None else None
    batches = _Batches(len(dataset), batch_size, shuffle, drop_last, g)
    return DataLoader(
        dataset, batch_sampler=batches, num_workers=num_workers, collate_fn=collate_fn, generator=g
    )


# --- pad_collate ------------------------------------------------------------------------


@mistake("pad_collate")
def left_padding(batch, pad_value=0):
    """pads on the left (pad_sequence with padding_side='left'): sequences end at T_max"""
    seqs, labels = zip(*batch)
    padded = pad_sequence(seqs, batch_first=True, padding_value=pad_value, padding_side="left")
    return padded, torch.tensor([len(s) for s in seqs]), torch.tensor(labels)


@mistake("pad_collate")
def pads_with_zero(batch, pad_value=0):
    """pads with 0 whatever pad_value says"""
    seqs, labels = zip(*batch)
    padded = pad_sequence(seqs, batch_first=True)
    return padded, torch.tensor([len(s) for s in seqs]), torch.tensor(labels)


@mistake("pad_collate")
def lengths_after_padding(batch, pad_value=0):
    """lengths of the padded rows (all T_max) instead of each sequence's own length"""
    seqs, labels = zip(*batch)
    padded = pad_sequence(seqs, batch_first=True, padding_value=pad_value)
    return padded, torch.tensor([len(row) for row in padded]), torch.tensor(labels)


@mistake("pad_collate")
def lengths_counted_as_non_pad(batch, pad_value=0):
    """lengths counted as the entries that differ from pad_value: a token equal to the pad
    value is not counted"""
    seqs, labels = zip(*batch)
    padded = pad_sequence(seqs, batch_first=True, padding_value=pad_value)
    return padded, (padded != pad_value).sum(dim=1), torch.tensor(labels)


@mistake("pad_collate")
def returns_a_list(batch, pad_value=0):
    """returns [padded, lengths, labels], a list, where the docstring promises a tuple"""
    seqs, labels = zip(*batch)
    padded = pad_sequence(seqs, batch_first=True, padding_value=pad_value)
    return [padded, torch.tensor([len(s) for s in seqs]), torch.tensor(labels)]


@mistake("pad_collate")
def float_labels(batch, pad_value=0):
    """labels built with torch.Tensor(labels): float32 instead of int64"""
    seqs, labels = zip(*batch)
    padded = pad_sequence(seqs, batch_first=True, padding_value=pad_value)
    return padded, torch.tensor([len(s) for s in seqs]), torch.Tensor(labels)


@mistake("pad_collate")
def labels_as_list(batch, pad_value=0):
    """returns the labels as a Python list instead of a tensor"""
    seqs, labels = zip(*batch)
    padded = pad_sequence(seqs, batch_first=True, padding_value=pad_value)
    return padded, torch.tensor([len(s) for s in seqs]), list(labels)


@alternative("pad_collate")
def with_pad_sequence(batch, pad_value=0):
    seqs = [s for s, _ in batch]
    padded = pad_sequence(seqs, batch_first=True, padding_value=pad_value)
    lengths = torch.tensor([s.numel() for s in seqs], dtype=torch.long)
    return padded.long(), lengths, torch.tensor([y for _, y in batch], dtype=torch.long)


@alternative("pad_collate")
def with_f_pad_and_stack(batch, pad_value=0):
    T = max(len(s) for s, _ in batch)
    rows = [torch.nn.functional.pad(s, (0, T - len(s)), value=pad_value) for s, _ in batch]
    return (
        torch.stack(rows),
        torch.as_tensor([len(s) for s, _ in batch]),
        torch.as_tensor([y for _, y in batch]),
    )


# --- split_dataset ----------------------------------------------------------------------


@mistake("split_dataset")
def rounds_val_size(dataset, val_fraction, seed=0):
    """round(n · val_fraction) instead of int(): 10 items at 0.27 give 3, not 2"""
    n = len(dataset)
    k = round(n * val_fraction)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    return Subset(dataset, order[k:]), Subset(dataset, order[:k])


@mistake("split_dataset")
def two_permutations(dataset, val_fraction, seed=0):
    """draws train and val from two separate permutations, so they overlap"""
    n = len(dataset)
    k = int(n * val_fraction)
    g = torch.Generator().manual_seed(seed)
    train = torch.randperm(n, generator=g)[: n - k].tolist()
    val = torch.randperm(n, generator=g)[:k].tolist()
    return Subset(dataset, train), Subset(dataset, val)


@mistake("split_dataset")
def global_random_split(dataset, val_fraction, seed=0):
    """seeds the global RNG (torch.manual_seed) and calls random_split without a generator:
    reseeds everyone's random numbers"""
    n = len(dataset)
    k = int(n * val_fraction)
    torch.manual_seed(seed)
    train, val = random_split(dataset, [n - k, k])
    return train, val


@mistake("split_dataset")
def first_items_are_val(dataset, val_fraction, seed=0):
    """val is simply the first k items: not shuffled, and the seed does nothing"""
    n = len(dataset)
    k = int(n * val_fraction)
    return Subset(dataset, range(k, n)), Subset(dataset, range(k))


@mistake("split_dataset")
def python_random_seed(dataset, val_fraction, seed=0):
    """random.seed(seed) and random.shuffle: reseeds Python's global RNG"""
    n = len(dataset)
    k = int(n * val_fraction)
    random.seed(seed)
    order = list(range(n))
    random.shuffle(order)
    return Subset(dataset, order[k:]), Subset(dataset, order[:k])


@mistake("split_dataset")
def random_splits_list(dataset, val_fraction, seed=0):
    """returns random_split's result as it is: a list [train, val], where the docstring
    promises a tuple"""
    n = len(dataset)
    k = int(n * val_fraction)
    return random_split(dataset, [n - k, k], generator=torch.Generator().manual_seed(seed))


@mistake("split_dataset")
def sizes_swapped(dataset, val_fraction, seed=0):
    """val gets n − k items and train k: the two parts swapped"""
    n = len(dataset)
    k = int(n * val_fraction)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    return Subset(dataset, order[:k]), Subset(dataset, order[k:])


@alternative("split_dataset")
def with_random_split(dataset, val_fraction, seed=0):
    n = len(dataset)
    k = int(n * val_fraction)
    train, val = random_split(dataset, [n - k, k], generator=torch.Generator().manual_seed(seed))
    return train, val


@alternative("split_dataset")
def with_a_random_instance(dataset, val_fraction, seed=0):
    indices = list(range(len(dataset)))
    random.Random(seed).shuffle(indices)
    k = int(len(indices) * val_fraction)
    return Subset(dataset, indices[k:]), Subset(dataset, indices[:k])


@alternative("split_dataset")
def with_numpy_default_rng(dataset, val_fraction, seed=0):
    n = len(dataset)
    perm = np.random.default_rng(seed).permutation(n).tolist()
    k = int(n * val_fraction)
    return Subset(dataset, sorted(perm[k:])), Subset(dataset, sorted(perm[:k]))
