"""MIA-Efficacy: the literature's SVC attack (the Unlearn-Sparse / SalUn line of work) and its
instability under bootstrap resamples of the members and non-members (docs/audit.md)."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed

import numpy as np

MIA_SVC = {"C": 3, "kernel": "rbf", "gamma": "auto"}  # the literature's attacker, unchanged
# MIA-Efficacy's instability: the SVC is refitted on this many bootstrap resamples of its members and
# non-members, and the central 95 % of the refitted figures is reported. A figure whose interval is
# wider than UNSTABLE_WIDTH points (most of 0-100) depends on which points the SVC happened to see.
MIA_BOOTSTRAP = 20
MIA_INTERVAL = 0.95
UNSTABLE_WIDTH = 50.0
# libsvm's fit grows faster than quadratically with its points: 9,000 members and 9,000 non-members
# (Fashion-MNIST's test set) take about 40 s a fit, and the figure with its interval is 105 fits.
# Sets larger than this are subsampled (seeded, the same points for every fit) before fitting.
MIA_MAX_POINTS = 2000


def subsample(n: int, seed: int = 0, limit: int | None = None) -> np.ndarray:
    """Indices of at most `limit` (default MIA_MAX_POINTS) of `n` points: all of them in order when
    n <= limit, else a seeded random draw without replacement (sorted), so a re-audit fits the same
    points."""
    limit = MIA_MAX_POINTS if limit is None else limit
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, limit, replace=False))


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


def mia_by_statistic(sets: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
                     resamples: list[tuple[np.ndarray, np.ndarray]],
                     done: Callable[[str], None] = lambda statistic: None
                     ) -> tuple[dict[str, float], dict[str, list[float]]]:
    """MIA-Efficacy of each statistic's (members, non-members, forget set): the SVC fitted once on
    the sets themselves (the literature's figure) and once on each of `resamples` (its
    instability), all in one thread pool. `done(statistic)` is called as each statistic finishes.
    Returns ({statistic: figure}, {statistic: resampled figures})."""
    by_stat: dict[str, float] = {}
    boot: dict[str, list[float]] = {s: [] for s in sets}
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        jobs = {}
        for s, args in sets.items():
            jobs[pool.submit(mia_efficacy, *args)] = (s, None)
            for w in resamples:
                jobs[pool.submit(mia_efficacy, *args, weights=w)] = (s, w)
        left = {s: 1 + len(resamples) for s in sets}
        for job in as_completed(jobs):
            s, w = jobs[job]
            if w is None:
                by_stat[s] = job.result()
            else:
                boot[s].append(job.result())
            left[s] -= 1
            if left[s] == 0:
                done(s)
    return by_stat, boot
