"""GPU utilisation and memory through NVML (`pynvml`, from nvidia-ml-py), imported lazily.

A reader is any callable returning a list of `GpuSample`s, or None when there is no GPU to
report (no library, no driver, no device). The dashboard calls it from a worker thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class GpuSample:
    index: int
    name: str
    util: float  # percent of the last sample period the GPU was busy
    mem_used: int  # bytes
    mem_total: int  # bytes


GpuReader = Callable[[], "list[GpuSample] | None"]


class NvmlReader:
    """Reads every visible GPU through NVML. Any failure to start means "no GPU" for good."""

    def __init__(self) -> None:
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
            names = []
            for h in handles:
                name = pynvml.nvmlDeviceGetName(h)
                names.append(name.decode() if isinstance(name, bytes) else str(name))
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
                samples.append(GpuSample(i, name, float(util), int(mem.used), int(mem.total)))
            return samples or None

    def close(self) -> None:
        with self._lock:
            if self._nvml is not None:
                try:
                    self._nvml.nvmlShutdown()
                except Exception:
                    pass
                self._nvml = None


def describe(samples: list[GpuSample] | None) -> str:
    """One line of plain text, e.g. `GPU0 H100 87% 30.1/79.6 GiB`, or "no GPU"."""
    if not samples:
        return "no GPU"
    parts = []
    for s in samples:
        parts.append(f"GPU{s.index} {s.name}  util {s.util:.0f}%  mem {s.mem_used / 2**30:.1f}/{s.mem_total / 2**30:.1f} GiB")
    return "   ".join(parts)
