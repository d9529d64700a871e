"""The dashboard's data side without Textual: bounded series, the tailer, the run model."""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import pytest

from tui_helpers import FIXTURES, FORGET_ID, append, step_event
from dau_cli.runs import read_events
from tui.gpu import NvmlReader, cuda_order, describe
from tui.follow import EventTailer, RunFollower
from tui.model import RunModel, Series, fmt_duration
from tui.widgets import decimate, nice_ticks


def test_series_stays_bounded_and_keeps_the_shape():
    s = Series(limit=1000)
    n = 50_000
    for i in range(n):
        s.add(i, 2.0 * i)
    xs, ys = s.points()
    assert 500 <= len(xs) <= 1000
    assert s.count == n and s.last == 2.0 * (n - 1)
    # bucket means of a straight line stay on it, and cover the whole range
    assert all(abs(y - 2 * x) < 1e-6 for x, y in zip(xs, ys))
    assert xs[0] < n * 0.01 and xs[-1] > n * 0.99
    assert all(a < b for a, b in zip(xs, xs[1:]))


def test_series_keeps_everything_below_the_limit():
    s = Series(limit=10)
    for i in range(9):
        s.add(i, i)
    assert s.points() == (tuple(float(i) for i in range(9)), tuple(float(i) for i in range(9)))


def test_tailer_reads_only_new_lines_and_holds_back_a_half_line(tmp_path: Path):
    events = tmp_path / "events.jsonl"
    tailer = EventTailer(tmp_path)
    assert tailer.poll() == [] and not tailer.exists and not tailer.seen
    append(events, json.dumps(step_event(1)) + "\n")
    assert [e["step"] for e in tailer.poll()] == [1]
    assert tailer.offset == events.stat().st_size
    half = json.dumps(step_event(2))
    append(events, half[:25])
    assert tailer.poll() == [] and tailer.pending == 25
    append(events, half[25:] + "\n" + json.dumps(step_event(3)) + "\n")
    assert [e["step"] for e in tailer.poll()] == [2, 3]
    assert tailer.poll() == []  # nothing read twice


def test_tailer_starts_over_when_the_file_is_replaced_and_copes_when_it_goes(tmp_path: Path):
    events = tmp_path / "events.jsonl"
    append(events, "".join(json.dumps(step_event(i)) + "\n" for i in range(1, 6)))
    tailer = EventTailer(tmp_path)
    assert len(tailer.poll()) == 5
    tmp = tmp_path / "new.jsonl"
    tmp.write_text(json.dumps(step_event(1)) + "\n")
    os.replace(tmp, events)
    assert [e["step"] for e in tailer.poll()] == [1] and tailer.reset
    events.unlink()
    assert tailer.poll() == [] and not tailer.exists and tailer.seen


def test_the_follower_tells_a_missing_directory_once_each_change_and_an_exited_job(tmp_path: Path):
    """The run screen's polling without Textual: what each poll of a run's files has to tell."""
    from tui_helpers import make_running_run

    class Exited:
        returncode = 3

        def poll(self) -> int:
            return 3

        def log_tail(self) -> str:
            return "boom"

    run_dir = tmp_path / "20250103-120000-forget-live01"
    follower = RunFollower(run_dir, job=Exited(), interval=0.5)
    first = follower.poll(now=0.0)
    assert first.missing is False and first.exited == (3, "boom")  # not there yet; the job has exited
    assert follower.poll(now=1.0).missing is None and follower.poll(now=1.0).exited is None  # told once
    make_running_run(tmp_path)
    news = follower.poll(now=2.0)
    snapshot, info, loading = news.updated
    assert news.missing is None and snapshot.phase == "dau" and info["status"] == "running" and not loading
    assert follower.poll(now=3.0).updated is None  # nothing changed
    append(run_dir / "events.jsonl", json.dumps(step_event(7)) + "\n")
    assert follower.poll(now=4.0).updated[0].step == 7
    follower.restart()
    assert follower.poll(now=5.0).updated[0].events == 3  # read again from the start
    (run_dir / "events.jsonl").unlink()
    (run_dir / "run.json").unlink()
    run_dir.rmdir()
    assert follower.poll(now=6.0).missing is True  # it was there: it vanished


