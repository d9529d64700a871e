"""The checkpoint: the unit every command exchanges (format in docs/checkpoint.md).

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts, so it loads with
`torch.load(..., weights_only=True)` and a file can never run code. It carries the weights, the
architecture, the data view (dataset, root, split indices), the training config and metrics,
pruning masks, and a lineage of every operation applied to it.
"""

from __future__ import annotations

import functools
import platform
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from dau_cli.errors import DauError
from dau_cli.files import check_checkpoint

FORMAT = "dau-checkpoint"
VERSION = 1
REQUIRED = ("format", "version", "arch", "arch_args", "num_classes", "state_dict", "data", "lineage")


def versions() -> dict[str, str]:
    """Library versions for the lineage, from the installed metadata (nothing is imported for them)."""
    import dau_cli

    found = {"dau": dau_cli.__version__}
    for name, dist in (("torch", "torch"), ("torchvision", "torchvision"), ("sklearn", "scikit-learn")):
        try:
            found[name] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            found[name] = "unknown"
    return {**found, "python": platform.python_version()}


def lineage_entry(op: str, config: dict, wall_time_s: float, image_passes: int, device: str, **extra) -> dict:
    return {"op": op, "time": time.time(), "config": config, "wall_time_s": float(wall_time_s),
            "image_passes": int(image_passes), "device": device, "versions": versions(), **extra}


def _is_text(head: bytes) -> bool:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as e:
        return e.start >= len(head) - 3  # only a character cut at the end of the sample
    return True


@dataclass(frozen=True)
class CheckpointView:
    """What commands read from a checkpoint's records, each looked up in one place:
    `CheckpointView(ckpt).recipe`, `.masks`, `.train_entry`, ...; the checkpoint is not copied or changed."""

    ckpt: dict

    @property
    def lineage(self) -> list[dict]:
        return self.ckpt.get("lineage") or []

    @property
    def dataset(self) -> str:
        return self.ckpt["data"]["dataset"]

    @property
    def first_op(self) -> str | None:
        """What made the weights: `train`, or `import` for a model brought in by `dau import`."""
        return self.lineage[0].get("op") if self.lineage else None

    @property
    def train_entry(self) -> dict | None:
        """The first `train` entry: the run that trained the weights (None for an imported model)."""
        return next((e for e in self.lineage if e.get("op") == "train"), None)

    @property
    def recipe(self) -> dict | None:
        """The config the weights were trained with: the first `train` entry's, or the recipe a model
        was imported with; None for a model imported without one (nothing can be retrained like it)."""
        if self.first_op == "import":
            return self.lineage[0].get("recipe")
        train = self.train_entry
        return train["config"] if train else (self.ckpt.get("config") or {})

    @functools.cached_property
    def masks(self) -> dict[str, torch.Tensor] | None:
        """The pruning masks as boolean tensors (on the CPU); None for a dense checkpoint."""
        return unpack_masks(self.ckpt.get("masks") or {}) or None


def training_recipe(ckpt: dict) -> dict | None:
    """`CheckpointView(ckpt).recipe`."""
    return CheckpointView(ckpt).recipe


def needs_recipe(ckpt: dict, doing: str) -> dict:
    """The training recipe, or one line saying that `doing` needs one."""
    recipe = training_recipe(ckpt)
    if recipe is None:
        raise DauError(f"{doing} trains models as the original was trained, and this model was imported without "
                       f"--recipe; import it again with --recipe NAME|FILE saying how it was trained")
    return recipe


MAX_RECORDS = 16 * 10**6  # bytes of pickled records (lineage, config, metrics): ~12,000 operations, ~7 s to read


