"""Grades sprint2.datasets against the line's formula, statistics, and pure-Python windows."""

import math

import pytest
import torch
from torch import Tensor

from grader import kata, target_module
from grader.checks import (
    Shown,
    check_close,
    check_global_rngs,
    check_tensor,
    check_tuple,
    describe,
    expect_raises,
    fail,
    global_rngs,
    likely_mistake,
)
from tests.kata_helpers import kata_call

datasets = target_module("sprint2.datasets")


def _linear_where(n, weight, bias, **kwargs) -> str:
    return kata_call(n, weight, bias, **kwargs)


def _pair(item, where: str) -> tuple[Tensor, Tensor]:
    """item is (x, y), float32 tensors of shape (1,)."""
    check_tuple(item, "x, y", where)
    x, y = item
    for name, t in (("x", x), ("y", y)):
        if isinstance(t, Tensor) and t.shape == ():
            fail(
                f"{where} → {name}",
                "expected shape (1,), got a 0-d tensor ()",
                "indexing an (n,) tensor gives a 0-d scalar; store the data as (n, 1)",
            )
        if isinstance(t, Tensor) and t.dtype == torch.float64:
            fail(
                f"{where} → {name}",
                "expected dtype torch.float32, got torch.float64",
                "numpy and torch.from_numpy give float64, where torch's default dtype (and "
                "what nn.Linear expects) is float32",
            )
        check_tensor(t, f"{where} → {name}", shape=(1,), dtype=torch.float32)
    return x, y


def _all_pairs(ds, n: int, where: str) -> tuple[Tensor, Tensor]:
    """(xs (n,), ys (n,)) read through ds[i], after checking len(ds) == n."""
    if len(ds) != n:
        fail(where, f"len(ds) is {len(ds)}, expected n = {n}")
    items = [ds[i] for i in range(n)]
    for i, item in enumerate(items):  # the full check (and its message) only where one is off
        if not _plain_pair(item):
            _pair(item, f"{where}[{i}]")
    return torch.cat([x for x, _ in items]), torch.cat([y for _, y in items])


def _plain_pair(item) -> bool:
    """Whether item is what _pair accepts, in a few attribute reads: 10,000 items through
    _pair's messages cost a quarter of a second, a fifth of Sprint 2's grading."""
    return (
        isinstance(item, tuple | list)
        and len(item) == 2
        and all(
            isinstance(t, Tensor) and t.shape == (1,) and t.dtype == torch.float32 for t in item
        )
    )


class Recorder:
    """A transform that counts its calls and shows as `transform` in messages."""

    def __init__(self, fn=lambda x: 10 * x + 3):
        self.fn, self.calls = fn, 0

    def __call__(self, x):
        self.calls += 1
        return self.fn(x)

    def __repr__(self):
        return "transform"


