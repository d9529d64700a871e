"""SVG snapshots of the screens, drawn from the recorded runs at 120×40.

After a deliberate change to the look: `pytest tests/tui --snapshot-update`, then open the SVGs
in tests/tui/__snapshots__/ and check them by eye before committing.
"""

from __future__ import annotations

from pathlib import Path

from textual.widgets import DataTable

from tui.app import DauDashboard
from tui.gpu import GpuSample
from tui.screens.run import RunScreen
from tui.widgets import GpuStrip
from tui_helpers import AUDIT_ID, FAILED_ID, FORGET_ID, no_gpu, wait_until

SIZE = (120, 40)
H100 = [GpuSample(0, "NVIDIA H100 80GB HBM3", 87.0, 31 * 2**30, 80 * 2**30)]


def dashboard(root: Path, run: str | None = None, gpu=no_gpu) -> DauDashboard:
    app = DauDashboard(runs_root=root, run=root / run if run else None, gpu_reader=gpu, poll_interval=0.1)
    app.root_label = "~/.local/share/dau/runs"  # the tmp path differs from run to run
    return app


async def loaded(pilot) -> None:
    """Wait until the run screen has drawn its run and GPU strip."""
    screen = pilot.app.screen
    assert isinstance(screen, RunScreen)
    strip = screen.query_one(GpuStrip)
    await wait_until(pilot, lambda: screen.updates > 0 and strip.text != "GPU: …")
    await pilot.pause(0.2)


def test_runs_list(snap_compare, runs: Path):
    async def listed(pilot) -> None:
        table = pilot.app.screen.query_one(DataTable)
        await wait_until(pilot, lambda: table.row_count == 3)
        await pilot.pause(0.1)

    assert snap_compare(dashboard(runs), terminal_size=SIZE, run_before=listed)


def test_dau_forget_run(snap_compare, runs: Path):
    assert snap_compare(dashboard(runs, FORGET_ID, gpu=lambda: H100), terminal_size=SIZE, run_before=loaded)


def test_audit_run_roc_on_log_fpr(snap_compare, runs: Path):
    assert snap_compare(dashboard(runs, AUDIT_ID), terminal_size=SIZE, run_before=loaded)


def test_failed_training_run(snap_compare, runs: Path):
    assert snap_compare(dashboard(runs, FAILED_ID), terminal_size=SIZE, run_before=loaded)


def test_help(snap_compare, runs: Path):
    async def help(pilot) -> None:
        await loaded(pilot)
        await pilot.press("question_mark")
        await pilot.pause(0.1)

    assert snap_compare(dashboard(runs, FORGET_ID), terminal_size=SIZE, run_before=help)
