"""Models as nn.Modules: a multi-layer perceptron, and counting what it trains."""

from collections.abc import Sequence

from torch import Tensor, nn


class MLP(nn.Module):
    """A multi-layer perceptron: flatten, then Linear + ReLU per hidden size, then Linear.

    MLP(in_features, hidden, out_features) maps x (N, …) with prod(…) == in_features to
    logits (N, out_features), in x's dtype. `hidden` is a sequence of ints (a list or a
    tuple, possibly empty): MLP(784, [128, 64], 10) is

        flatten (N, 784) → Linear(784, 128) → ReLU → Linear(128, 64) → ReLU → Linear(64, 10)

    and MLP(784, [], 10) is a single Linear(784, 10) after the flatten. Use `nn.Linear`
    for every layer (its default initialisation) and register each one as a sub-module,
    so that `model.parameters()` yields all the weights and biases. The last Linear has
    no activation: the logits can be any real number. The batch dim N is kept even when
    N == 1, and x may be non-contiguous (a permuted tensor, say); x is left unchanged.
    """

    def __init__(self, in_features: int, hidden: Sequence[int], out_features: int):
        raise NotImplementedError("sprint3.modules.MLP")

    def forward(self, x: Tensor) -> Tensor:
        """x (N, …) → logits (N, out_features)."""
        raise NotImplementedError("sprint3.modules.MLP")


def count_trainable(model: nn.Module) -> int:
    """The number of scalars in the parameters of `model` that require grad, as an int.

    Frozen parameters (requires_grad=False) and buffers (BatchNorm's running statistics,
    say) do not count; a parameter shared by several sub-modules (tied weights) counts
    once. A model without parameters has 0.
    """
    raise NotImplementedError("sprint3.modules.count_trainable")
