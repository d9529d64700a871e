"""How the dashboard words a run: its status, its duration, a clipped cell."""

from __future__ import annotations

import os
import socket
import time
from typing import Any

from rich.text import Text

STATUS_STYLE = {
    "running": ("● running", "bold cyan"),
    "completed": ("✓ completed", "green"),
    "failed": ("✗ failed", "bold red"),
    "interrupted": ("■ interrupted", "yellow"),
    "lost": ("? running (lost)", "dim"),
}

def clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def is_lost(info: dict[str, Any]) -> bool:
    """A run that says `running` but whose process on this host is gone (e.g. killed -9)."""
    if info.get("status") != "running" or info.get("host") != socket.gethostname():
        return False
    pid = info.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # e.g. another user's process: it exists
        return False
    return False


def status_text(info: dict[str, Any] | None) -> Text:
    status = (info or {}).get("status") or "?"
    if info and is_lost(info):
        status = "lost"
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
