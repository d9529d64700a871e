"""The tables of docs/results.md and docs/experiments/ from the JSON lines that benchmarks/dau_variants.py
wrote (a sweep script since removed: `dau compare --methods "dau,dau[dau.KEY=VALUE]"` measures settings
side by side now; docs/experiments/README.md says how to see the script).

One script for every folder of such rows (one JSON line per variant and seed); it knows a folder
by the end of its name and prints that folder's tables.md:

    python benchmarks/tables.py docs/results/guard-batch             # print its tables
    python benchmarks/tables.py docs/results/guard-batch --write     # ... into its tables.md
    python benchmarks/tables.py --all --write                        # every folder it knows

The folders: docs/results/guard-batch (DAU's default class by class and on sparse models, and the
variants measured beside it), and under docs/experiments/ the ones ending in relearning-guard,
guard-cost, dau-default and dau-variants (each folder's README.md says what its rows are).
Cells are means ± sample standard deviations over the seeds; "TA − retrain's" pairs each run with
the retrained model of the same seed; verdicts are counted per seed, the most frequent first.
"""

from __future__ import annotations

import argparse
import json
import statistics as st
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOMES = (ROOT / "docs" / "results", ROOT / "docs" / "experiments")


# ----------------------------------------------------------------------------- shared helpers


def ms(v) -> str:
    v = list(v)
    return f"{st.fmean(v):.2f} ± {st.stdev(v) if len(v) > 1 else 0:.2f}"


def load(*files: Path) -> list[dict]:
    return [json.loads(line) for f in files for line in open(f) if line.strip()]


def verdicts(rows: list[dict]) -> str:
    v = [r["verdict"] for r in rows]
    return ", ".join(f"{k} {v.count(k)}/{len(v)}" for k in sorted(sorted(set(v)), key=lambda k: -v.count(k)))


def find(kind: str) -> Path:
    """The folder of that kind under docs/results/ or docs/experiments/ (for tables that read two)."""
    for home in HOMES:
        for d in sorted(home.glob(f"*{kind}")):
            if d.is_dir() and (d.name == kind or d.name.endswith("-" + kind)):
                return d
    raise SystemExit(f"no folder of kind {kind} under docs/results or docs/experiments")


# ----------------------------------------------------------------------------- judged variants (relearning-guard and after)

# Rows marked ‡ ran on exploration code before commit 0f011d8 (other setting names, and weights
# restored by adding the step back); ✗ rows are forms that were tried and removed.
GUARD_NAMES = {
    "dau": "plain repair, 20 steps (the previous default)", "old": "plain repair, 20 steps (the previous default)",
    "new": "**default: guard radius 3, weight 0.5, 40 steps**",
    "r1": "radius 1", "r2": "radius 2", "r35": "radius 3.5", "r4": "radius 4", "r5": "radius 5", "r3w1": "weight 1",
    "r4w1": "radius 4, weight 1",
    "fa10": "forgotten_acc 10 %",
    "b30g5s40": "‡ radius 3, weight 0.5, 40 steps (the default)", "b30s40": "‡ radius 3, weight 1, 40 steps",
    "n16": "‡ radius 3, weight 0.5, 40 steps, guard batch 16", "s30": "‡ radius 3, weight 0.5, 30 steps",
    "g3s40": "‡ radius 3, weight 0.3, 40 steps", "b10": "‡ radius 1, weight 1, 20 steps",
    "b15": "‡ radius 1.5, weight 1, 20 steps", "b20": "‡ radius 2, weight 1, 20 steps",
    "b30": "‡ radius 3, weight 1, 20 steps", "b30g5": "‡ radius 3, weight 0.5, 20 steps",
    "b50g3": "‡ radius 5, weight 0.3, 20 steps", "b20s40": "‡ radius 2, weight 1, 40 steps",
    "b20n64": "‡ radius 2, weight 1, 20 steps, guard batch 64",
    "h05": "✗ gradient through the head too, radius 0.5", "h10": "✗ gradient through the head too, radius 1",
    "h20": "✗ gradient through the head too, radius 2",
    "e20": "✗ guard in eval mode, radius 2", "e30": "✗ guard in eval mode, radius 3",
    "e30h": "✗ guard in eval mode, through the head, radius 3", "e10h": "✗ guard in eval mode, through the head, radius 1",
    "sam05": "✗ first form (retain loss and −log(1−p) at the moved point), radius 0.05",
    "sam2": "✗ first form, radius 0.2", "sam5": "✗ first form, radius 0.5", "sam10": "✗ first form, radius 1",
    "sam10g3": "✗ first form, radius 1, weight 0.3", "sam20g3": "✗ first form, radius 2, weight 0.3",
    "rel25": "✗ a quarter of each repair batch forget images under their nearest remaining class",
    "rel50": "✗ half of each repair batch relabelled forget images",
    "ge2": "✗ 2 more game epochs after the class is forgotten"}