def test_the_follower_hands_out_a_snapshot_at_most_every_interval_while_catching_up(tmp_path: Path):
    line = json.dumps(step_event(1)) + "\n"
    (tmp_path / "events.jsonl").write_text(line * 2000)
    follower = RunFollower(tmp_path, interval=10.0)
    follower.tailer.chunk_bytes = len(line) * 300
    updates = [follower.poll(now=100.0 + i).updated for i in range(7)]
    assert updates[0] is not None and updates[0][2] is True  # the first at once, saying it is still loading
    assert all(u is None for u in updates[1:6]) and updates[6] is not None and not updates[6][2]


def test_tailer_reads_a_long_log_in_chunks(tmp_path: Path):
    line = json.dumps(step_event(1)) + "\n"
    (tmp_path / "events.jsonl").write_text(line * 2000)
    tailer = EventTailer(tmp_path, chunk_bytes=len(line) * 300 + 7)  # chunks end mid-line
    got, polls = 0, 0
    while True:
        got += len(tailer.poll())
        polls += 1
        if not tailer.more:
            break
    assert got == 2000 and polls >= 6


def test_model_skips_unknown_types_and_bad_values():
    m = RunModel()
    m.apply_all(
        [
            {"type": "mystery", "x": 1},
            {"type": "step", "step": 1, "attacker_loss": "high", "defender_loss": float("nan"), "ce": 0.5},
            {"type": "step", "step": "two"},
            {"type": "epoch", "epoch": 1, "auc": "not a dict", "metrics": {"val_acc": None}},
            {"type": "roc", "attack": "loss", "fpr": 3},
            {"type": "status", "status": "running", "new_key": [1, 2]},
        ]
    )
    snap = m.snapshot()
    assert snap.events == 6 and snap.unknown == 1
    assert set(snap.steps) == {"ce"} and snap.steps["ce"][1] == (0.5,)
    assert snap.auc == {} and snap.roc == () and snap.status == "running"


def test_model_draws_the_repairs_guard_with_the_defenders_losses():
    m = RunModel()
    m.apply_all([{"type": "step", "phase": "repair", "step": s, "defender_loss": 0.1, "ce": 0.1, "guard": g}
                 for s, g in ((1, 0.8), (2, 0.3))])
    assert m.snapshot().steps["guard"][1] == (0.8, 0.3)


def test_model_of_the_recorded_dau_run():
    m = RunModel()
    m.apply_all(list(read_events(FIXTURES / FORGET_ID)))
    snap = m.snapshot()
    assert snap.dau and snap.status == "completed"
    assert {k: len(v[0]) for k, v in snap.steps.items() if k in ("attacker_loss", "bt")} == {"attacker_loss": 150, "bt": 150}
    assert set(snap.auc) == {"confidence", "entropy", "loss"}
    aucs = snap.auc["confidence"][1]
    assert len(aucs) == 7 and aucs[-1] < aucs[0] and abs(aucs[-1] - 0.5) < 0.05
    assert snap.metrics["forget_acc"][0] == (0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0)  # epoch 0: before unlearning
    # the attacker's warm-up is kept apart, on its own axis; the game's steps start at 1
    assert snap.warmup_steps == 20 and snap.warmup_phase == "attacker warm-up"
    assert snap.warmup["attacker_loss"][0] == tuple(float(s) for s in range(1, 21))
    assert snap.steps["attacker_loss"][0][:2] == (1.0, 2.0) and snap.steps["ce"][0][0] == 1.0
    assert snap.result["ua"] == 12.4
    assert snap.rate == pytest.approx(2.5, rel=0.01)  # one step each 0.4 s


def test_model_eta_and_phases():
    m = RunModel()
    m.apply({"type": "phase", "t": 100.0, "phase": "train", "total": 100, "epochs": 1})
    for i in range(1, 11):
        m.apply(step_event(i, total=100, t=100.0 + i) | {"phase": "train"})
    assert m.eta == pytest.approx(90.0)
    m.apply({"type": "phase", "t": 200.0, "phase": "dau", "total": 50, "epochs": 1})
    m.apply(step_event(1, total=50, t=201.0))
    xs = m.snapshot().steps["attacker_loss"][0]
    assert xs[-1] == 11.0  # steps of the second loop continue after the first
    assert m.snapshot().phase == "dau" and m.snapshot().total == 50


def test_model_keeps_the_latest_roc_per_attack_and_pair():
    m = RunModel()
    for auc in (0.7, 0.6):
        m.apply({"type": "roc", "attack": "loss", "pair": "forget_vs_val", "fpr": [0, 0.5, 1], "tpr": [0, 0.7, 1], "auc": auc})
    m.apply({"type": "roc", "attack": "loss", "pair": "retain_vs_test", "fpr": [0, 1], "tpr": [0, 1], "auc": 0.5})
    roc = m.snapshot().roc
    assert [(c.pair, c.auc) for c in roc] == [("forget_vs_val", 0.6), ("retain_vs_test", 0.5)]


