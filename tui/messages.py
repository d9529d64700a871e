"""Every message the dashboard's worker threads post to its UI (posting is thread-safe)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual.message import Message

from .gpu import GpuSample
from .host import HostSample
from .model import RunSnapshot


@dataclass
class OpenRun(Message):
    """The user picked a run to open (posted by the runs list, handled by the app)."""

    path: Path


@dataclass
class RunsListed(Message):
    """The run directories found under the runs root, newest first."""

    runs: list[dict[str, Any]]


@dataclass
class RunUpdated(Message):
    """New events or run.json contents of the followed run, as a frozen snapshot."""

    snapshot: RunSnapshot
    info: dict[str, Any] | None
    loading: bool = False  # still catching up with a long events.jsonl


@dataclass
class RunMissing(Message):
    """The followed run directory is not there: not yet created (vanished=False) or gone."""

    path: Path
    vanished: bool


@dataclass
class JobExited(Message):
    """The child process started by `dau ... --tui` has exited."""

    returncode: int
    log_tail: str


@dataclass
class GpuSampled(Message):
    """One reading of the local GPUs; None means there is no GPU to show (then `host`: the CPU and memory)."""

    samples: list[GpuSample] | None
    host: HostSample | None = None
