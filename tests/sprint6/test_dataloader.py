"""Grades sprint6.dataloader against torch's own collate and by the indices each batch holds.

default_collate: the same structure, container types, dtypes, shapes and values as
torch.utils.data.default_collate on tensors, numbers, strings, tuples, lists, dicts and
namedtuples, nested; mismatched shapes and lengths raise. DataLoader: datasets whose item
i shows i, so a batch shows its indices; the order, the last batch, len() for both
drop_last settings, a new permutation from the generator every pass (any permutation: a
correct loader may draw differently from torch's), batch_sampler. BucketBatchSampler:
every index once a pass, the padding against a random batching's, new batches every
pass, reproducible by the generator. No test draws from a global RNG.
"""

import itertools
import math
from collections import namedtuple

import torch
from torch import Tensor

from grader import kata, target_module
from grader.checks import (
    Shown,
    Snapshot,
    check_close,
    check_global_rngs,
    describe,
    expect_raises,
    fail,
    global_rngs,
)
from tests.kata_helpers import kata_call, seeded, seeded_generator

dataloader = target_module("sprint6.dataloader")


def run(call, where: str):
    """call(), with an exception from the code under test turned into a teaching failure."""
    try:
        return call()
    except NotImplementedError:
        raise
    except Exception as exc:
        fail(where, f"raised {type(exc).__name__}: {exc}")


def expect_runtime_error(call, where: str, why: str, mistake: str = "") -> None:
    """expect_raises(RuntimeError, ...), where a stub's NotImplementedError (a subclass of
    RuntimeError) does not count as the error asked for."""
    try:
        call()
    except NotImplementedError:
        raise
    except RuntimeError:
        return
    except Exception:
        pass
    expect_raises(RuntimeError, call, where, why, mistake)  # says what came instead


# --- default_collate --------------------------------------------------------------------------

Point = namedtuple("Point", "x y")


def shape_of(sample) -> str:
    """A sample's structure in words: '(x (3,) float32, int)'."""
    if isinstance(sample, Tensor):
        return f"x {describe(sample)}"
    if isinstance(sample, dict):
        return "{" + ", ".join(f"{k!r}: {shape_of(v)}" for k, v in sample.items()) + "}"
    if isinstance(sample, tuple) and hasattr(sample, "_fields"):
        inner = ", ".join(f"{f}={shape_of(v)}" for f, v in zip(sample._fields, sample))
        return f"{type(sample).__name__}({inner})"
    if isinstance(sample, tuple):
        inner = ", ".join(shape_of(v) for v in sample)
        return f"({inner},)" if len(sample) == 1 else f"({inner})"
    if isinstance(sample, list):
        return "[" + ", ".join(shape_of(v) for v in sample) + "]"
    return type(sample).__name__


def collate_where(samples) -> str:
    return kata_call(Shown(f"{len(samples)} samples like {shape_of(samples[0])}"))


def collate(samples, where: str):
    return run(lambda: dataloader.default_collate(samples), where)


def tensor_hint(got: Tensor, want: Tensor) -> str:
    if want.dtype == torch.float64 and got.dtype == torch.float32:
        return (
            "Python floats made into a tensor with torch's default dtype, float32: torch's "
            "collate keeps their double precision as float64"
        )
    if want.dtype == torch.int64 and got.is_floating_point():
        return "Python ints made into a float tensor: they stay integers, int64"
    return ""


