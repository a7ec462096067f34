"""Grades sprint2.loaders by the items each batch holds, read back as plain Python lists."""

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Subset, get_worker_info

from grader import kata, target_module
from grader.checks import (
    Shown,
    Snapshot,
    call_text,
    check_close,
    check_global_rngs,
    check_tensor,
    check_tuple,
    describe,
    fail,
    global_rngs,
)
from tests.kata_helpers import kata_call

loaders = target_module("sprint2.loaders")


class Numbers(Dataset):
    """Item i is the Python int i, so a batch shows which items it holds."""

    def __init__(self, n: int):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(f"index {i} out of range for Numbers({self.n})")
        return i

    def __repr__(self):
        return f"Numbers({self.n})"


class WorkerTagged(Numbers):
    """Item i is (i, id of the worker process that loaded it, or -1 in the main process).

    Defined at module level, so it can be pickled: under the spawn start method (macOS,
    Windows) a DataLoader's workers receive the dataset by pickle.
    """

    def __getitem__(self, i):
        info = get_worker_info()
        return super().__getitem__(i), -1 if info is None else info.id

    def __repr__(self):
        return f"WorkerTagged({self.n})"


# --- make_loader ------------------------------------------------------------------------


def _loader_where(dataset, batch_size, **kwargs) -> str:
    return kata_call(dataset, batch_size, **kwargs)


def _make(dataset, batch_size, where, **kwargs) -> DataLoader:
    loader = loaders.make_loader(dataset, batch_size, **kwargs)
    if not isinstance(loader, DataLoader):
        fail(where, f"expected a torch.utils.data.DataLoader, got {describe(loader)}")
    return loader


def _one_pass(loader, where: str) -> list[list[int]]:
    """The items of each batch of one pass, with torch's default collate."""
    batches = []
    for k, batch in enumerate(loader):
        check_tensor(batch, f"{where}, batch {k}", dtype=torch.int64)
        batches.append(batch.tolist())
    return batches


def _passes(loader, count: int, where: str) -> list[list[list[int]]]:
    return [_one_pass(loader, f"{where}, pass {p + 1}") for p in range(count)]


def _check_permutation(batches: list[list[int]], n: int, where: str) -> list[int]:
    order = [i for batch in batches for i in batch]
    if sorted(order) != list(range(n)):
        fail(where, f"a pass should give each of the {n} items once, got {order}")
    return order


def _why_passes_use_the_global_rng(dataset, batch_size: int, seed: int) -> str:
    """Why iterating a seeded loader drew from the global RNG: the shuffle itself, or only
    the base seed the DataLoader draws at every pass (when it was given no generator)."""
    orders = []
    for global_seed in (101, 202):
        loader = loaders.make_loader(dataset, batch_size, shuffle=True, seed=seed)
        torch.manual_seed(global_seed)
        orders.append([i for batch in loader for i in batch.tolist()])
    if orders[0] == orders[1]:
        return (
            "the shuffle follows the seed, but the DataLoader itself was given no generator: "
            "at every pass it draws a base seed for its workers (even with num_workers=0) "
            "from the global RNG. A seeded generator on the sampler alone does not cover that"
        )
    return (
        "the shuffle draws from the global RNG: the seed never reaches a torch.Generator "
        "of the loader's own"
    )


def check_rngs_after_passes(before: tuple, where: str, dataset, batch_size: int, seed: int):
    """check_global_rngs, saying why passes over a seeded loader drew from the global RNG."""
    if not torch.equal(before[0], torch.get_rng_state()):
        fail(
            where,
            "the global random number generator was used while the loader was made or iterated",
            _why_passes_use_the_global_rng(dataset, batch_size, seed),
        )
    check_global_rngs(before, where)