GUARD_COLS = [("ua", "UA"), ("ra", "RA"), ("ta", "TA"), ("avg_gap", "Avg. Gap"), ("relearn_40", "relearn 40"),
              ("output_z", "output z"), ("probe", "probe")]


def judged_table(names: dict, *files: Path) -> str:
    """Every variant of the files, one line each, with the audit's verdicts."""
    rows = {}
    for f in files:  # a (variant, seed) row is read once (class 1's second file repeats retrain and original)
        for r in load(f):
            rows.setdefault((r["variant"], r["seed"]), r)
    rows = list(rows.values())
    out = ["| variant | seeds | " + " | ".join(c for _, c in GUARD_COLS) + " | verdicts |",
           "|" + "---|" * (len(GUARD_COLS) + 3)]
    for v in dict.fromkeys(r["variant"] for r in rows):
        mine = [r for r in rows if r["variant"] == v]
        seeds = sorted(r["seed"] for r in mine)
        out.append(f"| {names.get(v, v)} | {','.join(map(str, seeds))} | "
                   + " | ".join(ms(r[k] for r in mine) for k, _ in GUARD_COLS) + f" | {verdicts(mine)} |")
    return "\n".join(out)


def relearning_guard(d: Path) -> list[str]:
    """The third pass: the plain repair against the guarded one, class by class."""
    out = ["| class | used for | previous default: verdicts | relearn 40 | output z | TA − retrain's | "
           "new default: verdicts | relearn 40 | output z | TA − retrain's |", "|---|---|---|---|---|---|---|---|---|---|"]
    use = {1: "confirming", 2: "confirming", 3: "choosing", 5: "choosing", 7: "confirming", 8: "choosing", 9: "confirming"}
    for c in sorted(use):
        rows = load(d / f"class{c}.jsonl")
        retrain = {r["seed"]: r for r in rows if r["variant"] == "retrain"}
        cells = []
        for names in (("dau", "old"), ("new",)):
            mine = [r for r in rows if r["variant"] in names]
            cells += [verdicts(mine), ms(r["relearn_40"] for r in mine), ms(r["output_z"] for r in mine),
                      ms(r["ta"] - retrain[r["seed"]]["ta"] for r in mine)]
        out.append(f"| {c} | {use[c]} | " + " | ".join(cells) + " |")
    parts = ["#### Every class, the previous default against the new one\n\n" + "\n".join(out) + "\n"]
    for c, title in ((3, "choosing"), ("3-567", "confirming, seeds 5–7"), (5, "choosing"),
                     (8, "choosing on seeds 5–9; the default also on seeds 0–4, not used for choosing"),
                     (1, "confirming, then explored"), (2, "confirming"), (7, "confirming"), (9, "confirming")):
        files = [d / f"class{c}.jsonl"] + ([d / "class1-radius.jsonl"] if c == 1 else [])
        parts.append(f"#### Class {str(c)[0]} ({title})\n\n" + judged_table(GUARD_NAMES, *files) + "\n")
    parts.append("#### Class 3, 90 % OMP-sparse (references retrained under its masks)\n\n"
                 + judged_table(GUARD_NAMES, d / "sparse-class3.jsonl"))
    return parts


