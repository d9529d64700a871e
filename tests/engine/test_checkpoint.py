"""The checkpoint (docs/checkpoint.md): exact round trip, safe loading, atomic writes, no overwrites."""

from __future__ import annotations

import errno
import shutil

import pytest
import torch

from dau_cli.config import as_dict, resolve
from dau_cli.engine import checkpoint as ck
from dau_cli.engine.checkpoint import (CheckpointView, derive, lineage_entry, load_checkpoint, new_checkpoint,
                                       pack_masks, restore, save_checkpoint, sparsity, training_recipe,
                                       unpack_masks)
from dau_cli.engine.data import load_data
from dau_cli.engine.models import build_model
from dau_cli.engine.train import accuracy, fit, predict
from dau_cli.errors import DauError
from dau_cli.files import check_output
from dau_cli.runs import EventSink

# ----------------------------------------------------------------------------- round trip


def test_round_trip_reproduces_predictions_exactly(tmp_path):
    config = resolve(overrides={"model.width": 8, "train.epochs": 1, "train.device": "cpu"})
    data = load_data("digits", split_seed=0)
    torch.manual_seed(0)
    model = build_model("cnn", data.num_classes, data.input_shape, width=8)
    result = fit(model, data, data.splits["train"], config["train"], EventSink())
    entry = lineage_entry("train", as_dict(config), result["wall_time_s"], result["image_passes"], "cpu")
    saved = save_checkpoint(new_checkpoint(model, "cnn", {"width": 8}, data.describe(), as_dict(config), {}, [entry]),
                            tmp_path / "m.pt")

    model2, data2 = restore(load_checkpoint(saved))
    everything = torch.arange(len(data.labels))
    assert torch.equal(predict(model, data, everything), predict(model2, data2, everything))
    assert torch.equal(data.images, data2.images) and torch.equal(data.labels, data2.labels)
    for k in data.splits:
        assert torch.equal(data.splits[k], data2.splits[k])


def test_recorded_metrics_are_reproduced_by_the_restored_model(tiny_ckpt):
    ckpt = load_checkpoint(tiny_ckpt)
    model, data = restore(ckpt)
    assert accuracy(model, data, data.splits["test"]) == ckpt["metrics"]["test_acc"]


def test_checkpoint_holds_the_documented_keys(tiny_ckpt):
    ckpt = load_checkpoint(tiny_ckpt)
    assert set(ck.REQUIRED) <= set(ckpt)
    assert ckpt["format"] == "dau-checkpoint" and ckpt["version"] == ck.VERSION
    assert ckpt["arch"] == "cnn" and ckpt["arch_args"] == {"width": 8} and ckpt["num_classes"] == 10
    assert ckpt["data"]["input_shape"] == [1, 8, 8] and ckpt["data"]["dataset"] == "digits"
    assert all(v.dtype == torch.int64 for v in ckpt["data"]["splits"].values())
    (entry,) = ckpt["lineage"]
    assert {"op", "time", "config", "wall_time_s", "image_passes", "device", "versions"} <= set(entry)
    assert entry["op"] == "train" and entry["image_passes"] == 2 * len(ckpt["data"]["splits"]["train"])
    assert {"dau", "torch", "torchvision", "sklearn", "python"} <= set(entry["versions"])


def test_derive_adds_one_lineage_entry_and_keeps_the_data_view(tiny_ckpt):
    ckpt = load_checkpoint(tiny_ckpt)
    model, _ = restore(ckpt)
    entry = lineage_entry("forget", {}, 1.0, 10, "cpu", method="ft", forget_indices=torch.tensor([1, 2]))
    child = derive(ckpt, model, entry, {"test_acc": 1.0})
    assert [e["op"] for e in child["lineage"]] == ["train", "forget"] and len(ckpt["lineage"]) == 1
    assert child["data"] is ckpt["data"] and child["metrics"] == {"test_acc": 1.0}


# ----------------------------------------------------------------------------- masks and sparsity


def test_masks_round_trip_as_packed_bits():
    masks = {"a.weight": torch.rand(3, 5, 7) > 0.5, "b.weight": torch.rand(11) > 0.3}
    packed = pack_masks(masks)
    assert packed["a.weight"]["bits"].dtype == torch.uint8 and packed["a.weight"]["bits"].numel() == 14  # ceil(105/8)
    unpacked = unpack_masks(packed)
    assert all(torch.equal(unpacked[k], masks[k]) for k in masks)


