"""Grades sprint2.transforms against numpy pixel arithmetic, statistics and IDX files on disk.

torchvision is imported here, while the tests are collected, rather than first by the kata
module in the first test's setup: its ~4 s then count against no test's time limit.
"""

import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.datasets.mnist as tv_mnist
import torchvision.datasets.utils as tv_utils
from PIL import Image
from torch import Tensor
from torchvision.datasets import MNIST

from grader import kata, target_module
from grader.checks import (
    Shown,
    Snapshot,
    check_close,
    check_rng_untouched,
    check_tensor,
    describe,
    fail,
    likely_mistake,
    rng_state,
)
from tests.kata_helpers import kata_call
from tests.sprint2 import mnist_files

transforms = target_module("sprint2.transforms")
MEAN, STD = 0.1307, 0.3081  # the syllabus's MNIST mean and std
BLACK, WHITE = -MEAN / STD, (1 - MEAN) / STD  # pixels 0 and 255, normalised

# ToTensor's p / 255 and Normalize's (p − mean) / std in float32 round to ~3e-7 on values
# up to 2.8; 1e-6 admits any order of those operations and no slip.
PIXEL_TOL = {"rtol": 1e-6, "atol": 1e-6}


class Picture(Shown):
    """A 28×28 PIL image of mode "L", shown by name in failure messages."""

    def __init__(self, name: str, pixels: np.ndarray):
        super().__init__(f"<{name} 28×28 PIL image, mode L>")
        self.pixels = pixels

    def image(self) -> Image.Image:
        return Image.fromarray(self.pixels)  # uint8 (28, 28) → mode "L"


def _noise_picture(seed: int = 0) -> Picture:
    rng = np.random.default_rng(seed)
    return Picture("random", rng.integers(0, 256, size=(28, 28), dtype=np.uint8))


def _flat_picture(value: int) -> Picture:
    name = {0: "all-black", 255: "all-white"}.get(value, f"all-{value}")
    return Picture(name, np.full((28, 28), value, dtype=np.uint8))


def _bar_picture() -> Picture:
    """A white bar from the centre to the right edge: its direction shows the rotation."""
    pixels = np.zeros((28, 28), dtype=np.uint8)
    pixels[12:16, 14:28] = 255  # rows 12..15 straddle the centre row 13.5
    return Picture("bar", pixels)


def _expected(pixels: np.ndarray) -> Tensor:
    """(p / 255 − mean) / std in float64, as float32 (1, 28, 28)."""
    p = torch.from_numpy(pixels.astype(np.float64)) / 255
    return ((p - MEAN) / STD).float()[None]


def _eval_slips(pixels: np.ndarray) -> list[tuple[str, Tensor]]:
    p = torch.from_numpy(pixels.astype(np.float64))[None]
    return [
        ("no Normalize: the pixels were only scaled to [0, 1]", p / 255),
        ("mean and std swapped in Normalize", (p / 255 - STD) / MEAN),
        ("Normalize((0.5,), (0.5,)), not MNIST's mean and std", (p / 255 - 0.5) / 0.5),
        (
            "the pixels were not scaled to [0, 1] before Normalize (PILToTensor keeps 0…255; "
            "ToTensor divides by 255)",
            (p - MEAN) / STD,
        ),
    ]


def _apply(transform, picture: Picture, where: str) -> Tensor:
    image = picture.image()
    out = transform(image)
    if not np.array_equal(np.asarray(image), picture.pixels):
        fail(where, "the input image was changed")
    return check_tensor(out, where, shape=(1, 28, 28), dtype=torch.float32)


def _check_compose(t, where: str) -> None:
    kind = type(t)
    if kind.__name__ != "Compose" or not kind.__module__.startswith("torchvision.transforms"):
        fail(
            where,
            f"expected a torchvision transforms.Compose, got {describe(t)}",
            "the steps were returned on their own (a list, a function, one transform), "
            "not chained in a torchvision transforms.Compose",
        )


# --- eval_transform ---------------------------------------------------------------------


