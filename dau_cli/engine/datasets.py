"""The data sets dau reads, each a loader `(root, download, options) -> Loaded` in `DATASETS`:
the embedded digits, MNIST and Fashion-MNIST from their IDX files, CIFAR and SVHN through
torchvision, and image folders. `root` is None when the user gave no `--data-root` (each loader
then knows where to look). `fingerprint` is the identity of what a loader read."""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from dau_cli.errors import DauError


class Loaded(NamedTuple):
    """What a loader returns: images (N, C, H, W) uint8, labels (N,) int64, which images are the
    official test split (all False when the dataset has none), class names, and the folder read."""

    images: np.ndarray
    labels: np.ndarray
    is_test: np.ndarray
    class_names: list[str]
    source: Path | None = None


Loader = Callable[..., Loaded]


# ----------------------------------------------------------------------------- loaders


def load_digits(root: Path | None, download: bool, options: dict | None = None) -> Loaded:
    """scikit-learn's bundled 8x8 digits (1,797 real images, no download)."""
    from sklearn.datasets import load_digits as sk_digits

    d = sk_digits()
    images = np.round(d.images * (255.0 / 16.0)).astype(np.uint8)[:, None]  # 0..16 -> 0..255
    labels = d.target.astype(np.int64)
    is_test = np.zeros(len(labels), dtype=bool)  # no official test split: drawn in make_splits
    return Loaded(images, labels, is_test, [str(c) for c in range(10)], None)


def _download_error(what: str, root: Path, e: OSError) -> DauError:
    reason = getattr(e, "reason", None) or e.strerror or type(e).__name__
    return DauError(f"could not download {what} into {root} ({reason}); fetch it on a machine with a "
                    f"network and pass --data-root DIR where it is")


def _torchvision_cifar(cls_name: str, folder: str) -> Loader:
    def load(root: Path | None, download: bool, options: dict | None = None) -> Loaded:
        import torchvision

        root = root or default_data_root()
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
            raise _download_error(cls_name, root, e) from None
        images = np.concatenate([train.data, test.data]).transpose(0, 3, 1, 2).copy()
        labels = np.concatenate([np.asarray(train.targets), np.asarray(test.targets)]).astype(np.int64)
        is_test = np.r_[np.zeros(len(train.data), bool), np.ones(len(test.data), bool)]
        return Loaded(images, labels, is_test, list(train.classes), root)

    return load


# The official IDX files of MNIST and Fashion-MNIST (the same four names for both), gzipped or not.
IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: Path) -> np.ndarray:
    """One IDX file (LeCun's format: magic 0 0 TYPE NDIM, NDIM big-endian sizes, then the data)."""
    try:
        raw = gzip.open(path).read() if path.suffix == ".gz" else path.read_bytes()
    except (gzip.BadGzipFile, EOFError, OSError) as e:
        raise DauError(f"{path} cannot be read ({getattr(e, 'strerror', None) or e}); "
                       f"replace it with the official file") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_TYPES or not 1 <= raw[3] <= 4:
        raise DauError(f"{path} is not an IDX file (its first bytes are not an IDX header); "
                       f"replace it with the official file")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    dtype = np.dtype(IDX_TYPES[raw[2]])
    need = 4 + 4 * ndim + int(np.prod(dims)) * dtype.itemsize
    if len(raw) != need:
        raise DauError(f"{path} is truncated or padded ({len(raw):,} bytes, its header says {need:,}); "
                       f"replace it with the official file")
    return np.frombuffer(raw, dtype, offset=4 + 4 * ndim).reshape(dims)


FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot"]
#: Where Debian's `dataset-fashion-mnist` package puts the four files.
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")


def _idx_dataset(title: str, tv_class: str, class_names: list[str], debian: bool, how: str) -> Loader:
    """MNIST-style data: the four IDX files in --data-root (or torchvision's ROOT/<Class>/raw), or,
    with no --data-root, in DAU_HOME/data and the system's datasets folder."""

    def candidates(root: Path | None) -> list[Path]:
        bases = [root] if root else [default_data_root()]
        found = [d for b in bases for d in (b, b / tv_class / "raw", b / title.lower())]
        return found + ([DEBIAN_FASHION] if debian and not root else [])

    def find(folder: Path) -> list[Path] | None:
        paths = []
        for stem in IDX_FILES:
            hit = next((folder / n for n in (stem, stem + ".gz") if (folder / n).is_file()), None)
            if hit is None:
                return None
            paths.append(hit)
        return paths

    def load(root: Path | None, download: bool, options: dict | None = None) -> Loaded:
        if download:
            import torchvision

            target = root or default_data_root()
            try:
                getattr(torchvision.datasets, tv_class)(str(target), train=True, download=True)
                getattr(torchvision.datasets, tv_class)(str(target), train=False, download=True)
            except RuntimeError as e:
                raise DauError(f"{title} in {target} is incomplete or corrupt ({e}); delete it and re-run with "
                               f"--download") from e
            except OSError as e:
                raise _download_error(title, target, e) from None
        looked = candidates(root)
        for folder in looked:
            paths = find(folder)
            if paths:
                break
        else:
            where = ", ".join(str(p) for p in dict.fromkeys(looked))
            raise DauError(f"{title} not found: looked for its four IDX files in {where}; {how}, or pass "
                           f"--data-root DIR where they are")
        train_x, train_y, test_x, test_y = (read_idx(p) for p in paths)
        if train_x.ndim != 3 or test_x.ndim != 3 or len(train_x) != len(train_y) or len(test_x) != len(test_y):
            raise DauError(f"the IDX files in {folder} do not pair up (images {train_x.shape} / {test_x.shape}, "
                           f"labels {train_y.shape} / {test_y.shape}); replace them with the official files")
        labels = np.concatenate([train_y, test_y]).astype(np.int64)
        if len(labels) and (labels.min() < 0 or labels.max() >= len(class_names)):
            raise DauError(f"the labels in {folder} are not 0..{len(class_names) - 1}; "
                           f"replace them with the official files")
        images = np.concatenate([train_x, test_x]).astype(np.uint8)[:, None]
        is_test = np.r_[np.zeros(len(train_x), bool), np.ones(len(test_x), bool)]
        return Loaded(images, labels, is_test, list(class_names), folder)

    return load