@kata("make_loader")
class TestMakeLoader:
    def test_in_order_without_shuffle(self):
        ds = Numbers(10)
        where = _loader_where(ds, 4)
        loader = _make(ds, 4, where)
        for got in _passes(loader, 2, where):
            if got != [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]:
                fail(where, f"batches {got}, expected [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]")

    def test_batch_size_and_drop_last(self):
        ds = Numbers(10)
        for drop_last, want in (
            (False, [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]),
            (True, [[0, 1, 2], [3, 4, 5], [6, 7, 8]]),
        ):
            where = _loader_where(ds, 3, drop_last=drop_last)
            loader = _make(ds, 3, where, drop_last=drop_last)
            mistake = "drop_last is not passed on to the DataLoader"
            if len(loader) != len(want):
                fail(where, f"len(loader) is {len(loader)}, expected {len(want)}", mistake)
            got = _one_pass(loader, where)
            if got != want:
                fail(where, f"batches {got}, expected {want}", mistake)

    def test_collate_fn_passed_through(self):
        def collate(items):
            return ("collated", tuple(items))

        ds = Numbers(5)
        where = _loader_where(ds, 2, collate_fn=Shown("collate"))
        got = list(_make(ds, 2, where, collate_fn=collate))
        want = [("collated", (0, 1)), ("collated", (2, 3)), ("collated", (4,))]
        if got != want:
            fail(
                where,
                f"got batches {describe(got)}, expected collate's output {describe(want)}",
                "collate_fn is not passed on to the DataLoader (None there means the default)",
            )

    def test_each_pass_a_new_order(self):
        ds = Numbers(20)
        where = _loader_where(ds, 5, shuffle=True, seed=0)
        torch.manual_seed(97)  # the orders a message prints read the same at every run
        passes = _passes(_make(ds, 5, where, shuffle=True, seed=0), 3, where)
        orders = [_check_permutation(p, 20, f"{where}, pass {k + 1}") for k, p in enumerate(passes)]
        if orders[0] == list(range(20)):
            fail(where, "the first pass is in order: shuffle=True was not used")
        if orders[0] == orders[1] or orders[1] == orders[2]:
            fail(
                where,
                f"passes 1, 2 and 3 come in the orders {orders[0]}, {orders[1]}, {orders[2]}: "
                "each pass should be a new order",
                "the order was drawn once (a fixed permutation or Subset), or the generator "
                "is seeded again at every pass; seed one generator once and let the "
                "DataLoader draw from it pass after pass",
            )

    def test_same_seed_same_sequence_of_orders(self):
        ds = Numbers(12)
        where = _loader_where(ds, 4, shuffle=True, seed=3) + ", two loaders, 3 passes each"
        torch.manual_seed(98)  # the orders a message prints read the same at every run
        first = _passes(_make(ds, 4, where, shuffle=True, seed=3), 3, where)
        torch.manual_seed(99)  # the global RNG moves on between the two
        second = _passes(_make(ds, 4, where, shuffle=True, seed=3), 3, where)
        if first != second:
            fail(
                where,
                f"pass 1 of the first loader gave {first[0]}, of the second {second[0]}"
                if first[0] != second[0]
                else f"the first loader's passes were {first}, the second's {second}",
                "shuffling from the global RNG: the seed never reaches a torch.Generator of "
                "the loader's own",
            )
        other = _passes(_make(ds, 4, where, shuffle=True, seed=4), 3, where)
        if other == first:
            fail(
                _loader_where(ds, 4, shuffle=True, seed=Shown("3 and 4")),
                "seeds 3 and 4 gave the same orders",
                "the seed is not used",
            )

    def test_loaders_with_the_same_seed_are_independent(self):
        ds = Numbers(12)
        where = (
            _loader_where(ds, 4, shuffle=True, seed=5)
            + ": two loaders made one after the other, their passes taken in turn"
        )
        torch.manual_seed(96)  # the orders a message prints read the same at every run
        a = _make(ds, 4, where, shuffle=True, seed=5)
        b = _make(ds, 4, where, shuffle=True, seed=5)
        a1, b1 = _one_pass(a, where + ", a pass 1"), _one_pass(b, where + ", b pass 1")
        a2, b2 = _one_pass(a, where + ", a pass 2"), _one_pass(b, where + ", b pass 2")
        if (a1, a2) != (b1, b2):
            fail(
                where,
                f"loader a gave {a1} then {a2}, loader b {b1} then {b2}",
                "the loaders share one random stream: one generator made at module level and "
                "re-seeded for every new loader, or the global RNG reseeded; each loader needs "
                "a torch.Generator of its own",
            )

    def test_shuffle_without_seed(self):
        ds = Numbers(20)
        where = _loader_where(ds, 20, shuffle=True)
        (batch,) = _one_pass(_make(ds, 20, where, shuffle=True), where)
        _check_permutation([batch], 20, where)
        if batch == list(range(20)):
            fail(where, "the items came in order: with seed=None, shuffle=True still shuffles")

    def test_global_rngs_untouched(self):
        ds = Numbers(12)
        where = _loader_where(ds, 4, shuffle=True, seed=6) + ", built, then 2 passes"
        before = global_rngs()
        loader = _make(ds, 4, where, shuffle=True, seed=6)
        check_global_rngs(before, _loader_where(ds, 4, shuffle=True, seed=6) + ", built")
        _passes(loader, 2, where)
        check_rngs_after_passes(before, where, ds, 4, seed=6)

    def test_two_workers_give_the_same_batches(self):
        ds = WorkerTagged(10)
        where = _loader_where(ds, 3, shuffle=True, seed=11, num_workers=2)
        torch.manual_seed(95)  # the batches a message prints read the same at every run
        before = global_rngs()
        loader = _make(ds, 3, where, shuffle=True, seed=11, num_workers=2)
        ids_w, workers_w = zip(*[(batch[0].tolist(), batch[1].tolist()) for batch in loader])
        check_rngs_after_passes(before, where, Numbers(10), 3, seed=11)
        plain = _loader_where(ds, 3, shuffle=True, seed=11, num_workers=0)
        ids_0 = [batch[0].tolist() for batch in _make(ds, 3, plain, shuffle=True, seed=11)]
        if list(ids_w) != ids_0:
            fail(
                where,
                f"batches {list(ids_w)}, but num_workers=0 gives {ids_0}: the order must not "
                "depend on how many workers load the items",
            )
        loaded_by = {w for batch in workers_w for w in batch}
        if loaded_by != {0, 1}:
            fail(
                where,
                f"the items were loaded by {sorted(loaded_by)} (-1 is the main process), "
                "expected worker processes 0 and 1",
                "num_workers is not passed on to the DataLoader",
            )


