"""Each command's work as one function: the CLI parses and checks its flags, calls one of these, and
prints what it returns. `dau train`, `prune` and `forget` run through them, and so does a compare
cell (engine/compare.run_cell: open_checkpoint, forget_set, unlearn, then its own audit), `dau audit`
and `dau demo` (which is train, forget twice, the fake, and audit four times).

    train(config, sink)                                    -> Outcome (checkpoint, summary)
    prune(ckpt, prune_config, config, sink)                -> Outcome
    open_checkpoint(path, device, data_root)               -> Opened (checkpoint, model, data, device)
    forget_set(opened, forget, seed)                       -> ForgetSet
    unlearn(opened, forget_set, method, config, sink, seed) -> cost (the model unlearned in place)
    forget(opened, forget_set, method, config, sink, seed)  -> Forgotten (Outcome + original's numbers)
    audit(opened, forget_set, sink, references, workers)    -> report (the literature's numbers + verdict)
    demo(config, sink, references, workers)                 -> Demo (rows, checkpoints)

None of them writes a file: the caller saves `Outcome.checkpoint` where the user asked (the CLI's
`save_output`, atomically) and records it in its run. Every one reports progress through `sink`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from dau_cli.runs import EventSink


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
    original: dict = field(default_factory=dict)  # forget.HEADLINE of the model before unlearning


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
    from dau_cli.engine.forget import HEADLINE, forget_checkpoint, headline_report

    sink.emit("log", level="info", message=f"measuring the original model on the forget set ({len(fs.indices)} samples)")
    before = headline_report(opened.model, opened.data, fs)
    new, summary = forget_checkpoint(opened.ckpt, opened.model, opened.data, fs, method, config, sink, seed=seed)
    return Forgotten(new, summary, forget_set=fs, original={k: before[k] for k in HEADLINE})


def audit(opened: Opened, fs: Any, sink: EventSink, references: int = 0, workers: int = 1,
          device: str | None = None, ray: str | None = None, samples: bool = False, name: str = "") -> dict:
    """The literature's numbers for `opened.model` on the forget set `fs` (UA, RA, TA, MIA-Efficacy,
    the threshold attacks; warnings kept in the report), then the verdict against the reference bank,
    topped up to `references` OUT and IN models first (engine/audit_verdict). `device`: where
    references train (default: the model's). `samples`: keep the per-sample arrays (`--report`).
    `name`: the model's, for the verdict event (its file name; default: words from its lineage)."""
    from dau_cli.engine.audit import audit as measure
    from dau_cli.engine.audit_verdict import audit_verdict

    report = measure(opened.model, opened.data, fs, sink, warnings_in_report=True)
    report.update(audit_verdict(opened.ckpt, opened.model, opened.data, fs, references=references, workers=workers,
                                sink=sink, device=device or str(opened.device), ray=ray, samples=samples, name=name))
    return report


@dataclass
class Demo:
    """The demo's four models (original, dau, retrain, fake): each one's row (its verdict, reasons,
    the literature's numbers, Avg. Gap to the retrained model, its cost) and its checkpoint."""

    rows: dict[str, dict]
    checkpoints: dict[str, dict]

    @property
    def time_ratio(self) -> float:
        return self.rows["dau"]["wall_time_s"] / max(self.rows["retrain"]["wall_time_s"], 1e-9)


DEMO_ROW = ("ua", "ra", "ta", "val_acc", "mia_efficacy", "avg_gap", "wall_time_s", "image_passes")


def demo(config: dict, sink: EventSink, references: int, workers: int) -> Demo:
    """`dau demo`: train `config`'s model, forget class 3 with DAU and by retraining, make the
    one-number fake (engine/tamper.bias_fake), and audit each of the four against a bank of
    `references` OUT and IN models."""
    from dau_cli.engine.audit import avg_gap
    from dau_cli.engine.tamper import bias_fake

    sink.emit("log", level="info", message="1/4 training a cnn on digits")
    trained = train(config, sink)
    opened = open_checkpoint(trained.checkpoint, config["train"].device)
    fs = forget_set(opened, {"classes": "3"})
    ckpts, cost = {"original": trained.checkpoint}, {"original": trained.summary}
    for method, step in (("dau", "2/4 forgetting class 3 with DAU"), ("retrain", "3/4 retraining without class 3")):
        sink.emit("log", level="info", message=step)
        done = forget(open_checkpoint(trained.checkpoint, str(opened.device), data=opened.data), fs, method, config, sink)
        ckpts[method], cost[method] = done.checkpoint, done.summary
    ckpts["fake"], cost["fake"] = bias_fake(trained.checkpoint, [3], data=opened.data), {"wall_time_s": 0.0, "image_passes": 0}
    sink.emit("log", level="info", message=f"4/4 verdicts against {references} + {references} reference models "
              "(trained once, kept in the reference bank)")
    reports = {name: audit(open_checkpoint(ckpt, str(opened.device), data=opened.data), fs, sink, references, workers,
                           name=f"{name}.pt") for name, ckpt in ckpts.items()}  # as the demo saves them
    rows = {}
    for name, r in reports.items():
        r = {**r, **{k: cost[name][k] for k in ("wall_time_s", "image_passes")}, "avg_gap": avg_gap(r, reports["retrain"])}
        rows[name] = {"verdict": r["verdict"], "reasons": r["reasons"], **{k: r[k] for k in DEMO_ROW}}
    return Demo(rows, ckpts)
