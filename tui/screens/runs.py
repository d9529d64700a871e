"""The runs list: every run directory, newest first; enter opens one (the app is told by message)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static
from textual.worker import get_current_worker

from dau_cli.runs import list_runs, model_name

from dau_cli.verdicts import styled_verdict

from ..fit import Column, Fitted, clip_words, fit_columns, fit_fields
from ..format import duration_of, headline, status_text
from ..messages import OpenRun, RunsListed
from ..model import fmt_duration, fmt_time
from ..widgets import TitleBar

#: How often the runs list is re-read, in seconds.
LIST_INTERVAL = 2.0
#: The columns, in their order: (key, heading).
COLUMNS = (("id", "Run"), ("command", "Command"), ("model", "Model"), ("verdict", "Verdict"), ("status", "Status"),
           ("duration", "Duration"), ("started", "Started"), ("metrics", "Headline"))
#: What gives way, in order, when the table is wider than the screen: the run, command, model and
#: verdict stay (the model narrows last, at word breaks); no cell is ever cut inside a number.
GIVE_WAY = (("started", "drop"), ("metrics", "narrow"), ("duration", "drop"), ("status", "compact"),
            ("metrics", "drop"), ("model", "narrow"), ("status", "drop"))
LEAST = {"metrics": 24, "model": 10}


class RunsTable(DataTable):
    """The runs, newest first; enter opens the one under the cursor."""

    BINDINGS = [
        Binding("enter", "select_cursor", "Open"),
        Binding("up", "cursor_up", "Pick", key_display="↑↓"),
        Binding("down", "cursor_down", "Pick", show=False),
    ]


class RunsScreen(Screen):
    """Every run directory with its command, status, start, duration and headline metrics."""

    BINDINGS = [Binding("r", "refresh", "Refresh")]

    DEFAULT_CSS = """
    RunsScreen #runs-title { height: 1; padding: 0 1; background: $boost; }
    RunsScreen RunsTable { height: 1fr; }
    RunsScreen #runs-empty { padding: 1 2; color: $text-muted; }
    """

    def __init__(self, runs_root: Path, root_label: str, open_live: bool = True) -> None:
        """
        Args:
            runs_root: where the run directories are.
            root_label: how to name that folder in the title (e.g. with `~`).
            open_live: open the newest running run when the list first loads.
        """
        super().__init__()
        self.runs_root = runs_root
        self.root_label = root_label
        self.open_live = open_live
        self.runs: list[dict[str, Any]] = []
        self._listed_once = False
        self._hidden_listing: RunsListed | None = None
        self.fitted: Fitted | None = None  # the columns on show and their widths
        self._stop = threading.Event()
        self._wake = threading.Event()

    def compose(self) -> ComposeResult:
        yield TitleBar("runs")
        yield Static(Text(f"Runs in {self.root_label}"), id="runs-title")  # a Text: `[` in a path is not markup
        yield RunsTable(cursor_type="row", zebra_stripes=True, id="runs")
        yield Static("", id="runs-empty")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(RunsTable).focus()
        self.watch_runs()

    def on_unmount(self) -> None:
        self._stop.set()
        self._wake.set()

    def action_refresh(self) -> None:
        self._wake.set()

    @work(thread=True, exclusive=True, group="list-runs")
    def watch_runs(self) -> None:
        worker = get_current_worker()
        previous = None
        while not worker.is_cancelled and not self._stop.is_set():
            forced = self._wake.is_set()
            self._wake.clear()
            runs = list_runs(self.runs_root)  # each with its one status: lost and damaged included
            key = [(r.get("dir"), r.get("status"), r.get("ended"), repr(r.get("summary"))) for r in runs]
            if any(r.get("status") == "running" for r in runs):
                key.append(time.time() // LIST_INTERVAL)  # their durations go on
            if key != previous or forced:
                previous = key
                self.post_message(RunsListed(runs))
            self._wake.wait(LIST_INTERVAL)

    def on_runs_listed(self, message: RunsListed) -> None:
        if not self.is_current and self._listed_once:
            self._hidden_listing = message  # drawn when the list is shown again
            return
        self._show_runs(message)

    def on_screen_resume(self) -> None:
        if self._hidden_listing is not None:
            message, self._hidden_listing = self._hidden_listing, None
            self._show_runs(message)

    def on_resize(self) -> None:
        if self._listed_once:
            self._show_runs(RunsListed(self.runs))

    def _show_runs(self, message: RunsListed) -> None:
        self.runs = message.runs
        table = self.query_one(RunsTable)
        selected = None
        if table.row_count and table.cursor_row < table.row_count:
            selected = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
        now = time.time()
        cells = [self._cells(info, now) for info in self.runs]
        fitted = self._fit(cells, table.size.width or self.size.width)
        if fitted != self.fitted:
            table.clear(columns=True)
            for key, heading in COLUMNS:
                if key in fitted.widths:
                    table.add_column("" if key in fitted.compact else heading, width=fitted.widths[key], key=key)
            self.fitted = fitted
        else:
            table.clear()
        for info, row in zip(self.runs, cells):
            table.add_row(*(self._cell(key, row, fitted) for key in fitted.widths), key=info["dir"])
        empty = self.query_one("#runs-empty", Static)
        empty.update("" if self.runs else "No runs yet. Start one, e.g. `dau forget ... --method dau`.")
        empty.display = not self.runs
        first = not self._listed_once
        self._listed_once = True
        live = next((r for r in self.runs if r.get("status") == "running"), None)
        if first and live is not None and self.open_live:
            self._move_to(live["dir"])
            self.call_after_refresh(self.open_run, Path(live["dir"]))
        elif selected is not None:
            self._move_to(selected)

    @staticmethod
    def _cells(info: dict[str, Any], now: float) -> dict[str, Any]:
        """One run's cells, whole: words, Rich texts, or a list of headline fields."""
        summary = info.get("summary") if isinstance(info.get("summary"), dict) else {}
        verdict = summary.get("verdict")
        failed = info.get("status") in ("failed", "damaged") and info.get("error")
        return {"id": Path(info["dir"]).name, "command": str(info.get("command", "?")), "model": model_name(info),
                "verdict": verdict if isinstance(verdict, str) else "", "status": info,
                "duration": fmt_duration(duration_of(info, now)), "started": fmt_time(info.get("started")),
                "metrics": str(info["error"]) if failed else headline(summary), "failed": bool(failed)}

    @staticmethod
    def _fit(cells: list[dict[str, Any]], width: int) -> Fitted:
        def wide(key: str, row: dict[str, Any]) -> int:
            value = row[key]
            if key == "status":
                return status_text(value).cell_len
            return len("  ".join(value)) if isinstance(value, list) else len(value)

        columns = [Column(key, max([len(heading), *(wide(key, r) for r in cells)]), LEAST.get(key, 0),
                          1 if key == "status" else 0) for key, heading in COLUMNS]
        return fit_columns(columns, width - 2, GIVE_WAY)  # 2: the table's scroll bar

    @staticmethod
    def _cell(key: str, row: dict[str, Any], fitted: Fitted) -> Text:
        """A cell as a Text, never a str: the table would read `[...]` in a name as markup."""
        width, value = fitted.widths[key], row[key]
        if key == "status":
            return status_text(value, compact=key in fitted.compact)
        if key == "verdict":
            return styled_verdict(value) if value else Text("")
        if key == "metrics":
            if row["failed"]:
                return Text(clip_words(value, width), style="red")
            return Text(fit_fields(value, width))
        return Text(value if key == "id" else clip_words(value, width))

    def _move_to(self, key: str) -> None:
        table = self.query_one(RunsTable)
        try:
            table.move_cursor(row=table.get_row_index(key))
        except Exception:
            pass

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value:
            self.open_run(Path(event.row_key.value))

    def open_run(self, path: Path) -> None:
        self.post_message(OpenRun(path))
