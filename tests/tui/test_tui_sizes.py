"""The dashboard at 60×18, 80×24 and 120×40 through Textual's Pilot: charts only at a useful height
(the latest numbers as text otherwise), no number cut short, the runs list's four columns kept."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import DataTable, Static

from tui.app import DauDashboard
from tui.fit import CHART_HEIGHT
from tui.screens.charts import ChartsPanel
from tui.screens.run import RunScreen
from tui.widgets import Chart
from tui_helpers import AUDIT_ID, DEMO_ID, FAILED_ID, FORGET_ID, cut_numbers, no_gpu, row_cells, screen_text, wait_until

SIZES = [(60, 18), (80, 24), (120, 40)]


def app_for(root: Path, run: str | None = None) -> DauDashboard:
    return DauDashboard(runs_root=root, run=root / run if run else None, gpu_reader=no_gpu, poll_interval=0.1,
                        chart_interval=0.1)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("run", [FORGET_ID, DEMO_ID, AUDIT_ID, FAILED_ID])
async def test_charts_are_useful_or_numbers(runs: Path, run: str, size: tuple[int, int]):
    app = app_for(runs, run)
    async with app.run_test(size=size) as pilot:
        screen = app.screen
        assert isinstance(screen, RunScreen)
        await wait_until(pilot, lambda: screen.updates > 0 and screen.query_one(ChartsPanel).shown != ()
                         or screen.query_one("#numbers").display, what="charts or numbers")
        await pilot.pause(0.3)
        panel = screen.query_one(ChartsPanel)
        shown = [c for c in panel.query(Chart) if c.display]
        assert [c.id for c in shown] == list(panel.shown)
        assert all(c.region.height >= CHART_HEIGHT for c in shown)  # never a frame of 3 or 4 rows
        with_data = [n for n, _ in panel.order() if panel.query_one(f"#{n}", Chart).series]
        hidden = [n for n in with_data if n not in panel.shown]
        numbers = screen.query_one("#numbers", Static)
        assert numbers.display == bool(hidden)
        if hidden:  # what is not drawn is there as numbers
            text = str(numbers.render())
            assert text and any(w in text for w in ("Attacker", "Defender", "AUC", "Accuracy", "ROC", "Loss"))
        if size == (60, 18) and run == DEMO_ID:  # four verdicts leave no room for a useful chart
            assert shown == [] and "Attacker loss 0.673" in str(numbers.render())
        if size == (120, 40):
            assert set(with_data) <= set(panel.shown)  # room for all
        assert cut_numbers(screen_text(app)) == []


@pytest.mark.parametrize("width", [80, 90, 100, 120, 160, 200])
async def test_the_runs_list_keeps_its_four_columns_and_cuts_no_number(runs: Path, width: int):
    app = app_for(runs)
    async with app.run_test(size=(width, 24)) as pilot:
        table = app.screen.query_one(DataTable)
        await wait_until(pilot, lambda: table.row_count == 4)
        await pilot.pause(0.1)
        rows = [row_cells(table, i) for i in range(4)]
        assert all({"id", "command", "model", "verdict"} <= set(r) for r in rows)
        assert rows[1]["model"] == "forgotten.pt" and rows[1]["verdict"] == "superficial"
        full = ["test 87.2", "UA 12.4", "RA 98.1", "MIA 0.512"]
        if "metrics" in rows[2]:  # whole fields, in order, then … where some are left out
            shown = rows[2]["metrics"].removesuffix("  …").split("  ")
            assert shown == full[: len(shown)]
        assert cut_numbers(screen_text(app)) == []
        assert sum(col.get_render_width(table) for col in table.ordered_columns) <= width
