"""The CPU's use and the memory of the machine the dashboard runs on, for the strip when there is
no GPU: read from Linux's /proc (no psutil), with the load average where /proc is missing.

A reader is any callable returning a `HostSample`, or None when nothing can be read.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class HostSample:
    cpus: int  # logical CPUs
    cpu: float | None  # percent of all CPUs busy since the last reading; None at the first one
    mem_used: int | None  # bytes in use (total less available), None where unknown
    mem_total: int | None  # bytes
    load: float | None = None  # the 1-minute load average
    job_rss: int | None = None  # resident memory of the run's own process, bytes


HostReader = Callable[[int | None], "HostSample | None"]


class ProcReader:
    """Reads /proc/stat, /proc/meminfo and /proc/<pid>/status; call it with the run's pid (or None)."""

    def __init__(self, proc: Path = Path("/proc")) -> None:
        self.proc = Path(proc)
        self._last: tuple[int, int] | None = None  # (busy, total) jiffies at the last reading
        self._lock = threading.Lock()

    def __call__(self, pid: int | None = None) -> HostSample | None:
        with self._lock:
            cpu = self._cpu()
            used, total = self._memory()
            try:
                load: float | None = os.getloadavg()[0]
            except OSError:
                load = None
            if cpu is None and total is None and load is None:
                return None
            return HostSample(os.cpu_count() or 1, cpu, used, total, load, self._rss(pid))

    def _cpu(self) -> float | None:
        try:
            first = (self.proc / "stat").read_text().split("\n", 1)[0].split()
            ticks = [int(x) for x in first[1:]]
        except (OSError, ValueError, IndexError):
            return None
        idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
        total = sum(ticks[:8])  # user nice system idle iowait irq softirq steal (guest is in user)
        last, self._last = self._last, (total - idle, total)
        if last is None or total <= last[1]:
            return None
        return max(0.0, min(100.0, 100.0 * (total - idle - last[0]) / (total - last[1])))

    def _memory(self) -> tuple[int | None, int | None]:
        fields = _kib_fields(self.proc / "meminfo")
        total, available = fields.get("MemTotal"), fields.get("MemAvailable")
        if total is None:
            return None, None
        if available is None:  # kernels before 3.14
            available = fields.get("MemFree", 0) + fields.get("Buffers", 0) + fields.get("Cached", 0)
        return max(0, total - available), total

    def _rss(self, pid: int | None) -> int | None:
        if pid is None:
            return None
        return _kib_fields(self.proc / str(pid) / "status").get("VmRSS")


def _kib_fields(path: Path) -> dict[str, int]:
    """`Name:  123 kB` lines of a /proc file, in bytes."""
    out = {}
    try:
        text = path.read_text()
    except OSError:
        return out
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if len(parts) == 2 and parts[1] == "kB" and parts[0].isdigit():
            out[name] = int(parts[0]) * 1024
    return out