COST_NAMES = {**GUARD_NAMES, "default": "**default**", "fb64": "dau.forget_batch=64",
              "x-mix16": "✗ mixed guard batch, radius 3, weight 0.5", "x-mix16-fb64": "✗ mixed guard batch, forget_batch 64",
              "x-mix16-w03": "✗ mixed guard batch, weight 0.3", "x-mix16-r25": "✗ mixed guard batch, radius 2.5",
              "x-mix16-w1": "✗ mixed guard batch, weight 1"}


def guard_cost(d: Path) -> list[str]:
    """The fourth pass: the third pass's default (its rows in relearning-guard) against forget_batch 64."""
    guard = find("relearning-guard")
    out = ["| class | default: verdicts | TA − retrain's | image passes | forget_batch 64: verdicts | TA − retrain's "
           "| image passes |", "|---|---|---|---|---|---|---|"]
    for c in (1, 2, 3, 5, 7, 8, 9):
        here = d / ("class3-seeds0-9.jsonl" if c == 3 else f"class{c}-fb64.jsonl")
        rows = load(here, guard / f"class{c}.jsonl")
        retrain = {r["seed"]: r for r in rows if r["variant"] == "retrain"}
        cells = []
        for names in (("new", "default"), ("fb64",)):
            mine = list({r["seed"]: r for r in rows if r["variant"] in names and r["seed"] < 5}.values())  # seeds 0-4
            cells += [verdicts(mine), ms(retrain[r["seed"]]["ta"] - r["ta"] for r in mine),
                      f"{st.fmean(r['image_passes'] for r in mine):,.0f}"]
        out.append(f"| {c} | " + " | ".join(cells) + " |")
    parts = ["#### Every class, seeds 0–4: the default against forget_batch 64\n\n" + "\n".join(out) + "\n",
             "#### Class 3, seeds 0–9\n\n" + judged_table(COST_NAMES, d / "class3-seeds0-9.jsonl") + "\n",
             "#### Random 10 %, seeds 0–4\n\n" + judged_table(COST_NAMES, d / "random10-fb64.jsonl") + "\n"]
    for c in (3, 8):
        parts.append(f"#### The mixed guard batch (✗), class {c}, seeds 0–4\n\n"
                     + judged_table(COST_NAMES, d / f"mixed-guard-class{c}.jsonl") + "\n")
    return parts


# `same` is the current default (the hinge on the batch the relearning step was taken on, commit
# 05576cc); `default` the one before it (a second augmentation of those images).
BATCH_NAMES = {**GUARD_NAMES,
               "default": "previous default (hinge on a second augmentation)", "same": "**default: hinge on the relearned batch**",
               "same_r4": "radius 4", "same_r5": "radius 5", "same_r6": "radius 6", "rlr015": "repair_lr 0.015",
               "rlr01": "repair_lr 0.01", "s30": "repair_steps 30", "s20": "repair_steps 20",
               "game": "the game alone (repair_steps 0)", "plain40": "plain repair, 40 steps (guard_radius 0)",
               "proj": "✗ previous default, guard gradient projected", "sameproj": "✗ default, guard gradient projected",
               "mask": "✗ the repair's cross-entropy without the forgotten class",
               "r5lr25": "radius 5, repair_lr 0.025", "r5lr30": "radius 5, repair_lr 0.03",
               "k02": "✗ repair_lr × density^0.2", "k03": "✗ repair_lr × density^0.3"}
# the sparsity sweep: (label, file); the dense rows are the same classes' seeds 0-4
SPARSE = [("class 3, dense", "class3.jsonl"), ("class 3, 50 %", "sparse50-class3.jsonl"),
          ("class 3, 70 %", "sparse70-class3.jsonl"), ("class 3, 90 %", "sparse-class3.jsonl"),
          ("class 3, 90 %, seeds 5–9", "sparse-class3-seeds5-9.jsonl"), ("class 3, 95 %", "sparse95-class3.jsonl"),
          ("class 8, dense", "class8.jsonl"), ("class 8, 70 %", "sparse70-class8.jsonl"), ("class 8, 90 %", "sparse-class8.jsonl")]
