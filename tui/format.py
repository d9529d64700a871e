"""How the dashboard words a run: its status, its duration, an audit's verdict, a clipped cell."""

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


VERDICT_STYLE = {
    "forgotten": "bold green",
    "not forgotten": "bold red",
    "superficial": "bold magenta",
    "over-forgotten": "bold yellow",
    "no reference": "bold",
}
TEST_TITLE = {"output": "output", "lira": "membership (LiRA)", "relearn": "relearning", "probe": "probe"}
TEST_STATUS = {"above": ("above refs", "red"), "below": ("below refs", "yellow"), "pass": ("like refs", "green"),
               "undecided": ("undecided", "dim")}


def _num(value: Any, unit: str = "") -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "–"
    return f"{value:.1f}{unit}" if abs(value) >= 10 else f"{value:.2f}{unit}"


def verdict_text(verdict: Any, width: int = 200) -> Text:
    """An audit's verdict (a `model.Verdict`) as lines: the verdict and its first reason, then one
    line per reference test: where the audited model falls, its value, the references' mean ± sd
    and how many there are, and the AUC where the test has one (or why it could not decide)."""
    out = Text()
    out.append("verdict ", "bold")
    out.append(verdict.verdict.upper(), VERDICT_STYLE.get(verdict.verdict, "bold"))
    if verdict.reasons:
        out.append("  " + clip(verdict.reasons[0], max(width - len(verdict.verdict) - 10, 10)))
    for name, t in verdict.tests:
        label, style = TEST_STATUS.get(str(t.get("status")), (str(t.get("status", "?")), ""))
        line = Text("\n  ")
        line.append(f"{clip(TEST_TITLE.get(name, name), 18):<18} ")
        line.append(f"{label:<11}", style)
        if isinstance(t.get("why"), str) and t.get("status") == "undecided":
            line.append(" " + t["why"], "dim")
        else:
            unit = " %" if name in ("relearn", "probe") else ""
            line.append(f" {_num(t.get('value'), unit):>7}")
            if "reference_mean" in t:
                line.append(f"   refs {_num(t.get('reference_mean'))} ± {_num(t.get('reference_sd'))}{unit}", "dim")
            if isinstance(t.get("references"), (int, float)):
                line.append(f" (n={int(t['references'])})", "dim")
            if "auc" in t:
                line.append(f"   AUC {_num(t.get('auc'))}")
        line.truncate(width + 3, overflow="ellipsis")
        out.append_text(line)
    return out
