"""The verdict: does the audited model behave like a model retrained without D_f?

Population attacks and the literature's MIA-Efficacy can be fooled (lowering one output bias makes
a model that remembers everything look forgotten), so the verdict compares the audited model with
reference models of the bank (engine/bank.py) on four tests (docs/audit.md, "The verdict"):

- **output**: per forget sample, a Gaussian of the OUT references' logit-scaled confidence (pooled
  variance, as offline LiRA does); the audited model's z-score, calibrated by leave-one-out on the
  OUT references themselves. Two-sided: far above is remembering, far below is over-forgetting or
  obfuscation.
- **membership (LiRA)**: per forget sample, the log-likelihood ratio of the audited model's value
  under the IN references' Gaussian against the OUT references'. Two-sided as well.
- **relearning** and **probe** (engine/tamper.py): accuracy recovered on D_f after a few fine-tuning
  steps, and a linear probe's accuracy on D_f from the penultimate features, against the OUT
  references' own (one-sided: more than retraining means the data is still there).

Each test's decision is a prediction interval from the references (Student t, two-sided level
`ALPHA` per tail pair): a retrained model from the same recipe lands outside it with probability
about ALPHA. The verdict never looks at which method made the model (the lineage's method name).

`judge` is pure: it decides from numbers it is given. engine/audit_verdict.py tops up the bank,
gathers the references' statistics and the tamper tests' results, then calls it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from dau_cli.engine.roc import auc, roc_summary
from dau_cli.verdicts import MEMBERSHIP_TESTS, TAMPER_TESTS, TESTS

ALPHA = 0.01  # a test flags a model outside the references' (1 - ALPHA) prediction interval
SAMPLE_ALPHA = 0.05  # per-sample flag: beyond the references' own 2.5 % / 97.5 % leave-one-out quantiles
LIRA_TRIM = 0.1  # LiRA's model-level number: the 10 % trimmed mean of per-sample log-likelihood ratios
CLIP_Z = 10.0  # per-sample z-scores are clipped to ±10 before averaging (one odd sample cannot decide)
MIN_OUT = 3  # leave-one-out needs at least 3 OUT references (2 left to estimate a variance)
# Accuracy tests add the binomial noise of the audited model's own measurement, counted at no less
# than that of a 5 % (or 95 %) rate: references that all score exactly 0 must not make a recovery
# of a sample or two significant.
RATE_FLOOR = 0.05
SPREAD_LIMIT = 50.0  # accuracy tests: a prediction interval wider than ±50 points cannot decide
# engine/tamper.py's defaults (chosen there on the digits cnn: benchmarks/tamper_check.py)
TAMPER_SETTINGS = {"relearn": {"steps": [10, 20, 40], "n_forget": 10, "lr": 0.01, "seed": 0}, "probe": {"seed": 0}}


# ----------------------------------------------------------------------------- per-sample scores


def _moments(rows: np.ndarray) -> tuple[np.ndarray, float]:
    """Per-sample mean and the pooled (over samples) variance of K rows, ddof = 1."""
    return rows.mean(0), float(rows.var(0, ddof=1).mean())


def gaussian_z(out: np.ndarray, values: np.ndarray) -> np.ndarray:
    """z-scores of `values` (..., n) under the per-sample Gaussian of the OUT rows (K, n): pooled
    variance, widened by (1 + 1/K) for the uncertainty of the K-sample mean."""
    mu, var = _moments(out)
    return (values - mu) / math.sqrt(max(var, 1e-12) * (1 + 1 / len(out)))


def loo_z(out: np.ndarray) -> np.ndarray:
    """Each OUT reference's z-scores against the other K − 1 (K, n): what a fresh retrained model gets."""
    return np.stack([gaussian_z(np.delete(out, k, 0), out[k]) for k in range(len(out))])


def _log_normal(x: np.ndarray, mu: np.ndarray, var: float) -> np.ndarray:
    var = max(var, 1e-12)
    return -0.5 * ((x - mu) ** 2 / var + math.log(2 * math.pi * var))