DENSE = [(str(c), f"class{c}.jsonl") for c in range(10)]
CONFIRM = [("3", "class3-seeds5-9.jsonl"), ("8", "class8-seeds5-9.jsonl"), ("3, 90 % sparse", "sparse-class3.jsonl")]


def guard_batch(d: Path) -> list[str]:
    """The current default (`same`) class by class and on sparse models, then the fifth pass's comparisons."""

    def current(files) -> tuple[str, list[float]]:
        out = ["| class | seeds | verdicts | TA − retrain's | relearn 40 | output z |", "|---|---|---|---|---|---|"]
        gaps = []
        for label, f in files:
            rows = load(d / f)
            retrain = {r["seed"]: r for r in rows if r["variant"] == "retrain"}
            mine = [r for r in rows if r["variant"] == "same"]
            gap = [retrain[r["seed"]]["ta"] - r["ta"] for r in mine]
            gaps.append(st.fmean(gap))
            out.append(f"| {label} | {','.join(str(r['seed']) for r in mine)} | {verdicts(mine)} | {ms(gap)} | "
                       f"{ms(r['relearn_40'] for r in mine)} | {ms(r['output_z'] for r in mine)} |")
        return "\n".join(out), gaps

    def sparsity(with_k: bool) -> str:
        head = "| model | retrain: verdicts | default: verdicts | output z | TA − retrain's |"
        out = [head + (" ✗ repair_lr × density^0.2: verdicts | output z | relearn 40 |" if with_k else ""),
               "|---|---|---|---|---|" + ("---|---|---|" if with_k else "")]
        for label, f in SPARSE:
            rows = load(d / f)
            retrain = {r["seed"]: r for r in rows if r["variant"] == "retrain"}
            same = [r for r in rows if r["variant"] == "same"]
            k = [r for r in rows if r["variant"] == "k02"]
            cells = [verdicts(list(retrain.values())), verdicts(same), ms(r["output_z"] for r in same),
                     ms(retrain[r["seed"]]["ta"] - r["ta"] for r in same)]
            if with_k:
                cells += [verdicts(k), ms(r["output_z"] for r in k), ms(r["relearn_40"] for r in k)] if k else ["–"] * 3
            out.append(f"| {label} | " + " | ".join(cells) + " |")
        return "\n".join(out)

    def compared(files) -> tuple[str, dict]:
        out = ["| class | seeds | previous default: verdicts | TA − retrain's | new default: verdicts | TA − retrain's | "
               "relearn 40 | output z |", "|---|---|---|---|---|---|---|---|"]
        gaps = {"default": [], "same": []}
        for label, f in files:
            rows = load(d / f)
            retrain = {r["seed"]: r for r in rows if r["variant"] == "retrain"}
            cells = []
            for name in ("default", "same"):
                mine = [r for r in rows if r["variant"] == name]
                gap = [retrain[r["seed"]]["ta"] - r["ta"] for r in mine]
                gaps[name].append(st.fmean(gap))
                cells += [verdicts(mine), ms(gap)]
            mine = [r for r in rows if r["variant"] == "same"]
            cells += [ms(r["relearn_40"] for r in mine), ms(r["output_z"] for r in mine)]
            out.append(f"| {label} | {','.join(str(r['seed']) for r in mine)} | " + " | ".join(cells) + " |")
        return "\n".join(out), gaps

    text, gaps = current(DENSE + CONFIRM)
    parts = ["## DAU's default (docs/results.md)\n",
             "#### The default, every class (seeds 0–4), confirming seeds and the 90 % sparse model\n\n" + text + "\n",
             "Mean TA − retrain's over the ten classes, seeds 0–4: %.2f\n" % st.fmean(gaps[:len(DENSE)]),
             "#### The default on sparse models, seeds 0–4 unless said\n\n" + sparsity(False) + "\n",
             "## The fifth pass: the previous default against the new one, and the variants (docs/decisions.md)\n"]
    text, gaps = compared(DENSE)
    parts += ["#### Every class, seeds 0–4\n\n" + text + "\n",
              "Mean TA gap over the ten classes: previous default %.2f, new default %.2f\n"
              % (st.fmean(gaps["default"]), st.fmean(gaps["same"])),
              "#### Confirming seeds and the sparse model\n\n" + compared(CONFIRM)[0] + "\n",
              "#### Sparsity (90 % OMP models and the sweep's 50, 70 and 95 %), seeds 0–4 unless said\n\n"
              + sparsity(True) + "\n"]
    for c in range(10):
        parts.append(f"#### Class {c}, seeds 0–4, every variant\n\n" + judged_table(BATCH_NAMES, d / f"class{c}.jsonl") + "\n")
    for name in ("class3-seeds5-9", "class8-seeds5-9", "sparse-class3", "sparse-class3-seeds5-9", "sparse50-class3",
                 "sparse70-class3", "sparse95-class3", "sparse-class8", "sparse70-class8"):
        parts.append(f"#### {name}, every variant\n\n" + judged_table(BATCH_NAMES, d / f"{name}.jsonl") + "\n")
    return parts


