"""`dau forget` as one function: checkpoint + forget set + method in, unlearned checkpoint + report out.

The wall time is that of the unlearning step alone: data loading before it and the per-epoch
and final evaluations are excluded (docs/method.md, "Cost accounting"), and so is one-off work that later
runs from the same checkpoint reuse (the authors' attacker pre-training), reported as `pretrain_s`.
"""

from __future__ import annotations

import dataclasses
import time

import torch

from dau_cli.config import TrainConfig, resolve
from dau_cli.engine.checkpoint import CheckpointView, derive, lineage_entry, needs_recipe
from dau_cli.engine.data import Data
from dau_cli.engine.forget_sets import ForgetSet, retain_indices
from dau_cli.engine.train import synchronize, warm_up_imports
from dau_cli.runs import EventSink


def original_train_config(ckpt: dict) -> TrainConfig:
    """The recipe the original model was trained with (dau's defaults for a model imported without
    one: the batch size and augmentation that methods other than retrain borrow)."""
    return resolve(base=CheckpointView(ckpt).recipe or {})["train"]


def unlearn(ckpt: dict, model: torch.nn.Module, data: Data, forget: ForgetSet, method: str, config: dict,
            sink: EventSink, seed: int = 0) -> dict:
    """Run one method on `model` in place. Returns {wall_time_s, image_passes, device}."""
    from dau_cli.engine.unlearn import METHODS, Task, check_method

    check_method(method)
    if method == "retrain":
        needs_recipe(ckpt, "--method retrain")
    task = Task(model=model, data=data, forget=forget, retain_idx=retain_indices(data.splits["train"], forget.indices),
                train_cfg=original_train_config(ckpt), arch=ckpt["arch"], arch_args=ckpt["arch_args"], sink=sink,
                seed=seed, masks=CheckpointView(ckpt).masks)
    device = data.images.device
    warm_up_imports()
    start = time.perf_counter()
    passes = METHODS[method](task, config[method])
    synchronize(device)
    wall = time.perf_counter() - start - task.eval_seconds - task.pretrain_seconds
    cost = {"wall_time_s": wall, "image_passes": int(passes), "device": str(device)}
    if task.pretrain_seconds:  # one-off, cached per checkpoint: reported apart from the run's own time
        cost["pretrain_s"] = task.pretrain_seconds
    return cost


HEADLINE = ("ua", "ra", "ta", "val_acc", "mia_efficacy")  # what `forget` prints for both models


def headline_report(model: torch.nn.Module, data: Data, forget: ForgetSet) -> dict:
    """The audit's report of `model` on `forget` as `forget` prints it (HEADLINE and the per-statistic
    MIA-Efficacy): without the threshold attacks and MIA-Efficacy's bootstrap interval, which
    `dau audit` gives."""
    from dau_cli.engine.audit import audit

    return audit(model, data, forget, sink=None, attacks=False, bootstrap=0)


def forget_checkpoint(ckpt: dict, model: torch.nn.Module, data: Data, forget: ForgetSet, method: str,
                      config: dict, sink: EventSink, seed: int = 0) -> tuple[dict, dict]:
    """Unlearn, audit, and build the new checkpoint (with its lineage entry). Returns (ckpt, summary)."""
    cost = unlearn(ckpt, model, data, forget, method, config, sink, seed)
    report = headline_report(model, data, forget)
    headline = {k: report[k] for k in HEADLINE}
    entry = lineage_entry("forget", dataclasses.asdict(config[method]), cost["wall_time_s"], cost["image_passes"],
                          cost["device"], method=method, seed=seed, forget=forget.describe(),
                          forget_indices=forget.indices.clone())
    new = derive(ckpt, model, entry, metrics=headline)
    summary = {"method": method, **cost, **headline, "forget": forget.describe(),
               "mia_efficacy_by_statistic": report.get("mia_efficacy_by_statistic", {})}
    if "forgotten_test_acc" in report:
        summary["forgotten_test_acc"] = report["forgotten_test_acc"]
    sink.emit("result", metrics={k: v for k, v in summary.items() if isinstance(v, (int, float))})
    return new, summary
