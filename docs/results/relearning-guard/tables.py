"""Makes the tables of docs/results.md, "The relearning guard", from the JSON lines here (run it in
this folder). Every row is judged against the class's bank of 16 OUT + 16 IN references
(`benchmarks/dau_variants.py --references 16`; the command is in results.md).

Rows marked ‡ ran on the exploration code before commit 0f011d8, whose settings had other names
(`dau.repair_rho` = `guard_radius`, `repair_gamma` = `guard_weight`, `repair_nf` = `guard_batch`,
`repair_body_only=true` = the guard's gradient on the body only, now always) and which restored the
weights after the guard's step by adding the step back (equal to copying them back up to the
last bits of float32, enough to move single seeds). Rows marked ✗ are forms that were tried and
removed; their settings no longer exist. Every other row ran on 0f011d8: its settings are the
`dau.*` values named in the row.
"""
import json
import statistics as st

NAMES = {
    "dau": "plain repair, 20 steps (the previous default)", "old": "plain repair, 20 steps (the previous default)",
    "new": "**default: guard radius 3, weight 0.5, 40 steps**",
    "r1": "radius 1", "r2": "radius 2", "r35": "radius 3.5", "r4": "radius 4", "r5": "radius 5", "r3w1": "weight 1", "r4w1": "radius 4, weight 1",
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
COLS = [("ua", "UA"), ("ra", "RA"), ("ta", "TA"), ("avg_gap", "Avg. Gap"), ("relearn_40", "relearn 40"),
        ("output_z", "output z"), ("probe", "probe")]


def ms(v):
    return f"{st.fmean(v):.2f} ± {st.stdev(v) if len(v) > 1 else 0:.2f}"


def table(*files):
    rows = {}
    for f in files:  # a (variant, seed) row is read once (class 1's second file repeats retrain and original)
        for r in map(json.loads, open(f)):
            rows.setdefault((r["variant"], r["seed"]), r)
    rows = list(rows.values())
    out = ["| variant | seeds | " + " | ".join(c for _, c in COLS) + " | verdicts |", "|" + "---|" * (len(COLS) + 3)]
    for v in dict.fromkeys(r["variant"] for r in rows):
        mine = [r for r in rows if r["variant"] == v]
        verdicts = [r["verdict"] for r in mine]
        seeds = sorted(r["seed"] for r in mine)
        out.append(f"| {NAMES.get(v, v)} | {','.join(map(str, seeds))} | " + " | ".join(ms([r[k] for r in mine]) for k, _ in COLS)
                   + " | " + ", ".join(f"{k} {verdicts.count(k)}/{len(verdicts)}"
                                       for k in sorted(set(verdicts), key=lambda k: -verdicts.count(k))) + " |")
    return "\n".join(out)


def by_class():
    """One line per class: the previous default against the new one."""
    out = ["| class | used for | previous default: verdicts | relearn 40 | output z | TA − retrain's | new default: verdicts | relearn 40 | output z | TA − retrain's |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    use = {1: "confirming", 2: "confirming", 3: "choosing", 5: "choosing", 7: "confirming", 8: "choosing", 9: "confirming"}
    for c in sorted(use):
        rows = [json.loads(line) for line in open(f"class{c}.jsonl")]
        retrain = {r["seed"]: r for r in rows if r["variant"] == "retrain"}
        cells = []
        for names in (("dau", "old"), ("new",)):
            mine = [r for r in rows if r["variant"] in names]
            verdicts = [r["verdict"] for r in mine]
            cells += [", ".join(f"{k} {verdicts.count(k)}/{len(verdicts)}" for k in sorted(set(verdicts), key=lambda k: -verdicts.count(k))),
                      ms([r["relearn_40"] for r in mine]), ms([r["output_z"] for r in mine]),
                      ms([r["ta"] - retrain[r["seed"]]["ta"] for r in mine])]
        out.append(f"| {c} | {use[c]} | " + " | ".join(cells) + " |")
    return "\n".join(out)


if __name__ == "__main__":
    print("#### Every class, the previous default against the new one\n\n" + by_class() + "\n")
    for c, title in ((3, "choosing"), ("3-567", "confirming, seeds 5–7"), (5, "choosing"), (8, "choosing on seeds 5–9; the default also on seeds 0–4, not used for choosing"),
                     (1, "confirming, then explored"), (2, "confirming"), (7, "confirming"), (9, "confirming")):
        files = [f"class{c}.jsonl"] + (["class1-radius.jsonl"] if c == 1 else [])
        print(f"#### Class {str(c)[0]} ({title})\n\n" + table(*files) + "\n")
    print("#### Class 3, 90 % OMP-sparse (references retrained under its masks)\n\n" + table("sparse-class3.jsonl"))