# ----------------------------------------------------------------------------- the second pass (dau-default)

# Rows marked † ran on f531563's code (A and C: f531563 plus the dau.attacker_view setting), where
# `dau.epochs` counted the repair epochs too and also set the length of random forgetting; every
# other row ran on the code that introduced dau.repair_steps and dau.sample_epochs.
DEFAULT_NAMES = {
    "dau": "† before: 20 epochs, B_r = 2·B_f, calibration 2048",
    "e10r03": "† 10 epochs, repair lr 0.03", "e10r05": "† 10 epochs, repair lr 0.05",
    "e8r05c1k": "† 8 epochs, repair lr 0.05, calibration 1024", "rr1": "† B_r = B_f",
    "rr1c512": "† B_r = B_f, calibration 512", "lr02": "† game lr 0.02", "rr1e12": "† B_r = B_f, 12 epochs",
    "e12": "† 12 epochs", "A": "† B_r = B_f, calibration 512, attacker_view=batch",
    "B": "† B_r = B_f/2, calibration 512", "C": "† B_r = B_f/2, calibration 512, attacker_view=batch",
    "D": "† B_r = B_f, calibration 512, 16 epochs", "E": "† B_r = B_f/2, calibration 512, 16 epochs",
    "F": "† B_r = B_f, calibration 512, 14 epochs, repair lr 0.025", "G": "† B_r = B_f, calibration 512, 14 epochs",
    "H": "† B_r = B_f, calibration 256, 16 epochs", "rs20": "**default: 20 repair steps**",
    "rs40": "40 repair steps", "rr1e3": "† 3 epochs", "rr1e5": "† 5 epochs", "rr1e8": "† 8 epochs",
    "rr1e16": "† 16 epochs", "e3": "sample_epochs 3", "e5": "**default: sample_epochs 5**", "e8": "sample_epochs 8",
    "e20": "sample_epochs 20", "V1": "calibration 256, attacker warm-up 50",
    "V2": "calibration 256, attacker warm-up 50, B_f = 64"}
DEFAULT_DROP = {"rh", "hb"}  # settings tried and removed (the folder's README says what they did)


def default_table(file: Path, names: dict | None = None, judged: bool = True) -> str:
    rows = load(file)
    order = list(dict.fromkeys(r["variant"] for r in rows if r["variant"] not in DEFAULT_DROP))
    cols = [("ua", "UA"), ("ra", "RA"), ("ta", "TA"), ("mia_efficacy", "MIA-Eff."), ("avg_gap", "Avg. Gap")]
    if judged:
        cols += [("relearn_20", "relearn 20"), ("relearn_40", "relearn 40"), ("output_z", "output z")]
    cols += [("wall_time_s", "wall (s)")]
    out = ["| variant | " + " | ".join(c for _, c in cols) + " | image passes |" + (" verdicts |" if judged else ""),
           "|" + "---|" * (len(cols) + 2 + judged)]
    for v in order:
        mine = [r for r in rows if r["variant"] == v]
        line = f"| {(names or DEFAULT_NAMES).get(v, v)} | " + " | ".join(ms(r[k] for r in mine) for k, _ in cols)
        line += f" | {st.fmean(r['image_passes'] for r in mine):,.0f} |"
        if judged:
            line += f" {verdicts(mine)} |"
        out.append(line)
    return "\n".join(out)


