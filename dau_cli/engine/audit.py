"""The audit: how much of the forget set a model still remembers (docs/audit.md).

From a checkpoint and a forget set D_f it computes the literature's numbers — UA, RA, TA and
MIA-Efficacy (the SVC attack of the Unlearn-Sparse / SalUn line of work, engine/mia.py) — and a
threshold attack per statistic with its ROC, AUC, balanced accuracy and TPR at low FPR
(engine/roc.py), for D_f against D_val and for D_r against D_test. Each set is evaluated in one
batched inference pass; every attack reuses the statistics of `stats.sample_stats`, the same ones
the DAU attacker learns from. The verdict against the reference bank is engine/audit_verdict.py's.

    report = audit(model, data, forget_set_for_audit(ckpt, data, classes="3"))

Measured (benchmarks/audit_time.py, digits cnn of `dau train` defaults, class 3): `audit()` 2.2 s,
nearly all of it the four inference passes, and `dau audit` 10.6 s end to end (mostly starting
Python and importing torch), on 2 CPU cores shared with other jobs (load average ~7).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dau_cli.engine.data import Data
from dau_cli.engine.forget_sets import ForgetSet, retain_indices, select_forget_set
from dau_cli.engine.mia import (MIA_BOOTSTRAP, MIA_INTERVAL, UNSTABLE_WIDTH, bootstrap_weights, interval,
                                mia_by_statistic, subsample)
from dau_cli.engine.roc import attack, auc, null_auc_stderr  # noqa: F401  (engine/unlearn imports auc from here)
from dau_cli.engine.stats import ATTACK_STATISTICS, MEMBER_SIGN, sample_stats
from dau_cli.engine.train import predict
from dau_cli.errors import DauError
from dau_cli.runs import EventSink

HEADLINE_STATISTIC = "confidence"  # MIA-Efficacy's headline figure, as in the literature
AVG_GAP_METRICS = ("ua", "ra", "ta", "mia_efficacy")  # docs/audit.md, "Against a reference"
COMPARED_METRICS = ("ua", "ra", "ta", "val_acc", "forgotten_test_acc", "mia_efficacy")
# An AUC of D_f vs D_val this far below chance means the forget set now looks *less* like training
# data than unseen data does: over-forgetting (docs/audit.md). The bar is lowered further for small
# sets so that chance alone (3 standard errors of a null AUC) does not raise the flag.
OVER_FORGETTING_AUC = 0.4


# ----------------------------------------------------------------------------- the forget set


def recorded_forget(ckpt: dict) -> dict | None:
    """The last lineage entry with op == "forget", or None."""
    return next((e for e in reversed(ckpt.get("lineage", [])) if e.get("op") == "forget"), None)


def forget_set_for_audit(ckpt: dict, data: Data, *, classes: str | list[int] | None = None,
                         random: float | None = None, indices: str | Path | None = None,
                         seed: int = 0) -> ForgetSet:
    """D_f as the flags give it, else as the checkpoint's last `forget` lineage entry records it."""
    if isinstance(classes, (list, tuple)):
        classes = ",".join(str(c) for c in classes)
    if classes is not None or random is not None or indices is not None:
        return select_forget_set(data.labels, data.splits["train"], classes=classes, random=random,
                                 indices=indices, seed=seed, num_classes=data.num_classes,
                                 class_names=data.class_names)
    entry = recorded_forget(ckpt)
    if entry is None:
        raise DauError("this checkpoint records no forget set; choose one with --classes LIST, --random FRAC "
                       "or --indices FILE (e.g. --classes 3)")
    chosen = torch.as_tensor(entry["forget_indices"], dtype=torch.int64).cpu().sort().values
    if not torch.isin(chosen, data.splits["train"].cpu()).all():
        raise DauError("the checkpoint's recorded forget set is not inside its training split (damaged "
                       "checkpoint); give the forget set with --classes, --random or --indices")
    if len(chosen) == 0 or len(chosen) == len(data.splits["train"]):
        raise DauError("the checkpoint's recorded forget set is empty or the whole training split; give the "
                       "forget set with --classes, --random or --indices")
    desc = entry.get("forget", {})
    return ForgetSet(desc.get("mode", "indices"), chosen, classes=tuple(int(c) for c in desc.get("classes") or ()),
                     fraction=desc.get("fraction"), seed=desc.get("seed"))


