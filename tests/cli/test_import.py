"""`dau import`: weights trained elsewhere become a checkpoint that audit and forget take, with its
accuracies measured and the import in its lineage; each bad input is one line."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch

from dau_cli.engine.checkpoint import load_checkpoint, training_recipe
from makers import make_idx_dataset, make_image_folder


@pytest.fixture(scope="module")
def digits_weights(tiny_ckpt, tmp_path_factory):
    """The tiny digits model's weights as another program would save them, and its training positions."""
    folder = tmp_path_factory.mktemp("weights")
    ckpt = load_checkpoint(tiny_ckpt)
    torch.save(ckpt["state_dict"], folder / "cnn.pt")
    from safetensors.torch import save_file

    save_file(ckpt["state_dict"], str(folder / "cnn.safetensors"))
    (folder / "trained-on.txt").write_text("\n".join(map(str, ckpt["data"]["splits"]["train"].tolist())))
    return folder, ckpt


def test_a_dau_model_imports_with_its_accuracy_and_lineage(dau, digits_weights, tmp_path):
    folder, original = digits_weights
    out = tmp_path / "imported.pt"
    r = dau("import", folder / "cnn.pt", "--arch", "cnn", "--width", "8", "--dataset", "digits",
            "--train-indices", folder / "trained-on.txt", "-o", out, "--json")
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    ckpt = load_checkpoint(out)
    assert all(torch.equal(ckpt["state_dict"][k], v) for k, v in original["state_dict"].items())
    assert torch.equal(ckpt["data"]["splits"]["train"], original["data"]["splits"]["train"])
    assert ckpt["data"]["fingerprint"] == original["data"]["fingerprint"]
    # val and test come from the images it did not train on: the original's val and test, redrawn
    unused = torch.cat([original["data"]["splits"]["val"], original["data"]["splits"]["test"]]).sort().values
    assert torch.equal(torch.cat([ckpt["data"]["splits"]["val"], ckpt["data"]["splits"]["test"]]).sort().values, unused)
    assert summary["test_acc"] > 60 and summary["train_acc"] >= summary["test_acc"] - 10  # it has learned
    entry = ckpt["lineage"][0]
    assert entry["op"] == "import" and len(ckpt["lineage"]) == 1
    assert entry["sha256"] == "sha256:" + hashlib.sha256((folder / "cnn.pt").read_bytes()).hexdigest()
    assert entry["config"]["arch_args"] == {"width": 8} and "trained-on.txt" in entry["config"]["train_indices"]
    assert any("no --recipe" in u for u in entry["unchecked"]) and training_recipe(ckpt) is None
    shown = dau("info", out)
    assert shown.exit_code == 0 and "import" in shown.stdout and "cnn.pt" in shown.stdout


def test_safetensors_weights_import_the_same(dau, digits_weights, tmp_path):
    folder, original = digits_weights
    r = dau("import", folder / "cnn.safetensors", "--recipe", "digits-cnn", "--set", "model.width=8",
            "--train-indices", folder / "trained-on.txt", "-o", tmp_path / "s.pt", "--json")
    assert r.exit_code == 0, r.output
    ckpt = load_checkpoint(tmp_path / "s.pt")
    assert all(torch.equal(ckpt["state_dict"][k], v) for k, v in original["state_dict"].items())
    recipe = training_recipe(ckpt)  # the recipe is recorded: references can be trained like it
    assert recipe["train"]["epochs"] == 30 and recipe["model"]["width"] == 8 and ckpt["arch"] == "cnn"


def _trained_torchvision_resnet(images: torch.Tensor, labels: torch.Tensor) -> torch.nn.Module:
    """torchvision's own resnet18 trained a little elsewhere (here), on 3-channel copies of the images."""
    import torchvision

    torch.manual_seed(0)
    net = torchvision.models.resnet18(num_classes=10)
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    x = (images.float() / 255).expand(-1, 3, -1, -1)
    for _ in range(25):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x), labels).backward()
        opt.step()
    return net.eval()


