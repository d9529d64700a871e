"""Run directories: `run.json` plus an append-only `events.jsonl` (schema in docs/events.md).

Torch-free on purpose: the CLI writes runs and the dashboard reads them with this module alone.
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from dau_cli.errors import DauError
from dau_cli.files import clean_stale, jsonable, pid_alive, probe, write_json

SCHEMA = 1
STATUSES = ("running", "completed", "failed", "interrupted")
#: What a reader may show besides STATUSES: `lost` (recorded running, but its process on this host
#: is gone: SIGKILL, a crash, a full disk) and `damaged` (run.json unreadable or malformed).
SHOWN_STATUSES = (*STATUSES, "lost", "damaged")
#: The commands that record runs (`compare-cell`: one cell of a comparison).
RUN_COMMANDS = ("train", "import", "prune", "forget", "audit", "compare", "compare-cell", "demo")

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


def check_home() -> Path:
    """The runs folder, made if missing and probed, so a DAU_HOME that is a file, read-only or full
    is one line before any work starts. Stale temporary files of killed runs are removed."""
    home, root = dau_home(), runs_dir()
    if home.exists() and not home.is_dir():
        raise DauError(f"DAU_HOME={home} is a file; point DAU_HOME at a folder where dau may keep its runs")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DauError(f"cannot make the runs folder {root}: {e.strerror}; point DAU_HOME at a folder you can "
                       f"write to") from None
    probe(root, root / "run.json")
    for d in _subdirs(root):
        clean_stale(d)
    return root


def _subdirs(root: Path) -> list[Path]:
    try:
        return [Path(e.path) for e in os.scandir(root) if e.is_dir(follow_symlinks=False)]
    except OSError:
        return []


def new_run_id(command: str) -> str:
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{command}-{secrets.token_hex(3)}"


RUN_ID = re.compile(r"\d{8}-\d{6}-[A-Za-z0-9_-]+")  # what new_run_id makes: a folder name, never a path


def is_run_id(name: str) -> bool:
    return bool(RUN_ID.fullmatch(name))


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
        given = os.environ.pop("DAU_RUN_ID", None)  # a leftover or foreign value is ignored, never a path
        self.id = given if given and is_run_id(given) and not (runs_dir() / given).exists() else new_run_id(command)
        self.dir = check_home() / self.id
        self.dir.mkdir(exist_ok=False)
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
            self._events.write(json.dumps(event, default=jsonable) + "\n")
            self._events.flush()

    def update(self, **fields: Any) -> None:
        self.info.update(fields)
        self.save()

    def save(self) -> None:
        write_json(self.dir / "run.json", self.info, force=True)

    def finish(self, status: str, error: str | None = None) -> None:
        assert status in STATUSES
        try:
            self.emit("status", status=status, **({"error": error} if error else {}))
        except OSError:
            pass  # the event log is a convenience; run.json below is the record
        self.info.update(status=status, ended=time.time())
        if error:
            self.info["error"] = error
        try:
            self.save()
        finally:
            try:
                self._events.close()
            except OSError:
                pass


# ----------------------------------------------------------------------------- reading


def read_run(path: Path) -> dict[str, Any] | None:
    """run.json of a run directory as a well-formed record (see `normalise`), or None if the folder
    has neither run.json nor events.jsonl. A run.json that cannot be read, is not a JSON object or
    has fields of the wrong type gives a record with status `damaged` and the reason in `error`."""
    path = Path(path)
    try:
        raw: Any = json.loads(read_regular(path / "run.json", RUN_JSON_LIMIT).decode("utf-8"))
        problem = None if isinstance(raw, dict) else "run.json is not a JSON object"
    except FileNotFoundError:
        if not (path / "events.jsonl").exists():
            return None
        raw, problem = {}, "run.json is missing"
    except (OSError, ValueError) as e:  # unreadable, not UTF-8, not JSON
        raw, problem = {}, f"run.json is unreadable ({type(e).__name__})"
    return normalise(raw if isinstance(raw, dict) else {}, path, problem)


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def normalise(raw: dict[str, Any], path: Path, problem: str | None = None) -> dict[str, Any]:
    """A run record every reader can use without checks: `id`, `command`, `status` (one of
    SHOWN_STATUSES, from `run_status`), `started`/`ended` (float or None), `summary` and
    `outputs` (dicts), `error` (str or None), `dir`. Fields of the wrong type mark it damaged."""
    info = dict(raw)
    bad = [k for k, kind in (("id", str), ("command", str), ("status", str), ("summary", dict), ("outputs", dict),
                             ("pid", int), ("host", str)) if k in raw and not isinstance(raw[k], kind)]
    bad += [k for k in ("started", "ended") if raw.get(k) is not None and _num(raw.get(k)) is None]
    if raw.get("status") is not None and raw.get("status") not in STATUSES and "status" not in bad:
        bad.append("status")
    if problem is None and bad:
        problem = f"run.json has malformed {', '.join(bad)}"
    info.update(id=raw["id"] if "id" not in bad and "id" in raw else path.name,
                command=raw["command"] if "command" not in bad and "command" in raw else "?",
                started=_num(raw.get("started")), ended=_num(raw.get("ended")),
                summary=raw["summary"] if "summary" not in bad and "summary" in raw else {},
                outputs=raw["outputs"] if "outputs" not in bad and "outputs" in raw else {},
                dir=str(path))
    if problem:
        info.update(status="damaged", error=problem)
    else:
        info["status"] = run_status(raw)
        info["error"] = raw.get("error") if isinstance(raw.get("error"), str) else None
    return info


def run_status(info: dict[str, Any]) -> str:
    """The one status every view shows: the recorded one, except that a run recorded `running`
    whose process on this host is gone (SIGKILL, a crash, a full disk) is `lost`."""
    status = info.get("status")
    if status not in SHOWN_STATUSES:
        return "damaged"
    if status == "running" and info.get("host") == socket.gethostname():
        pid = info.get("pid")
        if isinstance(pid, int) and not isinstance(pid, bool) and not pid_alive(pid):
            return "lost"
    return status


def model_name(info: dict[str, Any]) -> str:
    """The checkpoint a run is about, as `dau runs ls` and the dashboard name it: the one audited or unlearned, a
    compare's dense model, or the one a train or import wrote (its file name)."""
    config = info.get("config") if isinstance(info.get("config"), dict) else {}
    cell = config.get("cell") if isinstance(config.get("cell"), dict) else {}
    checkpoints = config.get("checkpoints") if isinstance(config.get("checkpoints"), dict) else {}
    outputs = info.get("outputs") if isinstance(info.get("outputs"), dict) else {}
    for path in (config.get("checkpoint"), cell.get("checkpoint"), checkpoints.get("dense"), outputs.get("checkpoint")):
        if isinstance(path, str) and path:
            return Path(path).name
    return ""


