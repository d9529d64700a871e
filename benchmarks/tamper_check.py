"""The tamper tests on the demo's digits model: probe and relearning for the original, the one-number
fake and a model retrained without the class (docs/audit.md, "Tamper tests").

    python benchmarks/tamper_check.py                    # class 3, original seeds 0 1 2
    python benchmarks/tamper_check.py --seeds 3 4 --classes 5
    python benchmarks/tamper_check.py --batch 32 --steps 10 20 30 40   # a third of each batch forget images

Per seed: trains the original with the digits-cnn recipe (train.seed = seed), retrains from scratch
on D_r with the same recipe (seed + 100), builds `bias_fake(original, classes, 30)`, then reports the
probe's accuracy on D_f and the relearning curve (10 forget images mixed with the recipe's 128
retain images a step, SGD lr 0.01; accuracy on the other forget images after 0, 10, 20, 40 steps).
Prints a markdown table and writes the rows as JSON to --out. About 20 s of training per seed on an
idle 2-core CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--classes", default="3")
    parser.add_argument("--delta", type=float, default=30.0)
    parser.add_argument("--batch", type=int, help="relearning batch (forget + retain images); default: recipe's + 10")
    parser.add_argument("--steps", type=int, nargs="+", default=[10, 20, 40], help="relearning step counts")
    parser.add_argument("--out", type=Path, help="write the rows as JSON here")
    args = parser.parse_args()
    os.environ.setdefault("DAU_HOME", tempfile.mkdtemp(prefix="dau-tamper-"))

    import torch

    from dau_cli.config import resolve
    from dau_cli.engine.checkpoint import restore, restore_model
    from dau_cli.engine.forget_sets import retain_indices, select_forget_set
    from dau_cli.engine.models import build_model
    from dau_cli.engine.tamper import bias_fake, probe, relearn
    from dau_cli.engine import operations
    from dau_cli.engine.train import fit
    from dau_cli.runs import EventSink

    rows = []
    for seed in args.seeds:
        config = resolve("digits-cnn", {"train.device": "cpu", "train.seed": seed})
        t0 = time.perf_counter()
        original = operations.train(config, EventSink()).checkpoint
        model, data = restore(original, "cpu")
        fs = select_forget_set(data.labels, data.splits["train"], classes=args.classes, num_classes=data.num_classes)
        retain = retain_indices(data.splits["train"], fs.indices)
        tc = replace(config["train"], seed=seed + 100)
        torch.manual_seed(tc.seed)
        retrained = build_model("cnn", data.num_classes, data.input_shape, width=config["model"].width)
        fit(retrained, data, retain, tc, EventSink(), phase="retrain")
        fake = restore_model(bias_fake(original, list(fs.classes), args.delta, data=data))
        train_s = time.perf_counter() - t0
        for name, m in (("original", model), ("fake", fake), ("retrained", retrained)):
            t1 = time.perf_counter()
            p = probe(m, data, fs.indices, data.splits["val"], seed=seed)
            r = relearn(m, data, fs.indices, retain, config["train"], steps=tuple(args.steps), batch=args.batch,
                        seed=seed)
            rows.append({"seed": seed, "model": name, "probe": p["forget_acc"], "relearn_steps": r["steps"],
                         "relearn_acc": r["forget_acc"], "tests_s": time.perf_counter() - t1, "train_s": train_s})
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)

    steps = rows[0]["relearn_steps"]
    print(f"| seed | model | probe on D_f (%) | " + " | ".join(f"relearn {s} steps (%)" for s in steps) + " |")
    print("|---|---|---:|" + "---:|" * len(steps))
    for r in rows:
        print(f"| {r['seed']} | {r['model']} | {r['probe']:.1f} | " + " | ".join(f"{a:.1f}" for a in r["relearn_acc"]) + " |")
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
