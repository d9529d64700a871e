"""The dashboard at any width, without a terminal: nothing cut inside a number, what gives way first,
charts only at a useful height, the verdicts named, the warm-up apart, the CPU strip without a GPU."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from tui.fit import NUMBER, Column, chart_grid, clip_words, fit_columns, fit_fields, join_pieces, piece
from tui.format import info_text, progress_text
from tui.gpu import GpuSample
from tui.host import HostSample, ProcReader
from tui.model import RunModel, RunSnapshot, Verdict
from tui.panels import numbers_text, strip_text, verdict_names, verdicts_text
from tui.screens.runs import COLUMNS, GIVE_WAY

WORDS = ["ua=100", "ra=99.83", "relearning:", "ABOVE", "62.8", "%", "(n=16)", "-0.41", "cifar10-resnet18.pt",
         "0.512", "refs", "1,000", "steps", "10:30", "z-score", "+10.00", "10/20/40", "8/8"]


def numbers(text: str) -> set[str]:
    return {m.group() for m in NUMBER.finditer(text)}


def test_clip_words_never_cuts_a_number():
    rng = random.Random(3)
    for _ in range(2000):
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 8)))
        width = rng.randint(1, len(text) + 2)
        out = clip_words(text, width)
        assert len(out) <= width
        if len(text) <= width:
            assert out == text
            continue
        assert out.endswith("…") and text.startswith(out[:-1])
        assert numbers(out[:-1]) <= numbers(text), (text, width, out)  # every number shown is whole


def test_clip_words_cuts_at_word_breaks():
    reason = "relearning: ABOVE retrained models (62.8 % of the other"
    assert clip_words(reason, 40) == "relearning: ABOVE retrained models…"
    assert clip_words(reason, 60) == reason
    assert clip_words("cifar10-resnet18-dau-class3.pt", 20) == "cifar10-resnet18-…"
    assert clip_words("ua=100", 4) == "…"  # a field too long is left out whole, not shown as ua=1
    assert clip_words("after 10/20/40 fine-tuning steps", 16) == "after…"  # not `after 10/20/…`


def test_fit_fields_keeps_whole_fields():
    fields = ["ua=100", "ra=98.1", "test_acc=87.2"]
    assert fit_fields(fields, 40) == "ua=100  ra=98.1  test_acc=87.2"
    assert fit_fields(fields, 20) == "ua=100  ra=98.1  …"
    assert fit_fields(fields, 5) == "…"
    for w in range(1, 40):
        assert len(fit_fields(fields, w)) <= w


def test_pieces_leave_by_rank_and_a_bar_takes_the_room_left():
    pieces = [piece("45%"), piece("ETA 1m05s"), piece("dau", 1), piece("12.0 steps/s", 3)]
    assert join_pieces(pieces, 80).plain == "45%  ETA 1m05s  dau  12.0 steps/s"
    assert join_pieces(pieces, 25).plain == "45%  ETA 1m05s  dau"
    assert join_pieces(pieces, 10).plain == "45%  ETA…"  # rank 0 overflows: clipped at a word, never mid-number


def snapshot(**kw) -> RunSnapshot:
    base = dict(phase="attacker warm-up", step=450, total=1000, epoch=0, epochs=0, rate=12.0, eta=46.0, events=9999,
                latest={"images_per_s": 850.0}, status="running")
    return RunSnapshot(**{**base, **kw})


@pytest.mark.parametrize("width", [40, 60, 78, 118, 200])
def test_the_progress_line_keeps_percent_and_eta_first(width: int):
    snap = snapshot()
    line = progress_text(snap, "running", width).plain
    assert line.startswith(" 45%  ETA 46s") and len(line) <= width
    assert numbers(line) <= numbers(" 45% ETA 46s step 450/1000 epoch 0 12.0 steps/s 850 img/s")
    if width >= 78:
        assert "step 450/1000" in line and "attacker warm-up" in line
    if width >= 118:
        assert "12.0 steps/s" in line and "850 img/s" in line


def test_a_finished_phase_says_so_and_no_eta():
    line = progress_text(snapshot(step=1000), "completed", 78).plain
    assert line.startswith("100%  phase done")
    assert progress_text(RunSnapshot(), None, 78).plain == "no progress yet"


def test_the_info_line_drops_whole_pieces():
    info = {"command": "forget", "config": {"method": "dau"}, "status": "completed", "started": 1735812000.0,
            "ended": 1735812061.0, "device": "cuda:0", "pid": 1, "host": "h"}
    wide = info_text(info, snapshot(), width=200).plain
    assert "device cuda:0" in wide and "9999 events" in wide
    narrow = info_text(info, snapshot(), width=60).plain
    assert narrow.startswith("forget · dau  ✓ completed") and "took 1m01s" in narrow
    assert "events" not in narrow and "999" not in narrow and len(narrow) <= 60


def test_runs_table_columns_give_way_in_order():
    natural = {"id": 29, "command": 7, "model": 19, "verdict": 13, "status": 11, "duration": 8, "started": 16,
               "metrics": 40}
    columns = [Column(k, natural[k], {"metrics": 24, "model": 10}.get(k, 0), 1 if k == "status" else 0)
               for k, _ in COLUMNS]
    wide = fit_columns(columns, 198, GIVE_WAY)
    assert list(wide.widths) == [k for k, _ in COLUMNS] and not wide.compact
    at80 = fit_columns(columns, 78, GIVE_WAY)
    assert list(at80.widths) == ["id", "command", "model", "verdict", "status"] and at80.compact == {"status"}
    assert sum(w + 2 for w in at80.widths.values()) <= 78
    at100 = fit_columns(columns, 98, GIVE_WAY)  # the room a dropped column left goes back: the status in words
    assert list(at100.widths) == ["id", "command", "model", "verdict", "status"] and not at100.compact
    at60 = fit_columns(columns, 58, GIVE_WAY)  # the four that stay overflow: the table scrolls
    assert list(at60.widths) == ["id", "command", "model", "verdict"] and at60.widths["model"] == 10


def test_charts_get_a_useful_height_or_none():
    four = [("attacker", 1), ("defender", 1), ("auc", 1), ("accuracy", 1)]
    g = chart_grid(four, 80, 16)
    assert (g.columns, g.rows, g.shown) == (2, 2, ("attacker", "defender", "auc", "accuracy"))
    g = chart_grid(four, 80, 12)  # one row of charts: the others become numbers
    assert (g.rows, g.shown) == (1, ("attacker", "defender"))
    assert chart_grid(four, 80, 7).shown == ()  # no empty frames: numbers only
    g = chart_grid(four, 120, 30)  # the last chart of a row widens to its end
    assert g.shown == ("attacker", "defender", "auc", "accuracy") and g.spans["accuracy"] == 3
    g = chart_grid([("roc", 3)], 80, 10)
    assert (g.columns, g.shown, g.spans) == (2, ("roc",), {"roc": 2})


def test_numbers_stand_for_hidden_charts():
    groups = [("AUC", [("confidence", "0.510"), ("loss", "0.550")]), ("Accuracy", [("forget", "87.6")])]
    assert numbers_text(groups, 80).plain == "AUC confidence 0.510 loss 0.550   Accuracy forget 87.6"
    assert numbers_text(groups, 40).plain == "AUC confidence 0.510 loss 0.550"
    assert numbers_text(groups, 80, lines=3).plain.splitlines() == ["AUC confidence 0.510 loss 0.550",
                                                                    "Accuracy forget 87.6"]


def test_each_verdict_names_its_model_in_the_order_given():
    demo = [Verdict("not forgotten", ("output: ABOVE",)), Verdict("forgotten"), Verdict("forgotten"),
            Verdict("superficial", ("relearning: ABOVE retrained models (100.0 % back)",))]
    outputs = {m: f"/runs/x/{m}.pt" for m in ("original", "dau", "retrain", "fake")}
    assert verdict_names(demo, {"outputs": outputs}) == ["original", "dau", "retrain", "fake"]
    assert verdict_names(demo, {}) == ["model 1", "model 2", "model 3", "model 4"]  # live, before the outputs
    assert verdict_names([Verdict("forgotten")], {"config": {"checkpoint": "/m/forgotten.pt"}}) == ["forgotten.pt"]
    assert verdict_names([Verdict("forgotten", model="/m/own.pt")], {"config": {"checkpoint": "x.pt"}}) == ["own.pt"]
    # A model without a file is named by the event's words, unless the run names its file.
    words = [Verdict("forgotten", model=w) for w in ("cnn trained on digits", "cnn after dau", "cnn after retrain",
                                                     "cnn after bias-fake")]
    assert verdict_names(words, {}) == ["cnn trained on digits", "cnn after dau", "cnn after retrain",
                                        "cnn after bias-fake"]  # the demo, live
    assert verdict_names(words, {"outputs": outputs}) == ["original", "dau", "retrain", "fake"]
    cell = {"config": {"cell": {"checkpoint": "3f9a0c"}}}  # a compare cell's key names a digest, not a file
    assert verdict_names([Verdict("forgotten", model="dau[dau.repair_lr=0.03] seed 0 (dense)")], cell) == [
        "dau[dau.repair_lr=0.03] seed 0 (dense)"]
    named = {"config": {"checkpoint": "/m/f.pt"}}  # `dau audit f.pt`: the file beats the words
    assert verdict_names([Verdict("forgotten", model="cnn after dau")], named) == ["f.pt"]
    panel = verdicts_text(demo, {"outputs": outputs}, width=60)
    lines = panel.plain.splitlines()
    assert [ln.split()[0] for ln in lines] == ["original", "dau", "retrain", "fake"]
    assert lines[3].startswith("fake      SUPERFICIAL    relearning: ABOVE") and len(lines[3]) <= 60
    assert "100.0" not in lines[3] or "100.0 %" in lines[3]
    # each verdict in its own colour (dau_cli.verdicts)
    from dau_cli.verdicts import VERDICT_STYLE

    styles = {panel.plain[s.start:s.end]: str(s.style) for s in panel.spans}
    assert styles["SUPERFICIAL"] == VERDICT_STYLE["superficial"] and styles["FORGOTTEN"] == VERDICT_STYLE["forgotten"]


def test_the_warmup_is_kept_apart_from_the_game():
    """dau-authors' 1,000 steps of attacker pre-training do not crowd the game's 50 on one axis."""
    m = RunModel()
    m.apply({"type": "phase", "phase": "attacker pre-training", "total": 1000, "epochs": 0, "t": 0.0})
    for s in range(1, 1001):
        m.apply({"type": "step", "phase": "attacker pre-training", "step": s, "total": 1000, "epoch": 0,
                 "attacker_loss": 0.7 - s * 1e-4, "t": s * 0.01})
    warm = m.snapshot()
    assert warm.warmup_steps == 1000 and "attacker_loss" not in warm.steps and warm.step == 1000
    m.apply({"type": "phase", "phase": "dau", "total": 50, "epochs": 1, "t": 20.0})
    for s in range(1, 51):
        m.apply({"type": "step", "phase": "dau", "step": s, "total": 50, "epoch": 1, "attacker_loss": 0.6,
                 "defender_loss": 1.0, "t": 20 + s})
    snap = m.snapshot()
    assert snap.steps["attacker_loss"][0] == tuple(float(s) for s in range(1, 51))  # the game from step 1
    xs = snap.warmup["attacker_loss"][0]  # bounded like every series, on the warm-up's own steps
    assert len(xs) <= 1000 and xs[0] < 3 and xs[-1] > 998 and snap.warmup_phase == "attacker pre-training"
    from tui.screens.charts import warmup_note

    assert warmup_note(snap) == "pre-training 1000 steps 0.700→0.600"


GIB = 2**30


@pytest.mark.parametrize("width", [40, 60, 78, 118])
def test_the_strip_shows_cpu_and_memory_without_a_gpu(width: int):
    host = HostSample(16, 37.4, 5 * GIB, 16 * GIB, 1.25, int(1.5 * GIB))
    line = strip_text(None, host, 123, width).plain
    assert line.startswith("no GPU   CPU ") and "37%" in line and len(line) <= width
    assert numbers(line) <= numbers("37% (16 cores) 5.0/16.0 GiB job 1.5 GiB load 1.25"), line
    if width >= 60:
        assert "5.0/16.0 GiB" in line and "job 1.5 GiB" in line
    assert strip_text(None, None, None, width).plain == "no GPU"


def test_the_strip_fits_a_gpu_and_the_jobs_memory_at_80_columns():
    gpu = [GpuSample(0, "NVIDIA H100 80GB HBM3", 87.0, 31 * GIB, 80 * GIB, ((123, 5 * GIB),))]
    wide = strip_text(gpu, None, 123, 118).plain
    assert "NVIDIA H100 80GB HBM3" in wide and "job 5.0 GiB" in wide
    narrow = strip_text(gpu, None, 123, 78).plain
    assert narrow.startswith("GPU0") and "87%" in narrow and "31.0/80.0 GiB" in narrow and "job 5.0 GiB" in narrow
    assert len(narrow) <= 78 and numbers(narrow) <= numbers(wide)


def test_proc_reader_reads_cpu_memory_and_the_jobs_rss(tmp_path: Path):
    proc = tmp_path / "proc"
    (proc / "77").mkdir(parents=True)
    (proc / "meminfo").write_text("MemTotal:       16384000 kB\nMemFree:  1000 kB\nMemAvailable:    4096000 kB\n")
    (proc / "77" / "status").write_text("Name:\tpython\nVmRSS:\t  524288 kB\n")
    (proc / "stat").write_text("cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 1 2 3 4\n")
    reader = ProcReader(proc)
    first = reader(77)
    assert first.cpu is None  # one reading says nothing about use
    assert (first.mem_used, first.mem_total, first.job_rss) == (12288000 * 1024, 16384000 * 1024, 512 * 2**20)
    (proc / "stat").write_text("cpu  250 0 150 900 0 0 0 0 0 0\n")  # 200 busy of 300 more
    assert reader(None).cpu == pytest.approx(200 / 3)
    assert reader(None).job_rss is None
    assert ProcReader(tmp_path / "nowhere")(1).mem_total is None  # no /proc: the load average at most


def test_the_real_proc_reader_reads_this_machine():
    if not Path("/proc/meminfo").exists():
        pytest.skip("no /proc on this system (not Linux); the fallback without /proc is tested above")
    import os

    reader = ProcReader()
    reader(None)
    sample = reader(os.getpid())
    assert sample.mem_total and sample.job_rss and 0 <= (sample.cpu or 0) <= 100


def test_no_number_is_cut_in_the_verdict_panel_at_any_width():
    tests = (("output", {"status": "pass", "value": -0.41, "reference_mean": 0.0, "reference_sd": 0.62,
                         "references": 16.0, "auc": 0.47}),
             ("relearn", {"status": "above", "value": 62.8, "reference_mean": 0.0, "reference_sd": 0.0,
                          "references": 16.0}))
    v = Verdict("superficial", ("relearning: ABOVE retrained models (62.8 % of the other forget images back)",), tests)
    full = verdicts_text([v], {"config": {"checkpoint": "forgotten.pt"}}, width=300).plain
    for width in range(30, 130, 7):
        for line in verdicts_text([v], {"config": {"checkpoint": "forgotten.pt"}}, width=width).plain.splitlines():
            assert len(line) <= width and not re.search(r"\d…", line)
            assert numbers(line) <= numbers(full), (width, line)


def test_charts_wait_for_their_widgets_before_drawing():
    """A snapshot that arrives while the charts are not mounted (the screen being built or torn
    down) is kept and drawn by the next call, never a NoMatches error."""
    from tui.screens.charts import ChartsPanel

    panel = ChartsPanel()
    snap = RunSnapshot(steps_version=3, epochs_version=2, roc_version=1)
    panel.show(snap)
    assert panel.snapshot is snap and panel._drawn == (-1, -1, -1)
