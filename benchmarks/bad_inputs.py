"""A table of bad inputs and machine faults, each run end to end against the real `dau` (issue #13).

Every case runs `python -m dau_cli ...` as a subprocess on real files in a scratch folder, with
DAU_HOME there too; read-only folders and full disks are small tmpfs mounts (needs root: without
it those cases are reported as skipped, not held), and signals are real signals. A refused case
holds when: exit code 2, exactly one line on stderr starting with `error:` that contains the
expected words, no traceback, every input byte-for-byte unchanged (sha256), and no new file in
the output folder. Cases with other contracts (signals, races, listings) say what they check.

    python benchmarks/bad_inputs.py            # prints one line per case, then the held count
    python benchmarks/bad_inputs.py -k seeds   # only the cases whose name contains "seeds"
    python benchmarks/bad_inputs.py --group 13 # only group 13

Exit code 0 when every case that ran held. Takes a few minutes on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Case:
    name: str
    group: int
    argv: list[str]  # after `dau`; "{ws}" is the scratch folder
    says: list[str] = field(default_factory=list)  # words the error line must hold
    inputs: list[str] = field(default_factory=list)  # files that must not change ("{ws}/...")
    setup: Callable[[Path], None] | None = None
    check: Callable[[Path, "Case"], str | None] | None = None  # a custom contract; returns a failure or None
    needs_mount: bool = False
    env: dict[str, str] = field(default_factory=dict)


# ----------------------------------------------------------------------------- running


def dau(ws: Path, argv: list[str], env: dict[str, str] | None = None, timeout: float = 300,
        **popen) -> subprocess.CompletedProcess:
    full = {**os.environ, "PYTHONPATH": str(ROOT), "DAU_HOME": str(ws / "home"), "OMP_NUM_THREADS": "1",
            **(env or {})}
    args = [a.replace("{ws}", str(ws)) for a in argv]
    return subprocess.run([sys.executable, "-m", "dau_cli", *args], env=full, capture_output=True, text=True,
                          timeout=timeout, **popen)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "missing"


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.is_dir() else []


def refused(ws: Path, case: Case) -> str | None:
    inputs = [Path(i.replace("{ws}", str(ws))) for i in case.inputs]
    before = {p: sha(p) for p in inputs}
    out_before = listing(ws / "out")
    r = dau(ws, case.argv, case.env)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    if r.returncode != 2:
        return f"exit code {r.returncode}: {r.stderr.strip()[-200:]}"
    if len(lines) != 1 or not lines[0].startswith("error:"):
        return f"{len(lines)} lines on stderr: {r.stderr.strip()[:300]}"
    if "Traceback" in r.stderr + r.stdout:
        return "traceback"
    missing = [w.replace("{ws}", str(ws)) for w in case.says if w.replace("{ws}", str(ws)) not in lines[0]]
    if missing:
        return f"the line lacks {missing}: {lines[0]}"
    changed = [str(p) for p in inputs if sha(p) != before[p]]
    if changed:
        return f"inputs changed: {changed}"
    if listing(ws / "out") != out_before:
        return f"the output folder changed: {sorted(set(listing(ws / 'out')) ^ set(out_before))}"
    return None


# ----------------------------------------------------------------------------- fixtures


def mount(point: Path, opts: str) -> bool:
    point.mkdir(parents=True, exist_ok=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(point)], capture_output=True).returncode == 0


def damage(change: Callable[[dict], None], name: str) -> Callable[[Path], None]:
    def make(ws: Path) -> None:
        import torch

        ckpt = torch.load(ws / "in" / "model.pt", weights_only=True)
        change(ckpt)
        torch.save(ckpt, ws / "in" / name)

    return make


def conv(ckpt: dict) -> str:
    return next(k for k, v in ckpt["state_dict"].items() if v.dim() == 4 and k.endswith("weight"))


class Hostile:
    """A pickle that would run a shell command when loaded without weights_only."""

    def __init__(self, ws: Path) -> None:
        self.cmd = f"touch {ws / 'PWNED'}"

    def __reduce__(self):
        return (os.system, (self.cmd,))


def write(rel: str, data: bytes | str) -> Callable[[Path], None]:
    def make(ws: Path) -> None:
        p = ws / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data if isinstance(data, bytes) else data.encode())

    return make


def dead_pid() -> int:
    p = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(p.stdout)


# ----------------------------------------------------------------------------- custom contracts


def killed(sig: int, status: str) -> Callable[[Path, Case], str | None]:
    """Start a long `dau forget`, send `sig` while DAU runs, then `dau runs ls --json` must say `status`."""

    def check(ws: Path, case: Case) -> str | None:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "DAU_HOME": str(ws / "home"), "OMP_NUM_THREADS": "1"}
        out = ws / "out" / f"sig{sig}.pt"
        proc = subprocess.Popen([sys.executable, "-m", "dau_cli", "forget", str(ws / "in" / "model.pt"), "--classes",
                                 "3", "--set", "dau.epochs=5000", "--device", "cpu", "-o", str(out)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        runs = ws / "home" / "runs"
        deadline = time.time() + 120
        started = set(listing(runs))
        while time.time() < deadline:
            new = [d for d in runs.iterdir() if d.name not in started] if runs.is_dir() else []
            fresh = [d for d in (runs.iterdir() if runs.is_dir() else []) if "forget" in d.name
                     and (d / "events.jsonl").is_file() and '"type": "step"' in (d / "events.jsonl").read_text()
                     and json.loads((d / "run.json").read_text()).get("pid") == proc.pid]
            if fresh:
                break
            time.sleep(0.2)
        else:
            proc.kill()
            return "the job never reached its DAU steps"
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=120)
        listed = dau(ws, ["runs", "ls", "--json"])
        mine = [r for r in json.loads(listed.stdout)["runs"] if r.get("pid") == proc.pid]
        if not mine or mine[0]["status"] != status:
            return f"runs ls says {mine[0]['status'] if mine else 'nothing'}, not {status}"
        if out.exists() or list((ws / "out").glob(".*.tmp")):
            return "an output or temporary file was left"
        if sig == signal.SIGTERM:
            lines = [ln for ln in stderr.splitlines() if ln.strip()]
            if proc.returncode != 130 or "Traceback" in stderr or not lines[-1].startswith("terminated (SIGTERM)"):
                return f"exit {proc.returncode}: {stderr[-300:]}"
        return None

    return check


def race(ws: Path, case: Case) -> str | None:
    """Two `dau forget -o same.pt` at once: exactly one writes it, the other is one line and writes nothing."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DAU_HOME": str(ws / "home"), "OMP_NUM_THREADS": "1"}
    out = ws / "out" / "race.pt"
    cmd = [sys.executable, "-m", "dau_cli", "forget", str(ws / "in" / "model.pt"), "--classes", "3", "--method", "ft",
           "--set", "ft.epochs=1", "--device", "cpu", "-o", str(out)]
    before = set(listing(ws / "out"))
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(300), p.stderr.read()) for p in procs]
    codes = sorted(c for c, _ in results)
    if codes != [0, 2]:
        return f"exit codes {codes}: {[e[-200:] for _, e in results]}"
    loser = next(e for c, e in results if c == 2)
    lines = [ln for ln in loser.splitlines() if ln.strip()]
    if len(lines) != 1 or not ("already exists" in lines[0] or "appeared while" in lines[0]):
        return f"the loser said: {loser[-300:]}"
    new = sorted(set(listing(ws / "out")) - before)
    if new != ["race.pt"]:
        return f"new in the folder: {new}"
    info = dau(ws, ["info", str(out), "--json"])
    out.unlink()
    return None if info.returncode == 0 else f"the winner's file does not load: {info.stderr}"


