"""The dashboard driven through Textual's Pilot: screens, keys, live following, bad input."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from textual.widgets import DataTable

from tui.app import DauDashboard
from tui.gpu import GpuSample
from tui.screens.help import HelpScreen
from tui.screens.run import RunScreen
from tui.screens.runs import RunsScreen
from tui.widgets import Chart, GpuStrip, RocChart
from tui_helpers import (AUDIT_ID, DEMO_ID, FAILED_ID, FORGET_ID, append, make_running_run, no_gpu, row_cells,
                         step_event, wait_until)

SIZE = (120, 40)


def app_for(root: Path, run: Path | None = None, **kwargs) -> DauDashboard:
    kwargs.setdefault("gpu_reader", no_gpu)
    return DauDashboard(runs_root=root, run=run, poll_interval=0.1, chart_interval=0.2, **kwargs)


def run_screen(app: DauDashboard) -> RunScreen:
    assert isinstance(app.screen, RunScreen), f"on {type(app.screen).__name__}"
    return app.screen


def chart(app: DauDashboard, name: str) -> Chart:
    return app.screen.query_one(f"#{name}", Chart)


async def test_runs_list_shows_every_run(runs: Path):
    app = app_for(runs)
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one(DataTable)
        await wait_until(pilot, lambda: table.row_count == 4, what="four rows")
        rows = [row_cells(table, i) for i in range(4)]
        # newest first, with command, model, verdict, status, duration and headline numbers (at 120
        # columns the start time gives way first)
        assert [r["id"] for r in rows] == [DEMO_ID, AUDIT_ID, FORGET_ID, FAILED_ID]
        assert "started" not in rows[0]
        forget = rows[2]
        assert [forget[k] for k in ("command", "model", "status")] == ["forget", "cifar10-resnet18.pt", "✓ completed"]
        assert forget["metrics"].startswith("test 87.2  UA 12.4")
        assert (rows[1]["model"], rows[1]["verdict"]) == ("forgotten.pt", "superficial")
        assert rows[3]["status"] == "✗ failed" and "CUDA out of memory" in rows[3]["metrics"]
        await pilot.resize_terminal(200, 40)  # room for every column, each whole
        await wait_until(pilot, lambda: "started" in row_cells(table, 2), what="the start column")
        forget = row_cells(table, 2)
        assert (forget["started"], forget["duration"]) == ("2025-01-02 10:00", "1m01s")
        assert forget["metrics"] == "test 87.2  UA 12.4  RA 98.1  MIA 0.512"
        assert "CUDA out of memory: tried to allocate 2.00 GiB" in row_cells(table, 3)["metrics"]
        assert isinstance(app.screen, RunsScreen)  # nothing is running: stays on the list


async def test_enter_opens_a_run_and_escape_goes_back(runs: Path):
    app = app_for(runs)
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one(DataTable)
        await wait_until(pilot, lambda: table.row_count == 4)
        await pilot.press("down", "down", "enter")
        screen = run_screen(app)
        assert screen.run_dir.name == FORGET_ID
        await wait_until(pilot, lambda: screen.updates > 0, what="first update")
        assert chart(app, "attacker").point_count("attacker_loss") == 150  # the 20 warm-up steps apart
        assert chart(app, "attacker").note == "warm-up 20 steps 0.640→0.394"
        assert set(chart(app, "defender").series) == {"defender_loss", "ce", "adv", "bt"}
        assert chart(app, "accuracy").point_count("forget_acc") == 7
        assert set(chart(app, "accuracy").series) == {"forget_acc", "retain_acc", "val_acc"}
        assert set(chart(app, "auc").series) == {"confidence", "entropy", "loss", "attacker_auc"}
        assert not app.screen.query_one("#roc").display  # a forget run has no ROC curves
        await pilot.press("escape")
        assert isinstance(app.screen, RunsScreen)
        await pilot.press("up", "enter")
        screen = run_screen(app)
        assert screen.run_dir.name == AUDIT_ID
        await wait_until(pilot, lambda: screen.updates > 0)
        roc = app.screen.query_one(RocChart)
        assert roc.display and [(c.attack, c.pair) for c in roc.curves] == [
            ("confidence", "forget_vs_val"),
            ("entropy", "forget_vs_val"),
            ("loss", "forget_vs_val"),
        ]
        await pilot.press("p")
        assert {c.pair for c in roc.curves} == {"retain_vs_test"}
        await pilot.press("backspace")
        assert isinstance(app.screen, RunsScreen)


async def test_a_plain_training_run_falls_back_to_loss(runs: Path):
    app = app_for(runs, run=runs / FAILED_ID)
    async with app.run_test(size=SIZE) as pilot:
        screen = run_screen(app)
        await wait_until(pilot, lambda: screen.updates > 0)
        assert chart(app, "attacker").border_title.startswith("Loss")
        assert chart(app, "attacker").point_count("loss") == 30
        assert chart(app, "defender").point_count("acc") == 30
        log = str(app.screen.query_one("#log-text").render())
        assert "error: CUDA out of memory" in log


async def test_follows_the_newest_running_run(runs: Path):
    make_running_run(runs, "20250103-110000-forget-old001")
    live = make_running_run(runs, "20250103-120000-forget-live01", started=time.time() + 1)
    app = app_for(runs)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, RunScreen), what="the run screen")
        assert run_screen(app).run_dir == live


async def test_a_lost_running_run_is_not_followed(runs: Path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    make_running_run(runs, pid=int(dead.stdout))  # its process is gone
    app = app_for(runs)
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one(DataTable)
        await wait_until(pilot, lambda: table.row_count == 5)
        await pilot.pause(0.3)
        assert isinstance(app.screen, RunsScreen)
        assert row_cells(table, 0)["status"] == "?"  # at 120 columns the status is its sign alone
        await pilot.resize_terminal(170, 40)
        await wait_until(pilot, lambda: row_cells(table, 0)["status"] == "? lost (process gone)", what="the status in words")


WRITER = textwrap.dedent(
    """
    import json, sys, time
    path, first, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    for step in range(first, first + n):
        ev = {"v": 1, "t": time.time(), "type": "step", "phase": "dau", "step": step, "total": 1000,
              "epoch": 1, "attacker_loss": 0.6, "defender_loss": 1.2, "ce": 0.4, "adv": 0.5, "bt": 0.3}
        with open(path, "a") as f:
            f.write(json.dumps(ev) + "\\n")
        if step % 10 == 0:
            with open(path, "a") as f:
                f.write(json.dumps({"v": 1, "t": time.time(), "type": "epoch", "phase": "dau",
                                    "epoch": step // 10, "epochs": 10, "metrics": {"forget_acc": 90 - step / 10},
                                    "auc": {"loss": 0.7 - step / 1000}}) + "\\n")
        time.sleep(0.01)
    """
)


async def test_events_appended_by_another_process_reach_the_charts(runs: Path):
    run = make_running_run(runs)
    app = app_for(runs, run=run)
    async with app.run_test(size=SIZE) as pilot:
        screen = run_screen(app)
        await wait_until(pilot, lambda: screen.updates > 0)
        assert chart(app, "attacker").point_count() == 0
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(run / "events.jsonl"), "1", "120"])
        try:
            await wait_until(pilot, lambda: chart(app, "attacker").point_count("attacker_loss") == 120, timeout=20)
            await wait_until(pilot, lambda: chart(app, "auc").point_count("loss") == 12)
        finally:
            writer.wait(10)
        assert chart(app, "accuracy").point_count("forget_acc") == 12
        assert screen.snapshot.step == 120 and screen.snapshot.total == 1000
        # the percent, the ETA and the bar follow the steps
        progress = str(screen.query_one("#progress").render())
        assert progress.startswith(" 12%  ETA ") and "step 120/1000" in progress


async def test_a_half_written_line_waits_for_its_end(runs: Path):
    run = make_running_run(runs)
    events = run / "events.jsonl"
    app = app_for(runs, run=run)
    async with app.run_test(size=SIZE) as pilot:
        screen = run_screen(app)
        await wait_until(pilot, lambda: screen.updates > 0)
        append(events, json.dumps(step_event(1)) + "\n")
        await wait_until(pilot, lambda: chart(app, "attacker").point_count() == 1)
        line = json.dumps(step_event(2))
        append(events, line[:40])
        polls = screen.polls
        await wait_until(pilot, lambda: screen.polls >= polls + 4, what="four more polls")
        assert chart(app, "attacker").point_count() == 1
        append(events, line[40:] + "\n")
        await wait_until(pilot, lambda: chart(app, "attacker").point_count() == 2, what="the completed line")
        assert screen.snapshot.unknown == 0


async def test_unknown_events_and_a_vanished_run_do_not_crash(runs: Path):
    run = make_running_run(runs)
    events = run / "events.jsonl"
    app = app_for(runs, run=run)
    async with app.run_test(size=SIZE) as pilot:
        screen = run_screen(app)
        await wait_until(pilot, lambda: screen.updates > 0)
        append(events, '{"v": 2, "t": 1, "type": "hologram", "beams": [1, 2]}\nnot json at all\n[1, 2]\n')
        append(events, json.dumps(step_event(1)) + "\n")
        await wait_until(pilot, lambda: chart(app, "attacker").point_count() == 1)
        assert screen.snapshot.unknown == 1
        shutil.rmtree(run)
        await wait_until(pilot, lambda: screen.missing is not None, what="the gone notice")
        assert "gone" in screen.missing
        assert "gone" in str(screen.query_one("#info").render())
        assert chart(app, "attacker").point_count() == 1  # what was drawn stays
        await pilot.press("r")  # re-reading a missing run is fine too
        await pilot.pause(0.3)
        await pilot.press("escape")
        assert isinstance(app.screen, RunsScreen)
        table = app.screen.query_one(DataTable)
        await wait_until(pilot, lambda: table.row_count == 4, what="the list without the gone run")


async def test_refresh_reads_the_run_again_from_the_start(runs: Path):
    app = app_for(runs, run=runs / FORGET_ID)
    async with app.run_test(size=SIZE) as pilot:
        screen = run_screen(app)
        await wait_until(pilot, lambda: screen.updates > 0)
        assert screen.snapshot.events == 184
        updates = screen.updates
        await pilot.press("r")
        await wait_until(pilot, lambda: screen.updates > updates, what="a fresh read")
        assert screen.snapshot.events == 184  # read again, not added twice
        assert chart(app, "attacker").point_count() == 150


async def test_no_gpu_is_shown_and_the_dashboard_goes_on(runs: Path):
    def broken() -> None:
        raise RuntimeError("NVML exploded")

    for reader in (no_gpu, broken):
        app = app_for(runs, run=runs / FORGET_ID, gpu_reader=reader)
        async with app.run_test(size=SIZE) as pilot:
            strip = app.screen.query_one(GpuStrip)
            await wait_until(pilot, lambda: strip.samples is None and strip.text.startswith("no GPU  CPU "))
            assert str(strip.render()).startswith("no GPU   CPU ")
            await wait_until(pilot, lambda: run_screen(app).updates > 0)


async def test_a_gpu_is_shown(runs: Path):
    sample = [GpuSample(0, "NVIDIA H100 80GB HBM3", 87.0, 30 * 2**30, 80 * 2**30)]
    app = app_for(runs, run=runs / FORGET_ID, gpu_reader=lambda: sample)
    async with app.run_test(size=SIZE) as pilot:
        strip = app.screen.query_one(GpuStrip)
        await wait_until(pilot, lambda: strip.samples is not None)
        assert "util 87%" in strip.text and "30.0/80.0 GiB" in strip.text
        assert "no GPU" not in str(strip.render())


async def test_the_jobs_own_gpu_memory_is_shown(tmp_path: Path):
    run = make_running_run(tmp_path)  # owned by this process, on this host
    sample = [GpuSample(0, "NVIDIA H100", 50.0, 30 * 2**30, 80 * 2**30, ((os.getpid(), 5 * 2**30), (1, 2**30)))]
    app = app_for(tmp_path, run=run, gpu_reader=lambda: sample)
    async with app.run_test(size=SIZE) as pilot:
        strip = app.screen.query_one(GpuStrip)
        await wait_until(pilot, lambda: "job" in strip.text, what="the job's memory")
        assert "job 5.0 GiB" in strip.text


async def test_keys_help_and_quit(runs: Path):
    app = app_for(runs)
    async with app.run_test(size=SIZE) as pilot:
        shown = {b.binding.key: b.binding.description for b in app.screen.active_bindings.values() if b.binding.show}
        assert {"q", "question_mark", "r", "enter", "up"} <= set(shown)
        assert "k" not in shown  # no job to kill
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        assert "kill the job" in str(app.screen.query_one("#help").render())
        await pilot.press("escape")
        assert isinstance(app.screen, RunsScreen)
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running


async def test_an_audits_verdict_and_its_tests_are_shown_and_arrive_live(runs: Path):
    app = app_for(runs, run=runs / AUDIT_ID)
    async with app.run_test(size=SIZE) as pilot:
        screen = run_screen(app)
        panel = screen.query_one("#verdict")
        await wait_until(pilot, lambda: screen.updates > 0 and panel.display, what="the verdict panel")
        lines = str(panel.render()).splitlines()
        assert lines[0].startswith("verdict of forgotten.pt SUPERFICIAL  relearning: ABOVE retrained models")
        assert [ln.split()[0] for ln in lines[1:]] == ["output", "membership", "relearning", "probe"]
        assert "above refs" in lines[3] and "62.8 %" in lines[3] and "(n=16)" in lines[3]
        assert "like refs" in lines[1] and "AUC 0.47" in lines[1]
    # a run without a verdict has no panel; one appended while the screen is open appears
    run = make_running_run(runs, "20250103-120000-audit-live02", command="audit")
    app = app_for(runs, run=run)
    async with app.run_test(size=SIZE) as pilot:
        screen = run_screen(app)
        panel = screen.query_one("#verdict")
        await wait_until(pilot, lambda: screen.updates > 0)
        assert not panel.display
        verdict = {"v": 1, "t": time.time(), "type": "verdict", "verdict": "no reference",
                   "reasons": ["no reference models yet: rerun with --references 16"], "tests": {}}
        append(run / "events.jsonl", json.dumps(verdict) + "\n")
        await wait_until(pilot, lambda: panel.display, what="the verdict arriving")
        assert str(panel.render()) == "verdict NO REFERENCE  no reference models yet: rerun with --references 16"


async def test_a_live_warmup_is_drawn_until_the_game_starts_then_summed_up(runs: Path):
    run = make_running_run(runs)
    events = run / "events.jsonl"
    warm = [{"v": 1, "t": time.time(), "type": "step", "phase": "attacker pre-training", "step": s, "total": 1000,
             "epoch": 0, "attacker_loss": 0.7 - s / 10000} for s in range(1, 301)]
    append(events, "".join(json.dumps(e) + "\n" for e in warm))
    app = app_for(runs, run=run)
    async with app.run_test(size=(80, 24)) as pilot:
        attacker = chart(app, "attacker")
        await wait_until(pilot, lambda: attacker.point_count() == 300, what="the warm-up drawn")
        assert str(attacker.border_title).startswith("Attacker pre-training") and attacker.note == ""
        append(events, "".join(json.dumps(step_event(s)) + "\n" for s in range(1, 11)))
        await wait_until(pilot, lambda: attacker.point_count() == 10, what="the game, from its first step")
        assert str(attacker.border_title).startswith("Attacker loss")
        assert attacker.note == "pre-training 300 steps 0.700→0.670"
        assert attacker.series["attacker_loss"][0][0] == 1.0