def same(got, want, where: str, path: str = "the batch") -> None:
    """got has want's structure, container types, dtypes, shapes and values."""
    if isinstance(want, Tensor):
        if not isinstance(got, Tensor):
            hint = ""
            if isinstance(got, list | tuple):
                hint = "the values of one position gathered into a list, not made into a tensor"
            fail(where, f"{path} is {describe(got)}, expected a tensor {describe(want)}", hint)
        if got.dtype != want.dtype:
            fail(
                where,
                f"{path} has dtype {got.dtype}, expected {want.dtype}",
                tensor_hint(got, want),
            )
        # stacking copies values: they must be equal exactly
        check_close(got, want, f"{where}, {path}", rtol=0, atol=0)
    elif isinstance(want, dict):
        if not isinstance(got, dict):
            fail(
                where,
                f"{path} is {describe(got)}, expected a dict with keys {list(want)}",
                "dict samples not recursed into: collate each key's values into a dict of batches",
            )
        if list(got) != list(want):
            fail(where, f"{path} has keys {list(got)}, expected {list(want)}, in that order")
        for key in want:
            same(got[key], want[key], where, f"{path}[{key!r}]")
    elif isinstance(want, tuple) and hasattr(want, "_fields"):
        if type(got) is not type(want):
            fail(
                where,
                f"{path} is a {type(got).__name__}, expected a {type(want).__name__} of batches",
                "a namedtuple collated as a plain tuple or list: it keeps its own type, with "
                "a batch in each field",
            )
        for field, g, w in zip(want._fields, got, want):
            same(g, w, where, f"{path}.{field}")
    elif all(isinstance(w, str) for w in want):
        if not isinstance(got, list | tuple) or list(got) != list(want):
            fail(
                where,
                f"{path} is {describe(got)}, expected the strings {list(want)} (a list or tuple)",
                "strings are left as they are, one per sample, in order",
            )
    else:  # a list of batches, one per position
        if type(got) is not list:
            hint = ""
            if isinstance(got, tuple):
                hint = (
                    "a batch of tuples collated into a tuple: torch's rule returns a list, "
                    "for tuples and lists alike"
                )
            fail(where, f"{path} is a {type(got).__name__}, expected a list", hint)
        if len(got) != len(want):
            fail(where, f"{path} holds {len(got)} entries, expected {len(want)}")
        for k, (g, w) in enumerate(zip(got, want)):
            same(g, w, where, f"{path}[{k}]")


def check_collate(samples) -> None:
    """The kata's collate of samples equals torch's, and leaves the samples unchanged."""
    from torch.utils.data import default_collate as torch_collate  # the oracle

    where = collate_where(samples)
    want = torch_collate(samples)
    tensors = {}

    def gather(value, name):
        if isinstance(value, Tensor):
            tensors[name] = value
        elif isinstance(value, dict):
            for k, v in value.items():
                gather(v, f"{name}[{k!r}]")
        elif isinstance(value, list | tuple):
            for k, v in enumerate(value):
                gather(v, f"{name}[{k}]")

    gather(samples, "samples")
    snap = Snapshot(**tensors)
    got = collate(samples, where)
    same(got, want, where)
    snap.check(where)


@kata("default_collate")
class TestDefaultCollate:
    def test_tensors_stack(self):
        check_collate([seeded(3, 4, seed=s) for s in range(5)])
        check_collate([torch.arange(s, s + 3, dtype=torch.int32) for s in range(4)])
        check_collate([torch.tensor(float(s)) for s in range(3)])  # 0-d: (B,)

    def test_numbers(self):
        check_collate([3, 1, 4, 1, 5])  # int64
        check_collate([0.5, 1.25, -2.0])  # float64
        check_collate([True, False, True])  # bool

    def test_tuples_become_a_list_of_batches(self):
        check_collate([(seeded(4, seed=s), s % 3) for s in range(6)])  # (x, y) pairs
        check_collate([(s, 0.5 * s, seeded(2, seed=s)) for s in range(3)])

    def test_lists(self):
        check_collate([[s, 2 * s] for s in range(4)])
        check_collate([[seeded(2, seed=s), [s, 1.5]] for s in range(3)])

    def test_dicts_recurse(self):
        samples = [{"input": seeded(3, seed=s), "label": s, "weight": 0.25 * s} for s in range(4)]
        check_collate(samples)
        check_collate([{"b": (s, 2.0), "a": {"c": [s]}} for s in range(3)])  # key order kept

    def test_strings_and_nesting(self):
        check_collate(["the", "cat", "sat"])
        samples = [
            (seeded(2, 2, seed=s), {"label": s, "name": f"item{s}"}, Point(s, -1.0 * s))
            for s in range(4)
        ]
        check_collate(samples)
        check_collate([Point(seeded(3, seed=s), f"p{s}") for s in range(2)])

    def test_mismatched_shapes_raise(self):
        samples = [torch.zeros(3), torch.zeros(4)]
        expect_runtime_error(
            lambda: dataloader.default_collate(samples),
            kata_call(Shown("[x (3,) float32, x (4,) float32]")),
            "tensors of different shapes cannot be stacked into one batch",
        )

    def test_samples_of_different_lengths_raise(self):
        samples = [(1, 2.0), (3,), (4, 5.0)]
        expect_runtime_error(
            lambda: dataloader.default_collate(samples),
            kata_call(samples),
            "samples of lengths 2, 1, 2 have no common structure (torch raises RuntimeError)",
            "zip over the samples, which silently cuts every sample to the shortest",
        )

    def test_other_types_raise(self):
        samples = [object(), object()]
        expect_raises(
            TypeError,
            lambda: dataloader.default_collate(samples),
            kata_call(Shown("[object(), object()]")),
            "default_collate knows tensors, numbers, strings, dicts, tuples and lists only",
        )


