"""Start a dau command as a child process and follow it in the dashboard (`dau ... --tui`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from dau_cli.runs import dau_home, new_run_id, runs_dir


class Job:
    """A child process writing one run; its output goes to a log file, not the screen."""

    def __init__(self, proc: subprocess.Popen, run_id: str, log_path: Path | None) -> None:
        self.proc = proc
        self.run_id = run_id
        self.log_path = log_path

    @classmethod
    def start(cls, cmd: list[str], run_id: str, log_path: Path | None = None) -> Job:
        env = {**os.environ, "DAU_RUN_ID": run_id}
        if log_path is not None:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            out = open(log_path, "ab")
        else:
            out = open(os.devnull, "wb")
        try:
            # A session of its own: the terminal's signals (and closing the dashboard) leave it be.
            proc = subprocess.Popen(
                cmd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        finally:
            out.close()
        return cls(proc, run_id, log_path)

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode

    def poll(self) -> int | None:
        return self.proc.poll()

    def log_tail(self, lines: int = 5) -> str:
        if self.log_path is None:
            return ""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(max(0, os.path.getsize(self.log_path) - 4096))
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return ""
        return "\n".join(text.strip().splitlines()[-lines:])

    def stop(self, grace: float = 10.0) -> int:
        """Interrupt the job (so it can mark its run `interrupted`), then terminate, then kill."""
        for sig, wait in ((signal.SIGINT, grace), (signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
            if self.proc.poll() is not None:
                break
            try:
                os.killpg(self.proc.pid, sig)  # the job's own process group: its loader workers too
            except ProcessLookupError:
                break
            except PermissionError:
                self.proc.send_signal(sig)
            try:
                self.proc.wait(wait)
            except subprocess.TimeoutExpired:
                continue
        return self.proc.wait()


def exit_code(returncode: int) -> int:
    """A child's return code as a shell would report it (128 + N after signal N)."""
    return 128 - returncode if returncode < 0 else returncode


def child_command(argv: list[str]) -> list[str]:
    return [sys.executable, "-m", "dau_cli", *argv]


def _run_app(app) -> None:  # replaced in tests to drive the app headless
    app.run()


def follow_child(argv: list[str], detach_on_quit: bool = True, *, command: Callable[[list[str]], list[str]] | None = None) -> int:
    """Run `dau <argv>` as a child and follow its run in the dashboard.

    The child gets a run id through `DAU_RUN_ID`, so the dashboard knows which directory to wait
    for; its stdout and stderr go to `$DAU_HOME/logs/<run id>.log`. Quitting the dashboard leaves
    the job running unless `detach_on_quit` is False or the user pressed `k`.

    Returns the child's exit code if it has finished, else 0.
    """
    from tui.app import DauDashboard

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

