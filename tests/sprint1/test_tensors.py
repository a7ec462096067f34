"""Sprint 1, tensors.py: creation, views, broadcasting, indexing and devices."""

import functools

import pytest
import torch

from grader import kata, target_module
from grader.checks import (
    Snapshot,
    check_close,
    check_tensor,
    count_torch_calls,
    expect_raises,
    fail,
    likely_mistake,
    needs_cuda,
)
from tests import kata_helpers
from tests.kata_helpers import kata_call

tensors = target_module("sprint1.tensors")

# drawn in the asked dtype itself: the expected values and messages were made from these
seeded = functools.partial(kata_helpers.seeded, drawn_in=None)


@kata("arange_grid")
class TestArangeGrid:
    @pytest.mark.parametrize(("rows", "cols"), [(2, 3), (4, 1), (1, 5), (3, 7)])
    def test_values_in_row_major_order(self, rows, cols):
        where = kata_call(rows, cols)
        want = torch.tensor([[r * cols + c for c in range(cols)] for r in range(rows)])
        by_columns = torch.tensor([[c * rows + r for c in range(cols)] for r in range(rows)])
        got = tensors.arange_grid(rows, cols)
        slips = [
            ("the numbers run down each column first; row-major runs along each row", by_columns),
            ("the count starts at 1 instead of 0", want + 1),
        ]
        check_close(got, want, where, mistake=likely_mistake(got, slips))

    def test_is_int64(self):
        where = kata_call(2, 3)
        check_tensor(tensors.arange_grid(2, 3), where, dtype=torch.int64)

    @pytest.mark.parametrize(("rows", "cols"), [(0, 3), (3, 0)])
    def test_empty(self, rows, cols):
        where = kata_call(rows, cols)
        check_tensor(tensors.arange_grid(rows, cols), where, shape=(rows, cols), dtype=torch.int64)


@kata("channels_last")
class TestChannelsLast:
    @pytest.mark.parametrize("shape", [(2, 3, 4, 5), (1, 4, 4, 4), (3, 1, 2, 6)])
    def test_pixels_keep_their_values(self, shape):
        images = seeded(*shape)
        where = kata_call(images)
        want = torch.einsum("nchw->nhwc", images)
        got = tensors.channels_last(images)
        slips = [
            (
                "a reshape or view to (N, H, W, C) keeps the memory order, and so mixes "
                "channels and pixels; moving a dim is a permute",
                images.reshape(want.shape),
            ),
            (
                "H and W swapped: the channels went last, but H and W traded places",
                want.transpose(1, 2),
            ),
        ]
        check_close(got, want, where, mistake=likely_mistake(got, slips))

    def test_input_unchanged(self):
        images = seeded(2, 3, 4, 5)
        snap = Snapshot(images=images)
        tensors.channels_last(images)
        snap.check(kata_call(images))


@kata("flatten_batch")
class TestFlattenBatch:
    @pytest.mark.parametrize("shape", [(2, 3, 4), (5, 7), (2, 3, 4, 5), (1, 1, 6)])
    def test_contiguous_input(self, shape):
        x = seeded(*shape)
        where = kata_call(x)
        want = torch.stack([row.flatten() for row in x])
        check_close(tensors.flatten_batch(x), want, where)

    def test_non_contiguous_input(self):
        images = seeded(2, 3, 4, 5)
        x = images.permute(0, 2, 3, 1)  # what channels_last gives: not contiguous
        where = kata_call(x) + " (non-contiguous, from a permute)"
        want = torch.stack([row.contiguous().view(-1) for row in x])
        check_close(
            tensors.flatten_batch(x),
            want,
            where,
            mistake="the row-major order of a permuted tensor is its logical order, "
            "not its memory order",
        )

    def test_input_unchanged(self):
        x = seeded(2, 3, 4)
        snap = Snapshot(x=x)
        tensors.flatten_batch(x)
        snap.check(kata_call(x))


def split_oracle(x, n_heads):
    hs = x.shape[-1] // n_heads
    return torch.stack([x[:, :, h * hs : (h + 1) * hs] for h in range(n_heads)], dim=1)


@kata("split_heads")
class TestSplitHeads:
    @pytest.mark.parametrize(
        ("shape", "n_heads"), [((2, 5, 12), 3), ((1, 4, 8), 2), ((3, 6, 6), 6), ((2, 3, 4), 1)]
    )
    def test_head_h_holds_its_channels(self, shape, n_heads):
        x = seeded(*shape)
        where = kata_call(x, n_heads=n_heads)
        check_close(
            tensors.split_heads(x, n_heads),
            split_oracle(x, n_heads),
            where,
            mistake="viewing straight to (B, nh, T, hs) without a transpose, or to "
            "(B, T, hs, nh), gives each head the wrong channels",
        )

    def test_not_divisible(self):
        x = seeded(2, 5, 10)
        where = kata_call(x, n_heads=3)
        expect_raises(
            ValueError,
            lambda: tensors.split_heads(x, 3),
            where,
            "C = 10 channels do not split evenly into 3 heads",
            "no check that C divides evenly by n_heads before splitting, so view's own "
            "error (or none at all) comes instead",
        )

    def test_input_unchanged(self):
        x = seeded(2, 5, 12)
        snap = Snapshot(x=x)
        tensors.split_heads(x, 3)
        snap.check(kata_call(x, n_heads=3))