# --- pad_collate ------------------------------------------------------------------------


def _seqs(*rows) -> list[Tensor]:
    return [torch.tensor(row, dtype=torch.int64) for row in rows]


def _collate_where(batch, **kwargs) -> str:
    lengths = ", ".join(str(len(s)) for s, _ in batch)
    return kata_call(Shown(f"[{len(batch)} (seq, label) pairs, lengths {lengths}]"), **kwargs)


def _pad_oracle(batch, pad_value):
    T = max(len(s) for s, _ in batch)
    padded = [s.tolist() + [pad_value] * (T - len(s)) for s, _ in batch]
    return (
        torch.tensor(padded, dtype=torch.int64).reshape(len(batch), T),
        torch.tensor([len(s) for s, _ in batch], dtype=torch.int64),
        torch.tensor([label for _, label in batch], dtype=torch.int64),
    )


def _check_collate(batch, pad_value=None) -> None:
    kwargs = {} if pad_value is None else {"pad_value": pad_value}
    where = _collate_where(batch, **kwargs)
    snap = Snapshot(**{f"seq{b}": s for b, (s, _) in enumerate(batch)})
    out = loaders.pad_collate(batch, **kwargs)
    snap.check(where)
    check_tuple(out, "padded, lengths, labels", where)
    padded, lengths, labels = out
    want_padded, want_lengths, want_labels = _pad_oracle(batch, pad_value or 0)
    B, T = want_padded.shape
    if isinstance(labels, list):
        fail(
            where + " → labels",
            "got a list, expected an int64 tensor (B,)",
            "the labels were handed back as the Python list they came in",
        )
    for name, got in (("padded", padded), ("lengths", lengths), ("labels", labels)):
        if isinstance(got, Tensor) and got.is_floating_point():
            fail(
                f"{where} → {name}",
                f"expected dtype torch.int64, got {got.dtype}",
                "torch.Tensor(...) (capital T) makes float32 whatever it is given, and so do "
                "float values; lengths and cross_entropy's class labels are int64",
            )
    mistake = ""
    if isinstance(padded, Tensor) and padded.shape == (B, T):
        cut = want_lengths.tolist()
        left = torch.stack([torch.cat([row[L:], row[:L]]) for row, L in zip(want_padded, cut)])
        if torch.equal(padded, left) and not torch.equal(left, want_padded):
            mistake = "left padding: the pad goes after each sequence (right padding)"
        elif pad_value not in (None, 0) and torch.equal(padded, _pad_oracle(batch, 0)[0]):
            mistake = f"padded with 0 whatever pad_value ({pad_value}) says"
    check_close(padded, want_padded, where + " → padded (B, T_max)", mistake=mistake)
    mistake = ""
    if isinstance(lengths, Tensor) and lengths.shape == (B,):
        if bool((lengths == T).all()):
            mistake = "the lengths of the sequences before padding, not T_max"
        elif torch.equal(lengths, (want_padded != (pad_value or 0)).sum(dim=1)):
            mistake = (
                "the lengths counted as the entries that differ from pad_value: a token "
                "equal to pad_value is part of its sequence too, and padding can't be told "
                "from it once it is in"
            )
    check_close(lengths, want_lengths, where + " → lengths (B,)", mistake=mistake)
    check_close(labels, want_labels, where + " → labels (B,)")


