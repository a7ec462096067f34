"""Transforms: from a PIL image to a normalised tensor, augmentation, and MNIST on disk."""

import os
from collections.abc import Callable

import torch
from torch import Tensor
from torch.utils.data import Dataset
from torchvision import datasets, transforms

MNIST_MEAN = 0.1307  # mean pixel of the MNIST training images, scaled to [0, 1]
MNIST_STD = 0.3081  # their standard deviation
MNIST_FILES = (  # what torchvision's MNIST reads from root/MNIST/raw/ (all four, for either split)
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def eval_transform() -> transforms.Compose:
    """A `torchvision.transforms.Compose` for evaluation: no randomness.

    It takes a 28×28 PIL image of mode "L" (pixels 0…255) to a float32 tensor of shape
    (1, 28, 28): pixels scaled to [0, 1] (p / 255), then normalised as
    (p / 255 − MNIST_MEAN) / MNIST_STD. The same image always gives the same tensor, and
    no RNG is used.
    """
    raise NotImplementedError("sprint2.transforms.eval_transform")


def train_transform(degrees: float = 10.0) -> transforms.Compose:
    """A `torchvision.transforms.Compose` for training: augmentation, then `eval_transform`.

    First a random rotation of the PIL image by an angle drawn uniformly from
    [−degrees, degrees] (about the image centre, corners filled with black, nearest
    neighbour), then the same steps as `eval_transform`: a float32 (1, 28, 28) tensor,
    normalised. The rotation is on the image, before the normalisation, so the filled
    corners come out as normalised black, −MNIST_MEAN / MNIST_STD. The angle is drawn
    from the global torch RNG (torch.manual_seed makes it repeatable); degrees=0 gives
    exactly `eval_transform`'s output.
    """
    raise NotImplementedError("sprint2.transforms.train_transform")


class AddGaussianNoise:
    """A transform that adds Gaussian noise to a tensor: x + N(mean, std²), elementwise.

    Calling it on a floating tensor x returns a new tensor of x's shape, dtype and device
    whose every entry is x's plus its own independent draw from a normal distribution
    with mean `mean` and standard deviation `std`; x itself is left unchanged. Each call
    draws new noise, from the global torch RNG (torch.manual_seed makes it repeatable, and
    each DataLoader worker gets its own stream). Place it after `ToTensor` in a Compose.

    repr: f"AddGaussianNoise(std={std}, mean={mean})", e.g.
    `AddGaussianNoise(std=0.1, mean=0.0)` for AddGaussianNoise(0.1).
    """

    def __init__(self, std: float, mean: float = 0.0):
        raise NotImplementedError("sprint2.transforms.AddGaussianNoise")

    def __call__(self, x: Tensor) -> Tensor:
        """x + noise, a new tensor shaped like x; x unchanged."""
        raise NotImplementedError("sprint2.transforms.AddGaussianNoise")

    def __repr__(self) -> str:
        """'AddGaussianNoise(std=0.1, mean=0.0)'."""
        raise NotImplementedError("sprint2.transforms.AddGaussianNoise")


def load_mnist(
    root: str | os.PathLike, train: bool = True, transform: Callable | None = None
) -> Dataset:
    """torchvision's `datasets.MNIST` over files already on disk; never downloads.

    The files are the four IDX files of `MNIST_FILES` in root/MNIST/raw/; torchvision
    needs all four even to load one split. train=True gives the training split (files
    train-*), train=False the test split (t10k-*). Items are (image, label): a 28×28
    PIL image of mode "L", or transform(image) when `transform` is given, and the label
    as a Python int. root may be a str or a pathlib.Path.

    Nothing is ever downloaded (download=False). When any of the four files is missing,
    raise `FileNotFoundError` at once (not torchvision's RuntimeError) with a message
    that names the folder it looked in (root/MNIST/raw) and the files missing there, and
    says how to get them: e.g. run `torchvision.datasets.MNIST(root, download=True)` once
    on a machine with a network connection, or copy the four files into that folder.
    """
    raise NotImplementedError("sprint2.transforms.load_mnist")
