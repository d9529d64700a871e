"""Sweep DAU settings against retraining, over seeds, through the `dau compare` engine.

    python benchmarks/dau_sweep.py digits-cnn.pt --classes 3 --seeds 3 \\
        --grid "dau.alpha=1" "dau.alpha=0.3" "dau.alpha=0.3 dau.beta=0"

Each grid entry is a space-separated list of `--set` values. Cells (method, setting, seed) are
cached in --out, so a sweep can be extended without recomputing; retraining and the original
model are computed once per seed and shared by every setting. Prints one Markdown row per setting
(mean ± std over the seeds) with the retrain and original rows for reference.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dau_cli.config import resolve
from dau_cli.engine.compare import compare, markdown, parse_seeds
from dau_cli.engine.train import pick_device
from dau_cli.runs import EventSink


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", type=Path)
    group = ap.add_mutually_exclusive_group(required=True)
    group.add_argument("--classes")
    group.add_argument("--random", type=float)
    ap.add_argument("--seeds", default="3")
    ap.add_argument("--grid", nargs="+", required=True, help='settings, e.g. "dau.alpha=0.3 dau.epochs=5"')
    ap.add_argument("--out", type=Path, default=Path("dau-sweep"))
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()

    spec = {"classes": args.classes} if args.classes else {"random": args.random}
    seeds = parse_seeds(args.seeds)
    rows = []
    for i, setting in enumerate(args.grid):
        config = resolve(sets=setting.split())
        result = compare({"dense": args.checkpoint}, spec, ["dau"], seeds, config, args.out, EventSink(),
                         pick_device(args.device))
        by_name = {r["method"]: r for r in result["rows"]}
        if i == 0:
            rows += [by_name["original"], by_name["retrain"]]
        rows.append({**by_name["dau"], "method": f"dau {setting}"})
    mode = f"classes {args.classes}" if args.classes else f"random {args.random}"
    print(markdown({"rows": rows}, f"DAU sweep on {args.checkpoint.name}, forget {mode}, seeds {seeds}"))


if __name__ == "__main__":
    main()