def _records_size(path: Path) -> int:
    """The size of the pickled records (data.pkl) of a torch zip file, read from the zip's directory
    (torch's safe loader reads them in pure Python: ~0.4 s a MB); 0 for anything else."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            return max((i.file_size for i in z.infolist() if i.filename.endswith("/data.pkl")), default=0)
    except (zipfile.BadZipFile, OSError, ValueError):
        return 0  # not a zip: torch.load says what it is


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read and validate a checkpoint; every failure is one DauError line."""
    path = check_checkpoint(path)
    with open(path, "rb") as f:
        head = f.read(4096)
    if head and not head.startswith(b"PK") and b"\0" not in head and _is_text(head):
        what = "a TOML recipe (pass it with --recipe)" if path.suffix == ".toml" or head.lstrip().startswith((b"[", b"#")) \
            else "a text file"
        raise DauError(f"{path} is {what}, not a dau checkpoint; make a checkpoint with `dau train` or `dau import`")
    records = _records_size(path)
    if records > MAX_RECORDS:
        raise DauError(f"{path} holds {records / 1e6:.0f} MB of records besides its weights (a lineage of tens of "
                       f"thousands of operations?); dau reads at most {MAX_RECORDS // 10**6} MB (about ten thousand "
                       f"operations); make it again from an earlier checkpoint")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, foreign pickle, refused global: all the same to a user
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if "Unsupported operand" in str(e):
            reason = "it is a pickle that torch's safe loader cannot read (dau writes none like it), refused for safety"
        elif "Weights only load failed" in str(e) or "Unsupported global" in str(e):
            reason = "it holds Python objects other than tensors and plain containers, refused for safety"
        raise DauError(f"{path} is not a readable dau checkpoint: {reason}") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise DauError(f"{path} is not a dau checkpoint (no '{FORMAT}' header); make one with `dau train`")
    version = ckpt.get("version")
    if isinstance(version, int) and version > VERSION:
        raise DauError(f"{path} has checkpoint version {version}; this dau reads up to {VERSION}, upgrade dau")
    problem = schema_problem(ckpt)
    if problem:
        raise DauError(f"{path} is a damaged dau checkpoint: {problem}; make it again with the command that made it")
    return ckpt


def schema_problem(ckpt: dict[str, Any]) -> str | None:
    """What makes a loaded checkpoint unusable, or None: the one check every command relies on, so no
    later step meets a wrong type, a weight that does not fit the architecture, a mask for a
    parameter that does not exist, or split indices that are negative, out of range or overlap."""
    from dau_cli.config import DATASET_SIZES
    from dau_cli.engine.datasets import DATASETS
    from dau_cli.engine.models import MODELS

    missing = [k for k in REQUIRED if k not in ckpt]
    if missing:
        return f"missing {', '.join(missing)}"
    inside = _contains_itself(ckpt)
    if inside:
        return f"{inside} contains itself"
    types = {"version": int, "arch": str, "arch_args": dict, "num_classes": int, "state_dict": dict, "data": dict,
             "lineage": list, "masks": dict, "config": dict, "metrics": dict, "class_names": list}
    wrong = [f"{k} ({type(ckpt[k]).__name__}, not {t.__name__})" for k, t in types.items()
             if k in ckpt and (not isinstance(ckpt[k], t) or (t is int and isinstance(ckpt[k], bool)))]
    if wrong:
        return f"wrong types: {', '.join(wrong)}"
    if ckpt["arch"] not in MODELS:
        return f"unknown architecture '{ckpt['arch']}'"
    if not 1 <= ckpt["num_classes"] <= 100_000:
        return f"num_classes is {ckpt['num_classes']}"
    names = ckpt.get("class_names")
    if names is not None and (len(names) != ckpt["num_classes"] or not all(isinstance(n, str) for n in names)):
        return f"class_names are not {ckpt['num_classes']} strings"
    data = ckpt["data"]
    if not isinstance(data.get("dataset"), str) or data["dataset"] not in DATASETS:
        return f"data.dataset is {data.get('dataset')!r}, not one of {', '.join(DATASETS)}"
    size = data.get("size", DATASET_SIZES.get(data["dataset"]))  # recorded since data sets vary in size
    if not (isinstance(size, int) and not isinstance(size, bool) and 0 < size <= 1 << 40):
        return "data.size is not the number of images"
    if not isinstance(data.get("fingerprint", ""), str) or not isinstance(data.get("options", {}), dict):
        return "data.fingerprint or data.options is malformed"
    if not isinstance(data.get("root"), str):
        return "data.root is not a path"
    shape = data.get("input_shape")
    if not (isinstance(shape, list) and len(shape) == 3 and all(isinstance(x, int) and 0 < x <= 4096 for x in shape)):
        return "data.input_shape is not [channels, height, width]"
    problem = _splits_problem(data.get("splits"), size)
    if problem:
        return problem
    return _weights_problem(ckpt, tuple(shape)) or _lineage_problem(ckpt["lineage"], size)


