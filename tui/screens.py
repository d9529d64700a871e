"""The dashboard's screens: the runs list, one run, and the key help."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, ProgressBar, Static
from textual.worker import get_current_worker

from dau_cli.runs import list_runs, read_run
from tui.messages import GpuSampled, JobExited, RunMissing, RunsListed, RunUpdated
from tui.model import (
    ATTACKER_KEYS,
    DEFENDER_KEYS,
    EventTailer,
    RunModel,
    RunSnapshot,
    fmt_duration,
    fmt_metrics,
    fmt_number,
    fmt_time,
)
from tui.widgets import AucChart, Chart, GpuStrip, RocChart, TitleBar

if TYPE_CHECKING:
    from tui.app import DauDashboard

STATUS_STYLE = {
    "running": ("● running", "bold cyan"),
    "completed": ("✓ completed", "green"),
    "failed": ("✗ failed", "bold red"),
    "interrupted": ("■ interrupted", "yellow"),
    "lost": ("? running (lost)", "dim"),
}

#: Widest headline-metrics cell, so the runs table fits 120 columns.
METRICS_WIDTH = 36
#: How often the runs list is re-read, in seconds.
LIST_INTERVAL = 2.0
#: How often the GPU is read, in seconds.
GPU_INTERVAL = 1.0


def clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def is_lost(info: dict[str, Any]) -> bool:
    """A run that says `running` but whose process on this host is gone (e.g. killed -9)."""
    if info.get("status") != "running" or info.get("host") != socket.gethostname():
        return False
    pid = info.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # e.g. another user's process: it exists
        return False
    return False


def status_text(info: dict[str, Any] | None) -> Text:
    status = (info or {}).get("status") or "?"
    if info and is_lost(info):
        status = "lost"
    label, style = STATUS_STYLE.get(status, (status, ""))
    return Text(label, style=style)


def duration_of(info: dict[str, Any], now: float | None = None) -> float | None:
    started, ended = info.get("started"), info.get("ended")
    if not isinstance(started, (int, float)):
        return None
    if isinstance(ended, (int, float)):
        return ended - started
    if info.get("status") == "running":
        return (now or time.time()) - started
    return None


# ----------------------------------------------------------------------------- runs list


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

    def __init__(self) -> None:
        super().__init__()
        self.runs: list[dict[str, Any]] = []
        self._listed_once = False
        self._hidden_listing: RunsListed | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()

    @property
    def dash(self) -> DauDashboard:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield TitleBar("runs")
        yield Static(f"Runs in {self.dash.root_label}", id="runs-title")
        table = RunsTable(cursor_type="row", zebra_stripes=True, id="runs")
        table.add_column("Run", key="id")
        table.add_column("Command", key="command")
        table.add_column("Status", key="status")
        table.add_column("Started", key="started")
        table.add_column("Duration", key="duration")
        table.add_column("Headline metrics", key="metrics")
        yield table
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
            runs = list_runs(self.dash.runs_root)
            for info in runs:
                info["_lost"] = is_lost(info)
            key = [(r.get("dir"), r.get("status"), r.get("ended"), r.get("_lost"), repr(r.get("summary"))) for r in runs]
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

    def _show_runs(self, message: RunsListed) -> None:
        self.runs = message.runs
        table = self.query_one(RunsTable)
        selected = None
        if table.row_count and table.cursor_row < table.row_count:
            selected = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
        table.clear()
        now = time.time()
        for info in self.runs:
            summary = info.get("summary") if isinstance(info.get("summary"), dict) else {}
            if info.get("status") == "failed" and info.get("error"):
                metrics = Text(clip(str(info["error"]), METRICS_WIDTH), style="red")
            else:
                metrics = Text(clip(fmt_metrics(summary, limit=3), METRICS_WIDTH))
            st = status_text(info)
            table.add_row(
                Path(info["dir"]).name,
                str(info.get("command", "?")),
                st,
                fmt_time(info.get("started")),
                fmt_duration(duration_of(info, now)),
                metrics,
                key=info["dir"],
            )
        empty = self.query_one("#runs-empty", Static)
        empty.update("" if self.runs else "No runs yet. Start one, e.g. `dau forget ... --method dau`.")
        empty.display = not self.runs
        first = not self._listed_once
        self._listed_once = True
        live = next((r for r in self.runs if r.get("status") == "running" and not r.get("_lost")), None)
        if first and live is not None and self.dash.follow and self.dash.initial_run is None:
            self._move_to(live["dir"])
            self.call_after_refresh(self.open_run, Path(live["dir"]))
        elif selected is not None:
            self._move_to(selected)

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
        self.app.push_screen(RunScreen(path))


# ----------------------------------------------------------------------------- one run


class RunScreen(Screen):
    """One run: losses, accuracies, AUCs, ROC curves, progress and the GPU, kept up to date."""

    BINDINGS = [
        Binding("escape,backspace", "back", "Runs", key_display="esc"),
        Binding("r", "refresh", "Refresh"),
        Binding("p", "pair", "ROC pair"),
    ]

    DEFAULT_CSS = """
    RunScreen #info { height: 1; padding: 0 1; }
    RunScreen #progress-row { height: 1; padding: 0 1; }
    RunScreen #phase { width: auto; padding-right: 1; }
    RunScreen #progress { width: auto; }
    RunScreen #progress Bar { width: 30; }
    RunScreen #eta { width: 1fr; padding-left: 1; }
    RunScreen #charts {
        grid-size: 3 2;
        grid-columns: 1fr 1fr 1fr;
        grid-rows: 1fr 1fr;
        grid-gutter: 0;
        height: 1fr;
    }
    RunScreen #roc { column-span: 2; }
    RunScreen #charts.-no-roc #roc { display: none; }
    RunScreen #charts.-no-roc #auc { column-span: 3; }
    RunScreen #charts.-roc-only { grid-size: 1 1; grid-columns: 1fr; grid-rows: 1fr; }
    RunScreen #charts.-roc-only Chart { display: none; }
    RunScreen #charts.-roc-only #roc { display: block; column-span: 1; }
    RunScreen #log { height: 3; padding: 0 1; background: $boost; }
    RunScreen #log-text { height: 3; }
    """

    def __init__(self, run_dir: Path) -> None:
        super().__init__()
        self.run_dir = Path(run_dir)
        self.snapshot = RunSnapshot()
        self.info: dict[str, Any] | None = None
        self.missing: str | None = None  # why there is no run directory to show
        self.job_note: str | None = None
        self.loading = False
        self.pair: str | None = None  # the ROC pair on show
        self.updates = 0  # RunUpdated messages handled (for tests)
        self.polls = 0  # reads of the run's files by the worker (for tests)
        self._drawn = (-1, -1, -1, None)
        self._phase_width = -1
        self._pair_count = 0
        self._charts_at = -1e9  # monotonic time of the last chart drawing
        self._charts_timer = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._reset = threading.Event()

    @property
    def dash(self) -> DauDashboard:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield TitleBar(self.run_dir.name)
        yield Static(id="info")
        with Horizontal(id="progress-row"):
            yield Static("", id="phase")
            yield ProgressBar(total=100, show_eta=False, id="progress")
            yield Static("", id="eta")
        yield GpuStrip(id="gpu")
        with Grid(id="charts"):
            yield Chart("Attacker loss", id="attacker")
            yield Chart("Defender loss", id="defender")
            yield Chart("Accuracy by epoch (%)", short_labels=True, id="accuracy")
            yield AucChart("Attack AUC by epoch", short_labels=True, id="auc")
            yield RocChart("ROC, log FPR", id="roc")
        with Vertical(id="log"):
            yield Static("", id="log-text")
        yield Footer()

    def on_mount(self) -> None:
        self._draw_info()
        self.follow_run()
        self.sample_gpu()
        self.set_interval(1.0, self._draw_info)

    def on_unmount(self) -> None:
        self._stop.set()
        self._wake.set()

    # -- actions

    def action_back(self) -> None:
        self.app.pop_screen()  # the runs list is always underneath

    def action_refresh(self) -> None:
        """Read the run again from the start."""
        self._reset.set()
        self._wake.set()

    def action_pair(self) -> None:
        pairs = self._pairs()
        if len(pairs) > 1:
            self.pair = pairs[(pairs.index(self.pair) + 1) % len(pairs)] if self.pair in pairs else pairs[0]
            self._draw_roc()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "pair":
            return len(self._pairs()) > 1
        return True

    # -- workers

    @work(thread=True, exclusive=True, group="follow")
    def follow_run(self) -> None:
        """Tail the run's files; post a snapshot when something changed, at most every interval."""
        worker = get_current_worker()
        interval = self.dash.poll_interval
        job = self.dash.job if self.dash.initial_run == self.run_dir else None
        tailer, model = EventTailer(self.run_dir), RunModel()
        info: dict[str, Any] | None = None
        info_key = None
        seen = False
        missing_posted: bool | None = None
        job_posted = False
        dirty = True
        last_post = 0.0
        while not worker.is_cancelled and not self._stop.is_set():
            if self._reset.is_set():
                self._reset.clear()
                tailer, model, info_key, dirty = EventTailer(self.run_dir), RunModel(), None, True
            try:
                st = os.stat(self.run_dir / "run.json")
                key = (st.st_ino, st.st_mtime_ns, st.st_size)
                if key != info_key:
                    info_key = key
                    info = read_run(self.run_dir) or info
                    dirty = True
            except OSError:
                pass
            events = tailer.poll()
            self.polls += 1
            if tailer.reset:
                tailer.reset = False
                model = RunModel()
                dirty = True
            if events:
                model.apply_all(events)
                dirty = True
            if self.run_dir.is_dir():
                seen = True
                missing_posted = None
            elif missing_posted is None:
                missing_posted = seen
                self.post_message(RunMissing(self.run_dir, vanished=seen))
            if job is not None and not job_posted and job.poll() is not None:
                job_posted = True
                self.post_message(JobExited(job.returncode, job.log_tail()))
            now = time.monotonic()
            if dirty and (not tailer.more or now - last_post >= interval):
                self.post_message(RunUpdated(model.snapshot(), dict(info) if info else None, loading=tailer.more))
                dirty, last_post = False, now
            if not tailer.more:  # caught up: wait for more, unless asked to wake
                self._wake.wait(interval)
                self._wake.clear()

    @work(thread=True, exclusive=True, group="gpu")
    def sample_gpu(self) -> None:
        worker = get_current_worker()
        reader = self.dash.gpu_reader
        previous: object = ()
        while not worker.is_cancelled and not self._stop.is_set():
            try:
                samples = reader()
            except Exception:
                samples = None
            if samples != previous:
                previous = samples
                self.post_message(GpuSampled(samples))
            if self._stop.wait(GPU_INTERVAL):
                break

    # -- messages

    def on_gpu_sampled(self, message: GpuSampled) -> None:
        self.query_one(GpuStrip).show(message.samples)

    def on_run_missing(self, message: RunMissing) -> None:
        if message.vanished:
            self.missing = f"run directory is gone: {message.path}"
        else:
            self.missing = f"waiting for the run directory to appear: {message.path}"
        self._draw_info()
        self._draw_log()

    def on_job_exited(self, message: JobExited) -> None:
        self.job_note = f"job exited with code {message.returncode}"
        if not self.run_dir.is_dir() and message.log_tail:
            self.job_note += f" before it made a run directory. Its output ends:\n{message.log_tail}"
        self._draw_info()
        self._draw_log()

    def on_run_updated(self, message: RunUpdated) -> None:
        self.updates += 1
        self.snapshot = message.snapshot
        self.info = message.info
        self.loading = message.loading
        if self.run_dir.is_dir():
            self.missing = None
        self._draw_info()
        self._draw_progress()
        self._draw_charts_soon()
        self._draw_log()

    # -- drawing

    def _draw_charts_soon(self) -> None:
        """Draw the charts now, or once `chart_interval` has passed since they were last drawn.

        Rebuilding a plotext chart costs tens of milliseconds, so while following a fast run
        the charts are redrawn at most once per interval; the text lines update every poll.
        """
        wait = self._charts_at + self.dash.chart_interval - time.monotonic()
        if wait <= 0:
            self._charts_timer = None
            self._charts_at = time.monotonic()
            self._draw_charts()
        elif self._charts_timer is None:
            self._charts_timer = self.set_timer(wait, self._draw_charts_soon)

    def _draw_info(self) -> None:
        info, snap = self.info or {}, self.snapshot
        out = Text()
        out.append(str(info.get("command") or "starting"), "bold")
        method = (info.get("config") or {}).get("method") if isinstance(info.get("config"), dict) else None
        if method:
            out.append(f" · {method}", "bold")
        out.append("  ")
        if info:
            out.append_text(status_text(info))
        elif snap.status:
            out.append(snap.status)
        else:
            out.append("…", "dim")
        out.append(f"   started {fmt_time(info.get('started') or snap.first_t)}")
        took = duration_of(info) if info else None
        if took is not None:
            out.append(f"   {'took' if info.get('ended') else 'elapsed'} {fmt_duration(took)}")
        if info.get("device"):
            out.append(f"   device {info['device']}")
        out.append(f"   {snap.events} events", "dim")
        if self.loading:
            out.append("  (loading…)", "yellow")
        if self.missing:
            out.append(f"   {self.missing}", "bold yellow")
        self.query_one("#info", Static).update(out, layout=False)

    def _draw_progress(self) -> None:
        snap = self.snapshot
        bits = []
        if snap.phase:
            bits.append(snap.phase)
        if snap.epoch is not None:
            bits.append(f"epoch {snap.epoch}/{snap.epochs}" if snap.epochs else f"epoch {snap.epoch}")
        if snap.total:
            bits.append(f"step {snap.step}/{snap.total}")
        elif snap.step:
            bits.append(f"step {snap.step}")
        phase = "  ".join(bits) or "no progress yet"
        # only a change of width needs a new layout; most updates just repaint one line
        self.query_one("#phase", Static).update(phase, layout=len(phase) != self._phase_width)
        self._phase_width = len(phase)
        bar = self.query_one(ProgressBar)
        if snap.total:
            bar.update(total=snap.total, progress=min(snap.step, snap.total))
        # an indeterminate bar animates all the time (CPU for nothing): no total, no bar
        bar.display = bool(snap.total)
        tail = []
        status = (self.info or {}).get("status") or snap.status
        if snap.eta is not None and status == "running":
            tail.append(f"ETA {fmt_duration(snap.eta)}")
        elif snap.total and snap.step >= snap.total:
            tail.append("phase done")
        if snap.rate:
            tail.append(f"{snap.rate:.1f} steps/s")
        if "images_per_s" in snap.latest:
            tail.append(f"{snap.latest['images_per_s']:.0f} img/s")
        self.query_one("#eta", Static).update("   ".join(tail), layout=False)

    def _draw_charts(self) -> None:
        snap = self.snapshot
        if snap.steps_version != self._drawn[0]:
            self._draw_steps()
        if snap.epochs_version != self._drawn[1]:
            self._draw_epochs()
        if snap.roc_version != self._drawn[2]:
            self._draw_roc()
        self._drawn = (snap.steps_version, snap.epochs_version, snap.roc_version, self.pair)
        if len(self._pairs()) != self._pair_count:  # the `p` key shows with two pairs or more
            self._pair_count = len(self._pairs())
            self.refresh_bindings()
        # Give the room to what this run has: no ROC panel before an audit, only ROC for an audit.
        grid = self.query_one("#charts")
        grid.set_class(not snap.roc, "-no-roc")
        # an audit's single epoch event says no more than its ROC legend does
        curves = bool(snap.steps) or any(len(xs) > 1 for xs, _ in [*snap.metrics.values(), *snap.auc.values()])
        grid.set_class(bool(snap.roc) and not curves, "-roc-only")

    def _draw_steps(self) -> None:
        snap = self.snapshot
        attacker, defender = self.query_one("#attacker", Chart), self.query_one("#defender", Chart)

        def title(name: str, key: str) -> str:
            v = snap.latest.get(key)
            return f"{name}  {fmt_number(v)}" if v is not None else name

        if snap.dau:
            attacker.set_series({k: snap.steps[k] for k in ATTACKER_KEYS if k in snap.steps}, title("Attacker loss", "attacker_loss"))
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

    def _pairs(self) -> list[str]:
        return list(dict.fromkeys(c.pair for c in self.snapshot.roc))

    def _draw_roc(self) -> None:
        pairs = self._pairs()
        if self.pair not in pairs:
            self.pair = pairs[0] if pairs else None
        curves = [c for c in self.snapshot.roc if c.pair == self.pair]
        title = f"ROC {self.pair}, log FPR" if self.pair else "ROC, log FPR"
        if len(pairs) > 1:
            title += f"  ({pairs.index(self.pair) + 1}/{len(pairs)}, p: next)"
        self.query_one("#roc", RocChart).set_curves(curves, title=title, empty_text="no ROC curves (they come from `dau audit`)")

    def _draw_log(self) -> None:
        snap, info = self.snapshot, self.info or {}
        lines: list[Text] = []
        if self.job_note:
            lines.append(Text(self.job_note, style="bold yellow"))
        error = info.get("error") or snap.error
        if error:
            lines.append(Text(f"error: {error}", style="bold red"))
        result = info.get("summary") or snap.result
        if result:
            lines.append(Text.assemble(("result  ", "bold green"), fmt_metrics(result, limit=8)))
        style = {"warning": "yellow", "error": "red"}
        for level, message in reversed(snap.logs):
            if len(lines) >= 3:
                break
            if message == error:
                continue
            lines.append(Text(message, style=style.get(level, "")))
        if not lines and not snap.events:
            lines.append(Text("no events yet", style="dim"))
        self.query_one("#log-text", Static).update(Text("\n").join(lines[:3]), layout=False)


