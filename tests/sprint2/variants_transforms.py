import os
from pathlib import Path

import numpy as np
import torch
from torchvision import datasets, transforms
from torchvision.transforms import functional as TF

from grader.variants import alternative, mistake

MEAN, STD = 0.1307, 0.3081
FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def _normalize():
    return transforms.Normalize((MEAN,), (STD,))


# --- eval_transform ---------------------------------------------------------------------


@mistake("eval_transform")
def no_normalize():
    """ToTensor alone: pixels in [0, 1], never normalised with MNIST's mean and std"""
    return transforms.Compose([transforms.ToTensor()])


@mistake("eval_transform")
def mean_and_std_swapped():
    """Normalize((MNIST_STD,), (MNIST_MEAN,)): mean and std swapped"""
    return transforms.Compose([transforms.ToTensor(), transforms.Normalize((STD,), (MEAN,))])


@mistake("eval_transform")
def half_and_half():
    """Normalize((0.5,), (0.5,)), the ImageNet-tutorial habit, not MNIST's mean and std"""
    return transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])


@mistake("eval_transform")
def unscaled_pixels():
    """PILToTensor then float(): pixels stay 0…255, never scaled to [0, 1] before Normalize"""
    return transforms.Compose(
        [transforms.PILToTensor(), transforms.Lambda(lambda t: t.float()), _normalize()]
    )


@mistake("eval_transform")
def augments_in_eval():
    """a random rotation in the evaluation transform too"""
    return transforms.Compose([transforms.RandomRotation(10), transforms.ToTensor(), _normalize()])


@alternative("eval_transform")
def with_transforms_v2():
    from torchvision.transforms import v2  # here: its import pulls in torch._dynamo (~1 s)

    return v2.Compose(
        [v2.ToImage(), v2.ToDtype(torch.float32, scale=True), v2.Normalize((MEAN,), (STD,))]
    )


@alternative("eval_transform")
def with_numpy_and_lambda():
    def to_unit(image):
        return torch.from_numpy(np.array(image, dtype=np.float32) / 255)[None]  # (1, 28, 28)

    return transforms.Compose([transforms.Lambda(to_unit), transforms.Lambda(_standardise)])


def _standardise(t):
    return (t - MEAN) / STD


# --- train_transform ---------------------------------------------------------------------


@mistake("train_transform")
def no_rotation(degrees=10.0):
    """degrees is ignored: no rotation, the same as eval_transform"""
    return transforms.Compose([transforms.ToTensor(), _normalize()])


@mistake("train_transform")
def rotates_after_normalize(degrees=10.0):
    """rotates the normalised tensor: the uncovered corners get 0, a grey pixel, not black"""
    return transforms.Compose(
        [transforms.ToTensor(), _normalize(), transforms.RandomRotation(degrees)]
    )


@mistake("train_transform")
def one_way_only(degrees=10.0):
    """RandomRotation((0, degrees)): turns counter-clockwise only"""
    return transforms.Compose(
        [transforms.RandomRotation((0, degrees)), transforms.ToTensor(), _normalize()]
    )


@mistake("train_transform")
def fixed_angle(degrees=10.0):
    """rotates by exactly `degrees` every time instead of a random angle within ±degrees"""
    return transforms.Compose(
        [
            transforms.Lambda(lambda img: TF.rotate(img, degrees)),
            transforms.ToTensor(),
            _normalize(),
        ]
    )


@mistake("train_transform")
def random_affine_with_shift(degrees=10.0):
    """RandomAffine with a random shift as well: more than the rotation asked for"""
    return transforms.Compose(
        [
            transforms.RandomAffine(degrees, translate=(0.1, 0.1)),
            transforms.ToTensor(),
            _normalize(),
        ]
    )


@mistake("train_transform")
def default_degrees_30(degrees=30.0):
    """the default is 30 degrees instead of 10"""
    return transforms.Compose(
        [transforms.RandomRotation(degrees), transforms.ToTensor(), _normalize()]
    )


@alternative("train_transform")
def with_transforms_v2_rotation(degrees=10.0):
    from torchvision.transforms import v2

    return v2.Compose(
        [
            v2.RandomRotation(degrees),
            v2.ToImage(),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize((MEAN,), (STD,)),
        ]
    )