@kata("LinearDataset")
class TestLinearDataset:
    def test_len_and_items(self):
        where = _linear_where(7, 2.0, 1.0)
        ds = datasets.LinearDataset(7, 2.0, 1.0)
        _all_pairs(ds, 7, where)

    def test_points_on_the_line_without_noise(self):
        w, b = -1.5, 0.25
        where = _linear_where(64, w, b, noise_std=0.0, seed=1)
        xs, ys = _all_pairs(datasets.LinearDataset(64, w, b, noise_std=0.0, seed=1), 64, where)
        x64 = xs.double()
        want = (w * x64 + b).float()
        slips = [
            ("weight and bias swapped: y = bias·x + weight", (b * x64 + w).float()),
            ("the bias is missing", (w * x64).float()),
            ("y = x: the line was never applied", xs),
        ]
        # float32 w·x + b rounds to ~1e-7 relative; 1e-6 leaves room for any order of ops
        check_close(
            ys,
            want,
            where + " → y of every item, against weight·x + bias",
            rtol=1e-6,
            atol=1e-6,
            mistake=likely_mistake(ys, slips),
        )

    def test_x_uniform_on_minus_one_to_one(self):
        n = 10_000
        where = _linear_where(n, 1.0, 0.0, seed=2)
        xs, _ = _all_pairs(datasets.LinearDataset(n, 1.0, 0.0, seed=2), n, where)
        xs = xs.double()
        lo, hi = xs.min().item(), xs.max().item()
        if lo < -1 or hi >= 1:
            fail(where, f"x ranges over [{lo:.4g}, {hi:.4g}], outside [-1, 1)")
        # 10000 uniform draws all miss [-1, -0.99) with probability 0.995^10000 ≈ 2e-22
        if lo > -0.99 or hi < 0.99:
            mistake = ""
            if lo >= 0:
                mistake = "torch.rand is uniform in [0, 1), never stretched and shifted to [−1, 1)"
            elif hi < 0.6:
                mistake = "u − 0.5 spans only [−0.5, 0.5): the shift is there, the stretch is not"
            fail(where, f"x spans only [{lo:.4g}, {hi:.4g}], expected [-1, 1)", mistake)
        # a uniform on [-1, 1) has mean 0 and variance 1/3; at n = 10000 the standard
        # errors are 0.0058 and 0.0030, so 0.03 is over 5 of them
        mean, var = xs.mean().item(), xs.var().item()
        if abs(mean) > 0.03 or abs(var - 1 / 3) > 0.03:
            fail(
                where,
                f"x has mean {mean:.4g} and variance {var:.4g}; a uniform on [-1, 1) has 0 and 1/3",
                "x must be uniform (torch.rand), not normal (torch.randn)",
            )

    def test_noise_is_normal_with_noise_std(self):
        n, w, b, std = 10_000, 0.5, -2.0, 0.3
        where = _linear_where(n, w, b, noise_std=std, seed=3)
        xs, ys = _all_pairs(datasets.LinearDataset(n, w, b, noise_std=std, seed=3), n, where)
        noise = ys.double() - (w * xs.double() + b)
        mean, got_std = noise.mean().item(), noise.std().item()
        # the sample std's relative standard error is 1/√(2n) = 0.7%: 5% is 7 of them, and
        # far from the slips (std² gives 0.09, √std 0.55)
        if abs(got_std / std - 1) > 0.05:
            mistake = ""
            if abs(got_std / std**2 - 1) < 0.05:
                mistake = (
                    "the noise's std is noise_std², the variance: N(0, noise_std²) means "
                    "standard deviation noise_std, so scale randn by noise_std"
                )
            elif abs(got_std / math.sqrt(std) - 1) < 0.05:
                mistake = "scaled by √noise_std; scale randn by noise_std itself"
            elif got_std < 1e-6:
                mistake = "no noise was added"
            fail(
                where,
                f"y − (weight·x + bias) has std {got_std:.4g}, expected noise_std = {std} "
                "(tolerance 5%)",
                mistake,
            )
        if abs(mean) > 8 * std / math.sqrt(n):  # 8 standard errors of the mean
            fail(where, f"the noise y − (weight·x + bias) has mean {mean:.4g}, expected 0")
        # a normal puts 68.27% within one std of its mean, a uniform of that std 57.7%
        inside = (noise.abs() < std).double().mean().item()
        if abs(inside - 0.6827) > 0.03:  # 6 standard errors of a fraction at n = 10000
            fail(
                where,
                f"{inside:.1%} of the noise lies within one noise_std of 0; a normal has 68.3%",
                "the noise must be normal (torch.randn), not uniform",
            )

    def test_same_seed_same_data(self):
        args = (50, 1.5, -0.5)
        where = _linear_where(*args, noise_std=0.2, seed=4) + ", built twice"
        a = _all_pairs(datasets.LinearDataset(*args, noise_std=0.2, seed=4), 50, where)
        torch.manual_seed(123)  # the global RNG moves on between the two
        b = _all_pairs(datasets.LinearDataset(*args, noise_std=0.2, seed=4), 50, where)
        if not (torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])):
            fail(
                where,
                "two datasets with the same seed hold different data",
                "drawing from the global RNG instead of from a torch.Generator seeded with "
                "seed (every torch.rand and torch.randn call needs it)",
            )

    def test_defaults_noise_0_seed_0(self):
        where = _linear_where(20, 1.0, 0.5) + " against noise_std=0.0, seed=0"
        a = _all_pairs(datasets.LinearDataset(20, 1.0, 0.5), 20, where)
        b = _all_pairs(datasets.LinearDataset(20, 1.0, 0.5, noise_std=0.0, seed=0), 20, where)
        if not (torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])):
            fail(where, "the defaults are not noise_std=0.0, seed=0 (or runs are not repeatable)")

    def test_different_seeds_differ(self):
        where = _linear_where(30, 1.0, 0.0, seed=Shown("5 and 6"))
        a, _ = _all_pairs(datasets.LinearDataset(30, 1.0, 0.0, seed=5), 30, where)
        b, _ = _all_pairs(datasets.LinearDataset(30, 1.0, 0.0, seed=6), 30, where)
        if torch.equal(a, b):
            fail(
                where,
                "seeds 5 and 6 gave the same x",
                "the seed is not used: seed the torch.Generator with it",
            )

    def test_items_drawn_once(self):
        n = 10
        where = _linear_where(n, 2.0, 0.0, noise_std=0.5, seed=7)
        ds = datasets.LinearDataset(n, 2.0, 0.0, noise_std=0.5, seed=7)
        first = _pair(ds[3], where + "[3]")
        again = _pair(ds[3], where + "[3], read a second time")
        if not (torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])):
            fail(
                where,
                f"ds[3] gave x = {first[0].item():.4g} and then x = {again[0].item():.4g}: "
                "reading an item must not draw new numbers",
                "draw all the data once, in __init__, and only index it in __getitem__",
            )
        forward = _all_pairs(ds, n, where)
        backward = [_pair(ds[i], f"{where}[{i}]") for i in reversed(range(n))][::-1]
        if not torch.equal(forward[0], torch.cat([x for x, _ in backward])):
            fail(where, "reading the items in another order changed them")

    def test_global_rngs_untouched(self):
        where = _linear_where(40, 1.0, 0.0, noise_std=0.1, seed=8) + ", built and read"
        before = global_rngs()
        _all_pairs(datasets.LinearDataset(40, 1.0, 0.0, noise_std=0.1, seed=8), 40, where)
        check_global_rngs(before, where)

    def test_transform_applied_to_x_on_access(self):
        n = 6
        transform = Recorder()
        where = _linear_where(n, 3.0, 1.0, noise_std=0.1, seed=9, transform=transform)
        ds = datasets.LinearDataset(n, 3.0, 1.0, noise_std=0.1, seed=9, transform=transform)
        if transform.calls:
            fail(
                where,
                f"transform was called {transform.calls} times while the dataset was built; "
                "it must be called when an item is read",
                "apply transform in __getitem__, so that a random transform gives new "
                "values at every pass",
            )
        plain = datasets.LinearDataset(n, 3.0, 1.0, noise_std=0.1, seed=9)
        for i in range(n):
            item = ds[i]
            check_tuple(item, "x, y", f"{where}[{i}]")
            x, y = _pair(plain[i], kata_call(n, 3.0, 1.0) + f"[{i}]")
            check_close(
                item[0],
                10 * x + 3,
                f"{where}[{i}] → x, with transform(x) = 10·x + 3",
                rtol=1e-6,
                atol=1e-6,
                mistake="transform must be applied to x, once, when the item is read",
            )
            check_close(
                item[1],
                y,
                f"{where}[{i}] → y",
                mistake="transform applies to x only; y stays as it is",
            )
        _ = ds[0]
        if transform.calls != n + 1:
            fail(
                where,
                f"reading {n + 1} items called transform {transform.calls} times, expected "
                f"{n + 1}: once per read",
            )


