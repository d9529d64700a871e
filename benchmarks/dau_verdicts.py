"""DAU (or another method) against retraining's bank, class by class: issue 24's item 2.

For each (class, original seed): unlearn the class from the original with `--method` (unlearning seed
= the original's seed), measure UA and test accuracy on the remaining classes, and judge the model
against the class's reference bank (8 OUT + 8 IN references, trained on first use and cached in
DAU_HOME). Lighter than audit_verdicts.py: no MIA-Efficacy, no fake or original rows; the verdict is
the same function (`audit_verdict`). One JSON line per row in OUT; rows already there are skipped,
so a run resumes.

    python benchmarks/dau_verdicts.py --classes 0,7 --originals 0,1,2 --out rows.jsonl
    python benchmarks/dau_verdicts.py --classes 0,7 --originals 0,1,2 --method retrain --out rows.jsonl
    python benchmarks/dau_verdicts.py --classes 0 --originals 0 --set dau.beta=1.0 --tag beta1 --out rows.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True, help="JSON lines, one per row (appended)")
    p.add_argument("--models", type=Path, default=Path("models"), help="original-S.pt files (trained if missing)")
    p.add_argument("--recipe", default="fashion-lenet")
    p.add_argument("--classes", default="0,7")
    p.add_argument("--originals", default="0,1,2")
    p.add_argument("--method", default="dau")
    p.add_argument("--set", action="append", default=[], help="a setting, as `dau forget --set` takes it")
    p.add_argument("--tag", default="default", help="names the settings in the rows")
    p.add_argument("--references", type=int, default=8)
    p.add_argument("--workers", type=int, default=1, help="processes that train missing references")
    args = p.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    done = set()
    if args.out.exists():
        done = {(r["tag"], r["method"], r["cls"], r["orig"]) for r in map(json.loads, args.out.read_text().splitlines())}
    for c in [int(x) for x in args.classes.split(",")]:
        for s in [int(x) for x in args.originals.split(",")]:
            if (args.tag, args.method, c, s) not in done:
                row = run(args, c, s)
                print(json.dumps(row), flush=True)
                with args.out.open("a") as f:
                    f.write(json.dumps(row) + "\n")


def original(args, seed: int) -> Path:
    from audit_verdicts import original_model  # this folder is on the path when run as a script

    return original_model(args.recipe, args.models, seed)


def run(args, c: int, s: int) -> dict:
    from dau_cli.config import resolve
    from dau_cli.engine import operations
    from dau_cli.engine.audit_verdict import audit_verdict
    from dau_cli.engine.train import accuracy
    from dau_cli.runs import EventSink

    opened = operations.open_checkpoint(original(args, s), "cpu")
    fs = operations.forget_set(opened, {"classes": str(c)}, seed=s)
    sets = dict(x.split("=", 1) for x in args.set)
    cost = operations.unlearn(opened, fs, args.method, resolve(args.recipe, {"train.device": "cpu", **sets}),
                              EventSink(), s)
    d = opened.data
    test = d.splits["test"]
    t0 = time.perf_counter()
    v = audit_verdict(opened.ckpt, opened.model, d, fs, references=args.references, workers=args.workers)
    tests = {k: (t.get("status"), round(float(t["value"]), 2) if isinstance(t.get("value"), (int, float)) else None)
             for k, t in v["tests"].items()}
    return {"tag": args.tag, "method": args.method, "cls": c, "orig": s, "sets": sets, "verdict": v["verdict"],
            "tests": tests, "ua": round(100 - accuracy(opened.model, d, fs.indices), 2),
            "ta": round(accuracy(opened.model, d, test[d.labels[test].cpu() != c]), 2),
            "wall": round(cost["wall_time_s"], 2), "passes": cost.get("image_passes"),
            "judge_s": round(time.perf_counter() - t0, 1),
            "references": {k: v["references"][k] for k in ("out", "in", "tamper")},
            "load_average": round(os.getloadavg()[0], 1), "date": time.strftime("%Y-%m-%d %H:%M")}


if __name__ == "__main__":
    main()
