"""Tables at 80 columns: nothing wider than the terminal, ids whole, columns leave by priority;
`runs ls` filters, `runs show`, `runs rm` (never a running run), `runs export --csv`."""

from __future__ import annotations

import csv
import io
import json
import os
import socket
import time
from pathlib import Path

import pytest

import dau_cli.cli.common as common

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def columns80(monkeypatch):
    """An 80-column terminal: its width, and prose wrapped at it (common.make_console)."""
    for console in (common.out, common.err):
        monkeypatch.setattr(console, "_width", 80)
        monkeypatch.setattr(console, "soft_wrap", False)


def make_run(home: Path, run_id: str, command: str, status: str, config: dict, summary: dict | None = None,
             pid: int = 1, events: list[dict] | None = None) -> Path:
    d = home / "runs" / run_id
    d.mkdir(parents=True)
    t = time.time() - 100
    (d / "run.json").write_text(json.dumps({
        "schema": 1, "id": run_id, "command": command, "argv": ["dau", command], "config": config,
        "pid": pid, "host": socket.gethostname(), "device": "cpu", "status": status, "started": t,
        "ended": None if status == "running" else t + 12.5, "summary": summary or {}, "outputs": {}}))
    (d / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events or []))
    return d


@pytest.fixture
def runs(dau_home: Path) -> dict[str, Path]:
    steps = [{"v": 1, "t": 1000.0 + i, "type": "step", "phase": "dau", "step": i, "total": 3, "attacker_loss": 0.7 - i / 10}
             for i in (1, 2, 3)]
    steps.append({"v": 1, "t": 1004.0, "type": "epoch", "phase": "dau", "epoch": 1, "metrics": {"forget_acc": 2.0},
                  "auc": {"confidence": 0.51}})
    return {
        "forget": make_run(dau_home, "20261128-013645-forget-f23661", "forget", "completed",
                           {"method": "dau", "forget": {"mode": "class", "classes": [3], "size": 131}},
                           {"ua": 100.0, "ra": 99.7, "ta": 98.1, "mia_efficacy": 0.0}, events=steps),
        "train": make_run(dau_home, "20261128-013512-train-7a37cf", "train", "completed", {},
                          {"test_acc": 98.3}),
        "running": make_run(dau_home, "20261128-020000-forget-live01", "forget", "running",
                            {"method": "ft", "forget": {"mode": "random", "fraction": 0.1, "seed": 0}},
                            pid=os.getpid()),
    }


def test_runs_ls_fits_80_columns_and_never_cuts_an_id(dau, runs, columns80):
    r = dau("runs", "ls")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert all(len(ln) <= 80 for ln in lines[1:]), lines  # the title (a path) may be longer
    for path in runs.values():
        assert any(ln.startswith(path.name + " ") for ln in lines), path.name
    assert "dau class 3" in r.stdout and "ft random 10% s0" in r.stdout
    assert "left out at this width" in r.stderr  # and says so


def test_runs_ls_filters(dau, runs):
    only = lambda *a: [x["id"] for x in json.loads(dau("runs", "ls", "--json", *a).stdout)["runs"]]  # noqa: E731
    assert only("--command", "train") == [runs["train"].name]
    assert only("--status", "running") == [runs["running"].name]
    assert only("--limit", "1") == [runs["running"].name]  # newest first
    assert only("--command", "forget", "--status", "completed") == [runs["forget"].name]


def test_runs_show_says_what_a_run_did(dau, runs):
    r = dau("runs", "show", "20261128-0136")
    assert r.exit_code == 0, r.output
    assert runs["forget"].name in r.stdout and "dau class 3" in r.stdout and "3 step" in r.stdout
    assert json.loads(dau("runs", "show", runs["forget"].name, "--json").stdout)["status"] == "completed"


def test_runs_rm_refuses_a_running_run_and_removes_a_finished_one(dau, user_error, runs):
    line = user_error(dau("runs", "rm", runs["train"].name, runs["running"].name, "--yes"))
    assert "is running" in line
    assert runs["train"].is_dir() and runs["running"].is_dir()  # refused before removing anything
    line = user_error(dau("runs", "rm", runs["train"].name))  # no terminal to ask at: --yes is needed
    assert "--yes" in line and runs["train"].is_dir()
    r = dau("runs", "rm", runs["train"].name, "--yes")
    assert r.exit_code == 0 and not runs["train"].exists()


def test_runs_export_csv(dau, runs, tmp_path):
    r = dau("runs", "export", runs["forget"].name, "--csv")
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert [row["type"] for row in rows] == ["step", "step", "step", "epoch"]
    assert float(rows[0]["attacker_loss"]) == pytest.approx(0.6) and rows[0]["t"] == "0.0"
    assert rows[3]["metric/forget_acc"] == "2.0" and rows[3]["auc/confidence"] == "0.51"
    out = tmp_path / "m.csv"
    assert dau("runs", "export", runs["forget"].name, "--csv", "-o", out).exit_code == 0
    assert out.read_text() == r.stdout