# --- DataLoader -------------------------------------------------------------------------------


class Indexed:
    """Item i is i (a Python int) or (i, a tensor): a batch shows which items it holds.
    It records the type of each index it is asked for."""

    def __init__(self, n: int, with_tensor: bool = False):
        self.n, self.with_tensor = n, with_tensor
        self.index_types: set[str] = set()

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        self.index_types.add(type(i).__name__)
        if not 0 <= i < self.n:
            raise IndexError(f"index {i} out of range for a dataset of {self.n}")
        if self.with_tensor:
            return torch.full((2,), float(i)), int(i)
        return int(i)

    def __repr__(self):
        return f"dataset of {self.n}" + (" (x (2,) float32, int) pairs" if self.with_tensor else "")


def loader_where(dataset, **kwargs) -> str:
    return kata_call(Shown(repr(dataset)), **kwargs)


def make_loader(dataset, where: str, **kwargs):
    return run(lambda: dataloader.DataLoader(dataset, **kwargs), where)


def one_pass(loader, where: str) -> list[list[int]]:
    """The indices of each batch of one pass: batches of the int items as lists."""
    batches = run(lambda: list(loader), where + ", one pass")
    out = []
    for k, batch in enumerate(batches):
        if not isinstance(batch, Tensor) or batch.dtype != torch.int64 or batch.dim() != 1:
            fail(
                where,
                f"batch {k} is {describe(batch)}, expected an int64 tensor (B,) of the items",
                "the batch not passed through collate_fn (default_collate when none is given)",
            )
        out.append(batch.tolist())
    return out


def cut(order: list[int], size: int, drop_last: bool) -> list[list[int]]:
    batches = [order[i : i + size] for i in range(0, len(order), size)]
    return batches[:-1] if drop_last and len(batches[-1]) < size else batches


def check_permutation(batches: list[list[int]], n: int, where: str) -> list[int]:
    order = [i for b in batches for i in b]
    if sorted(order) != list(range(n)):
        missing = sorted(set(range(n)) - set(order))
        repeated = sorted({i for i in order if order.count(i) > 1})
        fail(
            where,
            f"a pass holds {len(order)} items, missing {missing[:8]}, repeated {repeated[:8]}: "
            f"expected each of the {n} exactly once",
            "indices drawn independently (randint) rather than as one permutation"
            if repeated
            else "indices never reached: the order cut short, or a last, smaller batch dropped",
        )
    return order


