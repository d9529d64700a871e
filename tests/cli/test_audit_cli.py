"""`dau audit` through the command line: the JSON report, the run directory, the plot, the
reference, and every user mistake as one line with exit code 2."""

from __future__ import annotations

import html
import json
import os
import re
import shlex
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from dau_cli.cli import app
from dau_cli.runs import list_runs, read_events

STATISTICS = ("confidence", "loss", "entropy", "modified_entropy", "logit_scaled_confidence")
PAIRS = ("forget_vs_val", "retain_vs_test")


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("DAU_HOME", str(tmp_path / "dau_home"))
    monkeypatch.delenv("DAU_RUN_ID", raising=False)


def dau(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr, result.exception)
    message = result.stderr.strip()
    assert message.startswith("error:") and "\n" not in message and "Traceback" not in message, message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


@pytest.fixture(scope="module")
def ckpt_dict(tiny_ckpt):
    return torch.load(tiny_ckpt, weights_only=True)


def test_json_report_run_directory_and_events(tiny_ckpt):
    result = dau("audit", tiny_ckpt, "--classes", "3", "--json", "--device", "cpu")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    for key in ("ua", "ra", "ta", "val_acc", "forgotten_test_acc", "mia_efficacy", "mia_efficacy_by_statistic",
                "mia_efficacy_interval", "mia_efficacy_unstable", "mia_bootstrap",
                "attacks", "over_forgetting", "warnings", "forget", "sizes", "run_dir", "checkpoint"):
        assert key in report, key
    assert "reference" not in report and "avg_gap" not in report
    assert report["forget"]["mode"] == "class" and report["forget"]["classes"] == [3]
    assert set(report["mia_efficacy_by_statistic"]) == set(STATISTICS)
    assert set(report["attacks"]) == set(PAIRS)
    for pair in PAIRS:
        for s in STATISTICS:
            a = report["attacks"][pair][s]
            assert set(a) == {"auc", "balanced_accuracy", "tpr_at_fpr", "fpr", "tpr"}
            assert set(a["tpr_at_fpr"]) == {"0.001", "0.01", "0.1"}
            assert len(a["fpr"]) == len(a["tpr"]) <= 200 and 0 <= a["auc"] <= 1

    runs = list_runs()
    assert len(runs) == 1 and runs[0]["command"] == "audit" and runs[0]["status"] == "completed"
    assert {k: runs[0]["summary"][k] for k in ("ua", "ra", "ta", "mia_efficacy")} == \
        {k: report[k] for k in ("ua", "ra", "ta", "mia_efficacy")}
    events = list(read_events(Path(runs[0]["dir"])))
    kinds = [e["type"] for e in events]
    assert kinds.count("epoch") == 1 and kinds.count("roc") == 10 and kinds.count("result") == 1
    assert next(e for e in events if e["type"] == "result")["metrics"]["ua"] == report["ua"]
    # No reference bank yet: the verdict says so and how to get one, and the run carries it.
    assert report["verdict"] == "no reference" and "--references" in report["reasons"][0]
    verdict = next(e for e in events if e["type"] == "verdict")
    assert verdict["verdict"] == "no reference" and runs[0]["summary"]["verdict"] == "no reference"
    assert verdict["model"] == Path(tiny_ckpt).name  # the dashboard names the verdict by the audited file


def retrained_lineage(ckpt: dict, forget_indices) -> dict:
    """The same weights with a lineage saying they were retrained without `forget_indices`."""
    from dau_cli.engine.checkpoint import lineage_entry

    entry = lineage_entry("forget", {}, 0.0, 0, "cpu", method="retrain", seed=7,
                          forget_indices=torch.as_tensor(forget_indices))
    return {**ckpt, "lineage": [*ckpt["lineage"], entry]}


