"""Helpers for the dashboard tests (a module of its own: `conftest` names collide across dirs)."""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures" / "runs"
FORGET_ID = "20250102-100000-forget-a1b2c3"
AUDIT_ID = "20250102-103000-audit-d4e5f6"
FAILED_ID = "20250102-093000-train-0f0f0f"
DEMO_ID = "20250102-110000-demo-7d7d7d"


def no_gpu() -> None:
    return None


def make_running_run(root: Path, run_id: str = "20250103-120000-forget-live01", **info: Any) -> Path:
    """A run directory that says it is running, owned by this (live) process."""
    d = root / run_id
    d.mkdir(parents=True)
    base = {
        "schema": 1,
        "id": run_id,
        "command": "forget",
        "argv": ["forget", "--method", "dau"],
        "config": {"method": "dau"},
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "device": "cpu",
        "status": "running",
        "started": time.time(),
        "ended": None,
        "summary": {},
        "outputs": {},
    }
    base.update(info)
    (d / "run.json").write_text(json.dumps(base))
    with open(d / "events.jsonl", "w") as f:
        f.write(json.dumps({"v": 1, "t": time.time(), "type": "status", "status": "running"}) + "\n")
        f.write(json.dumps({"v": 1, "t": time.time(), "type": "phase", "phase": "dau", "total": 1000, "epochs": 10}) + "\n")
    return d


def step_event(step: int, total: int = 1000, t: float | None = None) -> dict[str, Any]:
    return {
        "v": 1,
        "t": t if t is not None else time.time(),
        "type": "step",
        "phase": "dau",
        "step": step,
        "total": total,
        "epoch": 1 + step // 100,
        "loss": 0.5,
        "acc": 90.0,
        "attacker_loss": 0.6 + step * 1e-4,
        "attacker_acc": 60.0,
        "defender_loss": 1.5 - step * 1e-4,
        "ce": 0.4,
        "adv": 0.8,
        "bt": 0.3,
    }


def append(path: Path, text: str) -> None:
    with open(path, "a") as f:
        f.write(text)
        f.flush()


async def wait_until(pilot, predicate: Callable[[], bool], timeout: float = 20.0, what: str = "") -> None:
    """Let the app run until `predicate` holds; fail after `timeout` seconds (generous: a loaded
    2-core machine can delay the dashboard's timers by seconds; a pass returns at once)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        await pilot.pause(0.05)
    assert predicate(), f"timed out waiting for {what or predicate}"


def screen_text(app) -> str:
    """The screen on show as plain text, one line per row (what a terminal would show)."""
    import io

    from rich.console import Console

    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True, color_system="truecolor",
                      record=True, legacy_windows=False, safe_box=False)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text()


def row_cells(table, row: int) -> dict[str, str]:
    """One row of the runs table as {column key: its text}, for the columns on show."""
    return {col.key.value: str(cell) for col, cell in zip(table.ordered_columns, table.get_row_at(row))}


def cut_numbers(text: str) -> list[str]:
    """What looks like a number cut short on a screen's lines (outside the charts, whose axes are
    plotext's): a digit just before `…`, or a digit in the last column (cropped at the edge)."""
    import re

    lines = text.splitlines()
    width = max((len(line) for line in lines), default=0)
    bad = []
    for line in lines:
        if line[:1] in ("│", "╭", "╰"):
            continue
        bad += re.findall(r"\S*\d…", line)
        if len(line.rstrip()) >= width and line.rstrip()[-1:].isdigit():
            bad.append(line)
    return bad