@kata("eval_transform")
class TestEvalTransform:
    def test_is_a_compose(self):
        _check_compose(transforms.eval_transform(), kata_call())

    @pytest.mark.parametrize(
        "picture",
        [_noise_picture(0), _flat_picture(0), _flat_picture(255), _noise_picture(1)],
        ids=["random", "black", "white", "random2"],
    )
    def test_values(self, picture):
        where = kata_call() + f" applied to {picture}"
        torch.manual_seed(0)  # a random step's values, if any, read the same at every run
        got = _apply(transforms.eval_transform(), picture, where)
        check_close(
            got,
            _expected(picture.pixels),
            where,
            **PIXEL_TOL,
            mistake=likely_mistake(got, _eval_slips(picture.pixels)),
        )

    def test_black_and_white(self):
        where = kata_call()
        t = transforms.eval_transform()
        torch.manual_seed(0)  # a random step's values, if any, read the same at every run
        for picture, value in ((_flat_picture(0), BLACK), (_flat_picture(255), WHITE)):
            got = _apply(t, picture, f"{where} applied to {picture}")
            mistake = ""
            if value == WHITE and torch.isclose(got, torch.tensor(BLACK), atol=1e-4).any():
                mistake = (
                    "black corners on a white image: a random rotation (augmentation) has no "
                    "place in the evaluation transform"
                )
            check_close(
                got,
                torch.full((1, 28, 28), value),
                f"{where} applied to {picture}: every pixel should be {value:.5f}",
                **PIXEL_TOL,
                mistake=mistake or likely_mistake(got, _eval_slips(picture.pixels)),
            )

    def test_deterministic(self):
        where = kata_call() + " applied twice to the same image"
        t = transforms.eval_transform()
        picture = _noise_picture(2)
        before = rng_state()
        first = _apply(t, picture, where)
        second = _apply(t, picture, where)
        if not torch.equal(first, second):
            fail(
                where,
                "the two results differ",
                "a random step (a rotation, a crop) has no place in the evaluation transform",
            )
        check_rng_untouched(before, where)


# --- train_transform ---------------------------------------------------------------------


def _angle(out: Tensor) -> float:
    """The direction of the bar in a transformed _bar_picture, in degrees counter-clockwise."""
    rows, cols = torch.nonzero(out[0] > (BLACK + WHITE) / 2, as_tuple=True)
    if rows.numel() == 0:
        return math.nan
    # the bar's centre of mass, from the image centre at 13.5 (rows count downwards)
    dy, dx = -(rows.double().mean().item() - 13.5), cols.double().mean().item() - 13.5
    return math.degrees(math.atan2(dy, dx))


ANGLE_TOL = 3.0  # the bar's measured direction is within 2° of the true one (nearest pixels)


def _angles(degrees, draws: int, seed: int, where: str) -> list[float]:
    t = transforms.train_transform() if degrees is None else transforms.train_transform(degrees)
    torch.manual_seed(seed)
    return [_angle(_apply(t, _bar_picture(), where)) for _ in range(draws)]


