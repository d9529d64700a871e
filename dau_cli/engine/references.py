"""One reference model of the bank (engine/bank.py): training and measuring it, its relearning and
probe tests (each a job function of engine/jobs.py, named by the bank's jobs), the digests that
name bank folders and files, and the checks every stored file passes before a test reads it."""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

import torch

from dau_cli.runs import EventSink

STATISTICS = ("logit_scaled_confidence", "confidence", "loss", "correct")  # stored per sample


def digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def content_digest(result: dict) -> str:
    """A digest of what a bank file says: its statistics (names, dtypes, shapes, bytes), or its
    relearning and probe results."""
    h = hashlib.sha256()
    if "stats" in result:
        for name in sorted(result["stats"]):
            t = result["stats"][name]
            h.update(f"{name}:{t.dtype}:{tuple(t.shape)}:".encode())
            h.update(t.contiguous().numpy().tobytes())
    else:
        h.update(json.dumps({k: result.get(k) for k in ("relearn", "probe")}, sort_keys=True).encode())
    return h.hexdigest()[:16]


def indices_digest(idx: Any) -> str:
    return hashlib.sha256(torch.as_tensor(idx, dtype=torch.int64).sort().values.numpy().tobytes()).hexdigest()[:16]


def masks_digest(packed: dict[str, dict]) -> str:
    """A digest of packed masks (checkpoint.pack_masks): names, shapes and bits."""
    h = hashlib.sha256()
    for name in sorted(packed):
        h.update(json.dumps([name, list(packed[name]["shape"])]).encode())
        h.update(torch.as_tensor(packed[name]["bits"], dtype=torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


def _load_masks(path: str | None) -> dict[str, torch.Tensor] | None:
    """The boolean masks stored at `path` (a bank's masks.pt), or None for a dense bank."""
    if not path:
        return None
    from dau_cli.engine.checkpoint import unpack_masks

    return unpack_masks(torch.load(path, map_location="cpu", weights_only=True)) or None


# ----------------------------------------------------------------------------- the job functions


def train_reference(*, dataset: str, root: str, splits: dict[str, list[int]], arch: str, arch_args: dict,
                    recipe: dict, seed: int, exclude: list[int], keep_weights: bool, device: str = "cpu",
                    masks: str | None = None, options: dict | None = None, fingerprint: str | None = None,
                    bank: dict | None = None) -> dict:
    """One reference model: trained with `recipe` and `seed` on D_train minus `exclude` (from scratch
    under the pruning masks stored at `masks`, if given, as `retrain` does), then one
    inference pass over every image. Returns {"seed", "trained_on", "stats": {statistic: (N,)
    float32 by dataset position}, "wall_time_s", "image_passes", "bank" (the bank it belongs to),
    "digest" (content_digest)} and "state_dict" if asked."""
    from dataclasses import replace

    from dau_cli.config import TrainConfig
    from dau_cli.engine.data import load_data
    from dau_cli.engine.models import build_model
    from dau_cli.engine.stats import sample_stats
    from dau_cli.engine.train import fit, pick_device, predict, prepare

    dev = pick_device(device)
    data = load_data(dataset, root, splits={k: torch.as_tensor(v, dtype=torch.int64) for k, v in splits.items()},
                     options=options, expect=fingerprint).to(dev)
    train_idx = data.splits["train"]
    if exclude:
        train_idx = train_idx[~torch.isin(train_idx, torch.as_tensor(exclude, dtype=torch.int64))]
    cfg = replace(TrainConfig(**recipe), seed=seed, device=str(dev))
    torch.manual_seed(seed)
    model = prepare(build_model(arch, data.num_classes, data.input_shape, **arch_args), dev)
    result = fit(model, data, train_idx, cfg, EventSink(), phase="reference", masks=_load_masks(masks))
    everything = torch.arange(len(data.labels))
    stats = sample_stats(predict(model, data, everything), data.labels.to(dev))
    out = {"seed": seed, "trained_on": len(train_idx), "wall_time_s": result["wall_time_s"],
           "image_passes": result["image_passes"],
           "stats": {s: stats[s].float().cpu().contiguous() for s in STATISTICS}, "bank": bank}
    out["digest"] = content_digest(out)
    if keep_weights:
        out["state_dict"] = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    return out


def tamper_reference(*, reference: str, dataset: str, root: str, splits: dict[str, list[int]], arch: str,
                     arch_args: dict, recipe: dict, forget: list[int], settings: dict, device: str = "cpu",
                     masks: str | None = None, options: dict | None = None, fingerprint: str | None = None,
                     bank: dict | None = None) -> dict:
    """The relearning and probe tests of a stored OUT reference (its weights must be kept), relearning
    under the bank's pruning masks if it has them."""
    from dau_cli.engine.data import load_data
    from dau_cli.engine.jobs import load_result
    from dau_cli.engine.models import build_model
    from dau_cli.engine.train import pick_device, prepare

    dev = pick_device(device)
    data = load_data(dataset, root, splits={k: torch.as_tensor(v, dtype=torch.int64) for k, v in splits.items()},
                     options=options, expect=fingerprint).to(dev)
    stored = load_result(reference)
    model = prepare(build_model(arch, data.num_classes, data.input_shape, **arch_args), dev)
    model.load_state_dict(stored["state_dict"])
    result = run_tamper_tests(model, data, torch.as_tensor(forget, dtype=torch.int64), recipe, settings,
                              masks=_load_masks(masks))
    result["bank"] = bank
    result["digest"] = content_digest(result)
    return result


def run_tamper_tests(model: torch.nn.Module, data, forget_idx: torch.Tensor, recipe: dict, settings: dict,
                     masks: dict[str, torch.Tensor] | None = None) -> dict:
    """{"relearn": tamper.relearn(...), "probe": tamper.probe(...)}; `model` is left unchanged.
    Relearning holds the pruning `masks` (a pruned model is fine-tuned as a pruned model)."""
    from dau_cli.config import TrainConfig
    from dau_cli.engine import tamper
    from dau_cli.engine.forget_sets import retain_indices

    forget_idx = forget_idx.cpu()
    retain_idx = retain_indices(data.splits["train"].cpu(), forget_idx)
    cfg = TrainConfig(**recipe)
    r = settings["relearn"]
    relearned = tamper.relearn(model, data, forget_idx, retain_idx, cfg, steps=tuple(r["steps"]),
                               n_forget=r["n_forget"], lr=r["lr"], seed=r["seed"], masks=masks)
    probed = tamper.probe(model, data, forget_idx, data.splits["val"].cpu(), seed=settings["probe"]["seed"])
    return {"relearn": _plain(relearned), "probe": _plain(probed)}


def _plain(obj: Any) -> Any:
    """Tensors and numpy values as Python numbers and lists (job outputs load with weights_only)."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return obj


def bank_problem(result: dict, bank: dict) -> str | None:
    """A file that names another bank (copied between banks) or no bank (made by an older dau)."""
    if result.get("bank") != bank:
        return ("it names no bank (made by an older dau)" if result.get("bank") is None else
                f"it belongs to another bank ({_shown(result.get('bank'))}, not {_shown(bank)})")
    return None


def _shown(bank: Any) -> str:
    return "/".join(str(v) for v in bank.values() if v) if isinstance(bank, dict) else repr(bank)[:40]


def reference_problem(result: Any, seed: int, trained_on: int, size: int, bank: dict) -> str | None:
    """What makes a stored reference unusable, or None."""
    if not isinstance(result, dict) or not isinstance(result.get("stats"), dict):
        return "it holds no reference statistics"
    if (problem := bank_problem(result, bank)) is not None:
        return problem
    if result.get("seed") != seed:
        return f"it was made for seed {result.get('seed')!r}, not {seed}"
    if result.get("trained_on") != trained_on:
        return f"it was trained on {result.get('trained_on')!r} images, this bank's references on {trained_on}"
    for name in STATISTICS:
        t = result["stats"].get(name)
        if not (isinstance(t, torch.Tensor) and t.dim() == 1 and t.is_floating_point() and len(t) >= size):
            return f"its {name} is not a vector over the {size} images"
        if not bool(torch.isfinite(t).all()):
            return f"its {name} holds NaN or infinite values"
    if result.get("digest") != content_digest(result):
        return "its contents do not match their digest (changed after it was written)"
    return None


def tamper_problem(result: Any, bank: dict) -> str | None:
    """What makes a stored tamper-test result unusable, or None."""
    def finite(values: Any) -> bool:
        return isinstance(values, list) and all(isinstance(v, (int, float)) and math.isfinite(v) for v in values)

    if not (isinstance(result, dict) and isinstance(result.get("relearn"), dict) and isinstance(result.get("probe"), dict)):
        return "it holds no relearning and probe results"
    if (problem := bank_problem(result, bank)) is not None:
        return problem
    if not finite(result["relearn"].get("forget_acc")):
        return "its relearning accuracies are not finite numbers"
    if not any(isinstance(result["probe"].get(k), (int, float)) and math.isfinite(result["probe"][k])
               for k in ("forget_acc", "acc", "accuracy")):
        return "its probe accuracy is not a finite number"
    if result.get("digest") != content_digest(result):
        return "its contents do not match their digest (changed after it was written)"
    return None
