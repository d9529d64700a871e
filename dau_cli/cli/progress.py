"""The terminal's progress display, drawn from the same events the run directory records.

One line per loop: what runs, the bar, steps done of all, elapsed, ETA — always whole, at 80
columns too — then as many of the chosen metrics as fit in the width left. Events of a job run
inside another command (`compare`'s cells) carry a `job` name and share one extra line that
follows the current job. The latest `info` log events (a demo's step, a reference being
audited) show above the bars, part of the live display, so a run that fails ends with its one
error line alone; warnings and errors are printed in colour as they come.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console, Group, RenderableType
from rich.markup import escape
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Column
from rich.text import Text

#: How many of the latest info messages stay on show.
NOTES = 4

#: Step keys worth showing, most telling first, with the short names the line uses.
METRICS = (
    ("attacker_loss", "atk"), ("defender_loss", "def"), ("attacker_acc", "atk acc"),
    ("loss", "loss"), ("acc", "acc"), ("max_kl", "kl"), ("sparsity", "sparsity"),
    ("ce", "ce"), ("adv", "adv"), ("bt", "bt"), ("images_per_s", "img/s"),
)


def metrics_text(event: dict[str, Any], room: int) -> str:
    """The chosen metrics of a step event, in priority order, as many as fit in `room` columns."""
    text = ""
    for key, short in METRICS:
        value = event.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        part = f"{short} {value:.3g}"
        candidate = f"{text}  {part}" if text else part
        if len(candidate) > room:
            break
        text = candidate
    return text


class _Progress(Progress):
    """Progress with the latest info messages drawn above the bars, inside the live display."""

    def __init__(self, *columns, **kwargs) -> None:
        self.notes: list[str] = []  # before Progress starts drawing
        super().__init__(*columns, **kwargs)

    def get_renderable(self) -> RenderableType:
        table = self.make_tasks_table(self.tasks)
        if not self.notes:
            return table
        return Group(Text("\n".join(self.notes[-NOTES:]), style="dim"), table)


class ProgressView:
    """Renders `phase`, `step` and `log` events as progress lines on a console (stderr by default)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        width = console.width
        self.label_width = 16 if width < 100 else 22
        self.bar_width = max(10, min(30, width - 65))
        self.progress = _Progress(
            TextColumn("{task.description}", table_column=Column(width=self.label_width, no_wrap=True,
                                                                  overflow="ellipsis")),
            BarColumn(bar_width=self.bar_width, table_column=Column(no_wrap=True)),
            MofNCompleteColumn(table_column=Column(no_wrap=True)),
            TimeElapsedColumn(table_column=Column(no_wrap=True)),
            TimeRemainingColumn(table_column=Column(no_wrap=True)),
            TextColumn("{task.fields[info]}", table_column=Column(no_wrap=True, overflow="ellipsis")),
            console=console, transient=False)
        self.tasks: dict[str, Any] = {}
        self.job_task: Any = None  # the one line that follows the current inner job
        self.job_phase: str | None = None
        self.fresh: set[Any] = set()  # tasks whose first step may jump (reused work): no speed from it

    def room(self, total: int | None) -> int:
        """Columns left for metrics after the whole fixed part of a line."""
        counts = 2 * len(str(total or 0)) + 1
        return max(0, self.console.width - (self.label_width + self.bar_width + counts + 7 + 7 + 5))

    def __call__(self, event: dict) -> None:
        kind = event.get("type")
        if kind == "log":
            level, message = event.get("level"), escape(str(event.get("message", "")))
            if level in ("warning", "error") and not event.get("in_report"):
                self.progress.console.print(f"[yellow]{message}[/]", highlight=False)
            elif level == "info" and "job" not in event:
                self.progress.notes.append(str(event.get("message", "")))
                self.progress.refresh()
            return
        if "job" in event:
            self._job_event(event)
            return
        if kind == "phase":
            self._close_open_tasks()
            task = self.progress.add_task(str(event["phase"]), total=event.get("total"), info="")
            self.tasks[event["phase"]] = task
            self.fresh.add(task)
        elif kind == "step" and event.get("phase") in self.tasks:
            task = self.tasks[event["phase"]]
            self._advance(task, event)

    def _close_open_tasks(self) -> None:
        """A loop that ended early (DAU's game once the class is forgotten) ends at the steps it
        ran, with its clock stopped, when the next loop starts: 8/8, not 8/40 still ticking."""
        mine = set(self.tasks.values())
        for t in self.progress.tasks:
            if t.id in mine and not t.finished and t.completed:
                self.progress.update(t.id, total=t.completed)
                self.progress.stop_task(t.id)

    def _advance(self, task: Any, event: dict) -> None:
        info = metrics_text(event, self.room(event.get("total")))
        if task in self.fresh:
            self.fresh.discard(task)
            if event.get("step", 0) > 1:  # work done before (cells reused): the speed starts from here
                self.progress.reset(task, completed=event["step"], total=event.get("total"), info=info)
                return
        self.progress.update(task, completed=event["step"], info=info)

    def _job_event(self, event: dict) -> None:
        kind = event.get("type")
        name = f"  {escape(str(event['job']))}"  # the job's name leads (`dau[dau.lr=0.03]` as written)
        if kind == "phase":
            if self.job_task is None:
                self.job_task = self.progress.add_task(name, total=event.get("total"), info=str(event["phase"]))
            else:
                self.progress.reset(self.job_task, total=event.get("total"), description=name,
                                    info=str(event["phase"]))
            self.job_phase = event["phase"]
        elif kind == "step" and self.job_task is not None and event.get("phase") == self.job_phase:
            phase = str(self.job_phase)
            metrics = metrics_text(event, self.room(event.get("total")) - len(phase) - 2)
            self.progress.update(self.job_task, completed=event["step"], info=f"{phase}  {metrics}".rstrip())