@kata("train_transform")
class TestTrainTransform:
    def test_is_a_compose_giving_float32(self):
        where = kata_call()
        t = transforms.train_transform()
        _check_compose(t, where)
        _apply(t, _noise_picture(3), f"{where} applied to {_noise_picture(3)}")

    def test_degrees_zero_is_eval_transform(self):
        where = kata_call(0.0)
        t = transforms.train_transform(0.0)
        torch.manual_seed(0)  # a random step's values, if any, read the same at every run
        for picture in (_noise_picture(4), _bar_picture(), _flat_picture(255)):
            got = _apply(t, picture, f"{where} applied to {picture}")
            check_close(
                got,
                _expected(picture.pixels),
                f"{where} applied to {picture}: with no rotation it is eval_transform",
                **PIXEL_TOL,
                mistake=likely_mistake(got, _eval_slips(picture.pixels))
                or "a random step other than the rotation (a shift, a crop, a flip)",
            )

    def test_rotation_applied(self):
        where = kata_call(90.0) + f" applied 8 times to {_bar_picture()}"
        t = transforms.train_transform(90.0)
        torch.manual_seed(0)
        plain = _expected(_bar_picture().pixels)
        same = sum(
            torch.allclose(_apply(t, _bar_picture(), where), plain, **PIXEL_TOL) for _ in range(8)
        )
        if same > 2:
            fail(
                where,
                f"{same} of the 8 results are the image unrotated",
                "the rotation is missing, or degrees is not passed to RandomRotation",
            )

    def test_angles_within_degrees_both_ways(self):
        where = kata_call(30.0) + f" applied 24 times to {_bar_picture()}"
        angles = _angles(30.0, 24, seed=1, where=where)
        shown = ", ".join(f"{a:.0f}" for a in angles)
        if any(not abs(a) <= 30 + ANGLE_TOL for a in angles):
            fail(where, f"the bar turned by {shown} degrees; expected angles within ±30")
        if min(angles) > -10 or max(angles) < 10:
            fail(
                where,
                f"the bar turned by {shown} degrees; expected angles spread over [−30, 30]",
                "RandomRotation(degrees) draws from [−degrees, degrees]; (0, degrees) turns "
                "one way only, and a fixed angle is not random",
            )

    def test_default_degrees_10(self):
        where = kata_call() + f" applied 24 times to {_bar_picture()}"
        angles = _angles(None, 24, seed=2, where=where)
        shown = ", ".join(f"{a:.0f}" for a in angles)
        if any(not abs(a) <= 10 + ANGLE_TOL for a in angles) or max(map(abs, angles)) < 5:
            fail(where, f"the bar turned by {shown} degrees; the default is degrees=10.0")

    def test_rotation_before_normalize(self):
        picture = _flat_picture(0)
        where = kata_call(90.0) + f" applied to {picture}"
        t = transforms.train_transform(90.0)
        torch.manual_seed(3)
        for _ in range(4):
            check_close(
                _apply(t, picture, where),
                torch.full((1, 28, 28), BLACK),
                where + f": a black image stays black, {BLACK:.5f} everywhere",
                **PIXEL_TOL,
                mistake="the corners a rotation uncovers are filled with 0; after Normalize, "
                "0 is a grey pixel. Rotate the PIL image first, then ToTensor and Normalize",
            )


# --- AddGaussianNoise ---------------------------------------------------------------------


def _noise_where(*args, **kwargs) -> str:
    return kata_call(*args, **kwargs)


def _call(noise, x: Tensor, where: str) -> Tensor:
    snap = Snapshot(x=x)
    out = noise(x)
    snap.check(where)
    return check_tensor(out, where, shape=x.shape, dtype=x.dtype, device=x.device)