def test_terminal_tables_with_a_reference(tiny_ckpt, ckpt_dict, tmp_path):
    from dau_cli.engine.checkpoint import save_checkpoint

    reference = tmp_path / "reference.pt"
    # What `--random 0.1` selects, recorded as retrained away: the reference is accepted.
    train = torch.as_tensor(ckpt_dict["data"]["splits"]["train"])
    g = torch.Generator().manual_seed(0)
    forget = train[torch.randperm(len(train), generator=g)[:round(0.1 * len(train))]]
    save_checkpoint(retrained_lineage(ckpt_dict, forget), reference)
    result = dau("audit", tiny_ckpt, "--random", "0.1", "--reference", reference)
    assert result.exit_code == 0, result.stderr
    for text in ("UA", "RA", "TA", "MIA-Efficacy", "Avg. Gap", "forget_vs_val", "retain_vs_test", "reference.pt"):
        assert text in result.stdout, text

    result = dau("audit", tiny_ckpt, "--random", "0.1", "--reference", reference, "--json")
    report = json.loads(result.stdout)
    assert report["avg_gap"] == 0.0  # the same weights: no gap
    assert set(report["diff"]) >= {"ua", "ra", "ta", "val_acc", "mia_efficacy"}
    assert all(v == 0.0 for v in report["diff"].values())
    assert report["reference"]["ua"] == report["ua"] and "attacks" in report["reference"]
    assert list_runs()[0]["summary"]["avg_gap"] == 0.0


def test_terminal_report_folds_identical_attack_rows_and_counts_the_negatives(tiny_ckpt):
    report = json.loads(dau("audit", tiny_ckpt, "--classes", "3", "--json").stdout)
    text = " ".join(dau("audit", tiny_ckpt, "--classes", "3").stdout.split())  # rich may wrap long lines
    # confidence and loss (= -log confidence) rank samples identically: one row names both, per table
    for pair in PAIRS:
        assert report["attacks"][pair]["confidence"]["auc"] == report["attacks"][pair]["loss"]["auc"]
    assert text.count("confidence = loss") == 2
    # the forget set's negatives: every unseen image of class 3, counted in the report
    n = report["sizes"]["attack_negatives_from"]
    assert n["val"] > 0 and n["test"] > 0 and report["sizes"]["attack_val"] == n["val"] + n["test"]
    assert f"forget_vs_val negatives: {n['val']} validation + {n['test']} test images" in text
    # every MIA-Efficacy figure comes with its bootstrap interval
    lo, hi = report["mia_efficacy_interval"]["confidence"]
    assert f"{report['mia_efficacy']:.2f} [{lo:.0f}-{hi:.0f}]" in text
    assert "over 20 SVC refits" in text
    assert "the literature's numbers for" in text  # UA, RA, TA and MIA-Efficacy are labelled as such


def test_a_reference_that_saw_the_forget_set_is_refused(tiny_ckpt, ckpt_dict, tmp_path):
    from dau_cli.engine.checkpoint import save_checkpoint

    # The original model itself, offered as "retrained": it trained on every forget sample.
    one_line_error(dau("audit", tiny_ckpt, "--classes", "3", "--reference", tiny_ckpt),
                   "trained on 131 of the 131 forget samples", "--method retrain")
    # Retrained without class 5 is no reference for class 3.
    labels = torch.as_tensor(load_labels())
    train = torch.as_tensor(ckpt_dict["data"]["splits"]["train"])
    save_checkpoint(retrained_lineage(ckpt_dict, train[labels[train] == 5]), tmp_path / "minus5.pt")
    one_line_error(dau("audit", tiny_ckpt, "--classes", "3", "--reference", tmp_path / "minus5.pt"), "trained on")
    result = dau("audit", tiny_ckpt, "--classes", "5", "--reference", tmp_path / "minus5.pt", "--json")
    assert result.exit_code == 0, result.stderr


def load_labels():
    from sklearn.datasets import load_digits

    return load_digits().target


