"""An image folder as one uint8 tensor: the `folder` dataset (`--dataset folder:PATH`).

The layout is torchvision's `ImageFolder`: one subfolder per class, named for the class, holding
images (any depth below it); optionally `train/` and `test/` above the class folders, which then
become the official test split. Each image is decoded with Pillow, centre-cropped to a square
(`ImageOps.fit`), resized to `image_size` and converted to RGB or grayscale, once per load.
An image that cannot be decoded is named, with the others, in one error: nothing is skipped.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dau_cli.errors import DauError

#: torchvision's list of image extensions, so a folder reads as ImageFolder reads it.
EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


def class_folders(root: Path) -> list[Path]:
    """The class subfolders of `root`, sorted by name (hidden folders left out)."""
    if not root.is_dir():
        raise DauError(f"image folder {root} does not exist or is not a folder; give --dataset folder:PATH with "
                       f"one subfolder per class")
    found = sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")), key=lambda p: p.name)
    if not found:
        raise DauError(f"image folder {root} has no class subfolders; put each class's images in a subfolder "
                       f"named for the class")
    return found


def list_images(folder: Path) -> list[Path]:
    """Every image file below `folder`, by its extension, in a stable order."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in EXTENSIONS
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def read_image_folder(root: Path, image_size: int, color: str) -> tuple:
    """(images, labels, is_test, class_names, source) for the folder at `root` (data.Loaded's fields)."""
    split = (root / "train").is_dir() and (root / "test").is_dir()
    parts = [(root / "train", False), (root / "test", True)] if split else [(root, False)]
    names = [p.name for p in class_folders(parts[0][0])]
    if split:
        test_names = [p.name for p in class_folders(root / "test")]
        if test_names != names:
            extra = sorted(set(test_names) ^ set(names))
            raise DauError(f"{root}/train and {root}/test have different class folders ({', '.join(extra[:5])}); "
                           f"give both the same classes")
    files, labels, is_test = [], [], []
    for part, test in parts:
        for label, name in enumerate(names):
            found = list_images(part / name)
            if not found:
                raise DauError(f"class folder {part / name} holds no images ({', '.join(EXTENSIONS)}); add some or "
                               f"remove the folder")
            files += found
            labels += [label] * len(found)
            is_test += [test] * len(found)
    images, unreadable = _decode(files, image_size, color)
    if unreadable:
        shown = ", ".join(str(p) for p in unreadable[:5]) + (f" and {len(unreadable) - 5} more" if len(unreadable) > 5
                                                             else "")
        raise DauError(f"{len(unreadable)} image(s) in {root} cannot be read: {shown}; remove or replace them")
    return images, np.asarray(labels, np.int64), np.asarray(is_test, bool), names, root


def _decode(files: list[Path], size: int, color: str) -> tuple[np.ndarray, list[Path]]:
    from PIL import Image, ImageOps, UnidentifiedImageError

    mode = "RGB" if color == "rgb" else "L"
    channels = 3 if mode == "RGB" else 1
    out = np.empty((len(files), channels, size, size), np.uint8)
    bad = []
    for i, path in enumerate(files):
        try:
            with Image.open(path) as im:
                im = ImageOps.fit(im.convert(mode), (size, size), Image.Resampling.BILINEAR)
                arr = np.asarray(im, np.uint8)
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
            bad.append(path)
            continue
        out[i] = arr[None] if channels == 1 else arr.transpose(2, 0, 1)
    return out, bad
