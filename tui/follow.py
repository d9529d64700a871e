"""Following a run's files on a timer, without Textual: what the run screen's worker calls.

`EventTailer` reads the lines appended to `events.jsonl` from a kept file offset; `RunFollower`
reads `run.json` when it changes, feeds the new events to a `model.RunModel`, watches the run
directory and the job writing it, and says at each poll what the screen should hear about.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from dau_cli.runs import parse_events, read_run

from .model import RunModel, RunSnapshot


class EventTailer:
    """Reads the events appended to a run's `events.jsonl` since the last call.

    The file offset is kept, so each poll reads only new bytes; an unfinished last line is held
    back until its newline arrives. If the file is replaced or truncated, reading starts over
    and `reset` is set so the caller can rebuild what it derived from the old file.
    """

    def __init__(self, run_dir: Path, chunk_bytes: int = 4 << 20) -> None:
        self.path = Path(run_dir) / "events.jsonl"
        self.chunk_bytes = chunk_bytes
        self.offset = 0
        self.exists = False  # whether the file was there at the last poll
        self.seen = False  # whether it was ever there
        self.reset = False  # set when the file started over; the caller clears it
        self.more = False  # set when the last poll stopped before the end of the file
        self._tail = b""
        self._ident: tuple[int, int] | None = None

    def poll(self) -> list[dict[str, Any]]:
        try:
            st = os.stat(self.path)
        except OSError:
            self.exists = self.more = False
            return []
        ident = (st.st_dev, st.st_ino)
        if self._ident is not None and (ident != self._ident or st.st_size < self.offset):
            self.offset, self._tail, self.reset = 0, b"", True
        self._ident = ident
        self.exists = self.seen = True
        if st.st_size == self.offset:
            self.more = False
            return []
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read(min(st.st_size - self.offset, self.chunk_bytes))
        except OSError:
            self.exists = self.more = False
            return []
        self.offset += len(data)
        self.more = self.offset < st.st_size
        buf = self._tail + data
        cut = buf.rfind(b"\n")
        if cut < 0:
            self._tail = buf
            return []
        self._tail = buf[cut + 1 :]
        events, _ = parse_events(buf[: cut + 1].decode("utf-8", "replace"))
        return events

    @property
    def pending(self) -> int:
        """Bytes of an unfinished last line held back."""
        return len(self._tail)


class ExitingJob(Protocol):
    """The child process writing the run (`job.Job`): whether it exited, and how."""

    returncode: int | None

    def poll(self) -> int | None: ...

    def log_tail(self) -> str: ...


@dataclass(frozen=True)
class News:
    """What one poll found, in the order the screen hears it: the run directory is missing
    (`vanished`: it was there before), the job exited, the run changed."""

    missing: bool | None = None  # None: nothing new about the directory; else whether it vanished
    exited: tuple[int, str] | None = None  # (return code, the end of its output)
    updated: tuple[RunSnapshot, dict[str, Any] | None, bool] | None = None  # (snapshot, run.json, catching up)


class RunFollower:
    """Follows one run directory: call `poll()` on a timer, and `restart()` to read it again from
    the start. A snapshot is handed out when something changed, at most every `interval` seconds
    while catching up with a long `events.jsonl` (`more`), at once otherwise."""

    def __init__(self, run_dir: Path, job: ExitingJob | None = None, interval: float = 0.5) -> None:
        self.run_dir = Path(run_dir)
        self.job = job
        self.interval = interval
        self.info: dict[str, Any] | None = None
        self._seen = False  # whether the run directory was ever there
        self._missing_told: bool | None = None  # whether a missing directory was told (and how), since it was last there
        self._job_told = False
        self._last_update = 0.0
        self.restart()

    def restart(self) -> None:
        """Read the run's files again from the start (run.json as well)."""
        self.tailer, self.model = EventTailer(self.run_dir), RunModel()
        self._info_key: tuple | None = None
        self._dirty = True

    @property
    def more(self) -> bool:
        """Whether the last poll stopped before the end of `events.jsonl` (poll again at once)."""
        return self.tailer.more

    def poll(self, now: float | None = None) -> News:
        self._read_info()
        events = self.tailer.poll()
        if self.tailer.reset:  # events.jsonl started over
            self.tailer.reset = False
            self.model = RunModel()
            self._dirty = True
        if events:
            self.model.apply_all(events)
            self._dirty = True
        missing = self._missing()
        exited = None
        if self.job is not None and not self._job_told and self.job.poll() is not None:
            self._job_told = True
            exited = (self.job.returncode, self.job.log_tail())
        now = time.monotonic() if now is None else now
        updated = None
        if self._dirty and (not self.tailer.more or now - self._last_update >= self.interval):
            updated = (self.model.snapshot(), dict(self.info) if self.info else None, self.tailer.more)
            self._dirty, self._last_update = False, now
        return News(missing, exited, updated)

    def _read_info(self) -> None:
        """run.json, read again when its inode, time or size changed (kept when it cannot be read)."""
        try:
            st = os.stat(self.run_dir / "run.json")
            key = (st.st_ino, st.st_mtime_ns, st.st_size)
            if key != self._info_key:
                self._info_key = key
                self.info = read_run(self.run_dir) or self.info
                self._dirty = True
        except OSError:
            pass

    def _missing(self) -> bool | None:
        """Whether the run directory vanished (True) or is not there yet (False), told once."""
        if self.run_dir.is_dir():
            self._seen, self._missing_told = True, None
            return None
        if self._missing_told is None:
            self._missing_told = self._seen
            return self._seen
        return None
