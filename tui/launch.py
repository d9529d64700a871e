"""Start a dau command as a child process and follow it in the dashboard (`dau ... --tui`)."""

from __future__ import annotations

import sys
from collections.abc import Callable

from dau_cli.runs import dau_home, new_run_id, runs_dir

from .app import DauDashboard
from .job import Job, child_command, exit_code

__all__ = ["child_command", "exit_code", "follow_child"]


def _run_app(app) -> None:  # replaced in tests to drive the app headless
    app.run()


def follow_child(argv: list[str], detach_on_quit: bool = True, *, command: Callable[[list[str]], list[str]] | None = None) -> int:
    """Run `dau <argv>` as a child and follow its run in the dashboard.

    The child gets a run id through `DAU_RUN_ID`, so the dashboard knows which directory to wait
    for; its stdout and stderr go to `$DAU_HOME/logs/<run id>.log`. Quitting the dashboard leaves
    the job running unless `detach_on_quit` is False or the user pressed `k`.

    Returns the child's exit code if it has finished, else 0.
    """
    argv = [a for a in argv if a != "--tui"]  # never start another dashboard in the child
    name = next((a for a in argv if not a.startswith("-")), "run")
    run_id = new_run_id(name)
    log_path = dau_home() / "logs" / f"{run_id}.log"
    job = Job.start((command or child_command)(argv), run_id, log_path)
    app = DauDashboard(run=runs_dir() / run_id, job=job)
    try:
        _run_app(app)
    finally:
        if app.kill_requested or not detach_on_quit:
            if job.poll() is None:
                print(f"dau: stopping the job (run {run_id}) ...", file=sys.stderr)
            job.stop()
    code = job.poll()
    if code is None:
        print(
            f"dau: the job goes on in the background (pid {job.proc.pid}).\n"
            f"     follow it with `dau tui {run_id}`; its output is in {log_path}",
            file=sys.stderr,
        )
        return 0
    return exit_code(code)

