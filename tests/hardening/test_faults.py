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


def test_a_killed_drivers_workers_exit(ckpt, tmp_path):
    """SIGKILL on `compare --workers 2` (nothing of it can run): its worker processes notice the
    driver is gone and exit within seconds instead of running every queued cell for nobody."""
    import os
    import signal
    import sys
    import time

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    driver = subprocess.Popen([sys.executable, "-m", "dau_cli", "-q", "compare", str(ckpt), "--classes", "3",
                               "--methods", "ft", "--seeds", "4", "--workers", "2", "-o", str(tmp_path / "c")],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    def workers() -> list[int]:
        found = []
        for pid in os.listdir("/proc"):
            try:
                if pid.isdigit() and int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1]) == driver.pid:
                    found.append(int(pid))
            except OSError:
                pass
        return found

    deadline = time.time() + 120
    while len(workers()) < 2 and time.time() < deadline and driver.poll() is None:
        time.sleep(0.5)
    children = workers()
    assert len(children) >= 2, "the workers never started"
    time.sleep(3)  # they are at work
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    def running(pid: int) -> bool:  # a zombie has exited: only its parent (init here) has yet to reap it
        try:
            return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            return False

    deadline = time.time() + 30
    while time.time() < deadline and any(running(p) for p in children):
        time.sleep(0.5)
    alive = [p for p in children if running(p)]
    for p in alive:
        os.kill(p, signal.SIGKILL)
    assert not alive, f"workers {alive} outlived their driver by 30 s"


def test_ray_missing_is_refused_before_any_work(refused, ckpt, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a))
    refused("audit", ckpt, "--classes", "3", "--ray", "local", inputs=[ckpt], says=['pip install "dau[ray]"'])
    from dau_cli.runs import runs_dir

    assert not runs_dir().exists() or not list(runs_dir().iterdir())  # refused before a run even started


@pytest.mark.parametrize("fault", ["stdout closed", "low ulimit -v"])
def test_a_starved_process_is_one_line(tiny_ckpt, fault):
    import os
    import resource
    import sys

    def starve():
        if fault == "stdout closed":
            os.close(1)
        else:  # enough for Python, not for torch's libraries
            resource.setrlimit(resource.RLIMIT_AS, (1_500_000_000, 1_500_000_000))

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run([sys.executable, "-m", "dau_cli", "info", str(tiny_ckpt), "--json"], env=env,
                          stdout=None if fault == "stdout closed" else subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, preexec_fn=starve, timeout=120)
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert done.returncode == 2 and len(lines) == 1 and lines[0].startswith("error:"), done.stderr
    assert ("standard output is closed" if fault == "stdout closed" else "raise the limit") in lines[0]
