"""Group 5: nothing is overwritten without --force, not even in a race (one writer: dau_cli.files.write)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dau_cli.errors import DauError
from dau_cli.files import write


def test_audit_plot_does_not_replace_a_file_without_force(refused, dau, ckpt, tmp_path):
    plot = tmp_path / "roc.png"
    plot.write_bytes(b"my own picture")
    refused("audit", ckpt, "--classes", "3", "--plot", plot, inputs=[ckpt, plot], says=["already exists", "--force"])
    assert dau("audit", ckpt, "--classes", "3", "--plot", plot, "--force", "--json").exit_code == 0
    assert plot.read_bytes().startswith(b"\x89PNG")


def test_a_file_that_appears_during_the_write_wins_and_nothing_is_lost(tmp_path):
    target = tmp_path / "out.pt"

    def racing(f):
        f.write(b"mine")
        target.write_bytes(b"the other command's result")  # another dau finished first

    with pytest.raises(DauError, match="appeared while dau was writing it.*nothing was written"):
        write(target, racing)
    assert target.read_bytes() == b"the other command's result"
    assert sorted(os.listdir(tmp_path)) == ["out.pt"]


def test_force_replaces_atomically_and_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "out.pt"
    target.write_bytes(b"old")
    write(target, lambda f: f.write(b"new"), force=True)
    assert target.read_bytes() == b"new" and os.listdir(tmp_path) == ["out.pt"]


def test_without_hard_links_the_create_is_still_exclusive(tmp_path, monkeypatch):
    def no_links(src, dst):
        raise OSError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    write(tmp_path / "a", lambda f: f.write(b"1"))
    assert (tmp_path / "a").read_bytes() == b"1"
    with pytest.raises(DauError, match="appeared while"):
        write(tmp_path / "a", lambda f: f.write(b"2"))
    assert (tmp_path / "a").read_bytes() == b"1" and os.listdir(tmp_path) == ["a"]


@pytest.mark.parametrize("command", [("train",), ("forget", "CKPT", "--classes", "3"), ("prune", "CKPT", "-s", "0.5")])
def test_commands_refuse_an_existing_output(refused, ckpt, tmp_path, command):
    out = tmp_path / "exists.pt"
    out.write_bytes(b"precious")
    args = [str(ckpt) if a == "CKPT" else a for a in command]
    refused(*args, "-o", out, inputs=[ckpt, out], says=["already exists", "--force"])


@pytest.mark.parametrize("kind", ["char device", "fifo", "link out", "link in", "dangling link"])
def test_only_a_regular_file_is_ever_replaced(refused, ckpt, tmp_path, kind):
    """--force replaces a regular file, never a device, FIFO or link (whose target stays as it was)."""
    out = tmp_path / "out" / "x.pt"
    out.parent.mkdir()
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_text("the user's file")
    if kind == "char device":
        out = Path(os.devnull)  # as root, replacing it would break the machine
    elif kind == "fifo":
        os.mkfifo(out)
    elif kind == "dangling link":
        out.symlink_to(tmp_path / "out" / "missing.pt")
    else:
        target = elsewhere if kind == "link out" else out.parent / "real.pt"
        target.write_text("the user's file")
        out.symlink_to(target)
    before = os.lstat(out)
    refused("info", ckpt, "--indices", out, "--classes", "3", "--force", inputs=[ckpt, elsewhere],
            folder=tmp_path / "out", says=["-o/--out"])
    after = os.lstat(out)
    assert (after.st_mode, after.st_ino) == (before.st_mode, before.st_ino)


def test_the_writer_itself_refuses_what_is_not_a_regular_file(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(DauError, match="not a regular file"):
        write(tmp_path / "pipe", lambda f: f.write(b"x"), force=True)
    (tmp_path / "link").symlink_to(tmp_path / "pipe")
    with pytest.raises(DauError, match="is a link"):
        write(tmp_path / "link", lambda f: f.write(b"x"), force=True)
