"""The checkpoint: the unit every command exchanges (format in docs/checkpoint.md).

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts, so it loads with
`torch.load(..., weights_only=True)` and a file can never run code. It carries the weights, the
architecture, the data view (dataset, root, split indices), the training config and metrics,
pruning masks, and a lineage of every operation applied to it.
"""

from __future__ import annotations

import os
import platform
from importlib import metadata
import time
from pathlib import Path
from typing import Any

import torch

from dau_cli.errors import DauError
from dau_cli.files import check_checkpoint, check_output  # noqa: F401  (check_output: the engine's callers)

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


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read and validate a checkpoint; every failure is one DauError line."""
    path = check_checkpoint(path)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, foreign pickle, refused global: all the same to a user
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if "Weights only load failed" in str(e) or "Unsupported global" in str(e):
            reason = "it holds Python objects other than tensors and plain containers, refused for safety"
        raise DauError(f"{path} is not a readable dau checkpoint: {reason}") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise DauError(f"{path} is not a dau checkpoint (no '{FORMAT}' header); make one with `dau train`")
    missing = [k for k in REQUIRED if k not in ckpt]
    if missing:
        raise DauError(f"{path} is a damaged dau checkpoint: missing {', '.join(missing)}")
    if ckpt["version"] > VERSION:
        raise DauError(f"{path} has checkpoint version {ckpt['version']}; this dau reads up to {VERSION}, upgrade dau")
    return ckpt


def save_checkpoint(ckpt: dict[str, Any], path: str | Path) -> Path:
    """Write to a temporary file in the same folder, then rename it into place (atomic)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch.save(ckpt, tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


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
    """The recorded architecture with the recorded weights."""
    from dau_cli.engine.models import build_model

    model = build_model(ckpt["arch"], ckpt["num_classes"], tuple(ckpt["data"]["input_shape"]), **ckpt["arch_args"])
    model.load_state_dict(ckpt["state_dict"])
    return model.to(device)


def restore(ckpt: dict, device: torch.device | str = "cpu", data_root: str | None = None):
    """(model, data) exactly as recorded: architecture and weights, dataset and split indices."""
    from dau_cli.engine.data import load_data

    d = ckpt["data"]
    data = load_data(d["dataset"], data_root or d["root"], splits=d["splits"])
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
