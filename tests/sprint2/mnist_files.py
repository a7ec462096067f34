"""A small MNIST written in the real IDX format, so that load_mnist's tests need no download.

IDX (LeCun's format, what torchvision's MNIST reads from root/MNIST/raw/): a big-endian
int32 magic number (2051 for images, 2049 for labels), then the size of each dim as a
big-endian int32, then the uint8 values in row-major order.
"""

import struct
from pathlib import Path

import numpy as np

IMAGE_MAGIC, LABEL_MAGIC = 2051, 2049  # 0x0803: uint8 in 3 dims; 0x0801: uint8 in 1 dim
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
SIZES = {"train": 12, "test": 7}


def write_images(path: Path, images: np.ndarray) -> None:
    """images: uint8 (N, 28, 28)."""
    n, rows, cols = images.shape
    path.write_bytes(struct.pack(">iiii", IMAGE_MAGIC, n, rows, cols) + images.tobytes())


def write_labels(path: Path, labels: np.ndarray) -> None:
    """labels: uint8 (N,)."""
    path.write_bytes(struct.pack(">ii", LABEL_MAGIC, len(labels)) + labels.tobytes())


def make_split(split: str) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, 28, 28), labels uint8 (N,)) for "train" or "test"; every image
    different, train and test different (their own seeds)."""
    rng = np.random.default_rng(0 if split == "train" else 1)
    n = SIZES[split]
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    return images, labels


def write_mnist(root: Path, splits=("train", "test")) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Write the files of `splits` under root/MNIST/raw/; returns what was written."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    written = {}
    for split in splits:
        images, labels = make_split(split)
        image_file, label_file = FILES[split]
        write_images(raw / image_file, images)
        write_labels(raw / label_file, labels)
        written[split] = (images, labels)
    return written
