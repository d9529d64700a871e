"""Groups 6 and 7: run bookkeeping tells the truth, and one malformed run never takes a view down.

`dau runs ls` and the dashboard read runs through the same `dau_cli.runs.list_runs`, whose one
`run_status` says `lost` for a run recorded as running whose process is gone and `damaged` for a
run.json that cannot be used. Charts skip or survive values such as ±1e308 and NaN.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from textual.widgets import DataTable

from dau_cli.files import clean_stale, pid_alive, write
from dau_cli.runs import list_runs, run_status, runs_dir
from tui.model import RunModel

GOOD = "20250101-100000-train-aaaaaa"
DAMAGED = {  # folder name -> what run.json holds
    "20250101-110000-train-notjson": b"{ this is not json",
    "20250101-110001-train-array": b"[1, 2, 3]",
    "20250101-110002-train-types": json.dumps({"id": 5, "command": ["x"], "status": "running", "started": "yesterday",
                                               "summary": "none"}).encode(),
    "20250101-110003-train-binary": bytes(range(256)),
    "20250101-110004-train-status": json.dumps({"status": "exploded", "started": 1.7e9}).encode(),
}


def dead_pid() -> int:
    return int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True).stdout)


def record(root: Path, name: str, **info) -> Path:
    d = root / name
    d.mkdir(parents=True)
    base = {"schema": 1, "id": name, "command": "train", "argv": [], "config": {}, "pid": os.getpid(),
            "host": socket.gethostname(), "device": "cpu", "status": "completed", "started": 1.7e9,
            "ended": 1.7e9 + 5, "summary": {"test_acc": 97.0}, "outputs": {}}
    (d / "run.json").write_text(json.dumps({**base, **info}))
    (d / "events.jsonl").write_text("")
    return d


@pytest.fixture
def messy_runs() -> Path:
    root = runs_dir()
    record(root, GOOD)
    for name, content in DAMAGED.items():
        (root / name).mkdir(parents=True)
        (root / name / "run.json").write_bytes(content)
    record(root, "20250101-120000-forget-killed", status="running", pid=dead_pid(), ended=None, started=1.8e9)
    (root / "20250101-130000-audit-nojson").mkdir()
    (root / "20250101-130000-audit-nojson" / "events.jsonl").write_text("")
    (root / "not-a-run").mkdir()  # an unrelated empty folder is not listed
    (root / "stray-file.txt").write_text("x")
    return root


def test_list_runs_keeps_every_run_and_marks_the_damaged_ones(messy_runs):
    runs = {r["id"] if r["status"] != "damaged" else Path(r["dir"]).name: r for r in list_runs()}
    assert runs[GOOD]["status"] == "completed"
    for name in [*DAMAGED, "20250101-130000-audit-nojson"]:
        assert runs[name]["status"] == "damaged" and runs[name]["error"], name
    assert runs["20250101-120000-forget-killed"]["status"] == "lost"
    assert "not-a-run" not in runs
    assert all(isinstance(r["summary"], dict) and (r["started"] is None or isinstance(r["started"], float))
               for r in runs.values())


def test_runs_ls_shows_damaged_and_lost_runs_and_exits_0(dau, messy_runs):
    result = dau("runs", "ls", "--json")
    assert result.exit_code == 0, result.output
    statuses = {Path(r["dir"]).name: r["status"] for r in json.loads(result.stdout)["runs"]}
    assert statuses["20250101-120000-forget-killed"] == "lost"
    assert sum(s == "damaged" for s in statuses.values()) == len(DAMAGED) + 1
    table = dau("runs", "ls")
    assert table.exit_code == 0 and "Traceback" not in table.output
    assert "damaged" in table.stdout and "lost" in table.stdout


def test_a_run_killed_outright_is_lost_and_one_on_another_host_is_left_alone():
    alive = {"status": "running", "pid": os.getpid(), "host": socket.gethostname()}
    assert run_status(alive) == "running"
    assert run_status({**alive, "pid": dead_pid()}) == "lost"
    assert run_status({**alive, "pid": dead_pid(), "host": "elsewhere"}) == "running"  # cannot tell from here
    assert run_status({"status": 3}) == "damaged"


def test_a_sigterm_ends_the_run_as_interrupted(tmp_path, tiny_ckpt):
    """A real process and signal: `dau forget` with a slow DAU, stopped by SIGTERM. (SIGKILL, whose
    run is then `lost`, is a case of benchmarks/bad_inputs.py; `run_status` is tested above.)"""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    args = [sys.executable, "-m", "dau_cli", "forget", str(tiny_ckpt), "--classes", "3", "--device", "cpu",
            "--set", "dau.epochs=2000", "-o"]
    for sig, status, code in (("TERM", "interrupted", 130),):
        out = tmp_path / f"{sig}.pt"
        proc = subprocess.Popen([*args, str(out)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 90
        while time.time() < deadline and not any(
                r["status"] == "running" and '"type": "step"' in (Path(r["dir"]) / "events.jsonl").read_text()
                for r in list_runs()):
            time.sleep(0.2)  # the DAU loop is running
        proc.send_signal(getattr(__import__("signal"), f"SIG{sig}"))
        _, stderr = proc.communicate(timeout=60)
        assert proc.returncode == code, stderr
        newest = list_runs()[0]
        assert newest["status"] == status, newest
        assert not out.exists() and not list(tmp_path.glob(".*.tmp"))
        if sig == "TERM":
            lines = [ln for ln in stderr.splitlines() if ln.strip()]
            assert lines[-1].startswith("terminated (SIGTERM); no output was written"), stderr
            assert "Traceback" not in stderr
        for r in list_runs():  # leave nothing running for the next round
            assert r["status"] != "running"


def test_stale_temporary_files_of_killed_writers_are_removed(tmp_path):
    dead = tmp_path / f".model.pt.{dead_pid()}.abc123.tmp"
    mine = tmp_path / f".model.pt.{os.getpid()}.def456.tmp"
    # A token of six decimal digits (1 in 17 draws) is not the pid: this live writer's file stays.
    token = next(n for n in range(999999, 100000, -1) if not pid_alive(n))  # read as a pid, it is dead
    mine_digits = tmp_path / f".run.json.{os.getpid()}.{token}.tmp"
    old_style = tmp_path / f".run.json.{dead_pid()}.tmp"
    other = tmp_path / ".hidden-notes.tmp"
    for p in (dead, mine, mine_digits, old_style, other):
        p.write_bytes(b"half")
    assert sorted(clean_stale(tmp_path)) == sorted([dead, old_style])
    assert mine.exists() and mine_digits.exists() and other.exists()


def test_a_killed_write_leaves_no_temporary_file(tmp_path):
    def crash(f):
        f.write(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write(tmp_path / "x.pt", crash)
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- the dashboard


def test_extreme_values_in_events_are_skipped_or_kept_finite():
    model = RunModel(limit=4)
    for i, v in enumerate([1.0, 1e308, 1e308, 1e308, float("nan"), float("inf"), 1e308, 2.0, -1e308, -1e308]):
        model.apply({"type": "step", "phase": "dau", "step": i + 1, "attacker_loss": v, "loss": v})
        model.apply({"type": "epoch", "phase": "dau", "epoch": i + 1, "metrics": {"ua": v}, "auc": {"loss": v}})
    snap = model.snapshot()
    for series in (*snap.steps.values(), *snap.metrics.values(), *snap.auc.values()):
        assert all(map(lambda y: y == y and abs(y) != float("inf"), series[1])), series


async def test_the_dashboard_lists_damaged_runs_and_opens_them(messy_runs):
    from tui.app import DauDashboard

    app = DauDashboard(runs_root=messy_runs, poll_interval=0.1, chart_interval=0.2, gpu_reader=lambda: None)
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.screen.query_one(DataTable)
        end = time.monotonic() + 8
        while table.row_count < 8 and time.monotonic() < end:
            await pilot.pause(0.05)
        rows = [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
        assert table.row_count == 8, rows
        status = [c.key.value for c in table.ordered_columns].index("status")  # by name: columns come and go with width
        assert sum(r[status] == "! damaged" for r in rows) == len(DAMAGED) + 1
        assert any(r[status].startswith("? lost") for r in rows)
        for i in range(table.row_count):  # open every run, damaged or not, and come back
            table.move_cursor(row=i)
            await pilot.press("enter")
            await pilot.pause(0.2)
            await pilot.press("escape")
            await pilot.pause(0.1)
        assert app.is_running


async def test_charts_survive_huge_and_nan_values(tmp_path):
    from tui.app import DauDashboard

    run = record(runs_dir(), GOOD, status="completed")
    lines = [{"v": 1, "t": 1.7e9 + i, "type": "step", "phase": "dau", "step": i, "total": 10, "epoch": 1,
              "attacker_loss": v, "defender_loss": v, "ce": v, "adv": v, "bt": v}
             for i, v in enumerate([0.5, 1e308, -1e308, "NaN", 1e308, 1e308, 0.4], 1)]
    text = "\n".join(json.dumps(e).replace('"NaN"', "NaN") for e in lines)
    text += '\n{"v": 1, "t": 1, "type": "epoch", "phase": "dau", "epoch": 1, "metrics": {"ua": 1e308}, "auc": {"loss": NaN}}'
    text += '\n{"v": 1, "t": 1, "type": "roc", "attack": "loss", "pair": "forget_vs_val", "fpr": [0, 1e308, NaN], "tpr": [0, -1e308, 1], "auc": Infinity}\n'
    (run / "events.jsonl").write_text(text)
    app = DauDashboard(runs_root=runs_dir(), run=run, poll_interval=0.1, chart_interval=0.2, gpu_reader=lambda: None)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(1.5)
        assert app.is_running
        screen = app.screen
        assert screen.snapshot.events >= 8
        await pilot.press("escape")
        await pilot.pause(0.2)
        assert app.is_running


# ----------------------------------------------------------------------------- group 8: removal is confined


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize("given", ["", ".", "..", "../..", "/", "~", "2025", "20250101-1", "not-a-run", "outside"])
def test_runs_rm_removes_only_runs_dau_made_inside_dau_home(refused, dau_home, messy_runs, tmp_path, given):
    """An empty id, `.`, `..`, a path, a too-short or ambiguous start, a folder of another kind:
    one line, and nothing anywhere is removed (the runs, the rest of DAU_HOME, the folder outside)."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "events.jsonl").write_text("")  # looks like a run folder, but is the user's
    (outside / "run.json").write_text("{}")
    (dau_home / "bank").mkdir()
    (dau_home / "bank" / "ref.pt").write_text("a reference model")
    arg = str(outside) if given == "outside" else given
    before_home = listing(dau_home)
    refused("runs", "rm", arg, "--yes", folder=outside)
    assert listing(dau_home) == before_home


