"""`compare` through the job layer: the same cells wherever they run, failures kept apart, resumes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dau_cli.config import resolve
from dau_cli.engine import operations
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
    with pytest.MonkeyPatch.context() as mp:  # module-scoped: the autouse DAU_HOME is not set yet
        mp.setenv("DAU_HOME", str(folder / "home"))
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
    real = operations.unlearn  # a cell unlearns through it
    ran = []

    def ga_seed1_breaks(opened, fs, method, config, sink, seed):
        ran.append((method, seed))
        if (method, seed) == ("ga", 1):
            raise RuntimeError("out of memory")
        return real(opened, fs, method, config, sink, seed)

    monkeypatch.setattr(operations, "unlearn", ga_seed1_breaks)
    with pytest.raises(DauError, match=r"1 of 8 jobs failed .*ga seed 1 \(dense\): RuntimeError: out of memory") as e:
        run(tiny_ckpt, tmp_path)
    # The finished cells' table comes with the failure: ga's row over the one seed it finished.
    partial = {r["method"]: r for r in e.value.result["rows"]}
    assert list(partial) == ["original", "retrain", "ft", "ga (1 of 2 seeds)"]
    assert partial["ga (1 of 2 seeds)"]["seeds"] == [0] and partial["ft"]["seeds"] == [0, 1]
    full_ft = next(r for r in in_process[1]["rows"] if r["method"] == "ft")
    assert {k: v for k, v in partial["ft"].items() if k != "wall_time_s"} == {
        k: v for k, v in full_ft.items() if k != "wall_time_s"}  # wall time: the one machine-dependent number
    assert [f["cell"] for f in e.value.result["failed"]] == ["ga seed 1 (dense)"]
    assert len(cells(tmp_path)) == 7
    assert len(ran) == 6  # every unlearning cell was tried, the failure did not stop the others

    ran.clear()
    monkeypatch.setattr(operations, "unlearn", lambda *a: (ran.append((a[2], a[5])), real(*a))[1])
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

    monkeypatch.setattr(operations, "unlearn", lambda *a: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        run_cell(str(tiny_ckpt), key, config, "cpu")
    failed = [r for r in list_runs() if r["status"] == "failed"]
    assert len(failed) == 1 and "ZeroDivisionError" in failed[0]["error"]


# ----------------------------------------------------------------------------- settings of one method side by side


def test_methods_with_settings_are_parsed_into_rows_named_as_written():
    from dau_cli.methods import parse_methods, split_column

    assert parse_methods(" ft , ft[ ft.lr = 0.1 ,ft.epochs=2 ],dau") == ["ft", "ft[ft.lr=0.1,ft.epochs=2]", "dau"]
    assert split_column("ft[ft.lr=0.1,ft.epochs=2]") == ("ft", ["ft.lr=0.1", "ft.epochs=2"])
    assert split_column("ft") == ("ft", [])


def test_two_settings_of_one_method_are_two_rows_with_their_own_cells(tiny_ckpt, tmp_path, monkeypatch):
    from dau_cli.config import as_dict
    from dau_cli.engine.compare import cell_key, cell_path, file_digest, markdown

    config = resolve(sets=FAST)
    result = compare({"dense": tiny_ckpt}, {"random": 0.1}, ["ft", "ft[ft.lr=0.1]"], [0], config, tmp_path,
                     EventSink(), "cpu")
    rows = {r["method"]: r for r in result["rows"]}
    assert list(rows) == ["original", "retrain", "ft", "ft[ft.lr=0.1]"]
    assert rows["ft"]["ra"] != rows["ft[ft.lr=0.1]"]["ra"]  # different settings, different models
    assert "| ft[ft.lr=0.1] |" in markdown(result, "t")
    by = {c.get("name", c["method"]): c for c in map(json.loads, (p.read_text() for p in tmp_path.glob("cells/*")))}
    assert len(by) == 4 and by["ft[ft.lr=0.1]"]["method"] == "ft"
    assert by["ft"]["config"]["lr"] == 0.02 and by["ft[ft.lr=0.1]"]["config"] == {**by["ft"]["config"], "lr": 0.1}
    # the plain row keeps the key it always had; the row with settings has its own (its name is part of it)
    spec, digest = {"random": 0.1}, file_digest(tiny_ckpt)
    plain = cell_key("dense", digest, spec, "ft", as_dict(config)["ft"], 0)
    assert "name" not in plain and cell_path(tmp_path, plain).exists()
    same_settings = as_dict(resolve(sets=[*FAST, "ft.lr=0.1"]))["ft"]
    own = cell_key("dense", digest, spec, "ft", same_settings, 0, name="ft[ft.lr=0.1]")
    assert cell_path(tmp_path, own).exists()
    assert cell_path(tmp_path, own) != cell_path(tmp_path, cell_key("dense", digest, spec, "ft", same_settings, 0))
    # a rerun, rows in another order, reuses every cell
    monkeypatch.setattr(operations, "unlearn", lambda *a: 1 / 0)
    again = compare({"dense": tiny_ckpt}, {"random": 0.1}, ["ft[ft.lr=0.1]", "ft"], [0], config, tmp_path,
                    EventSink(), "cpu")
    assert {r["method"]: r for r in again["rows"]} == rows


# ----------------------------------------------------------------------------- --references K: the verdict


class Events(EventSink):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[dict] = []

    def _write(self, event: dict) -> None:
        self.events.append(event)


def judged_run(ckpt: Path, folder: Path, references: int, sink: EventSink | None = None) -> dict:
    """Class 3 (one forget set, so one bank), ft against retraining, 2 seeds."""
    return compare({"dense": ckpt}, {"classes": "3"}, ["ft"], [0, 1], resolve(sets=FAST), folder,
                   sink or EventSink(), "cpu", None, None, references)


@pytest.fixture(scope="module")
def judged(tiny_ckpt, tmp_path_factory) -> tuple[Path, dict, Path, list[dict]]:
    """One comparison with --references 3 (3 OUT + 3 IN references, trained here) and its bank's home."""
    home, folder = tmp_path_factory.mktemp("bank_home"), tmp_path_factory.mktemp("judged")
    sink = Events()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DAU_HOME", str(home))
        result = judged_run(tiny_ckpt, folder, 3, sink)
    return folder, result, home, sink.events


