"""Makes the tables of docs/results.md, "Fourth pass", from the JSON lines here (run it in this
folder). Every row is judged against its class's bank of 16 OUT + 16 IN references
(`benchmarks/dau_variants.py --references 16`); the table helpers are relearning-guard's.

Rows marked ✗ ran on exploration code that was removed: a guard batch of 16 forget and 16 retain
images (the moved point and the hinge saw BN statistics of the audit's kind of mixed batch; the
hinge counted the forget images only). Every other row runs on the repo's code with the `dau.*`
values named in its JSON line (fb64 = `dau.forget_batch=64`).
"""
import importlib.util
import json
import statistics as st
from pathlib import Path

spec = importlib.util.spec_from_file_location("guard_tables", Path(__file__).parent.parent / "relearning-guard" / "tables.py")
guard = importlib.util.module_from_spec(spec)
spec.loader.exec_module(guard)
guard.NAMES.update({
    "default": "**default**", "fb64": "dau.forget_batch=64",
    "x-mix16": "✗ mixed guard batch, radius 3, weight 0.5", "x-mix16-fb64": "✗ mixed guard batch, forget_batch 64",
    "x-mix16-w03": "✗ mixed guard batch, weight 0.3", "x-mix16-r25": "✗ mixed guard batch, radius 2.5",
    "x-mix16-w1": "✗ mixed guard batch, weight 1"})


def per_class():
    """One line per class: the default (relearning-guard's rows) against forget_batch 64 (here)."""
    out = ["| class | default: verdicts | TA − retrain's | image passes | forget_batch 64: verdicts | TA − retrain's | image passes |",
           "|---|---|---|---|---|---|---|"]
    for c in (1, 2, 3, 5, 7, 8, 9):
        here = "class3-seeds0-9.jsonl" if c == 3 else f"class{c}-fb64.jsonl"
        rows = [json.loads(line) for f in (here, f"../relearning-guard/class{c}.jsonl") for line in open(f)]
        retrain = {r["seed"]: r for r in rows if r["variant"] == "retrain"}
        cells = []
        for names in (("new", "default"), ("fb64",)):
            mine = {r["seed"]: r for r in rows if r["variant"] in names and r["seed"] < 5}.values()  # seeds 0-4
            verdicts = [r["verdict"] for r in mine]
            cells += [", ".join(f"{k} {verdicts.count(k)}/{len(verdicts)}" for k in sorted(set(verdicts), key=lambda k: -verdicts.count(k))),
                      guard.ms([retrain[r["seed"]]["ta"] - r["ta"] for r in mine]), f"{st.fmean(r['image_passes'] for r in mine):,.0f}"]
        out.append(f"| {c} | " + " | ".join(cells) + " |")
    return "\n".join(out)


if __name__ == "__main__":
    print("#### Every class, seeds 0–4: the default against forget_batch 64\n\n" + per_class() + "\n")
    print("#### Class 3, seeds 0–9\n\n" + guard.table("class3-seeds0-9.jsonl") + "\n")
    print("#### Random 10 %, seeds 0–4\n\n" + guard.table("random10-fb64.jsonl") + "\n")
    for c in (3, 8):
        print(f"#### The mixed guard batch (✗), class {c}, seeds 0–4\n\n" + guard.table(f"mixed-guard-class{c}.jsonl") + "\n")