def test_runs_rm_refuses_a_link_in_the_runs_folder(refused, dau_home, messy_runs, tmp_path):
    target = tmp_path / "mine"
    target.mkdir()
    (target / "run.json").write_text("{}")
    (messy_runs / "20250101-140000-train-linked").symlink_to(target)
    refused("runs", "rm", "20250101-140000-train-linked", "--yes", folder=target, says=["not a run folder"])


def test_a_leftover_dau_run_id_is_ignored_and_never_a_path(monkeypatch, dau_home):
    from dau_cli.runs import Run

    for leftover in ("../escape", "20250101-100000-train-aaaaaa/../../x"):
        monkeypatch.setenv("DAU_RUN_ID", leftover)
        run = Run("train", ["dau"], {})
        run.finish("completed")
        assert run.dir.parent == runs_dir() and run.dir.name != leftover
    monkeypatch.setenv("DAU_RUN_ID", GOOD)
    record(runs_dir(), GOOD)  # a run of that name exists already: a new id, not a crash
    run = Run("train", ["dau"], {})
    run.finish("completed")
    assert run.dir.name != GOOD


def test_runs_export_never_replaces_the_runs_own_files(refused, messy_runs):
    run = messy_runs / GOOD
    (run / "events.jsonl").write_text('{"v": 1, "t": 1.0, "type": "step", "phase": "train", "step": 1, "total": 1}\n')
    for own in ("events.jsonl", "run.json"):
        refused("runs", "export", GOOD, "--csv", "-o", run / own, "--force", inputs=[run / own], folder=run,
                says=["refusing to overwrite the input"])


