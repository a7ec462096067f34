import numpy as np
import torch
from torch.utils.data import Dataset

from grader.variants import alternative, mistake

# --- LinearDataset ------------------------------------------------------------------------


class _Line(Dataset):
    """LinearDataset with knobs, for the mistakes below."""

    def __init__(self, n, weight, bias, noise_std, seed, transform, *, low=-1.0, noise_scale=None):
        g = torch.Generator().manual_seed(seed)
        self.x = torch.rand(n, 1, generator=g) * (1.0 - low) + low
        scale = noise_std if noise_scale is None else noise_scale
        self.y = weight * self.x + bias + torch.randn(n, 1, generator=g) * scale
        self.transform = transform

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        x = self.x[i]
        return (x if self.transform is None else self.transform(x)), self.y[i]


@mistake("LinearDataset")
class SeedsGlobalRng(Dataset):
    """seeds the global RNG (torch.manual_seed) and draws from it instead of from a seeded
    torch.Generator"""

    def __init__(self, n, weight, bias, noise_std=0.0, seed=0, transform=None):
        torch.manual_seed(seed)
        self.x = torch.rand(n, 1) * 2 - 1
        self.y = weight * self.x + bias + torch.randn(n, 1) * noise_std
        self.transform = transform

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        x = self.x[i]
        return (x if self.transform is None else self.transform(x)), self.y[i]


@mistake("LinearDataset")
class XFromZeroToOne(_Line):
    """x = torch.rand(...), uniform in [0, 1) instead of [−1, 1)"""

    def __init__(self, n, weight, bias, noise_std=0.0, seed=0, transform=None):
        super().__init__(n, weight, bias, noise_std, seed, transform, low=0.0)


@mistake("LinearDataset")
class NoiseStdSquared(_Line):
    """scales the noise by noise_std² (the variance) instead of noise_std"""

    def __init__(self, n, weight, bias, noise_std=0.0, seed=0, transform=None):
        super().__init__(n, weight, bias, noise_std, seed, transform, noise_scale=noise_std**2)


@mistake("LinearDataset")
class TransformAtInit(_Line):
    """applies transform to every x once in __init__ instead of at each access"""

    def __init__(self, n, weight, bias, noise_std=0.0, seed=0, transform=None):
        super().__init__(n, weight, bias, noise_std, seed, None)
        if transform is not None:
            self.x = torch.stack([transform(x) for x in self.x])


@mistake("LinearDataset")
class TransformsYToo(_Line):
    """applies transform to y as well as x"""

    def __getitem__(self, i):
        x, y = self.x[i], self.y[i]
        if self.transform is not None:
            return self.transform(x), self.transform(y)
        return x, y

    def __init__(self, n, weight, bias, noise_std=0.0, seed=0, transform=None):
        super().__init__(n, weight, bias, noise_std, seed, transform)


@mistake("LinearDataset")
class DrawsOnAccess(Dataset):
    """draws each pair when it is read, so ds[i] changes from one read to the next"""

    def __init__(self, n, weight, bias, noise_std=0.0, seed=0, transform=None):
        self.n, self.weight, self.bias, self.noise_std = n, weight, bias, noise_std
        self.g = torch.Generator().manual_seed(seed)
        self.transform = transform

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        x = torch.rand(1, generator=self.g) * 2 - 1
        y = self.weight * x + self.bias + torch.randn(1, generator=self.g) * self.noise_std
        return (x if self.transform is None else self.transform(x)), y


@mistake("LinearDataset")
class ScalarItems(_Line):
    """stores x and y as (n,) tensors, so items are 0-d scalars instead of shape (1,)"""

    def __init__(self, n, weight, bias, noise_std=0.0, seed=0, transform=None):
        super().__init__(n, weight, bias, noise_std, seed, transform)
        self.x, self.y = self.x.squeeze(1), self.y.squeeze(1)


@mistake("LinearDataset")
class NumpyFloat64(Dataset):
    """draws with numpy's default_rng and keeps its float64: items are float64, not float32"""

    def __init__(self, n, weight, bias, noise_std=0.0, seed=0, transform=None):
        rng = np.random.default_rng(seed)
        x = rng.uniform(-1.0, 1.0, size=(n, 1))
        self.x = torch.from_numpy(x)
        self.y = torch.from_numpy(weight * x + bias + rng.normal(0.0, noise_std, size=(n, 1)))
        self.transform = transform

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        x = self.x[i]
        return (x if self.transform is None else self.transform(x)), self.y[i]


@mistake("LinearDataset")
class ItemsAsLists(_Line):
    """items are lists [x, y], where the docstring promises the tuple (x, y)"""

    def __init__(self, n, weight, bias, noise_std=0.0, seed=0, transform=None):
        super().__init__(n, weight, bias, noise_std, seed, transform)

    def __getitem__(self, i):
        return list(super().__getitem__(i))


