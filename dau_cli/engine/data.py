"""Datasets as one uint8 tensor, seeded splits, and batched on-device augmentation.

A dataset is loaded once into `Data.images` (N, C, H, W, uint8) with `Data.labels` (N,); the
train / val / test splits are index arrays into it, recorded in every checkpoint
(docs/checkpoint.md), so every later command sees exactly the same sets. A batch is an index
slice; augmentation is tensor work on the whole batch; normalisation lives in the model.

The data sets and their loaders are in engine/datasets.py (`DATASETS`). Every load is
fingerprinted (a SHA-256 of the images and labels), and a checkpoint's recorded fingerprint is
checked on every later load, so a model is never evaluated on other images than its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from dau_cli.engine.datasets import DATASETS, FOLDER_DEFAULTS, default_data_root, fingerprint, parse_dataset
from dau_cli.errors import DauError


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
    """train / val / test index arrays (docs/checkpoint.md, `data`): an official test split if the
    dataset has one, else a stratified 20 %; then a stratified 10 % of the rest for validation."""
    rng = np.random.default_rng(seed)
    everything = np.arange(len(labels))
    if is_test.any():
        test, pool = everything[is_test], everything[~is_test]
    else:
        test, pool = _stratified_take(labels, everything, 0.2, rng)
    val, train = _stratified_take(labels, pool, 0.1, rng)
    return {"train": train, "val": val, "test": test}


def import_splits(labels: np.ndarray, is_test: np.ndarray, train: np.ndarray | None, seed: int = 0,
                  source: str = "--train-indices") -> dict[str, np.ndarray]:
    """Train = the given positions (default: every official training image); val = a stratified
    10 % drawn from images it did not train on (the unused training images, else the official test
    images); test = the official test images left, or the rest of the unused ones."""
    rng = np.random.default_rng(seed)
    everything = np.arange(len(labels))
    if train is None:
        if not is_test.any():
            raise DauError("this data set has no official training split; list the positions the model was "
                           "trained on with --train-indices FILE")
        train = everything[~is_test]
    else:
        if train.size == 0:
            raise DauError(f"{source} lists no positions")
        bad = train[(train < 0) | (train >= len(labels))]
        if bad.size:
            raise DauError(f"{source}: position {int(bad[0])} is outside 0..{len(labels) - 1}")
        if len(np.unique(train)) != len(train):
            raise DauError(f"{source} repeats positions; list each once")
        if is_test[train].any():
            raise DauError(f"{source}: {int(is_test[train].sum())} positions are official test images "
                           f"(e.g. {int(train[is_test[train]][0])}); a model trained on them cannot be tested")
        train = np.sort(train)
    unused = np.setdiff1d(everything[~is_test], train)
    test = everything[is_test]
    if len(unused) == 0 and len(test) == 0:
        raise DauError(f"{source} lists every image: none is left to validate and test on")
    if len(unused) and len(test):
        frac = min(1.0, 0.1 * (len(train) + len(unused)) / len(unused))
        val, _ = _stratified_take(labels, unused, frac, rng)
    elif len(test):
        val, test = _stratified_take(labels, test, 0.1, rng)
    else:
        val, test = _stratified_take(labels, unused, 1 / 3, rng)
    if len(val) == 0 or len(test) == 0:
        raise DauError("too few images are left beside the training images to validate and test on")
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
    fingerprint: str = ""  # SHA-256 of images and labels (see `fingerprint`)
    options: dict = field(default_factory=dict)  # how the images were read (image folders: size and colour)
    is_test: torch.Tensor | None = None  # (N,) bool: the official test split, if the dataset has one

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    def to(self, device: torch.device | str) -> Data:
        return Data(self.name, self.root, self.images.to(device), self.labels.to(device),
                    self.splits, self.class_names, self.fingerprint, self.options, self.is_test)

    def describe(self) -> dict:
        """What a checkpoint records to rebuild this view."""
        out = {
            "dataset": self.name,
            "root": self.root,
            "splits": {k: v.clone() for k, v in self.splits.items()},
            "input_shape": list(self.input_shape),
            "class_names": list(self.class_names),
            "size": len(self.labels),
            "fingerprint": self.fingerprint,
        }
        if self.options:
            out["options"] = dict(self.options)
        return out


def load_data(name: str, root: str | Path | None = None, download: bool = False, split_seed: int = 0,
              splits: dict[str, torch.Tensor] | None = None, options: dict | None = None,
              expect: str | None = None) -> Data:
    """Load a registered dataset; draw its splits, or reuse the given (recorded) ones. `expect` is a
    recorded fingerprint: other images are refused."""
    name, root_path = parse_dataset(name, root)
    if name not in DATASETS:
        raise DauError(f"unknown dataset '{name}'; choose one of: {', '.join(DATASETS)} (an image folder: "
                       f"folder:PATH)")
    options = {**FOLDER_DEFAULTS, **(options or {})} if name == "folder" else {}
    loaded = DATASETS[name](root_path, download, options)
    images, labels, is_test = loaded.images, loaded.labels, loaded.is_test
    source = loaded.source or root_path or default_data_root()
    digest = fingerprint(images, labels)
    if expect and digest != expect:
        raise DauError(f"{source} holds other images than the model was trained on (fingerprint "
                       f"{digest[7:19]}, recorded {expect[7:19]}); point --data-root at the images it was trained on")
    if splits is None:
        splits = {k: torch.from_numpy(v) for k, v in make_splits(labels, is_test, split_seed).items()}
    else:
        top = max(int(v.max()) for v in splits.values() if len(v))
        if top >= len(labels):
            raise DauError(f"the recorded splits do not fit dataset '{name}' at {source} "
                           f"({len(labels)} images); point --data-root at the data the model was trained on")
    return Data(name, str(source), torch.from_numpy(images), torch.from_numpy(labels), splits, loaded.class_names,
                digest, options, torch.from_numpy(is_test))


def load_recorded(desc: dict, data_root: str | None = None) -> Data:
    """The data view a checkpoint records (`Data.describe()`), checked against its fingerprint."""
    return load_data(desc["dataset"], data_root or desc["root"], splits=desc["splits"],
                     options=desc.get("options"), expect=desc.get("fingerprint") or None)


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