@kata("AddGaussianNoise")
class TestAddGaussianNoise:
    def test_statistics(self):
        std = 0.5
        x = torch.zeros(200, 500)
        where = _noise_where(std) + f" called on x {describe(x)} of zeros"
        torch.manual_seed(0)
        noise = _call(transforms.AddGaussianNoise(std), x, where).double()
        n = noise.numel()
        got_std, got_mean = noise.std().item(), noise.mean().item()
        # n = 1e5: the sample std's relative standard error is 1/√(2n) = 0.22%, so 2% is 9
        # of them and far from std² (0.25) or √std (0.71)
        if abs(got_std / std - 1) > 0.02:
            mistake = ""
            if abs(got_std / std**2 - 1) < 0.02:
                mistake = "the noise was scaled by std² (the variance), not by std"
            elif got_std < 1e-6:
                mistake = "the same noise value for every entry, not one draw per entry"
            fail(where, f"the noise has std {got_std:.4g}, expected {std} (tolerance 2%)", mistake)
        if abs(got_mean) > 8 * std / math.sqrt(n):
            fail(where, f"the noise has mean {got_mean:.4g}, expected 0")
        # a normal puts 68.27% within one std, a uniform 57.7%; the standard error is 0.15%
        inside = (noise.abs() < std).double().mean().item()
        if abs(inside - 0.6827) > 0.01:
            fail(
                where,
                f"{inside:.1%} of the noise lies within one std of 0; a normal has 68.3%",
                "uniform noise (torch.rand) where Gaussian noise is asked for",
            )

    def test_mean(self):
        std, mean = 0.2, 1.5
        x = torch.full((100, 100), 2.0)
        where = _noise_where(std, mean=mean) + f" called on x {describe(x)} of 2.0"
        torch.manual_seed(1)
        noise = _call(transforms.AddGaussianNoise(std, mean=mean), x, where).double() - 2.0
        got_mean, got_std = noise.mean().item(), noise.std().item()
        if abs(got_mean - mean) > 8 * std / 100:  # 8 standard errors at n = 1e4
            fail(
                where,
                f"the noise has mean {got_mean:.4g}, expected mean = {mean}",
                "the noise's mean was left out: the noise is N(mean, std²), centred on mean",
            )
        if abs(got_std / std - 1) > 0.05:  # relative standard error 0.7%
            fail(where, f"the noise has std {got_std:.4g}, expected {std}")

    @pytest.mark.parametrize(
        ("shape", "dtype"), [((1, 28, 28), torch.float32), ((3, 5), torch.float64)]
    )
    def test_new_tensor_input_unchanged(self, shape, dtype):
        x = torch.randn(shape, generator=torch.Generator().manual_seed(2), dtype=dtype)
        where = _noise_where(0.1) + f" called on x {describe(x)}"
        torch.manual_seed(0)  # the values a message prints read the same at every run
        out = _call(transforms.AddGaussianNoise(0.1), x, where)
        if out is x or out.data_ptr() == x.data_ptr():
            fail(
                where,
                "returned x itself; expected a new tensor",
                "the noise was added to x in place (add_ or +=) instead of into a new tensor",
            )
        if torch.equal(out, x):
            fail(where, "returned x's values unchanged: no noise was added")

    def test_new_noise_every_call(self):
        x = torch.zeros(4, 6)
        where = _noise_where(1.0) + f" called twice on x {describe(x)}"
        t = transforms.AddGaussianNoise(1.0)
        torch.manual_seed(0)  # the values a message prints read the same at every run
        first, second = _call(t, x, where), _call(t, x, where)
        if torch.equal(first, second):
            fail(where, "both calls added the same noise; each call draws new noise")
        if torch.unique(first).numel() < first.numel():
            fail(where, "entries share noise values; every entry gets its own draw")

    def test_global_rng_makes_it_repeatable(self):
        x = torch.zeros(3, 4)
        where = _noise_where(0.3) + f" called on x {describe(x)} after torch.manual_seed(s)"
        runs = []
        for seed in (5, 5, 6):
            torch.manual_seed(seed)
            runs.append(_call(transforms.AddGaussianNoise(0.3), x, where))
        if not torch.equal(runs[0], runs[1]):
            fail(where, "the same torch.manual_seed gave different noise")
        if torch.equal(runs[0], runs[2]):
            fail(
                where,
                "torch.manual_seed(5) and torch.manual_seed(6) gave the same noise",
                "the noise comes from a torch.Generator() of the transform's own, which always "
                "starts from the same default seed; the global torch RNG is the one "
                "torch.manual_seed and the DataLoader's per-worker seeds govern",
            )

    @pytest.mark.parametrize(
        ("args", "kwargs", "want"),
        [
            ((0.1,), {}, "AddGaussianNoise(std=0.1, mean=0.0)"),
            ((0.25,), {"mean": -1.0}, "AddGaussianNoise(std=0.25, mean=-1.0)"),
        ],
        ids=["std", "std_and_mean"],
    )
    def test_repr(self, args, kwargs, want):
        where = f"repr({_noise_where(*args, **kwargs)})"
        got = repr(transforms.AddGaussianNoise(*args, **kwargs))
        if got != want:
            shown = got if " object at 0x" not in got else got.split(" object at")[0] + " ...>"
            fail(
                where,
                f"got {shown!r}, expected {want!r}",
                "no __repr__ of its own, or one in another format: it names the class with "
                "its std and mean, as the docstring shows",
            )


