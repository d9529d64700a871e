"""Small data sets and weights files the tests make: IDX files in MNIST's layout and image folders
(PNG and JPEG). Importable from every test (`pythonpath = ["tests"]` in pyproject.toml)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np


def write_idx(path: Path, array: np.ndarray, compress: bool = True) -> Path:
    """`array` (uint8) as an IDX file: 0, 0, type 0x08, ndim, big-endian sizes, then the bytes."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    raw = header + np.ascontiguousarray(array, np.uint8).tobytes()
    path = path.with_name(path.name + ".gz") if compress else path
    path.write_bytes(gzip.compress(raw) if compress else raw)
    return path


def make_idx_dataset(folder: Path, n_train: int = 60, n_test: int = 20, classes: int = 10, seed: int = 0,
                     compress: bool = True, size: int = 28) -> Path:
    """A tiny MNIST-shaped data set: class c's images are bright in column block c (learnable)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = (np.arange(n) % classes).astype(np.uint8)
        images = rng.integers(0, 40, (n, size, size), dtype=np.uint8)
        for i, c in enumerate(labels):
            images[i, :, c * 2:c * 2 + 2] = 250
        write_idx(folder / f"{prefix}-images-idx3-ubyte", images, compress)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", labels, compress)
    return folder


def make_image_folder(root: Path, classes=("cat", "dog", "owl"), per_class: int = 5, split: bool = False) -> Path:
    """PNG and JPEG images of different sizes, one subfolder per class (under train/ and test/ with `split`)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    parts = [root / "train", root / "test"] if split else [root]
    for part in parts:
        for c, name in enumerate(classes):
            folder = part / name
            folder.mkdir(parents=True)
            for i in range(per_class):
                pixels = rng.integers(0, 255, (20 + i, 30, 3), dtype=np.uint8)
                pixels[..., c] = 255
                Image.fromarray(pixels).save(folder / f"{i}.{'png' if i % 2 else 'jpg'}")
    return root
