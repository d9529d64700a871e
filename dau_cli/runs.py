"""Run directories: `run.json` plus an append-only `events.jsonl` (schema in docs/events.md).

Torch-free on purpose: the CLI writes runs and the dashboard reads them with this module alone.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

SCHEMA = 1
STATUSES = ("running", "completed", "failed", "interrupted")

Listener = Callable[[dict[str, Any]], None]


def dau_home() -> Path:
    """Where dau keeps runs and datasets: `$DAU_HOME`, else the platform's user data dir."""
    env = os.environ.get("DAU_HOME")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("dau", appauthor=False))


def runs_dir() -> Path:
    return dau_home() / "runs"


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write JSON to a temporary file beside `path`, then rename it into place."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2, default=_jsonable)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _jsonable(obj: Any) -> Any:
    if hasattr(obj, "tolist"):  # numpy arrays and scalars, torch tensors
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def new_run_id(command: str) -> str:
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{command}-{secrets.token_hex(3)}"


class EventSink:
    """Where engine code sends its events. This base class sends them to listeners only."""

    def __init__(self) -> None:
        self.listeners: list[Listener] = []

    def emit(self, type: str, **data: Any) -> None:
        event = {"v": SCHEMA, "t": time.time(), "type": type, **data}
        self._write(event)
        for listener in self.listeners:
            listener(event)

    def _write(self, event: dict[str, Any]) -> None:
        pass


class Run(EventSink):
    """One run directory; also the event sink that the engine writes to."""

    def __init__(self, command: str, argv: list[str], config: dict[str, Any], device: str = "cpu"):
        super().__init__()
        # A parent that starts dau as a child (`--tui`) names the run so it knows where to look.
        self.id = os.environ.pop("DAU_RUN_ID", None) or new_run_id(command)
        self.dir = runs_dir() / self.id
        self.dir.mkdir(parents=True, exist_ok=False)
        self.info: dict[str, Any] = {
            "schema": SCHEMA,
            "id": self.id,
            "command": command,
            "argv": list(argv),
            "config": config,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "device": device,
            "status": "running",
            "started": time.time(),
            "ended": None,
            "summary": {},
            "outputs": {},
        }
        self._events = open(self.dir / "events.jsonl", "a", buffering=1)
        self.save()
        self.emit("status", status="running")

    def _write(self, event: dict[str, Any]) -> None:
        if not self._events.closed:
            self._events.write(json.dumps(event, default=_jsonable) + "\n")
            self._events.flush()

    def update(self, **fields: Any) -> None:
        self.info.update(fields)
        self.save()

    def save(self) -> None:
        write_json_atomic(self.dir / "run.json", self.info)

    def finish(self, status: str, error: str | None = None) -> None:
        assert status in STATUSES
        self.emit("status", status=status, **({"error": error} if error else {}))
        self.info.update(status=status, ended=time.time())
        if error:
            self.info["error"] = error
        self.save()
        self._events.close()


# ----------------------------------------------------------------------------- reading


def read_run(path: Path) -> dict[str, Any] | None:
    """run.json of a run directory, or None if it is missing or unreadable."""
    try:
        return json.loads((path / "run.json").read_text())
    except (OSError, ValueError):
        return None


def list_runs(root: Path | None = None) -> list[dict[str, Any]]:
    """Every readable run, newest first, each with a `dir` key added."""
    root = root or runs_dir()
    runs = []
    if root.is_dir():
        for d in root.iterdir():
            info = read_run(d)
            if info is not None:
                info["dir"] = str(d)
                runs.append(info)
    runs.sort(key=lambda r: r.get("started") or 0, reverse=True)
    return runs


def parse_events(chunk: str) -> tuple[list[dict[str, Any]], str]:
    """Split text read from events.jsonl into complete events and the unfinished tail.

    Lines that are not JSON objects are skipped, so a corrupt line never stops a reader.
    """
    *lines, rest = chunk.split("\n")
    events = []
    for line in lines:
        line = line.strip()
        if not line:
            continue
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if isinstance(ev, dict) and "type" in ev:
            events.append(ev)
    return events, rest


def read_events(path: Path) -> Iterator[dict[str, Any]]:
    """All complete events of a run directory's events.jsonl."""
    try:
        text = (path / "events.jsonl").read_text()
    except OSError:
        return iter(())
    return iter(parse_events(text)[0])
