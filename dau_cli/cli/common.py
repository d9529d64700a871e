"""What every command shares: one-line errors, the run directory, progress, JSON output.

Commands are thin: parse options, resolve the config, open a run, call one engine function,
print the result. Nothing here imports torch.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from dau_cli.errors import DauError
from dau_cli.runs import Run, _jsonable

out = Console(soft_wrap=True)  # results (tables, or JSON with --json)
err = Console(stderr=True)  # progress and errors, so stdout stays machine-readable

# Options that `forget` and `compare` share, declared once so they mean the same everywhere.
CLASSES_OPTION = typer.Option(None, "--classes", "-c", help="Forget these classes, e.g. 3 or 3,5.")
RANDOM_OPTION = typer.Option(None, "--random", help="Forget this seeded fraction of D_train, e.g. 0.1.")
INDICES_OPTION = typer.Option(None, "--indices", help="Forget the dataset positions listed in FILE.")
RECIPE_OPTION = typer.Option(None, "--recipe", "-r", help="Preset whose method sections to use.")
SET_OPTION = typer.Option([], "--set", help="Override a method setting, e.g. --set dau.alpha=0.5.")
UNTIL_CHANCE_OPTION = typer.Option(False, "--until-chance", help="DAU: stop once the attacker is at chance.")
DATA_ROOT_OPTION = typer.Option(None, help="Where the dataset lives, if it moved.")

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


def fail(message: str) -> None:
    """The one place an error is printed: user text in it (paths, names) is never read as markup."""
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)


def handle_errors(fn: Callable) -> Callable:
    """A user's mistake (DauError) is one line on stderr and exit code 2, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except DauError as e:
            fail(str(e))
            raise typer.Exit(EXIT_USER_ERROR) from None
        except KeyboardInterrupt:
            err.print("interrupted; nothing was written")
            raise typer.Exit(EXIT_INTERRUPTED) from None

    return wrapper


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, default=_jsonable, indent=2) + "\n")
    sys.stdout.flush()


class ProgressView:
    """Renders `phase` and `step` events as a rich progress bar on stderr."""

    KEYS = ("loss", "acc", "attacker_loss", "attacker_acc", "defender_loss", "ce", "adv", "bt", "images_per_s")

    def __init__(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self.progress = Progress(TextColumn("{task.description:<16}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[info]}"),
                                 console=err, transient=False)
        self.tasks: dict[str, Any] = {}

    def __call__(self, event: dict) -> None:
        kind = event["type"]
        if kind == "phase":
            self.tasks[event["phase"]] = self.progress.add_task(event["phase"], total=event.get("total"), info="")
        elif kind == "step" and event.get("phase") in self.tasks:
            info = "  ".join(f"{k.replace('images_per_s', 'img/s')} {event[k]:.3g}" for k in self.KEYS if k in event)
            self.progress.update(self.tasks[event["phase"]], completed=event["step"], info=info)
        elif kind == "log" and event.get("level") in ("warning", "error"):
            self.progress.console.print(f"[yellow]{escape(str(event['message']))}[/]", highlight=False)


@contextmanager
def open_run(command: str, config: dict, device: str = "cpu", progress: bool = True) -> Iterator[Run]:
    """A run directory for the duration of a command; its status says how the command ended."""
    run = Run(command, sys.argv, config, device)
    view = ProgressView() if progress else None
    if view:
        run.listeners.append(view)
        view.progress.start()
    try:
        yield run
    except BaseException as e:
        if view:  # a failed run ends with its one error line, not a half-filled bar
            for task in view.progress.task_ids:
                view.progress.update(task, visible=False)
        if isinstance(e, KeyboardInterrupt):
            run.finish("interrupted")
        else:
            run.finish("failed", error=str(e) if isinstance(e, DauError) else f"{type(e).__name__}: {e}")
        raise
    else:
        run.finish("completed")
    finally:
        if view:
            view.progress.stop()


def pct(x: float | None) -> str:
    return "—" if x is None or x != x else f"{x:.2f}"