def stale_cleaned(ws: Path, case: Case) -> str | None:
    stale = ws / "out" / f".roc.png.{dead_pid()}.abc123.tmp"
    stale.write_bytes(b"half a plot")
    r = dau(ws, ["audit", str(ws / "in" / "model.pt"), "--classes", "3", "--plot", str(ws / "out" / "roc.png"),
                 "--json"])
    ok = r.returncode == 0 and not stale.exists() and (ws / "out" / "roc.png").is_file()
    (ws / "out" / "roc.png").unlink(missing_ok=True)
    return None if ok else f"exit {r.returncode}, stale file there: {stale.exists()}"


def lists_damaged(ws: Path, case: Case) -> str | None:
    runs = ws / "home" / "runs"
    for name, content in (("x-notjson", b"{oops"), ("x-array", b"[1]"), ("x-binary", bytes(range(256))),
                          ("x-types", json.dumps({"status": "running", "started": "noon", "summary": 3}).encode())):
        (runs / name).mkdir(parents=True, exist_ok=True)
        (runs / name / "run.json").write_bytes(content)
    (runs / "x-lost").mkdir(exist_ok=True)
    (runs / "x-lost" / "run.json").write_text(json.dumps({"status": "running", "pid": dead_pid(), "host": os.uname().nodename,
                                                           "started": time.time(), "id": "x-lost", "command": "forget"}))
    table, js = dau(ws, ["runs", "ls"]), dau(ws, ["runs", "ls", "--json"])
    if table.returncode or js.returncode or "Traceback" in table.stderr + js.stderr:
        return f"exit {table.returncode}/{js.returncode}: {table.stderr[-200:]}"
    statuses = {Path(r["dir"]).name: r["status"] for r in json.loads(js.stdout)["runs"]}
    want = {"x-notjson": "damaged", "x-array": "damaged", "x-binary": "damaged", "x-types": "damaged", "x-lost": "lost"}
    wrong = {k: statuses.get(k) for k, v in want.items() if statuses.get(k) != v}
    for name in want:
        shutil.rmtree(runs / name)
    return f"statuses {wrong}" if wrong else None


def huge_events(ws: Path, case: Case) -> str | None:
    """A run whose events hold ±1e308, NaN and a 400-digit integer: the dashboard's model folds them."""
    code = ("import sys; from tui.model import RunModel; from dau_cli.runs import parse_events;"
            "m = RunModel(limit=4); evs, _ = parse_events(open(sys.argv[1]).read());"
            "[m.apply(e) for e in evs]; s = m.snapshot();"
            "ys = [y for v in (*s.steps.values(), *s.metrics.values()) for y in v[1]];"
            "assert ys and all(y == y and abs(y) < float('inf') for y in ys), ys; print(len(ys))")
    events = ws / "out" / "events.jsonl"
    vals = ["1e308", "1e308", "-1e308", "NaN", "Infinity", "1" + "0" * 400, "0.5"]
    events.write_text("".join(f'{{"type": "step", "phase": "dau", "step": {i}, "attacker_loss": {v}, "loss": {v}}}\n'
                              f'{{"type": "epoch", "epoch": {i}, "metrics": {{"ua": {v}}}}}\n' for i, v in enumerate(vals, 1)))
    r = subprocess.run([sys.executable, "-c", code, str(events)], env={**os.environ, "PYTHONPATH": str(ROOT)},
                       capture_output=True, text=True, timeout=60)
    events.unlink()
    return None if r.returncode == 0 else r.stderr[-300:]


