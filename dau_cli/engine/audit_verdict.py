"""The audit's verdict against the reference bank (docs/audit.md, "The verdict").

This is where the work happens: the bank of the checkpoint's data view and recipe is topped up
(engine/bank.py trains what is missing), the references' statistics on the forget set are read,
the audited model's are computed, and the tamper tests are run on it and on the references. Only
then does the pure `verdict.judge` decide.

    result = audit_verdict(ckpt, model, data, forget, references=16, workers=2, sink=run)
"""

from __future__ import annotations

import functools
from typing import Any

import torch

from dau_cli.engine.data import Data
from dau_cli.engine.forget_sets import ForgetSet
from dau_cli.engine.verdict import TAMPER_SETTINGS, References, Tampering, judge, per_sample, summary_of
from dau_cli.runs import EventSink

NO_RECIPE = ("a recipe is needed to train reference models: this model was imported without --recipe, so dau does "
             "not know how it was trained; import it again with --recipe NAME|FILE, then audit with --references 16")


def no_reference(ckpt: dict, bank_root: Any) -> dict:
    """The verdict when the bank holds no reference for this data view, recipe and forget set."""
    from dau_cli.engine.checkpoint import CheckpointView

    train = CheckpointView(ckpt).train_entry or {}
    seconds = float(train.get("wall_time_s") or 0) * 32
    took = f"{seconds / 60:.0f} min" if seconds >= 120 else f"{seconds:.0f} s"
    cost = f" (32 trainings like the original's, about {took} on one worker)" if seconds else ""
    how = (f"no reference models for this data view, recipe and forget set yet: rerun with --references 16 "
           f"to train 16 models without the forget set and 16 with it{cost}; add --workers N to run N at once")
    return {"verdict": "no reference", "reasons": [how], "tests": {}, "references": {"out": 0, "in": 0, "bank": str(bank_root)}}


def describe(ckpt: dict) -> str:
    """A few words for an audited model without a file (one made in memory: the demo's, a compare
    cell's): what last made its weights, e.g. `cnn after dau`, `cnn pruned by omp`, `cnn trained on digits`."""
    from dau_cli.engine.checkpoint import CheckpointView

    view = CheckpointView(ckpt)
    arch = str(ckpt.get("arch") or "model")
    last = view.lineage[-1] if view.lineage else {}
    op, method = last.get("op"), last.get("method")
    if op == "forget" and method:
        return f"{arch} after {method}"
    if op == "prune" and method:
        return f"{arch} pruned by {method}"
    dataset = str(ckpt.get("data", {}).get("dataset", "?")).removeprefix("folder:").rstrip("/").rpartition("/")[2]
    return f"{arch} {'imported for' if op == 'import' else 'trained on'} {dataset}"


def audited_statistics(model: torch.nn.Module, data: Data, idx: torch.Tensor) -> torch.Tensor:
    """The audited model's logit-scaled confidence on the samples `idx` (what the references hold)."""
    from dau_cli.engine.stats import sample_stats
    from dau_cli.engine.train import predict

    labels = data.labels[idx.to(data.labels.device)]
    return sample_stats(predict(model, data, idx), labels.to(data.images.device))["logit_scaled_confidence"]


def audit_verdict(ckpt: dict, model: torch.nn.Module, data: Data, forget: ForgetSet, references: int = 0,
                  workers: int = 1, sink: EventSink | None = None, device: str = "cpu", seed: int = 0,
                  ray: str | None = None, samples: bool = False, name: str = "") -> dict[str, Any]:
    """The verdict for `model` on `forget`, against the bank of the checkpoint's data view and recipe
    (topped up to `references` OUT and IN references first, if given; 0 uses what it holds, all of
    it). Emits a `verdict` event naming the model: `name` (its file name, where it has one), else
    `describe(ckpt)`.

    Returns {"verdict", "reasons", "tests": {"output", "lira", "relearn", "probe"}, "references"},
    and with `samples` (for `--report`'s pictures) "samples": verdict.per_sample's arrays.
    """
    from dau_cli.engine.bank import TAMPER_REFERENCES, bank_for
    from dau_cli.engine.references import run_tamper_tests
    from dau_cli.engine.checkpoint import CheckpointView, needs_recipe

    sink = sink or EventSink()
    given = functools.partial(_given, sink, name or describe(ckpt))
    view = CheckpointView(ckpt)
    if view.recipe is None:  # an import without --recipe: no reference can be trained like it
        if references:
            needs_recipe(ckpt, "--references")
        return given({"verdict": "no reference", "tests": {}, "references": {"out": 0, "in": 0},
                      "reasons": [NO_RECIPE]})
    bank = bank_for(ckpt, forget)
    bank.sink = sink
    bank.ensure(references, workers, sink, device, ray)  # a failed reference is a warning; the rest are kept
    idx = forget.indices.cpu()
    limit = references or None
    out_seeds, out = bank.statistics("out", idx, limit=limit)
    in_seeds, inn = bank.statistics("in", idx, limit=limit)
    if len(out_seeds) == 0:
        return given(no_reference(ckpt, bank.root))
    audited = audited_statistics(model, data, idx)
    mine = run_tamper_tests(model, data, idx, bank.spec["recipe"], TAMPER_SETTINGS,
                            masks=view.masks)  # a pruned model relearns pruned
    theirs = bank.tamper_results(TAMPER_SETTINGS, workers, sink, device, ray, limit=limit)  # the same K as above
    refs = References(out.double().numpy(), inn.double().numpy())
    result = judge(audited.cpu().double().numpy(), refs, Tampering(mine, theirs), seed)  # MPS has no float64
    if samples:
        result["samples"] = per_sample(audited.cpu().double().numpy(), refs)
    result["references"] = {"out": len(out_seeds), "in": len(in_seeds), "tamper": len(theirs),
                            "tamper_limit": TAMPER_REFERENCES, "bank": str(bank.root)}
    return given(result)


def _given(sink: EventSink, model: str, result: dict) -> dict:
    """Emit the `verdict` event (the model's name, the tests without their per-sample arrays) and
    return `result`."""
    sink.emit("verdict", model=model, verdict=result["verdict"], reasons=result["reasons"],
              tests=summary_of(result["tests"]))
    return result