def dau_default(d: Path) -> list[str]:
    confirm = {**DEFAULT_NAMES, "dau": "† B_r = B_f, calibration 512, 14 epochs"}
    default = {**DEFAULT_NAMES, "dau": "**default (sample_epochs 5)**"}
    return ["#### Class 3, dense, seeds 0–4 (choosing)\n\n" + default_table(d / "class3-dense.jsonl") + "\n",
            "#### Class 3, dense, seeds 5–7 (confirming)\n\n" + default_table(d / "class3-dense-567.jsonl", confirm) + "\n",
            "#### Class 8, dense, seeds 5–9 (confirming)\n\n" + default_table(d / "class8-dense.jsonl", confirm) + "\n",
            "#### Random 10 %, dense, seeds 0–4 (choosing)\n\n" + default_table(d / "random-dense.jsonl", judged=False) + "\n",
            "#### Random 10 %, 90 % OMP-sparse, seeds 0–4 (choosing)\n\n"
            + default_table(d / "random-sparse.jsonl", judged=False) + "\n",
            "#### Random 10 %, dense, seeds 5–7 (confirming)\n\n"
            + default_table(d / "random-dense-567.jsonl", default, judged=False) + "\n",
            "#### Random 10 %, 90 % OMP-sparse, seeds 5–7 (confirming)\n\n"
            + default_table(d / "random-sparse-567.jsonl", default, judged=False)]


# ----------------------------------------------------------------------------- the H200 variants (dau-variants)

VARIANT_NAMES = {
    "dau": "dau, repair lr 0.01 (before)", "r0.02e20": "**dau (default: repair lr 0.02)**", "authors": "**dau-authors**",
    "authors-eval": "dau-authors, attacker_bn=eval", "authors-15": "dau-authors, 15 steps (3 passes)",
    "authors-reinit": "dau-authors, head rows re-initialised", "dau-reinit": "dau (0.01), head rows re-initialised",
    "dau-repair05": "dau, repair lr 0.05 (first run)", "r0.02e10": "dau, repair lr 0.02, 10 epochs",
    "r0.03e10": "dau, repair lr 0.03, 10 epochs", "r0.03e20": "dau, repair lr 0.03", "r0.05e10": "dau, repair lr 0.05, 10 epochs",
    "r0.05e20": "dau, repair lr 0.05", "dau-5": "dau, 5 epochs", "dau-10": "dau, 10 epochs"}
VARIANT_ORDER = ["retrain", "original", "r0.02e20", "dau", "authors", "authors-eval", "authors-15", "authors-reinit",
                 "dau-reinit", "dau-repair05", "r0.02e10", "r0.03e10", "r0.03e20", "r0.05e10", "r0.05e20", "ft", "ga", "rl",
                 "l1", "salun", "scrub"]


def variant_table(files: list[Path], seeds: set, order: list, relearn: bool = True, skip=("dau-repair05",)) -> str:
    rows = load(*files)
    seen = list(dict.fromkeys(r["variant"] for r in rows if r["variant"] not in skip))
    seen = [v for v in order if v in seen] + [v for v in seen if v not in order]
    cols = [("ua", "UA"), ("ra", "RA"), ("ta", "TA"), ("mia_efficacy", "MIA-Eff."), ("avg_gap", "Avg. Gap ↓")]
    if relearn:
        cols += [("relearn_10", "relearn 10"), ("relearn_20", "relearn 20"), ("relearn_40", "relearn 40")]
    cols += [("wall_time_s", "wall (s)")]
    out = ["| variant | " + " | ".join(c for _, c in cols) + " | image passes |", "|" + "---|" * (len(cols) + 2)]
    for v in seen:
        mine = list({r["seed"]: r for r in rows if r["variant"] == v and r["seed"] in seeds}.values())  # last row per seed
        if not mine:
            continue
        cells = [ms(r[k] for r in mine) if k in mine[0] else "–" for k, _ in cols]
        out.append(f"| {VARIANT_NAMES.get(v, v)} | " + " | ".join(cells)
                   + f" | {st.fmean(r['image_passes'] for r in mine):,.0f} |")
    return "\n".join(out)


