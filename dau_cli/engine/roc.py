"""ROC arithmetic shared by the audit's threshold attacks and the verdict's per-sample tests
(docs/audit.md): AUC, TPR at low FPR, the ROC's points, and a bootstrap summary.

A larger score means "positive" (member) everywhere. Inputs are anything numpy can read as
numbers (arrays, lists, CPU or GPU tensors); everything is computed in float64.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

#: The false-positive rates TPR is reported at. The audit's threshold attacks report all three
#: (`tpr_at_fpr` keys "0.001", "0.01", "0.1"); the verdict's per-sample ROC the two lowest, in both
#: tails, 1 % first (its JSON keys "0.01", "0.001", in the order they have always come).
LOW_FPRS = (0.001, 0.01, 0.1)
VERDICT_FPRS = tuple(sorted(LOW_FPRS[:2], reverse=True))
BOOTSTRAP = 200  # resamples of the verdict's ROC summary


def as_scores(x: Any) -> np.ndarray:
    """`x` as a flat float64 numpy array (a tensor is moved to the CPU first)."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=np.float64).ravel()


def auc(pos: Any, neg: Any) -> float:
    """Area under the ROC: the Mann–Whitney statistic P(positive > negative), ties counting 1/2.
    Exact: the count of pairs is summed in halves before the one division. NaN if either set is empty."""
    pos, neg = as_scores(pos), np.sort(as_scores(neg))
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    below = np.searchsorted(neg, pos, side="left")
    ties = np.searchsorted(neg, pos, side="right") - below
    return float((below + 0.5 * ties).sum() / (len(pos) * len(neg)))


def tpr_at(pos: Any, neg: Any, fpr: float) -> float:
    """The best TPR of any threshold whose FPR is at most `fpr`: the share of positives above the
    highest threshold that lets at most ⌊fpr · n⌋ of the n negatives pass. With fewer than 1/fpr
    negatives that is the TPR at zero false positives."""
    pos, neg = as_scores(pos), as_scores(neg)
    allowed = int(math.floor(fpr * len(neg)))
    threshold = np.sort(neg)[::-1][min(allowed, len(neg) - 1)]
    return float((pos > threshold).mean())


def full_roc(pos: Any, neg: Any) -> tuple[np.ndarray, np.ndarray]:
    """Every ROC point, one per distinct threshold, from (0, 0) to (1, 1); fpr and tpr ascending."""
    pos, neg = as_scores(pos), as_scores(neg)
    scores = np.r_[pos, neg]
    is_pos = np.r_[np.ones(len(pos)), np.zeros(len(neg))]
    order = np.argsort(-scores, kind="stable")
    scores, is_pos = scores[order], is_pos[order]
    tp, fp = np.cumsum(is_pos), np.cumsum(1 - is_pos)
    last_of_tie = np.ones(len(scores), dtype=bool)  # a threshold sits after each run of ties
    last_of_tie[:-1] = scores[1:] != scores[:-1]
    return np.r_[0.0, fp[last_of_tie] / max(len(neg), 1)], np.r_[0.0, tp[last_of_tie] / max(len(pos), 1)]


def downsample(fpr: np.ndarray, tpr: np.ndarray, max_points: int) -> tuple[np.ndarray, np.ndarray]:
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


def roc(pos: Any, neg: Any, max_points: int = 200) -> dict[str, Any]:
    """{"fpr": [...], "tpr": [...], "auc": float}: the ROC, downsampled to ≤ max_points for plots."""
    fpr, tpr = downsample(*full_roc(pos, neg), max_points)
    return {"fpr": fpr.tolist(), "tpr": tpr.tolist(), "auc": auc(pos, neg)}


def attack(pos: Any, neg: Any, max_points: int = 200) -> dict[str, Any]:
    """A threshold attack's full result: AUC, best balanced accuracy, TPR at each of LOW_FPRS, and
    the ROC's points (docs/audit.md, "Threshold attacks")."""
    fpr, tpr = full_roc(pos, neg)
    kept_fpr, kept_tpr = downsample(fpr, tpr, max_points)
    return {
        "auc": auc(pos, neg),
        "balanced_accuracy": float(((1 + tpr - fpr) / 2).max()),
        "tpr_at_fpr": {str(f): tpr_at(pos, neg, f) for f in LOW_FPRS},
        "fpr": kept_fpr.tolist(),
        "tpr": kept_tpr.tolist(),
    }


def null_auc_stderr(n_pos: int, n_neg: int) -> float:
    """Standard error of the AUC of two samples from one distribution (Mann–Whitney null)."""
    return math.sqrt((n_pos + n_neg + 1) / (12 * n_pos * n_neg)) if n_pos and n_neg else float("nan")


def roc_summary(pos: np.ndarray, neg: np.ndarray, rng: np.random.Generator,
                resamples: int = BOOTSTRAP) -> dict[str, Any]:
    """AUC and TPR at VERDICT_FPRS, both tails, of per-sample scores `pos` (n,) against the
    leave-one-out scores of the references `neg` (K, n), with bootstrap 95 % intervals that
    resample both the samples and the references. A TPR whose FPR the sizes cannot resolve (fewer
    than 1/FPR positives or negatives) is marked `resolved: false`."""
    def stats(p: np.ndarray, nm: np.ndarray) -> list[float]:
        nf = nm.ravel()
        return [auc(p, nf), *(tpr_at(p, nf, f) for f in VERDICT_FPRS), *(tpr_at(-p, -nf, f) for f in VERDICT_FPRS)]

    point = stats(pos, neg)
    n, k = len(pos), len(neg)
    boots = []
    for _ in range(resamples):
        e, r = rng.integers(0, n, n), rng.integers(0, k, k)
        boots.append(stats(pos[e], neg[r][:, e]))
    lo, hi = np.percentile(np.array(boots), [2.5, 97.5], axis=0)
    n_neg = neg.size

    def entry(j: int, f: float) -> dict:
        return {"value": point[j], "ci": [float(lo[j]), float(hi[j])], "resolved": min(n, n_neg) * f >= 1}

    return {"auc": point[0], "auc_ci": [float(lo[0]), float(hi[0])],
            "tpr_at_fpr": {str(f): entry(1 + i, f) for i, f in enumerate(VERDICT_FPRS)},
            "tpr_at_fpr_low": {str(f): entry(1 + len(VERDICT_FPRS) + i, f) for i, f in enumerate(VERDICT_FPRS)},
            "positives": n, "negatives": n_neg}