def test_references_give_every_cell_its_verdict_and_the_table_verdict_columns(tiny_ckpt, judged, monkeypatch):
    from dau_cli.engine.audit import forget_set_for_audit
    from dau_cli.engine.checkpoint import load_checkpoint, restore
    from dau_cli.engine.compare import VERDICT_NUMBERS, markdown, verdict_numbers
    from dau_cli.engine.audit_verdict import audit_verdict
    from dau_cli.verdicts import VERDICTS

    folder, result, home, events = judged
    assert VERDICT_NUMBERS == ("output_z", "lira", "relearn_10", "relearn_20", "relearn_40", "probe")
    by = {(c["method"], c["seed"]): c for c in map(json.loads, (p.read_text() for p in (folder / "cells").glob("*.json")))}
    assert len(by) == 6  # 2 seeds x (original, retrain, ft), every one judged
    for cell in by.values():
        assert cell["references"] == 3 and cell["verdict"] in VERDICTS
        assert all(isinstance(cell[k], float) for k in VERDICT_NUMBERS), cell  # 3 references decide every test
    # The untouched original, trained on class 3, is told apart from models that never saw it.
    assert by[("original", 0)]["verdict"] == by[("original", 1)]["verdict"] == "not forgotten"
    assert by[("original", 0)]["output_z"] > by[("retrain", 0)]["output_z"]
    # A cell holds what `dau audit` would say of the same model against the same references.
    monkeypatch.setenv("DAU_HOME", str(home))
    ckpt = load_checkpoint(tiny_ckpt)
    model, data = restore(ckpt)
    fs = forget_set_for_audit(ckpt, data, classes="3")
    assert verdict_numbers(audit_verdict(ckpt, model, data, fs, references=3)) == {
        k: by[("original", 0)][k] for k in ("verdict", *VERDICT_NUMBERS)}

    rows = {r["method"]: r for r in result["rows"]}
    assert rows["original"]["verdicts"] == {"not forgotten": 2}
    for method, row in rows.items():
        assert sum(row["verdicts"].values()) == 2
        values = [by[(method, s)]["relearn_40"] for s in (0, 1)]
        assert row["relearn_40"]["mean"] == pytest.approx(sum(values) / 2) and row["relearn_40"]["n"] == 2
    md = markdown(result, "t")
    assert "| verdicts | output z | LiRA | relearn 10 % | relearn 20 % | relearn 40 % | probe % |" in md
    assert "| not forgotten 2/2 |" in md
    # The bank was filled by the driver before any cell ran, on the comparison's own sink.
    phases = [e["phase"] for e in events if e["type"] == "phase" and "job" not in e]
    assert phases.index("references") < phases.index("reference tamper tests") < phases.index("compare")
    # Cells run in this process pass their loops on to the comparison's sink, named by cell.
    assert {e["job"] for e in events if e["type"] == "step" and "job" in e} >= {"ft seed 0", "retrain seed 1"}