@alternative("LinearDataset")
class WithNumpyGenerator(Dataset):
    def __init__(self, n, weight, bias, noise_std=0.0, seed=0, transform=None):
        rng = np.random.default_rng(seed)
        x = rng.uniform(-1.0, 1.0, size=(n, 1))
        y = weight * x + bias + rng.normal(0.0, noise_std, size=(n, 1))
        self.x = torch.from_numpy(x.astype(np.float32))
        self.y = torch.from_numpy(y.astype(np.float32))
        self.transform = transform

    def __len__(self):
        return self.x.shape[0]

    def __getitem__(self, i):
        x = self.x[i]
        if self.transform:
            x = self.transform(x)
        return x, self.y[i]


@alternative("LinearDataset")
class ListOfPairsWithUniformAndNormal(Dataset):
    def __init__(self, n, weight, bias, noise_std=0.0, seed=0, transform=None):
        g = torch.Generator()
        g.manual_seed(seed)
        xs = torch.empty(n).uniform_(-1.0, 1.0, generator=g)
        noise = torch.normal(0.0, noise_std, size=(n,), generator=g)
        self.pairs = [
            (xs[i : i + 1].clone(), (weight * xs[i : i + 1] + bias + noise[i : i + 1]))
            for i in range(n)
        ]
        self.transform = transform

    def __len__(self):
        return len(self.pairs)

    def __getitem__(self, i):
        x, y = self.pairs[i]
        return (self.transform(x) if self.transform is not None else x), y


# --- CharDataset ------------------------------------------------------------------------


class _Chars(Dataset):
    """CharDataset with knobs, for the mistakes below."""

    def __init__(
        self, text, block_size, *, order=sorted, too_short=None, extra=0, shift=1, dtype=None
    ):
        short = too_short if too_short is not None else len(text) < block_size + 1
        if short:
            raise ValueError("text too short")
        chars = order(set(text)) if order is sorted else order(text)
        self.stoi = {ch: i for i, ch in enumerate(chars)}
        self.itos = dict(enumerate(chars))
        self.vocab_size = len(chars)
        self.block_size, self.extra, self.shift = block_size, extra, shift
        self.data = torch.tensor([self.stoi[c] for c in text], dtype=dtype or torch.long)

    def encode(self, s):
        return [self.stoi[c] for c in s]

    def decode(self, ids):
        return "".join(self.itos[i] for i in ids)

    def __len__(self):
        return len(self.data) - self.block_size + self.extra

    def __getitem__(self, i):
        bs = self.block_size
        return self.data[i : i + bs], self.data[i + self.shift : i + self.shift + bs]


@mistake("CharDataset")
class FirstAppearanceOrder(_Chars):
    """ids in the order characters first appear in the text, not sorted"""

    def __init__(self, text, block_size):
        super().__init__(text, block_size, order=lambda t: list(dict.fromkeys(t)))


@mistake("CharDataset")
class OneWindowTooMany(_Chars):
    """len is len(text) − block_size + 1: the last window has a short y"""

    def __init__(self, text, block_size):
        super().__init__(text, block_size, extra=1)


@mistake("CharDataset")
class YNotShifted(_Chars):
    """y = ids[i : i + block_size], the same as x, instead of shifted by one"""

    def __init__(self, text, block_size):
        super().__init__(text, block_size, shift=0)


@mistake("CharDataset")
class RaisesAtExactLength(_Chars):
    """raises ValueError when len(text) == block_size + 1, which still gives one window"""

    def __init__(self, text, block_size):
        super().__init__(text, block_size, too_short=len(text) <= block_size + 1)


@mistake("CharDataset")
class NeverRaises(_Chars):
    """no length check: a text that is too short gives a dataset with a negative len"""

    def __init__(self, text, block_size):
        super().__init__(text, block_size, too_short=False)


@mistake("CharDataset")
class FloatIds(_Chars):
    """torch.Tensor(ids) makes float32 ids; embeddings and cross_entropy need int64"""

    def __init__(self, text, block_size):
        super().__init__(text, block_size, dtype=torch.float32)


@mistake("CharDataset")
class VocabSizeAsTensor(_Chars):
    """vocab_size kept as a 0-d tensor (the max id plus one) instead of a Python int"""

    def __init__(self, text, block_size):
        super().__init__(text, block_size)
        self.vocab_size = self.data.max() + 1


@alternative("CharDataset")
class WindowsByUnfold(Dataset):
    def __init__(self, text, block_size):
        if len(text) <= block_size:
            raise ValueError(f"need more than {block_size} characters, got {len(text)}")
        self.itos = sorted(set(text))  # a list indexes like a dict int → str
        self.stoi = {ch: i for i, ch in enumerate(self.itos)}
        self.vocab_size = len(self.itos)
        ids = torch.tensor(self.encode(text), dtype=torch.int64)
        self.windows = ids.unfold(0, block_size + 1, 1)  # (len − block_size, block_size + 1)

    def encode(self, s):
        return list(map(self.stoi.__getitem__, s))

    def decode(self, ids):
        return "".join(map(self.itos.__getitem__, ids))

    def __len__(self):
        return self.windows.shape[0]

    def __getitem__(self, i):
        w = self.windows[i]
        return w[:-1], w[1:]
