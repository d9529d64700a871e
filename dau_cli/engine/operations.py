"""Each command's work as one function: the CLI parses and checks its flags, calls one of these, and
prints what it returns. `dau train`, `prune` and `forget` run through them, and so does a compare
cell (engine/compare.run_cell: open_checkpoint, forget_set, unlearn, then its own audit); the demo
and the benchmarks train through `train`; the audit (engine/audit_verdict) still has its own sequence.

    train(config, sink)                                    -> Outcome (checkpoint, summary)
    prune(ckpt, prune_config, config, sink)                -> Outcome
    open_checkpoint(path, device, data_root)               -> Opened (checkpoint, model, data, device)
    forget_set(opened, forget, seed)                       -> ForgetSet
    unlearn(opened, forget_set, method, config, sink, seed) -> cost (the model unlearned in place)
    forget(opened, forget_set, method, config, sink, seed)  -> Forgotten (Outcome + original's numbers)

None of them writes a file: the caller saves `Outcome.checkpoint` where the user asked (the CLI's
`save_output`, atomically) and records it in its run. Every one reports progress through `sink`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from dau_cli.runs import EventSink

HEADLINE = ("ua", "ra", "ta", "val_acc", "mia_efficacy")  # what `forget` prints for both models


@dataclass
class Outcome:
    """A command's new checkpoint and the summary it prints, records in its run and returns as JSON."""

    checkpoint: dict
    summary: dict


@dataclass
class Opened:
    """A checkpoint read and checked, with its model and data restored exactly as recorded."""

    ckpt: dict
    model: torch.nn.Module
    data: Any  # engine.data.Data
    device: torch.device


@dataclass
class Forgotten(Outcome):
    forget_set: Any = None  # engine.forget_sets.ForgetSet
    original: dict = field(default_factory=dict)  # HEADLINE of the model before unlearning


def train(config: dict, sink: EventSink) -> Outcome:
    """Load the data, train the model, evaluate it (`dau train`)."""
    from dau_cli.config import as_dict
    from dau_cli.engine.checkpoint import lineage_entry, new_checkpoint
    from dau_cli.engine.data import load_data
    from dau_cli.engine.models import build_model
    from dau_cli.engine.train import accuracy, fit, pick_device, prepare

    dc, mc, tc = config["data"], config["model"], config["train"]
    device = pick_device(tc.device)
    data = load_data(dc.dataset, dc.data_root or None, dc.download, dc.split_seed,
                     options={"image_size": dc.image_size, "color": dc.color}).to(device)
    arch_args = {"width": mc.width} if mc.arch == "cnn" else {}
    torch.manual_seed(tc.seed)
    model = prepare(build_model(mc.arch, data.num_classes, data.input_shape, **arch_args), device)
    sink.emit("log", level="info", message=f"{data.name} from {data.root}: {len(data.splits['train'])} train, "
              f"{len(data.splits['val'])} val, {len(data.splits['test'])} test images on {device}")
    result = fit(model, data, data.splits["train"], tc, sink, val_idx=data.splits["val"])
    metrics = {f"{s}_acc": accuracy(model, data, data.splits[s]) for s in ("train", "val", "test")}
    entry = lineage_entry("train", as_dict(config), result["wall_time_s"], result["image_passes"], str(device))
    ckpt = new_checkpoint(model, mc.arch, arch_args, data.describe(), as_dict(config), metrics, [entry])
    summary = {**metrics, "wall_time_s": result["wall_time_s"], "image_passes": result["image_passes"],
               "device": str(device)}
    sink.emit("result", metrics=summary)
    return Outcome(ckpt, summary)


def prune(ckpt: dict, prune_config: Any, config: dict, sink: EventSink, data_root: str | None = None) -> Outcome:
    """Prune (and retrain) a checkpoint (`dau prune`); `config` is `engine.prune.retrain_config(...)`."""
    from dau_cli.engine.prune import prune_checkpoint

    return Outcome(*prune_checkpoint(ckpt, prune_config, config, sink, data_root=data_root))


def open_checkpoint(path: str | Path | dict, device: str | None = None, data_root: str | Path | None = None,
                    needs_recipe_for: str | None = None, data: Any = None) -> Opened:
    """Read and check a checkpoint (or take one already read), then restore its model and data on
    `device` (default: the device of its training recipe). `needs_recipe_for` names the work that
    needs the training recipe (an import without one is refused in one line). `data`: the
    checkpoint's data, already restored on `device` (by an earlier call), taken as it is: only the
    model is restored (compare's cells in one process share their checkpoint's data)."""
    from dau_cli.engine.checkpoint import load_checkpoint, needs_recipe, restore, restore_model
    from dau_cli.engine.forget import original_train_config
    from dau_cli.engine.train import pick_device

    ckpt = path if isinstance(path, dict) else load_checkpoint(path)
    if needs_recipe_for:
        needs_recipe(ckpt, needs_recipe_for)
    dev = pick_device(device or original_train_config(ckpt).device)
    if data is None:
        model, data = restore(ckpt, dev, str(data_root) if data_root else None)
    else:
        model = restore_model(ckpt, dev)
    return Opened(ckpt, model, data, dev)


def forget_set(opened: Opened, forget: dict, seed: int = 0) -> Any:
    """The forget set (engine.forget_sets.ForgetSet) that `forget` (one of classes, random or indices,
    as `dau forget` takes them) and `seed` draw from the checkpoint's training split."""
    from dau_cli.engine.forget_sets import select_forget_set

    data = opened.data
    return select_forget_set(data.labels, data.splits["train"], seed=seed, num_classes=data.num_classes,
                             class_names=opened.ckpt.get("class_names"), **forget)


def unlearn(opened: Opened, fs: Any, method: str, config: dict, sink: EventSink, seed: int = 0) -> dict:
    """Unlearn the forget set `fs` from `opened.model` in place with `method` (a compare cell, which
    measures the model itself); no audit, no new checkpoint. Returns the cost: {wall_time_s,
    image_passes, device} (and pretrain_s where one-off work was done)."""
    from dau_cli.engine.forget import unlearn as run_method

    return run_method(opened.ckpt, opened.model, opened.data, fs, method, config, sink, seed)


def forget(opened: Opened, fs: Any, method: str, config: dict, sink: EventSink, seed: int = 0) -> Forgotten:
    """Measure the original on the forget set `fs`, unlearn it with `method` in place, measure again
    and build the new checkpoint with its lineage entry (`dau forget`)."""
    from dau_cli.engine.audit import audit
    from dau_cli.engine.forget import forget_checkpoint

    sink.emit("log", level="info", message=f"measuring the original model on the forget set ({len(fs.indices)} samples)")
    before = audit(opened.model, opened.data, fs)
    new, summary = forget_checkpoint(opened.ckpt, opened.model, opened.data, fs, method, config, sink, seed=seed)
    return Forgotten(new, summary, forget_set=fs, original={k: before[k] for k in HEADLINE})