# --- load_mnist ---------------------------------------------------------------------------


class NetworkUsed(AssertionError):
    pass


def _load_where(root_text: str, **kwargs) -> str:
    return kata_call(Shown(root_text), **kwargs)


class ToPixels:
    """A transform that records the type of what it is given and returns its pixels as a
    uint8 tensor (28, 28)."""

    def __init__(self):
        self.seen = []

    def __call__(self, image):
        self.seen.append(type(image).__name__)
        return torch.from_numpy(np.array(image))

    def __repr__(self):
        return "transform"


# A way to get the files, in the message: download them, or copy (place, put, move, ...)
# them into the folder; any wording of either
HOW_TO_GET = re.compile(r"download|\b(cop(y|ied|ying)|place|put|move|fetch|save|extract)", re.I)


@kata("load_mnist")
class TestLoadMnist:
    @pytest.fixture(autouse=True)
    def no_network(self, monkeypatch, tmp_path):
        """Any attempt to download fails the test and is recorded."""
        import socket
        import urllib.request

        self.network = []
        self.tmp = str(tmp_path)

        def refuse(name):
            def refused(*args, **kwargs):
                self.network.append(name)
                raise NetworkUsed(
                    f"{kata_call.name} tried to reach the network ({name}): it must never "
                    "download, and check for the files itself"
                )

            return refused

        monkeypatch.setattr(urllib.request, "urlopen", refuse("urllib.request.urlopen"))
        monkeypatch.setattr(tv_utils, "download_url", refuse("download_url"))
        monkeypatch.setattr(tv_utils, "download_and_extract_archive", refuse("download"))
        monkeypatch.setattr(tv_mnist, "download_and_extract_archive", refuse("download"))
        monkeypatch.setattr(socket.socket, "connect", refuse("socket.connect"))

    def _shown(self, text) -> str:
        return str(text).replace(self.tmp, "<tmp>")

    def _no_network(self, where: str) -> None:
        if self.network:
            fail(
                where,
                f"tried to download ({self.network[0]}); load_mnist must never download",
                "datasets.MNIST was asked to download (download=True)",
            )

    def _check_split(self, ds, split: str, where: str) -> None:
        self._no_network(where)
        images, labels = mnist_files.make_split(split)
        if not isinstance(ds, MNIST):
            fail(where, f"expected torchvision's datasets.MNIST, got {describe(ds)}")
        if len(ds) != len(images):
            mistake = ""
            if split == "test" and len(ds) == mnist_files.SIZES["train"]:
                mistake = "train=False was not passed on: this is the training split"
            fail(where, f"len is {len(ds)}, expected the {len(images)} {split} images", mistake)
        for i in (0, len(images) - 1):
            image, label = ds[i]
            if not isinstance(image, Image.Image):
                fail(
                    f"{where}[{i}]",
                    f"expected a PIL image (no transform given), got {describe(image)}",
                    "without a transform, torchvision's MNIST gives PIL images",
                )
            if image.mode != "L" or image.size != (28, 28):
                fail(f"{where}[{i}]", f"expected a 28×28 image of mode L, got {image}")
            pixels = np.asarray(image)
            if not np.array_equal(pixels, images[i]):
                bad = np.argwhere(pixels != images[i])[0]
                fail(
                    f"{where}[{i}] → image",
                    f"pixel {tuple(int(j) for j in bad)} is {pixels[tuple(bad)]}, expected "
                    f"{images[i][tuple(bad)]} from the {split} file",
                )
            if type(label) is not int or label != int(labels[i]):
                fail(f"{where}[{i}] → label", f"got {describe(label)}, expected {int(labels[i])}")

    def _expect_missing(self, root, where: str, **kwargs) -> None:
        try:
            transforms.load_mnist(root, **kwargs)
        except NetworkUsed:
            raise
        except FileNotFoundError as exc:
            self._no_network(where)
            message = self._shown(exc)
            raw = self._shown(Path(root) / "MNIST" / "raw")
            if raw not in message:
                fail(
                    where,
                    f"the FileNotFoundError says {message!r}; it should name the folder the "
                    f"files belong in, {raw}",
                    "the message names another folder (root itself, say); torchvision looks "
                    "in root/MNIST/raw/, and the learner needs to know where to put the files",
                )
            folder = Path(root) / "MNIST" / "raw"
            missing = [
                name
                for split in ("train", "test")
                for name in mnist_files.FILES[split]
                if not (folder / name).is_file()
            ]
            unnamed = [name for name in missing if name not in message]
            if unnamed:
                fail(
                    where,
                    f"the FileNotFoundError says {message!r}; it should name the files missing "
                    f"there ({', '.join(missing)})",
                    "the message says the data is missing but not which files: the learner "
                    "needs their names to fetch or copy the right ones",
                )
            if not HOW_TO_GET.search(message):
                fail(
                    where,
                    f"the FileNotFoundError says {message!r}; it should say how to get the data",
                    "the message says what is missing but not how to get it: a download, once, "
                    "on a machine with a network connection, or a copy of the files into that "
                    "folder",
                )
            return
        except NotImplementedError:
            raise
        except RuntimeError as exc:
            self._no_network(where)
            fail(
                where,
                f"raised RuntimeError ({self._shown(exc)}) where FileNotFoundError was "
                "expected: the MNIST files are not there",
                "torchvision's MNIST raises RuntimeError('Dataset not found...') when any of "
                "the four files is missing, and it was let through as it is",
            )
        self._no_network(where)
        fail(
            where,
            "returned without raising, where FileNotFoundError was expected: the MNIST "
            "files are not there",
        )

    def test_train_split(self, tmp_path):
        mnist_files.write_mnist(tmp_path / "data")
        where = _load_where("'<tmp>/data'")
        self._check_split(transforms.load_mnist(str(tmp_path / "data")), "train", where)

    def test_test_split_with_a_path(self, tmp_path):
        mnist_files.write_mnist(tmp_path / "data")
        where = _load_where("Path('<tmp>/data')", train=False)
        self._check_split(transforms.load_mnist(tmp_path / "data", train=False), "test", where)

    def test_transform_applied(self, tmp_path):
        mnist_files.write_mnist(tmp_path / "data")
        transform = ToPixels()
        where = _load_where("'<tmp>/data'", train=False, transform=transform)
        ds = transforms.load_mnist(str(tmp_path / "data"), train=False, transform=transform)
        self._no_network(where)
        images, labels = mnist_files.make_split("test")
        for i in (0, 3):
            got = ds[i]
            if not (isinstance(got, tuple | list) and len(got) == 2):
                fail(f"{where}[{i}]", f"expected a pair (image, label), got {describe(got)}")
            image, label = got
            if isinstance(image, Image.Image):
                fail(
                    f"{where}[{i}]",
                    "the image is still a PIL image: transform was not applied",
                    "pass transform on to datasets.MNIST",
                )
            check_close(
                image,
                torch.from_numpy(images[i]),
                f"{where}[{i}] → image, with transform = its pixels as a uint8 tensor",
            )
            if type(label) is not int or label != int(labels[i]):
                fail(f"{where}[{i}] → label", f"got {describe(label)}, expected {int(labels[i])}")
        if set(transform.seen) != {"Image"}:
            fail(where, f"transform was given {transform.seen}, expected PIL images")

    def test_missing_folder(self, tmp_path):
        self._expect_missing(str(tmp_path / "nowhere"), _load_where("'<tmp>/nowhere'"))

    def test_empty_root(self, tmp_path):
        (tmp_path / "data").mkdir()
        self._expect_missing(tmp_path / "data", _load_where("Path('<tmp>/data'), empty"))

    def test_all_four_files_needed(self, tmp_path):
        mnist_files.write_mnist(tmp_path / "data", splits=("train",))
        where = _load_where("'<tmp>/data' holding only the train-* files", train=True)
        self._expect_missing(str(tmp_path / "data"), where, train=True)
