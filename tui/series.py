"""Numbers as the dashboard draws them, and a series that stays small however long a run grows
(no Textual, no torch)."""

from __future__ import annotations

import math
import time
from typing import Any

#: Most points a series keeps; older points are merged into bucket means as a run grows.
SERIES_LIMIT = 1000

#: Values beyond this magnitude are drawn at it, so sums and means of a series never overflow.
CLIP = 1e300


def finite(value: Any) -> float | None:
    """`value` as a finite float within ±CLIP, or None (strings, bools, NaN and infinities are skipped)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        value = float(value)
    except OverflowError:  # an integer too large for a float
        return None
    return max(-CLIP, min(CLIP, value)) if math.isfinite(value) else None


class Series:
    """A growing (x, y) series held in at most `limit` points.

    Points are kept in buckets of `stride` raw points (their means). When `limit` buckets fill
    up, neighbours are merged pairwise and the stride doubles, so memory and drawing cost stay
    bounded while the shape of the curve is kept. The newest, unfinished bucket is included
    in `points()` so the latest value is always visible.
    """

    __slots__ = ("limit", "stride", "count", "last", "_xs", "_ys", "_sx", "_sy", "_n")

    def __init__(self, limit: int = SERIES_LIMIT) -> None:
        if limit < 2:
            raise ValueError("limit must be at least 2")
        self.limit = limit - limit % 2  # even, so pairwise merging leaves no odd bucket
        self.stride = 1
        self.count = 0  # raw points added
        self.last: float | None = None  # the latest raw y
        self._xs: list[float] = []
        self._ys: list[float] = []
        self._sx = 0.0
        self._sy = 0.0
        self._n = 0

    def add(self, x: float, y: float) -> None:
        self.count += 1
        self.last = y
        self._sx += x
        self._sy += y
        self._n += 1
        if self._n >= self.stride:
            self._xs.append(self._sx / self._n)
            self._ys.append(self._sy / self._n)
            self._sx = self._sy = 0.0
            self._n = 0
            if len(self._xs) >= self.limit:
                self._halve()

    def _halve(self) -> None:
        xs, ys = self._xs, self._ys
        self._xs = [(a + b) / 2 for a, b in zip(xs[0::2], xs[1::2])]
        self._ys = [(a + b) / 2 for a, b in zip(ys[0::2], ys[1::2])]
        self.stride *= 2

    def points(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        xs, ys = list(self._xs), list(self._ys)
        if self._n:
            xs.append(self._sx / self._n)
            ys.append(self._sy / self._n)
        return tuple(xs), tuple(ys)

    def __len__(self) -> int:
        return len(self._xs) + (1 if self._n else 0)


def fmt_duration(seconds: float | None) -> str:
    if seconds is None or seconds < 0 or not math.isfinite(seconds):
        return "–"
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def fmt_time(t: float | None) -> str:
    if not t:
        return "–"
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t))


def fmt_number(value: Any) -> str:
    v = finite(value)
    if v is None:
        return str(value)
    if v == int(v) and abs(v) < 1e6:
        return str(int(v))
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.3f}"

