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
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Static
from textual.worker import get_current_worker

from ..fit import clip_text, fit_fields
from ..follow import RunFollower
from ..format import fields, info_text, progress_text
from ..gpu import GpuReader
from ..host import HostReader
from ..job import Job
from ..messages import GpuSampled, JobExited, RunMissing, RunUpdated
from ..model import RunSnapshot
from ..panels import verdicts_text
from ..widgets import GpuStrip, TitleBar
from .charts import ChartsPanel

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
    RunScreen #progress { height: 1; padding: 0 1; }
    RunScreen #verdict { height: auto; max-height: 6; padding: 0 1; display: none; }
    RunScreen #log { height: 3; padding: 0 1; background: $boost; }
    RunScreen #log-text { height: 3; }
    """

    def __init__(
        self,
        run_dir: Path,
        *,
        gpu_reader: GpuReader,
        host_reader: HostReader | None = None,
        poll_interval: float = 0.5,
        chart_interval: float = 1.0,
        job: Job | None = None,
    ) -> None:
        """
        Args:
            run_dir: the run directory (it may not exist yet: the screen waits for it).
            gpu_reader: returns the local GPUs' readings, or None for "no GPU".
            host_reader: reads the CPU and memory (given the run's pid) where there is no GPU; none if None.
            poll_interval: seconds between reads of the run's files.
            chart_interval: least seconds between two redraws of the charts while following.
            job: the child process writing this run (`dau ... --tui`), to report its exit.
        """
        super().__init__()
        self.run_dir = Path(run_dir)
        self.gpu_reader = gpu_reader
        self.host_reader = host_reader
        self.poll_interval = poll_interval
        self.chart_interval = chart_interval
        self.job = job
        self.snapshot = RunSnapshot()
        self.info: dict[str, Any] | None = None
        self.missing: str | None = None  # why there is no run directory to show
        self.job_note: str | None = None
        self.loading = False
        self.updates = 0  # RunUpdated messages handled (for tests)
        self.polls = 0  # reads of the run's files by the worker (for tests)
        self._pair_count = 0
        self._charts_at = -1e9  # monotonic time of the last chart drawing
        self._charts_timer = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._sample = threading.Event()  # read the GPU (or CPU) now: the run's pid just became known
        self._reset = threading.Event()

    def compose(self) -> ComposeResult:
        yield TitleBar(self.run_dir.name)
        yield Static(id="info")
        yield Static("", id="progress")
        yield GpuStrip(id="gpu")
        yield Static("", id="verdict")
        yield ChartsPanel(id="charts-panel")
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
        self._sample.set()

    def on_resize(self) -> None:
        """The lines are fitted to the width: fit them again."""
        self._draw_info()
        self._draw_progress()
        self._draw_verdict()
        self._draw_log()

    @property
    def pair(self) -> str | None:
        """The ROC pair on show."""
        return self.query_one(ChartsPanel).pair

    # -- actions

    def action_back(self) -> None:
        self.app.pop_screen()  # the runs list is always underneath

    def action_refresh(self) -> None:
        """Read the run again from the start."""
        self._reset.set()
        self._wake.set()

    def action_pair(self) -> None:
        self.query_one(ChartsPanel).next_pair()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "pair":
            return len(self.query_one(ChartsPanel).pairs()) > 1
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
            host = None
            if not samples and self.host_reader is not None:  # no GPU: the CPU and memory instead
                try:
                    host = self.host_reader(self._local_pid())
                except Exception:
                    host = None
            if (samples, host) != previous:
                previous = (samples, host)
                self.post_message(GpuSampled(samples, host))
            self._sample.wait(GPU_INTERVAL)
            self._sample.clear()

    # -- messages

    def on_gpu_sampled(self, message: GpuSampled) -> None:
        self.query_one(GpuStrip).show(message.samples, pid=self._local_pid(), host=message.host)

    def _redraw_gpu(self) -> None:
        """The run's process id can arrive after the GPU reading: show its memory then."""
        strip = self.query_one(GpuStrip)
        pid = self._local_pid()
        if (strip.samples or strip.host) and pid != strip.pid:
            strip.show(strip.samples, pid=pid, host=strip.host)
            if strip.host is not None:
                self._sample.set()  # the job's own memory is read with the pid

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

    def _width(self) -> int:
        return max(self.size.width - 2, 10)  # the lines' padding

    def _draw_verdict(self) -> None:
        """The verdicts, each naming its model, above the charts; nothing before there is one."""
        verdicts = self.snapshot.verdicts
        panel = self.query_one("#verdict", Static)
        panel.display = bool(verdicts)
        if verdicts:
            most = max(2, min(6, self.size.height // 4))  # leave the charts their room on a small screen
            lines = verdicts_text(verdicts, self.info, self._width(), most).split()
            panel.update(Text("\n").join(lines[:most]))

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
        out = info_text(self.info or {}, self.snapshot, loading=self.loading, missing=self.missing, width=self._width())
        self.query_one("#info", Static).update(out, layout=False)

    def _draw_progress(self) -> None:
        status = (self.info or {}).get("status") or self.snapshot.status
        self.query_one("#progress", Static).update(progress_text(self.snapshot, status, self._width()), layout=False)

    def _draw_charts(self) -> None:
        panel = self.query_one(ChartsPanel)
        panel.show(self.snapshot)
        if len(panel.pairs()) != self._pair_count:  # the `p` key shows with two pairs or more
            self._pair_count = len(panel.pairs())
            self.refresh_bindings()

    def _draw_log(self) -> None:
        snap, info = self.snapshot, self.info or {}
        lines: list[Text] = []
        if self.job_note:
            lines.append(Text(self.job_note, style="bold yellow"))
        error = info.get("error") or snap.error
        if error:
            lines.append(clip_text(Text(f"error: {error}", style="bold red"), self._width()))
        result = info.get("summary") or snap.result
        numbers = fields(result)
        if numbers:  # the verdicts are in their panel, each with its model's name
            lines.append(Text.assemble(("result  ", "bold green"), fit_fields(numbers, self._width() - 8)))
        style = {"warning": "yellow", "error": "red"}
        for level, message in reversed(snap.logs):
            if len(lines) >= 3:
                break
            if message == error:
                continue
            lines.append(clip_text(Text(message, style=style.get(level, "")), self._width()))
        if not lines and not snap.events:
            lines.append(Text("no events yet", style="dim"))
        for log in self.query("#log-text").results(Static):  # none while the screen is mounted or torn down
            log.update(Text("\n").join(lines[:3]), layout=False)
