"""Makes the tables of docs/results.md, "Fifth pass", from the JSON lines here (run it in this
folder). Every row is judged against its class's bank of 16 OUT + 16 IN references
(`benchmarks/dau_variants.py --references 16`); the table helpers are relearning-guard's.

Variants: `same` is the new default (the guard measures the batch it took the relearning step on,
commit 05576cc); `default` is the previous default (a second augmentation of those images). Rows
whose settings name `dau.guard_same_batch=true` or `dau.guard_project=true` ran on exploration
code before 05576cc, which made the first the only behaviour (checked: class 3, seed 0 gives the
same numbers, UA, RA, TA, z and probe, on both). In
classes 1, 2, 3, 5, 7, 8, 9 and the sparse model the `retrain`, `original` and `default` rows are
copied from ../relearning-guard/ and ../guard-cost/ (the same seeds); in classes 0, 4 and 6, never
used before, every row ran here, `default` on the previous commit cd17027. Rows marked ✗ ran on
exploration settings that were removed: `proj` dropped the guard gradient's component against the
retain gradient (as PCGrad), `sameproj` both, `mask` (`dau.repair_mask=1`) left the forgotten
class out of the repair's softmax (neither kept: `sameproj` had one more
`over-forgotten` seed, class 2, and an extra backward pass a step). The other variants are the
new default with the `dau.*` values in their JSON lines; `k02`/`k03` (`dau.repair_density_power`,
exploration code, removed) scaled the repair's learning rate by the pruned model's density to a
power. The 50, 70 and 95 % models are `dau prune original-0.pt --method omp --sparsity S`
(retrained with the recorded recipe), each with its own bank (`dau audit MODEL --classes C
--references 16 --workers 2`). Wall times are not tabulated: most rows
ran beside one or two other measurements (the `dau compare` run in results.md has clean ones).
"""
import importlib.util
import json
import statistics as st
from pathlib import Path

spec = importlib.util.spec_from_file_location("guard_tables", Path(__file__).parent.parent / "relearning-guard" / "tables.py")
guard = importlib.util.module_from_spec(spec)
spec.loader.exec_module(guard)
guard.NAMES.update({
    "default": "previous default (hinge on a second augmentation)", "same": "**default: hinge on the relearned batch**",
    "same_r4": "radius 4", "same_r5": "radius 5", "same_r6": "radius 6", "rlr015": "repair_lr 0.015",
    "rlr01": "repair_lr 0.01", "s30": "repair_steps 30", "s20": "repair_steps 20",
    "game": "the game alone (repair_steps 0)", "plain40": "plain repair, 40 steps (guard_radius 0)",
    "proj": "✗ previous default, guard gradient projected", "sameproj": "✗ default, guard gradient projected",
    "mask": "✗ the repair's cross-entropy without the forgotten class",
    "r5lr25": "radius 5, repair_lr 0.025", "r5lr30": "radius 5, repair_lr 0.03",
    "k02": "✗ repair_lr × density^0.2", "k03": "✗ repair_lr × density^0.3"})

# the sparsity sweep: (label, density of the prunable weights, file); density 1 is the dense model
SPARSE = [("class 3, dense", "class3.jsonl"), ("class 3, 50 %", "sparse50-class3.jsonl"),
          ("class 3, 70 %", "sparse70-class3.jsonl"), ("class 3, 90 %", "sparse-class3.jsonl"),
          ("class 3, 90 %, seeds 5–9", "sparse-class3-seeds5-9.jsonl"), ("class 3, 95 %", "sparse95-class3.jsonl"),
          ("class 8, dense", "class8.jsonl"), ("class 8, 70 %", "sparse70-class8.jsonl"), ("class 8, 90 %", "sparse-class8.jsonl")]


def sparsity():
    """One line per model: the default's verdicts and output z, and the density-scaled repair (✗)."""
    out = ["| model | retrain: verdicts | default: verdicts | output z | TA − retrain's | ✗ repair_lr × density^0.2: verdicts | output z | relearn 40 |",
           "|---|---|---|---|---|---|---|---|"]
    for label, f in SPARSE:
        rows = [json.loads(line) for line in open(f)]
        retrain = {r["seed"]: r for r in rows if r["variant"] == "retrain"}
        same = [r for r in rows if r["variant"] == "same"]
        k = [r for r in rows if r["variant"] == "k02"]
        cells = [verdicts(list(retrain.values())), verdicts(same), guard.ms([r["output_z"] for r in same]),
                 guard.ms([retrain[r["seed"]]["ta"] - r["ta"] for r in same])]
        cells += [verdicts(k), guard.ms([r["output_z"] for r in k]), guard.ms([r["relearn_40"] for r in k])] if k else ["–"] * 3
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def verdicts(rows):
    v = [r["verdict"] for r in rows]
    return ", ".join(f"{k} {v.count(k)}/{len(v)}" for k in sorted(set(v), key=lambda k: -v.count(k)))


def per_class(files):
    """One line per file: the previous default against the new one, seed-matched TA gaps."""
    out = ["| class | seeds | previous default: verdicts | TA − retrain's | new default: verdicts | TA − retrain's | "
           "relearn 40 | output z |", "|---|---|---|---|---|---|---|---|"]
    gaps = {"default": [], "same": []}
    for label, f in files:
        rows = [json.loads(line) for line in open(f)]
        retrain = {r["seed"]: r for r in rows if r["variant"] == "retrain"}
        cells = []
        for name in ("default", "same"):
            mine = [r for r in rows if r["variant"] == name]
            gap = [retrain[r["seed"]]["ta"] - r["ta"] for r in mine]
            gaps[name].append(st.fmean(gap))
            cells += [verdicts(mine), guard.ms(gap)]
        mine = [r for r in rows if r["variant"] == "same"]
        cells += [guard.ms([r["relearn_40"] for r in mine]), guard.ms([r["output_z"] for r in mine])]
        seeds = ",".join(str(r["seed"]) for r in mine)
        out.append(f"| {label} | {seeds} | " + " | ".join(cells) + " |")
    return "\n".join(out), gaps


if __name__ == "__main__":
    dense = [(str(c), f"class{c}.jsonl") for c in (0, 1, 2, 3, 4, 5, 6, 7, 8, 9)]
    confirm = [("3", "class3-seeds5-9.jsonl"), ("8", "class8-seeds5-9.jsonl"), ("3, 90 % sparse", "sparse-class3.jsonl")]
    text, gaps = per_class(dense)
    print("#### Every class, seeds 0–4\n\n" + text + "\n")
    print("Mean TA gap over the ten classes: previous default %.2f, new default %.2f\n"
          % (st.fmean(gaps["default"]), st.fmean(gaps["same"])))
    print("#### Confirming seeds and the sparse model\n\n" + per_class(confirm)[0] + "\n")
    print("#### Sparsity (90 % OMP models and the sweep's 50, 70 and 95 %), seeds 0–4 unless said\n\n" + sparsity() + "\n")
    for c in range(10):
        print(f"#### Class {c}, seeds 0–4, every variant\n\n" + guard.table(f"class{c}.jsonl") + "\n")
    for name in ("class3-seeds5-9", "class8-seeds5-9", "sparse-class3", "sparse-class3-seeds5-9", "sparse50-class3",
                 "sparse70-class3", "sparse95-class3", "sparse-class8", "sparse70-class8"):
        print(f"#### {name}, every variant\n\n" + guard.table(f"{name}.jsonl") + "\n")
