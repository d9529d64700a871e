"""GPU utilisation and memory through NVML (`pynvml`, from nvidia-ml-py), imported lazily.

A reader is any callable returning a list of `GpuSample`s, or None when there is no GPU to
report (no library, no driver, no device). The dashboard calls it from a worker thread.

GPUs are numbered the way CUDA (and so torch's `cuda:N`) numbers them: only the devices that
`CUDA_VISIBLE_DEVICES` lets through, in its order. NVML itself counts every device in PCI bus
order; CUDA does too for a machine of identical GPUs (set `CUDA_DEVICE_ORDER=PCI_BUS_ID` where
they differ, as torch users do, so both agree).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class GpuSample:
    index: int  # CUDA's number for the device (cuda:N in the process that reads it)
    name: str
    util: float  # percent of the last sample period the GPU was busy
    mem_used: int  # bytes
    mem_total: int  # bytes
    processes: tuple[tuple[int, int], ...] = ()  # (pid, bytes of GPU memory) of each compute process

    def memory_of(self, pid: int | None) -> int | None:
        """GPU memory held by process `pid` on this device, or None if it holds none."""
        used = [m for p, m in self.processes if p == pid]
        return sum(used) if used else None


def cuda_order(visible: str | None, uuids: Sequence[str]) -> list[int]:
    """NVML indices of the devices CUDA shows, in CUDA's order, given `CUDA_VISIBLE_DEVICES`.

    As CUDA does: entries are indices or (unique starts of) UUIDs, a bad or repeated entry ends
    the list, and an empty value hides every device. None (unset) shows them all.
    """
    if visible is None:
        return list(range(len(uuids)))
    order: list[int] = []
    for item in visible.split(","):
        item = item.strip()
        if item.lstrip("-").isdigit():
            i = int(item)
            found = [i] if 0 <= i < len(uuids) else []
        elif item:
            found = [i for i, u in enumerate(uuids) if u.startswith(item)]
        else:
            found = []
        if len(found) != 1 or found[0] in order:
            break
        order.append(found[0])
    return order


GpuReader = Callable[[], "list[GpuSample] | None"]


class NvmlReader:
    """Reads the GPUs CUDA would show through NVML. Any failure to start means "no GPU" for good."""

    def __init__(self, visible: str | None = None) -> None:
        """`visible`: a `CUDA_VISIBLE_DEVICES` value; this process's own if None."""
        self._visible = visible if visible is not None else os.environ.get("CUDA_VISIBLE_DEVICES")
        self._nvml = None
        self._handles: list = []
        self._names: list[str] = []
        self._failed = False
        self._lock = threading.Lock()

    def _start(self) -> bool:
        if self._failed:
            return False
        if self._nvml is not None:
            return True
        try:
            import pynvml

            pynvml.nvmlInit()
            handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
            if self._visible is not None:
                uuids = [_text(pynvml.nvmlDeviceGetUUID(h)) for h in handles]
                handles = [handles[i] for i in cuda_order(self._visible, uuids)]
            names = []
            for h in handles:
                name = pynvml.nvmlDeviceGetName(h)
                names.append(_text(name))
        except Exception:  # ImportError, NVMLError_LibraryNotFound, NVMLError_DriverNotLoaded, ...
            self._failed = True
            return False
        if not handles:
            self._failed = True
            return False
        self._nvml, self._handles, self._names = pynvml, handles, names
        return True

    def __call__(self) -> list[GpuSample] | None:
        with self._lock:
            if not self._start():
                return None
            nvml = self._nvml
            samples = []
            for i, (h, name) in enumerate(zip(self._handles, self._names)):
                try:
                    util = nvml.nvmlDeviceGetUtilizationRates(h).gpu
                    mem = nvml.nvmlDeviceGetMemoryInfo(h)
                except Exception:
                    continue  # one device failing (e.g. fallen off the bus) hides only that one
                samples.append(GpuSample(i, name, float(util), int(mem.used), int(mem.total), _processes(nvml, h)))
            return samples or None

    def close(self) -> None:
        with self._lock:
            if self._nvml is not None:
                try:
                    self._nvml.nvmlShutdown()
                except Exception:
                    pass
                self._nvml = None


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _processes(nvml, handle) -> tuple[tuple[int, int], ...]:
    """(pid, bytes) of the compute processes on a device; () where NVML cannot say (e.g. in a
    container that hides other PID namespaces, or a driver that does not report it)."""
    try:
        procs = nvml.nvmlDeviceGetComputeRunningProcesses(handle)
    except Exception:
        return ()
    # usedGpuMemory is None or NVML_VALUE_NOT_AVAILABLE (2**64 - 1) where the driver cannot say
    return tuple((int(p.pid), int(p.usedGpuMemory)) for p in procs
                 if p.usedGpuMemory is not None and 0 <= p.usedGpuMemory < 2**63)


def describe(samples: list[GpuSample] | None) -> str:
    """One line of plain text, e.g. `GPU0 H100 87% 30.1/79.6 GiB`, or "no GPU"."""
    if not samples:
        return "no GPU"
    parts = []
    for s in samples:
        parts.append(f"GPU{s.index} {s.name}  util {s.util:.0f}%  mem {s.mem_used / 2**30:.1f}/{s.mem_total / 2**30:.1f} GiB")
    return "   ".join(parts)
