"""`DauDashboard`: the Textual app behind `dau tui`.

It reads run directories only (see docs/events.md) and never imports torch. Worker threads tail
the files and post messages (tui/messages.py); the UI thread only draws.
"""

from __future__ import annotations

from pathlib import Path

from textual.app import App
from textual.binding import Binding

from dau_cli.runs import runs_dir

from .gpu import GpuReader, NvmlReader
from .host import HostReader, ProcReader
from .job import Job
from .messages import OpenRun
from .screens.help import HelpScreen
from .screens.run import RunScreen
from .screens.runs import RunsScreen


class DauDashboard(App):
    """Browse runs, follow the running one, replay finished ones."""

    TITLE = "dau"
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("k", "kill_job", "Kill job & quit"),
    ]

    def __init__(
        self,
        runs_root: Path | None = None,
        run: Path | None = None,
        gpu_reader: GpuReader | None = None,
        *,
        host_reader: HostReader | None = None,
        follow: bool = True,
        poll_interval: float = 0.5,
        chart_interval: float = 1.0,
        job: Job | None = None,
    ) -> None:
        """
        Args:
            runs_root: where the run directories are; `$DAU_HOME/runs` if None.
            run: a run directory to open at once (it may not exist yet: the screen waits).
            gpu_reader: returns the local GPUs' readings, or None for "no GPU"; NVML if None.
            host_reader: reads the CPU and memory (given the run's pid), shown where there is no GPU;
                /proc if None.
            follow: open the newest running run when the list first loads.
            poll_interval: seconds between reads of the followed run's files.
            chart_interval: least seconds between two redraws of the charts while following.
            job: the child process started by `dau ... --tui`, which `k` may kill.
        """
        super().__init__()
        self.runs_root = Path(runs_root) if runs_root is not None else runs_dir()
        home = str(Path.home())
        label = str(self.runs_root)
        self.root_label = "~" + label[len(home) :] if label.startswith(home + "/") else label
        self.initial_run = Path(run) if run is not None else None
        self.gpu_reader: GpuReader = gpu_reader if gpu_reader is not None else NvmlReader()
        self.host_reader: HostReader = host_reader if host_reader is not None else ProcReader()
        self.follow = follow
        self.poll_interval = poll_interval
        self.chart_interval = chart_interval
        self.job = job
        self.kill_requested = False

    def on_mount(self) -> None:
        self.push_screen(RunsScreen(self.runs_root, self.root_label, open_live=self.follow and self.initial_run is None))
        if self.initial_run is not None:
            self.push_screen(self.run_screen(self.initial_run))

    def run_screen(self, path: Path) -> RunScreen:
        return RunScreen(
            path,
            gpu_reader=self.gpu_reader,
            host_reader=self.host_reader,
            poll_interval=self.poll_interval,
            chart_interval=self.chart_interval,
            job=self.job if path == self.initial_run else None,
        )

    def on_open_run(self, message: OpenRun) -> None:
        self.push_screen(self.run_screen(message.path))

    def on_unmount(self) -> None:
        close = getattr(self.gpu_reader, "close", None)
        if callable(close):
            close()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "kill_job":
            return self.job is not None and self.job.poll() is None
        return True

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_kill_job(self) -> None:
        """Quit and have the caller stop the job (it is stopped once the screen is restored)."""
        if self.job is not None:
            self.kill_requested = True
            self.exit()
