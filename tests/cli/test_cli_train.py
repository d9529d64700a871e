"""`dau train` end to end: outputs, the run directory and its events, CIFAR-10 through torchvision,
and how it fails (missing data, existing output, Ctrl-C)."""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from dau_cli.engine.checkpoint import load_checkpoint, restore

TINY = ("--set", "model.width=8", "--device", "cpu")  # a ~1 s model on 2 CPU cores


# ----------------------------------------------------------------------------- one trained run, shared


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(DAU_HOME, checkpoint path, --json output) of one `dau train --epochs 2` on digits."""
    from typer.testing import CliRunner

    from dau_cli.cli import app

    home = tmp_path_factory.mktemp("home")
    out = home / "digits.pt"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DAU_HOME", str(home))
        result = CliRunner().invoke(app, ["train", "--epochs", "2", *TINY, "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    return home, out, json.loads(result.stdout)


def test_train_json_output(trained):
    home, out, printed = trained
    assert {"checkpoint", "run_dir", "wall_time_s", "train_acc", "val_acc", "test_acc"} <= set(printed)
    assert Path(printed["checkpoint"]) == out and out.is_file()
    assert Path(printed["run_dir"]).parent == home / "runs"
    assert all(0 <= printed[k] <= 100 for k in ("train_acc", "val_acc", "test_acc"))
    assert load_checkpoint(out)["metrics"]["test_acc"] == printed["test_acc"]


def test_run_json_has_the_documented_keys(trained):
    home, out, printed = trained
    run_dir = Path(printed["run_dir"])
    info = json.loads((run_dir / "run.json").read_text())
    documented = {"schema", "id", "command", "argv", "config", "pid", "host", "device", "status", "started",
                  "ended", "summary", "outputs"}
    assert documented <= set(info)
    assert info["schema"] == 1 and info["id"] == run_dir.name and info["command"] == "train"
    assert info["status"] == "completed" and "error" not in info
    assert info["ended"] >= info["started"] and info["device"] == "cpu"
    assert info["config"]["train"]["epochs"] == 2 and info["config"]["model"]["width"] == 8
    assert info["outputs"] == {"checkpoint": str(out.resolve())}
    assert info["summary"]["test_acc"] == printed["test_acc"]
    assert not [p.name for p in run_dir.iterdir() if p.name.endswith(".tmp")]


def test_events_follow_the_schema(trained):
    """docs/events.md: status, log, phase, step, epoch and result events, in that order."""
    from dau_cli.runs import read_events

    _, _, printed = trained
    events = list(read_events(Path(printed["run_dir"])))
    assert all(e["v"] == 1 and isinstance(e["t"], float) and isinstance(e["type"], str) for e in events)
    assert events[0] == {**events[0], "type": "status", "status": "running"}
    assert events[-1] == {**events[-1], "type": "status", "status": "completed"}
    by_type = {}
    for e in events:
        by_type.setdefault(e["type"], []).append(e)
    assert {"status", "log", "phase", "step", "epoch", "result"} <= set(by_type)
    (phase,) = by_type["phase"]
    assert phase["phase"] == "train" and phase["epochs"] == 2
    steps = by_type["step"]
    assert [s["step"] for s in steps] == list(range(1, phase["total"] + 1))  # on CPU every step is logged
    for s in steps:
        assert {"phase", "step", "total", "epoch", "loss", "acc", "images_per_s"} <= set(s)
    assert {s["epoch"] for s in steps} == {1, 2}
    assert [e["epoch"] for e in by_type["epoch"]] == [1, 2]
    assert all({"train_acc", "val_acc"} <= set(e["metrics"]) for e in by_type["epoch"])
    (result,) = by_type["result"]
    assert result["metrics"]["test_acc"] == printed["test_acc"]
    assert all({"message", "level"} <= set(e) for e in by_type["log"])
    order = [e["type"] for e in events]
    assert order.index("phase") < order.index("step") < order.index("epoch") < order.index("result")


def test_runs_ls_json_lists_the_completed_run(trained, dau, monkeypatch):
    home, out, printed = trained
    monkeypatch.setenv("DAU_HOME", str(home))
    result = dau("runs", "ls", "--json")
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert listed["runs_dir"] == str(home / "runs")
    (run,) = [r for r in listed["runs"] if r["dir"] == printed["run_dir"]]
    assert run["status"] == "completed" and run["command"] == "train"
    table = dau("runs", "ls")
    assert table.exit_code == 0 and "completed" in table.stdout and "train" in table.stdout


def test_train_refuses_to_overwrite_without_force(user_error, trained, dau):
    _, out, _ = trained
    before = out.read_bytes()
    line = user_error(dau("train", "--epochs", "1", *TINY, "-o", out))
    assert str(out) in line and "--force" in line
    assert out.read_bytes() == before


# ----------------------------------------------------------------------------- failures


def test_missing_cifar10_names_the_path_and_download(user_error, dau, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    line = user_error(dau("train", "--dataset", "cifar10", "--data-root", empty, "-o", tmp_path / "c.pt"))
    assert str(empty) in line and "--download" in line
    assert not (tmp_path / "c.pt").exists()


def test_unknown_set_key_names_the_valid_keys(user_error, dau, tmp_path):
    line = user_error(dau("train", "--set", "train.nope=1", "-o", tmp_path / "m.pt"))
    assert "train.nope" in line and "train.lr" in line and "train.epochs" in line


def test_bad_set_value_is_a_user_error(user_error, dau, tmp_path):
    line = user_error(dau("train", "--set", "train.epochs=ten", "-o", tmp_path / "m.pt"))
    assert "train.epochs" in line and "int" in line


def test_device_mps_without_an_mps_backend_is_one_line_and_writes_nothing(user_error, dau, dau_home, tmp_path,
                                                                         monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    out = tmp_path / "m.pt"
    line = user_error(dau("train", "--device", "mps", "-o", out))
    assert line == "error: --device mps was asked for but this torch has no MPS backend here; use --device cpu or auto"
    assert not out.exists() and not list((dau_home / "runs").glob("*"))


def test_ctrl_c_marks_the_run_interrupted_and_writes_nothing(dau, dau_home, tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("dau_cli.engine.train.fit", interrupted)
    out = tmp_path / "out" / "m.pt"
    out.parent.mkdir()
    result = dau("train", *TINY, "-o", out)
    assert result.exit_code == 130 and "Traceback" not in result.output
    assert list(out.parent.iterdir()) == []
    (run_dir,) = (dau_home / "runs").iterdir()
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "interrupted" and info["ended"] is not None and info["outputs"] == {}
    last = (run_dir / "events.jsonl").read_text().splitlines()[-1]
    assert json.loads(last)["status"] == "interrupted"


def test_a_user_error_inside_the_engine_marks_the_run_failed(user_error, dau, dau_home, tmp_path, monkeypatch):
    from dau_cli.engine.train import Diverged

    def diverges(*args, **kwargs):
        raise Diverged("training diverged at step 3 (loss is nan); try a lower learning rate")

    monkeypatch.setattr("dau_cli.engine.train.fit", diverges)
    line = user_error(dau("train", *TINY, "-o", tmp_path / "m.pt"))
    assert "diverged" in line and not (tmp_path / "m.pt").exists()
    (run_dir,) = (dau_home / "runs").iterdir()
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "failed" and "diverged" in info["error"]


# ----------------------------------------------------------------------------- CIFAR-10 through torchvision

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
PER_BATCH, TEST = 20, 30  # 5 x 20 training images, 30 test images


def write_tiny_cifar10(root: Path) -> dict[str, np.ndarray]:
    """A CIFAR-10 folder in the official format: pickled dicts with `data` (N, 3072) uint8 rows
    (1024 red, then green, then blue values, row-major) and `labels`; returns what it wrote."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    written = {}
    for name, n in [*((f"data_batch_{i}", PER_BATCH) for i in range(1, 6)), ("test_batch", TEST)]:
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        labels = [i % 10 for i in range(n)]
        (folder / name).write_bytes(pickle.dumps({"batch_label": name, "data": data, "labels": labels,
                                                  "filenames": [f"{name}_{i}.png" for i in range(n)]}))
        written[name] = data
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": CLASSES, "num_cases_per_batch": PER_BATCH,
                                                        "num_vis": 3072}))
    return written


