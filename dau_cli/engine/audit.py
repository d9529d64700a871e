"""The audit: how much of the forget set a model still remembers (docs/audit.md).

From a checkpoint and a forget set D_f it computes the literature's numbers — UA, RA, TA and
MIA-Efficacy (the SVC attack of the Unlearn-Sparse / SalUn line of work) — and a threshold attack
per statistic with its ROC, AUC, balanced accuracy and TPR at low FPR, for D_f against D_val and for
D_r against D_test. Each set is evaluated in one batched inference pass; every attack reuses the
statistics of `stats.sample_stats`, the same ones the DAU attacker learns from.

    report = audit(model, data, forget_set_for_audit(ckpt, data, classes="3"))

Measured (benchmarks/audit_time.py, digits cnn of `dau train` defaults, class 3): `audit()` 2.2 s,
nearly all of it the four inference passes, and `dau audit` 10.6 s end to end (mostly starting
Python and importing torch), on 2 CPU cores shared with other jobs (load average ~7).
"""

from __future__ import annotations

import math
import os
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dau_cli.engine.data import Data
from dau_cli.engine.forget_sets import ForgetSet, retain_indices, select_forget_set
from dau_cli.engine.stats import ATTACK_STATISTICS, MEMBER_SIGN, sample_stats
from dau_cli.engine.train import predict
from dau_cli.errors import DauError
from dau_cli.runs import EventSink

HEADLINE_STATISTIC = "confidence"  # MIA-Efficacy's headline figure, as in the literature
LOW_FPRS = (0.001, 0.01, 0.1)  # TPR is reported at these false-positive rates
AVG_GAP_METRICS = ("ua", "ra", "ta", "mia_efficacy")  # docs/audit.md, "Against a reference"
COMPARED_METRICS = ("ua", "ra", "ta", "val_acc", "forgotten_test_acc", "mia_efficacy")
# An AUC of D_f vs D_val this far below chance means the forget set now looks *less* like training
# data than unseen data does: over-forgetting (docs/audit.md). The bar is lowered further for small
# sets so that chance alone (3 standard errors of a null AUC) does not raise the flag.
OVER_FORGETTING_AUC = 0.4
MIA_SVC = {"C": 3, "kernel": "rbf", "gamma": "auto"}  # the literature's attacker, unchanged
# MIA-Efficacy's instability: the SVC is refitted on this many bootstrap resamples of its members and
# non-members, and the central 95 % of the refitted figures is reported. A figure whose interval is
# wider than UNSTABLE_WIDTH points (most of 0-100) depends on which points the SVC happened to see.
MIA_BOOTSTRAP = 20
MIA_INTERVAL = 0.95
UNSTABLE_WIDTH = 50.0


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


# ----------------------------------------------------------------------------- threshold attacks