def test_reference_with_another_data_view_is_refused(tiny_ckpt, ckpt_dict, tmp_path):
    other = dict(ckpt_dict)
    splits = dict(other["data"]["splits"])
    splits["train"], splits["val"] = splits["train"][1:], torch.cat([splits["val"], splits["train"][:1]])
    other["data"] = {**other["data"], "splits": splits}
    torch.save(other, tmp_path / "other.pt")
    one_line_error(dau("audit", tiny_ckpt, "--classes", "3", "--reference", tmp_path / "other.pt"),
                   "different train split")
    assert list_runs() == []  # refused before any work


def test_plot_writes_a_png_atomically_and_never_over_an_input(tiny_ckpt, tmp_path):
    plot = tmp_path / "roc.png"
    result = dau("audit", tiny_ckpt, "--classes", "3", "--plot", plot, "--json")
    assert result.exit_code == 0, result.stderr
    data = plot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]
    assert list_runs()[0]["outputs"]["plot"] == str(plot.resolve())
    one_line_error(dau("audit", tiny_ckpt, "--classes", "3", "--plot", tiny_ckpt), "refusing to overwrite the input")
    one_line_error(dau("audit", tiny_ckpt, "--classes", "3", "--plot", tmp_path / "roc.jpg"), ".png")


def test_recorded_forget_set_and_flags_that_override_it(tiny_ckpt, ckpt_dict, tmp_path):
    from dau_cli.engine.data import load_data

    data = load_data("digits", splits=ckpt_dict["data"]["splits"])
    train = data.splits["train"]
    labels_of_train = data.labels[train]
    forget_indices = train[labels_of_train == 5]
    forgot = dict(ckpt_dict)
    from dau_cli.engine.checkpoint import lineage_entry

    forgot["lineage"] = [*ckpt_dict["lineage"], lineage_entry(
        "forget", {}, 0.0, 0, "cpu", forget_indices=forget_indices,
        forget={"mode": "class", "classes": [5], "fraction": None, "seed": None, "size": len(forget_indices)})]
    torch.save(forgot, tmp_path / "forgot.pt")

    report = json.loads(dau("audit", tmp_path / "forgot.pt", "--json").stdout)
    assert report["forget"] == {"mode": "class", "classes": [5], "fraction": None, "seed": None,
                                "size": len(forget_indices)}
    result = dau("audit", tmp_path / "forgot.pt", "--classes", "2", "--json")
    assert json.loads(result.stdout)["forget"]["classes"] == [2]
    warnings = [e["message"] for e in read_events(Path(list_runs()[0]["dir"])) if e.get("level") == "warning"]
    assert any("auditing the one the flags give" in w for w in warnings)


def test_user_mistakes_are_one_line(tiny_ckpt, ckpt_dict, tmp_path):
    one_line_error(dau("audit", tiny_ckpt), "--classes", "--random", "--indices")
    one_line_error(dau("audit", tiny_ckpt, "--classes", "12"), "out of range")
    one_line_error(dau("audit", tiny_ckpt, "--classes", "3", "--random", "0.1"), "exactly one")
    one_line_error(dau("audit", tiny_ckpt, "--random", "1.5"), "between 0 and 1")
    one_line_error(dau("audit", tmp_path / "missing.pt", "--classes", "3"), "does not exist")

    train = ckpt_dict["data"]["splits"]["train"].tolist()
    test = ckpt_dict["data"]["splits"]["test"].tolist()
    cases = {
        "empty.txt": ("", "empty"),
        "all.txt": (" ".join(map(str, train)), "whole training set"),
        "outside.txt": (f"{train[0]} 99999", "not in the training split"),
        "test_ids.txt": (f"{train[0]} {test[0]}", "not in the training split"),
        "repeated.txt": (f"{train[0]} {train[1]} {train[0]}", "repeats ids"),
    }
    for name, (text, fragment) in cases.items():
        (tmp_path / name).write_text(text)
        one_line_error(dau("audit", tiny_ckpt, "--indices", tmp_path / name), fragment)
    assert list_runs() == []  # every mistake is caught before a run is opened

    (tmp_path / "ok.txt").write_text(f"{train[0]},{train[1]}\n{train[2]}")
    report = json.loads(dau("audit", tiny_ckpt, "--indices", tmp_path / "ok.txt", "--json").stdout)
    assert report["forget"]["mode"] == "indices" and report["sizes"]["forget"] == 3


