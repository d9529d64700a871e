"""The run screen's charts: the ones that fit at a useful height (fit.chart_grid), the latest
numbers of the others as a line of text, never an empty frame; the attacker's warm-up apart."""

from __future__ import annotations

from rich.markup import escape
from textual.app import ComposeResult
from textual.containers import Grid, Vertical
from textual.widgets import Static

from ..fit import chart_grid
from ..model import ATTACKER_KEYS, DEFENDER_KEYS, RunSnapshot, fmt_number
from ..panels import numbers_text
from ..widgets import AucChart, Chart, RocChart

#: Each chart's name in the line of numbers that stands for it.
SHORT = {"attacker": "Attacker", "defender": "Defender", "accuracy": "Accuracy", "auc": "AUC", "roc": "ROC"}


class ChartsPanel(Vertical):
    """Losses, accuracies, AUCs and ROC curves: as many charts as fit, each at least
    CHART_HEIGHT rows, the most telling first; the rest as their latest numbers."""

    DEFAULT_CSS = """
    ChartsPanel { height: 1fr; }
    ChartsPanel #charts { grid-gutter: 0; height: 1fr; grid-rows: 1fr; }
    ChartsPanel #numbers { height: auto; padding: 0 1; display: none; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.snapshot = RunSnapshot()
        self.pair: str | None = None  # the ROC pair on show
        self.shown: tuple[str, ...] = ()  # the charts on show (for tests)
        self._drawn = (-1, -1, -1)

    def compose(self) -> ComposeResult:
        with Grid(id="charts"):
            yield Chart("Attacker loss", id="attacker")
            yield Chart("Defender loss", id="defender")
            yield Chart("Accuracy by epoch (%)", short_labels=True, id="accuracy")
            yield AucChart("Attack AUC by epoch", short_labels=True, id="auc")
            yield RocChart("ROC, log FPR", id="roc")
        yield Static("", id="numbers")

    def on_resize(self) -> None:
        self._layout()

    # -- data

    def show(self, snap: RunSnapshot) -> None:
        """Draw the charts whose data changed since the last call, then lay them out. Before the
        charts are mounted, or while they are torn down, only keep `snap` (the next call draws it)."""
        self.snapshot = snap
        if not self.query("#numbers"):  # composed last: when it is there, every chart is
            return
        if snap.steps_version != self._drawn[0]:
            self._draw_steps()
        if snap.epochs_version != self._drawn[1]:
            self._draw_epochs()
        if snap.roc_version != self._drawn[2]:
            self.draw_roc()
        self._drawn = (snap.steps_version, snap.epochs_version, snap.roc_version)
        self._layout()

    def pairs(self) -> list[str]:
        return list(dict.fromkeys(c.pair for c in self.snapshot.roc))

    def next_pair(self) -> None:
        pairs = self.pairs()
        if len(pairs) > 1:
            self.pair = pairs[(pairs.index(self.pair) + 1) % len(pairs)] if self.pair in pairs else pairs[0]
            self.draw_roc()
            self._layout()

    def _draw_steps(self) -> None:
        snap = self.snapshot
        attacker, defender = self.query_one("#attacker", Chart), self.query_one("#defender", Chart)

        def title(name: str, key: str) -> str:
            v = snap.latest.get(key)
            return f"{name}  {fmt_number(v)}" if v is not None else name

        if snap.dau:
            game = {k: snap.steps[k] for k in ATTACKER_KEYS if k in snap.steps}
            if game or not snap.warmup:  # the game, with its warm-up in a word
                attacker.set_series(game, title("Attacker loss", "attacker_loss"), note=warmup_note(snap))
            else:  # only the warm-up so far: draw it, on its own axis
                warm = {k: snap.warmup[k] for k in ATTACKER_KEYS if k in snap.warmup}
                name = (snap.warmup_phase or "warm-up").removeprefix("attacker ")
                attacker.set_series(warm, title(f"Attacker {name}", "attacker_loss"))
            defender.set_series(
                {k: snap.steps[k] for k in DEFENDER_KEYS if k in snap.steps}, title("Defender loss", "defender_loss")
            )
        else:
            empty = "no step events" if snap.status not in (None, "running") else "waiting for step events"
            attacker.set_series({k: snap.steps[k] for k in ("loss",) if k in snap.steps}, title("Loss", "loss"), empty)
            defender.set_series({k: snap.steps[k] for k in ("acc",) if k in snap.steps}, title("Step accuracy (%)", "acc"), empty)

    def _draw_epochs(self) -> None:
        snap = self.snapshot
        done = snap.status not in (None, "running")
        accs = {k: v for k, v in snap.metrics.items() if k.endswith("acc")}
        self.query_one("#accuracy", Chart).set_series(
            accs, empty_text="no epoch events" if done else "waiting for epoch events"
        )
        # DAU also reports its own attacker's held-out AUC among the metrics (`attacker_auc`)
        aucs = {**snap.auc, **{k: v for k, v in snap.metrics.items() if k.endswith("_auc")}}
        self.query_one("#auc", AucChart).set_series(
            aucs, empty_text="no attack AUCs" if done else "waiting for attack AUCs"
        )

    def draw_roc(self) -> None:
        pairs = self.pairs()
        if self.pair not in pairs:
            self.pair = pairs[0] if pairs else None
        curves = [c for c in self.snapshot.roc if c.pair == self.pair]
        title = f"ROC {escape(self.pair)}, log FPR" if self.pair else "ROC, log FPR"  # a title is markup
        if len(pairs) > 1:
            title += f"  ({pairs.index(self.pair) + 1}/{len(pairs)}, p: next)"
        self.query_one("#roc", RocChart).set_curves(curves, title=title, empty_text="no ROC curves (they come from `dau audit`)")

    # -- layout

    def order(self) -> list[tuple[str, int]]:
        """The charts this run has, (name, columns spanned), the most telling first; those without
        data after those with. An audit's single epoch says no more than its ROC legend: ROC alone."""
        snap = self.snapshot
        curves = bool(snap.steps or snap.warmup) or any(len(xs) > 1 for xs, _ in [*snap.metrics.values(),
                                                                                  *snap.auc.values()])
        if snap.roc and not curves:
            return [("roc", 3)]
        names = ["attacker", "defender", "auc", "accuracy"] if snap.dau else ["attacker", "accuracy", "defender", "auc"]
        charts = [(n, 1) for n in names] + ([("roc", 2)] if snap.roc else [])
        full = [c for c in charts if self._has_data(c[0])]
        return full + [c for c in charts if c not in full]

    def _has_data(self, name: str) -> bool:
        return bool(self.query_one(f"#{name}", Chart).series)

    def _layout(self) -> None:
        width, height = self.size.width, self.size.height
        if not width or not height:
            return
        order = self.order()
        grid = chart_grid(order, width, height)
        hidden = [n for n, _ in order if n not in grid.shown and self._has_data(n)]
        if hidden:  # a line of numbers stands for them
            grid = chart_grid(order, width, height - 1)
            hidden = [n for n, _ in order if n not in grid.shown and self._has_data(n)]
        box = self.query_one("#charts", Grid)
        box.display = bool(grid.shown)
        if grid.shown:
            box.styles.grid_size_columns = grid.columns
            box.styles.grid_size_rows = grid.rows
        charts = {c.id: c for c in box.query(Chart)}
        for i, name in enumerate([*grid.shown, *(n for n in charts if n not in grid.shown)]):
            chart = charts[name]
            if box.children.index(chart) != i:  # the grid places its children in their order
                box.move_child(chart, before=i)
            chart.display = name in grid.shown
            if name in grid.spans:
                chart.styles.column_span = grid.spans[name]
        numbers = self.query_one("#numbers", Static)
        numbers.display = bool(hidden)
        if hidden:
            lines = 1 if grid.shown else max(1, height)
            numbers.update(numbers_text([self._numbers(n) for n in hidden], max(width - 2, 1), lines))
        self.shown = grid.shown

    def _numbers(self, name: str) -> tuple[str, list[tuple[str, str]]]:
        """A chart's latest value of each curve (a ROC curve's AUC), for the line that stands for it."""
        if name == "roc":
            roc = self.query_one("#roc", RocChart)
            return f"ROC {self.pair or ''}".strip(), [(c.attack, fmt_number(c.auc)) for c in roc.curves]
        chart = self.query_one(f"#{name}", Chart)
        if len(chart.series) == 1 and name in ("attacker", "defender"):  # its title holds its latest value
            return str(chart.border_title).replace("  ", " "), []
        return SHORT[name], [(chart.label_of(k), fmt_number(ys[-1])) for k, (_, ys) in chart.series.items()]


def warmup_note(snap: RunSnapshot) -> str:
    """The attacker's warm-up in a word, drawn apart from the game: `warm-up 1000 steps 0.693→0.412`."""
    if not snap.warmup_steps:
        return ""
    name = (snap.warmup_phase or "warm-up").removeprefix("attacker ")
    ys = snap.warmup.get("attacker_loss", ((), ()))[1]
    span = f" {fmt_number(ys[0])}→{fmt_number(ys[-1])}" if ys else ""
    return f"{name} {snap.warmup_steps} steps{span}"