def test_each_judged_cells_verdict_event_names_its_model(judged):
    """The dashboard names a verdict by its event's `model`: a cell's model has no file, so its name."""
    from dau_cli.runs import list_runs, read_events

    _, _, home, _ = judged
    cells = [r for r in list_runs(home / "runs") if r["command"] == "compare-cell"]
    named = {e["model"] for r in cells for e in read_events(Path(r["dir"])) if e["type"] == "verdict"}
    assert named == {f"{m} seed {s} (dense)" for m in ("original", "retrain", "ft") for s in (0, 1)}


def test_the_verdict_event_names_the_audited_file_else_describes_the_model(tiny_ckpt):
    from dau_cli.engine.audit import forget_set_for_audit
    from dau_cli.engine.audit_verdict import audit_verdict, describe
    from dau_cli.engine.checkpoint import load_checkpoint, restore

    ckpt = load_checkpoint(tiny_ckpt)
    model, data = restore(ckpt)
    fs = forget_set_for_audit(ckpt, data, classes="3")
    sink = Events()
    audit_verdict(ckpt, model, data, fs, sink=sink, name="digits-cnn-tiny.pt")  # an empty bank: no reference
    audit_verdict(ckpt, model, data, fs, sink=sink)
    verdicts = [e for e in sink.events if e["type"] == "verdict"]
    assert [(e["model"], e["verdict"]) for e in verdicts] == [("digits-cnn-tiny.pt", "no reference"),
                                                              ("cnn trained on digits", "no reference")]
    lineage = ckpt["lineage"]
    assert describe({**ckpt, "lineage": [*lineage, {"op": "forget", "method": "bias-fake"}]}) == "cnn after bias-fake"
    assert describe({**ckpt, "lineage": [*lineage, {"op": "prune", "method": "omp"}]}) == "cnn pruned by omp"
    folder = {**ckpt, "data": {**ckpt["data"], "dataset": "folder:/data/my photos/"}, "lineage": [{"op": "import"}]}
    assert describe(folder) == "cnn imported for my photos"


def test_a_cell_reads_the_bank_and_cells_without_references_keep_their_keys(tiny_ckpt, judged, tmp_path, monkeypatch):
    import dau_cli.engine.references as bank_module
    from dau_cli.engine.compare import cell_key, cell_path

    folder, result, home, _ = judged
    monkeypatch.setenv("DAU_HOME", str(home))

    def no_training(**spec):
        raise AssertionError("a reference was trained after the driver filled the bank")

    monkeypatch.setattr(bank_module, "train_reference", no_training)
    # K = 0 adds nothing to a cell's key: a cell computed before --references existed is still found.
    old = {"label": "dense", "checkpoint": "d", "forget": {"classes": "3"}, "method": "ft", "config": {}, "seed": 0}
    assert cell_key("dense", "d", {"classes": "3"}, "ft", {}, 0, 0) == old
    assert cell_path(tmp_path, cell_key("dense", "d", {"classes": "3"}, "ft", {}, 0, 3)) != cell_path(tmp_path, old)
    plain = judged_run(tiny_ckpt, tmp_path, 0)
    assert all("verdicts" not in r and "output_z" not in r for r in plain["rows"])
    assert not any("verdict" in json.loads(p.read_text()) for p in (tmp_path / "cells").glob("*.json"))
    # Reruns reuse both kinds of cell, side by side in one folder, and unlearn nothing.
    for p in (folder / "cells").glob("*.json"):
        (tmp_path / "cells" / p.name).write_bytes(p.read_bytes())
    monkeypatch.setattr(operations, "unlearn", lambda *a: 1 / 0)
    assert judged_run(tiny_ckpt, tmp_path, 3) == result
    assert judged_run(tiny_ckpt, tmp_path, 0) == plain


@pytest.mark.parametrize("field, value, words", [
    ("verdict", "maybe", "its verdict 'maybe' is none of"),
    ("lira", "high", "its lira is neither a number nor null"),
    ("probe", float("nan"), "its probe is neither a number nor null"),
])
def test_a_judged_cell_with_a_bad_verdict_field_is_refused(judged, field, value, words):
    from dau_cli.engine.compare import check_cell

    folder, *_ = judged
    path = next((folder / "cells").glob("dense-ft-seed0-*.json"))
    cell = json.loads(path.read_text())
    key = {k: cell[k] for k in ("label", "checkpoint", "forget", "method", "config", "seed", "references")}
    check_cell(path, key)  # as written: accepted
    broken = path.with_name("broken.json")
    broken.write_text(json.dumps({**cell, field: value}))
    with pytest.raises(DauError, match=words):
        check_cell(broken, key)
    broken.write_text(json.dumps({**cell, "output_z": None}))  # a test that could not decide
    check_cell(broken, key)
    broken.unlink()


def test_negative_references_are_refused(tiny_ckpt, tmp_path):
    with pytest.raises(DauError, match="--references must be 0"):
        judged_run(tiny_ckpt, tmp_path, -1)