# ----------------------------------------------------------------------------- help


KEYS = [
    ("?", "this help"),
    ("q", "quit; a job started with --tui keeps running"),
    ("k", "kill the job started with --tui, then quit"),
    ("↑ ↓", "pick a run in the list"),
    ("enter", "open the picked run"),
    ("esc", "back to the runs list (backspace too)"),
    ("r", "refresh: re-read the list, or the run from the start"),
    ("p", "next ROC pair (forget_vs_val, retain_vs_test)"),
]

ABOUT = (
    "Charts: attacker and defender losses (ce, adv, bt) by step; accuracies and each "
    "membership attack's AUC by epoch (0.5: the attack cannot tell members from non-members); "
    "the audit's ROC curves on a log FPR axis. Esc closes this."
)


class HelpScreen(ModalScreen):
    """The keys, over whatever screen is showing."""

    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close")]

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen #help {
        width: 70;
        height: auto;
        border: round $accent;
        padding: 1 2;
        background: $surface;
    }
    """

    def compose(self) -> ComposeResult:
        out = Text()
        out.append("dau tui: keys\n\n", "bold")
        for key, what in KEYS:
            out.append(f"{key:>7}  ", "bold cyan")
            out.append(f"{what}\n")
        out.append("\n" + ABOUT, "dim")
        yield Static(out, id="help")
