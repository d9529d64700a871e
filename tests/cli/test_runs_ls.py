"""`dau runs ls` over 200 runs: verdicts and model names at 80 columns, compare cells grouped under
their compare, filters, sorting and CSV."""

from __future__ import annotations

import csv
import io
import json
import os
import time
from pathlib import Path

import pytest


def record(home: Path, i: int, command: str, started: float, config: dict, summary: dict | None = None,
           took: float = 10.0) -> str:
    run_id = time.strftime("%Y%m%d-%H%M%S", time.localtime(started)) + f"-{command}-{i:06x}"
    d = home / "runs" / run_id
    d.mkdir(parents=True)
    (d / "run.json").write_text(json.dumps({
        "schema": 1, "id": run_id, "command": command, "argv": ["dau", command], "config": config, "pid": 1,
        "host": "elsewhere", "device": "cpu", "status": "completed", "started": started, "ended": started + took,
        "summary": summary or {}, "outputs": {}}))
    return run_id


@pytest.fixture
def many(dau_home: Path) -> dict:
    """200 runs over 20 days: 10 compares of 8 cells each (cells inside their compare's time span),
    audits with verdicts, forgets on two data sets, trains."""
    start = time.mktime(time.strptime("2026-11-10", "%Y-%m-%d"))
    made = {"compare": [], "cell": [], "audit": [], "forget": [], "train": []}
    i = 0
    for c in range(10):
        t = start + c * 86400
        made["compare"].append(record(dau_home, i, "compare", t, {"checkpoints": {"dense": "/m/digits-cnn.pt"},
                                                                    "methods": ["dau", "ft"]}, took=1000))
        i += 1
        for k in range(8):
            made["cell"].append(record(dau_home, i, "compare-cell", t + 10 + 100 * k,
                                       {"cell": {"checkpoint": "/m/digits-cnn.pt", "method": "dau" if k % 2 else "ft"}},
                                       {"verdict": "forgotten"}))
            i += 1
    verdicts = ["forgotten", "not forgotten", "superficial", "over-forgotten", "no reference"]
    for a in range(50):
        made["audit"].append(record(dau_home, i, "audit", start + 3600 + a * 30000,
                                    {"checkpoint": f"/m/model-{a}-forget-dau-class3.pt"},
                                    {"verdict": verdicts[a % 5]}, took=float(a)))
        i += 1
    for f in range(40):
        made["forget"].append(record(dau_home, i, "forget", start + 7200 + f * 40000,
                                     {"checkpoint": "/m/x.pt", "dataset": "fashion-mnist" if f % 2 else "digits",
                                      "method": "salun" if f % 4 == 1 else "dau"}))
        i += 1
    for t in range(20):
        made["train"].append(record(dau_home, i, "train", start + 9000 + t * 80000, {"data": {"dataset": "digits"}}))
        i += 1
    assert i == 200
    return made


def ls(dau, *args) -> list[dict]:
    r = dau("runs", "ls", "--json", *args)
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)["runs"]


def test_cells_are_counted_on_their_compare_and_listed_under_it_with_cells(dau, many):
    rows = ls(dau)
    assert len(rows) == 200 - 80 and not any(r["command"] == "compare-cell" for r in rows)
    assert all(r["what"].endswith("(8 cells)") for r in rows if r["command"] == "compare")
    full = ls(dau, "--cells")
    assert len(full) == 200
    for n, r in enumerate(full):
        if r["command"] == "compare":
            under = full[n + 1:n + 9]
            assert all(x["command"] == "compare-cell" and x["run"].startswith("└ ") for x in under)
            assert full[n + 9]["command"] != "compare-cell" if n + 9 < len(full) else True


def test_filters_by_command_verdict_method_dataset_and_day(dau, many):
    assert {r["run"] for r in ls(dau, "--command", "audit", "--verdict", "superficial")} == set(many["audit"][2::5])
    assert len(ls(dau, "--method", "salun")) == 10
    assert {r["dataset"] for r in ls(dau, "--dataset", "fashion-mnist")} == {"fashion-mnist"}
    assert len(ls(dau, "--command", "forget", "--dataset", "fashion-mnist")) == 20
    since = ls(dau, "--since", "2026-11-25")
    assert since and all(r["started"] >= time.mktime(time.strptime("2026-11-25", "%Y-%m-%d")) for r in since)
    assert len(since) < len(ls(dau))


def test_sorting_by_a_shown_column(dau, many):
    took = [r["took"] for r in ls(dau, "--command", "audit", "--sort", "took")]
    assert took == sorted(took, reverse=True)
    verdicts = [r["verdict"] for r in ls(dau, "--command", "audit", "--sort", "verdict")]
    assert verdicts == sorted(verdicts)
    started = [r["started"] for r in ls(dau)]
    assert started == sorted(started, reverse=True)


def test_at_80_columns_the_table_shows_run_command_model_and_verdict(dau, many, monkeypatch, tmp_path):
    from dau_cli.cli import common

    deep = tmp_path / ("a-long-folder-name-" * 5) / "home"  # a DAU_HOME path longer than the terminal
    deep.parent.mkdir(parents=True)
    Path(os.environ["DAU_HOME"]).rename(deep)
    monkeypatch.setenv("DAU_HOME", str(deep))

    for console in (common.out, common.err):  # an 80-column terminal, which wraps prose (common.make_console)
        monkeypatch.setattr(console, "_width", 80)
        monkeypatch.setattr(console, "soft_wrap", False)
    r = dau("runs", "ls", "--command", "audit", "-n", "5")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    header = next(line for line in lines if line.startswith("run "))
    assert all(word in header for word in ("command", "model", "verdict"))
    newest = many["audit"][-1]
    line = next(line for line in lines if line.startswith(newest))
    assert "no reference" in line and "model-49" in r.stdout


def test_csv_has_every_column_of_every_row(dau, many):
    r = dau("runs", "ls", "--csv", "--command", "train")
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert len(rows) == 20 and set(rows[0]) >= {"run", "command", "model", "verdict", "started", "took", "dataset"}
    assert rows[0]["took"] == "10.0" and rows[0]["dataset"] == "digits"


@pytest.mark.parametrize("args, says", [(("--sort", "size"), "choose one of"), (("--since", "yesterday"), "YYYY-MM-DD")])
def test_a_bad_sort_or_day_is_one_line(dau, user_error, many, args, says):
    assert says in user_error(dau("runs", "ls", *args))


def test_one_model_name_for_runs_ls_and_the_dashboard():
    """dau_cli.runs.model_name is the one lookup both use: the audited/unlearned checkpoint first, then a
    cell's, a compare's dense model, the written one; a damaged record (outputs not a dict) names none."""
    from dau_cli.runs import model_name

    assert model_name({"config": {"checkpoint": "/m/a.pt"}, "outputs": {"checkpoint": "/m/b.pt"}}) == "a.pt"
    assert model_name({"config": {"cell": {"checkpoint": "/m/c.pt"}}}) == "c.pt"
    assert model_name({"config": {"checkpoints": {"dense": "/m/d.pt"}}, "outputs": {}}) == "d.pt"
    assert model_name({"config": [], "outputs": {"checkpoint": "/m/e.pt"}}) == "e.pt"
    assert model_name({"config": {"checkpoint": ""}, "outputs": "damaged"}) == ""