def load_svhn(root: Path | None, download: bool, options: dict | None = None) -> Loaded:
    """SVHN's cropped digits (73,257 training and 26,032 test images, 32x32 RGB) via torchvision."""
    import torchvision

    root = root or default_data_root()
    files = ("train_32x32.mat", "test_32x32.mat")
    if not download and not all((root / f).is_file() for f in files):
        raise DauError(f"SVHN not found in {root} (expected {' and '.join(files)}); pass --download to fetch it, "
                       f"or --data-root DIR where they are")
    try:
        train = torchvision.datasets.SVHN(str(root), split="train", download=download)
        test = torchvision.datasets.SVHN(str(root), split="test", download=download)
    except RuntimeError as e:  # torchvision's checksum
        raise DauError(f"SVHN in {root} is incomplete or corrupt ({e}); re-run with --download") from e
    except OSError as e:
        raise _download_error("SVHN", root, e) from None
    except (ValueError, KeyError) as e:  # a .mat file without X / y
        raise DauError(f"SVHN in {root} is not the official .mat files ({e}); re-run with --download") from None
    images = np.concatenate([train.data, test.data]).astype(np.uint8)
    labels = np.concatenate([train.labels, test.labels]).astype(np.int64)
    is_test = np.r_[np.zeros(len(train.data), bool), np.ones(len(test.data), bool)]
    return Loaded(images, labels, is_test, [str(c) for c in range(10)], root)


FOLDER_DEFAULTS = {"image_size": 32, "color": "rgb"}


def load_folder(root: Path | None, download: bool, options: dict | None = None) -> Loaded:
    """An image folder as torchvision's ImageFolder reads it: one subfolder per class (its name is
    the class name), optionally under train/ and test/. Each image is centre-cropped to a square,
    resized to image_size x image_size and converted to RGB or grayscale."""
    from dau_cli.engine.image_folder import read_image_folder

    if root is None:
        raise DauError("an image folder needs its path: --dataset folder:PATH")
    if download:
        raise DauError("--download fetches the named datasets; an image folder is already on disk")
    opts = {**FOLDER_DEFAULTS, **(options or {})}
    return Loaded(*read_image_folder(root, int(opts["image_size"]), str(opts["color"])))


DATASETS: dict[str, Loader] = {
    "digits": load_digits,
    "mnist": _idx_dataset("MNIST", "MNIST", [str(c) for c in range(10)], False, "pass --download to fetch it"),
    "fashion-mnist": _idx_dataset("Fashion-MNIST", "FashionMNIST", FASHION_CLASSES, True,
                                  "install Debian's package (apt-get install dataset-fashion-mnist) or pass "
                                  "--download to fetch it"),
    "cifar10": _torchvision_cifar("CIFAR10", "cifar-10-batches-py"),
    "cifar100": _torchvision_cifar("CIFAR100", "cifar-100-python"),
    "svhn": load_svhn,
    "folder": load_folder,
}


def parse_dataset(name: str, root: str | Path | None) -> tuple[str, Path | None]:
    """`folder:PATH` is the folder dataset at PATH (--data-root, when given, wins); other names as they are."""
    if name.startswith("folder:"):
        path = name.split(":", 1)[1]
        if not path:
            raise DauError("--dataset folder:PATH needs the folder's path after the colon")
        return "folder", Path(root or path).expanduser().resolve()
    if name == "folder" and root:
        return "folder", Path(root).expanduser().resolve()
    return name, (Path(root).expanduser() if root else None)


def default_data_root() -> Path:
    from dau_cli.runs import dau_home

    return dau_home() / "data"


def fingerprint(images: np.ndarray | torch.Tensor, labels: np.ndarray | torch.Tensor) -> str:
    """SHA-256 of the images (with their shape) and labels: the identity of a dataset's content."""
    h = hashlib.sha256()
    for a in (images, labels):
        a = a.cpu().numpy() if isinstance(a, torch.Tensor) else a
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(memoryview(a).cast("B"))
    return "sha256:" + h.hexdigest()
