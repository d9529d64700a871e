"""One run: losses, accuracies, AUCs, ROC curves, an audit's verdict, progress and the GPU, kept up to date."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, ProgressBar, Static
from textual.worker import get_current_worker

from ..follow import RunFollower
from ..format import info_text, pace_text, phase_text, verdict_text
from ..gpu import GpuReader
from ..job import Job
from ..messages import GpuSampled, JobExited, RunMissing, RunUpdated
from ..model import ATTACKER_KEYS, DEFENDER_KEYS, RunSnapshot, fmt_metrics, fmt_number
from ..widgets import AucChart, Chart, GpuStrip, RocChart, TitleBar

#: How often the GPU is read, in seconds.
GPU_INTERVAL = 1.0


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
    RunScreen #verdict { height: auto; max-height: 6; padding: 0 1; display: none; }
    RunScreen #log { height: 3; padding: 0 1; background: $boost; }
    RunScreen #log-text { height: 3; }
    """

    def __init__(
        self,
        run_dir: Path,
        *,
        gpu_reader: GpuReader,
        poll_interval: float = 0.5,
        chart_interval: float = 1.0,
        job: Job | None = None,
    ) -> None:
        """
        Args:
            run_dir: the run directory (it may not exist yet: the screen waits for it).
            gpu_reader: returns the local GPUs' readings, or None for "no GPU".
            poll_interval: seconds between reads of the run's files.
            chart_interval: least seconds between two redraws of the charts while following.
            job: the child process writing this run (`dau ... --tui`), to report its exit.
        """
        super().__init__()
        self.run_dir = Path(run_dir)
        self.gpu_reader = gpu_reader
        self.poll_interval = poll_interval
        self.chart_interval = chart_interval
        self.job = job
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

    def compose(self) -> ComposeResult:
        yield TitleBar(self.run_dir.name)
        yield Static(id="info")
        with Horizontal(id="progress-row"):
            yield Static("", id="phase")
            yield ProgressBar(total=100, show_eta=False, id="progress")
            yield Static("", id="eta")
        yield GpuStrip(id="gpu")
        yield Static("", id="verdict")
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
        """Follow the run's files (follow.RunFollower) and post what changed, at most every interval."""
        worker = get_current_worker()
        follower = RunFollower(self.run_dir, job=self.job, interval=self.poll_interval)
        while not worker.is_cancelled and not self._stop.is_set():
            if self._reset.is_set():
                self._reset.clear()
                follower.restart()
            news = follower.poll()
            self.polls += 1
            if news.missing is not None:
                self.post_message(RunMissing(self.run_dir, vanished=news.missing))
            if news.exited is not None:
                self.post_message(JobExited(*news.exited))
            if news.updated is not None:
                snapshot, info, loading = news.updated
                self.post_message(RunUpdated(snapshot, info, loading=loading))
            if not follower.more:  # caught up: wait for more, unless asked to wake
                self._wake.wait(self.poll_interval)
                self._wake.clear()

    @work(thread=True, exclusive=True, group="gpu")
    def sample_gpu(self) -> None:
        worker = get_current_worker()
        reader = self.gpu_reader
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
        self.query_one(GpuStrip).show(message.samples, pid=self._local_pid())

    def _redraw_gpu(self) -> None:
        """The run's process id can arrive after the GPU reading: show its memory then."""
        strip = self.query_one(GpuStrip)
        pid = self._local_pid()
        if strip.samples and pid != strip.pid:
            strip.show(strip.samples, pid=pid)

    def _local_pid(self) -> int | None:
        """The run's process id where it runs on this machine (NVML sees only local processes)."""
        info = self.info or {}
        pid = info.get("pid")
        return pid if isinstance(pid, int) and info.get("host") == socket.gethostname() else None

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
        self._redraw_gpu()
        self._draw_charts_soon()
        self._draw_verdict()
        self._draw_log()

    # -- drawing

    def _draw_verdict(self) -> None:
        """An audit's verdict and its reference tests, above the charts; nothing before there is one."""
        verdict = self.snapshot.verdict
        panel = self.query_one("#verdict", Static)
        panel.display = verdict is not None
        if verdict is not None:
            panel.update(verdict_text(verdict, width=max(self.size.width - 6, 40)))

    def _draw_charts_soon(self) -> None:
        """Draw the charts now, or once `chart_interval` has passed since they were last drawn.

        Rebuilding a plotext chart costs tens of milliseconds, so while following a fast run
        the charts are redrawn at most once per interval; the text lines update every poll.
        """
        wait = self._charts_at + self.chart_interval - time.monotonic()
        if wait <= 0:
            self._charts_timer = None
            self._charts_at = time.monotonic()
            self._draw_charts()
        elif self._charts_timer is None:
            self._charts_timer = self.set_timer(wait, self._draw_charts_soon)

    def _draw_info(self) -> None:
        out = info_text(self.info or {}, self.snapshot, loading=self.loading, missing=self.missing)
        self.query_one("#info", Static).update(out, layout=False)

    def _draw_progress(self) -> None:
        snap = self.snapshot
        phase = phase_text(snap)
        # only a change of width needs a new layout; most updates just repaint one line
        self.query_one("#phase", Static).update(phase, layout=len(phase) != self._phase_width)
        self._phase_width = len(phase)
        bar = self.query_one(ProgressBar)
        if snap.total:
            bar.update(total=snap.total, progress=min(snap.step, snap.total))
        # an indeterminate bar animates all the time (CPU for nothing): no total, no bar
        bar.display = bool(snap.total)
        status = (self.info or {}).get("status") or snap.status
        self.query_one("#eta", Static).update(pace_text(snap, status), layout=False)

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