def test_a_long_log_stays_bounded_and_cheap(tmp_path: Path):
    n = 50_000
    line = json.dumps(step_event(1)).replace('"step": 1,', '"step": {},')
    with open(tmp_path / "events.jsonl", "w") as f:
        for i in range(1, n + 1):
            f.write(line.replace("{}", str(i), 1) + "\n")
    start = time.perf_counter()
    tailer, m = EventTailer(tmp_path), RunModel()
    while True:
        m.apply_all(tailer.poll())
        if not tailer.more:
            break
    took = time.perf_counter() - start
    snap = m.snapshot()
    assert snap.events == n
    assert all(len(xs) <= 1000 for xs, _ in snap.steps.values())
    assert snap.steps["attacker_loss"][0][-1] > n * 0.99
    assert took < 30, f"{n} events took {took:.1f}s"  # about 0.5 s here: 10 µs an event


def test_decimate_and_ticks():
    xs = list(range(10_000))
    dx, dy = decimate(xs, xs, 100)
    assert len(dx) == 100 and dx[0] == pytest.approx(49.5)
    assert decimate([1, 2], [3, 4], 100) == ([1, 2], [3, 4])
    assert nice_ticks(1, 150, 4) == [50, 100, 150]
    assert nice_ticks(1, 6, 10) == [1, 2, 3, 4, 5, 6]
    assert nice_ticks(3, 3) == []


def test_formatting():
    assert fmt_duration(59) == "59s" and fmt_duration(61) == "1m01s" and fmt_duration(7300) == "2h01m"
    assert fmt_duration(None) == "–" and fmt_duration(math.inf) == "–"


def test_nvml_reader_without_a_driver_says_no_gpu(monkeypatch: pytest.MonkeyPatch):
    pynvml = pytest.importorskip("pynvml")

    def fail() -> None:
        raise pynvml.NVMLError(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)

    monkeypatch.setattr(pynvml, "nvmlInit", fail)
    reader = NvmlReader()
    assert reader() is None and reader() is None
    assert describe(None) == "no GPU"


def test_nvml_reader_reads_devices(monkeypatch: pytest.MonkeyPatch):
    pynvml = pytest.importorskip("pynvml")

    class Util:
        gpu = 87

    class Mem:
        used, total = 30 * 2**30, 80 * 2**30

    monkeypatch.setattr(pynvml, "nvmlInit", lambda: None)
    monkeypatch.setattr(pynvml, "nvmlDeviceGetCount", lambda: 1)
    monkeypatch.setattr(pynvml, "nvmlDeviceGetHandleByIndex", lambda i: f"h{i}")
    monkeypatch.setattr(pynvml, "nvmlDeviceGetName", lambda h: b"NVIDIA H100")
    monkeypatch.setattr(pynvml, "nvmlDeviceGetUtilizationRates", lambda h: Util())
    monkeypatch.setattr(pynvml, "nvmlDeviceGetMemoryInfo", lambda h: Mem())
    samples = NvmlReader()()
    assert samples is not None and len(samples) == 1
    assert describe(samples) == "GPU0 NVIDIA H100  util 87%  mem 30.0/80.0 GiB"


def test_gpus_are_numbered_as_cuda_numbers_them():
    uuids = ["GPU-aaaa", "GPU-bbbb", "GPU-cccc"]
    assert cuda_order(None, uuids) == [0, 1, 2]
    assert cuda_order("2,0", uuids) == [2, 0]  # cuda:0 is NVML's device 2
    assert cuda_order("GPU-bb", uuids) == [1]
    assert cuda_order("1,7,0", uuids) == [1]  # CUDA stops at the first bad entry
    assert cuda_order("1,1", uuids) == [1]
    assert cuda_order("", uuids) == [] and cuda_order("-1", uuids) == []