def trust_checksums(monkeypatch, root: Path) -> None:
    """torchvision's CIFAR10 checks every file's md5 against the official archive's in __init__;
    a made-up file cannot match them, so the expected sums (class data, not code) become those of
    the files written here. The loader itself, its integrity check included, runs unchanged."""
    import torchvision

    folder = root / "cifar-10-batches-py"
    md5 = {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in folder.iterdir()}
    cls = torchvision.datasets.CIFAR10
    monkeypatch.setattr(cls, "train_list", [[f"data_batch_{i}", md5[f"data_batch_{i}"]] for i in range(1, 6)])
    monkeypatch.setattr(cls, "test_list", [["test_batch", md5["test_batch"]]])
    monkeypatch.setattr(cls, "meta", {**cls.meta, "md5": md5["batches.meta"]})


def test_train_on_cifar10_through_torchvision(dau, tmp_path, monkeypatch):
    root = tmp_path / "data"
    written = write_tiny_cifar10(root)
    trust_checksums(monkeypatch, root)
    out = tmp_path / "c.pt"
    result = dau("train", "--dataset", "cifar10", "--data-root", root, "--model", "cnn", "--epochs", "1",
                 "--batch-size", "32", *TINY, "-o", out, "--json")
    assert result.exit_code == 0, result.output
    ckpt = load_checkpoint(out)
    d = ckpt["data"]
    assert d["dataset"] == "cifar10" and d["input_shape"] == [3, 32, 32] and d["class_names"] == CLASSES
    assert torch.equal(d["splits"]["test"], torch.arange(5 * PER_BATCH, 5 * PER_BATCH + TEST))  # the official test set
    assert len(d["splits"]["val"]) == 10 and len(d["splits"]["train"]) == 90
    assert ckpt["num_classes"] == 10 and json.loads(result.stdout)["test_acc"] >= 0

    _, data = restore(ckpt)  # the images went through torchvision's HWC layout and back, unchanged
    first_train, first_test = written["data_batch_1"][0], written["test_batch"][0]
    assert torch.equal(data.images[0], torch.from_numpy(first_train.reshape(3, 32, 32)))
    assert torch.equal(data.images[5 * PER_BATCH], torch.from_numpy(first_test.reshape(3, 32, 32)))
    assert data.labels[:12].tolist() == [i % 10 for i in range(12)]