def test_the_view_reads_the_recipe_the_train_entry_and_the_masks(tiny_ckpt):
    ckpt = load_checkpoint(tiny_ckpt)
    model, _ = restore(ckpt)
    view = CheckpointView(ckpt)
    assert view.lineage is ckpt["lineage"] and view.dataset == "digits" and view.first_op == "train"
    assert view.train_entry is ckpt["lineage"][0] and view.recipe is ckpt["lineage"][0]["config"]
    assert view.masks is None and training_recipe(ckpt) is view.recipe  # dense
    # after a forget and a prune, the recipe is still the first training's, the masks the stored ones
    masks = {"head.weight": torch.rand(model.state_dict()["head.weight"].shape) > 0.5}
    later = derive(derive(ckpt, model, lineage_entry("forget", {}, 1.0, 1, "cpu", method="ft"), {}),
                   model, lineage_entry("train", {"train": {"epochs": 99}}, 1.0, 1, "cpu"), {}, masks=masks)
    assert CheckpointView(later).recipe is ckpt["lineage"][0]["config"]
    assert torch.equal(CheckpointView(later).masks["head.weight"], masks["head.weight"])
    # an import: its recipe, or None without one; no train entry
    imported = {**ckpt, "lineage": [lineage_entry("import", {}, 0.0, 0, "cpu", recipe=None)]}
    assert CheckpointView(imported).first_op == "import" and CheckpointView(imported).train_entry is None
    assert CheckpointView(imported).recipe is None
    imported["lineage"][0]["recipe"] = {"train": {"epochs": 3}}
    assert CheckpointView(imported).recipe == {"train": {"epochs": 3}}


def test_sparsity_counts_zero_conv_and_linear_weights_only():
    state = {"conv.weight": torch.ones(2, 2, 3, 3), "fc.weight": torch.ones(4, 9), "fc.bias": torch.zeros(4),
             "bn.weight": torch.zeros(2)}
    state["conv.weight"][0] = 0  # 18 of 36
    overall, per_layer = sparsity(state)
    assert per_layer == {"conv.weight": 0.5, "fc.weight": 0.0}
    assert overall == pytest.approx(18 / 72)


# ----------------------------------------------------------------------------- safe loading


def test_missing_truncated_and_foreign_files_are_one_line_errors(tiny_ckpt, tmp_path):
    with pytest.raises(DauError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pt")
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(tiny_ckpt.read_bytes()[: tiny_ckpt.stat().st_size // 2])
    with pytest.raises(DauError, match="not a readable dau checkpoint") as e:
        load_checkpoint(truncated)
    assert "\n" not in str(e.value)
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(DauError, match="not a dau checkpoint"):
        load_checkpoint(foreign)
    damaged = tmp_path / "damaged.pt"
    torch.save({"format": "dau-checkpoint", "version": 1}, damaged)
    with pytest.raises(DauError, match="missing arch"):
        load_checkpoint(damaged)
    newer = tmp_path / "newer.pt"
    torch.save({**torch.load(tiny_ckpt, weights_only=True), "version": ck.VERSION + 1}, newer)
    with pytest.raises(DauError, match="upgrade dau"):
        load_checkpoint(newer)


# ----------------------------------------------------------------------------- safe writing


def test_check_output_refuses_to_overwrite_without_force(tmp_path):
    existing = tmp_path / "m.pt"
    existing.write_bytes(b"x")
    with pytest.raises(DauError, match="--force"):
        check_output(existing, [], force=False)
    assert check_output(existing, [], force=True) == existing
    assert check_output(tmp_path / "new.pt", [], force=False) == tmp_path / "new.pt"


def test_check_output_refuses_its_own_input_even_with_force(tmp_path):
    existing = tmp_path / "m.pt"
    existing.write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    same = tmp_path / "sub" / ".." / "m.pt"  # another spelling of the same file
    with pytest.raises(DauError, match="input"):
        check_output(same, [existing], force=True)


def test_check_output_wants_an_existing_folder(tmp_path):
    with pytest.raises(DauError, match="does not exist"):
        check_output(tmp_path / "no" / "m.pt", [], force=False)


def test_save_is_atomic_and_leaves_no_temp_files(tiny_ckpt, tmp_path):
    ckpt = load_checkpoint(tiny_ckpt)
    target = save_checkpoint(ckpt, tmp_path / "m.pt")
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]
    assert load_checkpoint(target)["metrics"] == ckpt["metrics"]


def test_a_failing_save_leaves_no_partial_file_and_keeps_the_old_one(tiny_ckpt, tmp_path, monkeypatch):
    def half_written_then_crash(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 half a zip")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", half_written_then_crash)
    ckpt = load_checkpoint(tiny_ckpt)
    with pytest.raises(DauError, match="no space left.*nothing was written"):
        save_checkpoint(ckpt, tmp_path / "new.pt")
    assert list(tmp_path.iterdir()) == []

    old = tmp_path / "old.pt"
    shutil.copy(tiny_ckpt, old)
    with pytest.raises(DauError):
        save_checkpoint(ckpt, old, force=True)
    assert old.read_bytes() == tiny_ckpt.read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == ["old.pt"]
