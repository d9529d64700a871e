"""`dau info`: what a checkpoint holds, and refusing files that are not safe dau checkpoints."""

from __future__ import annotations

import json
import os

import torch


def test_info_json(dau, tiny_ckpt):
    result = dau("info", tiny_ckpt, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert {"arch", "dataset", "num_classes", "splits", "lineage", "sparsity"} <= set(report)
    assert report["arch"] == "cnn" and report["dataset"] == "digits" and report["num_classes"] == 10
    assert report["splits"] == {"train": 1295, "val": 143, "test": 359}
    assert report["sparsity"] == 0.0
    (entry,) = report["lineage"]
    assert entry["op"] == "train" and entry["image_passes"] == 2 * 1295 and entry["device"] == "cpu"


def test_info_reports_sparsity(dau, tiny_ckpt, tmp_path):
    ckpt = torch.load(tiny_ckpt, weights_only=True)
    name = "head.weight"
    ckpt["state_dict"][name] = torch.zeros_like(ckpt["state_dict"][name])
    torch.save(ckpt, tmp_path / "pruned.pt")
    report = json.loads(dau("info", tmp_path / "pruned.pt", "--json").stdout)
    assert report["sparsity_by_layer"][name] == 1.0
    total = sum(t.numel() for k, t in ckpt["state_dict"].items() if k.endswith("weight") and t.dim() in (2, 4))
    assert abs(report["sparsity"] - ckpt["state_dict"][name].numel() / total) < 1e-9


def test_info_table(dau, tiny_ckpt):
    result = dau("info", tiny_ckpt)
    assert result.exit_code == 0, result.output
    assert "cnn" in result.stdout and "digits" in result.stdout and "lineage" in result.stdout


def test_info_refuses_a_truncated_file(user_error, dau, tiny_ckpt, tmp_path):
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(tiny_ckpt.read_bytes()[:4096])
    line = user_error(dau("info", truncated))
    assert str(truncated) in line and "not a readable dau checkpoint" in line


class RunsCodeWhenUnpickled:
    """What a hostile checkpoint carries: unpickling it calls exec, which writes a marker file."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').write('pwned')",)


def test_info_refuses_pickled_code_without_running_it(user_error, dau, tmp_path):
    marker = tmp_path / "marker"
    hostile = tmp_path / "hostile.pt"
    torch.save({"format": "dau-checkpoint", "version": 1, "x": RunsCodeWhenUnpickled(str(marker))}, hostile)
    line = user_error(dau("info", hostile))
    assert str(hostile) in line and "refused for safety" in line
    assert not marker.exists()

    # The payload is real: an unsafe load would have run it.
    torch.load(hostile, weights_only=False)
    assert marker.read_text() == "pwned"


def test_info_on_a_missing_file(user_error, dau, tmp_path):
    line = user_error(dau("info", tmp_path / "nope.pt"))
    assert "does not exist" in line


def test_info_never_writes_next_to_the_checkpoint(dau, tiny_ckpt):
    before = sorted(os.listdir(tiny_ckpt.parent))
    assert dau("info", tiny_ckpt, "--json").exit_code == 0
    assert sorted(os.listdir(tiny_ckpt.parent)) == before


def test_info_shows_the_settings_behind_a_forget_name(dau, tiny_ckpt, tmp_path, monkeypatch):
    """What `-set1a2b3c` in an output name stands for: the settings that differ from the defaults."""
    from dau_cli.cli import common

    monkeypatch.setattr(common.out, "_width", 200)
    out = tmp_path / "f.pt"
    assert dau("forget", tiny_ckpt, "-c", "3", "-m", "ft", "--set", "ft.epochs=1", "-o", out).exit_code == 0
    shown = dau("info", out).stdout
    assert "with ft (seed 0); ft.epochs=1" in shown and "ft.lr" not in shown


def test_recipes_show_one_section(dau, user_error):
    shown = dau("recipes", "show", "forget-class", "--section", "ga").stdout
    assert "ga.lr" in shown and "dau." not in shown and "[ga] keys" in shown
    keys = json.loads(dau("recipes", "show", "forget-class", "-s", "ga", "--json").stdout)["keys"]
    assert {k["key"].split(".")[0] for k in keys} == {"ga"}
    assert "did you mean 'dau'" in user_error(dau("recipes", "show", "forget-class", "--section", "dua"))
