"""`dau forget` and `dau compare` through the command line, on the tiny checkpoint."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

FAST_SETS = {"ft": ["ft.epochs=1"], "ga": ["ga.epochs=1"], "retrain": ["retrain.epochs=1"],
             "dau": ["dau.epochs=1", "dau.sample_epochs=1", "dau.attacker_warmup=5"]}


def fast(*methods: str) -> list[str]:
    """`--set` items that shorten these methods (a command refuses settings it does not use)."""
    return [a for m in methods for s in FAST_SETS[m] for a in ("--set", s)]


@pytest.fixture
def ckpt(tiny_ckpt, tmp_path):
    path = tmp_path / "model.pt"
    shutil.copy(tiny_ckpt, path)
    return path


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_forget_writes_an_unlearned_checkpoint_with_its_lineage(dau, ckpt, tmp_path):
    before = digest(ckpt)
    out = tmp_path / "forgot.pt"
    r = dau("forget", ckpt, "--classes", "3", "--method", "ft", "-o", out, "--json", *fast("ft"))
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    for key in ("checkpoint", "run_dir", "method", "wall_time_s", "image_passes", "ua", "ra", "ta", "mia_efficacy"):
        assert key in result, key
    assert result["method"] == "ft" and result["image_passes"] > 0
    assert digest(ckpt) == before  # the input is never touched
    info = json.loads(dau("info", out, "--json").stdout)
    entry = info["lineage"][-1]
    assert entry["op"] == "forget" and entry["method"] == "ft" and entry["forget_size"] == result["forget"]["size"]
    from dau_cli.engine.checkpoint import load_checkpoint
    from dau_cli.engine.datasets import load_digits

    recorded = load_checkpoint(out)["lineage"][-1]
    labels = load_digits(None, False)[1]
    assert set(labels[recorded["forget_indices"].numpy()]) == {3}
    # the audit finds the forget set in the lineage without any flag
    audit = json.loads(dau("audit", out, "--json").stdout)
    assert audit["forget"]["size"] == recorded["forget"]["size"]
    assert abs(audit["ua"] - result["ua"]) < 1e-9


def test_unknown_method_lists_the_valid_ones(dau, user_error, ckpt):
    line = user_error(dau("forget", ckpt, "--classes", "3", "--method", "magic"))
    assert "magic" in line and "dau" in line and "salun" in line and "scrub" in line


def test_forget_set_equal_to_the_training_set_is_refused(dau, user_error, ckpt, tmp_path):
    line = user_error(dau("forget", ckpt, "--classes", ",".join(map(str, range(10))), "-o", tmp_path / "x.pt"))
    assert "whole training set" in line
    assert not (tmp_path / "x.pt").exists()


@pytest.mark.parametrize("args, words", [
    ((), "--classes"),
    (("--classes", "12"), "out of range"),
    (("--random", "1.5"), "between 0 and 1"),
])
def test_forget_set_mistakes_are_one_line(dau, user_error, ckpt, args, words):
    assert words in user_error(dau("forget", ckpt, *args))


def test_divergence_stops_writes_nothing_and_keeps_the_input(dau, user_error, ckpt, tmp_path):
    before = digest(ckpt)
    out = tmp_path / "diverged.pt"
    line = user_error(dau("forget", ckpt, "--classes", "3", "--method", "ga", "--set", "ga.lr=10", "-o", out))
    assert "diverged at step" in line and "lower learning rate" in line
    assert not out.exists() and digest(ckpt) == before
    assert not list(tmp_path.glob(".*tmp"))


def test_refuses_to_overwrite_without_force(dau, user_error, ckpt, tmp_path):
    out = tmp_path / "exists.pt"
    out.write_bytes(b"keep me")
    assert "--force" in user_error(dau("forget", ckpt, "--classes", "3", "-o", out))
    assert out.read_bytes() == b"keep me"
    assert "input" in user_error(dau("forget", ckpt, "--classes", "3", "-o", ckpt, "--force"))


def test_compare_table_has_every_method_and_the_original_and_resumes(dau, ckpt, tmp_path, monkeypatch):
    folder = tmp_path / "cmp"
    args = ("compare", ckpt, "--random", "0.1", "--methods", "ft,ga", "--seeds", "2", "-o", folder, "--json", *fast("ft", "ga", "retrain"))
    r = dau(*args)
    assert r.exit_code == 0, r.output
    rows = {row["method"]: row for row in json.loads(r.stdout)["rows"]}
    assert set(rows) == {"original", "retrain", "ft", "ga"}
    for row in rows.values():
        for k in ("ua", "ra", "ta", "mia_efficacy", "avg_gap", "wall_time_s", "image_passes"):
            assert set(row[k]) == {"mean", "std"}
    assert rows["retrain"]["avg_gap"]["mean"] == 0.0
    assert rows["original"]["image_passes"]["mean"] == 0
    assert rows["ft"]["image_passes"]["mean"] > 0
    assert (folder / "compare.md").read_text().count("\n| ") == 5  # header + 4 rows
    cells = json.loads((folder / "compare.json").read_text())
    assert len(cells["rows"]) == 4
    # each seed draws its own forget set in random forgetting, shared by every method of that seed
    cells_by_seed: dict[int, set[str]] = {}
    for p in (folder / "cells").glob("*.json"):
        cell = json.loads(p.read_text())
        cells_by_seed.setdefault(cell["seed"], set()).add(cell["forget_digest"])
    assert len(cells_by_seed) == 2 and all(len(d) == 1 for d in cells_by_seed.values())
    assert cells_by_seed[0] != cells_by_seed[1]
    # the comparison's own run carries each cell's loops as `job` events (the terminal and the
    # dashboard show the current cell's progress from them), apart from its own counter
    from dau_cli.runs import read_events

    events = list(read_events(Path(json.loads(r.stdout)["run_dir"])))
    jobs = {e["job"] for e in events if e["type"] == "step" and "job" in e}
    assert {"ft seed 0", "ga seed 1", "retrain seed 1"} <= jobs, jobs
    assert [e["step"] for e in events if e["type"] == "step" and "job" not in e][-1] == 8

    # a second run reuses every finished cell: unlearning must not run again
    from dau_cli.engine import operations

    def boom(*a, **k):
        raise AssertionError("a finished cell was recomputed")

    monkeypatch.setattr(operations, "unlearn", boom)
    r2 = dau(*args)
    assert r2.exit_code == 0, r2.output
    assert json.loads(r2.stdout)["rows"] == json.loads(r.stdout)["rows"]


def test_compare_with_a_failed_cell_writes_and_shows_the_finished_cells_then_says_what_failed(
        dau, ckpt, tmp_path):
    folder = tmp_path / "cmp"
    r = dau("compare", ckpt, "--classes", "3", "--methods", "ft,ga", "--seeds", "1", "-o", folder,
            *fast("ft", "ga", "retrain"), "--set", "ga.lr=10", "--set", "ga.batch_size=4")  # ga runs away: NaN
    assert r.exit_code == 2 and "Traceback" not in r.output, r.output
    line = r.stderr.strip().splitlines()[-1]  # after the line the job printed when it failed
    assert line.startswith("error: compare: 1 of 4 jobs failed") and "ga seed 0 (dense): ga diverged" in line
    assert "ft" in r.stdout and "retrain" in r.stdout  # the finished rows are shown too
    md = (folder / "compare.md").read_text()
    assert [ln.split("|")[1].strip() for ln in md.splitlines() if ln.startswith("| ") and "---" not in ln] == [
        "method", "original", "retrain", "ft"]
    assert "- ga seed 0 (dense): ga diverged" in md
    assert [r["method"] for r in json.loads((folder / "compare.json").read_text())["rows"]] == ["original", "retrain", "ft"]


def test_compare_on_ray_without_ray_names_the_extra(dau, ckpt, tmp_path, user_error, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)  # what an absent package looks like to import
    line = user_error(dau("compare", ckpt, "--classes", "3", "--ray", "local", "--seeds", "1", "-o", tmp_path / "c"))
    assert 'pip install "dau[ray]"' in line
    assert not (tmp_path / "c").exists()


def test_compare_with_workers_matches_the_in_process_cells(dau, ckpt, tmp_path):
    args = ("--classes", "3", "--methods", "ft", "--seeds", "1", "--json", *fast("ft", "retrain"))
    assert dau("compare", ckpt, *args, "-o", tmp_path / "a").exit_code == 0
    r = dau("compare", ckpt, *args, "-o", tmp_path / "b", "--workers", "2")
    assert r.exit_code == 0, r.output
    a, b = ({p.name: {k: v for k, v in json.loads(p.read_text()).items() if k != "wall_time_s"}
             for p in (tmp_path / d / "cells").glob("*.json")} for d in "ab")
    assert len(a) == 3 and a == b


def test_compare_references_adds_verdicts_to_cells_json_and_a_second_table(dau, ckpt, tmp_path, monkeypatch,
                                                                            user_error):
    import dau_cli.cli.common as common

    folder = tmp_path / "cmp"
    args = ("compare", ckpt, "--classes", "3", "--methods", "ft", "--seeds", "1", "--references", "2", "-o", folder,
            *fast("ft", "retrain"))
    r = dau(*args, "--json")
    assert r.exit_code == 0, r.output
    rows = {row["method"]: row for row in json.loads(r.stdout)["rows"]}
    assert set(rows) == {"original", "retrain", "ft"}
    for row in rows.values():
        assert sum(row["verdicts"].values()) == 1
        assert row["output_z"]["mean"] is None and row["lira"]["mean"] is None  # 2 references cannot decide them
        assert 0 <= row["relearn_40"]["mean"] <= 100 and 0 <= row["probe"]["mean"] <= 100
    assert json.loads((folder / "compare.json").read_text())["references"] == 2
    assert all(json.loads(p.read_text())["references"] == 2 for p in (folder / "cells").glob("*.json"))
    assert "| verdicts |" in (folder / "compare.md").read_text()
    monkeypatch.setattr(common.out, "_width", 80)  # an 80-column terminal, where prose wraps at the width
    monkeypatch.setattr(common.out, "soft_wrap", False)
    table = dau(*args)  # the cells are reused; the verdicts come in a second table, within 80 columns
    assert table.exit_code == 0, table.output
    assert "the audit's verdicts over seeds" in table.stdout and "—" in table.stdout
    assert all(len(ln) <= 80 for ln in table.stdout.splitlines() if not ln.startswith("written:")), table.stdout
    assert "--references" in user_error(dau("compare", ckpt, "--classes", "3", "--references", "-1"))


def test_output_names_carry_a_digest_of_settings_other_than_the_defaults(dau, ckpt, tmp_path):
    """A sweep needs no -o: each setting of a method gets its own name, the same setting the same
    name (so a rerun is refused, not replaced), and the defaults the plain name."""
    from dau_cli.cli.common import forget_output
    from dau_cli.config import resolve

    plain = forget_output(ckpt, "ft", "class3", resolve(uses=("ft",)))
    one = forget_output(ckpt, "ft", "class3", resolve(sets=["ft.epochs=1"], uses=("ft",)))
    two = forget_output(ckpt, "ft", "class3", resolve(sets=["ft.epochs=2"], uses=("ft",)))
    assert plain.name == "model-forget-ft-class3.pt"
    assert one.name.startswith("model-forget-ft-class3-set") and len({plain, one, two}) == 3
    assert one == forget_output(ckpt, "ft", "class3", resolve(sets=["ft.epochs=1"], uses=("ft",)))
    r = dau("forget", ckpt, "-c", "3", "-m", "ft", *fast("ft"), "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["checkpoint"] == str(one)
    assert dau("forget", ckpt, "-c", "3", "-m", "ft", *fast("ft")).exit_code == 2  # the same name: already exists
