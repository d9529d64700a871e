"""Group 3: a damaged-but-loadable checkpoint is one line in every command, `info` included.

Each case loads the tiny checkpoint, damages one thing, saves it with torch.save (so it still
loads with weights_only=True) and checks that the commands refuse it with the reason.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch


def _sd(c, f):
    f(c["state_dict"])


DAMAGES: dict[str, tuple[Callable[[dict], None], str]] = {
    "missing weight": (lambda c: c["state_dict"].pop(next(iter(c["state_dict"]))), "does not match the cnn architecture"),
    "extra weight": (lambda c: c["state_dict"].__setitem__("head.extra", torch.zeros(3)), "unexpected head.extra"),
    "wrong shape": (lambda c: c["state_dict"].__setitem__(
        next(k for k, v in c["state_dict"].items() if v.dim() == 4 and k.endswith("weight")), torch.zeros(1, 1, 1, 1)), "the architecture needs"),
    "wrong dtype": (lambda c: c["state_dict"].__setitem__(
        next(k for k, v in c["state_dict"].items() if v.dim() == 4 and k.endswith("weight")),
        next(v for k, v in c["state_dict"].items() if v.dim() == 4 and k.endswith("weight")).double()), "torch.float64"),
    "nan weights": (lambda c: next(v for k, v in c["state_dict"].items() if v.dim() == 4 and k.endswith("weight")).fill_(float("nan")),
                    "NaN or infinite"),
    "arch is a number": (lambda c: c.__setitem__("arch", 7), "wrong types: arch"),
    "num_classes is text": (lambda c: c.__setitem__("num_classes", "10"), "wrong types: num_classes"),
    "unknown arch": (lambda c: c.__setitem__("arch", "mlp"), "unknown architecture 'mlp'"),
    "bad arch_args": (lambda c: c.__setitem__("arch_args", {"depth": 3}), "do not build a cnn"),
    "mask of no parameter": (lambda c: c.__setitem__("masks", {"nope.weight": {"shape": [2], "bits": torch.zeros(1, dtype=torch.uint8)}}),
                             "a mask for 'nope.weight'"),
    "mask of wrong shape": (lambda c: c.__setitem__("masks", {next(k for k, v in c["state_dict"].items() if v.dim() == 4 and k.endswith("weight")):
                                                              {"shape": [1], "bits": torch.zeros(1, dtype=torch.uint8)}}),
                            "does not fit its parameter"),
    "mask shape in floats": (lambda c: c.__setitem__("masks", {k: {"shape": [float(x) for x in v.shape],
                                                                   "bits": torch.zeros((v.numel() + 7) // 8, dtype=torch.uint8)}
                                                               for k, v in c["state_dict"].items()
                                                               if v.dim() == 4 and k.endswith("weight")}),
                             "does not fit its parameter"),
    "negative split index": (lambda c: c["data"]["splits"]["val"].__setitem__(0, -5), "outside 0..1796"),
    "split index out of range": (lambda c: c["data"]["splits"]["test"].__setitem__(-1, 99_999), "outside 0..1796"),
    "overlapping splits": (lambda c: c["data"]["splits"].__setitem__("val", c["data"]["splits"]["train"][:10].clone()),
                           "overlaps another split"),
    "repeated split index": (lambda c: c["data"]["splits"]["train"].__setitem__(1, int(c["data"]["splits"]["train"][0])),
                             "repeats positions"),
    "float split": (lambda c: c["data"]["splits"].__setitem__("val", c["data"]["splits"]["val"].float()),
                    "not a list of integer positions"),
    "missing split": (lambda c: c["data"]["splits"].pop("test"), "data.splits is not"),
    "unknown dataset": (lambda c: c["data"].__setitem__("dataset", "imagenet"), "data.dataset is 'imagenet'"),
    "lineage not a list": (lambda c: c.__setitem__("lineage", {"op": "train"}), "wrong types: lineage"),
    "malformed lineage entry": (lambda c: c["lineage"].append({"op": "forget"}), "lineage entry 2 is malformed"),
    "a string for a forget set": (lambda c: c["lineage"].append({"op": "forget", "time": 1.0, "config": {},
                                                                  "wall_time_s": 1.0, "image_passes": 1, "device": "cpu",
                                                                  "forget": "class 3", "method": "dau"}),
                                  "lineage entry 2 has forget of the wrong type"),
    "negative forget indices": (lambda c: c["lineage"].append({**c["lineage"][0], "op": "forget",
                                                               "forget_indices": torch.tensor([-1, 3])}),
                                "forget_indices are not positions"),
}


def damaged(tiny_ckpt: Path, folder: Path, name: str) -> Path:
    ckpt = torch.load(tiny_ckpt, weights_only=True)
    DAMAGES[name][0](ckpt)
    path = folder / "damaged.pt"
    torch.save(ckpt, path)
    return path


@pytest.mark.parametrize("name", DAMAGES)
def test_info_refuses_a_damaged_checkpoint_with_its_reason(refused, tiny_ckpt, tmp_path, name):
    path = damaged(tiny_ckpt, tmp_path, name)
    refused("info", path, inputs=[path], says=[f"{path} is a damaged dau checkpoint", DAMAGES[name][1],
                                               "make it again"])


@pytest.mark.parametrize("command", [
    ("forget", "--classes", "3", "-o", "out.pt"),
    ("prune", "-s", "0.5", "-o", "out.pt"),
    ("audit", "--classes", "3"),
    ("compare", "--classes", "3", "--methods", "ft", "--seeds", "1", "-o", "cmp"),
])
@pytest.mark.parametrize("name", ["wrong shape", "overlapping splits", "mask of no parameter"])
def test_every_command_refuses_it_the_same_way(refused, tiny_ckpt, tmp_path, command, name):
    path = damaged(tiny_ckpt, tmp_path, name)
    args = [str(tmp_path / a) if a in ("out.pt", "cmp") else a for a in command[1:]]
    refused(command[0], path, *args, inputs=[path], says=["is a damaged dau checkpoint", DAMAGES[name][1]])


def test_a_newer_version_asks_for_an_upgrade(refused, tiny_ckpt, tmp_path):
    ckpt = torch.load(tiny_ckpt, weights_only=True)
    ckpt["version"] = 99
    torch.save(ckpt, tmp_path / "new.pt")
    refused("info", tmp_path / "new.pt", says=["version 99", "upgrade dau"])


def test_the_intact_checkpoint_passes(dau, tiny_ckpt):
    assert dau("info", tiny_ckpt, "--json").exit_code == 0



def test_a_long_lineage_shows_its_newest_entries_and_says_so(dau, tiny_ckpt, tmp_path):
    ckpt = torch.load(tiny_ckpt, weights_only=True)
    ckpt["lineage"] = ckpt["lineage"] * 5000
    path = tmp_path / "long.pt"
    torch.save(ckpt, path)
    r = dau("info", path)
    assert r.exit_code == 0, r.output
    assert "4,980 earlier operations are left out" in r.stderr and "5000" in r.stdout and "\n1 " not in r.stdout
    assert len(json.loads(dau("info", path, "--json").stdout)["lineage"]) == 5000


def test_a_recorded_recipe_out_of_range_is_refused_before_the_audit(refused, tiny_ckpt, tmp_path):
    from dau_cli.runs import runs_dir

    ckpt = torch.load(tiny_ckpt, weights_only=True)
    ckpt["lineage"][0]["config"]["train"]["lr"] = 1e9
    path = tmp_path / "odd.pt"
    torch.save(ckpt, path)
    refused("audit", path, "--classes", "3", "--references", "3", inputs=[path],
            says=["train.lr must be", "recorded config"])
    assert not runs_dir().exists() or not list(runs_dir().iterdir())  # before any work


@pytest.mark.parametrize("name, text, says", [
    ("my.toml", "[train]\nepochs = 3\n", "is a TOML recipe (pass it with --recipe)"),
    ("notes.pt", "some notes\n", "is a text file, not a dau checkpoint"),
])
def test_a_text_file_given_as_a_checkpoint_is_named_as_text(refused, tmp_path, name, text, says):
    path = tmp_path / name
    path.write_text(text)
    refused("info", path, inputs=[path], says=[says])


def test_a_near_miss_is_suggested(refused, ckpt, dau_home):
    from dau_cli.runs import runs_dir

    runs_dir().mkdir(parents=True, exist_ok=True)
    (runs_dir() / "20250101-100000-train-abcdef").mkdir()
    refused("runs", "show", "20250101-100000-train-abcdeg", says=["did you mean '20250101-100000-train-abcdef'?",
                                                                   "dau runs ls"])
    refused("forget", ckpt, "-c", "3", "--set", "dau.alpah=0.3", inputs=[ckpt], says=["did you mean 'dau.alpha'?"])


def _lineage_into_itself(ckpt):
    ckpt["lineage"].append(ckpt["lineage"])


def _config_holds_its_entry(ckpt):
    entry = ckpt["lineage"][0]
    entry["config"]["me"] = entry


def _checkpoint_holds_itself(ckpt):
    ckpt["metrics"]["me"] = ckpt


@pytest.mark.parametrize("loop", [_lineage_into_itself, _config_holds_its_entry, _checkpoint_holds_itself],
                         ids=["a lineage that contains itself", "an entry whose config holds it", "a checkpoint in itself"])
def test_a_checkpoint_that_contains_itself_is_one_line(refused, tiny_ckpt, tmp_path, loop):
    ckpt = torch.load(tiny_ckpt, weights_only=True)
    loop(ckpt)  # a pickle keeps the loop; every walk over the records would never end
    path = tmp_path / "loop.pt"
    torch.save(ckpt, path)
    for args in (("info", path), ("info", path, "--json"), ("forget", path, "-c", "3", "-o", tmp_path / "o.pt")):
        refused(*args, inputs=[path], says=["contains itself", "damaged dau checkpoint"])


def test_records_beyond_the_limit_are_refused_before_reading(refused, tiny_ckpt, tmp_path, monkeypatch):
    """A checkpoint with more pickled records than dau reads (a lineage of 100,000 operations took
    minutes in torch's safe loader) is one line, from the zip's directory, without loading it."""
    from dau_cli.engine import checkpoint

    ckpt = torch.load(tiny_ckpt, weights_only=True)
    ckpt["lineage"] = [copy.deepcopy(ckpt["lineage"][0]) for _ in range(200)]  # a pickle stores a repeated entry once
    path = tmp_path / "long.pt"
    torch.save(ckpt, path)
    monkeypatch.setattr(checkpoint, "MAX_RECORDS", 10**5)  # 200 entries are ~0.3 MB
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("read past the limit"))
    refused("info", path, inputs=[path], says=["MB of records besides its weights", "at most 0 MB"])