def list_runs(root: Path | None = None) -> list[dict[str, Any]]:
    """Every run folder, newest first, as `normalise`d records (damaged ones included)."""
    root = root or runs_dir()
    runs = [info for d in _subdirs(root) if (info := read_run(d)) is not None]
    runs.sort(key=lambda r: r["started"] or 0, reverse=True)
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


RUN_JSON_LIMIT = 16 << 20  # a run.json is a few KiB; anything this large was not written by dau
EVENTS_LIMIT = 1 << 30


def read_regular(path: Path, limit: int) -> bytes:
    """The bytes of `path` if it is a regular file of at most `limit` bytes; else OSError. A FIFO,
    a device (a link to /dev/zero) or a huge file in a run folder never hangs or floods a reader."""
    import stat

    st = os.stat(path)  # FileNotFoundError as before
    if not stat.S_ISREG(st.st_mode):
        raise OSError(f"{path} is not a regular file")
    if st.st_size > limit:
        raise OSError(f"{path} is larger than {limit} bytes")
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise OSError(f"{path} grew beyond {limit} bytes")
    return data


def read_events(path: Path) -> Iterator[dict[str, Any]]:
    """All complete events of a run directory's events.jsonl."""
    try:
        text = read_regular(path / "events.jsonl", EVENTS_LIMIT).decode("utf-8", "replace")
    except OSError:
        return iter(())
    return iter(parse_events(text)[0])
