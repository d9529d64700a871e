"""The data sets beyond the embedded digits: IDX files (MNIST, Fashion-MNIST), SVHN, image folders,
and the fingerprint that ties a checkpoint to its images. Every file here is made by the tests,
except the real Fashion-MNIST, read where Debian's package is installed (CI installs it)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dau_cli.engine import datasets as data_module
from dau_cli.engine.data import load_data
from dau_cli.engine.datasets import DEBIAN_FASHION, fingerprint, read_idx
from dau_cli.errors import DauError
from makers import make_idx_dataset, make_image_folder, write_idx


# ----------------------------------------------------------------------------- IDX: MNIST and Fashion-MNIST


@pytest.mark.parametrize("compress", [True, False])
def test_idx_files_load_with_their_official_split(tmp_path, compress):
    root = make_idx_dataset(tmp_path / "m", n_train=60, n_test=20, compress=compress)
    data = load_data("mnist", root)
    assert data.images.shape == (80, 1, 28, 28) and data.images.dtype == torch.uint8
    assert torch.equal(data.labels[:10], torch.arange(10))
    assert sorted(data.splits["test"].tolist()) == list(range(60, 80))  # the official test images
    assert torch.bincount(data.labels[data.splits["val"]]).tolist() == [1] * 10  # stratified, one a class at least
    assert data.root == str(root)
    assert data.class_names == [str(c) for c in range(10)]
    fashion = load_data("fashion-mnist", root)
    assert fashion.class_names[0] == "T-shirt/top" and fashion.class_names[9] == "Ankle boot"


def test_idx_files_are_found_in_torchvisions_layout(tmp_path):
    make_idx_dataset(tmp_path / "FashionMNIST" / "raw")
    data = load_data("fashion-mnist", tmp_path)
    assert data.root == str(tmp_path / "FashionMNIST" / "raw") and len(data.labels) == 80


def test_missing_fashion_mnist_says_where_it_looked_and_the_two_ways_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setattr(data_module, "DEBIAN_FASHION", tmp_path / "not-installed")
    with pytest.raises(DauError) as e:
        load_data("fashion-mnist")
    message = str(e.value)
    assert str(tmp_path / "not-installed") in message and str(data_module.default_data_root()) in message
    assert "apt-get install dataset-fashion-mnist" in message and "--download" in message
    with pytest.raises(DauError, match="--download"):
        load_data("mnist", tmp_path / "empty")


@pytest.mark.parametrize("damage, words", [
    (lambda p: p.write_bytes(p.read_bytes()[:-10]), "truncated"),
    (lambda p: p.write_bytes(b"\x01\x02\x03\x04" + p.read_bytes()[4:]), "not an IDX file"),
])
def test_a_damaged_idx_file_is_named(tmp_path, damage, words):
    root = make_idx_dataset(tmp_path / "m", compress=False)
    damage(root / "t10k-images-idx3-ubyte")
    with pytest.raises(DauError, match=words) as e:
        load_data("mnist", root)
    assert "t10k-images-idx3-ubyte" in str(e.value)


def test_read_idx_reads_gzip_and_plain_alike(tmp_path):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    assert np.array_equal(read_idx(write_idx(tmp_path / "a", array, True)), array)
    assert np.array_equal(read_idx(write_idx(tmp_path / "b", array, False)), array)


@pytest.mark.skipif(not DEBIAN_FASHION.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_the_real_fashion_mnist_from_debians_package():
    """No flag: found in the system's datasets folder. 60,000 + 10,000 images, 6,000 and 1,000 a class."""
    data = load_data("fashion-mnist")
    assert data.root == str(DEBIAN_FASHION)
    assert data.images.shape == (70_000, 1, 28, 28)
    train = ~data.is_test
    assert int(train.sum()) == 60_000 and int(data.is_test.sum()) == 10_000
    assert torch.bincount(data.labels[train]).tolist() == [6000] * 10
    assert torch.bincount(data.labels[data.is_test]).tolist() == [1000] * 10
    assert len(data.splits["train"]) == 54_000 and len(data.splits["val"]) == 6_000


# ----------------------------------------------------------------------------- SVHN


def test_svhn_reads_torchvisions_mat_files(tmp_path, monkeypatch):
    """Tiny .mat files in SVHN's layout (X: 32x32x3xN, y: N x 1 with 10 for the digit 0); the
    checksum of the official files is what torchvision checks, so it is let through here."""
    import scipy.io
    import torchvision

    rng = np.random.default_rng(0)
    for name, n in (("train_32x32.mat", 30), ("test_32x32.mat", 10)):
        y = (np.arange(n) % 10 + 1)[:, None].astype(np.uint8)  # 1..10, 10 meaning 0
        scipy.io.savemat(tmp_path / name, {"X": rng.integers(0, 255, (32, 32, 3, n), dtype=np.uint8), "y": y})
    monkeypatch.setattr(torchvision.datasets.SVHN, "_check_integrity", lambda self: True)
    data = load_data("svhn", tmp_path)
    assert data.images.shape == (40, 3, 32, 32) and data.images.dtype == torch.uint8
    assert set(data.labels.tolist()) == set(range(10)) and int(data.labels[9]) == 0
    assert int(data.is_test.sum()) == 10


