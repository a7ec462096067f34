"""Train the target's MLP with the target's fit and AdamW on real handwritten digits.

The data is scikit-learn's 8×8 digits (1,797 images scanned from real handwriting,
shipped inside the package: nothing is downloaded). Images are scaled to [0, 1] and
split 80/20 with a fixed seed.
"""

from __future__ import annotations

import time

import torch
from torch.utils.data import DataLoader, TensorDataset
from tqdm import tqdm

from runs.common import out_dir, require, save_curves

NEEDS = [
    "sprint3.modules.MLP",
    "sprint3.optimizers.AdamW",
    "sprint3.training.train_step",
    "sprint3.training.evaluate",
    "sprint3.training.fit",
]


def load_digits_tensors() -> tuple[torch.Tensor, torch.Tensor]:
    """(images (1797, 1, 8, 8) float32 in [0, 1], labels (1797,) int64)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    labels = torch.tensor(digits.target, dtype=torch.int64)
    return images, labels


def split(images, labels, val_fraction=0.2, seed=0):
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    n_val = int(len(labels) * val_fraction)
    val, train = order[:n_val], order[n_val:]
    return TensorDataset(images[train], labels[train]), TensorDataset(images[val], labels[val])


def main(args, target_name: str) -> int:
    require(NEEDS, target_name)
    from grader.target import load

    modules, optimizers, training = (
        load(f"sprint3.{m}") for m in ("modules", "optimizers", "training")
    )
    torch.manual_seed(args.seed)
    images, labels = load_digits_tensors()
    train_set, val_set = split(images, labels, seed=args.seed)
    g = torch.Generator().manual_seed(args.seed)
    train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True, generator=g)
    val_loader = DataLoader(val_set, batch_size=256)
    model = modules.MLP(64, [128, 64], 10)
    optimizer = optimizers.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-2)
    loss_fn = torch.nn.CrossEntropyLoss()
    print(
        f"digits: {len(train_set)} train / {len(val_set)} val images, 8x8; "
        f"MLP 64-128-64-10 from {target_name}/, AdamW lr {args.lr}, {args.epochs} epochs, "
        f"{torch.get_num_threads()} CPU thread(s)"
    )
    history = []
    started = time.monotonic()
    # The target's fit runs one epoch at a time (its own bar off), so that every epoch's
    # figures print as they come, under one bar over the epochs.
    bar = tqdm(range(1, args.epochs + 1), desc="training", unit="epoch", disable=args.quiet)
    for epoch in bar:
        (row,) = training.fit(model, train_loader, val_loader, loss_fn, optimizer, epochs=1)
        row = {**row, "epoch": epoch}
        history.append(row)
        bar.set_postfix(val_accuracy=f"{row['val_accuracy']:.2%}")
        tqdm.write(
            f"epoch {epoch:3d}  train_loss {row['train_loss']:.4f}  "
            f"val_loss {row['val_loss']:.4f}  val_accuracy {row['val_accuracy']:.2%}"
        )
    elapsed = time.monotonic() - started
    folder = out_dir("mlp", args.out)
    png = save_curves(
        folder / "mlp_digits.png",
        f"MLP on 8x8 digits ({target_name}/)",
        [
            (
                "loss",
                {
                    "train": [(r["epoch"], r["train_loss"]) for r in history],
                    "val": [(r["epoch"], r["val_loss"]) for r in history],
                },
            ),
            ("val accuracy", {"val": [(r["epoch"], r["val_accuracy"]) for r in history]}),
        ],
    )
    final = history[-1]["val_accuracy"]
    print(f"final val accuracy {final:.2%} after {elapsed:.1f} s; curves saved to {png}")
    return 0