@kata("merge_heads")
class TestMergeHeads:
    @pytest.mark.parametrize("shape", [(2, 3, 5, 4), (1, 2, 4, 8), (2, 1, 3, 5), (1, 4, 1, 2)])
    def test_values(self, shape):
        x = seeded(*shape)
        where = kata_call(x)
        want = torch.cat([x[:, h] for h in range(x.shape[1])], dim=-1)  # (B, T, nh·hs)
        B, nh, T, hs = x.shape
        got = tensors.merge_heads(x)
        slips = [
            (
                "reshaping (B, nh, T, hs) straight to (B, T, C) without moving nh next to hs "
                "first interleaves time steps and heads",
                x.reshape(B, T, nh * hs),
            ),
            (
                "hs was put before nh, so the heads' channels are interleaved instead of "
                "following one another",
                x.permute(0, 2, 3, 1).reshape(B, T, nh * hs),
            ),
        ]
        check_close(got, want, where, mistake=likely_mistake(got, slips))

    def test_result_is_contiguous(self):
        x = seeded(2, 3, 5, 4)
        out = tensors.merge_heads(x)
        where = kata_call(x)
        check_tensor(out, where, shape=(2, 5, 12))
        if not out.is_contiguous():
            fail(
                where,
                "the result is not contiguous",
                "the result is a view whose memory is out of order, as a transpose or permute "
                "leaves it: it was never copied into order",
            )

    def test_input_unchanged(self):
        x = seeded(2, 3, 5, 4)
        snap = Snapshot(x=x)
        tensors.merge_heads(x)
        snap.check(kata_call(x))


def sq_dists_oracle(a, b):
    a64, b64 = a.double(), b.double()
    return torch.tensor(
        [[float(((ai - bj) ** 2).sum()) for bj in b64] for ai in a64], dtype=torch.float64
    )


# |a|² + |b|² − 2ab is a correct route that loses ~1e-4 relative to cancellation (measured),
# so the float32 tolerance admits it; a missing square or sqrt is off by far more.
DIST_TOL = {"rtol": 1e-4, "atol": 1e-4}


@kata("pairwise_sq_dists")
class TestPairwiseSqDists:
    @pytest.mark.parametrize(("n", "m", "d"), [(5, 4, 3), (1, 6, 2), (7, 1, 5), (3, 3, 1)])
    def test_values(self, n, m, d):
        a, b = seeded(n, d, seed=1), seeded(m, d, seed=2)
        where = kata_call(a, b)
        want = sq_dists_oracle(a, b)
        cross = a.double() @ b.double().T
        slips = [
            ("the square root was taken: the kata asks for squared distances", want.sqrt()),
            (
                "|a|² + |b|² − a·b: the cross term of the expanded square has a factor 2",
                want + cross,
            ),
        ]
        got = tensors.pairwise_sq_dists(a, b)
        check_close(
            got, want.float(), where, mistake=likely_mistake(got, slips, 1e-4, 1e-4), **DIST_TOL
        )

    def test_same_points_give_zero(self):
        a = seeded(6, 4) * 3
        out = tensors.pairwise_sq_dists(a, a)
        where = kata_call(a, a) + " (a with itself)"
        check_tensor(out, where, shape=(6, 6))
        check_close(out.diagonal(), torch.zeros(6), where + ", the diagonal", **DIST_TOL)

    def test_keeps_float64(self):
        a, b = seeded(4, 3, dtype=torch.float64), seeded(5, 3, dtype=torch.float64, seed=3)
        where = kata_call(a, b)
        check_close(
            tensors.pairwise_sq_dists(a, b), sq_dists_oracle(a, b), where, rtol=1e-9, atol=1e-9
        )

    def test_no_python_loops(self):
        a, b = seeded(64, 3, seed=1), seeded(48, 3, seed=2)
        with count_torch_calls() as calls:
            tensors.pairwise_sq_dists(a, b)
        if calls.count > 40:
            fail(
                kata_call(a, b),
                f"made {calls.count} torch calls; a broadcast version makes a handful",
                "a Python loop over rows or pairs; broadcasting the two sets of points against "
                "each other gives every pair at once",
            )

    def test_inputs_unchanged(self):
        a, b = seeded(5, 3, seed=1), seeded(4, 3, seed=2)
        snap = Snapshot(a=a, b=b)
        tensors.pairwise_sq_dists(a, b)
        snap.check(kata_call(a, b))


