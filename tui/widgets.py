"""The run screen's widgets: plotext line charts (their legends fitted to their width), the title bar
and the GPU or CPU strip."""

from __future__ import annotations

import math
from collections.abc import Sequence

from rich.markup import escape
from rich.text import Text
from textual.app import RenderResult
from textual.widgets import Static
from textual_plotext import PlotextPlot

from .gpu import GpuSample
from .host import HostSample
from .model import Roc
from .panels import strip_plain, strip_text

Points = tuple[Sequence[float], Sequence[float]]

#: One colour per curve, as hex for Textual markup and RGB for plotext.
PALETTE = {
    "attacker_loss": "#ff6b6b",
    "defender_loss": "#51cf66",
    "ce": "#4dabf7",
    "adv": "#da77f2",
    "bt": "#ffd43b",
    "guard": "#20c997",
    "loss": "#ff922b",
    "acc": "#4dabf7",
    "forget_acc": "#ff6b6b",
    "retain_acc": "#51cf66",
    "val_acc": "#4dabf7",
    "test_acc": "#da77f2",
    "train_acc": "#ffd43b",
}
FALLBACK = ["#ff922b", "#20c997", "#f06595", "#94d82d", "#748ffc", "#fab005", "#66d9e8", "#e599f7"]
GREY = "#868e96"


def rgb(hex_colour: str) -> tuple[int, int, int]:
    h = hex_colour.lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


def colour_for(name: str, index: int) -> str:
    return PALETTE.get(name) or FALLBACK[index % len(FALLBACK)]


def decimate(xs: Sequence[float], ys: Sequence[float], most: int) -> Points:
    """At most `most` points of a curve, as means of equal runs of neighbours."""
    n = len(xs)
    if n <= most or most < 1:
        return xs, ys
    k = math.ceil(n / most)
    dx = [sum(xs[i : i + k]) / len(xs[i : i + k]) for i in range(0, n, k)]
    dy = [sum(ys[i : i + k]) / len(ys[i : i + k]) for i in range(0, n, k)]
    return dx, dy