def check_reference(ckpt: dict, reference: dict, reference_path: str | Path = "the reference") -> None:
    """A reference is only comparable if it saw exactly the same data view (dataset and splits)."""
    a, b = ckpt["data"], reference["data"]
    if a["dataset"] != b["dataset"]:
        raise DauError(f"{reference_path} was trained on '{b['dataset']}', the audited model on '{a['dataset']}'; "
                       f"give a reference retrained on the same data")
    for split in ("train", "val", "test"):
        sa, sb = a["splits"].get(split), b["splits"].get(split)
        if sa is None or sb is None or not torch.equal(torch.as_tensor(sa), torch.as_tensor(sb)):
            raise DauError(f"{reference_path} has a different {split} split than the audited model; retrain the "
                           f"reference from the audited checkpoint's data view (e.g. `dau forget --method retrain`)")
    if reference["num_classes"] != ckpt["num_classes"]:
        raise DauError(f"{reference_path} has {reference['num_classes']} classes, the audited model "
                       f"{ckpt['num_classes']}; give a reference of the same task")


def trained_on(ckpt: dict) -> torch.Tensor:
    """The training-split samples a checkpoint's weights have seen, from its lineage: all of D_train
    after `train`; D_train minus the forget set after a retraining from scratch (`forget` with method
    `retrain`); every other operation starts from weights that saw what they saw, so changes nothing."""
    train = torch.as_tensor(ckpt["data"]["splits"]["train"], dtype=torch.int64)
    seen = train
    for e in ckpt.get("lineage", []):
        if e.get("op") == "forget" and e.get("method") == "retrain" and e.get("forget_indices") is not None:
            seen = retain_indices(train, torch.as_tensor(e["forget_indices"], dtype=torch.int64))
    return seen


def check_reference_unseen(reference: dict, forget: ForgetSet, reference_path: str | Path = "the reference") -> None:
    """A reference stands for retraining without D_f, so one whose weights saw any of D_f is refused."""
    seen = torch.isin(forget.indices.cpu(), trained_on(reference)).sum().item()
    if seen:
        ops = " → ".join(e.get("op", "?") + (f" ({e['method']})" if e.get("method") else "")
                         for e in reference.get("lineage", []))
        raise DauError(f"--reference {reference_path} was trained on {seen} of the {len(forget.indices)} forget samples "
                       f"(lineage: {ops}); give a model retrained without them (`dau forget ORIGINAL --method retrain` "
                       f"with the same forget set) or let the audit train references with --references 16")


def over_forgetting_bar(n_pos: int, n_neg: int) -> float:
    """The AUC below which D_f vs D_val flags over-forgetting: 0.4, or lower for small sets."""
    return min(OVER_FORGETTING_AUC, 0.5 - 3 * null_auc_stderr(n_pos, n_neg))


# ----------------------------------------------------------------------------- the audit


def _evaluate(model: torch.nn.Module, data: Data, idx: torch.Tensor, name: str) -> dict[str, torch.Tensor]:
    """One batched inference pass: every per-sample statistic of a set, on the CPU."""
    if len(idx) == 0:
        return {}
    logits = predict(model, data, idx)
    if not torch.isfinite(logits).all():
        raise DauError(f"the model outputs non-finite logits on {name}; the checkpoint is damaged or diverged")
    labels = data.labels[idx.to(data.labels.device)]
    return {k: v.cpu() for k, v in sample_stats(logits, labels.to(logits.device)).items()}


def _acc(stats: dict[str, torch.Tensor], mask: torch.Tensor | None = None) -> float | None:
    correct = stats["correct"] if mask is None else stats["correct"][mask]
    return 100.0 * correct.mean().item() if len(correct) else None


def _take(stats: dict[str, torch.Tensor], mask: torch.Tensor) -> dict[str, torch.Tensor]:
    return {k: v[mask] for k, v in stats.items()}


class _Progress:
    """The audit's `phase` event, then one `step` per evaluated set, per statistic's MIA-Efficacy
    and for the threshold attacks."""

    def __init__(self, sink: EventSink, total: int) -> None:
        self.sink, self.total, self.step = sink, total, 0
        sink.emit("phase", phase="audit", total=total, epochs=1)

    def __call__(self, *_: Any) -> None:
        self.step += 1
        self.sink.emit("step", phase="audit", step=self.step, total=self.total, epoch=1)


