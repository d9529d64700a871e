"""Per-example forgetting quality across seeds, as the NeurIPS 2023 unlearning challenge scores it
(Triantafillou et al., arXiv 2406.09073).

For each forget example, N unlearned models and N retrained models each give one number (its
logit-scaled confidence; any strictly monotone function of p_y gives the same result). An attacker
who sees that number and thresholds it (either way round) tells the two groups apart with some
false positive rate FPR and false negative rate FNR; the example's privacy degree is the largest

    eps = max(log(1 - delta - FPR) - log FNR,  log(1 - delta - FNR) - log FPR)

over every threshold (delta = 0.01). Rates are counted from N models, so a rate of 0 is read as
1/(2N) (half a model) rather than as an infinite eps. Each example scores 2 / 2^b, where b is the
bin of eps in bins of width 0.5 from 0 (b = 1 for eps < 0.5, ..., 13 from 6 on); the forgetting
quality F is the mean over the forget set, 1 best and 2^-12 told apart on every example. With a
few models a side even retraining against itself scores well below 1 (0.2–0.3 with 4 to 32 a side,
simulated): the attacker's rates are coarse and it picks the best of many thresholds.

F depends on N (fewer models, coarser rates), so `dau compare` measures every row, and retraining
against itself as the ceiling, with the same N: the first half of the seeds' models against the
retrained models of the other half.
"""

from __future__ import annotations

import numpy as np

DELTA = 0.01
BIN_WIDTH = 0.5
BINS = 13
MIN_SEEDS = 8  # 4 models a side


def epsilons(unlearned: np.ndarray, retrained: np.ndarray, delta: float = DELTA) -> np.ndarray:
    """Each example's privacy degree. `unlearned`, `retrained`: (N, S) outputs of N models on S
    forget examples."""
    u, r = np.asarray(unlearned, dtype=np.float64), np.asarray(retrained, dtype=np.float64)
    if u.shape != r.shape or u.ndim != 2:
        raise ValueError(f"need two (models, examples) arrays of one shape, got {u.shape} and {r.shape}")
    n = u.shape[0]
    # Thresholds: below everything, then at every value; the attacker says "unlearned" above it.
    both = np.concatenate([u, r])  # (2N, S)
    thresholds = np.concatenate([both.min(0, keepdims=True) - 1, both])  # (2N + 1, S)
    fpr = (r[None, :, :] > thresholds[:, None, :]).mean(1)  # retrained said unlearned
    fnr = (u[None, :, :] <= thresholds[:, None, :]).mean(1)  # unlearned said retrained
    # The attacker may as well say "unlearned" below the threshold: both rates flip.
    fpr, fnr = np.concatenate([fpr, 1 - fpr]), np.concatenate([fnr, 1 - fnr])
    floor = 1 / (2 * n)
    fpr, fnr = np.clip(fpr, floor, 1), np.clip(fnr, floor, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        e1 = np.log(1 - delta - fpr) - np.log(fnr)
        e2 = np.log(1 - delta - fnr) - np.log(fpr)
    eps = np.fmax(e1, e2)  # NaN only where both logs are of negatives: no evidence either way
    return np.nan_to_num(np.nanmax(np.where(np.isnan(eps), -np.inf, eps), axis=0), neginf=0.0).clip(min=0.0)


def scores(eps: np.ndarray) -> np.ndarray:
    """2 / 2^b for each eps, b its bin (1 … BINS)."""
    b = np.digitize(eps, np.arange(BINS) * BIN_WIDTH)
    return 2.0 / 2.0 ** b


def forgetting_quality(unlearned: np.ndarray, retrained: np.ndarray) -> float:
    """F: the mean score over the forget examples (1 best)."""
    return float(scores(epsilons(unlearned, retrained)).mean())


def forget_outputs(model, data, idx) -> list[float]:
    """Each forget example's logit-scaled confidence under `model`, in the forget set's order: what
    forgetting quality compares across seeds."""
    from dau_cli.engine.stats import sample_stats
    from dau_cli.engine.train import predict

    logits = predict(model, data, idx)
    stat = sample_stats(logits, data.labels[idx.to(logits.device)])["logit_scaled_confidence"]
    return [round(float(v), 5) for v in stat.cpu()]


def row(by: dict, label: str, method: str, seeds: list[int]) -> dict | None:
    """A compare row's {"value", "models"} from its cells `by` (label, name, seed): `method`'s models
    of the first half of `seeds` against the retrained models of the second half (retrain's own value
    is the ceiling). None with under MIN_SEEDS seeds, a forget set that differs between seeds (random
    forgetting draws one per seed: pass --indices), or a cell without outputs (made by an older dau)."""
    if len(seeds) < MIN_SEEDS:
        return None
    half = len(seeds) // 2
    first, second = seeds[:half], seeds[half:2 * half]
    cells = [by.get((label, method, s)) for s in first] + [by.get((label, "retrain", s)) for s in second]
    if any(c is None or "forget_outputs" not in c for c in cells) or len({c["forget_digest"] for c in cells}) > 1:
        return None
    outputs = [c["forget_outputs"] for c in cells]
    return {"value": forgetting_quality(outputs[:half], outputs[half:]), "models": half}
