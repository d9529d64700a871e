"""The dashboard in a real terminal of 80×24 (tmux), following a job as it runs: the progress line
shows the percent and the ETA, read back from the screen with `tmux capture-pane -p`."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tui_helpers import cut_numbers

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")

# A job that writes its run as dau's commands do (dau_cli.runs.Run), a step every 50 ms: torch-free,
# so the test takes seconds, and slow enough that the dashboard sees it mid-way.
JOB = textwrap.dedent(
    """
    import sys, time
    from dau_cli.runs import Run
    steps = int(sys.argv[1])
    run = Run("forget", ["forget", "digits-cnn.pt", "--classes", "3"], {"method": "dau", "checkpoint": "digits-cnn.pt"})
    run.emit("phase", phase="dau", total=steps, epochs=4)
    for i in range(1, steps + 1):
        run.emit("step", phase="dau", step=i, total=steps, epoch=1 + 4 * (i - 1) // steps, attacker_loss=0.6,
                 defender_loss=1.0, ce=0.4, adv=0.5, bt=0.1, images_per_s=900.0)
        time.sleep(0.05)
    run.finish("completed")
    """
)
PROGRESS = re.compile(r"^ *(\d+)%  ETA (\d+(?:s|m\d\ds|h\d\dm))  .*step (\d+)/(\d+)", re.M)


def test_a_live_job_shows_its_percent_and_eta_at_80_columns(tmp_path: Path, dau_home: Path):
    run_id = "20250105-120000-forget-tmux01"
    env = {**os.environ, "DAU_HOME": str(dau_home), "DAU_RUN_ID": run_id}
    job = subprocess.Popen([sys.executable, "-c", JOB, "400"], env=env, stdout=subprocess.DEVNULL)
    socket = f"dau-test-{os.getpid()}"  # a tmux server of its own, whatever else runs
    tmux = ["tmux", "-L", socket, "-f", "/dev/null"]
    screen = ""
    try:
        subprocess.run([*tmux, "new-session", "-d", "-x", "80", "-y", "24", "env", f"DAU_HOME={dau_home}",
                        "TERM=xterm-256color", "TZ=UTC", sys.executable, "-m", "dau_cli", "tui"], check=True)
        found = None
        end = time.monotonic() + 20
        while time.monotonic() < end and job.poll() is None:
            screen = subprocess.run([*tmux, "capture-pane", "-p"], capture_output=True, text=True).stdout
            found = PROGRESS.search(screen)
            if found and 0 < int(found[1]) < 100:
                break
            time.sleep(0.3)
        assert found, f"no percent and ETA on the screen:\n{screen}"
        percent, eta, step, total = int(found[1]), found[2], int(found[3]), int(found[4])
        assert total == 400 and 0 < percent < 100 and abs(percent - 100 * step / total) <= 1
        assert eta and run_id in screen  # the dashboard opened the running job by itself
        lines = screen.splitlines()
        assert len(lines) <= 24 and all(len(line) <= 80 for line in lines)
        assert cut_numbers(screen) == []
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)
        job.kill()
        job.wait(10)
