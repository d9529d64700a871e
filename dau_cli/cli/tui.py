"""`dau tui`: the live dashboard. Imports neither torch nor textual until it runs."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType
from typing import Optional

import typer

from dau_cli.cli.common import handle_errors
from dau_cli.errors import DauError
from dau_cli.runs import list_runs, runs_dir


def dashboard(module: str) -> ModuleType:
    """A module of the dashboard: `dau_cli.tui.<module>` in an installed wheel, `tui.<module>`
    in a source checkout (where the folder sits beside the package, as the layout asks)."""
    try:
        return importlib.import_module(f"dau_cli.tui.{module}")
    except ModuleNotFoundError as e:
        if e.name not in ("dau_cli.tui", f"dau_cli.tui.{module}"):
            raise
        return importlib.import_module(f"tui.{module}")


def resolve_run(run: str, root: Path) -> Path:
    """A run directory from a path, an id, a unique id prefix or `latest`."""
    as_path = Path(run).expanduser()
    if as_path.is_dir() and ((as_path / "run.json").exists() or (as_path / "events.jsonl").exists()):
        return as_path.resolve()
    if run == "latest":
        runs = list_runs(root)
        if not runs:
            raise DauError(f"there are no runs in {root} yet")
        return Path(runs[0]["dir"])
    if (root / run).is_dir():
        return root / run
    matches = sorted(d for d in root.iterdir() if d.is_dir() and d.name.startswith(run)) if root.is_dir() else []
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        names = ", ".join(m.name for m in matches[:5])
        raise DauError(f"'{run}' matches {len(matches)} runs ({names}); give more of the id")
    from dau_cli.settings import did_you_mean

    ids = sorted((d.name for d in root.iterdir() if d.is_dir()), reverse=True) if root.is_dir() else []  # newest first
    if not ids:
        raise DauError(f"no run '{run}': there are no runs in {root} yet")
    hint = did_you_mean(run, [*ids, "latest"], n=3, prefixes=True)  # a typo in an id, or in its start
    raise DauError(f"no run '{run}' in {root}{hint}; `dau runs ls` lists the runs there")


def has_terminal() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


@handle_errors
def tui(
    run: Optional[str] = typer.Argument(
        None,
        help="Run to open: its id, a unique start of it, a path to a run directory, or 'latest'. "
        "Leave out to start on the runs list.",
        show_default=False,
    ),
    home: Optional[Path] = typer.Option(
        None,
        "--home",
        help="Read runs from HOME/runs instead of $DAU_HOME/runs.",
        show_default=False,
    ),
    follow: bool = typer.Option(
        True,
        "--follow/--no-follow",
        help="Open the newest running run at start (when no RUN is given).",
    ),
    interval: float = typer.Option(
        0.5,
        "--interval",
        min=0.1,
        max=10.0,
        help="Seconds between reads of the followed run's events.",
    ),
) -> None:
    """Live dashboard: follow a running job, browse and replay finished runs.

    Shows the attacker's and defender's losses by step, accuracies and each membership attack's
    AUC by epoch, the audit's ROC curves on a log FPR axis, progress with ETA, and the GPU.
    Keys: ? help, q quit, arrows + enter pick a run, esc back, r refresh.

    \b
    Examples:
      dau tui                      # runs list; opens the running job if there is one
      dau tui latest               # the newest run
      dau tui 20250102-100000-forget-a1b2c3
      dau tui 2025010210           # a unique start of a run id
      dau tui ~/runs/my-run        # a run directory anywhere
      dau forget ... --tui         # start a job and follow it (q leaves it running)
    """
    root = (home.expanduser() / "runs") if home is not None else runs_dir()
    path = resolve_run(run, root) if run else None
    if not has_terminal():
        raise DauError("dau tui needs a terminal, and its input or output is not one; `dau runs ls` and "
                       "`dau runs show RUN` print the same runs as text")

    app = dashboard("app")  # textual only now, so `dau --help` stays fast
    app.DauDashboard(runs_root=root, run=path, follow=follow, poll_interval=interval).run()


def watch_in_dashboard() -> None:
    """`--tui`: run this same command (without --tui) as a child and follow its run in the
    dashboard; exits with the job's status (0 if it goes on after the dashboard is quit)."""
    argv = [a for a in sys.argv[1:] if a != "--tui"]
    raise typer.Exit(dashboard("launch").follow_child(argv))
