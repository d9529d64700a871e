"""Group 9: compare's inputs are checked: seed lists, and cell files that parse but hold no cell."""

from __future__ import annotations

import json

import pytest

FAST = ("--methods", "ft", "--set", "ft.epochs=1", "--set", "retrain.epochs=1")


@pytest.mark.parametrize("seeds, says", [
    ("", "takes a count"), (",", "lists no seed"), ("0,0", "repeats 0"), ("1,2,1", "repeats 1"),
    ("0", "at least 1 seed"), ("-2", "at least 1 seed"), ("0,-1", "0 or more"), ("a,b", "takes a count"),
    ("100000", "at most 1000"),
])
def test_bad_seed_lists(refused, ckpt, tmp_path, seeds, says):
    refused("compare", ckpt, "--classes", "3", *FAST, "--seeds", seeds, "-o", tmp_path / "cmp", inputs=[ckpt],
            says=[says])


def test_cell_files_that_do_not_hold_a_cell_are_refused(dau, refused, ckpt, tmp_path):
    folder = tmp_path / "cmp"
    first = dau("compare", ckpt, "--classes", "3", *FAST, "--seeds", "1", "-o", folder, "--json")
    assert first.exit_code == 0, first.output
    cell = next(folder.glob("cells/dense-ft-seed0-*.json"))
    good = json.loads(cell.read_text())
    for content, says in ((b"[1, 2, 3]", "not a JSON object"), (b"{}", "made for other settings"),
                          (json.dumps({**good, "ua": "high"}).encode(), "its ua is not a number"),
                          (json.dumps({k: v for k, v in good.items() if k != "ra"}).encode(), "its ra is not a number"),
                          (b"\xff\xfe not text", "unreadable")):
        cell.write_bytes(content)
        refused("compare", ckpt, "--classes", "3", *FAST, "--seeds", "1", "-o", folder, inputs=[ckpt, cell],
                folder=folder, says=[f"cell file {cell}", says, "delete it"])


def test_a_folder_of_the_users_files_is_refused_before_any_cell(dau, refused, ckpt, tmp_path):
    """The user's own compare.md / compare.json (and other files) stay byte-identical; a rerun into
    compare's own folder is fine; --force writes there on purpose."""
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "compare.md").write_text("my notes on the comparison")
    (folder / "compare.json").write_text('{"my": "data"}')
    refused("compare", ckpt, "--classes", "3", *FAST, "--seeds", "1", "-o", folder,
            inputs=[ckpt, folder / "compare.md", folder / "compare.json"], folder=folder,
            says=["compare did not write", "--force"])
    (folder / "compare.json").unlink()
    (folder / "notes.txt").write_text("x")
    refused("compare", ckpt, "--classes", "3", *FAST, "--seeds", "1", "-o", folder, inputs=[folder / "notes.txt"],
            folder=folder, says=["notes.txt"])
    a_file = tmp_path / "cmp.txt"
    a_file.write_text("a file, not a folder")
    refused("compare", ckpt, "--classes", "3", *FAST, "--seeds", "1", "-o", a_file, inputs=[a_file],
            says=["-o takes a folder"])


@pytest.mark.parametrize("methods, says", [
    ("ft[ft.no_such_key=1]", ["--methods ft[ft.no_such_key=1]", "unknown key 'ft.no_such_key'", "valid keys"]),
    ("ft[ga.lr=0.1]", ["ft reads only [ft] settings, not ga.lr"]),  # a key the method does not read
    ("ft[train.lr=0.1]", ["ft reads only [ft] settings, not train.lr"]),
    ("ft[ft.lr=-1]", ["ft.lr must be above 0", "--methods ft[ft.lr=-1]"]),
    ("ft[ft.epochs=two]", ["'ft.epochs' needs a int", "--methods ft[ft.epochs=two]"]),
    ("ft[ft.lr]", ["'ft.lr' in 'ft[ft.lr]' needs KEY=VALUE"]),
    ("ft[]", ["is not METHOD[KEY=VALUE,...]"]), ("ft[ft.lr=0.1", ["a bracket is left open"]),
    ("ft]", ["closed twice"]), ("ft,ft", ["names ft twice"]), ("fine[ft.lr=1]", ["unknown method 'fine'"]),
])
def test_bad_method_settings_are_one_line_before_any_work(refused, ckpt, tmp_path, methods, says):
    """A row's settings are checked as --set checks them, before torch loads and before any cell."""
    refused("compare", ckpt, "--classes", "3", "--methods", methods, "--seeds", "1", "-o", tmp_path / "cmp",
            inputs=[ckpt], says=says)
    assert not (tmp_path / "cmp").exists()
