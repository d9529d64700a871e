"""How long `dau audit` takes on the embedded digits data: the command end to end, and `audit()` alone.

    /work/venv/bin/python benchmarks/audit_time.py                 # trains a checkpoint first (dau train defaults)
    /work/venv/bin/python benchmarks/audit_time.py --checkpoint digits-cnn.pt --repeats 5

Target: under 15 s for `dau audit ckpt --classes 3` on 2 CPU cores. Measured on 2 CPU cores shared
with other jobs (1-min load average 7 to 9.5, no GPU): `dau audit` 10.0 to 10.6 s end to end
(median of 3 and of 5 runs), `audit()` alone 2.2 to 2.4 s (the four inference passes dominate; the
five SVC fits and ten ROC curves take a fraction of a second). `dau train` itself took 231 s under
that load (7 s on an idle machine).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_cli(args: list[str], env: dict[str, str]) -> float:
    """Wall time of one `dau ...` in a fresh process (interpreter start and imports included)."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "dau_cli", *args], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"`dau {' '.join(args)}` failed:\n{proc.stderr}")
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, help="a digits cnn checkpoint; default: train one with `dau train`")
    parser.add_argument("--classes", default="3", help="the forget set audited (default: class 3)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repetitions of each measurement")
    parser.add_argument("--cifar-svc", action="store_true",
                        help="also time one MIA SVC fit and one bootstrap refit at CIFAR's size (10,000 + 10,000 "
                             "one-dimensional synthetic scores)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="dau-audit-bench-"))
    env = {**os.environ, "DAU_HOME": str(work / "home")}
    os.environ["DAU_HOME"] = env["DAU_HOME"]
    ckpt_path = args.checkpoint
    train_s = None
    if ckpt_path is None:
        ckpt_path = work / "digits-cnn.pt"
        train_s = run_cli(["train", "-o", str(ckpt_path), "--json"], env)

    cli = [run_cli(["audit", str(ckpt_path), "--classes", args.classes, "--json"], env) for _ in range(args.repeats)]

    import torch

    from dau_cli.engine.audit import audit, forget_set_for_audit
    from dau_cli.engine.checkpoint import load_checkpoint, restore

    ckpt = load_checkpoint(ckpt_path)
    model, data = restore(ckpt, "cpu")
    forget = forget_set_for_audit(ckpt, data, classes=args.classes)
    engine = []
    for _ in range(args.repeats + 1):  # the first call also pays one-off imports (sklearn.svm) and warm-up
        start = time.perf_counter()
        report = audit(model, data, forget)
        engine.append(time.perf_counter() - start)

    result = {
        "device": f"cpu, {os.cpu_count()} cores visible, torch threads {torch.get_num_threads()}",
        "load_average_1min": os.getloadavg()[0],
        "checkpoint": str(ckpt_path),
        "train_wall_s": train_s,
        "cli_audit_wall_s": {"median": statistics.median(cli), "all": cli},
        "engine_audit_s": {"first": engine[0], "median_after_first": statistics.median(engine[1:]), "all": engine},
        "mia_bootstrap_s": report["mia_bootstrap"]["seconds"],  # the 5 x (1 + 20) SVC fits, in threads
        "sizes": report["sizes"],
        "target_s": 15.0,
    }
    if args.cifar_svc:
        import numpy as np

        from dau_cli.engine.mia import bootstrap_weights, mia_efficacy

        rng = np.random.default_rng(0)  # confidences: members near 1, non-members spread lower
        members, non_members, forget = rng.beta(20, 1, 10000), rng.beta(5, 1, 10000), rng.beta(5, 1, 5000)
        start = time.perf_counter()
        mia_efficacy(members, non_members, forget)
        fit_s = time.perf_counter() - start
        start = time.perf_counter()
        mia_efficacy(members, non_members, forget, weights=bootstrap_weights(10000, 10000, 1)[0])
        result["cifar_svc_s"] = {"fit": fit_s, "bootstrap_refit": time.perf_counter() - start}
    print(json.dumps(result, indent=2))
    print(f"dau audit {ckpt_path.name} --classes {args.classes}: {result['cli_audit_wall_s']['median']:.2f} s "
          f"end to end (median of {args.repeats}); audit() {engine[0]:.2f} s first call, "
          f"{result['engine_audit_s']['median_after_first']:.2f} s after (1-min load average "
          f"{result['load_average_1min']:.1f})", file=sys.stderr)


if __name__ == "__main__":
    main()
