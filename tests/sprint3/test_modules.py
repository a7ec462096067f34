"""Grades sprint3.modules: the MLP is checked through the Linear layers it calls (forward
hooks record them in call order, whatever the attributes are named) against a float64
recomputation; count_trainable against hand-counted models."""

import functools

import pytest
import torch
from torch import Tensor, nn

from grader import kata, target_module
from grader.checks import (
    Shown,
    Snapshot,
    check_close,
    check_tensor,
    describe,
    fail,
    likely_mistake,
)
from tests import kata_helpers
from tests.kata_helpers import F32_TOL, check_count, kata_call

modules = target_module("sprint3.modules")


# drawn in the asked dtype itself: the expected values and messages were made from these
seeded = functools.partial(kata_helpers.seeded, drawn_in=None)


def make_mlp(in_features, hidden, out_features, seed=0):
    """The kata's MLP, built after seeding the global RNG (nn.Linear draws its init there)."""
    torch.manual_seed(seed)  # nn.Linear's default init draws from the global RNG
    return modules.MLP(in_features, hidden, out_features)


def mlp_where(in_features, hidden, out_features, x=None) -> str:
    where = kata_call(in_features, hidden, out_features)
    return where if x is None else f"{where}(x {describe(x)})"


def run_recorded(model: nn.Module, x: Tensor):
    """model(x), and the (layer, input, output) of every nn.Linear call, in call order."""
    calls = []
    hooks = [
        m.register_forward_hook(lambda mod, args, out: calls.append((mod, args[0], out)))
        for m in model.modules()
        if isinstance(m, nn.Linear)
    ]
    try:
        out = model(x)
    finally:
        for h in hooks:
            h.remove()
    return out, calls


def oracle(x: Tensor, layers: list[nn.Linear]) -> Tensor:
    """flatten, then Linear + ReLU for all but the last layer, in float64."""
    h = x.double().reshape(x.shape[0], -1)
    for i, layer in enumerate(layers):
        h = h @ layer.weight.detach().double().T + layer.bias.detach().double()
        if i < len(layers) - 1:
            h = torch.relu(h)
    return h


def slips(x: Tensor, layers: list[nn.Linear]) -> list[tuple[str, Tensor]]:
    h_relu_all = oracle(x, layers)
    h = x.double().reshape(x.shape[0], -1)
    for layer in layers:
        h = h @ layer.weight.detach().double().T + layer.bias.detach().double()
    return [
        ("a ReLU after the last Linear: the logits cannot go negative", torch.relu(h_relu_all)),
        ("no ReLU between the Linear layers: they collapse into one linear map", h),
    ]


def check_chain(calls, in_features, hidden, out_features, where: str) -> list[nn.Linear]:
    """The Linear layers were called once each, mapping in → hidden… → out in order."""
    want = list(zip([in_features, *hidden], [*hidden, out_features]))
    got = [(m.in_features, m.out_features) for m, _, _ in calls]
    if got != want:
        mistake = ""
        if not got:
            mistake = (
                "no nn.Linear registered in the model was called: layers kept in a plain "
                "Python list (or created inside forward) are not sub-modules; use "
                "nn.Sequential or nn.ModuleList"
            )
        elif len(got) == len(want) - 1:
            mistake = "one Linear per hidden size plus a final one to out_features"
        fail(
            where,
            f"the Linear layers called, in order, map {got} (in, out); expected {want}",
            mistake
            or "the sizes do not chain: each Linear takes the previous one's out_features as "
            "its in_features, from in_features through every hidden size to out_features "
            "(with no hidden sizes, a single Linear)",
        )
    layers = [m for m, _, _ in calls]
    if len({id(m) for m in layers}) != len(layers):
        fail(where, "the same Linear layer was called twice; each size needs its own layer")
    return layers


SHAPES = [  # in_features, hidden, out_features, input shape
    (12, [8, 5], 3, (4, 3, 2, 2)),
    (7, [], 4, (2, 7)),
    (6, (5,), 1, (1, 6)),
    (16, [4, 4, 4], 2, (3, 1, 4, 4)),
]


