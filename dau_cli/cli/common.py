"""What every command shares: one-line errors, the run directory, progress, JSON output.

Commands are thin: parse options, resolve the config, open a run, call one engine function,
print the result. Nothing here imports torch.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import typer
from rich.console import Console
from rich.markup import escape
from typer._click.exceptions import ClickException, UsageError  # typer vendors click since 0.2x
from typer.core import TyperGroup

from dau_cli.errors import DauError
from dau_cli.methods import METHODS, check_method
from dau_cli.files import fault, to_json
from dau_cli.runs import Run

def make_console(**options: Any) -> Console:
    """A console whose prose word-wraps at the terminal's width on a terminal, and is never broken
    when it is piped or redirected (no 80-column wrap, no trailing spaces): a line stays a line for
    grep and for a log."""
    console = Console(**options)
    console.soft_wrap = not console.is_terminal
    return console


out = make_console()  # results (tables, or JSON with --json)
err = make_console(stderr=True)  # progress and errors, so stdout stays machine-readable

# Options that `forget` and `compare` share, declared once so they mean the same everywhere.
CLASSES_OPTION = typer.Option(None, "--classes", "-c", help="Forget these classes, e.g. 3 or 3,5.")
RANDOM_OPTION = typer.Option(None, "--random", help="Forget this seeded fraction of D_train, e.g. 0.1.")
INDICES_OPTION = typer.Option(None, "--indices", help="Forget the dataset positions listed in FILE.")
RECIPE_OPTION = typer.Option(None, "--recipe", "-r", help="Preset whose method sections to use.")
SET_OPTION = typer.Option([], "--set", help="Override a method setting, e.g. --set dau.alpha=0.5.")
DATA_ROOT_OPTION = typer.Option(None, help="Where the dataset lives, if it moved.")
# Where many jobs run (dau_cli/engine/jobs.py), for every command that submits them.
WORKER_MEMORY = 1 << 30  # bytes a worker may hold: measured 0.74 GB on the digits, a little more on Fashion-MNIST


def available_memory() -> int | None:
    """Bytes of memory free for new processes (MemAvailable), or None where it cannot be read."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _workers_fit(value: int) -> int:
    """More workers than CPU cores only makes them queue for the cores, and more than the free memory
    holds (a worker holds a model and its data: WORKER_MEMORY) makes the machine swap or kill them."""
    cores = os.cpu_count() or 1
    if value is not None and value > cores:
        raise typer.BadParameter(f"{value} is more than this machine's {cores} CPU cores; use at most {cores}")
    free = available_memory()
    if value is not None and value > 1 and free is not None and value * WORKER_MEMORY > free:
        fits = max(1, free // WORKER_MEMORY)
        raise typer.BadParameter(f"{value} workers need about {value} GiB (1 GiB each) and this machine has "
                                 f"{free / (1 << 30):.1f} GiB free; use at most {fits}")
    return value


MAX_REFERENCES = 256  # K + K reference models; beyond this the tests gain nothing and the bank only grows
WORKERS_OPTION = typer.Option(1, "--workers", min=1, callback=_workers_fit,
                              help="Run jobs in N local processes (one GPU each when several are visible); "
                                   "with --ray local, the local Ray instance's CPUs.")
def _ray_installed(value: str | None) -> str | None:
    """--ray without Ray installed is refused before any work (not after the audit has run)."""
    import importlib.util

    if value and importlib.util.find_spec("ray") is None:
        raise typer.BadParameter('Ray is not installed; install the extra: pip install "dau[ray]"')
    if value and value not in ("local", "auto"):
        from dau_cli.errors import DauError
        from dau_cli.ray_address import check_ray_address

        try:
            check_ray_address(value)  # before any work, not when the first job needs Ray
        except DauError as e:
            raise typer.BadParameter(str(e)) from None
    return value


RAY_OPTION = typer.Option(None, "--ray", metavar="local|ADDRESS", callback=_ray_installed,
                          help='Run jobs on Ray: "local" starts an instance here; an address (e.g. '
                               'ray://head:10001, or auto) joins a cluster. Needs pip install "dau[ray]".')
TUI_OPTION = typer.Option(False, "--tui", help="Run the job in the background and watch it in the dashboard.")


# `--method` is a choice of these names (its help and shell completion list them); a name that is
# none of them is one line with the closest (check_method; OneLineErrors prints it), not click's list
MethodName = Literal[tuple(METHODS)]
METHOD_OPTION = typer.Option("dau", "--method", "-m", parser=check_method,
                             help="The unlearning method; `dau methods` says what each does.")

QUIET = False  # set by `dau --quiet`: no progress and no notes on stderr


def note(message: str, **kwargs: Any) -> None:
    """A remark on stderr for a person (never a result), left out with --quiet."""
    if not QUIET:
        err.print(message, **kwargs)


def forget_tag(classes: str | None, random: float | None, indices: Path | None, seed: int) -> str:
    """What a forget set is, in a file name: class3, class3-5, random0.1-seed0, indices-NAME."""
    if classes is not None:
        return "class" + "-".join(c.strip() for c in classes.split(",") if c.strip())
    if random is not None:
        return f"random{random:g}-seed{seed}"
    if indices is not None:
        return f"indices-{indices.stem}"
    return "forget"


def check_forget_flags(classes: str | None, random: float | None, indices: Path | None) -> None:
    """The forget-set flags make sense on their own (torch-free; the checkpoint checks the rest)."""
    given = [name for name, v in (("--classes", classes), ("--random", random), ("--indices", indices)) if v is not None]
    if len(given) != 1:
        raise DauError("choose the forget set with exactly one of --classes LIST, --random FRAC or --indices FILE"
                       + (f" (got {' and '.join(given)})" if given else ""))
    if random is not None and not 0 < random < 1:
        raise DauError(f"--random takes a fraction strictly between 0 and 1, got {random}")
    if indices is not None:
        from dau_cli.files import check_input

        check_input(indices, "write the positions one per line, or export them with `dau info CKPT --indices FILE`")


def forget_output(checkpoint: Path, method: str, tag: str, config: dict | None = None) -> Path:
    """Beside the input, named for what was done: digits-cnn-forget-dau-class3.pt; settings other
    than the method's defaults (`--set`, `--recipe`) add a digest of them, so a sweep needs no -o:
    digits-cnn-forget-salun-class3-set1a2b3c.pt."""
    return checkpoint.with_name(f"{checkpoint.stem}-forget-{method}-{tag}{settings_tag(method, config)}.pt")


def settings_tag(method: str, config: dict | None) -> str:
    """"-set" and 6 hex digits of the method's settings where they differ from its defaults, else ""."""
    import hashlib
    import json

    from dau_cli.config import as_dict, resolve

    if config is None or method not in config:
        return ""
    mine = as_dict(config)[method]
    if mine == as_dict(resolve(uses=(method,)))[method]:
        return ""
    return "-set" + hashlib.sha256(json.dumps(mine, sort_keys=True, default=str).encode()).hexdigest()[:6]

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


def fail(message: str) -> None:
    """The one place an error is printed: user text in it (paths, names) is never read as markup,
    and its control characters (a newline in a path, a terminal escape in a name) are shown as
    escapes, so the error stays one line and cannot drive the terminal."""
    err.print(f"[bold red]error:[/] {escape(printable(message))}", highlight=False, soft_wrap=True)


def printable(text: str) -> str:
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class OneLineErrors(TyperGroup):
    """The `dau` group: click's usage errors (a bad choice, a missing argument) become the project's
    one line too, `error: ...; see `dau forget -h``, with click's exit code 2; so does a DauError
    raised while the options are read (an option's `parser`, e.g. --method's check_method)."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):  # noqa: ANN001
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except UsageError as e:
            hint = f"; see `{e.ctx.command_path} -h`" if e.ctx is not None else ""
            fail(e.format_message().replace("Value error, ", "").rstrip(".") + hint)
            sys.exit(e.exit_code)
        except DauError as e:  # an option's own check (--method): the same line as in a command
            fail(str(e))
            sys.exit(EXIT_USER_ERROR)
        except ClickException as e:
            e.show()
            sys.exit(e.exit_code)
        except typer.Abort:
            err.print("aborted")
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


def handle_errors(fn: Callable) -> Callable:
    """A user's mistake (DauError) or a machine fault (OSError: full disk, read-only folder) is one
    line on stderr and exit code 2, never a traceback. Library warnings raised meanwhile (torch's
    pickle-protocol warning, numpy's cast warning) are held back, and shown only if it succeeds."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("default")
            try:
                result = fn(*args, **kwargs)
            except DauError as e:
                fail(str(e))
                raise typer.Exit(EXIT_USER_ERROR) from None
            except OSError as e:  # a machine fault the pre-flight checks could not foresee
                fail(str(fault(e, Path(e.filename), doing="use")) if e.filename else
                     f"{e.strerror or type(e).__name__} while the command ran; no output was written: "
                     f"check the disk and the folders it uses, then run it again")
                raise typer.Exit(EXIT_USER_ERROR) from None
            except (MemoryError, ImportError) as e:  # torch cannot map its libraries under a low `ulimit -v`
                what = (f"{e.name.split('.')[0]} could not be loaded" if isinstance(e, ImportError) and e.name
                        else "out of memory")
                first = str(e).strip().splitlines()[0][:120] if str(e).strip() else type(e).__name__
                fail(f"{what} ({first}); if memory is limited (ulimit -v, a container limit), raise the limit; "
                     f"nothing was written")
                raise typer.Exit(EXIT_USER_ERROR) from None
            except KeyboardInterrupt as e:
                # open_run says what was kept and where the run is recorded; before it, nothing was
                err.print(escape(str(e) or "interrupted; nothing was written"), highlight=False, soft_wrap=True)
                raise typer.Exit(EXIT_INTERRUPTED) from None
        for w in caught:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
        return result

    return wrapper


def print_json(obj: Any) -> None:
    sys.stdout.write(to_json(obj) + "\n")
    sys.stdout.flush()


@contextmanager
def loading(message: str) -> Iterator[None]:
    """A status line (spinner and `message`) on stderr while a command loads, before its progress
    bars start; nothing with --quiet or when stderr is not a terminal."""
    if QUIET:
        yield
        return
    with err.status(message, spinner="dots"):
        yield


@contextmanager
def open_run(command: str, config: dict, device: str = "cpu", progress: bool = True) -> Iterator[Run]:
    """A run directory for the duration of a command; its status says how the command ended.

    SIGTERM ends the command as Ctrl-C does (status `interrupted`); a run killed outright is
    shown as `lost` by every reader (dau_cli.runs.run_status). If the record itself cannot be
    written at the end (a full disk), the original error is the one reported.
    """
    previous = _on_sigterm()  # before the record exists, so no moment is left uncovered
    try:
        yield from _recorded(command, config, device, progress)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _recorded(command: str, config: dict, device: str, progress: bool) -> Iterator[Run]:
    run = Run(command, sys.argv, config, device)
    view = None
    if progress and not QUIET:
        from dau_cli.cli.progress import ProgressView

        view = ProgressView(err)
    if view:
        run.listeners.append(view)
        view.progress.start()
    elif not QUIET:  # no progress (--json): warnings still reach stderr, never stdout's JSON
        run.listeners.append(_warnings_only)
    try:
        yield run
    except BaseException as e:
        if view:  # a failed run ends with its one error line, not a half-filled bar
            view.progress.notes.clear()
            for task in view.progress.task_ids:
                view.progress.update(task, visible=False)
        try:
            if isinstance(e, KeyboardInterrupt):
                run.finish("interrupted")
                said = str(e) or "interrupted"
                said = said if ";" in said else f"{said}; no output was written"
                raise KeyboardInterrupt(f"{said}; the run is recorded as interrupted in {run.dir}") from None
            else:
                run.finish("failed", error=str(e) if isinstance(e, DauError) else f"{type(e).__name__}: {e}")
        except OSError:
            pass  # the record stays "running" with a dead pid: readers show it as lost
        raise
    else:
        run.finish("completed")
    finally:
        if view:
            view.progress.stop()


def save_output(run: Run, ckpt: dict, target: Path, force: bool, summary: dict) -> None:
    """The command's checkpoint, written (atomically, dau_cli.files), and recorded in its run."""
    from dau_cli.engine.checkpoint import save_checkpoint

    save_checkpoint(ckpt, target, force)
    run.update(summary=summary, outputs={"checkpoint": str(target.resolve())})


def _warnings_only(event: dict) -> None:
    if event.get("type") == "log" and event.get("level") in ("warning", "error") and not event.get("in_report"):
        err.print(f"[yellow]warning:[/] {escape(printable(str(event.get('message', ''))))}", highlight=False,
                  soft_wrap=True)


def _on_sigterm():
    """Make SIGTERM raise KeyboardInterrupt (main thread only); returns the handler it replaced."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None

    def stop(signum, frame):
        raise KeyboardInterrupt("terminated (SIGTERM)")

    return signal.signal(signal.SIGTERM, stop) or signal.SIG_DFL


def pct(x: float | None) -> str:
    return "—" if x is None or x != x else f"{x:.2f}"