# --- CharDataset ------------------------------------------------------------------------

TEXT = "hello world, hello torch!"  # first appearance (h, e, l, o, ...) is not sorted order
CHARS = sorted(set(TEXT))


def _char_where(text, block_size) -> str:
    return kata_call(text, block_size)


def _ids(text: str) -> list[int]:
    chars = sorted(set(text))
    return [chars.index(ch) for ch in text]


def _check_items(ds, text: str, block_size: int, where: str) -> None:
    ids = _ids(text)
    n = len(text) - block_size
    got_len = len(ds)
    if got_len != n:
        mistake = ""
        if got_len == n + 1:
            mistake = (
                "one window too many: the last window needs block_size + 1 characters "
                "(x and the y one further on)"
            )
        fail(where, f"len(ds) is {got_len}, expected len(text) − block_size = {n}", mistake)
    for i in range(n):
        item = ds[i]
        check_tuple(item, "x, y", f"{where}[{i}]")
        x, y = item
        want_x = torch.tensor(ids[i : i + block_size])
        want_y = torch.tensor(ids[i + 1 : i + block_size + 1])
        for name, t in (("x", x), ("y", y)):
            if isinstance(t, Tensor) and t.is_floating_point():
                fail(
                    f"{where}[{i}] → {name}",
                    f"expected dtype torch.int64, got {t.dtype}",
                    "torch.Tensor(ids) (capital T) makes float32; ids index an embedding and "
                    "are the targets of cross_entropy, which both need int64",
                )
        check_tensor(x, f"{where}[{i}] → x", dtype=torch.int64)
        check_close(x, want_x, f"{where}[{i}] → x = ids[{i} : {i + block_size}]")
        check_tensor(y, f"{where}[{i}] → y", dtype=torch.int64)
        check_close(
            y,
            want_y,
            f"{where}[{i}] → y = ids[{i + 1} : {i + block_size + 1}]",
            mistake="y is x shifted on by one character: the next character at every position"
            if isinstance(y, Tensor) and torch.equal(y, want_x)
            else "",
        )