@pytest.mark.parametrize("make", ["fifo", "dev zero", "huge"])
def test_a_run_file_that_is_not_a_small_regular_file_never_hangs_a_reader(dau, make):
    """A FIFO as run.json would block `open` forever, a link to /dev/zero would read forever: both,
    and a run.json beyond any size dau writes, are `damaged` at once."""
    run = record(runs_dir(), GOOD)
    (run / "run.json").unlink()
    if make == "fifo":
        os.mkfifo(run / "run.json")
    elif make == "dev zero":
        (run / "run.json").symlink_to("/dev/zero")
    else:
        with open(run / "run.json", "wb") as f:
            f.truncate(17 << 20)
    start = time.monotonic()
    r = dau("runs", "ls", "--json")
    assert r.exit_code == 0 and time.monotonic() - start < 20, r.output
    (listed,) = json.loads(r.stdout)["runs"]
    assert listed["status"] == "damaged"


def test_events_that_are_not_utf8_are_read_around(dau):
    run = record(runs_dir(), GOOD)
    (run / "events.jsonl").write_bytes(b'\xff\xfe{"v": 1, "t": 1.0, "type": "step", "phase": "train", "step": 1, '
                                       b'"total": 1, "loss": 0.5}\n{"v": 1, "t": 2.0, "type": "step", "phase": "train",'
                                       b' "step": 2, "total": 2, "loss": 0.4}\n')
    r = dau("runs", "export", GOOD, "--csv")
    assert r.exit_code == 0 and "0.4" in r.stdout, r.output