@alternative("train_transform")
def own_angle_then_eval_steps(degrees=10.0):
    def rotate(image):
        angle = torch.empty(()).uniform_(-degrees, degrees).item()
        return TF.rotate(image, angle)

    return transforms.Compose([transforms.Lambda(rotate), transforms.ToTensor(), _normalize()])


# --- AddGaussianNoise -------------------------------------------------------------------


class _Noise:
    def __init__(self, std, mean=0.0):
        self.std, self.mean = std, mean

    def __repr__(self):
        return f"AddGaussianNoise(std={self.std}, mean={self.mean})"


@mistake("AddGaussianNoise")
class InPlace(_Noise):
    """adds the noise in place (x.add_), changing the caller's tensor"""

    def __call__(self, x):
        return x.add_(torch.randn_like(x) * self.std + self.mean)


@mistake("AddGaussianNoise")
class VarianceAsStd(_Noise):
    """scales the noise by std² instead of std"""

    def __call__(self, x):
        return x + torch.randn_like(x) * self.std**2 + self.mean


@mistake("AddGaussianNoise")
class UniformNoise(_Noise):
    """uniform noise (torch.rand_like, centred, with the right std) instead of Gaussian"""

    def __call__(self, x):
        u = torch.rand_like(x) - 0.5  # std 1/√12
        return x + u * (self.std * 12**0.5) + self.mean


@mistake("AddGaussianNoise")
class IgnoresMean(_Noise):
    """forgets the mean: x + randn·std"""

    def __call__(self, x):
        return x + torch.randn_like(x) * self.std


@mistake("AddGaussianNoise")
class OneDrawForAll(_Noise):
    """torch.randn(1): one noise value shared by every entry"""

    def __call__(self, x):
        return x + torch.randn(1, dtype=x.dtype) * self.std + self.mean


@mistake("AddGaussianNoise")
class OwnUnseededGenerator(_Noise):
    """draws from its own torch.Generator(), which always starts from the same default seed:
    torch.manual_seed has no effect"""

    def __init__(self, std, mean=0.0):
        super().__init__(std, mean)
        self.generator = torch.Generator()

    def __call__(self, x):
        noise = torch.randn(x.shape, generator=self.generator, dtype=x.dtype)
        return x + noise * self.std + self.mean


@mistake("AddGaussianNoise")
class DefaultRepr:
    """no __repr__: prints as <AddGaussianNoise object at 0x...>"""

    def __init__(self, std, mean=0.0):
        self.std, self.mean = std, mean

    def __call__(self, x):
        return x + torch.randn_like(x) * self.std + self.mean


@alternative("AddGaussianNoise")
class WithTorchNormal:
    def __init__(self, std, mean=0.0):
        self.std = std
        self.mean = mean

    def __call__(self, x):
        noise = torch.normal(self.mean, self.std, size=x.shape, dtype=x.dtype, device=x.device)
        return x.clone().add_(noise)

    def __repr__(self):
        return f"AddGaussianNoise(std={self.std!r}, mean={self.mean!r})"


@alternative("AddGaussianNoise")
class AsModule(torch.nn.Module):
    def __init__(self, std, mean=0.0):
        super().__init__()
        self.std, self.mean = std, mean

    def forward(self, x):
        return torch.randn_like(x).mul(self.std).add(self.mean).add(x)

    def __repr__(self):
        return f"AddGaussianNoise(std={self.std}, mean={self.mean})"


# --- load_mnist -------------------------------------------------------------------------


def _missing_message(raw) -> str:
    missing = [name for name in FILES if not os.path.isfile(os.path.join(raw, name))]
    return (
        f"MNIST files not found in {raw} ({', '.join(missing)}): download them with "
        "torchvision.datasets.MNIST(root, download=True) on a machine with a network"
    )


@mistake("load_mnist")
def downloads(root, train=True, transform=None):
    """download=True: reaches for the network when the files are missing"""
    return datasets.MNIST(root, train=train, transform=transform, download=True)


@mistake("load_mnist")
def lets_runtime_error_through(root, train=True, transform=None):
    """leaves torchvision's RuntimeError('Dataset not found') as it is"""
    return datasets.MNIST(root, train=train, transform=transform, download=False)