def _attack_sets(forget: ForgetSet, stats: dict[str, dict], labels: torch.Tensor, val_idx: torch.Tensor,
                 test_idx: torch.Tensor) -> tuple[dict, dict, dict, torch.Tensor | None]:
    """(TA's and the MIA's test images, forget_vs_val's negatives, where those come from, the
    mask of the forgotten classes' test images or None).

    Class forgetting: TA and the MIA's non-members are the remaining classes' test images; the
    threshold attack's negatives are every unseen image of the forgotten classes, validation and
    test, queried under their own label (what D_f looks like to a retrained model; docs/audit.md)."""
    v, t = stats["validation set"], stats["test set"]
    if forget.mode != "class":
        return t, v, {"val": len(val_idx), "test": 0}, None
    forgotten = torch.tensor(forget.classes, dtype=torch.int64)
    test_forgotten = torch.isin(labels[test_idx], forgotten)
    val_forgotten = torch.isin(labels[val_idx], forgotten)
    v_attack = {k: torch.cat([v[k][val_forgotten], t[k][test_forgotten]]) for k in v}
    return (_take(t, ~test_forgotten), v_attack, {"val": int(val_forgotten.sum()), "test": int(test_forgotten.sum())},
            test_forgotten)


def _mia_report(r: dict, t_attack: dict, f: dict, n_members: int, bootstrap: int, done: Any) -> dict[str, Any]:
    """MIA-Efficacy (docs/audit.md): members = the first |D_test| samples of D_r. Each statistic's
    SVC is fitted once on the sets themselves (the literature's figure) and `bootstrap` more times
    on resamples of them (its instability). Sets over MIA_MAX_POINTS are fitted on a seeded subsample
    of that many points (engine/mia.py, `subsample`)."""
    members, non_members = subsample(n_members), subsample(len(t_attack["correct"]), seed=1)
    resamples = bootstrap_weights(len(members), len(non_members), bootstrap)
    start = time.perf_counter()
    sets = {s: (r[s][:n_members].numpy()[members], t_attack[s].numpy()[non_members], f[s].numpy())
            for s in ATTACK_STATISTICS}
    by_stat, boot = mia_by_statistic(sets, resamples, done)
    intervals = {s: interval(boot[s]) for s in ATTACK_STATISTICS} if resamples else {}
    return {"mia_efficacy": by_stat[HEADLINE_STATISTIC],
            "mia_efficacy_by_statistic": {s: by_stat[s] for s in ATTACK_STATISTICS},
            "mia_efficacy_interval": intervals,
            "mia_efficacy_unstable": [s for s, (lo, hi) in intervals.items() if hi - lo > UNSTABLE_WIDTH],
            "mia_bootstrap": {"resamples": len(resamples), "level": MIA_INTERVAL,
                              "fitted_members": len(members), "fitted_non_members": len(non_members),
                              "seconds": time.perf_counter() - start}}


def _threshold_attacks(pairs: dict[str, tuple[dict, dict]], sink: EventSink) -> dict[str, dict]:
    """Each statistic's threshold attack on each pair, oriented so that larger = member; one `roc`
    event each."""
    attacks: dict[str, dict] = {}
    for pair, (pos, neg) in pairs.items():
        attacks[pair] = {}
        for s in ATTACK_STATISTICS:
            if len(pos[s]) == 0 or len(neg[s]) == 0:
                continue
            result = attack(MEMBER_SIGN[s] * pos[s], MEMBER_SIGN[s] * neg[s])
            attacks[pair][s] = result
            sink.emit("roc", attack=s, pair=pair, fpr=result["fpr"], tpr=result["tpr"], auc=result["auc"])
    return attacks


def _warnings(report: dict, n_forget: int, n_negatives: int) -> list[str]:
    """Over-forgetting, an unstable MIA-Efficacy, no negatives for forget_vs_val (docs/audit.md)."""
    warnings = []
    if "forget_vs_val" in report["attacks"]:
        bar = over_forgetting_bar(n_forget, n_negatives)
        low = {s: a["auc"] for s, a in report["attacks"]["forget_vs_val"].items() if a["auc"] < bar}
        if low:
            worst = min(low, key=low.get)
            warnings.append(f"over-forgetting: the forget set now looks less like training data than unseen data "
                            f"does ({worst} AUC {low[worst]:.3f} < {bar:.3f}); compare with a retrained model")
    if report["mia_efficacy_unstable"]:
        spans = ", ".join(f"{st} {lo:.0f}-{hi:.0f}" for st in report["mia_efficacy_unstable"]
                          for lo, hi in [report["mia_efficacy_interval"][st]])
        warnings.append(f"unstable MIA-Efficacy: refitting the SVC on resampled members and non-members moves it "
                        f"across most of 0-100 ({spans}); it says little about this model on its own")
    if not n_negatives:
        warnings.append("no validation images to compare the forget set with; the forget_vs_val attacks are skipped")
    return warnings


