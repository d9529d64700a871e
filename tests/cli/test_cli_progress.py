"""The progress display at 80 columns: the bar, counts, elapsed and ETA stay whole; metrics take
what width is left; reused work does not make the ETA jump; inner jobs get their own line."""

from __future__ import annotations

import io
import re

from rich.console import Console

from dau_cli.cli.progress import ProgressView, metrics_text

DAU_STEP = {"type": "step", "phase": "dau", "step": 12, "total": 400, "epoch": 1, "attacker_loss": 0.7134,
            "attacker_acc": 51.2, "defender_loss": 1.2345, "ce": 0.51, "adv": 0.69, "bt": 0.03, "images_per_s": 5321.0}


ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def lines_of(view: ProgressView, width: int) -> list[str]:
    """The lines as a colour terminal of `width` columns shows them (an uncoloured bar is blank)."""
    c = Console(width=width, file=io.StringIO(), force_terminal=True, color_system="standard")
    c.print(view.progress.get_renderable())
    return ANSI.sub("", c.file.getvalue()).rstrip("\n").splitlines()


def test_at_80_columns_the_bar_counts_and_times_come_first_and_metrics_fit():
    view = ProgressView(Console(width=80, file=io.StringIO()))
    view({"type": "phase", "phase": "attacker warm-up", "total": 50})
    view({"type": "step", "phase": "attacker warm-up", "step": 50, "total": 50, "attacker_loss": 0.6})
    view({"type": "phase", "phase": "dau", "total": 400})
    view({**DAU_STEP, "step": 1})
    view(DAU_STEP)
    lines = lines_of(view, 80)
    assert len(lines) == 2 and all(len(ln) <= 80 for ln in lines), lines
    dau = lines[1]
    assert dau.startswith("dau ") and "12/400" in dau and "━" in dau
    assert re.search(r"\d:\d\d:\d\d .*\d:\d\d:\d\d|-:--:--", dau), dau  # elapsed and ETA, whole
    assert "atk 0.713" in dau and "def 1.23" in dau  # the first chosen metrics fit
    assert "…" not in dau.split("12/400")[0]  # nothing before the counts was cut
    assert lines[0].startswith("attacker warm-up") and "50/50" in lines[0]


def test_wider_terminals_show_more_metrics():
    narrow = metrics_text(DAU_STEP, 20)
    wide = metrics_text(DAU_STEP, 80)
    assert len(narrow) <= 20 and narrow.startswith("atk 0.713")
    assert wide.startswith(narrow) and "img/s" in wide and len(wide) <= 80


def test_reused_work_counts_at_once_without_a_speed_from_it():
    view = ProgressView(Console(width=80, file=io.StringIO()))
    view({"type": "phase", "phase": "compare", "total": 30})
    view({"type": "step", "phase": "compare", "step": 20, "total": 30})  # 20 cells were on disk
    task = view.progress.tasks[0]
    assert task.completed == 20 and task.speed is None and task.time_remaining is None


def test_an_inner_job_has_one_line_that_follows_the_current_job():
    view = ProgressView(Console(width=80, file=io.StringIO()))
    view({"type": "phase", "phase": "compare", "total": 8})
    for job in ("dau seed 0", "ft seed 0"):
        view({"type": "phase", "phase": "dau", "total": 100, "job": job})
        view({"type": "step", "phase": "dau", "step": 40, "total": 100, "job": job, "attacker_loss": 0.7})
    lines = lines_of(view, 80)
    assert len(lines) == 2 and "0/8" in lines[0]
    assert lines[1].startswith("  ft seed 0 ") and "40/100" in lines[1] and "dau  atk 0.7" in lines[1]


def test_a_job_named_with_brackets_is_shown_as_written():
    view = ProgressView(Console(width=100, file=io.StringIO()))
    view({"type": "phase", "phase": "compare", "total": 2})
    job = "dau[dau.lr=0.03] seed 0"  # a compare method with settings: markup would eat `[dau.lr=0.03]`
    view({"type": "phase", "phase": "dau", "total": 10, "job": job})
    assert lines_of(view, 100)[1].startswith("  dau[dau.lr=0.03] se")  # the label column cuts it there


def test_forget_with_dau_at_80_columns_keeps_the_bar_whole(dau, tiny_ckpt, tmp_path, monkeypatch):
    """The real command, drawn as on a colour terminal of 80 columns."""
    import dau_cli.cli.common as common

    screen = io.StringIO()
    monkeypatch.setattr(common, "err", Console(file=screen, force_terminal=True, width=80, color_system="standard"))
    r = dau("forget", tiny_ckpt, "--classes", "3", "-o", tmp_path / "f.pt", "--set", "dau.epochs=1",
            "--set", "dau.attacker_warmup=5")
    assert r.exit_code == 0, r.output
    text = re.sub(r"\x1b\[[0-9;?]*[ABCDEFGHJKST]", "\n", screen.getvalue())  # cursor moves end a drawn line
    text = ANSI.sub("", text).replace("\r", "\n")
    dau_lines = [ln for ln in text.splitlines() if ln.startswith("dau ") and "/" in ln]
    assert dau_lines, text
    last = dau_lines[-1]
    assert len(last) <= 80 and re.search(r" (\d+)/\1 ", last) and "━" in last, last
    assert "loading" in text  # the status line shown while torch and the data load


def test_info_messages_show_above_the_bars_and_leave_with_a_failure():
    view = ProgressView(Console(width=80, file=io.StringIO()))
    view({"type": "log", "level": "info", "message": "1/3 training a cnn on digits"})
    view({"type": "phase", "phase": "train", "total": 10})
    lines = lines_of(view, 80)
    assert lines[0] == "1/3 training a cnn on digits" and lines[1].startswith("train")


def test_a_loop_that_ends_early_closes_at_its_own_count_when_the_next_starts():
    """DAU's game stops once the class is forgotten: 8 of at most 40 steps, then the repair."""
    view = ProgressView(Console(width=80, file=io.StringIO()))
    view({"type": "phase", "phase": "dau", "total": 40})
    for step in range(1, 9):
        view({**DAU_STEP, "step": step, "total": 40})
    game = view.progress.tasks[0]
    assert not game.finished
    view({"type": "phase", "phase": "repair", "total": 20})
    assert game.finished and game.completed == game.total == 8 and game.stop_time is not None
    assert "8/8" in lines_of(view, 80)[0]
    repair = view.progress.tasks[1]
    assert not repair.finished and repair.total == 20