def cell_tampered(content: Callable[[dict], bytes], says: str) -> Callable[[Path, Case], str | None]:
    def check(ws: Path, case: Case) -> str | None:
        folder = ws / "cmp"
        fast = ["--methods", "ft", "--set", "ft.epochs=1", "--set", "retrain.epochs=1", "--seeds", "1", "--device", "cpu"]
        if not folder.is_dir():
            first = dau(ws, ["compare", str(ws / "in" / "model.pt"), "--classes", "3", *fast, "-o", str(folder)])
            if first.returncode:
                return f"the first compare failed: {first.stderr[-300:]}"
        cell = next(folder.glob("cells/dense-ft-seed0-*.json"))
        good = cell.read_bytes()
        cell.write_bytes(content(json.loads(good)))
        tampered = Case(case.name, case.group, ["compare", str(ws / "in" / "model.pt"), "--classes", "3", *fast,
                                                "-o", str(folder)], says=[says, "delete it"], inputs=[str(cell)])
        problem = refused(ws, tampered)
        cell.write_bytes(good)
        return problem

    return check


# ----------------------------------------------------------------------------- the table


# ----------------------------------------------------------------------------- groups 11-14 (the hostile-user review)


def env_of(ws: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "DAU_HOME": str(ws / "home"), "OMP_NUM_THREADS": "1"}


def one_line(r: subprocess.CompletedProcess, *words: str) -> str | None:
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    if r.returncode != 2 or len(lines) != 1 or not lines[0].startswith("error:") or "Traceback" in r.stderr:
        return f"exit {r.returncode}, stderr: {r.stderr.strip()[-300:]}"
    missing = [w for w in words if w not in lines[0]]
    return f"the line lacks {missing}: {lines[0]}" if missing else None


def confined(arg: str) -> Callable[[Path, Case], str | None]:
    """`runs rm ARG --yes` removes nothing anywhere: DAU_HOME, the inputs, a look-alike run folder outside."""

    def check(ws: Path, case: Case) -> str | None:
        outside = ws / "outside"
        outside.mkdir(exist_ok=True)
        (outside / "events.jsonl").write_text("")
        (outside / "run.json").write_text("{}")
        dau(ws, ["info", str(ws / "in" / "model.pt")])  # DAU_HOME exists, with data
        before = listing(ws / "home") + listing(ws / "in") + listing(outside)
        problem = one_line(dau(ws, ["runs", "rm", arg.replace("{ws}", str(ws)), "--yes"]))
        after = listing(ws / "home") + listing(ws / "in") + listing(outside)
        return problem or (None if after == before else "something was removed")

    return check


def node_kept(kind: str) -> Callable[[Path, Case], str | None]:
    """`--force` onto something that is not a regular file: one line, the node untouched."""

    def check(ws: Path, case: Case) -> str | None:
        target = Path(os.devnull) if kind == "device" else ws / "out" / f"node-{kind}"
        if kind == "fifo" and not target.exists():
            os.mkfifo(target)
        elif kind == "link" and not target.is_symlink():
            (ws / "elsewhere.txt").write_text("the user's")
            target.symlink_to(ws / "elsewhere.txt")
        before = os.lstat(target)
        problem = one_line(dau(ws, ["info", str(ws / "in" / "model.pt"), "--indices", str(target), "--classes", "3",
                                    "--force"]), "-o/--out")
        after = os.lstat(target)
        return problem or (None if (after.st_ino, after.st_mode) == (before.st_ino, before.st_mode) else "replaced")

    return check


def users_compare_folder(ws: Path, case: Case) -> str | None:
    folder = ws / "out" / "mine"
    folder.mkdir(exist_ok=True)
    (folder / "compare.md").write_text("my notes")
    (folder / "compare.json").write_text('{"mine": 1}')
    before = sha(folder / "compare.md") + sha(folder / "compare.json")
    problem = one_line(dau(ws, ["compare", str(ws / "in" / "model.pt"), "-c", "3", "--methods", "ft", "--seeds", "1",
                                "-o", str(folder)]), "compare did not write")
    return problem or (None if sha(folder / "compare.md") + sha(folder / "compare.json") == before else "overwritten")


def bank_damaged(harm: str) -> Callable[[Path, Case], str | None]:
    """A bank of 3 + 3, one reference file damaged: the next audit names it, sets it aside, and still
    ends; `--references 3` trains it again."""

    def check(ws: Path, case: Case) -> str | None:
        import torch

        model = str(ws / "in" / "model.pt")
        first = dau(ws, ["audit", model, "-c", "3", "--references", "3", "--json"])
        if first.returncode != 0:
            return f"building the bank failed: {first.stderr[-200:]}"
        refs = sorted((ws / "home" / "bank").glob("*/out-*/ref-*.pt"))
        path = refs[1]
        if harm == "nan":
            r = torch.load(path, weights_only=True)
            r["stats"] = {k: torch.full_like(v, float("nan")) for k, v in r["stats"].items()}
            torch.save(r, path)
        elif harm == "hostile":
            path.write_bytes(pickle.dumps(Hostile(ws)))
        elif harm == "another bank's":  # a reference of another forget set copied here
            r = torch.load(path, weights_only=True)
            torch.save({**r, "bank": {**r["bank"], "forget": "0000000000000000"}}, path)
        elif harm == "edited":  # one finite value changed: only the content digest can tell
            r = torch.load(path, weights_only=True)
            r["stats"]["loss"][0] += 1.0
            torch.save(r, path)
        else:
            path.write_bytes(path.read_bytes()[:200])
        again = dau(ws, ["audit", model, "-c", "3", "--json"])
        if again.returncode != 0 or "Traceback" in again.stderr or str(path) not in again.stderr:
            return f"exit {again.returncode}; stderr: {again.stderr[-300:]}"
        if path.exists() or (ws / "PWNED").exists():
            return "the bad file was not set aside (or ran code)"
        json.loads(again.stdout)  # strict JSON
        repaired = dau(ws, ["audit", model, "-c", "3", "--references", "3", "--json"])
        return None if repaired.returncode == 0 and path.exists() else f"not retrained: {repaired.stderr[-200:]}"

    return check