def dau_variants(d: Path) -> list[str]:
    s5, s3 = {0, 1, 2, 3, 4}, {5, 6, 7}

    def f(*names):
        return [d / n for n in names]

    def random(files, seeds, first):
        text = variant_table(files, seeds, list(dict.fromkeys(first + VARIANT_ORDER)), relearn=False)
        return text.replace("dau, repair lr 0.01 (before)", "**dau (default)**")

    return [
        "#### Class 3, dense, seeds 0–4 (tuning)\n",
        variant_table(f("L-dense-class3.jsonl", "A-dense-class3.jsonl", "R-dense-class3-a.jsonl", "R-dense-class3-b.jsonl"),
                      s5, VARIANT_ORDER), "",
        "#### Class 3, 90 % OMP-sparse, seeds 0–4\n",
        variant_table(f("L-sparse-class3.jsonl", "A-sparse-class3.jsonl", "R-sparse-class3-a.jsonl", "R-sparse-class3-b.jsonl"),
                      s5, VARIANT_ORDER), "",
        "#### Confirmation: class 3, dense, seeds 5–7\n", variant_table(f("R-dense-class3-c.jsonl"), s3, VARIANT_ORDER), "",
        "#### Confirmation: class 8, dense, seeds 5–7\n",
        variant_table(f("R-dense-class8.jsonl", "C-dense-class8.jsonl"), s3, VARIANT_ORDER), "",
        "#### Random 10 %, dense, seeds 0–4\n",
        random(f("L-dense-random.jsonl", "A-dense-random.jsonl"), s5, ["retrain", "original", "dau", "dau-5", "dau-10"]), "",
        "#### Random 10 %, 90 % OMP-sparse, seeds 0–4\n",
        random(f("L-sparse-random.jsonl", "A-sparse-random.jsonl", "R-sparse-random.jsonl"), s5,
               ["retrain", "original", "dau", "dau-10"]), "",
        "#### Confirmation: random 10 %, dense, seeds 5–7\n",
        random(f("C-dense-random.jsonl", "R-dense-random.jsonl"), s3, ["retrain", "original", "dau", "dau-10"])]


# ----------------------------------------------------------------------------- main

KINDS = {"guard-batch": guard_batch, "guard-cost": guard_cost, "relearning-guard": relearning_guard,
         "dau-default": dau_default, "dau-variants": dau_variants}


def kind_of(d: Path) -> str:
    for kind in KINDS:
        if d.name == kind or d.name.endswith("-" + kind):
            return kind
    raise SystemExit(f"{d}: not a folder this script knows (its name must end in one of: {', '.join(KINDS)})")


def tables(d: Path) -> str:
    return "\n".join(KINDS[kind_of(d)](d)) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folders", nargs="*", type=Path, help="folders of JSON lines (see above)")
    ap.add_argument("--all", action="store_true", help="every folder of a known kind under docs/results and docs/experiments")
    ap.add_argument("--write", action="store_true", help="write each folder's tables.md instead of printing")
    args = ap.parse_args()
    folders = [d for home in HOMES for d in sorted(home.iterdir()) if d.is_dir() and any(
        d.name == k or d.name.endswith("-" + k) for k in KINDS)] if args.all else args.folders
    if not folders:
        ap.error("name a folder, or --all")
    for d in folders:
        text = tables(d.resolve())
        if args.write:
            (d / "tables.md").write_text(text)
            print(f"wrote {d / 'tables.md'}", file=sys.stderr)
        else:
            sys.stdout.write(text)


if __name__ == "__main__":
    main()