@kata("DataLoader")
class TestDataLoader:
    def test_batches_in_order(self):
        for n, size in ((10, 3), (9, 3), (5, 8), (1, 1)):
            ds = Indexed(n)
            where = loader_where(ds, batch_size=size)
            got = one_pass(make_loader(ds, where, batch_size=size), where)
            want = cut(list(range(n)), size, drop_last=False)
            if got != want:
                hint = ""
                if got == want[:-1]:
                    hint = "the last, smaller batch dropped although drop_last is False"
                fail(where, f"the batches are {got}, expected {want}", hint)

    def test_drop_last_and_len(self):
        for n, size in ((10, 3), (9, 3), (11, 4), (3, 5)):
            for drop_last in (False, True):
                ds = Indexed(n)
                where = loader_where(ds, batch_size=size, drop_last=drop_last)
                loader = make_loader(ds, where, batch_size=size, drop_last=drop_last)
                want = cut(list(range(n)), size, drop_last)
                got = one_pass(loader, where)
                if got != want:
                    fail(
                        where,
                        f"the batches are {got}, expected {want}",
                        "the last, smaller batch kept although drop_last is True"
                        if drop_last
                        else "the last, smaller batch dropped although drop_last is False",
                    )
                length = run(lambda loader=loader: len(loader), where + ", len")
                if length != len(want):
                    hint = (
                        "len rounds the number of batches down although the smaller last "
                        "batch is kept"
                        if length == n // size
                        else "len rounds the number of batches up although drop_last drops "
                        "the smaller last batch"
                        if length == math.ceil(n / size)
                        else ""
                    )
                    fail(where, f"len(loader) is {length}, expected {len(want)}", hint)

    def test_samples_go_through_collate(self):
        from torch.utils.data import default_collate as torch_collate  # the oracle

        ds = Indexed(7, with_tensor=True)
        where = loader_where(ds, batch_size=3)
        batches = run(lambda: list(make_loader(ds, where, batch_size=3)), where)
        if len(batches) != 3:
            fail(where, f"a pass gave {len(batches)} batches, expected 3")
        for k, idx in enumerate(([0, 1, 2], [3, 4, 5], [6])):
            same(batches[k], torch_collate([ds[i] for i in idx]), where, f"batch {k}")
        seen = []

        def keep(samples):
            seen.append(samples)
            return len(samples)

        ds = Indexed(5)
        where = loader_where(ds, batch_size=2, collate_fn=Shown("f"))
        got = run(lambda: list(make_loader(ds, where, batch_size=2, collate_fn=keep)), where)
        if got != [2, 2, 1] or seen != [[0, 1], [2, 3], [4]]:
            fail(
                where,
                f"collate_fn was called with {seen} and the pass gave {got}: expected calls "
                "with the lists [0, 1], [2, 3], [4] of samples, and their results as batches",
            )

    def test_indices_are_ints(self):
        ds = Indexed(12)
        seeded_zero = Shown("torch.Generator().manual_seed(0)")
        where = loader_where(ds, batch_size=5, shuffle=True, generator=seeded_zero)
        loader = make_loader(ds, where, batch_size=5, shuffle=True, generator=seeded_generator(0))
        one_pass(loader, where)
        if ds.index_types != {"int"}:
            fail(
                where,
                f"the dataset was indexed with {sorted(ds.index_types)}, expected Python ints",
                "the elements of a permutation tensor used as indices: each is a 0-d tensor, "
                "which a dict or a list of files cannot be indexed with (tolist() gives ints)",
            )

    def test_shuffle_is_a_new_permutation_every_pass(self):
        n, size = 50, 7
        ds = torch.arange(n)  # a tensor is a dataset: item i is i
        seeded_one = Shown("torch.Generator().manual_seed(1)")
        where = loader_where(
            Shown(f"torch.arange({n})"), batch_size=size, shuffle=True, generator=seeded_one
        )
        before, snap = global_rngs(), Snapshot(dataset=ds)
        loader = make_loader(
            ds, where, batch_size=size, shuffle=True, generator=seeded_generator(1)
        )
        orders = []
        for p in range(3):
            batches = one_pass(loader, where)
            order = check_permutation(batches, n, f"{where}, pass {p}")
            if [len(b) for b in batches] != [len(b) for b in cut(order, size, False)]:
                fail(where, f"pass {p} has batches of sizes {[len(b) for b in batches]}")
            orders.append(order)
        check_global_rngs(before, where)
        snap.check(where)
        if orders[0] == list(range(n)):
            fail(where, "the first pass is in order 0 … 49: shuffle=True did not shuffle")
        if orders[0] == orders[1] or orders[1] == orders[2]:
            fail(
                where,
                "two passes in a row give the same order: expected a new permutation each pass",
                "the permutation drawn once (in __init__, or from a generator reseeded every "
                "pass) instead of at the start of every pass",
            )
        again = make_loader(ds, where, batch_size=size, shuffle=True, generator=seeded_generator(1))
        replay = [check_permutation(one_pass(again, where), n, where) for _ in range(3)]
        if replay != orders:
            fail(
                where + " (built twice)",
                "two loaders whose generators have the same seed give different passes",
                "the permutation drawn from a global RNG rather than from `generator`",
            )

    def test_shuffle_draws_only_from_its_generator(self):
        ds = torch.arange(20)
        seeded_two = Shown("torch.Generator().manual_seed(2)")
        where = loader_where(
            Shown("torch.arange(20)"), batch_size=4, shuffle=True, generator=seeded_two
        )
        g = seeded_generator(2)
        loader = make_loader(ds, where, batch_size=4, shuffle=True, generator=g)
        state = g.get_state()
        before = global_rngs()
        one_pass(loader, where)
        check_global_rngs(before, where)
        if torch.equal(state, g.get_state()):
            fail(
                where,
                "a pass did not draw from the generator it was given",
                "the permutation drawn from a generator of its own, or from the global RNG",
            )

    def test_no_shuffle_draws_nothing(self):
        ds = torch.arange(9)
        where = loader_where(Shown("torch.arange(9)"), batch_size=2)
        before = global_rngs()
        batches = one_pass(make_loader(ds, where, batch_size=2), where)
        check_global_rngs(before, where)
        if batches != cut(list(range(9)), 2, False):
            fail(where, f"the batches are {batches}, expected them in order")

    def test_batch_sampler(self):
        ds = Indexed(6)
        sampler = [[3, 1], [0], [5, 2, 4]]
        where = loader_where(ds, batch_sampler=sampler)
        loader = make_loader(ds, where, batch_sampler=sampler)
        for p in range(2):
            got = one_pass(loader, where)
            if got != sampler:
                fail(where, f"pass {p} gives {got}, expected the batch_sampler's {sampler}")
        if run(lambda: len(loader), where + ", len") != 3:
            fail(where, f"len(loader) is {len(loader)}, expected len(batch_sampler), 3")

    def test_batch_sampler_excludes_the_others(self):
        ds, sampler = Indexed(6), [[0, 1], [2, 3, 4, 5]]
        for kwargs in ({"batch_size": 2}, {"shuffle": True}, {"drop_last": True}):
            expect_raises(
                ValueError,
                lambda kwargs=kwargs: dataloader.DataLoader(ds, batch_sampler=sampler, **kwargs),
                loader_where(ds, batch_sampler=sampler, **kwargs),
                "a batch_sampler decides the batches itself, so batch_size, shuffle and "
                "drop_last may not be given with it (as torch's DataLoader)",
            )
        expect_raises(
            ValueError,
            lambda: dataloader.DataLoader(ds, batch_size=0),
            loader_where(ds, batch_size=0),
            "a batch needs at least one sample",
        )