def auc(pos: torch.Tensor, neg: torch.Tensor) -> float:
    """Area under the ROC of a threshold attack where a larger score means "positive" (member).

    The Mann–Whitney statistic: P(score of a positive > score of a negative), ties counting 1/2,
    from average ranks. NaN if either set is empty.
    """
    pos, neg = torch.as_tensor(pos).double().flatten().cpu(), torch.as_tensor(neg).double().flatten().cpu()
    n_pos, n_neg = len(pos), len(neg)
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    _, inverse, counts = torch.unique(torch.cat([pos, neg]), return_inverse=True, return_counts=True)
    ends = counts.cumsum(0).double()
    avg_rank = ends - (counts.double() - 1) / 2  # 1-based rank, ties share their mean rank
    rank_sum = avg_rank[inverse[:n_pos]].sum().item()
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def _full_roc(pos: torch.Tensor, neg: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Every ROC point, one per distinct threshold, from (0, 0) to (1, 1); fpr and tpr ascending."""
    pos, neg = torch.as_tensor(pos).double().flatten().cpu(), torch.as_tensor(neg).double().flatten().cpu()
    scores = torch.cat([pos, neg])
    is_pos = torch.cat([torch.ones(len(pos)), torch.zeros(len(neg))]).double()
    order = scores.argsort(descending=True, stable=True)
    scores, is_pos = scores[order], is_pos[order]
    tp, fp = is_pos.cumsum(0), (1 - is_pos).cumsum(0)
    last_of_tie = torch.ones(len(scores), dtype=torch.bool)  # a threshold sits after each run of ties
    last_of_tie[:-1] = scores[1:] != scores[:-1]
    tpr = np.r_[0.0, (tp[last_of_tie] / max(len(pos), 1)).numpy()]
    fpr = np.r_[0.0, (fp[last_of_tie] / max(len(neg), 1)).numpy()]
    return fpr, tpr


def _downsample(fpr: np.ndarray, tpr: np.ndarray, max_points: int) -> tuple[np.ndarray, np.ndarray]:
    """At most `max_points` of the ROC's own points, chosen on a log-spaced FPR grid (so the low-FPR
    region a log-log plot shows is kept) merged with a linear one (so the curve's body is kept)."""
    if len(fpr) <= max_points:
        return fpr, tpr
    budget = max_points - 2  # the two ends are always kept
    smallest = max(fpr[fpr > 0].min(), 1e-6)
    grid = np.r_[np.geomspace(smallest, 1.0, budget - budget // 3), np.linspace(0, 1, budget // 3)]
    keep = np.searchsorted(fpr, grid, side="right") - 1  # the last point with FPR <= g: its best TPR
    keep = np.unique(np.r_[0, keep, len(fpr) - 1])
    return fpr[keep], tpr[keep]


def roc(pos: torch.Tensor, neg: torch.Tensor, max_points: int = 200) -> dict[str, Any]:
    """{"fpr": [...], "tpr": [...], "auc": float}: the ROC, downsampled to ≤ max_points for plots."""
    fpr, tpr = _downsample(*_full_roc(pos, neg), max_points)
    return {"fpr": fpr.tolist(), "tpr": tpr.tolist(), "auc": auc(pos, neg)}


def attack(pos: torch.Tensor, neg: torch.Tensor, max_points: int = 200) -> dict[str, Any]:
    """A threshold attack's full result: AUC, best balanced accuracy, TPR at low FPR, ROC points.

    TPR at FPR f is the best TPR of any threshold whose FPR is at most f, from the full ROC. With
    fewer than 1/f negatives that is the TPR at zero false positives (docs/audit.md).
    """
    fpr, tpr = _full_roc(pos, neg)
    kept_fpr, kept_tpr = _downsample(fpr, tpr, max_points)
    return {
        "auc": auc(pos, neg),
        "balanced_accuracy": float(((1 + tpr - fpr) / 2).max()),
        "tpr_at_fpr": {str(f): float(tpr[fpr <= f + 1e-12].max()) for f in LOW_FPRS},
        "fpr": kept_fpr.tolist(),
        "tpr": kept_tpr.tolist(),
    }


def null_auc_stderr(n_pos: int, n_neg: int) -> float:
    """Standard error of the AUC of two samples from one distribution (Mann–Whitney null)."""
    return math.sqrt((n_pos + n_neg + 1) / (12 * n_pos * n_neg)) if n_pos and n_neg else float("nan")


def over_forgetting_bar(n_pos: int, n_neg: int) -> float:
    """The AUC below which D_f vs D_val flags over-forgetting: 0.4, or lower for small sets."""
    return min(OVER_FORGETTING_AUC, 0.5 - 3 * null_auc_stderr(n_pos, n_neg))


# ----------------------------------------------------------------------------- MIA-Efficacy


def mia_efficacy(members: np.ndarray, non_members: np.ndarray, forget: np.ndarray,
                 weights: tuple[np.ndarray, np.ndarray] | None = None) -> float:
    """The literature's SVC attack on one statistic: fit members (1) vs non-members (0), then
    100 × the fraction of the forget set predicted non-member.

    `weights` (per member, per non-member) count how often each point is drawn (a bootstrap
    resample): a point of weight w is fitted as w copies of it (libsvm's per-sample C), and points
    of weight 0 are left out, so a resample costs a fit on its ~63 % distinct points.
    """
    from sklearn.svm import SVC

    x = np.nan_to_num(np.r_[members, non_members].astype(np.float64))[:, None]
    y = np.r_[np.ones(len(members)), np.zeros(len(non_members))]
    w = None
    if weights is not None:
        w = np.r_[weights[0], weights[1]].astype(np.float64)
        x, y, w = x[w > 0], y[w > 0], w[w > 0]
    clf = SVC(**MIA_SVC).fit(x, y, sample_weight=w)
    predicted = clf.predict(np.nan_to_num(forget.astype(np.float64))[:, None])
    return 100.0 * float((predicted == 0).mean())


def bootstrap_weights(n_members: int, n_non_members: int, resamples: int = MIA_BOOTSTRAP,
                      seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """`resamples` bootstrap draws of the members and, separately, the non-members, as counts per
    point (each set resampled to its own size, with replacement). Seeded, so a re-audit repeats them."""
    rng = np.random.default_rng(seed)
    return [(np.bincount(rng.integers(0, n_members, n_members), minlength=n_members),
             np.bincount(rng.integers(0, n_non_members, n_non_members), minlength=n_non_members))
            for _ in range(resamples)]


def interval(values: list[float], level: float = MIA_INTERVAL) -> list[float]:
    """The central `level` of `values` (percentiles, linearly interpolated): [low, high]."""
    tail = 100 * (1 - level) / 2
    return [float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail))]


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
    labels = data.labels.cpu()
    sets = {"forget set": forget_idx, "retain set": retain_idx, "validation set": val_idx, "test set": test_idx}
    total = len(sets) + len(ATTACK_STATISTICS) + (1 if attacks else 0)
    sink.emit("phase", phase="audit", total=total, epochs=1)
    step = 0

    def progress() -> None:
        nonlocal step
        step += 1
        sink.emit("step", phase="audit", step=step, total=total, epoch=1)

    stats = {}
    for name, idx in sets.items():
        stats[name] = _evaluate(model, data, idx, name)
        progress()
    f, r, v, t = (stats[k] for k in sets)

    # Class forgetting: TA and the MIA's non-members are the remaining classes' test images; the
    # threshold attack's negatives are every unseen image of the forgotten classes, validation and
    # test, queried under their own label (what D_f looks like to a retrained model; docs/audit.md).
    class_mode = forget.mode == "class"
    negatives_from = {"val": len(val_idx), "test": 0}
    if class_mode:
        forgotten = torch.tensor(forget.classes, dtype=torch.int64)
        test_forgotten = torch.isin(labels[test_idx], forgotten)
        val_forgotten = torch.isin(labels[val_idx], forgotten)
        t_attack = _take(t, ~test_forgotten)
        v_attack = {k: torch.cat([v[k][val_forgotten], t[k][test_forgotten]]) for k in v}
        negatives_from = {"val": int(val_forgotten.sum()), "test": int(test_forgotten.sum())}
    else:
        t_attack, v_attack = t, v
    if len(t_attack["correct"]) == 0:
        raise DauError("no test images remain outside the forgotten classes; forget fewer classes")

    report: dict[str, Any] = {
        "ua": 100.0 - _acc(f),
        "ra": _acc(r),
        "ta": _acc(t_attack),
        "val_acc": _acc(v),
    }
    if class_mode:
        report["forgotten_test_acc"] = _acc(t, test_forgotten)

    # MIA-Efficacy (docs/audit.md): members = the first |D_test| samples of D_r. Each statistic's
    # SVC is fitted once on the sets themselves (the literature's figure) and `bootstrap` more times
    # on resamples of them (its instability), all in one thread pool.
    n_members = min(len(retain_idx), len(t_attack["correct"]))
    n_non = len(t_attack["correct"])
    resamples = bootstrap_weights(n_members, n_non, bootstrap)
    by_stat: dict[str, float] = {}
    boot: dict[str, list[float]] = {s: [] for s in ATTACK_STATISTICS}
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        jobs = {}
        for s in ATTACK_STATISTICS:
            args = (r[s][:n_members].numpy(), t_attack[s].numpy(), f[s].numpy())
            jobs[pool.submit(mia_efficacy, *args)] = (s, None)
            for w in resamples:
                jobs[pool.submit(mia_efficacy, *args, weights=w)] = (s, w)
        left = {s: 1 + len(resamples) for s in ATTACK_STATISTICS}
        for job in as_completed(jobs):
            s, w = jobs[job]
            if w is None:
                by_stat[s] = job.result()
            else:
                boot[s].append(job.result())
            left[s] -= 1
            if left[s] == 0:
                progress()
    report["mia_efficacy"] = by_stat[HEADLINE_STATISTIC]
    report["mia_efficacy_by_statistic"] = {s: by_stat[s] for s in ATTACK_STATISTICS}
    report["mia_efficacy_interval"] = {s: interval(boot[s]) for s in ATTACK_STATISTICS} if resamples else {}
    report["mia_efficacy_unstable"] = [s for s, (lo, hi) in report["mia_efficacy_interval"].items()
                                       if hi - lo > UNSTABLE_WIDTH]
    report["mia_bootstrap"] = {"resamples": len(resamples), "level": MIA_INTERVAL,
                               "seconds": time.perf_counter() - start}

    # Threshold attacks: each statistic oriented so that larger = member.
    pairs = {"forget_vs_val": (f, v_attack), "retain_vs_test": (r, t_attack)}
    report["attacks"] = {}
    warnings = []
    if attacks:
        for pair, (pos, neg) in pairs.items():
            report["attacks"][pair] = {}
            for s in ATTACK_STATISTICS:
                if len(pos[s]) == 0 or len(neg[s]) == 0:
                    continue
                result = attack(MEMBER_SIGN[s] * pos[s], MEMBER_SIGN[s] * neg[s])
                report["attacks"][pair][s] = result
                sink.emit("roc", attack=s, pair=pair, fpr=result["fpr"], tpr=result["tpr"], auc=result["auc"])
        progress()
        bar = over_forgetting_bar(len(f["correct"]), len(v_attack["correct"]))
        low = {s: a["auc"] for s, a in report["attacks"].get("forget_vs_val", {}).items() if a["auc"] < bar}
        if low:
            worst = min(low, key=low.get)
            warnings.append(f"over-forgetting: the forget set now looks less like training data than unseen data "
                            f"does ({worst} AUC {low[worst]:.3f} < {bar:.3f}); compare with a retrained model")
    if report["mia_efficacy_unstable"]:
        spans = ", ".join(f"{st} {lo:.0f}-{hi:.0f}" for st in report["mia_efficacy_unstable"]
                          for lo, hi in [report["mia_efficacy_interval"][st]])
        warnings.append(f"unstable MIA-Efficacy: refitting the SVC on resampled members and non-members moves it "
                        f"across most of 0-100 ({spans}); it says little about this model on its own")
    if not len(v_attack["correct"]):
        warnings.append("no validation images to compare the forget set with; the forget_vs_val attacks are skipped")
    report["over_forgetting"] = any(w.startswith("over-forgetting") for w in warnings)
    report["warnings"] = warnings
    for w in warnings:  # `in_report`: the caller prints them with the report, after the verdict
        sink.emit("log", level="warning", message=w, **({"in_report": True} if warnings_in_report else {}))

    report["forget"] = forget.describe()
    report["sizes"] = {"forget": len(forget_idx), "retain": len(retain_idx), "val": len(val_idx),
                       "test": len(test_idx), "ta_test": len(t_attack["correct"]),
                       "attack_val": len(v_attack["correct"]), "attack_negatives_from": negatives_from,
                       "mia_members": n_members,
                       "mia_non_members": len(t_attack["correct"])}
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