@mistake("load_mnist")
def checks_root_only(root, train=True, transform=None):
    """checks that root exists, but the files live in root/MNIST/raw"""
    if not os.path.isdir(root):
        raise FileNotFoundError(_missing_message(os.path.join(root, "MNIST", "raw")))
    return datasets.MNIST(root, train=train, transform=transform, download=False)


@mistake("load_mnist")
def checks_its_split_only(root, train=True, transform=None):
    """checks only the two files of the split asked for; torchvision needs all four"""
    raw = os.path.join(root, "MNIST", "raw")
    names = FILES[:2] if train else FILES[2:]
    if not all(os.path.exists(os.path.join(raw, name)) for name in names):
        raise FileNotFoundError(_missing_message(raw))
    return datasets.MNIST(root, train=train, transform=transform, download=False)


@mistake("load_mnist")
def message_names_root(root, train=True, transform=None):
    """the FileNotFoundError names root, not the folder root/MNIST/raw where the files belong"""
    raw = os.path.join(root, "MNIST", "raw")
    if not all(os.path.exists(os.path.join(raw, name)) for name in FILES):
        raise FileNotFoundError(_missing_message(root))
    return datasets.MNIST(root, train=train, transform=transform, download=False)


@mistake("load_mnist")
def always_train(root, train=True, transform=None):
    """train is not passed on: always the training split"""
    raw = os.path.join(root, "MNIST", "raw")
    if not all(os.path.exists(os.path.join(raw, name)) for name in FILES):
        raise FileNotFoundError(_missing_message(raw))
    return datasets.MNIST(root, transform=transform, download=False)


@mistake("load_mnist")
def ignores_transform(root, train=True, transform=None):
    """transform is not passed on to datasets.MNIST"""
    raw = os.path.join(root, "MNIST", "raw")
    if not all(os.path.exists(os.path.join(raw, name)) for name in FILES):
        raise FileNotFoundError(_missing_message(raw))
    return datasets.MNIST(root, train=train, download=False)


@alternative("load_mnist")
def catches_runtime_error(root, train=True, transform=None):
    try:
        return datasets.MNIST(root, train=train, transform=transform, download=False)
    except RuntimeError as exc:
        raw = Path(root) / "MNIST" / "raw"
        raise FileNotFoundError(
            f"no MNIST in {raw}, which needs all four of {', '.join(FILES)}; download them "
            f"once: datasets.MNIST({str(root)!r}, download=True)"
        ) from exc


@mistake("load_mnist")
def message_names_no_file(root, train=True, transform=None):
    """the FileNotFoundError names the folder and how to get MNIST, but not which files
    are missing"""
    raw = os.path.join(root, "MNIST", "raw")
    if not all(os.path.isfile(os.path.join(raw, name)) for name in FILES):
        raise FileNotFoundError(f"MNIST is not in {raw}: download it with download=True once")
    return datasets.MNIST(root, train=train, transform=transform, download=False)


@mistake("load_mnist")
def message_says_not_how_to_get_them(root, train=True, transform=None):
    """the FileNotFoundError names the folder and the missing files, but not how to get
    them (a download, or a copy into that folder)"""
    raw = os.path.join(root, "MNIST", "raw")
    missing = [name for name in FILES if not os.path.isfile(os.path.join(raw, name))]
    if missing:
        raise FileNotFoundError(f"{raw} has no {', '.join(missing)}")
    return datasets.MNIST(root, train=train, transform=transform, download=False)


@alternative("load_mnist")
def message_says_copy_them_there(root, train=True, transform=None):
    # the docstring's other way to get the data: copy the files in
    raw = Path(root) / "MNIST" / "raw"
    missing = [name for name in FILES if not (raw / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"MNIST files missing: {', '.join(missing)}. Copy these uncompressed IDX files "
            f"into {raw} and try again."
        )
    return datasets.MNIST(root, train=train, transform=transform, download=False)


@alternative("load_mnist")
def checks_with_pathlib(root, train=True, transform=None):
    raw = Path(root, "MNIST", "raw")
    missing = [name for name in FILES if not (raw / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{raw} lacks {missing}. Download MNIST there first (download=True, with network)."
        )
    return datasets.MNIST(str(root), train=train, transform=transform)