def test_compare_table_fits_80_columns_with_every_number(columns80, capsys):
    from dau_cli.cli.compare import print_compare

    result = json.loads((ROOT / "docs/experiments/2026-11-26-first-defaults/compare-class3/compare.json").read_text())
    print_compare(result["rows"], "title")
    text = capsys.readouterr().out
    assert all(len(ln) <= 80 for ln in text.splitlines()), text
    for row in result["rows"]:
        assert row["method"] in text and f"{row['ua']['mean']:.2f}" in text and f"{row['ua']['std']:.2f}" in text
        assert f"{row['image_passes']['mean']:,.0f}" in text


def test_compare_verdict_table_fits_80_columns_with_every_verdict(columns80, capsys):
    """`compare --references`: the verdicts and the tests' numbers go in a second table that fits too."""
    from dau_cli.cli.compare import print_compare
    from dau_cli.engine.compare import VERDICT_NUMBERS, verdict_columns

    result = json.loads((ROOT / "docs/experiments/2026-11-26-first-defaults/compare-class3/compare.json").read_text())
    verdicts = ["forgotten", "superficial", "forgotten", "over-forgotten", "forgotten"]
    rows = []
    for i, row in enumerate(result["rows"]):  # five seeds of made-up cells, a different mix in each row
        cells = [{"verdict": verdicts[(i + s) % 5] if i % 3 else "not forgotten",
                  **{k: (-1) ** s * (10.0 * i + s) for k in VERDICT_NUMBERS}} for s in range(5)]
        cells[0]["output_z"] = None  # a test that could not decide for one seed
        rows.append({**row, "method": f"{row['method']} (sparse)", **verdict_columns(cells)})
    print_compare(rows, "title")
    captured = capsys.readouterr()
    assert all(len(ln) <= 80 for ln in captured.out.splitlines()), captured.out
    second = captured.out[captured.out.index("the audit's verdicts"):]
    for row in rows:
        assert row["method"] in second
        words = " ".join(second.split())  # a verdict list may wrap inside its cell
        assert all(f"{v} {c}/5" in words or v in words for v, c in row["verdicts"].items())
        for k in ("output_z", "lira", "relearn_40", "probe"):
            fmt = ".2f" if k in ("output_z", "lira") else ".1f"
            assert f"{row[k]['mean']:{fmt}}" in second and f"{row[k]['std']:{fmt}}" in second
    assert "forgotten 3/5" in " ".join(second.split())
    assert "left out at this width: relearn 10" in captured.err  # the earliest relearning step leaves first


def test_info_and_audit_fit_80_columns_and_info_says_what_was_forgotten(dau, tiny_ckpt, tmp_path, columns80):
    out = tmp_path / "f.pt"
    assert dau("forget", tiny_ckpt, "-c", "3", "-m", "ft", "--set", "ft.epochs=1", "-o", out).exit_code == 0
    info = dau("info", out)
    assert info.exit_code == 0, info.output
    assert all(len(ln) <= 80 for ln in info.stdout.splitlines()[1:]), info.stdout
    assert "forgotten" in info.stdout and "class 3" in info.stdout and "with ft" in info.stdout
    retrained = tmp_path / "r.pt"  # a reference must not have seen the forget set
    assert dau("forget", tiny_ckpt, "-c", "3", "-m", "retrain", "--set", "retrain.epochs=1", "-o", retrained).exit_code == 0
    audit = dau("audit", out, "--reference", retrained)
    assert audit.exit_code == 0, audit.output
    prose = ("the literature", "threshold", "sets:", "run:", "warning:", "[low-high]")  # sentences wrap as the terminal does
    body = [ln for ln in audit.stdout.splitlines() if not ln.startswith(prose)]
    assert all(len(ln) <= 80 for ln in body), audit.stdout
    assert "UA: 100 − forget-set acc" in audit.stdout and "reference" in audit.stdout


def test_info_writes_the_forget_set_as_indices_reads_it(dau, tiny_ckpt, tmp_path):
    out = tmp_path / "f.pt"
    assert dau("forget", tiny_ckpt, "-c", "3", "-m", "ft", "--set", "ft.epochs=1", "-o", out, "--json").exit_code == 0
    listed = tmp_path / "forgot.txt"
    r = dau("info", out, "--indices", listed)
    assert r.exit_code == 0, r.output
    positions = [int(x) for x in listed.read_text().split()]
    from dau_cli.engine.checkpoint import load_checkpoint

    assert positions == sorted(load_checkpoint(out)["lineage"][-1]["forget_indices"].tolist())
    again = dau("forget", tiny_ckpt, "--indices", listed, "-m", "ft", "--set", "ft.epochs=1", "--json",
                "-o", tmp_path / "g.pt")
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["forget"]["size"] == len(positions)
    r = dau("info", tiny_ckpt, "--random", "0.1", "--seed", "1", "--indices", tmp_path / "r.txt")
    assert r.exit_code == 0, r.output
    assert 0 < len((tmp_path / "r.txt").read_text().split()) < len(positions) * 10