def test_the_one_number_fake_is_caught_and_the_bank_is_reused(tiny_ckpt, ckpt_dict, tmp_path):
    """The documented fake (class-3 bias lowered by 30) against a bank of 3 + 3 tiny references."""
    from dau_cli.engine.checkpoint import save_checkpoint
    from dau_cli.engine.tamper import bias_fake

    save_checkpoint(bias_fake(ckpt_dict, [3]), tmp_path / "fake.pt")
    first = dau("audit", tmp_path / "fake.pt", "--references", "3", "--json",  # its lineage records class 3
                "--report", tmp_path / "fake.html")
    assert first.exit_code == 0, first.stderr
    report = json.loads(first.stdout)
    page = (tmp_path / "fake.html").read_text()  # the page, with a picture of each of the four tests
    assert f">{report['verdict']}</p>" in page and len(re.findall(r'<img src="data:image/png;base64,', page)) == 4
    assert "samples" not in report  # the pictures' per-sample arrays stay out of the JSON
    assert report["verdict"] in ("superficial", "not forgotten")
    assert report["reasons"][0].split(":")[0] in ("relearning", "representation probe"), report["reasons"]
    assert report["tests"]["output"]["status"] == "below"  # its outputs sit under every retrained model's
    assert report["references"]["out"] == 3 and report["references"]["in"] == 3
    assert report["ua"] == 100.0  # what the literature's numbers would have called perfectly forgotten

    # Terminal: the verdict is the first line. The bank is in place: nothing is trained again.
    again = dau("audit", tiny_ckpt, "--classes", "3")
    assert again.exit_code == 0, again.stderr
    assert again.stdout.splitlines()[0].startswith("verdict: not forgotten")
    events = list(read_events(Path(list_runs()[0]["dir"])))
    assert not any("training" in e.get("message", "") for e in events if e["type"] == "log")


def test_the_first_line_is_the_verdict_and_warnings_follow_it_once(dau, tiny_ckpt):
    r = dau("audit", tiny_ckpt, "--classes", "3")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[0].startswith("verdict: ")
    report = json.loads(dau("audit", tiny_ckpt, "--classes", "3", "--json").stdout)
    for warning in report["warnings"]:
        head = warning[:40]
        assert r.stdout.count(head) == 1 and head not in r.stderr, warning


def test_report_writes_one_page_and_refuses_a_bad_path_before_any_work(tiny_ckpt, tmp_path, monkeypatch):
    page = tmp_path / "audit.html"
    argv = ["dau", "audit", str(tiny_ckpt), "--classes", "3", "--report", str(page), "--json"]
    monkeypatch.setattr("sys.argv", argv)  # what the console script sees; the page quotes it
    result = dau(*argv[1:])
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["report"] == str(page) and "samples" not in report
    text = page.read_text()
    # no bank yet: the page says there is no verdict, and shows the rest
    assert ">no reference</p>" in text and "This audit has no verdict" in text and "UA: 100" in text
    assert shlex.join(argv) in html.unescape(text)
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]  # written through a temporary file
    assert list_runs()[0]["outputs"]["report"] == str(page.resolve())

    (tmp_path / "folder.html").mkdir()
    for path, fragment in ((tmp_path / "missing" / "audit.html", "does not exist"),
                           (tmp_path, "is a folder"), (tmp_path / "folder.html", "is a folder"),
                           (tmp_path / "audit.pdf", "ending in .html or .htm"),
                           (page, "already exists")):
        one_line_error(dau("audit", tiny_ckpt, "--classes", "3", "--report", path), fragment)
    assert len(list_runs()) == 1  # refused before a run was opened