def test_nvml_reader_follows_cuda_visible_devices_and_reports_the_jobs_memory(monkeypatch: pytest.MonkeyPatch):
    pynvml = pytest.importorskip("pynvml")

    class Util:
        gpu = 50

    class Mem:
        used, total = 30 * 2**30, 80 * 2**30

    class Proc:
        def __init__(self, pid: int, used: int | None) -> None:
            self.pid, self.usedGpuMemory = pid, used

    monkeypatch.setattr(pynvml, "nvmlInit", lambda: None)
    monkeypatch.setattr(pynvml, "nvmlDeviceGetCount", lambda: 2)
    monkeypatch.setattr(pynvml, "nvmlDeviceGetHandleByIndex", lambda i: i)
    monkeypatch.setattr(pynvml, "nvmlDeviceGetUUID", lambda h: f"GPU-{h}")
    monkeypatch.setattr(pynvml, "nvmlDeviceGetName", lambda h: f"card{h}")
    monkeypatch.setattr(pynvml, "nvmlDeviceGetUtilizationRates", lambda h: Util())
    monkeypatch.setattr(pynvml, "nvmlDeviceGetMemoryInfo", lambda h: Mem())
    monkeypatch.setattr(pynvml, "nvmlDeviceGetComputeRunningProcesses",
                        lambda h: [Proc(4242, 3 * 2**30), Proc(7, 2**64 - 1)] if h == 1 else [])
    samples = NvmlReader(visible="1")()
    assert [(s.index, s.name) for s in samples] == [(0, "card1")]  # NVML's device 1 is cuda:0 here
    assert samples[0].memory_of(4242) == 3 * 2**30
    assert samples[0].memory_of(7) is None and samples[0].memory_of(1) is None  # not available / absent


def test_model_keeps_an_audits_verdict_and_its_tests():
    from tui_helpers import AUDIT_ID

    m = RunModel()
    m.apply_all(list(read_events(FIXTURES / AUDIT_ID)))
    v = m.snapshot().verdict
    assert v is not None and v.verdict == "superficial" and v.reasons[0].startswith("relearning: ABOVE")
    assert [name for name, _ in v.tests] == ["output", "lira", "relearn", "probe"]
    assert dict(v.tests)["relearn"] == {"status": "above", "value": 62.8, "reference_mean": 0.0, "reference_sd": 0.0,
                                        "references": 16, "t": 7.9, "critical": 2.6}
    # malformed: no verdict word is skipped (and counted); junk fields inside the tests are dropped
    m = RunModel()
    m.apply_all([{"type": "verdict", "reasons": ["x"]}, {"type": "verdict", "verdict": 3},
                 {"type": "verdict", "verdict": "forgotten", "reasons": "not a list",
                  "tests": {"probe": {"value": float("nan"), "status": "pass", "curve": [1, 2], "auc": True},
                            "lira": "not a dict"}}])
    snap = m.snapshot()
    assert snap.unknown == 2
    assert snap.verdict.verdict == "forgotten" and snap.verdict.reasons == ()
    assert snap.verdict.tests == (("probe", {"status": "pass"}),)
    assert RunModel().snapshot().verdict is None


def test_an_inner_jobs_loop_is_followed_apart_from_the_runs_own():
    model = RunModel()
    model.apply_all([
        {"type": "phase", "phase": "compare", "total": 8, "t": 1.0},
        {"type": "step", "phase": "compare", "step": 3, "total": 8, "t": 2.0},
        {"type": "phase", "phase": "dau", "total": 100, "job": "dau seed 1", "t": 3.0},
        {"type": "step", "phase": "dau", "step": 40, "total": 100, "job": "dau seed 1", "attacker_loss": 0.7, "t": 4.0},
    ])
    snap = model.snapshot()
    assert (snap.phase, snap.step, snap.total) == ("compare", 3, 8)  # the run's own progress is untouched
    assert (snap.job, snap.job_phase, snap.job_step, snap.job_total) == ("dau seed 1", "dau", 40, 100)
    assert "attacker_loss" not in snap.steps  # an inner job's losses are not drawn as the run's


def test_the_dashboard_and_the_terminal_colour_each_verdict_alike():
    """One colour per verdict (dau_cli.verdicts), in `dau audit`'s line and the dashboard's panel."""
    from rich.text import Text

    from dau_cli.verdicts import VERDICT_STYLE, VERDICTS, verdict_markup
    from tui.panels import verdict_text
    from tui.model import Verdict

    assert set(VERDICT_STYLE) == set(VERDICTS) and len(set(VERDICT_STYLE.values())) == len(VERDICTS)
    for v in VERDICTS:
        panel = verdict_text(Verdict(v))
        shown = [str(s.style) for s in panel.spans if panel.plain[s.start:s.end] == v.upper()]
        terminal = Text.from_markup(verdict_markup(v))
        assert shown == [VERDICT_STYLE[v]] and terminal.plain == v
        assert [str(s.style) for s in terminal.spans] == [VERDICT_STYLE[v]]
