"""How fast `dau` answers when it need not compute: `--help`, and a user error (a missing
checkpoint, an output that already exists), each in a fresh process as a user runs it.

    python benchmarks/cli_latency.py                # 7 runs of each, median and worst
    python benchmarks/cli_latency.py --repeats 15

Targets: a user error in under 1 s, `dau --help` in under 0.5 s. Paths, outputs and method names
are checked before torch is imported, so neither waits for torch (which alone takes the time
printed on the last line). Results with machine and date: docs/results.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CASES = {
    "dau --help": (["--help"], 0, 0.5),
    "missing checkpoint": (["forget", "missing.pt", "--classes", "3"], 2, 1.0),
    "existing output": (["forget", "model.pt", "--classes", "3"], 2, 1.0),
}


def wall(args: list[str], cwd: Path, env: dict[str, str], expect: int) -> float:
    start = time.perf_counter()
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    took = time.perf_counter() - start
    if done.returncode != expect:
        sys.exit(f"{' '.join(args)} exited {done.returncode}, expected {expect}:\n{done.stderr}")
    return took


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=7)
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        (cwd / "model.pt").write_bytes(b"never read: the output check comes first")
        (cwd / "model-forget-dau-class3.pt").write_bytes(b"already there")
        env = {**os.environ, "DAU_HOME": str(cwd / "home"), "COLUMNS": "80"}
        env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[1]), env.get("PYTHONPATH", "")])
        load = os.getloadavg()[0]
        print(f"{'case':<20} {'median s':>9} {'worst s':>8} {'target s':>9}  (python -m dau_cli, {a.repeats} runs, "
              f"load {load:.1f} on {os.cpu_count()} cores)")
        ok = True
        for name, (args, code, target) in CASES.items():
            times = [wall([sys.executable, "-m", "dau_cli", *args], cwd, env, code) for _ in range(a.repeats)]
            med = statistics.median(times)
            ok &= med < target
            print(f"{name:<20} {med:>9.3f} {max(times):>8.3f} {target:>9.1f}  {'ok' if med < target else 'MISSED'}")
        torch = statistics.median(wall([sys.executable, "-c", "import torch"], cwd, env, 0) for _ in range(3))
        print(f"for scale: `import torch` alone takes {torch:.2f} s here")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