# --- BucketBatchSampler -----------------------------------------------------------------------

N, SIZE = 1000, 8  # 3 buckets of 50 batches: 400, 400 and 200 indices


def distinct_lengths(n: int = N, seed: int = 0) -> Tensor:
    """A shuffle of 1 … n: distinct lengths, so that sorting leaves no tie to break."""
    return torch.randperm(n, generator=seeded_generator(seed)) + 1


def padding(batches: list[list[int]], lengths: list[int]) -> int:
    """The pad entries that pad_collate (Sprint 2) adds: B · T_max − Σ lengths per batch."""
    return sum(len(b) * max(lengths[i] for i in b) - sum(lengths[i] for i in b) for b in batches)


def sampler_where(lengths, batch_size, seed) -> str:
    shown = Shown(f"lengths {describe(lengths)}") if isinstance(lengths, Tensor) else lengths
    return kata_call(shown, batch_size, generator=Shown(f"torch.Generator().manual_seed({seed})"))


def make_sampler(lengths, batch_size, seed, where):
    return run(
        lambda: dataloader.BucketBatchSampler(
            lengths, batch_size, generator=seeded_generator(seed)
        ),
        where,
    )


def sampler_pass(sampler, n: int, batch_size: int, where: str) -> list[list[int]]:
    """One pass, checked: lists of int indices, each index once, full batches but one."""
    raw = run(lambda: list(sampler), where + ", one pass")
    if not all(type(b) is list for b in raw):
        kinds = sorted({type(b).__name__ for b in raw})
        fail(
            where,
            f"a pass yields batches of type {kinds}, expected lists of ints",
            "slices of the permutation tensor handed out as they are, where a batch is a list"
            if "Tensor" in kinds
            else "",
        )
    batches = raw
    if not all(type(i) is int for b in batches for i in b):
        kinds = sorted({type(i).__name__ for b in batches for i in b})
        fail(
            where,
            f"the batches hold {kinds}, expected Python ints",
            "the elements of a permutation tensor handed out as they are: 0-d tensors",
        )
    check_permutation(batches, n, where)
    short = [len(b) for b in batches if len(b) != batch_size]
    if len(short) > 1 or any(s > batch_size for s in short):
        fail(
            where,
            f"batches of sizes {short} besides those of {batch_size}: expected at most one "
            "smaller batch, the last of the last bucket",
            "buckets whose size is not a whole number of batches, so that each bucket ends in "
            "a smaller batch",
        )
    return batches