def test_cifar10_that_fails_torchvisions_checksums_is_a_user_error(user_error, dau, tmp_path):
    root = tmp_path / "data"
    write_tiny_cifar10(root)  # the official md5s cannot match these files
    line = user_error(dau("train", "--dataset", "cifar10", "--data-root", root, *TINY, "-o", tmp_path / "c.pt"))
    assert "corrupt" in line and str(root) in line and "--download" in line


# ----------------------------------------------------------------------------- other data sets, end to end


def test_fashion_mnist_files_train_and_other_images_are_refused_later(dau, user_error, tmp_path):
    """IDX files at --data-root train a lenet; every later command checks the images' fingerprint, so
    pointing --data-root at other files is one line, and nothing is written."""
    from makers import make_idx_dataset

    root = make_idx_dataset(tmp_path / "fashion", n_train=100, n_test=40)
    ckpt = tmp_path / "f.pt"
    r = dau("train", "--dataset", "fashion-mnist", "--model", "lenet", "--data-root", root, "--epochs", "1",
            "--device", "cpu", "-o", ckpt, "--json")
    assert r.exit_code == 0, r.output
    recorded = load_checkpoint(ckpt)["data"]
    assert recorded["dataset"] == "fashion-mnist" and recorded["size"] == 140 and recorded["input_shape"] == [1, 28, 28]
    assert recorded["fingerprint"].startswith("sha256:") and recorded["root"] == str(root)
    other = make_idx_dataset(tmp_path / "other", n_train=100, n_test=40, seed=5)
    for args in (("forget", ckpt, "--classes", "3", "-m", "ft", "-o", tmp_path / "out.pt"),
                 ("audit", ckpt, "--classes", "3")):
        line = user_error(dau(*args, "--data-root", other))
        assert "holds other images than the model was trained on" in line and str(other) in line
    assert not (tmp_path / "out.pt").exists()