@kata("MLP")
class TestMLP:
    @pytest.mark.parametrize(("n_in", "hidden", "n_out", "shape"), SHAPES)
    def test_output_shape(self, n_in, hidden, n_out, shape):
        model = make_mlp(n_in, hidden, n_out)
        x = seeded(*shape, seed=1)
        where = mlp_where(n_in, hidden, n_out, x)
        out = model(x)
        want = (shape[0], n_out)
        if isinstance(out, Tensor) and out.shape != want and out.numel() == shape[0] * n_out:
            fail(
                where,
                f"expected shape {want}, got {tuple(out.shape)}",
                "a dim of size 1 was dropped: a squeeze on the output, or a flatten that "
                "took the batch dim in too",
            )
        check_tensor(out, where, shape=(shape[0], n_out), dtype=torch.float32)

    @pytest.mark.parametrize(("n_in", "hidden", "n_out", "shape"), SHAPES)
    def test_layers_and_values(self, n_in, hidden, n_out, shape):
        model = make_mlp(n_in, hidden, n_out, seed=2)
        x = seeded(*shape, seed=3)
        where = mlp_where(n_in, hidden, n_out, x)
        out, calls = run_recorded(model, x)
        layers = check_chain(calls, n_in, hidden, n_out, where)
        check_close(
            out,
            oracle(x, layers).float(),
            where,
            **F32_TOL,
            mistake=likely_mistake(out, slips(x, layers)),
        )

    def test_parameters_are_registered(self):
        n_in, hidden, n_out = 10, [6, 4], 3
        model = make_mlp(n_in, hidden, n_out)
        where = mlp_where(n_in, hidden, n_out)
        if not isinstance(model, nn.Module):
            fail(where, f"made a {type(model).__name__}, expected an nn.Module")
        params = list(model.parameters())
        want = 10 * 6 + 6 + 6 * 4 + 4 + 4 * 3 + 3
        got = sum(p.numel() for p in params)
        if got != want or len(params) != 6:
            fail(
                where,
                f"model.parameters() yields {len(params)} tensors with {got} scalars, expected "
                f"6 tensors (3 weights, 3 biases) with {want}",
                "layers kept in a plain Python list are invisible to model.parameters() (and "
                "so to the optimizer): use nn.Sequential or nn.ModuleList",
            )

    def test_gradients_reach_every_parameter(self):
        model = make_mlp(12, [8, 5], 3)
        x = seeded(4, 3, 4, seed=4)
        where = mlp_where(12, [8, 5], 3, x) + ".sum().backward()"
        model(x).sum().backward()
        for name, p in model.named_parameters():
            if p.grad is None:
                fail(where, f"{name}.grad is None: this parameter is not in the graph")

    def test_non_contiguous_input(self):
        images = seeded(3, 4, 4, 2, seed=5).permute(0, 3, 1, 2)  # (N, C, H, W), not contiguous
        model = make_mlp(32, [6], 2)
        where = mlp_where(32, [6], 2, images) + " (x from a permute: not contiguous)"
        try:
            out, calls = run_recorded(model, images)
        except NotImplementedError:
            raise
        except RuntimeError as exc:
            if "view" not in str(exc):
                raise
            fail(
                where,
                f"raised RuntimeError: {str(exc).splitlines()[0]}",
                "flattening with view, which needs memory laid out in order and never "
                "copies; a permuted input's memory is not in order",
            )
        layers = check_chain(calls, 32, [6], 2, where)
        check_close(out, oracle(images, layers).float(), where, **F32_TOL)

    def test_float64(self):
        model = make_mlp(6, [5], 2).double()
        x = seeded(3, 6, seed=6, dtype=torch.float64)
        where = mlp_where(6, [5], 2) + f".double()(x {describe(x)})"
        out, calls = run_recorded(model, x)
        layers = check_chain(calls, 6, [5], 2, where)
        check_close(out, oracle(x, layers), where)

    def test_input_unchanged(self):
        model = make_mlp(12, [8], 3)
        x = seeded(2, 3, 4, seed=7)
        snap = Snapshot(x=x)
        model(x)
        snap.check(mlp_where(12, [8], 3, x))


# --- count_trainable ----------------------------------------------------------------------


NESTED = (
    "each module of model.modules() had its parameters() counted, and those already hold "
    "every sub-module's parameters: a nested layer's are counted again at every level above it"
)


def _count_per_module(model: nn.Module) -> int:
    """What summing parameters() over model.modules() gives: nested ones counted repeatedly."""
    return sum(p.numel() for m in model.modules() for p in m.parameters() if p.requires_grad)


def _count(model: nn.Module, text: str, want: int, slips: dict) -> None:
    where = kata_call(Shown(text))
    got = modules.count_trainable(model)
    mistake = ""
    if type(got) is int and got != want:
        mistake = slips.get(got) or (NESTED if got == _count_per_module(model) else "")
    check_count(got, want, where, mistake)


def _mlp() -> nn.Sequential:
    return nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3))  # 25 + 18


@kata("count_trainable")
class TestCountTrainable:
    def test_mlp(self):
        _count(
            _mlp(),
            "Sequential(Linear(4, 5), ReLU(), Linear(5, 3))",
            43,
            {4: "tensors, not scalars"},
        )

    def test_frozen_parameters_do_not_count(self):
        model = _mlp()
        model[0].requires_grad_(False)
        _count(
            model,
            "Sequential(Linear(4, 5) frozen, ReLU(), Linear(5, 3))",
            18,
            {43: "counted the frozen Linear too: only parameters with requires_grad count"},
        )

    def test_all_frozen(self):
        model = _mlp().requires_grad_(False)
        _count(model, "Sequential(...) with every parameter frozen", 0, {43: "frozen ones count 0"})

    def test_shared_weight_counts_once(self):
        a, b = nn.Linear(4, 4), nn.Linear(4, 4)
        b.weight = a.weight  # tied: one tensor in two layers
        model = nn.Sequential(a, nn.Tanh(), b)
        _count(
            model,
            "Sequential(Linear(4, 4), Tanh(), Linear(4, 4)) with the two weights tied",
            16 + 4 + 4,
            {40: "the tied weight was counted twice: model.parameters() yields it once"},
        )

    def test_buffers_do_not_count(self):
        model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
        _count(
            model,
            "Sequential(Linear(3, 4), BatchNorm1d(4))",
            12 + 4 + 4 + 4,
            {
                33: "counted BatchNorm's running_mean, running_var and num_batches_tracked: "
                "those are buffers (state_dict has them), not parameters",
                32: "counted BatchNorm's running statistics: buffers, not parameters",
            },
        )

    def test_no_parameters(self):
        _count(nn.Sequential(nn.ReLU(), nn.Flatten()), "Sequential(ReLU(), Flatten())", 0, {})

    def test_the_kata_mlp_shape(self):
        # independent of the MLP kata: the same layers, built here
        model = nn.Sequential(
            nn.Flatten(),
            nn.Linear(64, 16),
            nn.ReLU(),
            nn.Linear(16, 8),
            nn.ReLU(),
            nn.Linear(8, 10),
        )
        _count(
            model, "MLP(64, [16, 8], 10) built from nn layers", 64 * 16 + 16 + 16 * 8 + 8 + 90, {}
        )
