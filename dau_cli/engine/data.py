"""Datasets as one uint8 tensor, seeded splits, and batched on-device augmentation.

A dataset is loaded once into `Data.images` (N, C, H, W, uint8) with `Data.labels` (N,); the
train / val / test splits are index arrays into it, recorded in every checkpoint
(docs/checkpoint.md), so every later command sees exactly the same sets. A batch is an index
slice; augmentation is tensor work on the whole batch; normalisation lives in the model.

Registry: `DATASETS` maps a name to a loader `(root, download, options) -> Loaded`; `root` is None
when the user gave no `--data-root` (each loader then knows where to look). Every load is
fingerprinted (a SHA-256 of the images and labels), and a checkpoint's recorded fingerprint is
checked on every later load, so a model is never evaluated on other images than its own.
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
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
