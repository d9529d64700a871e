"""Choosing the forget set D_f ⊂ D_train: by class, a seeded random fraction, or an index file.

`dau forget` and `dau audit` both select through `select_forget_set`, so the same flags always
mean the same samples. Indices are positions in the dataset (the same numbering as the
checkpoint's split arrays), and the exact array is recorded in the lineage.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dau_cli.errors import DauError


@dataclass(frozen=True)
class ForgetSet:
    mode: str  # "class", "random" or "indices"
    indices: torch.Tensor  # sorted dataset positions, all in the training split
    classes: tuple[int, ...] = ()  # the forgotten classes (class mode)
    fraction: float | None = None
    seed: int | None = None

    def describe(self) -> dict:
        return {"mode": self.mode, "classes": list(self.classes), "fraction": self.fraction, "seed": self.seed,
                "size": len(self.indices)}


def parse_classes(text: str, num_classes: int, class_names: list[str] | None = None) -> tuple[int, ...]:
    out = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if part.lstrip("-").isdigit():
            c = int(part)
        elif class_names and part in class_names:
            c = class_names.index(part)
        else:
            raise DauError(f"--classes takes class ids 0..{num_classes - 1} separated by commas, got '{part}'")
        if not 0 <= c < num_classes:
            raise DauError(f"class {c} is out of range: this model has classes 0..{num_classes - 1}")
        out.append(c)
    if not out:
        raise DauError("--classes is empty; give class ids such as --classes 3 or --classes 3,5")
    return tuple(sorted(set(out)))


def read_index_file(path: Path) -> np.ndarray:
    """Whitespace- or comma-separated integers, or a .npy array."""
    if not path.is_file():
        raise DauError(f"index file {path} does not exist")
    try:
        if path.suffix == ".npy":
            arr = np.load(path, allow_pickle=False).ravel()
        else:
            arr = np.array(path.read_text().replace(",", " ").split(), dtype=np.float64)
    except ValueError as e:
        raise DauError(f"index file {path} must hold integers separated by spaces, commas or newlines ({e})") from None
    if arr.size and not np.all(arr == np.round(arr)):
        raise DauError(f"index file {path} holds non-integer values")
    return arr.astype(np.int64)


def select_forget_set(labels: torch.Tensor, train_idx: torch.Tensor, *, classes: str | None = None,
                      random: float | None = None, indices: Path | None = None, seed: int = 0,
                      num_classes: int, class_names: list[str] | None = None) -> ForgetSet:
    """Exactly one of classes / random / indices selects D_f from the training split."""
    given = [name for name, v in (("--classes", classes), ("--random", random), ("--indices", indices)) if v is not None]
    if len(given) != 1:
        raise DauError("choose the forget set with exactly one of --classes LIST, --random FRAC or --indices FILE"
                       + (f" (got {' and '.join(given)})" if given else ""))
    train = train_idx.cpu()
    train_labels = labels.cpu()[train]
    if classes is not None:
        cls = parse_classes(classes, num_classes, class_names)
        chosen = train[torch.isin(train_labels, torch.tensor(cls))]
        fs = ForgetSet("class", chosen.sort().values, classes=cls)
    elif random is not None:
        if not 0 < random < 1:
            raise DauError(f"--random takes a fraction strictly between 0 and 1, got {random}")
        g = torch.Generator().manual_seed(seed)
        k = int(round(random * len(train)))
        chosen = train[torch.randperm(len(train), generator=g)[:k]]
        fs = ForgetSet("random", chosen.sort().values, fraction=float(random), seed=seed)
    else:
        arr = read_index_file(Path(indices))
        if len(np.unique(arr)) != len(arr):
            srt = np.sort(arr)
            raise DauError(f"index file {indices} repeats ids (e.g. {int(srt[1:][srt[1:] == srt[:-1]][0])}); list each once")
        outside = np.setdiff1d(arr, train.numpy())
        if len(outside):
            raise DauError(f"index file {indices}: {len(outside)} ids are not in the training split "
                           f"(e.g. {int(outside[0])}); ids are dataset positions listed in the checkpoint's train split")
        fs = ForgetSet("indices", torch.from_numpy(np.sort(arr)))
    if len(fs.indices) == 0:
        raise DauError("the forget set is empty; choose classes or indices that occur in the training split")
    if len(fs.indices) == len(train):
        raise DauError("the forget set is the whole training set; nothing would remain to learn from")
    return fs


def retain_indices(train_idx: torch.Tensor, forget: torch.Tensor) -> torch.Tensor:
    """D_r = D_train \\ D_f."""
    return train_idx[~torch.isin(train_idx, forget.to(train_idx.device))]
