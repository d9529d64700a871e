"""How the dashboard words a run: its status, its duration, a clipped cell."""

from __future__ import annotations

import time
from typing import Any

from rich.text import Text

from dau_cli.runs import run_status

STATUS_STYLE = {
    "running": ("● running", "bold cyan"),
    "completed": ("✓ completed", "green"),
    "failed": ("✗ failed", "bold red"),
    "interrupted": ("■ interrupted", "yellow"),
    "lost": ("? lost (process gone)", "dim"),
    "damaged": ("! damaged", "bold magenta"),
}

def clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def status_text(info: dict[str, Any] | None) -> Text:
    """The run's status as `dau runs ls` shows it (dau_cli.runs.run_status decides both)."""
    status = run_status(info) if info else "?"
    label, style = STATUS_STYLE.get(status, (status, ""))
    return Text(label, style=style)


def duration_of(info: dict[str, Any], now: float | None = None) -> float | None:
    started, ended = info.get("started"), info.get("ended")
    if not isinstance(started, (int, float)):
        return None
    if isinstance(ended, (int, float)):
        return ended - started
    if info.get("status") == "running":
        return (now or time.time()) - started
    return None