@kata("pad_collate")
class TestPadCollate:
    def test_right_padded_with_zeros(self):
        _check_collate(list(zip(_seqs([5, 6, 7], [8], [9, 1, 3, 4]), [2, 0, 1])))

    def test_pad_value(self):
        batch = list(zip(_seqs([4, 2], [7, 7, 7, 7, 1], [3]), [1, 1, 0]))
        _check_collate(batch, pad_value=-1)
        _check_collate(batch, pad_value=99)

    def test_dtypes_all_int64(self):
        batch = list(zip(_seqs([1, 2, 3], [4]), [7, 3]))
        where = _collate_where(batch)
        out = loaders.pad_collate(batch)
        check_tuple(out, "padded, lengths, labels", where)
        for name, got, shape in zip(("padded", "lengths", "labels"), out, ((2, 3), (2,), (2,))):
            check_tensor(got, f"{where} → {name}", shape=shape, dtype=torch.int64)

    def test_a_token_equal_to_the_pad_value(self):
        # a 0 (the default pad) inside and at the end of a sequence; then pad_value=7
        _check_collate(list(zip(_seqs([5, 0, 0], [0], [3, 0, 4, 4]), [1, 0, 1])))
        _check_collate(list(zip(_seqs([7, 1, 7], [2], [7]), [0, 1, 2])), pad_value=7)

    def test_one_sequence_and_equal_lengths(self):
        _check_collate([(torch.tensor([3, 1, 4]), 5)])
        _check_collate(list(zip(_seqs([1, 2], [3, 4], [5, 6]), [0, 1, 0])), pad_value=-1)

    def test_empty_sequence(self):
        _check_collate(list(zip(_seqs([], [6, 2, 8], [1]), [1, 0, 1])), pad_value=-1)

    def test_as_a_dataloaders_collate_fn(self):
        data = list(zip(_seqs([1], [2, 3, 4], [5, 6], [7, 8, 9, 10], [11]), [0, 1, 2, 3, 4]))
        where = call_text("DataLoader", (Shown("5 pairs"),), {"batch_size": 2}) + (
            f", collate_fn={kata_call.name}"
        )
        got = list(DataLoader(data, batch_size=2, collate_fn=loaders.pad_collate))
        if len(got) != 3:
            fail(where, f"expected 3 batches, got {len(got)}")
        for k, out in enumerate(got):
            want = _pad_oracle(data[2 * k : 2 * k + 2], 0)
            for name, g, w in zip(("padded", "lengths", "labels"), out, want):
                check_close(g, w, f"{where}, batch {k} → {name}")


# --- split_dataset ----------------------------------------------------------------------


def _split_where(dataset, val_fraction, **kwargs) -> str:
    return kata_call(dataset, val_fraction, **kwargs)