def _expect_value_error(text: str, block_size: int) -> None:
    expect_raises(
        ValueError,
        lambda: _built(datasets.CharDataset(text, block_size)),
        _char_where(text, block_size),
        f"{len(text)} characters are fewer than block_size + 1 = {block_size + 1}",
        "the text's length is not checked against block_size in __init__, so no ValueError "
        "(or another error first)",
    )


def _built(ds) -> Shown:
    """A dataset as a failure message shows it: by its len, not by its repr (which holds
    the name of the module it came from)."""
    try:
        size = len(ds)
    except Exception as exc:
        size = f"raising {type(exc).__name__}"
    return Shown(f"a dataset (len {size})")


@kata("CharDataset")
class TestCharDataset:
    def test_vocabulary_is_sorted(self):
        where = _char_where(TEXT, 4)
        ds = datasets.CharDataset(TEXT, 4)
        if type(ds.vocab_size) is not int or ds.vocab_size != len(CHARS):
            fail(where, f"vocab_size is {describe(ds.vocab_size)}, expected the int {len(CHARS)}")
        got = [ds.itos[i] for i in range(len(CHARS))]
        if got != CHARS:
            mistake = ""
            if got == list(dict.fromkeys(TEXT)):
                mistake = "ids in the order the characters first appear in the text, not sorted"
            fail(
                where + " → itos",
                f"itos[0], itos[1], ... are {''.join(got)!r}, expected the sorted characters "
                f"{''.join(CHARS)!r}",
                mistake or "the characters in the order a set gives them, which is not sorted",
            )
        for i, ch in enumerate(CHARS):
            if ds.stoi[ch] != i:
                fail(
                    where + " → stoi",
                    f"stoi[{ch!r}] is {ds.stoi[ch]!r}, expected {i}: stoi inverts itos",
                )
        if len(ds.stoi) != len(CHARS) or len(ds.itos) != len(CHARS):
            fail(where, f"stoi and itos must hold {len(CHARS)} entries, one per character")

    def test_encode_decode(self):
        where = _char_where(TEXT, 4)
        ds = datasets.CharDataset(TEXT, 4)
        s = "hello torch"
        got = ds.encode(s)
        if not isinstance(got, list) or not all(type(i) is int for i in got):
            fail(
                f"{where} → encode({s!r})",
                f"expected a list of Python ints, got {describe(got)}",
                "encode gave the ids in another form (a tensor, say) than a list of ints",
            )
        want = [CHARS.index(ch) for ch in s]
        if got != want:
            fail(f"{where} → encode({s!r})", f"got {got}, expected {want}")
        back = ds.decode(got)
        if back != s:
            fail(f"{where} → decode(encode({s!r}))", f"got {back!r}, expected {s!r}")
        if ds.decode([]) != "" or ds.encode("") != []:
            fail(where, "encode('') must be [] and decode([]) must be ''")

    def test_len_and_every_item(self):
        for block_size in (1, 4, 8):
            where = _char_where(TEXT, block_size)
            _check_items(datasets.CharDataset(TEXT, block_size), TEXT, block_size, where)

    def test_item_shapes(self):
        where = _char_where(TEXT, 5)
        ds = datasets.CharDataset(TEXT, 5)
        x, y = ds[0]
        check_tensor(x, where + "[0] → x", shape=(5,), dtype=torch.int64)
        check_tensor(y, where + "[0] → y", shape=(5,), dtype=torch.int64)

    def test_shortest_text_gives_one_window(self):
        text, block_size = "abcab", 4  # exactly block_size + 1 characters
        where = _char_where(text, block_size)
        try:
            ds = datasets.CharDataset(text, block_size)
        except ValueError as exc:
            fail(
                where,
                f"raised ValueError ({exc}); {len(text)} = block_size + 1 characters give "
                "exactly one window",
                "the length check is off by one: block_size + 1 characters are enough",
            )
        _check_items(ds, text, block_size, where)

    @pytest.mark.parametrize(("text", "block_size"), [("abcd", 4), ("ab", 4), ("", 1)])
    def test_too_short_raises_value_error(self, text, block_size):
        _expect_value_error(text, block_size)
