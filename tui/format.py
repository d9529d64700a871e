"""How the dashboard words a run: its status, its duration, its progress, an audit's verdict, a clipped cell.

The verdicts' and tests' names and colours are dau_cli.verdicts', the same as the terminal's."""

from __future__ import annotations

import time
from typing import Any

from rich.text import Text

from dau_cli.runs import run_status
from dau_cli.verdicts import TESTS, styled_verdict

from .model import RunSnapshot, fmt_duration, fmt_time

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
    out.append_text(styled_verdict(verdict.verdict, upper=True))
    if verdict.reasons:
        out.append("  " + clip(verdict.reasons[0], max(width - len(verdict.verdict) - 10, 10)))
    for name, t in verdict.tests:
        label, style = TEST_STATUS.get(str(t.get("status")), (str(t.get("status", "?")), ""))
        line = Text("\n  ")
        line.append(f"{clip(TESTS[name].short if name in TESTS else name, 18):<18} ")
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


def info_text(info: dict[str, Any], snap: RunSnapshot, loading: bool = False, missing: str | None = None) -> Text:
    """The run screen's first line: command and method, status, start, duration, device, events."""
    out = Text()
    out.append(str(info.get("command") or "starting"), "bold")
    method = (info.get("config") or {}).get("method") if isinstance(info.get("config"), dict) else None
    if method:
        out.append(f" · {method}", "bold")
    out.append("  ")
    if info:
        out.append_text(status_text(info))
    elif snap.status:
        out.append(snap.status)
    else:
        out.append("…", "dim")
    out.append(f"   started {fmt_time(info.get('started') or snap.first_t)}")
    took = duration_of(info) if info else None
    if took is not None:
        out.append(f"   {'took' if info.get('ended') else 'elapsed'} {fmt_duration(took)}")
    if info.get("device"):
        out.append(f"   device {info['device']}")
    out.append(f"   {snap.events} events", "dim")
    if loading:
        out.append("  (loading…)", "yellow")
    if missing:
        out.append(f"   {missing}", "bold yellow")
    return out


def phase_text(snap: RunSnapshot) -> str:
    """Where the run is: its phase, epoch and step."""
    bits = []
    if snap.phase:
        bits.append(snap.phase)
    if snap.epoch is not None:
        bits.append(f"epoch {snap.epoch}/{snap.epochs}" if snap.epochs else f"epoch {snap.epoch}")
    if snap.total:
        bits.append(f"step {snap.step}/{snap.total}")
    elif snap.step:
        bits.append(f"step {snap.step}")
    return "  ".join(bits) or "no progress yet"


def pace_text(snap: RunSnapshot, status: str | None) -> str:
    """How fast it goes: ETA (or `phase done`), steps and images per second, an inner job's progress."""
    tail = []
    if snap.eta is not None and status == "running":
        tail.append(f"ETA {fmt_duration(snap.eta)}")
    elif snap.total and snap.step >= snap.total:
        tail.append("phase done")
    if snap.rate:
        tail.append(f"{snap.rate:.1f} steps/s")
    if "images_per_s" in snap.latest:
        tail.append(f"{snap.latest['images_per_s']:.0f} img/s")
    if snap.job and status == "running":
        job = f"{snap.job}: {snap.job_phase or ''}"
        tail.append(f"{job} {snap.job_step}/{snap.job_total}" if snap.job_total else job)
    return "   ".join(tail)
