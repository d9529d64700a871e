"""Datasets as one uint8 tensor, seeded splits, and batched on-device augmentation.

A dataset is loaded once into `Data.images` (N, C, H, W, uint8) with `Data.labels` (N,); the
train / val / test splits are index arrays into it, recorded in every checkpoint
(docs/checkpoint.md), so every later command sees exactly the same sets. A batch is an index
slice; augmentation is tensor work on the whole batch; normalisation lives in the model.

Registry: `DATASETS` maps a name to a loader `(root, download) -> (images, labels, test_mask,
class_names)`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dau_cli.errors import DauError

Loader = Callable[[Path, bool], tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]]


# ----------------------------------------------------------------------------- loaders


def load_digits(root: Path, download: bool):
    """scikit-learn's bundled 8x8 digits (1,797 real images, no download)."""
    from sklearn.datasets import load_digits as sk_digits

    d = sk_digits()
    images = np.round(d.images * (255.0 / 16.0)).astype(np.uint8)[:, None]  # 0..16 -> 0..255
    labels = d.target.astype(np.int64)
    is_test = np.zeros(len(labels), dtype=bool)  # no official test split: drawn in make_splits
    return images, labels, is_test, [str(c) for c in range(10)]


def _torchvision_cifar(cls_name: str, folder: str):
    def load(root: Path, download: bool):
        import torchvision

        cls = getattr(torchvision.datasets, cls_name)
        if not download and not (root / folder).is_dir():
            raise DauError(
                f"{cls_name} not found in {root} (expected {root / folder}); "
                f"pass --download to fetch it, or --data-root DIR where it already is"
            )
        try:
            train = cls(str(root), train=True, download=download)
            test = cls(str(root), train=False, download=download)
        except RuntimeError as e:  # torchvision's integrity check
            raise DauError(f"{cls_name} in {root} is incomplete or corrupt ({e}); re-run with --download") from e
        except OSError as e:  # no network (URLError), a refused connection, a full or read-only disk
            reason = getattr(e, "reason", None) or e.strerror or type(e).__name__
            raise DauError(f"could not download {cls_name} into {root} ({reason}); fetch it on a machine with a "
                           f"network and pass --data-root DIR where it is") from None
        images = np.concatenate([train.data, test.data]).transpose(0, 3, 1, 2).copy()
        labels = np.concatenate([np.asarray(train.targets), np.asarray(test.targets)]).astype(np.int64)
        is_test = np.r_[np.zeros(len(train.data), bool), np.ones(len(test.data), bool)]
        return images, labels, is_test, list(train.classes)

    return load


#: Images in each dataset (official training images, then official test images): the range of split positions.
DATASET_SIZES = {"digits": 1797, "cifar10": 60_000, "cifar100": 60_000}

DATASETS: dict[str, Loader] = {
    "digits": load_digits,
    "cifar10": _torchvision_cifar("CIFAR10", "cifar-10-batches-py"),
    "cifar100": _torchvision_cifar("CIFAR100", "cifar-100-python"),
}


def default_data_root() -> Path:
    from dau_cli.runs import dau_home

    return dau_home() / "data"


# ----------------------------------------------------------------------------- splits


def _stratified_take(labels: np.ndarray, pool: np.ndarray, frac: float, rng: np.random.Generator):
    """A stratified `frac` of `pool` (indices into labels); returns (taken, rest), sorted."""
    taken = []
    for c in np.unique(labels[pool]):
        members = pool[labels[pool] == c]
        k = int(round(frac * len(members)))
        taken.append(rng.permutation(members)[:k])
    taken = np.sort(np.concatenate(taken))
    rest = np.setdiff1d(pool, taken)
    return taken, rest


def make_splits(labels: np.ndarray, is_test: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
    """train / val / test index arrays as in docs/protocol.md: an official test split if the
    dataset has one, else a stratified 20 %; then a stratified 10 % of the rest for validation."""
    rng = np.random.default_rng(seed)
    everything = np.arange(len(labels))
    if is_test.any():
        test, pool = everything[is_test], everything[~is_test]
    else:
        test, pool = _stratified_take(labels, everything, 0.2, rng)
    val, train = _stratified_take(labels, pool, 0.1, rng)
    return {"train": train, "val": val, "test": test}


# ----------------------------------------------------------------------------- the data view


@dataclass
class Data:
    """A dataset in memory with its recorded splits."""

    name: str
    root: str
    images: torch.Tensor  # (N, C, H, W) uint8, on the working device
    labels: torch.Tensor  # (N,) int64, on the working device
    splits: dict[str, torch.Tensor]  # "train", "val", "test" -> int64 indices (CPU)
    class_names: list[str]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    def to(self, device: torch.device | str) -> Data:
        return Data(self.name, self.root, self.images.to(device), self.labels.to(device),
                    self.splits, self.class_names)

    def describe(self) -> dict:
        """What a checkpoint records to rebuild this view."""
        return {
            "dataset": self.name,
            "root": self.root,
            "splits": {k: v.clone() for k, v in self.splits.items()},
            "input_shape": list(self.input_shape),
            "class_names": list(self.class_names),
        }


def load_data(name: str, root: str | Path | None = None, download: bool = False, split_seed: int = 0,
              splits: dict[str, torch.Tensor] | None = None) -> Data:
    """Load a registered dataset; draw its splits, or reuse the given (recorded) ones."""
    if name not in DATASETS:
        raise DauError(f"unknown dataset '{name}'; choose one of: {', '.join(DATASETS)}")
    root_path = Path(root).expanduser() if root else default_data_root()
    images, labels, is_test, class_names = DATASETS[name](root_path, download)
    if splits is None:
        splits = {k: torch.from_numpy(v) for k, v in make_splits(labels, is_test, split_seed).items()}
    else:
        top = max(int(v.max()) for v in splits.values() if len(v))
        if top >= len(labels):
            raise DauError(f"the recorded splits do not fit dataset '{name}' at {root_path} "
                           f"({len(labels)} images); point --data-root at the data the model was trained on")
    return Data(name, str(root_path), torch.from_numpy(images), torch.from_numpy(labels), splits, class_names)


# ----------------------------------------------------------------------------- batches


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 images -> float in [0, 1] (normalisation is the model's job)."""
    return images.float().div_(255.0)


def augment(x: torch.Tensor, crop_pad: int, flip: bool, generator: torch.Generator | None = None) -> torch.Tensor:
    """Padded random crop and horizontal flip, for a whole float batch at once (no Python per image)."""
    b, _, h, w = x.shape
    if crop_pad > 0:
        padded = torch.nn.functional.pad(x, (crop_pad,) * 4)
        dev = x.device
        oy = torch.randint(0, 2 * crop_pad + 1, (b,), device="cpu", generator=generator).to(dev)
        ox = torch.randint(0, 2 * crop_pad + 1, (b,), device="cpu", generator=generator).to(dev)
        rows = (oy[:, None] + torch.arange(h, device=dev))[:, None, :, None]  # (B,1,H,1)
        cols = (ox[:, None] + torch.arange(w, device=dev))[:, None, None, :]  # (B,1,1,W)
        bidx = torch.arange(b, device=dev)[:, None, None, None]
        cidx = torch.arange(x.shape[1], device=dev)[None, :, None, None]
        x = padded[bidx, cidx, rows, cols]
    if flip:
        mask = (torch.rand(b, device="cpu", generator=generator) < 0.5).to(x.device)
        x = torch.where(mask[:, None, None, None], x.flip(3), x)
    return x