def audit(model: torch.nn.Module, data: Data, forget: ForgetSet, sink: EventSink | None = None,
          attacks: bool = True, bootstrap: int = MIA_BOOTSTRAP, warnings_in_report: bool = False) -> dict[str, Any]:
    """The full report of docs/audit.md for `model` and `forget` (keys: ua, ra, ta, val_acc,
    forgotten_test_acc (class forgetting only), mia_efficacy, mia_efficacy_by_statistic,
    mia_efficacy_interval, mia_efficacy_unstable, mia_bootstrap, attacks, over_forgetting, warnings,
    forget, sizes).

    Emits a `phase` / `step` progress, one `epoch` event (metrics and forget-vs-val AUC per
    statistic) and one `roc` event per attack to `sink`; the command that owns the run emits the
    `result`. `attacks=False` skips the threshold attacks (UA, RA, TA and MIA-Efficacy remain);
    `bootstrap` is the number of resampled SVC fits per statistic (0: no interval).
    """
    sink = sink or EventSink()
    train_idx, val_idx, test_idx = (data.splits[s].cpu() for s in ("train", "val", "test"))
    forget_idx = forget.indices.cpu()
    retain_idx = retain_indices(train_idx, forget_idx)
    sets = {"forget set": forget_idx, "retain set": retain_idx, "validation set": val_idx, "test set": test_idx}
    progress = _Progress(sink, len(sets) + len(ATTACK_STATISTICS) + (1 if attacks else 0))
    stats = {}
    for name, idx in sets.items():
        stats[name] = _evaluate(model, data, idx, name)
        progress()
    f, r, v, t = (stats[k] for k in sets)
    t_attack, v_attack, negatives_from, test_forgotten = _attack_sets(forget, stats, data.labels.cpu(), val_idx, test_idx)
    if len(t_attack["correct"]) == 0:
        raise DauError("no test images remain outside the forgotten classes; forget fewer classes")

    report: dict[str, Any] = {"ua": 100.0 - _acc(f), "ra": _acc(r), "ta": _acc(t_attack), "val_acc": _acc(v)}
    if test_forgotten is not None:
        report["forgotten_test_acc"] = _acc(t, test_forgotten)
    n_members = min(len(retain_idx), len(t_attack["correct"]))
    report.update(_mia_report(r, t_attack, f, n_members, bootstrap, progress))
    report["attacks"] = {}
    if attacks:
        report["attacks"] = _threshold_attacks({"forget_vs_val": (f, v_attack), "retain_vs_test": (r, t_attack)}, sink)
        progress()
    warnings = _warnings(report, len(f["correct"]), len(v_attack["correct"]))
    report["over_forgetting"] = any(w.startswith("over-forgetting") for w in warnings)
    report["warnings"] = warnings
    for w in warnings:  # `in_report`: the caller prints them with the report, after the verdict
        sink.emit("log", level="warning", message=w, **({"in_report": True} if warnings_in_report else {}))
    report["forget"] = forget.describe()
    report["sizes"] = {"forget": len(forget_idx), "retain": len(retain_idx), "val": len(val_idx),
                       "test": len(test_idx), "ta_test": len(t_attack["correct"]),
                       "attack_val": len(v_attack["correct"]), "attack_negatives_from": negatives_from,
                       "mia_members": n_members, "mia_non_members": len(t_attack["correct"])}
    metrics = {k: report[k] for k in COMPARED_METRICS if report.get(k) is not None}
    metrics["forget_acc"] = 100.0 - report["ua"]
    sink.emit("epoch", phase="audit", epoch=1, epochs=1, metrics=metrics,
              auc={s: a["auc"] for s, a in report["attacks"].get("forget_vs_val", {}).items()})
    return report


# ----------------------------------------------------------------------------- against a reference


def avg_gap(report: dict, reference: dict) -> float:
    """Avg. Gap = mean |Δ| over UA, RA, TA and MIA-Efficacy (docs/audit.md)."""
    return float(np.mean([abs(report[m] - reference[m]) for m in AVG_GAP_METRICS]))


def compare_reports(report: dict, reference: dict) -> dict[str, Any]:
    """{metric: {"model", "reference", "diff"}} for every headline metric both reports have, the
    MIA-Efficacy of each statistic (as `mia_efficacy.<statistic>`), and "avg_gap". diff = model − reference."""
    out: dict[str, Any] = {}
    values = [(m, report.get(m), reference.get(m)) for m in COMPARED_METRICS]
    values += [(f"mia_efficacy.{s}", report["mia_efficacy_by_statistic"].get(s),
                reference["mia_efficacy_by_statistic"].get(s)) for s in ATTACK_STATISTICS]
    for name, a, b in values:
        if a is not None and b is not None:
            out[name] = {"model": a, "reference": b, "diff": a - b}
    out["avg_gap"] = avg_gap(report, reference)
    return out