def _weights_problem(ckpt: dict[str, Any], shape: tuple) -> str | None:
    """The state dict fits the architecture (shapes, dtypes, finite values) and every mask its weight."""
    from dau_cli.engine.models import build_model

    sd = ckpt["state_dict"]
    if not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in sd.items()):
        return "state_dict holds something other than named tensors"
    try:
        with torch.device("meta"):  # shapes only: nothing is allocated
            expected = build_model(ckpt["arch"], ckpt["num_classes"], shape, **ckpt["arch_args"]).state_dict()
    except (DauError, TypeError, ValueError, RuntimeError) as e:
        return f"arch_args {ckpt['arch_args']} do not build a {ckpt['arch']} ({str(e).splitlines()[0][:80]})"
    if sd.keys() != expected.keys():
        extra, lost = sorted(sd.keys() - expected.keys()), sorted(expected.keys() - sd.keys())
        return (f"state_dict does not match the {ckpt['arch']} architecture"
                + (f"; unexpected {', '.join(extra[:3])}" if extra else "") + (f"; missing {', '.join(lost[:3])}" if lost else ""))
    for k, t in expected.items():
        if sd[k].shape != t.shape or sd[k].dtype != t.dtype:
            return f"state_dict['{k}'] is {sd[k].dtype} {list(sd[k].shape)}, the architecture needs {t.dtype} {list(t.shape)}"
        if sd[k].is_floating_point() and not bool(torch.isfinite(sd[k]).all()):
            return f"state_dict['{k}'] holds NaN or infinite values"
    for name, entry in ckpt.get("masks", {}).items():
        if name not in sd or not prunable(name, sd[name]):
            return f"a mask for '{name}', which is not a prunable parameter of the model"
        if not (isinstance(entry, dict) and isinstance(entry.get("shape"), list)
                and all(type(x) is int for x in entry["shape"]) and entry["shape"] == list(sd[name].shape)
                and isinstance(entry.get("bits"), torch.Tensor) and entry["bits"].dtype == torch.uint8
                and entry["bits"].numel() == (sd[name].numel() + 7) // 8):
            return f"the mask of '{name}' does not fit its parameter"
    return None


def _lineage_problem(lineage: list, size: int) -> str | None:
    """Every lineage entry is an operation dau records, with fields of the right types."""
    for i, e in enumerate(lineage, 1):
        if not (isinstance(e, dict) and e.get("op") in ("train", "import", "prune", "forget") and isinstance(e.get("config"), dict)
                and isinstance(e.get("device"), str)
                and all(isinstance(e.get(k), (int, float)) and not isinstance(e.get(k), bool)
                        for k in ("time", "wall_time_s", "image_passes"))):
            return f"lineage entry {i} is malformed"
        typed = {"forget": dict, "recipe": dict, "method": str, "file": str, "sha256": str, "unchecked": list,
                 "seed": int, "versions": dict}
        wrong = [k for k, t in typed.items() if k in e and e[k] is not None and not isinstance(e[k], t)]
        if wrong:
            return f"lineage entry {i} has {wrong[0]} of the wrong type"
        if "forget_indices" in e:
            fi = e["forget_indices"]
            if not (isinstance(fi, torch.Tensor) and fi.dim() == 1 and not fi.is_floating_point()
                    and (fi.numel() == 0 or (int(fi.min()) >= 0 and int(fi.max()) < size))):
                return f"lineage entry {i}: forget_indices are not positions in the dataset"
    return None


def _contains_itself(ckpt: dict) -> str | None:
    """The first top-level entry (lineage, config, ...) that holds a list or dict which contains
    itself (a pickle can hold one; every later walk over it would never end), or None."""
    done: set[int] = set()  # containers walked to the end (shared ones are walked once)
    for key, value in ckpt.items():
        path: set[int] = set()  # containers on the way down to the one being walked
        stack: list[tuple[Any, bool]] = [(value, False)]
        while stack:
            obj, leaving = stack.pop()
            if leaving:
                path.discard(id(obj))
                done.add(id(obj))
            elif isinstance(obj, (dict, list, tuple)) and id(obj) not in done:
                if id(obj) in path:
                    return str(key)
                path.add(id(obj))
                stack.append((obj, True))
                stack.extend((v, False) for v in (obj.values() if isinstance(obj, dict) else obj)
                             if isinstance(v, (dict, list, tuple)))
    return None


def _splits_problem(splits: Any, size: int) -> str | None:
    if not isinstance(splits, dict) or set(splits) != {"train", "val", "test"}:
        return "data.splits is not {train, val, test}"
    seen = torch.zeros(0, dtype=torch.int64)  # sorted positions of the splits checked so far (no size-long array)
    for name, idx in splits.items():
        if not (isinstance(idx, torch.Tensor) and idx.dim() == 1 and not idx.is_floating_point() and idx.numel() > 0):
            return f"the {name} split is not a list of integer positions"
        lo, hi = int(idx.min()), int(idx.max())
        if lo < 0 or hi >= size:
            return f"the {name} split has positions outside 0..{size - 1} ({lo if lo < 0 else hi})"
        if len(torch.unique(idx)) != len(idx):
            return f"the {name} split repeats positions"
        if bool(torch.isin(idx, seen).any()):
            return f"the {name} split overlaps another split"
        seen = torch.cat([seen, idx.long()])
    return None


def save_checkpoint(ckpt: dict[str, Any], path: str | Path, force: bool = False) -> Path:
    """Through the one writer (dau_cli.files): atomic, fsynced, never replacing a file without force."""
    from dau_cli.files import write

    return write(path, lambda f: torch.save(ckpt, f), force)


def new_checkpoint(model: torch.nn.Module, arch: str, arch_args: dict, data_desc: dict, config: dict,
                   metrics: dict, lineage: list[dict], masks: dict[str, torch.Tensor] | None = None) -> dict:
    return {
        "format": FORMAT,
        "version": VERSION,
        "arch": arch,
        "arch_args": dict(arch_args),
        "num_classes": len(data_desc["class_names"]),
        "class_names": list(data_desc["class_names"]),
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "masks": pack_masks(masks or {}),
        "data": data_desc,
        "config": config,
        "metrics": metrics,
        "lineage": lineage,
    }


def derive(ckpt: dict, model: torch.nn.Module, entry: dict, metrics: dict,
           masks: dict[str, torch.Tensor] | None = None) -> dict:
    """A new checkpoint from an old one: new weights, one more lineage entry, same data view."""
    out = dict(ckpt)
    out["state_dict"] = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    out["lineage"] = [*ckpt["lineage"], entry]
    out["metrics"] = metrics
    if masks is not None:
        out["masks"] = pack_masks(masks)
    return out


# ----------------------------------------------------------------------------- masks, stored as bits


def pack_masks(masks: dict[str, torch.Tensor]) -> dict[str, dict]:
    """Boolean masks as packed bits (1/8 of a bool tensor): {name: {shape, bits}}."""
    import numpy as np

    out = {}
    for name, m in masks.items():
        bits = np.packbits(m.detach().cpu().bool().numpy().ravel())
        out[name] = {"shape": list(m.shape), "bits": torch.from_numpy(bits)}
    return out


def unpack_masks(packed: dict[str, dict]) -> dict[str, torch.Tensor]:
    import numpy as np

    out = {}
    for name, entry in (packed or {}).items():
        n = int(torch.tensor(entry["shape"]).prod()) if entry["shape"] else 1
        flat = np.unpackbits(entry["bits"].numpy())[:n].astype(bool)
        out[name] = torch.from_numpy(flat).reshape(entry["shape"])
    return out


def restore_model(ckpt: dict, device: torch.device | str = "cpu") -> torch.nn.Module:
    """The recorded architecture with the recorded weights, on `device` as training puts it there
    (channels_last on CUDA), so forget, audit and prune run the CUDA path as train does."""
    from dau_cli.engine.models import build_model
    from dau_cli.engine.train import prepare

    model = build_model(ckpt["arch"], ckpt["num_classes"], tuple(ckpt["data"]["input_shape"]), **ckpt["arch_args"])
    model.load_state_dict(ckpt["state_dict"])
    return prepare(model, device)


def restore(ckpt: dict, device: torch.device | str = "cpu", data_root: str | None = None):
    """(model, data) exactly as recorded: architecture and weights, dataset and split indices."""
    from dau_cli.engine.data import load_recorded

    data = load_recorded(ckpt["data"], data_root)
    return restore_model(ckpt, device), data.to(device)


def prunable(name: str, tensor: torch.Tensor) -> bool:
    """Conv and linear weights are what pruning removes; norms and biases stay."""
    return name.endswith("weight") and tensor.dim() in (2, 4)


def sparsity(state_dict: dict[str, torch.Tensor]) -> tuple[float, dict[str, float]]:
    """Fraction of prunable weights that are exactly zero: overall, and per layer."""
    per_layer, zeros, total = {}, 0, 0
    for name, t in state_dict.items():
        if prunable(name, t):
            z = int((t == 0).sum())
            per_layer[name] = z / t.numel()
            zeros += z
            total += t.numel()
    return (zeros / total if total else 0.0), per_layer
