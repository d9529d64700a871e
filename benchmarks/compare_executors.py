"""What running compare's jobs elsewhere costs: the same 8 cells in-process, in 2 worker processes
and on a local Ray instance with 2 CPUs, each as `dau compare` end to end in a fresh process.

    python benchmarks/compare_executors.py [--checkpoint digits-cnn.pt] [--repeats 1] [--json]

The checkpoint (default: one trained here with the `digits-cnn` recipe) is compared over
`--classes 3 --methods ft,ga --seeds 2`: 2 seeds x (original, retrain, ft, ga) = 8 jobs. Each run
writes into a fresh folder, so no cell is reused; the wall time is the whole command (interpreter
start, imports, Ray start-up where it applies, the 8 jobs, the table). The script also lists the
cells (every number but the wall time) that differ from the in-process run: a job's numbers depend
on its spec and on torch's intra-op thread count (float sums in another order), which is the
machine's cores in-process but cores // 2 in each of 2 workers and 1 in a Ray task, unless
OMP_NUM_THREADS fixes it for all.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

from audit_time import run_cli  # a sibling script: `python benchmarks/compare_executors.py` puts benchmarks/ on the path

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["--classes", "3", "--methods", "ft,ga", "--seeds", "2", "--device", "cpu", "--json"]
EXECUTORS = {"in-process": [], "--workers 2": ["--workers", "2"], "--ray local --workers 2": ["--ray", "local", "--workers", "2"]}




def cells(folder: Path) -> dict:
    out = {}
    for p in sorted((folder / "cells").glob("*.json")):
        cell = json.loads(p.read_text())
        cell.pop("wall_time_s")
        out[p.name] = cell
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", type=Path, help="a digits checkpoint; default: train one (digits-cnn recipe)")
    p.add_argument("--repeats", type=int, default=1, help="timed runs of each executor (default 1)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args()

    work = Path(tempfile.mkdtemp(prefix="dau-compare-bench-"))
    env = {**os.environ, "DAU_HOME": str(work / "home"),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    ckpt = args.checkpoint
    if ckpt is None:
        ckpt = work / "digits-cnn.pt"
        run_cli(["train", "-o", str(ckpt), "--device", "cpu", "--json"], env)
    times: dict[str, list[float]] = {name: [] for name in EXECUTORS}
    results = {}
    for r in range(args.repeats):
        for name, flags in EXECUTORS.items():
            folder = work / f"{name.replace(' ', '_').strip('-')}-{r}"
            times[name].append(run_cli(["compare", str(ckpt), *ARGS, "-o", str(folder), *flags], env))
            results[name] = cells(folder)
            print(f"{name:<26} {times[name][-1]:7.1f} s", file=sys.stderr, flush=True)
    base = statistics.median(times["in-process"])
    ref = results["in-process"]
    differ = {name: sorted(k for k in ref if c.get(k) != ref[k]) for name, c in results.items() if name != "in-process"}
    out = {"command": " ".join([os.path.basename(sys.executable), *sys.argv]), "cores": len(os.sched_getaffinity(0)),
           "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"), "load_average_after": os.getloadavg(),
           "jobs": len(ref), "cells_differing_from_in_process": differ,
           "workers_and_ray_identical": results["--workers 2"] == results["--ray local --workers 2"],
           "wall_s": {k: statistics.median(v) for k, v in times.items()},
           "relative_to_in_process": {k: statistics.median(v) / base for k, v in times.items()}}
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        for k, v in out["wall_s"].items():
            print(f"{k:<26} {v:7.1f} s  ({out['relative_to_in_process'][k]:.2f}x in-process)")
        print(f"{out['jobs']} jobs; cells differing from in-process: {differ}; workers and Ray identical: "
              f"{out['workers_and_ray_identical']}; load average {out['load_average_after']}")


if __name__ == "__main__":
    main()
