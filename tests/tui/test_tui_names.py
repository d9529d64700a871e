"""Names with brackets are shown as they are, never read as markup: a compare method with settings
(`dau[dau.repair_lr=0.03]`), a checkpoint or a folder named with `[b]`."""

from __future__ import annotations

import json
import time
from pathlib import Path

from textual.widgets import DataTable

from tui.app import DauDashboard
from tui_helpers import append, make_running_run, no_gpu, row_cells, screen_text, wait_until

METHOD = "dau[dau.repair_lr=0.03]"
CELL = f"{METHOD} seed 0 (dense)"
MODEL = "digits-cnn[b].pt"  # `[b]` is bold in markup: it would vanish and embolden the rest


def live_cell(root: Path, name: str) -> Path:
    run = make_running_run(root, name, command="compare-cell", argv=[CELL], config={"cell": {"checkpoint": "3f9a0c"}})
    now = time.time()
    events = [{"v": 1, "t": now, "type": "phase", "job": f"{METHOD} seed 0", "phase": "dau", "total": 10},
              {"v": 1, "t": now, "type": "step", "job": f"{METHOD} seed 0", "phase": "dau", "step": 3, "total": 10},
              {"v": 1, "t": now, "type": "verdict", "model": CELL, "verdict": "forgotten",
               "reasons": ["like the retrained models"], "tests": {}}]
    append(run / "events.jsonl", "".join(json.dumps(e) + "\n" for e in events))
    return run


async def test_bracketed_folder_model_and_method_names_are_shown_as_they_are(tmp_path: Path):
    root = tmp_path / "runs[b]here"
    root.mkdir()
    run = live_cell(root, "20250103-120000-compare-cell-a1b2c3")
    make_running_run(root, "20250103-110000-audit-d4e5f6", command="audit", config={"checkpoint": f"/m/{MODEL}"},
                     status="completed", started=time.time() - 60, ended=time.time())
    app = DauDashboard(runs_root=root, gpu_reader=no_gpu, follow=False, poll_interval=0.1, chart_interval=0.2)
    async with app.run_test(size=(160, 40)) as pilot:
        table = app.screen.query_one(DataTable)
        await wait_until(pilot, lambda: table.row_count == 2, what="the runs")
        shown = screen_text(app)
        assert "Runs in " + str(root) in shown
        assert row_cells(table, 1)["model"] == MODEL and MODEL in shown  # the cell as drawn, not only as stored

    odd = run.rename(root / "cell[b]copy")  # a run folder opened by its path, named with brackets
    app = DauDashboard(runs_root=root, run=odd, gpu_reader=no_gpu, poll_interval=0.1, chart_interval=0.2)
    async with app.run_test(size=(160, 40)) as pilot:
        await wait_until(pilot, lambda: app.screen.updates > 0 and app.screen.query_one("#verdict").display,
                         what="the run and its verdict")
        shown = screen_text(app)
        assert "dau — cell[b]copy" in shown
        assert f"verdict of {CELL} FORGOTTEN" in shown
        assert f"{METHOD} seed 0: dau 3/10" in shown

