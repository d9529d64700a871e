"""The pictures of `dau audit --report` (engine/report.py): each test's number against the reference
models' numbers, as PNG data URIs drawn on matplotlib's Agg canvas.

No pyplot: every figure is a `matplotlib.figure.Figure` of its own, so nothing is kept between
calls and no display is needed. Each function returns a `data:image/png;base64,...` URI, or None
when the test has nothing to draw (too few references).
"""

from __future__ import annotations

import base64
import io
import math
from typing import Any

import numpy as np

MODEL = "#c0392b"  # the audited model: red, drawn last, on top
REFERENCE = "#7f8c8d"  # models retrained without the forget set (OUT): grey
TRAINED_WITH = "#e69f00"  # models trained with it (IN): orange
DPI = 100


def data_uri(fig: Any) -> str:
    """The figure as a PNG data URI."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _figure(width: float, height: float, widths: tuple[float, ...] = (1.0,)) -> tuple[Any, list]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(1, len(widths), width_ratios=list(widths), squeeze=False)[0]
    return fig, list(axes)


def _finite(values: Any) -> np.ndarray:
    a = np.asarray(values, dtype=np.float64).ravel()
    return a[np.isfinite(a)]


def against_references(ax: Any, value: float, refs: Any, interval: Any, label: str, sided: str = "two") -> None:
    """The model's number (a red diamond) among the references' (grey dots, jittered up and down),
    over the references' 99 % prediction interval (shaded; `upper`: only its upper end counts)."""
    refs = _finite(refs)
    rng = np.random.default_rng(0)  # the same jitter every time
    lo, hi = (interval or [math.nan, math.nan])[:2]
    if math.isfinite(lo) and math.isfinite(hi):
        what = "99 % interval of retrained models" if sided == "two" else "retrained models' 99 % upper bound"
        ax.axvspan(lo, hi, color=REFERENCE, alpha=0.15, lw=0, label=what)
        ax.axvline(hi, color=REFERENCE, lw=1, ls="--")
        if sided == "two":
            ax.axvline(lo, color=REFERENCE, lw=1, ls="--")
    if len(refs):
        ax.scatter(refs, rng.uniform(-0.25, 0.25, len(refs)), s=28, color=REFERENCE, alpha=0.8, zorder=2,
                   label=f"retrained without the forget set ({len(refs)})")
    if math.isfinite(value):
        ax.scatter([value], [0], s=150, marker="D", color=MODEL, edgecolor="black", zorder=3, label="audited model")
    ax.set_ylim(-1, 1.6)
    ax.set_yticks([])
    ax.set_xlabel(label)
    ax.legend(fontsize=8, loc="upper center", ncol=1, frameon=False)


def output_figure(test: dict, samples: dict | None) -> str | None:
    """Left: the per-sample z-scores of the audited model against the references' leave-one-out
    z-scores (histograms). Right: the mean z-score against each reference's."""
    if not samples or "interval" not in test:
        return None
    z, null = np.clip(_finite(samples["audited"]), -10, 10), np.clip(_finite(samples["references"]), -10, 10)
    fig, (a, b) = _figure(11, 3.8, (2, 1))
    both = np.r_[z, null]
    bins = np.linspace(both.min() - 0.1, both.max() + 0.1, 41)
    a.hist(null, bins, density=True, color=REFERENCE, alpha=0.55,
           label=f"retrained models ({len(samples['references'])}, each against the others)")
    a.hist(z, bins, density=True, histtype="step", lw=2.2, color=MODEL, label="audited model")
    lo, hi = np.quantile(null, [0.025, 0.975])
    for x in (lo, hi):
        a.axvline(x, color="black", lw=1, ls=":")
    a.plot([], [], color="black", lw=1, ls=":", label="retrained models' 95 % range")
    a.set_xlabel("per forget sample: z-score of the confidence in its true label (clipped to ±10)")
    a.set_ylabel("share of samples (density)")
    a.legend(fontsize=8, frameon=False)
    against_references(b, test["value"], samples["reference_values"], test["interval"],
                       "mean z-score over the forget set")
    return _done(fig)