def _split(dataset, val_fraction, where, **kwargs) -> tuple[list[int], list[int]]:
    """(train items, val items) of split_dataset, after checking both are Subsets of it."""
    out = loaders.split_dataset(dataset, val_fraction, **kwargs)
    check_tuple(
        out,
        "train, val",
        where,
        slip="random_split's list handed back as it is, where the docstring promises a tuple",
    )
    items = []
    for name, part in zip(("train", "val"), out):
        if not isinstance(part, Subset):
            fail(
                f"{where} → {name}",
                f"expected a torch.utils.data.Subset, got {describe(part)}",
                "the items were copied out (a list, a new dataset) instead of wrapped in a "
                "torch.utils.data.Subset, which indexes the dataset without copying it",
            )
        if part.dataset is not dataset:
            fail(f"{where} → {name}", "the Subset does not wrap the dataset that was passed in")
        items.append([part[i] for i in range(len(part))])
    return items[0], items[1]


@kata("split_dataset")
class TestSplitDataset:
    def test_val_size_truncates(self):
        for n, fraction in ((10, 0.27), (7, 0.5), (100, 0.2), (9, 0.99)):
            ds = Numbers(n)
            where = _split_where(ds, fraction)
            train, val = _split(ds, fraction, where)
            k = int(n * fraction)
            if len(val) != k:
                mistake = ""
                if len(val) == round(n * fraction):
                    mistake = f"round() gives {round(n * fraction)}; int() truncates to {k}"
                elif len(val) == n - k:
                    mistake = "train and val swapped: val holds int(n · val_fraction) items"
                fail(
                    where,
                    f"val holds {len(val)} items, expected int({n} · {fraction}) = {k}",
                    mistake,
                )
            if len(train) != n - k:
                fail(where, f"train holds {len(train)} items, expected {n} − {k} = {n - k}")

    def test_disjoint_and_complete(self):
        ds = Numbers(50)
        where = _split_where(ds, 0.3, seed=1)
        train, val = _split(ds, 0.3, where, seed=1)
        both = set(train) & set(val)
        if both:
            fail(
                where,
                f"items {sorted(both)[:8]} are in both train and val",
                "train and val come from two separate random draws, which overlap",
            )
        if sorted(train + val) != list(range(50)):
            fail(where, "train and val together should hold every item exactly once")

    def test_random_not_the_first_items(self):
        ds = Numbers(100)
        where = _split_where(ds, 0.2, seed=2)
        _, val = _split(ds, 0.2, where, seed=2)
        if sorted(val) in (list(range(20)), list(range(80, 100))):
            fail(
                where,
                f"val holds items {sorted(val)[0]} … {sorted(val)[-1]}, a block from one end",
                "the indices were never shuffled: val is a block of consecutive items",
            )

    def test_same_seed_same_split(self):
        ds = Numbers(40)
        where = _split_where(ds, 0.25, seed=3) + ", called twice"
        first = _split(ds, 0.25, where, seed=3)
        torch.manual_seed(77)  # the global RNG moves on between the two
        second = _split(ds, 0.25, where, seed=3)
        if first != second:
            fail(
                where,
                f"val was {first[1]} and then {second[1]}",
                "drawing from the global RNG instead of from a torch.Generator seeded with seed",
            )
        other = _split(ds, 0.25, where, seed=4)
        if sorted(other[1]) == sorted(first[1]):
            fail(_split_where(ds, 0.25, seed=Shown("3 and 4")), "seeds 3 and 4 gave the same split")

    def test_default_seed_is_0(self):
        ds = Numbers(30)
        where = _split_where(ds, 0.3) + " against seed=0"
        if _split(ds, 0.3, where) != _split(ds, 0.3, where, seed=0):
            fail(where, "the default seed is 0: both calls should give the same split")

    def test_global_rngs_untouched(self):
        ds = Numbers(30)
        where = _split_where(ds, 0.3, seed=5)
        before = global_rngs()
        _split(ds, 0.3, where, seed=5)
        check_global_rngs(before, where)

    def test_zero_fraction(self):
        ds = Numbers(8)
        where = _split_where(ds, 0.0)
        train, val = _split(ds, 0.0, where)
        if val != [] or sorted(train) != list(range(8)):
            fail(
                where,
                f"expected all 8 items in train and none in val, got {len(train)} and {len(val)}",
            )
