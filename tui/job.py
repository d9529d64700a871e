"""A dau command running as a child process, whose run the dashboard follows (`dau ... --tui`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path


def _interruptible() -> None:
    """Runs in the child just before it becomes the job: SIGINT at its default and not blocked,
    whatever the parent process had (an ignored or blocked SIGINT is inherited across exec, and
    `k` stops the job with SIGINT so that it can record its run as `interrupted`)."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    signal.signal(signal.SIGINT, signal.SIG_DFL)


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
                cmd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=_interruptible,
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
