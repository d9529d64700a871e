"""Measure DAU variants against retraining, seed by seed, with the relearning test.

    python benchmarks/dau_variants.py digits-cnn.pt --classes 3 --seeds 0,1,2,3,4 -o out.jsonl \\
        --variant "dau=dau" --variant "authors=dau-authors" --variant "authors-15=dau-authors dau-authors.steps=15"

A variant is NAME=METHOD followed by space-separated `--set` values. For each seed the forget set is
drawn, `retrain` runs once as the reference and the untouched original is a row; every variant
starts from the original weights. Per row: UA, RA, TA, MIA-Efficacy, Avg. Gap to the seed's
retrained model, wall time, image passes, and in class forgetting the relearning test
(`engine.tamper.relearn`: accuracy on the other forget images after 5/10/20 steps on 10 of them).
One JSON line per (variant, seed) is appended to the output as it finishes (rows already there
are skipped, so a run resumes); a Markdown table of means ± std is printed at the end.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from dau_cli.config import resolve
from dau_cli.engine import operations
from dau_cli.engine.audit import AVG_GAP_METRICS, audit, avg_gap
from dau_cli.engine.checkpoint import CheckpointView
from dau_cli.engine.compare import parse_seeds
from dau_cli.engine.forget import original_train_config
from dau_cli.engine.forget_sets import retain_indices
from dau_cli.runs import EventSink

COLUMNS = ("ua", "ra", "ta", "mia_efficacy", "avg_gap", "relearn_20", "relearn_40", "probe", "output_z", "wall_time_s",
           "image_passes")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", type=Path)
    group = ap.add_mutually_exclusive_group(required=True)
    group.add_argument("--classes")
    group.add_argument("--random", type=float)
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--variant", action="append", required=True, help='"NAME=METHOD [--set values]"')
    ap.add_argument("-o", "--out", type=Path, required=True)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--relearn-batch", type=int, default=32,
                    help="images per relearning step, 10 of them forget images (32: the mix of docs/results.md's "
                         "first DAU-variant tables; 0: relearn's default, the recipe's batch + 10)")
    ap.add_argument("--references", type=int, default=0,
                    help="K > 0: judge every row against the reference bank (K OUT + K IN references, trained "
                         "once into DAU_HOME) and record the verdict, its tests' numbers and its relearning "
                         "curve (the audit's mix) instead of the separate relearning test")
    args = ap.parse_args()

    spec = {"classes": args.classes} if args.classes else {"random": args.random}
    opened = operations.open_checkpoint(args.checkpoint, args.device)
    ckpt, data, device = opened.ckpt, opened.data, opened.device
    masks = CheckpointView(ckpt).masks
    variants = {"retrain": ("retrain", []), "original": ("original", [])}  # retrain first: the reference
    for v in args.variant:
        name, _, rest = v.partition("=")
        method, *sets = rest.split()
        variants[name] = (method, sets)
    done = {(r["variant"], r["seed"]) for r in map(json.loads, args.out.read_text().splitlines())} if args.out.exists() else set()
    rows = [json.loads(line) for line in args.out.read_text().splitlines()] if args.out.exists() else []
    try:
        from dau_cli.engine.tamper import relearn
    except ImportError:
        relearn = None
    for seed in parse_seeds(args.seeds):
        fs = operations.forget_set(opened, spec, seed)
        retain = retain_indices(data.splits["train"], fs.indices)
        ref = next((r for r in rows if r["variant"] == "retrain" and r["seed"] == seed), None)
        for name, (method, sets) in variants.items():
            if (name, seed) in done:
                continue
            cell = operations.open_checkpoint(ckpt, str(device), data=data)  # the original's weights, afresh
            model = cell.model
            cost = {"wall_time_s": 0.0, "image_passes": 0}
            if method != "original":
                cost = operations.unlearn(cell, fs, method, resolve(sets=sets), EventSink(), seed)
            report = audit(model, data, fs, attacks=False)
            row = {"variant": name, "method": method, "sets": sets, "seed": seed, "forget": spec,
                   **{k: report[k] for k in AVG_GAP_METRICS}, "wall_time_s": cost["wall_time_s"],
                   "image_passes": cost["image_passes"], "pretrain_s": cost.get("pretrain_s", 0.0),
                   "device": str(device)}
            if args.references:
                from dau_cli.engine.audit_verdict import audit_verdict
                from dau_cli.engine.compare import verdict_numbers

                # the same fields as a `dau compare --references K` cell
                row |= verdict_numbers(audit_verdict(ckpt, model, data, fs, references=args.references,
                                                     device=str(device)))
            elif relearn is not None and args.classes:
                # --relearn-batch 32 (10 forget + 22 retain images a step) is the mix the first tables of
                # docs/results.md were measured with; 0 = relearn's default, the recipe's batch + 10
                rl = relearn(model, data, fs.indices, retain, original_train_config(ckpt), steps=(5, 10, 20, 40),
                             seed=seed, masks=masks, **({"batch": args.relearn_batch} if args.relearn_batch else {}))
                row |= {f"relearn_{s}": a for s, a in zip(rl["steps"], rl["forget_acc"])}
            if name == "retrain":
                ref = row
            row["avg_gap"] = avg_gap(row, ref)
            rows.append(row)
            with open(args.out, "a") as f:
                f.write(json.dumps(row) + "\n")
            print(json.dumps({k: row.get(k) for k in ("variant", "seed", *COLUMNS, "verdict")}), flush=True)
    print(table(rows, list(variants), parse_seeds(args.seeds)))


def table(rows: list[dict], names: list[str], seeds: list[int]) -> str:
    verdict = any("verdict" in r for r in rows)
    head = "| variant | " + " | ".join(COLUMNS) + (" | verdicts |" if verdict else " |")
    lines = [head, "|" + "---|" * (len(COLUMNS) + 1 + verdict)]
    for name in names:
        mine = [r for r in rows if r["variant"] == name and r["seed"] in seeds]
        cells = []
        for k in COLUMNS:
            vals = [float(r[k]) for r in mine if k in r]
            cells.append(f"{statistics.fmean(vals):.2f} ± {statistics.stdev(vals) if len(vals) > 1 else 0:.2f}"
                         if vals else "–")
        verdicts = [r["verdict"] for r in mine if "verdict" in r]
        if verdicts:
            cells.append(", ".join(f"{v} {verdicts.count(v)}/{len(verdicts)}"
                                   for v in sorted(set(verdicts), key=lambda v: -verdicts.count(v))))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