def masked_mean_oracle(x, mask, dim):
    xs, ms = x.movedim(dim, -1).double(), mask.movedim(dim, -1)
    flat_x, flat_m = xs.reshape(-1, xs.shape[-1]), ms.reshape(-1, ms.shape[-1])
    means = []
    for row, keep in zip(flat_x, flat_m):
        chosen = [float(v) for v, k in zip(row, keep) if k]
        means.append(sum(chosen) / len(chosen) if chosen else 0.0)
    return torch.tensor(means, dtype=torch.float64).view(xs.shape[:-1]).to(x.dtype)


@kata("masked_mean")
class TestMaskedMean:
    @pytest.mark.parametrize(
        ("shape", "dim"), [((4, 6), 1), ((4, 6), 0), ((4, 6), -1), ((2, 3, 5), 1), ((2, 3, 5), -3)]
    )
    def test_values(self, shape, dim):
        x = seeded(*shape)
        mask = seeded(*shape, seed=7) > 0
        mask.view(-1)[0] = True
        where = kata_call(x, mask, dim=dim)
        check_close(
            tensors.masked_mean(x, mask, dim),
            masked_mean_oracle(x, mask, dim),
            where,
            mistake="divide by the number of True entries in each slice, not by the "
            "slice's full length",
        )

    def test_empty_slice_gives_zero(self):
        x = seeded(3, 4)
        mask = torch.tensor([[True, False, True, False], [False] * 4, [True] * 4])
        where = kata_call(x, mask, dim=1) + " (row 1 all False)"
        out = tensors.masked_mean(x, mask, 1)
        check_close(
            out,
            masked_mean_oracle(x, mask, 1),
            where,
            mistake="0/0 is NaN: a slice with no True entry must give 0",
        )

    def test_keeps_float64(self):
        x = seeded(3, 4, dtype=torch.float64)
        mask = seeded(3, 4, seed=5) > 0
        where = kata_call(x, mask, dim=1)
        check_close(tensors.masked_mean(x, mask, 1), masked_mean_oracle(x, mask, 1), where)

    def test_inputs_unchanged(self):
        x = seeded(3, 4)
        mask = seeded(3, 4, seed=5) > 0
        snap = Snapshot(x=x, mask=mask)
        tensors.masked_mean(x, mask, 1)
        snap.check(kata_call(x, mask, dim=1))


@kata("gather_rows")
class TestGatherRows:
    @pytest.mark.parametrize(("n", "k"), [(5, 7), (1, 3), (6, 1), (4, 4)])
    def test_values(self, n, k):
        x = seeded(n, k)
        index = torch.randint(0, k, (n,), generator=torch.Generator().manual_seed(n))
        where = kata_call(x, index)
        want = torch.stack([x[i, index[i]] for i in range(n)])
        got = tensors.gather_rows(x, index)
        if isinstance(got, torch.Tensor) and got.shape != want.shape:
            shape_slips = (
                {}
                if n == 1
                else {
                    (n, n): "indexing the columns with index picks every index for every row, "
                    "giving (N, N); row i pairs with index[i] only",
                    (n, 1): "gather keeps the dim it gathers along, giving (N, 1)",
                }
            )
            fail(
                where,
                f"expected shape {tuple(want.shape)}, got {tuple(got.shape)}",
                shape_slips.get(tuple(got.shape), ""),
            )
        slips = []
        if n <= k and bool((index < n).all()):
            along_dim_0 = torch.stack([x[index[i], i] for i in range(n)])
            slips.append(("gathered along dim 0: out[i] = x[index[i], i]", along_dim_0))
        check_close(got, want, where, mistake=likely_mistake(got, slips))

    def test_integer_values(self):
        x = torch.arange(12).view(3, 4)
        index = torch.tensor([3, 0, 2])
        where = kata_call(x, index)
        check_close(tensors.gather_rows(x, index), torch.tensor([3, 4, 10]), where)

    def test_inputs_unchanged(self):
        x = seeded(4, 5)
        index = torch.tensor([0, 4, 2, 1])
        snap = Snapshot(x=x, index=index)
        tensors.gather_rows(x, index)
        snap.check(kata_call(x, index))


META = torch.device("meta")  # a device every machine has: "moved" is visible without a GPU


def nested():
    return {
        "x": torch.ones(2, 3),
        "pair": (torch.zeros(4), [torch.arange(3), "label", 7]),
        "none": None,
        "list": [torch.full((2,), 5.0), {"inner": torch.eye(2)}],
    }