def test_a_torchvision_model_imports_and_audits_without_a_recipe(dau, user_error, tmp_path):
    from dau_cli.engine.data import load_data

    root = make_idx_dataset(tmp_path / "idx", n_train=60, n_test=100)
    data = load_data("mnist", root)
    train = ~data.is_test
    net = _trained_torchvision_resnet(data.images[train], data.labels[train])
    with torch.no_grad():
        expected = net(data.images[data.is_test].float().div(255).expand(-1, 3, -1, -1)).argmax(1)
    torch.save(net.state_dict(), tmp_path / "resnet.pt")
    out = tmp_path / "resnet-imported.pt"
    r = dau("import", tmp_path / "resnet.pt", "--torchvision", "resnet18", "--dataset", "mnist", "--data-root", root,
            "--device", "cpu", "--json")
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    ckpt = load_checkpoint(out)  # the default name, beside the weights
    assert ckpt["arch"] == "torchvision" and ckpt["arch_args"] == {"name": "resnet18"}
    assert summary["splits"] == {"train": 60, "val": 10, "test": 90}  # every training image; val from the test images
    test_pos = ckpt["data"]["splits"]["test"]
    official = torch.nonzero(data.is_test).flatten().tolist()
    want = 100 * float((expected[[official.index(p) for p in test_pos.tolist()]] == data.labels[test_pos]).float().mean())
    assert summary["test_acc"] == pytest.approx(want)  # the same predictions as the network it came from
    a = dau("audit", out, "--classes", "3", "--json")
    assert a.exit_code == 0, a.output
    report = json.loads(a.stdout)
    assert report["verdict"] == "no reference" and "recipe is needed" in report["reasons"][0]
    assert "mia_efficacy" in report and "ua" in report  # every test that needs no reference still ran
    line = user_error(dau("audit", out, "--classes", "3", "--references", "2"))
    assert "imported without --recipe" in line
    line = user_error(dau("forget", out, "--classes", "3", "--method", "retrain", "-o", tmp_path / "f.pt"))
    assert "imported without --recipe" in line and not (tmp_path / "f.pt").exists()


@pytest.mark.parametrize("case, words", [
    ("missing", "nowhere.pt does not exist"),
    ("not weights", "not a state dict"),
    ("mismatched", "do not fit a lenet for 1x8x8 images"),
    ("other classes", "the weights are for 10 classes, folder has 3"),
    ("at chance", "at chance level"),
    ("no dataset", "--dataset"),
    ("test positions", "official test images"),
    ("out of range", "outside 0..79"),
    ("no split", "--train-indices"),
])
def test_each_bad_import_is_one_line(dau, user_error, digits_weights, tmp_path, case, words):
    folder, _ = digits_weights
    trained_on = folder / "trained-on.txt"
    weights, cnn = folder / "cnn.pt", ["--arch", "cnn", "--width", "8"]
    positions = tmp_path / "positions.txt"
    positions.write_text({"test positions": "0 1 2 79", "out of range": "0 80"}.get(case, "0 1 2 5 6 7 10 11 12"))
    args = {"mismatched": ["--arch", "lenet", "--dataset", "digits", "--train-indices", trained_on],
            "other classes": [*cnn, "--dataset", f"folder:{make_image_folder(tmp_path / 'photos')}",
                              "--train-indices", positions],
            "no dataset": [*cnn, "--train-indices", trained_on],
            "test positions": ["--arch", "lenet", "--dataset", "mnist", "--data-root", make_idx_dataset(tmp_path / "idx"),
                               "--train-indices", positions],
            "no split": [*cnn, "--dataset", "digits"]}.get(case, [*cnn, "--dataset", "digits", "--train-indices", trained_on])
    if case == "out of range":
        args = [*args[:-4], "--dataset", "mnist", "--data-root", make_idx_dataset(tmp_path / "idx"), "--train-indices",
                positions]
    if case == "missing":
        weights = tmp_path / "nowhere.pt"
    elif case == "not weights":
        weights = tmp_path / "notes.pt"
        weights.write_text("not a tensor file")
    elif case == "at chance":
        from dau_cli.engine.models import build_model

        torch.manual_seed(1)
        weights = tmp_path / "random.pt"
        torch.save(build_model("cnn", 10, (1, 8, 8), width=8).state_dict(), weights)
    before = sorted(p.name for p in tmp_path.iterdir())
    line = user_error(dau("import", weights, *args, "-o", tmp_path / "out.pt"))
    assert words in line
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written


def test_import_splits_draw_val_from_unused_images():
    from dau_cli.engine.data import import_splits

    labels = np.arange(100) % 5
    is_test = np.zeros(100, bool)
    is_test[80:] = True
    s = import_splits(labels, is_test, np.arange(0, 40))
    assert set(s["val"]) <= set(range(40, 80)) and list(s["test"]) == list(range(80, 100))
    assert np.bincount(labels[s["val"]]).tolist() == [2] * 5  # 10 % of the 80 training images, stratified
    assert not set(s["val"]) & set(s["train"])
