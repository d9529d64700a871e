"""SVG snapshots of the screens, drawn from the recorded runs at 120×40 and 80×24.

After a deliberate change to the look: `pytest tests/tui --snapshot-update`, then open the SVGs
in tests/tui/__snapshots__/ and check them by eye before committing. Each snapshot is also read
as text here, and must hold no number cut short (the SVG alone would not say).
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
from textual.widgets import DataTable

import tui.format
import tui.screens.runs
from tui.app import DauDashboard
from tui.gpu import GpuSample
from tui.host import HostSample
from tui.screens.run import RunScreen
from tui.widgets import GpuStrip
from tui_helpers import AUDIT_ID, DEMO_ID, FAILED_ID, FORGET_ID, cut_numbers, no_gpu, screen_text, wait_until

SIZE = (120, 40)
SMALL = (80, 24)
H100 = [GpuSample(0, "NVIDIA H100 80GB HBM3", 87.0, 31 * 2**30, 80 * 2**30, ((os.getpid(), 5 * 2**30),))]
LIVE_ID = "20250102-120000-forget-11ee11"
T_LIVE = 1735819200.0  # 2025-01-02 12:00:00 UTC
NOW = T_LIVE + 95  # "now" for the live run: its elapsed time, frozen


def host(pid: int | None) -> HostSample:
    return HostSample(16, 37.0, 5 * 2**30, 16 * 2**30, 1.2, 3 * 2**29 if pid is not None else None)


def dashboard(root: Path, run: str | None = None, gpu=no_gpu) -> DauDashboard:
    app = DauDashboard(runs_root=root, run=root / run if run else None, gpu_reader=gpu, host_reader=host,
                       poll_interval=0.1)
    app.root_label = "~/.local/share/dau/runs"  # the tmp path differs from run to run
    return app


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    """A live run's elapsed time drawn as of NOW."""
    class Clock:
        @staticmethod
        def time() -> float:
            return NOW

    monkeypatch.setattr(tui.format, "time", Clock)
    monkeypatch.setattr(tui.screens.runs, "time", Clock)


def live_run(root: Path) -> Path:
    """A DAU forget running in this process: a 60-step attacker warm-up, then 240 of 1000 game steps."""
    d = root / LIVE_ID
    d.mkdir()
    info = {"schema": 1, "id": LIVE_ID, "command": "forget", "argv": ["forget", "model.pt", "--classes", "3"],
            "config": {"method": "dau", "checkpoint": "/data/digits-cnn.pt"}, "pid": os.getpid(),
            "host": socket.gethostname(), "device": "cpu", "status": "running", "started": T_LIVE, "ended": None,
            "summary": {}, "outputs": {}}
    (d / "run.json").write_text(json.dumps(info))
    t = T_LIVE
    events = [{"t": t, "type": "status", "status": "running"},
              {"t": t + 1, "type": "phase", "phase": "attacker warm-up", "total": 60, "epochs": 0}]
    events += [{"t": t + 1 + s * 0.1, "type": "step", "phase": "attacker warm-up", "step": s, "total": 60, "epoch": 0,
                "attacker_loss": round(0.69 - 0.004 * s, 4)} for s in range(1, 61)]
    t += 8
    events.append({"t": t, "type": "phase", "phase": "dau", "total": 1000, "epochs": 10})
    for s in range(1, 241):
        events.append({"t": t + s * 0.25, "type": "step", "phase": "dau", "step": s, "total": 1000, "epoch": 1 + (s - 1) // 100,
                       "attacker_loss": round(0.45 + 0.2 * s / 240 + 0.02 * ((s * 7) % 5 - 2), 4),
                       "defender_loss": round(1.6 - 0.8 * s / 240, 4), "ce": round(0.4 - 0.1 * s / 240, 4),
                       "adv": round(0.9 - 0.5 * s / 240, 4), "bt": round(0.3 - 0.2 * s / 240, 4), "images_per_s": 512.0})
        if s % 100 == 0:
            events.append({"t": t + s * 0.25, "type": "epoch", "phase": "dau", "epoch": s // 100, "epochs": 10,
                           "metrics": {"forget_acc": 99 - 30 * s / 240, "retain_acc": 99.5 - s / 240},
                           "auc": {"loss": round(0.8 - 0.2 * s / 240, 3), "confidence": round(0.78 - 0.2 * s / 240, 3)}})
    with open(d / "events.jsonl", "w") as f:
        f.writelines(json.dumps({"v": 1, **ev}) + "\n" for ev in events)
    return d


async def loaded(pilot) -> None:
    """Wait until the run screen has drawn its run and GPU strip."""
    screen = pilot.app.screen
    assert isinstance(screen, RunScreen)
    strip = screen.query_one(GpuStrip)
    await wait_until(pilot, lambda: screen.updates > 0 and strip.text != "GPU: …")
    # without a GPU, the job's own memory comes with the reading after its pid is known
    await wait_until(pilot, lambda: strip.host is None or (strip.pid is None) == (strip.host.job_rss is None))
    await pilot.pause(0.3)
    assert cut_numbers(screen_text(pilot.app)) == []


def listed(rows: int):
    async def wait(pilot) -> None:
        table = pilot.app.screen.query_one(DataTable)
        await wait_until(pilot, lambda: table.row_count == rows)
        await pilot.pause(0.1)
        assert cut_numbers(screen_text(pilot.app)) == []

    return wait


@pytest.mark.parametrize("size", [SIZE, SMALL], ids=["120x40", "80x24"])
def test_runs_list(snap_compare, runs: Path, size):
    assert snap_compare(dashboard(runs), terminal_size=size, run_before=listed(4))


@pytest.mark.parametrize("size", [SIZE, SMALL], ids=["120x40", "80x24"])
def test_dau_forget_run(snap_compare, runs: Path, size):
    """A replay, with a GPU (and the job's memory on it: none, the run's process is gone)."""
    assert snap_compare(dashboard(runs, FORGET_ID, gpu=lambda: H100), terminal_size=size, run_before=loaded)


@pytest.mark.parametrize("size", [SIZE, SMALL], ids=["120x40", "80x24"])
def test_live_run(snap_compare, runs: Path, frozen, size):
    """A live DAU forget: percent and ETA first; its warm-up apart; without a GPU, the CPU and memory."""
    live_run(runs)
    gpu = (lambda: H100) if size == SIZE else no_gpu
    assert snap_compare(dashboard(runs, LIVE_ID, gpu=gpu), terminal_size=size, run_before=loaded)


def test_demo_replay_names_each_verdict(snap_compare, runs: Path):
    assert snap_compare(dashboard(runs, DEMO_ID), terminal_size=SMALL, run_before=loaded)


def test_audit_run_roc_on_log_fpr(snap_compare, runs: Path):
    assert snap_compare(dashboard(runs, AUDIT_ID), terminal_size=SIZE, run_before=loaded)


def test_failed_training_run(snap_compare, runs: Path):
    assert snap_compare(dashboard(runs, FAILED_ID), terminal_size=SIZE, run_before=loaded)


def test_help(snap_compare, runs: Path):
    async def help(pilot) -> None:
        await loaded(pilot)
        await pilot.press("question_mark")
        await pilot.pause(0.1)

    assert snap_compare(dashboard(runs, FORGET_ID), terminal_size=SIZE, run_before=help)