def test_missing_svhn_says_how_to_get_it(tmp_path):
    with pytest.raises(DauError, match="--download") as e:
        load_data("svhn", tmp_path)
    assert "train_32x32.mat" in str(e.value)


# ----------------------------------------------------------------------------- image folders


def test_an_image_folder_loads_as_one_uint8_tensor(tmp_path):
    root = make_image_folder(tmp_path / "photos", per_class=10)
    (root / "dog" / "notes.txt").write_text("not an image, ignored as ImageFolder ignores it")
    data = load_data(f"folder:{root}", options={"image_size": 16, "color": "rgb"})
    assert data.name == "folder" and data.root == str(root) and data.class_names == ["cat", "dog", "owl"]
    assert data.images.shape == (30, 3, 16, 16) and data.images.dtype == torch.uint8
    assert torch.bincount(data.labels).tolist() == [10, 10, 10]
    # each class's own channel is the brightest: the pixels really are the files' pixels (JPEG blurs them a little)
    means = [data.images[data.labels == c].float().mean(dim=(0, 2, 3)) for c in range(3)]
    assert [int(m.argmax()) for m in means] == [0, 1, 2] and all(float(m.max()) > 200 for m in means)
    assert sorted(torch.bincount(data.labels[data.splits["test"]]).tolist()) == [2, 2, 2]  # stratified 20 %
    grey = load_data("folder", root, options={"image_size": 8, "color": "grayscale"})
    assert grey.images.shape == (30, 1, 8, 8) and grey.fingerprint != data.fingerprint


def test_an_image_folder_with_train_and_test_keeps_its_split(tmp_path):
    root = make_image_folder(tmp_path / "photos", per_class=4, split=True)
    data = load_data(f"folder:{root}")
    assert data.images.shape == (24, 3, 32, 32)  # the default size and colour
    assert int(data.is_test.sum()) == 12 and sorted(data.splits["test"].tolist()) == torch.nonzero(
        data.is_test).flatten().tolist()


def test_an_unreadable_image_is_named_not_skipped(tmp_path):
    root = make_image_folder(tmp_path / "photos")
    (root / "owl" / "broken.jpg").write_bytes(b"\xff\xd8 this is not a JPEG")
    with pytest.raises(DauError, match="cannot be read") as e:
        load_data(f"folder:{root}")
    assert "broken.jpg" in str(e.value) and "1 image" in str(e.value)


@pytest.mark.parametrize("make, words", [
    (lambda root: None, "does not exist"),
    (lambda root: root.mkdir(), "no class subfolders"),
    (lambda root: (make_image_folder(root), (root / "empty-class").mkdir()), "holds no images"),
    (lambda root: (make_image_folder(root, split=True), (root / "test" / "cat").rename(root / "test" / "lion")),
     "different class folders"),
])
def test_a_bad_image_folder_is_one_line(tmp_path, make, words):
    root = tmp_path / "photos"
    make(root)
    with pytest.raises(DauError, match=words) as e:
        load_data(f"folder:{root}")
    assert "\n" not in str(e.value) and str(root) in str(e.value)


# ----------------------------------------------------------------------------- fingerprints


def test_the_fingerprint_is_the_images_and_labels(tmp_path):
    images, labels = np.zeros((4, 1, 2, 2), np.uint8), np.arange(4)
    same = fingerprint(torch.from_numpy(images), torch.from_numpy(labels))
    assert fingerprint(images, labels) == same and same.startswith("sha256:")
    images[3, 0, 1, 1] = 1
    assert fingerprint(images, labels) != same
    assert fingerprint(np.zeros((4, 1, 2, 2), np.uint8), labels[::-1].copy()) != same


def test_other_images_than_recorded_are_refused(tmp_path):
    root = make_idx_dataset(tmp_path / "a", seed=0)
    recorded = load_data("mnist", root)
    assert load_data("mnist", root, splits=recorded.splits, expect=recorded.fingerprint).fingerprint == \
        recorded.fingerprint
    other = make_idx_dataset(tmp_path / "b", seed=1)
    with pytest.raises(DauError, match="other images than the model was trained on"):
        load_data("mnist", other, splits=recorded.splits, expect=recorded.fingerprint)