def few_references(ws: Path, case: Case) -> str | None:
    model = str(ws / "in" / "model.pt")
    dau(ws, ["audit", model, "-c", "3", "--references", "4"])
    r = dau(ws, ["audit", model, "-c", "3", "--references", "2", "--json"])
    if r.returncode != 0:
        return f"exit {r.returncode}: {r.stderr[-200:]}"
    verdict = json.loads(r.stdout)["verdict"]
    return None if verdict != "forgotten" else "the untouched original was judged forgotten on 2 references"


def starved(how: str) -> Callable[[Path, Case], str | None]:
    def check(ws: Path, case: Case) -> str | None:
        import resource

        def pre() -> None:
            if how == "stdout closed":
                os.close(1)
            else:
                resource.setrlimit(resource.RLIMIT_AS, (1_500_000_000, 1_500_000_000))

        r = subprocess.run([sys.executable, "-m", "dau_cli", "info", str(ws / "in" / "model.pt"), "--json"],
                           env=env_of(ws), stdout=None if how == "stdout closed" else subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, preexec_fn=pre, timeout=120)
        return one_line(r)

    return check


def run_file(kind: str) -> Callable[[Path, Case], str | None]:
    """A run.json that is a FIFO or a link to /dev/zero: `runs ls` answers at once, the run `damaged`."""

    def check(ws: Path, case: Case) -> str | None:
        run = ws / "home" / "runs" / f"20250101-000000-train-{kind}"
        run.mkdir(parents=True, exist_ok=True)
        if not os.path.lexists(run / "run.json"):
            os.mkfifo(run / "run.json") if kind == "fifo" else (run / "run.json").symlink_to("/dev/zero")
        try:
            r = dau(ws, ["runs", "ls", "--json"], timeout=30)
        except subprocess.TimeoutExpired:
            return "runs ls hung"
        mine = [x for x in json.loads(r.stdout)["runs"] if x["id"] == run.name]
        return None if mine and mine[0]["status"] == "damaged" else f"listed as {mine}"

    return check


def orphaned_workers(ws: Path, case: Case) -> str | None:
    proc = subprocess.Popen([sys.executable, "-m", "dau_cli", "-q", "compare", str(ws / "in" / "model.pt"), "-c", "3",
                             "--methods", "ft", "--seeds", "4", "--workers", "2", "-o", str(ws / "out" / "orphans")],
                            env=env_of(ws), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def children() -> list[int]:
        found = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                if int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1]) == proc.pid:
                    found.append(int(pid))
            except OSError:
                pass
        return found

    def running(pid: int) -> bool:
        try:
            return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            return False

    deadline = time.time() + 120
    while len(children()) < 2 and time.time() < deadline:
        time.sleep(0.5)
    workers = children()
    time.sleep(3)
    proc.kill()
    proc.wait()
    deadline = time.time() + 30
    while any(running(p) for p in workers) and time.time() < deadline:
        time.sleep(0.5)
    alive = [p for p in workers if running(p)]
    for p in alive:
        os.kill(p, signal.SIGKILL)
    shutil.rmtree(ws / "out" / "orphans", ignore_errors=True)
    return None if workers and not alive else f"workers {workers}, alive after 30 s: {alive}"


def foreign_service(ws: Path, case: Case) -> str | None:
    """--ray at a port where a web server answers: one line in seconds, not minutes of Ray's retries."""
    import http.server
    import threading

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:  # the probe's request is not this table's output
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        start = time.time()
        problem = one_line(dau(ws, ["audit", str(ws / "in" / "model.pt"), "-c", "3", "--references", "2", "--ray",
                                    f"127.0.0.1:{server.server_address[1]}"], timeout=120), "not Ray")
        return problem or (None if time.time() - start < 30 else f"took {time.time() - start:.0f} s")
    finally:
        server.shutdown()


def loop_in_lineage(ws: Path, case: Case) -> str | None:
    import torch

    ckpt = torch.load(ws / "in" / "model.pt", weights_only=True)
    ckpt["lineage"][0]["config"]["me"] = ckpt["lineage"][0]
    torch.save(ckpt, ws / "in" / "loop.pt")
    before = sha(ws / "in" / "loop.pt")
    problem = one_line(dau(ws, ["forget", str(ws / "in" / "loop.pt"), "-c", "3", "-o", str(ws / "out" / "x.pt")]),
                       "contains itself")
    return problem or (None if sha(ws / "in" / "loop.pt") == before and not (ws / "out" / "x.pt").exists() else "changed")


def long_lineage(ws: Path, case: Case) -> str | None:
    """100,000 lineage entries (131 MB of records, minutes in torch's safe loader): one line in seconds."""
    import copy

    import torch

    ckpt = torch.load(ws / "in" / "model.pt", weights_only=True)
    ckpt["lineage"] = [copy.deepcopy(ckpt["lineage"][0]) for _ in range(100_000)]
    torch.save(ckpt, ws / "in" / "long.pt")
    start = time.time()
    problem = one_line(dau(ws, ["info", str(ws / "in" / "long.pt")], timeout=120), "MB of records")
    (ws / "in" / "long.pt").unlink()
    return problem or (None if time.time() - start < 20 else f"took {time.time() - start:.0f} s")