@kata("BucketBatchSampler")
class TestBucketBatchSampler:
    def test_every_index_once_per_pass(self):
        for n, size in ((N, SIZE), (37, 4), (5, 8)):
            lengths = distinct_lengths(n)
            where = sampler_where(lengths, size, 0)
            sampler = make_sampler(lengths, size, 0, where)
            for _ in range(2):
                batches = sampler_pass(sampler, n, size, where)
            length = run(lambda sampler=sampler: len(sampler), where + ", len")
            if length != len(batches) or length != math.ceil(n / size):
                fail(
                    where,
                    f"len(sampler) is {length} and a pass gives {len(batches)} batches: "
                    f"expected ceil({n} / {size}) = {math.ceil(n / size)} for both",
                )

    def test_cuts_padding(self):
        lengths = distinct_lengths()
        where = sampler_where(lengths, SIZE, 0)
        batches = sampler_pass(make_sampler(lengths, SIZE, 0, where), N, SIZE, where)
        got = padding(batches, lengths.tolist())
        order = torch.randperm(N, generator=seeded_generator(1)).tolist()
        randomly = padding(cut(order, SIZE, False), lengths.tolist())
        # random batches of 8 from lengths 1 … 1000 pad ~390 per index; batches from sorted
        # buckets of 400, ~10 per index (a bucket 10 times smaller, ~100): a quarter of the
        # random batching's padding admits any bucket rule and no unsorted batching
        if got > randomly / 4:
            fail(
                where,
                f"a pass pads {got} entries (pad_collate's B · T_max − Σ lengths), a random "
                f"batching {randomly}: expected under a quarter of that",
                "the indices of a bucket never sorted by length, so each batch is as mixed "
                "as a random one",
            )

    def test_new_batches_every_pass(self):
        lengths = distinct_lengths()
        where = sampler_where(lengths, SIZE, 0)
        sampler = make_sampler(lengths, SIZE, 0, where)
        first, second = (sampler_pass(sampler, N, SIZE, where) for _ in range(2))
        repeated = len({frozenset(b) for b in first} & {frozenset(b) for b in second})
        # new random buckets make a repeated batch of 8 a rare accident; half the batches
        # repeating is what a fixed grouping gives (all of them)
        if repeated > len(first) // 2:
            fail(
                where,
                f"{repeated} of the {len(first)} batches of the first pass come again in the "
                "second: expected new batches every pass",
                "the indices sorted by length over the whole dataset (or buckets cut before "
                "shuffling), so every pass groups the same indices together",
            )

    def test_batches_come_shuffled(self):
        lengths = distinct_lengths()
        where = sampler_where(lengths, SIZE, 0)
        batches = sampler_pass(make_sampler(lengths, SIZE, 0, where), N, SIZE, where)
        longest = [max(lengths[i].item() for i in b) for b in batches]
        rises = sum(a < b for a, b in itertools.pairwise(longest))
        # shuffled batches: each step rises with probability 1/2, ~62 ± 6 of 124; batches
        # left in bucket order rise at all but 2 steps. 3/4 (93) lies 5 sigma above
        if rises > 3 * (len(batches) - 1) // 4:
            fail(
                where,
                f"the longest length rises from one batch to the next at {rises} of "
                f"{len(batches) - 1} steps: the batches come sorted, not shuffled",
                "the batches of each bucket yielded in their sorted order, short to long, "
                "instead of shuffled together",
            )

    def test_reproducible_by_the_generator(self):
        lengths = distinct_lengths(200)
        where = sampler_where(lengths, 4, 3)
        before = global_rngs()
        a, b = make_sampler(lengths, 4, 3, where), make_sampler(lengths, 4, 3, where)
        passes_a = [sampler_pass(a, 200, 4, where) for _ in range(2)]
        passes_b = [sampler_pass(b, 200, 4, where) for _ in range(2)]
        check_global_rngs(before, where)
        if passes_a != passes_b:
            fail(
                where + " (built twice)",
                "two samplers whose generators have the same seed give different passes",
                "randomness drawn from a global RNG rather than from `generator`",
            )

    def test_lengths_as_list_or_tensor(self):
        lengths = distinct_lengths(60, seed=4)
        snap = Snapshot(lengths=lengths)
        where = sampler_where(lengths, 6, 5)
        from_tensor = sampler_pass(make_sampler(lengths, 6, 5, where), 60, 6, where)
        snap.check(where)
        as_list = lengths.tolist()
        where = sampler_where(Shown("lengths as a list of 60 ints"), 6, 5)
        from_list = sampler_pass(make_sampler(as_list, 6, 5, where), 60, 6, where)
        if as_list != lengths.tolist():
            fail(where, "the list of lengths was changed", "sorting the caller's list in place")
        if from_list != from_tensor:
            fail(where, "the lengths as a list and as a tensor give different passes")

    def test_batch_size_below_one_raises(self):
        expect_raises(
            ValueError,
            lambda: dataloader.BucketBatchSampler([3, 1, 2], 0),
            kata_call([3, 1, 2], 0),
            "a batch needs at least one index",
        )

    def test_feeds_a_torch_dataloader(self):
        from torch.utils.data import DataLoader  # the sampler's user

        lengths = distinct_lengths(30, seed=6).tolist()
        seqs = [torch.full((n,), 1) for n in lengths]
        where = sampler_where(Shown("30 lengths"), 4, 7)
        sampler = make_sampler(lengths, 4, 7, where)

        def pad(batch):  # pad_collate without the labels
            T = max(len(s) for s in batch)
            return torch.stack([torch.cat([s, s.new_zeros(T - len(s))]) for s in batch])

        loader = DataLoader(seqs, batch_sampler=sampler, collate_fn=pad)
        batches = run(lambda: list(loader), where + " as a DataLoader's batch_sampler")
        if len(batches) != len(loader) or sum(int(b.sum()) for b in batches) != sum(lengths):
            fail(
                where + " as a DataLoader's batch_sampler",
                f"{len(batches)} padded batches holding {sum(int(b.sum()) for b in batches)} "
                f"tokens: expected {len(loader)} batches holding all {sum(lengths)}",
            )
