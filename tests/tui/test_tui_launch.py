"""`follow_child`: start a job as a child process and follow its run (`dau ... --tui`)."""

from __future__ import annotations

import os
import signal
import sys
import textwrap
import time
from pathlib import Path

import pytest

import tui.launch as launch
from dau_cli.runs import read_run
from tui.screens.run import RunScreen
from tui.widgets import Chart
from tui_helpers import wait_until

# A stand-in for `python -m dau_cli forget ...`: a torch-free child that writes a real run
# directory through dau_cli.runs.Run (which takes its id from DAU_RUN_ID).
CHILD = textwrap.dedent(
    """
    import sys, time
    from dau_cli.runs import Run
    steps, pause, code = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
    print("child starting", flush=True)
    run = Run("forget", sys.argv[1:], {"method": "dau"})
    try:
        run.emit("phase", phase="dau", total=steps, epochs=1)
        for i in range(1, steps + 1):
            run.emit("step", phase="dau", step=i, total=steps, epoch=1, attacker_loss=0.6, defender_loss=1.0,
                     ce=0.4, adv=0.5, bt=0.1)
            time.sleep(0.01)
        time.sleep(pause)
        run.finish("completed" if code == 0 else "failed", None if code == 0 else "boom")
        sys.exit(code)
    except KeyboardInterrupt:
        run.finish("interrupted")
        sys.exit(130)
    """
)


def fake_dau(steps: int, pause: float, code: int = 0):
    def command(argv: list[str]) -> list[str]:
        assert "--tui" not in argv
        return [sys.executable, "-c", CHILD, str(steps), str(pause), str(code)]

    return command


@pytest.fixture
def drive(monkeypatch: pytest.MonkeyPatch):
    """Run follow_child's dashboard headless under `pilot_fn`; its failures fail the test."""
    seen: dict = {}

    def use(pilot_fn):
        async def guarded(pilot):
            try:
                await pilot_fn(pilot)
            except BaseException as e:  # Textual would only log it
                seen["error"] = e
                pilot.app.exit()

        def run_app(app):
            seen["app"] = app
            app.run(headless=True, size=(120, 40), auto_pilot=guarded)
            if "error" in seen:
                raise seen["error"]

        monkeypatch.setattr(launch, "_run_app", run_app)
        monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parents[2]))
        return seen

    yield use
    # never leave a child behind, whatever happened
    app = seen.get("app")
    info = read_run(app.initial_run) if app is not None else None
    if info and info.get("status") == "running":
        try:
            os.kill(info["pid"], signal.SIGKILL)
        except ProcessLookupError:
            pass


async def until_steps(pilot, n: int) -> None:
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, RunScreen), what="the run screen")
    chart = pilot.app.screen.query_one("#attacker", Chart)
    await wait_until(pilot, lambda: chart.point_count() >= n, timeout=15, what=f"{n} steps")


def test_quit_leaves_the_job_running(drive, dau_home: Path):
    async def pilot_fn(pilot):
        await until_steps(pilot, 20)
        assert pilot.app.screen.run_dir.parent == dau_home / "runs"
        shown = {b.binding.key for b in pilot.app.screen.active_bindings.values() if b.binding.show}
        assert "k" in shown  # there is a job to kill
        await pilot.press("q")

    seen = drive(pilot_fn)
    assert launch.follow_child(["forget", "--method", "dau", "--tui"], command=fake_dau(20, 30)) == 0
    run_dir = seen["app"].initial_run
    info = read_run(run_dir)
    assert info["status"] == "running"
    os.kill(info["pid"], 0)  # still alive (the fixture kills it afterwards)
    log = dau_home / "logs" / f"{run_dir.name}.log"
    assert "child starting" in log.read_text()
    assert run_dir.name.split("-")[2] == "forget"


def test_k_stops_the_job_and_quits(drive):
    async def pilot_fn(pilot):
        await until_steps(pilot, 10)
        await pilot.press("k")

    seen = drive(pilot_fn)
    code = launch.follow_child(["forget"], command=fake_dau(10, 30))
    info = read_run(seen["app"].initial_run)
    assert info["status"] == "interrupted"  # stopped with SIGINT, so the run says so
    assert code == 130
    with pytest.raises(ProcessLookupError):
        os.kill(info["pid"], 0)


def test_a_finished_job_reports_its_exit_code(drive):
    async def pilot_fn(pilot):
        await until_steps(pilot, 5)
        screen = pilot.app.screen
        await wait_until(pilot, lambda: screen.job_note is not None, what="the job's exit")
        assert "code 3" in screen.job_note
        await pilot.press("q")

    drive(pilot_fn)
    assert launch.follow_child(["forget"], command=fake_dau(5, 0, code=3)) == 3


def test_a_job_that_dies_before_its_run_shows_its_output(drive, dau_home: Path):
    def command(argv):
        return [sys.executable, "-c", "import sys; print('error: no such recipe'); sys.exit(2)"]

    async def pilot_fn(pilot):
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, RunScreen))
        screen = pilot.app.screen
        await wait_until(pilot, lambda: screen.job_note is not None, what="the job's exit")
        assert "waiting for the run directory" in (screen.missing or "")
        assert "no such recipe" in screen.job_note
        await pilot.press("q")

    drive(pilot_fn)
    assert launch.follow_child(["forget", "--recipe", "nope"], command=command) == 2


def test_the_child_command_runs_dau_cli():
    assert launch.child_command(["forget", "--method", "dau"]) == [sys.executable, "-m", "dau_cli", "forget", "--method", "dau"]
    assert launch.exit_code(-2) == 130 and launch.exit_code(1) == 1


@pytest.mark.parametrize("parent", ["ignored", "blocked"])
def test_a_job_is_interruptible_whatever_the_parent_did_with_sigint(parent, dau_home: Path, monkeypatch):
    """A parent with SIGINT ignored or blocked (both survive exec) must still be able to stop its job
    with SIGINT, so that the job records `interrupted` instead of being killed (`lost`)."""
    from tui.job import Job

    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parents[2]))
    run_id = "20260101-000000-forget-sigint"
    if parent == "ignored":
        before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    else:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        job = Job.start(fake_dau(3, 30)(["forget"]), run_id, dau_home / "logs" / f"{run_id}.log")
    finally:
        if parent == "ignored":
            signal.signal(signal.SIGINT, before)
        else:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    events = dau_home / "runs" / run_id / "events.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (events.exists() and '"step": 3' in events.read_text()):
        time.sleep(0.05)
    assert '"step": 3' in events.read_text(), "the child never reached its pause"
    # A grace well under the child's 30 s pause: a job that ignored SIGINT would still be killed
    # (`lost`), while a loaded machine (the suite on both cores) has time to record `interrupted`.
    code = job.stop(grace=15.0)
    assert read_run(dau_home / "runs" / run_id)["status"] == "interrupted"
    assert code == 130