def bad_utf8_events(ws: Path, case: Case) -> str | None:
    """A run whose events.jsonl holds invalid UTF-8: shown, exported and listed, the bad line skipped."""
    run = ws / "home" / "runs" / "20250101-000000-train-utf8"
    run.mkdir(parents=True, exist_ok=True)
    (run / "run.json").write_text(json.dumps({"id": run.name, "command": "train", "status": "completed"}))
    (run / "events.jsonl").write_bytes(b'{"v": 1, "t": 1.0, "type": "step", "phase": "train", "step": 1}\n'
                                       b'{"v": 1, "t": 2.0, "type": "log", "message": "\xff\xfe"}\n')
    for argv in (["runs", "show", run.name], ["runs", "ls"], ["runs", "export", run.name, "--csv", "-o",
                                                             str(ws / "out" / "utf8.csv"), "--force"]):
        r = dau(ws, argv)
        if r.returncode != 0 or "Traceback" in r.stderr:
            return f"{argv[1]}: exit {r.returncode}: {r.stderr[-200:]}"
    return None


def float_masks(ckpt: dict) -> None:
    """Masks for every conv weight whose shapes are written as floats ([32.0, 1.0, 3.0, 3.0])."""
    import torch

    ckpt["masks"] = {n: {"shape": [float(x) for x in t.shape], "bits": torch.zeros((t.numel() + 7) // 8, dtype=torch.uint8)}
                     for n, t in ckpt["state_dict"].items() if t.dim() == 4 and n.endswith("weight")}


def cases() -> list[Case]:
    M = "{ws}/in/model.pt"
    out = "{ws}/out/x.pt"
    c: list[Case] = []

    def add(*a, **k):
        c.append(Case(*a, **k))

    # 1. ranges, checked where declared, whatever the source
    for s, w in [("train.epochs=0", "train.epochs must be at least 1"), ("train.epochs=-1", "at least 1"),
                 ("train.batch_size=0", "train.batch_size must be at least 1"), ("train.lr=-1", "train.lr must be above 0"),
                 ("train.lr=nan", "train.lr must be above 0"), ("train.lr=inf", "train.lr"), ("train.lr=1e6", "at most 10"),
                 ("train.momentum=2", "train.momentum"), ("model.width=0", "model.width"), ("model.arch=mlp", "one of"),
                 ("train.device=tpu", "one of auto, cpu, cuda"), ("data.dataset=imagenet", "one of digits"),
                 ("train.seed=-1", "train.seed must be at least 0"), ("train.epochs=ten", "needs a int")]:
        add(f"train --set {s}", 1, ["train", "--set", s, "-o", out], says=[w])
    for flag, v, w in [("--epochs", "0", "train.epochs must be at least 1"), ("--batch-size", "0", "train.batch_size"),
                       ("--lr", "-1", "train.lr must be above 0")]:
        add(f"train {flag} {v}", 1, ["train", flag, v, "-o", out], says=[w, "(from a flag)"])
    for m, s, w in [("dau", "dau.epochs=-1", "dau.epochs must be at least 1"), ("dau", "dau.epochs=0", "dau.epochs"),
                    ("ft", "ft.epochs=-3", "ft.epochs"), ("dau", "dau.holdout=2", "dau.holdout must be above 0 and below 1"),
                    ("dau", "dau.holdout=0", "dau.holdout"), ("salun", "salun.fraction=0", "salun.fraction"),
                    ("ga", "ga.batch_size=0", "ga.batch_size"), ("scrub", "scrub.temperature=0", "scrub.temperature"),
                    ("retrain", "retrain.epochs=-1", "retrain.epochs"), ("dau", "dau.adv_loss=hinge", "one of")]:
        add(f"forget -m {m} --set {s}", 1, ["forget", M, "-c", "3", "-m", m, "--set", s, "-o", out], says=[w],
            inputs=[M])
    add("recipe with epochs = 0", 1, ["train", "--recipe", "{ws}/in/zero.toml", "-o", out],
        says=["train.epochs must be at least 1", "recipe"], inputs=["{ws}/in/zero.toml"],
        setup=write("in/zero.toml", "[train]\nepochs = 0\n"))

    # 2. settings the command does not use
    add("forget -m retrain --set train.lr=1e6", 2, ["forget", M, "-c", "3", "-m", "retrain", "--set", "train.lr=1e6",
                                                    "-o", out], says=["does not use [train] settings"], inputs=[M])
    add("forget -m ft --set dau.alpha=0.5", 2, ["forget", M, "-c", "3", "-m", "ft", "--set", "dau.alpha=0.5", "-o", out],
        says=["does not use [dau] settings"], inputs=[M])
    add("train --set dau.epochs=3", 2, ["train", "--set", "dau.epochs=3", "-o", out], says=["does not use [dau]"])
    add("compare --methods ft --set ga.lr=0.1", 2, ["compare", M, "-c", "3", "--methods", "ft", "--set", "ga.lr=0.1",
                                                    "-o", "{ws}/out/cmp"], says=["does not use [ga]"], inputs=[M])
    add("prune --no-retrain --set train.lr=0.1", 2, ["prune", M, "-s", "0.5", "--no-retrain", "--set", "train.lr=0.1",
                                                     "-o", out], says=["--no-retrain skips"], inputs=[M])

    # 3. damaged but loadable checkpoints, in info and the other commands
    damages = {
        "missing weight": (lambda k: k["state_dict"].pop(conv(k)), "does not match the cnn architecture"),
        "wrong shape": (lambda k: k["state_dict"].__setitem__(conv(k), k["state_dict"][conv(k)][:1]), "the architecture needs"),
        "NaN weights": (lambda k: k["state_dict"][conv(k)].fill_(float("nan")), "NaN or infinite"),
        "mask of no parameter": (lambda k: k.__setitem__("masks", {"ghost.weight": {"shape": [8], "bits": __import__("torch").zeros(1, dtype=__import__("torch").uint8)}}), "a mask for 'ghost.weight'"),
        "negative split index": (lambda k: k["data"]["splits"]["val"].__setitem__(0, -3), "outside 0..1796"),
        "overlapping splits": (lambda k: k["data"]["splits"].__setitem__("test", k["data"]["splits"]["train"][:5].clone()), "overlaps"),
        "num_classes as text": (lambda k: k.__setitem__("num_classes", "10"), "wrong types: num_classes"),
        "malformed lineage": (lambda k: k["lineage"].append({"op": "forget"}), "lineage entry 2 is malformed"),
        "arch_args that build nothing": (lambda k: k.__setitem__("arch_args", {"depth": 9}), "do not build a cnn"),
    }
    for i, (name, (change, w)) in enumerate(damages.items()):
        f = f"{{ws}}/in/damaged{i}.pt"
        add(f"info: {name}", 3, ["info", f], says=["is a damaged dau checkpoint", w], inputs=[f],
            setup=damage(change, f"damaged{i}.pt"))
    for cmd in (["forget", "{ws}/in/damaged1.pt", "-c", "3", "-o", out], ["prune", "{ws}/in/damaged4.pt", "-s", "0.5", "-o", out],
                ["audit", "{ws}/in/damaged5.pt", "--classes", "3"]):
        add(f"{cmd[0]}: a damaged checkpoint", 3, cmd, says=["is a damaged dau checkpoint"], inputs=[cmd[1]])
    add("info: random bytes", 3, ["info", "{ws}/in/noise.pt"], says=["not a readable dau checkpoint"],
        inputs=["{ws}/in/noise.pt"], setup=write("in/noise.pt", os.urandom(4096)))
    add("info: truncated checkpoint", 3, ["info", "{ws}/in/half.pt"], says=["not a readable dau checkpoint"],
        inputs=["{ws}/in/half.pt"], setup=lambda ws: (ws / "in" / "half.pt").write_bytes((ws / "in" / "model.pt").read_bytes()[:3000]))

    def hostile(ws: Path) -> None:
        import torch

        torch.save({"format": "dau-checkpoint", "payload": Hostile(ws)}, ws / "in" / "hostile.pt")

    def not_pwned(ws: Path, case: Case) -> str | None:
        problem = refused(ws, case)
        return problem or ("the pickle ran code" if (ws / "PWNED").exists() else None)

    add("info: hostile pickle", 3, ["info", "{ws}/in/hostile.pt"], says=["refused for safety"],
        inputs=["{ws}/in/hostile.pt"], setup=hostile, check=not_pwned)

    # 4. machine faults, before the work
    add("-o is a folder", 4, ["train", "-o", "{ws}/out"], says=["is a folder"])
    add("-o in a missing folder", 4, ["forget", M, "-c", "3", "-o", "{ws}/nope/x.pt"], says=["does not exist"], inputs=[M])
    add("-o on a read-only file system", 4, ["forget", M, "-c", "3", "-o", "{ws}/ro/x.pt"],
        says=["read-only file system"], inputs=[M], needs_mount=True)
    add("-o on a full disk", 4, ["prune", M, "-s", "0.5", "-o", "{ws}/full/x.pt"], says=["no space left"], inputs=[M],
        needs_mount=True)
    add("--plot on a full disk", 4, ["audit", M, "--classes", "3", "--plot", "{ws}/full/roc.png"], says=["no space left"],
        inputs=[M], needs_mount=True)
    add("DAU_HOME is a file", 4, ["train", "-o", out], says=["DAU_HOME=", "is a file"], env={"DAU_HOME": "{ws}/in/zero.toml"})
    add("DAU_HOME read-only", 4, ["train", "-o", out], says=["cannot make the runs folder"], env={"DAU_HOME": "{ws}/ro/home"},
        needs_mount=True)
    add("recipe that is not text", 4, ["train", "--recipe", "{ws}/in/bin.toml", "-o", out], says=["not a text file"],
        inputs=["{ws}/in/bin.toml"], setup=write("in/bin.toml", bytes(range(256)) * 8))
    add("checkpoint is a folder", 4, ["info", "{ws}/in"], says=["is a folder"])
    add("checkpoint missing", 4, ["forget", "{ws}/in/none.pt", "-c", "3", "-o", out], says=["does not exist"])
    add("--download with no network", 4, ["train", "--dataset", "cifar10", "--download", "--data-root", "{ws}/cifar",
                                          "-o", out], says=["could not download CIFAR10"])

    # 5. nothing overwritten without --force
    add("audit --plot over a file", 5, ["audit", M, "--classes", "3", "--plot", "{ws}/out/mine.png"], says=["already exists"],
        inputs=["{ws}/out/mine.png"], setup=write("out/mine.png", b"my picture"))
    add("train -o over a file", 5, ["train", "-o", "{ws}/out/mine.png"], says=["already exists"], inputs=["{ws}/out/mine.png"])
    add("forget -o over a file", 5, ["forget", M, "-c", "3", "-o", "{ws}/out/mine.png"], says=["already exists"],
        inputs=[M, "{ws}/out/mine.png"])
    add("forget -o its input, --force", 5, ["forget", M, "-c", "3", "-o", M, "--force"], says=["refusing to overwrite the input"],
        inputs=[M])
    add("prune -o its input", 5, ["prune", M, "-s", "0.5", "-o", M], says=["refusing to overwrite the input"], inputs=[M])
    add("two forgets race for one -o", 5, [], check=race)

    # 6. run bookkeeping
    add("SIGTERM mid-run -> interrupted", 6, [], check=killed(signal.SIGTERM, "interrupted"))
    add("SIGKILL mid-run -> lost", 6, [], check=killed(signal.SIGKILL, "lost"))
    add("stale temporary file of a killed write is removed", 6, [], check=stale_cleaned)

    # 7. malformed runs, extreme values
    add("runs ls with damaged and lost runs", 7, [], check=lists_damaged)
    add("events with ±1e308, NaN, a 400-digit integer", 7, [], check=huge_events)

    # 8. user text is not markup
    add("path with [bold] in an error", 8, ["info", "{ws}/in/[bold]x[/bold].pt"], says=["[bold]x[/bold].pt"])
    add("recipe named [red]x[/red]", 8, ["train", "--recipe", "[red]x[/red]", "-o", out], says=["'[red]x[/red]'"])
    add("section names in an error", 8, ["forget", M, "-c", "3", "-m", "ft", "--set", "ga.lr=1", "-o", out],
        says=["[ga]", "[ft]"], inputs=[M])

    # 9. compare's inputs
    for seeds, w in [("", "takes a count"), (",", "lists no seed"), ("0,0", "repeats 0"), ("0", "at least 1 seed"),
                     ("0,-1", "0 or more"), ("5000", "at most 1000")]:
        add(f"compare --seeds '{seeds}'", 9, ["compare", M, "-c", "3", "--methods", "ft", "--seeds", seeds, "-o",
                                              "{ws}/out/cmp"], says=[w], inputs=[M])
    add("compare: a cell that is a list", 9, [], check=cell_tampered(lambda c: b"[1, 2]", "not a JSON object"))
    add("compare: a cell for another method", 9, [], check=cell_tampered(
        lambda c: json.dumps({**c, "method": "ga"}).encode(), "made for other settings"))
    add("compare: a cell without its UA", 9, [], check=cell_tampered(
        lambda c: json.dumps({k: v for k, v in c.items() if k != "ua"}).encode(), "its ua is not a number"))

    # 10. library warnings stay out of the line
    def nan_indices(ws: Path) -> None:
        import numpy as np

        np.save(ws / "in" / "nan.npy", np.array([np.nan, 1e30, 3.0]))

    add("index file of NaN floats (numpy cast)", 10, ["forget", M, "--indices", "{ws}/in/nan.npy", "-o", out],
        inputs=[M, "{ws}/in/nan.npy"], setup=nan_indices)

    def legacy(ws: Path) -> None:
        import torch

        torch.save({"format": "dau-checkpoint", "version": 1}, ws / "in" / "legacy.pt", pickle_protocol=pickle.HIGHEST_PROTOCOL,
                   _use_new_zipfile_serialization=False)

    add("legacy-format, protocol-5 pickle (torch's protocol warning)", 10, ["info", "{ws}/in/legacy.pt"],
        says=["not a readable dau checkpoint", "safe loader cannot read"],
        inputs=["{ws}/in/legacy.pt"], setup=legacy)

    # 11. removal is confined to run folders dau made
    for arg in ["", ".", "..", "../..", "/", "~", "2025", "{ws}/outside"]:
        add(f"runs rm '{arg}'", 11, [], check=confined(arg))

    def export_events(ws: Path) -> None:
        run = ws / "home" / "runs" / "20250101-000000-train-export"
        run.mkdir(parents=True, exist_ok=True)
        (run / "run.json").write_text(json.dumps({"id": run.name, "command": "train", "status": "completed"}))
        (run / "events.jsonl").write_text('{"v": 1, "t": 1.0, "type": "step", "phase": "train", "step": 1}\n')

    add("runs export -o the run's own events.jsonl --force", 11,
        ["runs", "export", "20250101-000000-train-export", "--csv", "-o",
         "{ws}/home/runs/20250101-000000-train-export/events.jsonl", "--force"],
        says=["refusing to overwrite the input"], inputs=["{ws}/home/runs/20250101-000000-train-export/events.jsonl"],
        setup=export_events)
    add("DAU_RUN_ID=../escape", 11, ["info", M], env={"DAU_RUN_ID": "../escape"},
        check=lambda ws, case: None if dau(ws, ["train", "--epochs", "1", "--set", "model.width=4", "-o",
                                                  str(ws / "out" / "esc.pt")], {"DAU_RUN_ID": "../escape"}).returncode == 0
        and not (ws / "home" / "escape").exists() and (ws / "out" / "esc.pt").unlink() is None else "escaped")

    # 12. only regular files are replaced; compare writes only into its own folder
    for kind in ("device", "fifo", "link"):
        add(f"--force onto a {kind}", 12, [], check=node_kept(kind))
    add("compare -o a folder of the user's compare.md and compare.json", 12, [], check=users_compare_folder)
    add("compare -o a file", 12, ["compare", M, "-c", "3", "--methods", "ft", "--seeds", "1", "-o", "{ws}/in/file.txt"],
        says=["-o takes a folder"], inputs=[M, "{ws}/in/file.txt"], setup=write("in/file.txt", "mine"))

    # 13. the reference bank is verified, not trusted
    for harm, name in (("nan", "a NaN reference file"), ("truncated", "a truncated reference file"),
                       ("hostile", "a hostile reference file"), ("another bank's", "a reference file of another bank"),
                       ("edited", "a reference file with one value edited")):
        add(name, 13, [], check=bank_damaged(harm))
    add("--references 2 on a bank of 4: never forgotten", 13, [], check=few_references)

    # 14. bounded resources and stray processes; one line for what remained
    add("--references 10^23", 14, ["audit", M, "-c", "3", "--references", str(10**23)], says=["256"], inputs=[M])
    add("--workers 999", 14, ["audit", M, "-c", "3", "--workers", "999"], says=["CPU cores"], inputs=[M])
    add("dau tui without a terminal", 14, ["tui"], says=["needs a terminal"])
    add("a 400-digit integer in a recipe", 14, ["train", "--recipe", "{ws}/in/big.toml", "-o", out],
        says=["400-digit"], inputs=["{ws}/in/big.toml"], setup=write("in/big.toml", "[train]\nepochs = " + "9" * 400))
    add("a forget set of one sample with DAU", 14, ["forget", M, "--indices", "{ws}/in/one.txt", "-o", out],
        says=["at least 2 samples"], inputs=[M], setup=lambda ws: (ws / "in" / "one.txt").write_text(
            str(__import__("torch").load(ws / "in" / "model.pt", weights_only=True)["data"]["splits"]["train"][0].item())))
    add("a string where the lineage holds a forget set", 14, ["info", "{ws}/in/forget-str.pt"],
        says=["has forget of the wrong type"], inputs=["{ws}/in/forget-str.pt"],
        setup=damage(lambda k: k["lineage"].append({"op": "forget", "time": 1.0, "config": {}, "wall_time_s": 1.0,
                                                     "image_passes": 1, "device": "cpu", "forget": "x"}),
                     "forget-str.pt"))
    add("a recorded recipe out of range, audit --references", 14,
        ["audit", "{ws}/in/odd.pt", "-c", "3", "--references", "3"], says=["train.lr must be"],
        inputs=["{ws}/in/odd.pt"], setup=damage(lambda k: k["lineage"][0]["config"]["train"].__setitem__("lr", 1e9),
                                                "odd.pt"))
    add("a newline and a terminal escape in a path", 14, ["info", "{ws}/in/a\nb\x1b[2J.pt"], says=["\\n", "\\x1b"])
    add("a 250-byte output name", 14, [], check=lambda ws, case: None if dau(
        ws, ["info", M, "--indices", str(ws / "out" / ("x" * 250)), "--classes", "3"]).returncode == 0 else "refused")
    add("standard output closed", 14, [], check=starved("stdout closed"))
    add("ulimit -v 1.5 GB", 14, [], check=starved("ulimit"))
    add("run.json a FIFO", 14, [], check=run_file("fifo"))
    add("run.json a link to /dev/zero", 14, [], check=run_file("zero"))
    add("a SIGKILLed compare --workers 2 leaves no worker", 14, [], check=orphaned_workers)

    # 15. what the first pass of the review left: foreign services, loops, sizes
    add("--ray at an address where a web server answers", 15, [], check=foreign_service)
    add("a lineage entry that contains itself", 15, [], check=loop_in_lineage)
    add("100,000 lineage entries", 15, [], check=long_lineage)
    add("invalid UTF-8 in events.jsonl", 15, [], check=bad_utf8_events)
    add("mask shapes in floats", 15, ["forget", "{ws}/in/fmask.pt", "-c", "3", "-m", "ft", "-o", out],
        says=["does not fit its parameter"], inputs=["{ws}/in/fmask.pt"],
        setup=damage(float_masks, "fmask.pt"))
    return c


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-k", default="", help="only cases whose name contains this")
    ap.add_argument("--group", type=int, action="append", help="only this group (repeat for more)")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the mounts below are undone
    ws = Path(tempfile.mkdtemp(prefix="dau-bad-inputs-"))
    (ws / "in").mkdir()
    (ws / "out").mkdir()
    mounted = mount(ws / "ro", "size=64k,ro") and mount(ws / "full", "size=64k")
    if mounted:
        with open(ws / "full" / "filler", "wb") as f:
            try:
                f.write(b"\0" * (1 << 20))
            except OSError:
                pass
    r = dau(ws, ["train", "--set", "model.width=8", "--epochs", "2", "--batch-size", "32", "--device", "cpu",
                 "-o", str(ws / "in" / "model.pt")])
    assert r.returncode == 0, r.stderr
    selected = [c for c in cases() if args.k in c.name and (not args.group or c.group in args.group)]
    held = failed = skipped = 0
    start = time.time()
    try:
        for c in selected:
            if c.needs_mount and not mounted:
                skipped += 1
                print(f"skipped  [{c.group:>2}] {c.name} (cannot mount a small file system here)")
                continue
            if c.setup:
                c.setup(ws)
            c.env = {k: v.replace("{ws}", str(ws)) for k, v in c.env.items()}
            t0 = time.time()
            try:
                problem = (c.check or refused)(ws, c)
            except Exception as e:  # noqa: BLE001 - a harness failure counts as a failed case
                problem = f"{type(e).__name__}: {e}"
            verdict = "held" if problem is None else "FAILED"
            held += problem is None
            failed += problem is not None
            print(f"{verdict:<8} [{c.group:>2}] {c.name}  ({time.time() - t0:.1f} s)" + (f"\n         {problem}" if problem else ""),
                  flush=True)
    finally:
        if mounted:
            for m in ("ro", "full"):
                subprocess.run(["umount", "-l", str(ws / m)], capture_output=True)
        shutil.rmtree(ws, ignore_errors=True)
    ran = held + failed
    print(f"\n{held}/{ran} held ({100 * held / max(ran, 1):.0f} %), {failed} failed, {skipped} skipped; "
          f"{len(selected)} cases in {time.time() - start:.0f} s")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