@kata("to_device")
class TestToDevice:
    @pytest.mark.parametrize("device", [META, "meta"])
    def test_every_tensor_moves_and_kinds_are_kept(self, device):
        obj = nested()
        out = tensors.to_device(obj, device)
        where = kata_call(obj, device) + " on a nested dict"
        _same_structure(out, obj, where, "out")

    def test_input_unchanged(self):
        obj = nested()
        inner_list, x = obj["list"], obj["x"]
        snap = Snapshot(x=x)
        out = tensors.to_device(obj, META)
        where = kata_call(obj, META)
        snap.check(where)
        for name, value in (("the dict", out), ("the list", out["list"])):
            if value is obj or value is inner_list:
                fail(
                    where,
                    f"{name} returned is the caller's own object",
                    "build new containers; filling in the caller's changes their data",
                )
        if obj["x"].device.type != "cpu" or inner_list[0].device.type != "cpu":
            fail(
                where,
                "the caller's containers now hold moved tensors",
                "assigning into the caller's dict or list; build new containers",
            )

    @needs_cuda
    def test_to_a_real_gpu_and_back(self):
        obj = nested()
        where = kata_call(obj, "cuda")
        out = tensors.to_device(obj, torch.device("cuda"))
        if out["x"].device.type != "cuda" or out["list"][1]["inner"].device.type != "cuda":
            fail(where, "a tensor stayed on the cpu")
        back = tensors.to_device(out, "cpu")
        check_close(back["list"][1]["inner"], torch.eye(2), where + ", then back to cpu")

    def test_plain_tensor_and_plain_values(self):
        x = torch.ones(3)
        where = kata_call(x, META)
        check_tensor(tensors.to_device(x, META), where, shape=(3,), device=META)
        for value in (3, "text", None, 2.5):
            got = tensors.to_device(value, META)
            if got is not value:
                fail(
                    kata_call(value, META),
                    f"returned {got!r}, expected the same object back",
                )


def _same_structure(out, ref, where, path):
    if isinstance(ref, torch.Tensor):
        if not isinstance(out, torch.Tensor) or out.device.type != "meta":
            fail(
                where,
                f"{path} is {type(out).__name__} on "
                f"{getattr(out, 'device', '-')}, expected a tensor on meta",
            )
        if out.shape != ref.shape or out.dtype != ref.dtype:
            fail(where, f"{path} changed shape or dtype")
        return
    if type(out) is not type(ref):
        fail(
            where,
            f"{path} is a {type(out).__name__}, expected a {type(ref).__name__}",
            "keep each container's kind: a tuple stays a tuple, a list a list",
        )
    if isinstance(ref, dict):
        if list(out) != list(ref):
            fail(where, f"{path} has keys {list(out)}, expected {list(ref)}")
        for key in ref:
            _same_structure(out[key], ref[key], where, f"{path}[{key!r}]")
    elif isinstance(ref, list | tuple):
        if len(out) != len(ref):
            fail(where, f"{path} has {len(out)} items, expected {len(ref)}")
        for i, (o, r) in enumerate(zip(out, ref)):
            _same_structure(o, r, where, f"{path}[{i}]")
    elif out is not ref:
        fail(where, f"{path} is {out!r}, expected the same object {ref!r}")


ACCELERATORS = {
    "cuda": (True, False),
    "mps": (False, True),
    "cpu": (False, False),
    "cuda and mps": (True, True),
}


def fake_hardware(monkeypatch, cuda, mps):
    """Make every usual way of asking see the hardware we say."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1 if cuda else 0)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    monkeypatch.setattr(torch.backends.mps, "is_built", lambda: mps)
    if hasattr(torch, "accelerator"):
        kind = "cuda" if cuda else "mps" if mps else None
        monkeypatch.setattr(torch.accelerator, "is_available", lambda: kind is not None)
        monkeypatch.setattr(
            torch.accelerator,
            "current_accelerator",
            lambda *a, **k: torch.device(kind) if kind else None,
        )


@kata("pick_device")
class TestPickDevice:
    @pytest.mark.parametrize("present", list(ACCELERATORS))
    def test_prefers_cuda_then_mps_then_cpu(self, monkeypatch, present):
        cuda, mps = ACCELERATORS[present]
        fake_hardware(monkeypatch, cuda, mps)
        want = "cuda" if cuda else "mps" if mps else "cpu"
        where = kata_call() + f" with {present} available"
        got = tensors.pick_device()
        if not isinstance(got, torch.device):
            fail(
                where,
                f"returned {type(got).__name__} {got!r}, expected a torch.device",
                "the device's name was returned as a string, not as a torch.device",
            )
        if got.type != want or got.index not in (None, 0):
            fail(where, f"returned {got}, expected {want}")