def lira(inn: np.ndarray, out: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per-sample log-likelihood ratio log N(v; IN) − log N(v; OUT), pooled variances (offline LiRA's
    Gaussians, per example, with both IN and OUT models)."""
    mi, vi = _moments(inn)
    mo, vo = _moments(out)
    return _log_normal(values, mi, vi * (1 + 1 / len(inn))) - _log_normal(values, mo, vo * (1 + 1 / len(out)))


def loo_lira(inn: np.ndarray, out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(OUT rows' scores, each left out of OUT; IN rows' scores, each left out of IN)."""
    o = np.stack([lira(inn, np.delete(out, k, 0), out[k]) for k in range(len(out))])
    i = np.stack([lira(np.delete(inn, k, 0), out, inn[k]) for k in range(len(inn))])
    return o, i


# ----------------------------------------------------------------------------- decisions


def prediction_test(value: float, refs: np.ndarray, sided: str = "two", extra_var: float = 0.0) -> dict[str, Any]:
    """Where `value` falls against the references' values: a Student-t prediction interval at level
    ALPHA (two-sided, or upper only). `extra_var` adds measurement noise of the audited value (e.g.
    binomial noise of an accuracy). Returns the numbers and `direction` "above", "below" or None."""
    from scipy.stats import t as student_t

    refs = np.asarray(refs, dtype=np.float64)
    k = len(refs)
    mean = float(refs.mean())
    sd = float(refs.std(ddof=1)) if k > 1 else float("nan")
    scale = math.sqrt((sd ** 2 + extra_var) * (1 + 1 / k)) if k > 1 else float("nan")
    crit = float(student_t.ppf(1 - (ALPHA / 2 if sided == "two" else ALPHA), k - 1)) if k > 1 else float("nan")
    stat = (value - mean) / scale if scale > 0 else (0.0 if value == mean else math.copysign(math.inf, value - mean))
    direction = None
    if stat > crit:
        direction = "above"
    elif sided == "two" and stat < -crit:
        direction = "below"
    return {"value": float(value), "reference_mean": mean, "reference_sd": sd, "references": k,
            "t": float(stat), "critical": crit, "interval": [mean - crit * scale, mean + crit * scale],
            "direction": direction}


def _clipped_mean(scores: np.ndarray) -> np.ndarray:
    return np.clip(scores, -CLIP_Z, CLIP_Z).mean(-1)


def output_test(audited: np.ndarray, out: np.ndarray, inn: np.ndarray | None, rng: np.random.Generator,
                roc: bool = True) -> dict:
    """The per-sample output test on D_f (see the module docstring); `roc=False` skips the ROC."""
    if len(out) < MIN_OUT:
        return {"status": "undecided", "too_few": True,
                "why": f"needs at least {MIN_OUT} OUT references, the bank has {len(out)}"}
    z, null = gaussian_z(out, audited), loo_z(out)
    lo, hi = np.quantile(null, [SAMPLE_ALPHA / 2, 1 - SAMPLE_ALPHA / 2])
    model = prediction_test(float(_clipped_mean(z)), _clipped_mean(null))
    res = {"statistic": "mean z-score of the forget samples' logit-scaled confidence (clipped to ±10)",
           **model, "share_above": float((z > hi).mean()), "share_below": float((z < lo).mean()),
           "reference_share_above": float((null > hi).mean()), "reference_share_below": float((null < lo).mean()),
           **({"roc": roc_summary(z, null, rng)} if roc else {}),
           "pooled_sd": math.sqrt(_moments(out)[1])}
    if inn is not None and len(inn) >= 2:
        zin = gaussian_z(out, inn)
        res["power"] = _power(_clipped_mean(zin), _clipped_mean(null), zin, null)
    return _status(res)


def lira_test(audited: np.ndarray, out: np.ndarray, inn: np.ndarray, rng: np.random.Generator) -> dict:
    """Per-sample LiRA (IN against OUT) on D_f."""
    if len(out) < MIN_OUT or len(inn) < MIN_OUT:
        return {"status": "undecided", "too_few": True,
                "why": f"needs at least {MIN_OUT} IN and {MIN_OUT} OUT references, the bank has {len(inn)} and {len(out)}"}
    score = lira(inn, out, audited)
    null, in_scores = loo_lira(inn, out)
    res = {"statistic": "10 % trimmed mean of the forget samples' log-likelihood ratios IN/OUT",
           **prediction_test(float(_trimmed(score)), _trimmed(null)),
           "roc": roc_summary(score, null, rng),
           "power": _power(_trimmed(in_scores), _trimmed(null), in_scores, null)}
    return _status(res)


def _trimmed(scores: np.ndarray) -> np.ndarray:
    """The mean of the per-sample log-likelihood ratios (what a likelihood-ratio test over the whole
    forget set sums), without the 10 % most extreme on each side: their tails are long, and one
    sample the Gaussians fit badly must not decide."""
    from scipy.stats import trim_mean

    return np.asarray(trim_mean(scores, LIRA_TRIM, axis=-1))


def _power(in_stats: np.ndarray, out_stats: np.ndarray, in_scores: np.ndarray, out_scores: np.ndarray) -> dict:
    """How well the test tells a model that trained on D_f (IN) from one that did not (OUT): Cohen's d
    of the model-level statistic, the per-sample AUC, and the share of IN references it flags."""
    pooled = math.sqrt((in_stats.var(ddof=1) + out_stats.var(ddof=1)) / 2) if len(in_stats) > 1 else float("nan")
    d = float((in_stats.mean() - out_stats.mean()) / pooled) if pooled > 0 else float("inf")
    flagged = [prediction_test(float(v), out_stats)["direction"] is not None for v in in_stats]
    return {"cohens_d": d, "per_sample_auc": auc(in_scores.ravel(), out_scores.ravel()),
            "in_flagged": float(np.mean(flagged)), "in_references": len(in_stats)}


def _status(res: dict) -> dict:
    res["status"] = {"above": "above", "below": "below", None: "pass"}[res["direction"]]
    return res


def tamper_test(name: str, value: float, refs: list[float], n_eval: int) -> dict:
    """One-sided: is the audited model's accuracy on D_f after tampering above the OUT references'?"""
    if len(refs) < MIN_OUT:
        return {"status": "undecided", "value": value, "reference_values": refs, "too_few": True,
                "why": f"needs at least {MIN_OUT} OUT references with weights, the bank has {len(refs)}"}
    p = min(max(np.mean(refs) / 100, RATE_FLOOR), 1 - RATE_FLOOR)
    res = prediction_test(value, np.array(refs), sided="upper", extra_var=(100 ** 2) * p * (1 - p) / max(n_eval, 1))
    res["reference_values"] = [float(v) for v in refs]
    half = res["interval"][1] - res["reference_mean"]
    if half > SPREAD_LIMIT and res["direction"] is None:
        res["status"] = "undecided"
        res["why"] = (f"the references disagree too much to decide ({name} accuracy {min(refs):.0f}–{max(refs):.0f} %)")
        return res
    return _status(res)


# ----------------------------------------------------------------------------- the verdict


@dataclass(frozen=True)
class References:
    """The reference models' logit-scaled confidence on the forget samples: `out` (K, n) retrained
    without them, `inn` (K', n) trained with them (K' may be 0)."""

    out: np.ndarray
    inn: np.ndarray


@dataclass(frozen=True)
class Tampering:
    """The tamper tests' results (bank.run_tamper_tests: {"relearn", "probe"}) of the audited model
    and of the OUT references (the same K as References.out, or fewer where weights are missing)."""

    audited: dict
    references: list[dict]


def judge(audited: np.ndarray, references: References, tampering: Tampering, seed: int = 0) -> dict[str, Any]:
    """The verdict for a model whose logit-scaled confidence on the n forget samples is `audited`
    (n,), against `references` and the tamper tests' results. Pure: it trains nothing, reads and
    writes no file; `seed` seeds the bootstrap of the ROC summaries.

    Returns {"verdict", "reasons", "tests": {"output", "lira", "relearn", "probe"}}.
    """
    rng = np.random.default_rng(seed)
    out, inn = references.out, references.inn
    tests: dict[str, dict] = {"output": output_test(audited, out, inn if len(inn) else None, rng)}
    tests["lira"] = lira_test(audited, out, inn, rng)
    tests.update(tamper_tests(tampering, len(audited)))
    verdict, reasons = decide(tests)
    return {"verdict": verdict, "reasons": reasons, "tests": tests}


def per_sample(audited: np.ndarray, references: References) -> dict[str, dict[str, np.ndarray]]:
    """The per-sample numbers behind the output and LiRA tests, for pictures (`dau audit --report`):
    the audited model's scores (n,), the OUT references' leave-one-out scores (K, n) and each one's
    model-level number (K,); for LiRA also the IN references' (K', n). A test with too few
    references is left out, as `judge` leaves it undecided."""
    out, inn = references.out, references.inn
    found: dict[str, dict[str, np.ndarray]] = {}
    if len(out) >= MIN_OUT:
        null = loo_z(out)
        found["output"] = {"audited": gaussian_z(out, audited), "references": null,
                           "reference_values": _clipped_mean(null)}
    if len(out) >= MIN_OUT and len(inn) >= MIN_OUT:
        null, in_scores = loo_lira(inn, out)
        found["lira"] = {"audited": lira(inn, out, audited), "references": null, "in_references": in_scores,
                         "reference_values": _trimmed(null)}
    return found


def tamper_tests(tampering: Tampering, n_forget: int) -> dict[str, dict]:
    """The relearning and probe tests of the audited model against the OUT references'."""
    mine, theirs = tampering.audited, tampering.references
    curve = _curve(mine["relearn"])
    relearn = {**tamper_test(TESTS["relearn"].short, curve[-1], [_curve(r["relearn"])[-1] for r in theirs],
                             n_forget - TAMPER_SETTINGS["relearn"]["n_forget"]),
               "curve": curve, "steps": list(TAMPER_SETTINGS["relearn"]["steps"]),
               "before": _before(mine["relearn"]),
               "reference_curves": [_curve(r["relearn"]) for r in theirs]}
    probe = tamper_test(TESTS["probe"].short, float(_probe_acc(mine["probe"])),
                        [float(_probe_acc(r["probe"])) for r in theirs], n_forget)
    return {"relearn": relearn, "probe": probe}


def decide(tests: dict[str, dict]) -> tuple[str, list[str]]:
    """(verdict, reasons in words, the deciding tests first) from the four tests' statuses.

    Outputs or membership above the references: `not forgotten`. Otherwise relearning or the probe
    above: `superficial`. Otherwise outputs or membership below: `over-forgotten`. Otherwise
    `forgotten`, unless no test could decide at all or a test had fewer than MIN_OUT references
    (then `no reference`, saying which)."""
    def having(status: str, names: tuple[str, ...]) -> list[str]:
        return [k for k in names if tests.get(k, {}).get("status") == status]

    above, below = having("above", MEMBERSHIP_TESTS), having("below", MEMBERSHIP_TESTS)
    tampered = having("above", TAMPER_TESTS)
    if above:
        verdict, first = "not forgotten", above
    elif tampered:
        verdict, first = "superficial", tampered
    elif below:
        verdict, first = "over-forgotten", below
    else:
        verdict, first = "forgotten", []
    order = [*first, *(k for k in TESTS if k not in first)]
    reasons = [describe(k, tests[k]) for k in order if k in tests]
    if verdict == "forgotten" and all(t.get("status") == "undecided" for t in tests.values()):
        return "no reference", reasons + ["no test could decide; add references with --references 16"]
    short = [TESTS[k].title for k in TESTS if tests.get(k, {}).get("too_few")]
    if verdict == "forgotten" and short:  # never `forgotten` on tests that had too few references to look
        return "no reference", reasons + [f"too few references for: {', '.join(short)} (at least {MIN_OUT} each); "
                                          f"add references with --references 16"]
    return verdict, reasons


def _pm(t: dict, unit: str = "", fmt: str = ".2f") -> str:
    return f"{t['reference_mean']:{fmt}}{unit} ± {t['reference_sd']:{fmt}}{unit} over {t['references']} references"


def describe(name: str, t: dict) -> str:
    """One sentence a reviewer can check, with the numbers."""
    title, status = TESTS[name].title, t.get("status")
    if status == "undecided":
        return f"{title}: cannot decide: {t.get('why', '')}"
    verdict_word = {"above": "ABOVE retrained models", "below": "BELOW retrained models",
                    "pass": "like retrained models"}[status]
    if name == "output":
        return (f"{title}: {verdict_word}: mean z-score {t['value']:+.2f} (retrained: {_pm(t)}); "
                f"{100 * t['share_above']:.0f} % of the forget samples sit above and {100 * t['share_below']:.0f} % "
                f"below the references' 95 % range (retrained: {100 * t['reference_share_above']:.0f} % and "
                f"{100 * t['reference_share_below']:.0f} %); AUC {t['roc']['auc']:.2f}{_power_words(t)}")
    if name == "lira":
        return (f"{title}: {verdict_word}: log-likelihood ratio {t['value']:+.2f} "
                f"(trimmed mean over the forget samples; retrained: {_pm(t)}); AUC {t['roc']['auc']:.2f}"
                f"{_power_words(t)}")
    if name == "relearn":
        steps = ", ".join(f"{a:.0f} %" for a in t.get("curve", []))
        return (f"{title}: {verdict_word}: after {'/'.join(map(str, t.get('steps', [])))} fine-tuning steps on "
                f"a few forget samples the other forget samples are back to {steps} (retrained, after "
                f"{t.get('steps', ['?'])[-1]}: {_pm(t, ' %', '.0f')})")
    return (f"{title}: {verdict_word}: a linear probe on the penultimate features, trained on the "
            f"validation split, recognises {t['value']:.0f} % of the forget samples (retrained: {_pm(t, ' %', '.0f')})")


def _power_words(t: dict) -> str:
    """How much a pass is worth: the share of models trained *with* the forget set the test flags."""
    p = t.get("power")
    if not p or t.get("status") != "pass":
        return ""
    weak = " (weak: a pass means little here)" if p["in_flagged"] < 0.5 else ""
    return (f"; it flags {100 * p['in_flagged']:.0f} % of the {p['in_references']} models trained with the forget "
            f"set (effect size d = {p['cohens_d']:.1f}){weak}")


def _curve(r: dict) -> list[float]:
    """Forget accuracy after each step count of the relearning test (step 0 left out)."""
    return [float(a) for s, a in zip(r["steps"], r["forget_acc"]) if s > 0]


def _before(r: dict) -> float | None:
    return next((float(a) for s, a in zip(r["steps"], r["forget_acc"]) if s == 0), None)


def _probe_acc(p: dict) -> float:
    for key in ("forget_acc", "acc", "accuracy"):
        if key in p:
            return p[key]
    raise KeyError(f"tamper.probe returned no accuracy ({sorted(p)})")


def summary_of(tests: dict[str, dict]) -> dict[str, dict]:
    """The tests without per-sample arrays: status, value, the references' mean and sd, AUC."""
    keep = ("status", "value", "reference_mean", "reference_sd", "references", "t", "critical", "why")
    out = {}
    for name, t in tests.items():
        s = {k: t[k] for k in keep if k in t}
        if "roc" in t:
            s["auc"] = t["roc"]["auc"]
        out[name] = s
    return out
