"""Datasets: what a `Dataset` owes its `DataLoader` (a length and items), made reproducible."""

from collections.abc import Callable

import torch
from torch import Tensor
from torch.utils.data import Dataset


class LinearDataset(Dataset):
    """n pairs (x, y) on a noisy line: y = weight·x + bias + N(0, noise_std²).

    Every number is drawn once, in `__init__`, from a `torch.Generator` seeded with
    `seed`: x uniform in [−1, 1), the noise normal with mean 0 and standard deviation
    `noise_std` (noise_std=0.0 gives points exactly on the line). The same seed gives
    the same data; the global RNGs (torch's, Python's `random`, numpy's) are not
    touched. Reading an item draws nothing: `ds[i]` is the same pair every time.

    `len(ds)` is n. `ds[i]` is (x, y), two float32 tensors of shape (1,). When
    `transform` is given it is called on x at every access, `ds[i]` returning
    (transform(x), y); y is never transformed, and nothing is transformed in `__init__`.
    """

    def __init__(
        self,
        n: int,
        weight: float,
        bias: float,
        noise_std: float = 0.0,
        seed: int = 0,
        transform: Callable[[Tensor], object] | None = None,
    ):
        raise NotImplementedError("sprint2.datasets.LinearDataset")

    def __len__(self) -> int:
        """The number of pairs, n."""
        raise NotImplementedError("sprint2.datasets.LinearDataset")

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        """(x, y) of pair i, float32 (1,) each; x passed through `transform` when given."""
        raise NotImplementedError("sprint2.datasets.LinearDataset")


class CharDataset(Dataset):
    """Next-character prediction windows over a text, as a language model trains on them.

    The vocabulary is the sorted set of the text's characters: `itos` (dict int → str)
    maps id k to the k-th of them, `stoi` (dict str → int) is its inverse, and
    `vocab_size` (int) is how many there are. `encode(s)` gives the ids of the
    characters of s as a list of Python ints; `decode(ids)` gives back the string.

    The dataset holds every window of block_size + 1 consecutive characters:
    `len(ds)` == len(text) − block_size, and `ds[i]` is (x, y), two int64 tensors of
    shape (block_size,) with x = ids[i : i + block_size] and
    y = ids[i + 1 : i + block_size + 1] (y is x shifted one character on), where
    ids = encode(text). A text of exactly block_size + 1 characters gives one window;
    a shorter one raises `ValueError` in `__init__`.
    """

    def __init__(self, text: str, block_size: int):
        raise NotImplementedError("sprint2.datasets.CharDataset")

    def encode(self, s: str) -> list[int]:
        """The ids of the characters of s, a list of Python ints (one per character)."""
        raise NotImplementedError("sprint2.datasets.CharDataset")

    def decode(self, ids: list[int]) -> str:
        """The string whose characters have these ids; decode(encode(s)) == s."""
        raise NotImplementedError("sprint2.datasets.CharDataset")

    def __len__(self) -> int:
        """len(text) − block_size: the number of windows."""
        raise NotImplementedError("sprint2.datasets.CharDataset")

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        """(x, y), int64 (block_size,) each: ids[i : i + block_size] and the next ones."""
        raise NotImplementedError("sprint2.datasets.CharDataset")