def lira_figure(test: dict, samples: dict | None) -> str | None:
    """Left: the ROC (log-log) of the audited model's per-sample log-likelihood ratios against the
    retrained models', with the verdict's low-FPR points marked; models trained with the forget set
    (IN) dashed, for what remembering looks like. Right: the model-level number against the references'."""
    if not samples or "roc" not in test:
        return None
    from dau_cli.engine.roc import VERDICT_FPRS, downsample, full_roc

    pos, null, inn = (_finite(samples[k]) for k in ("audited", "references", "in_references"))
    fig, (a, b) = _figure(11, 5.2, (1.3, 1))
    x0, y0 = 0.5 / max(len(null), 1), 0.5 / max(len(pos), 1)
    for scores, colour, style, label in ((inn, TRAINED_WITH, "--", "models trained with the forget set"),
                                        (pos, MODEL, "-", "audited model")):
        fpr, tpr = downsample(*full_roc(scores, null), 400)
        a.plot(np.maximum(fpr, x0), np.maximum(tpr, y0), color=colour, ls=style, lw=2 if style == "-" else 1.4,
               label=f"{label} (AUC {_auc(scores, null):.2f})")
    a.plot([min(x0, y0), 1], [min(x0, y0), 1], color="grey", lw=1, ls=":", label="chance (a retrained model)")
    for f, marker in zip(VERDICT_FPRS, "os"):
        point = test["roc"]["tpr_at_fpr"][str(f)]
        note = "" if point.get("resolved", True) else " (too few samples to resolve it)"
        a.plot([f], [max(point["value"], y0)], marker, ms=9, mfc="white", mec=MODEL, mew=2, zorder=4, ls="none", clip_on=False,
               label=f"TPR {100 * point['value']:.1f} % at FPR {100 * f:g} %{note}")
    log_roc_axes(a, x0, y0, "false positive rate (retrained models' samples flagged)",
                 "true positive rate (audited samples flagged)")
    a.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)
    against_references(b, test["value"], samples["reference_values"], test["interval"],
                       "trimmed mean log-likelihood ratio IN/OUT")
    return _done(fig)


def _auc(pos: np.ndarray, neg: np.ndarray) -> float:
    from dau_cli.engine.roc import auc

    return auc(pos, neg)


def relearn_figure(test: dict) -> str | None:
    """Accuracy on the other forget samples after each count of fine-tuning steps: the audited
    model (red, from step 0) and each reference (grey)."""
    steps, curve = test.get("steps") or [], test.get("curve") or []
    if not steps or len(curve) != len(steps):
        return None
    fig, (a,) = _figure(7.5, 4)
    for i, ref in enumerate(test.get("reference_curves") or []):
        a.plot(steps, ref, color=REFERENCE, lw=1.2, alpha=0.8, marker=".",
               label=f"retrained without the forget set ({len(test['reference_curves'])})" if i == 0 else None)
    xs, ys = ([0, *steps], [test["before"], *curve]) if test.get("before") is not None else (steps, curve)
    a.plot(xs, ys, color=MODEL, lw=2.4, marker="o", label="audited model", zorder=3)
    interval = test.get("interval")
    if interval and math.isfinite(interval[1]):
        a.axhline(interval[1], color=REFERENCE, lw=1, ls="--",
                  label=f"retrained models' 99 % upper bound after {steps[-1]} steps")
    a.set_ylim(-3, 103)
    a.set_xticks([0, *steps])
    a.set_xlabel("fine-tuning steps on 10 forget samples (mixed with retain samples)")
    a.set_ylabel("accuracy on the other forget samples (%)")
    a.grid(True, alpha=0.3)
    a.legend(fontsize=8, frameon=False)
    return _done(fig)


def probe_figure(test: dict) -> str | None:
    """The probe's accuracy on the forget set: the audited model against each reference."""
    if "value" not in test or not test.get("reference_values"):
        return None
    fig, (a,) = _figure(7.5, 2.6)
    against_references(a, test["value"], test["reference_values"], test.get("interval"),
                       "linear probe's accuracy on the forget set (%)", sided="upper")
    return _done(fig)


def _done(fig: Any) -> str:
    uri = data_uri(fig)
    fig.clear()
    return uri


def figures_of_tests(tests: dict, samples: dict | None) -> dict[str, str | None]:
    """{test name: data URI or None} for the four tests of the verdict."""
    samples = samples or {}
    makers = {"output": lambda t: output_figure(t, samples.get("output")),
              "lira": lambda t: lira_figure(t, samples.get("lira")),
              "relearn": relearn_figure, "probe": probe_figure}
    return {name: makers[name](tests[name]) if name in tests else None for name in makers}


def log_roc_axes(ax, x0: float, y0: float, xlabel: str = "false positive rate",
                 ylabel: str = "true positive rate") -> None:
    """A ROC on log-log axes from (x0, y0) to 1, labelled, with a light grid (the report's and `--plot`'s)."""
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(x0, 1)
    ax.set_ylim(y0, 1.05)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, which="major", alpha=0.3)
