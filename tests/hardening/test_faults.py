"""Group 4: the machine's own faults are one line, and they come before the work.

A read-only folder and a full disk are real file systems (small tmpfs mounts, where this machine
lets the tests mount them; skipped otherwise, e.g. without root).
"""

from __future__ import annotations

import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from dau_cli.runs import list_runs


@pytest.fixture
def mount(tmp_path: Path):
    """mount("ro") or mount("full"): a tiny tmpfs that is read-only, or has no space left."""
    made: list[Path] = []

    def make(kind: str) -> Path:
        point = tmp_path / f"mnt-{kind}"
        point.mkdir()
        opts = "size=64k" + (",ro" if kind == "ro" else "")
        if subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(point)], capture_output=True).returncode:
            pytest.skip("this machine does not let the tests mount a small file system")
        made.append(point)
        if kind == "full":
            with open(point / "filler", "wb") as f:
                try:
                    f.write(b"\0" * (1 << 20))
                except OSError:
                    pass
        return point

    yield make
    for point in made:
        subprocess.run(["umount", "-l", str(point)], capture_output=True)


def test_output_path_that_is_a_folder(refused, tmp_path):
    (tmp_path / "out").mkdir()
    refused("train", "-o", tmp_path / "out", says=["is a folder", "give a file name"])
    assert list_runs() == []  # refused before a run was opened


def test_output_in_a_read_only_folder(refused, ckpt, mount, tmp_path):
    ro = mount("ro")
    refused("forget", ckpt, "--classes", "3", "-o", ro / "f.pt", inputs=[ckpt], folder=ro,
            says=["read-only file system", "nothing was written"])
    assert list_runs() == []


def test_output_on_a_full_disk(refused, ckpt, mount, tmp_path):
    full = mount("full")
    refused("prune", ckpt, "-s", "0.5", "-o", full / "p.pt", inputs=[ckpt], folder=full,
            says=["no space left", "free some space"])
    assert list_runs() == []


def test_dau_home_is_a_file(refused, tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.write_text("not a folder")
    monkeypatch.setenv("DAU_HOME", str(home))
    refused("train", "-o", tmp_path / "m.pt", inputs=[home], says=[f"DAU_HOME={home} is a file"])


def test_dau_home_read_only(refused, mount, tmp_path, monkeypatch):
    monkeypatch.setenv("DAU_HOME", str(mount("ro")))
    refused("train", "-o", tmp_path / "m.pt", says=["cannot make the runs folder", "DAU_HOME"])


def test_a_recipe_that_is_not_text(refused, tmp_path):
    recipe = tmp_path / "binary.toml"
    recipe.write_bytes(bytes(range(256)) * 4)
    refused("train", "--recipe", recipe, "-o", tmp_path / "m.pt", inputs=[recipe], says=["not a text file"])


def test_download_without_a_network(refused, tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    (tmp_path / "out").mkdir()
    refused("train", "--dataset", "cifar10", "--download", "--data-root", tmp_path / "data", "-o",
            tmp_path / "out" / "m.pt", folder=tmp_path / "out", says=["could not download CIFAR10", "--data-root"])


def test_a_fault_while_writing_is_one_line_and_leaves_nothing(refused, ckpt, tmp_path, monkeypatch):
    """The disk fills up during the final write: one line, no partial file, no temporary file."""
    import errno

    import torch

    def full(obj, f, *a, **k):
        f.write(b"PK half")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full)
    refused("forget", ckpt, "--classes", "3", "--method", "ft", "--set", "ft.epochs=1", "-o", tmp_path / "f.pt",
            inputs=[ckpt], says=["no space left", "nothing was written"])
    assert list_runs()[0]["status"] == "failed"
