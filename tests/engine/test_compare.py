"""`compare` through the job layer: the same cells wherever they run, failures kept apart, resumes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import dau_cli.engine.compare as compare_mod
from dau_cli.config import resolve
from dau_cli.engine.compare import compare
from dau_cli.engine.jobs import Workers
from dau_cli.errors import DauError
from dau_cli.runs import EventSink

FAST = ["ft.epochs=1", "ga.epochs=1", "retrain.epochs=1"]


def run(ckpt: Path, folder: Path, executor=None) -> dict:
    return compare({"dense": ckpt}, {"random": 0.1}, ["ft", "ga"], [0, 1], resolve(sets=FAST), folder, EventSink(),
                   "cpu", None, executor)


def cells(folder: Path) -> dict[str, dict]:
    """Every cell by file name, without its wall time (the one number that depends on the machine)."""
    out = {}
    for p in sorted((folder / "cells").glob("*.json")):
        cell = json.loads(p.read_text())
        cell.pop("wall_time_s")
        out[p.name] = cell
    return out


@pytest.fixture(scope="module")
def in_process(tiny_ckpt, tmp_path_factory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("in_process")
    return folder, run(tiny_ckpt, folder)


def test_worker_processes_give_bit_identical_cells(tiny_ckpt, tmp_path, in_process) -> None:
    folder, _ = in_process
    run(tiny_ckpt, tmp_path, Workers(2))
    expected = cells(folder)
    assert len(expected) == 2 * 4  # 2 seeds x (original, retrain, ft, ga)
    assert cells(tmp_path) == expected


def test_ray_gives_bit_identical_cells(tiny_ckpt, tmp_path, in_process, ray_local) -> None:
    folder, _ = in_process
    run(tiny_ckpt, tmp_path, ray_local)
    assert cells(tmp_path) == cells(folder)


def test_a_failing_cell_is_reported_the_others_are_kept_and_a_rerun_completes(
        tiny_ckpt, tmp_path, in_process, monkeypatch) -> None:
    real = compare_mod.unlearn
    ran = []

    def ga_seed1_breaks(ckpt, model, data, fs, method, config, sink, seed):
        ran.append((method, seed))
        if (method, seed) == ("ga", 1):
            raise RuntimeError("out of memory")
        return real(ckpt, model, data, fs, method, config, sink, seed)

    monkeypatch.setattr(compare_mod, "unlearn", ga_seed1_breaks)
    with pytest.raises(DauError, match=r"1 of 8 jobs failed .*ga seed 1 \(dense\): RuntimeError: out of memory"):
        run(tiny_ckpt, tmp_path)
    assert len(cells(tmp_path)) == 7
    assert len(ran) == 6  # every unlearning cell was tried, the failure did not stop the others

    ran.clear()
    monkeypatch.setattr(compare_mod, "unlearn", lambda *a: (ran.append((a[4], a[7])), real(*a))[1])
    table = run(tiny_ckpt, tmp_path)
    assert ran == [("ga", 1)]  # only the failed cell ran again
    assert cells(tmp_path) == cells(in_process[0]) and table == in_process[1] | {"rows": table["rows"]}


def test_each_cell_has_its_own_run_directory_for_the_dashboard(tiny_ckpt, monkeypatch) -> None:
    from dau_cli.config import as_dict
    from dau_cli.engine.compare import cell_key, file_digest, run_cell
    from dau_cli.runs import list_runs, read_events

    config = as_dict(resolve(sets=FAST))
    key = cell_key("dense", file_digest(tiny_ckpt), {"random": 0.1}, "ft", config["ft"], 0)
    cell = run_cell(str(tiny_ckpt), key, config, "cpu")
    [run] = list_runs()
    assert run["command"] == "compare-cell" and run["status"] == "completed"
    assert run["summary"]["ua"] == cell["ua"]
    assert {e.get("phase") for e in read_events(Path(run["dir"])) if e["type"] == "phase"} >= {"ft", "audit"}

    monkeypatch.setattr(compare_mod, "unlearn", lambda *a: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        run_cell(str(tiny_ckpt), key, config, "cpu")
    failed = [r for r in list_runs() if r["status"] == "failed"]
    assert len(failed) == 1 and "ZeroDivisionError" in failed[0]["error"]