class Chart(PlotextPlot):
    """A bordered line chart. `series` holds the data as given, for drawing and for tests."""

    DEFAULT_CSS = """
    Chart {
        border: round $panel-lighten-2;
        border-title-color: $text;
        border-title-style: bold;
        border-subtitle-color: $text-muted;
        height: 1fr;
        width: 1fr;
        padding: 0;
    }
    """

    #: Shown in place of the axes while there is nothing to draw.
    empty_text = "waiting for data"

    def __init__(
        self, title: str, *, short_labels: bool = False, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.short_labels = short_labels  # legend without `_acc` / `_auc` suffixes
        self.border_title = title
        self.series: dict[str, Points] = {}
        self.colours: dict[str, str] = {}
        self.draws = 0  # how many times the plot was rebuilt (for tests and profiling)
        self.note = ""  # said before the legend (e.g. the attacker's warm-up, drawn apart)
        self._built_for: tuple[int, int] | None = None
        self._drawing: RenderResult | None = None

    # -- data

    def on_resize(self) -> None:
        self.border_subtitle = self.legend(self.size.width)

    def set_series(self, series: dict[str, Points], title: str | None = None, empty_text: str | None = None,
                   note: str = "") -> None:
        self.series = {k: v for k, v in series.items() if len(v[0])}
        self.colours = {k: colour_for(k, i) for i, k in enumerate(self.series)}
        if title is not None:
            self.border_title = title
        if empty_text is not None:
            self.empty_text = empty_text
        self.note = note
        self.border_subtitle = self.legend(self.size.width or 200)
        self._built_for = None
        self.refresh()

    def point_count(self, name: str | None = None) -> int:
        if name is not None:
            return len(self.series.get(name, ((), ()))[0])
        return sum(len(xs) for xs, _ in self.series.values())

    def legend(self, width: int = 200) -> str:
        """The note, then the curves' names in their colours: whole entries that fit in `width` cells
        (less the border's corners), then `…` where some were left out."""
        entries = [(self.note, "")] if self.note else []
        entries += [(f"━ {self.label_of(k)}", self.colours[k]) for k in self.series]
        room, used, out = max(width - 6, 1), 0, []
        for i, (entry, colour) in enumerate(entries):
            more = i < len(entries) - 1
            need = used + (1 if out else 0) + len(entry)
            if need > room - (2 if more else 0):  # room for ` …` after it, unless it is the last
                out.append("…")
                break
            used = need
            out.append(f"[{colour}]━[/] {escape(entry[2:])}" if colour else f"[dim]{escape(entry)}[/]")
        return " ".join(out)

    def label_of(self, name: str) -> str:
        return name.removesuffix("_acc").removesuffix("_auc") if self.short_labels else name

    # -- drawing

    def render(self) -> RenderResult:
        if not self.series:
            return Text(self.empty_text, style="dim italic", justify="center")
        size = (self.size.width, self.size.height)
        try:
            if self._built_for != size or self._drawing is None:
                self.plt.clear_data()
                self.plt.clear_figure()
                self.draw(max(20, self.size.width))  # about a point per column: plotext joins them with lines
                # built once per size and data: plotext's build applies a log scale to its own data
                # again each time it runs (a ROC chart drawn twice fails on the log of a log)
                self._drawing = super().render()
                self._built_for = size
                self.draws += 1
            return self._drawing
        except Exception as e:  # odd data must not take the dashboard down
            self._built_for = None
            return Text(f"cannot draw this chart: {e!r}", style="red", justify="center")

    def draw(self, most: int) -> None:
        plt = self.plt
        lo, hi = math.inf, -math.inf
        for name, (xs, ys) in self.series.items():
            dx, dy = decimate(xs, ys, most)
            if len(dx) == 1:  # one braille dot is all but invisible
                plt.scatter(dx, dy, marker="●", color=rgb(self.colours[name]))
            else:
                plt.plot(dx, dy, marker="braille", color=rgb(self.colours[name]))
            lo, hi = min(lo, xs[0]), max(hi, xs[-1])
        ticks = nice_ticks(lo, hi, max(3, self.size.width // 9)) if hi > lo else [lo]
        if ticks and all(math.isfinite(t) for t in ticks):
            plt.xticks(ticks, [fmt_tick(t) for t in ticks])


def fmt_tick(value: float) -> str:
    if abs(value) >= 1e6:
        return f"{value / 1e6:g}M"
    if abs(value) >= 1e4:
        return f"{value / 1e3:g}k"
    return f"{value:g}"


def nice_ticks(lo: float, hi: float, most: int = 5) -> list[float]:
    """Round tick positions (whole numbers at least) inside [lo, hi], at most `most` of them."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return []
    raw = (hi - lo) / max(1, most)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    step = max(step, 1.0)
    first = math.ceil(lo / step) * step
    ticks = []
    t = first
    while t <= hi + 1e-9 and len(ticks) < most + 1:
        ticks.append(float(round(t, 6)))
        t += step
    return ticks


class AucChart(Chart):
    """Attack AUCs by epoch, with the 0.5 line that a forgotten set should reach."""

    def draw(self, most: int) -> None:
        super().draw(most)
        plt = self.plt
        lo = min([min(ys) for _, ys in self.series.values()] + [0.45])
        hi = max([max(ys) for _, ys in self.series.values()] + [0.55])
        plt.horizontal_line(0.5, color=rgb(GREY))
        plt.ylim(lo - 0.01, hi + 0.01)


class RocChart(Chart):
    """ROC curves of the audit's attacks on a logarithmic FPR axis."""

    FLOOR = 1e-3  # FPRs below this (zeros above all) are drawn at it; a log axis has no 0

    def __init__(self, title: str, **kwargs) -> None:
        super().__init__(title, **kwargs)
        self.curves: tuple[Roc, ...] = ()

    def set_curves(self, curves: Sequence[Roc], title: str | None = None, empty_text: str | None = None) -> None:
        self.curves = tuple(curves)
        self.set_series({self.label(c): (c.fpr, c.tpr) for c in self.curves}, title=title, empty_text=empty_text)

    @staticmethod
    def label(curve: Roc) -> str:
        auc = f" {curve.auc:.3f}" if curve.auc is not None else ""
        return f"{curve.attack}{auc}"

    def draw(self, most: int) -> None:
        plt = self.plt
        positive = [x for xs, _ in self.series.values() for x in xs if x > 0]
        floor = max(self.FLOOR, min(positive)) if positive else self.FLOOR
        floor = 10 ** math.floor(math.log10(floor))
        diag = [floor * (1 / floor) ** (i / 40) for i in range(41)]
        plt.plot(diag, diag, marker="braille", color=rgb(GREY))
        for name, (xs, ys) in self.series.items():
            pts = [(max(x, floor), y) for x, y in zip(xs, ys)]
            dx, dy = decimate([p[0] for p in pts], [p[1] for p in pts], most)
            plt.plot(dx, dy, marker="braille", color=rgb(self.colours[name]))
        plt.xscale("log")  # the chance diagonal spans [floor, 1]; plotext's xlim misbehaves on log axes
        plt.ylim(0.0, 1.0)
        ticks = [10.0**e for e in range(int(round(math.log10(floor))), 1)]
        plt.xticks(ticks, [f"{t:g}" for t in ticks])


class TitleBar(Static):
    """The top line: `dau — <what is shown>` (a run folder's name, shown as it is: `[...]` in it is not markup)."""

    DEFAULT_CSS = """
    TitleBar {
        height: 1;
        width: 1fr;
        content-align: center middle;
        text-style: bold;
        background: $panel;
        color: $foreground;
    }
    """

    def __init__(self, title: str, **kwargs) -> None:
        super().__init__(Text(f"dau — {title}"), **kwargs)


class GpuStrip(Static):
    """One line: utilisation and memory of each local GPU (and the job's share), or without a GPU
    the CPU's use and the memory; fitted to its width, the bars and names leaving first."""

    DEFAULT_CSS = """
    GpuStrip {
        height: 1;
        padding: 0 1;
        background: $boost;
    }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__("GPU: …", **kwargs)
        self.samples: list[GpuSample] | None = None
        self.host: HostSample | None = None
        self.pid: int | None = None
        self.text = "GPU: …"
        self._shown = False

    def show(self, samples: list[GpuSample] | None, pid: int | None = None, host: HostSample | None = None) -> None:
        """Draw `samples` (or `host` without a GPU); `pid`: the run's process, whose own memory is shown as `job`."""
        self.samples, self.host, self.pid, self._shown = samples, host, pid, True
        self.text = strip_plain(samples, host, pid)
        self.refresh()

    def render(self) -> RenderResult:
        if not self._shown:
            return Text("GPU: …", "dim")
        return strip_text(self.samples, self.host, self.pid, max(self.content_size.width, 1))
