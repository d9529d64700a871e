"""How the dashboard words a run: its status, duration, model, headline and progress, fitted to a
width without cutting a number (fit.py). An audit's verdicts are worded in panels.py.
"""

from __future__ import annotations

import time
from typing import Any

from rich.text import Text

from dau_cli.runs import run_status

from .fit import Piece, bar, join_pieces, piece
from .model import RunSnapshot, fmt_duration, fmt_number, fmt_time

STATUS_STYLE = {
    "running": ("● running", "bold cyan"),
    "completed": ("✓ completed", "green"),
    "failed": ("✗ failed", "bold red"),
    "interrupted": ("■ interrupted", "yellow"),
    "lost": ("? lost (process gone)", "dim"),
    "damaged": ("! damaged", "bold magenta"),
}


def status_text(info: dict[str, Any] | None, compact: bool = False) -> Text:
    """The run's status as `dau runs ls` shows it (dau_cli.runs.run_status decides both);
    `compact`: its sign alone (`✓`)."""
    status = run_status(info) if info else "?"
    label, style = STATUS_STYLE.get(status, (status, ""))
    return Text(label.split()[0] if compact else label, style=style)


def duration_of(info: dict[str, Any], now: float | None = None) -> float | None:
    started, ended = info.get("started"), info.get("ended")
    if not isinstance(started, (int, float)):
        return None
    if isinstance(ended, (int, float)):
        return ended - started
    if info.get("status") == "running":
        return (now or time.time()) - started
    return None


#: The headline numbers of the runs list, as `dau runs ls` names them, in its order.
HEADLINE = {"test_acc": "test", "ua": "UA", "ra": "RA", "ta": "TA", "mia_efficacy": "MIA", "avg_gap": "gap"}


def headline(summary: dict[str, Any] | None) -> list[str]:
    """A run's headline numbers as whole fields, as `dau runs ls` names them (`UA 12.4`); a summary
    without those numbers gives its own (`loss=0.41`). The verdict has a column of its own."""
    if not isinstance(summary, dict):
        return []
    known = [f"{short} {fmt_number(summary[k])}" for k, short in HEADLINE.items() if k in summary]
    return known or fields(summary)


def fields(metrics: dict[str, Any] | None) -> list[str]:
    """Numbers as whole fields `name=value`, the verdict left out (it is shown in its colour)."""
    if not isinstance(metrics, dict):
        return []
    return [f"{k}={fmt_number(v)}" for k, v in metrics.items() if k != "verdict" and not isinstance(v, (dict, list))]


def info_text(info: dict[str, Any], snap: RunSnapshot, loading: bool = False, missing: str | None = None,
              width: int = 200) -> Text:
    """The run screen's first line: command and method, status, start, duration, device, events;
    what does not fit leaves whole (the events first, then the device and the start)."""
    method = (info.get("config") or {}).get("method") if isinstance(info.get("config"), dict) else None
    what = str(info.get("command") or "starting") + (f" · {method}" if method else "")
    if info:
        status = status_text(info)
    else:
        status = Text(snap.status) if snap.status else Text("…", "dim")
    pieces = [piece(what, 0, "bold"), piece(status, 0)]
    pieces.append(piece(f"started {fmt_time(info.get('started') or snap.first_t)}", 3, gap=3))
    took = duration_of(info) if info else None
    if took is not None:
        pieces.append(piece(f"{'took' if info.get('ended') else 'elapsed'} {fmt_duration(took)}", 1, gap=3))
    if info.get("device"):
        pieces.append(piece(f"device {info['device']}", 4, gap=3))
    pieces.append(piece(f"{snap.events} events", 5, "dim", gap=3))
    if loading:
        pieces.append(piece("(loading…)", 2, "yellow"))
    if missing:
        pieces.append(piece(missing, 0, "bold yellow", gap=3))
    return join_pieces(pieces, width)


#: The progress bar's least and greatest width.
BAR = (8, 30)


def progress_text(snap: RunSnapshot, status: str | None, width: int = 200) -> Text:
    """The progress line, in the order it gives way: percent and ETA first (they always stay),
    then the bar, the phase, its step and epoch, the rate and images/s, an inner job's progress."""
    running = status == "running"
    pieces: list[Piece] = []
    if snap.total:
        pct = 100 * min(snap.step, snap.total) / snap.total
        pieces.append(piece(f"{pct:3.0f}%", 0, "bold"))
        if snap.eta is not None and running:
            pieces.append(piece(f"ETA {fmt_duration(snap.eta)}", 0, "bold"))
        elif snap.step >= snap.total:
            pieces.append(piece("phase done", 0))
        done = pct
        pieces.append(Piece(Text(" " * BAR[1]), 3, 2, BAR[0],
                            lambda w: bar(done, w, style="#4dabf7", full="━", empty="━", rest="grey30")))
    if snap.phase:
        pieces.append(piece(snap.phase, 1, "bold"))
    if snap.epoch is not None:
        pieces.append(piece(f"epoch {snap.epoch}/{snap.epochs}" if snap.epochs else f"epoch {snap.epoch}", 2))
    if snap.total:
        pieces.append(piece(f"step {snap.step}/{snap.total}", 2))
    elif snap.step:
        pieces.append(piece(f"step {snap.step}", 1))
    if snap.rate:
        pieces.append(piece(f"{snap.rate:.1f} steps/s", 5, "dim", gap=3))
    if "images_per_s" in snap.latest:
        pieces.append(piece(f"{snap.latest['images_per_s']:.0f} img/s", 6, "dim"))
    if snap.job and running:
        job = f"{snap.job}: {snap.job_phase or ''}"
        pieces.append(piece(f"{job} {snap.job_step}/{snap.job_total}" if snap.job_total else job, 4, gap=3))
    if not pieces:
        return Text("no progress yet", "dim")
    return join_pieces(pieces, width)
