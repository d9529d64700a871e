"""Group 8: user text (paths and names with square brackets) is printed as it is, never read as markup."""

from __future__ import annotations

from dau_cli.cli.common import err
from dau_cli.cli.progress import ProgressView


def test_an_error_prints_a_bracketed_path_literally(refused, tmp_path):
    missing = tmp_path / "[bold]model[/bold].pt"
    line = refused("info", missing)
    assert "[bold]model[/bold].pt" in line


def test_a_bracketed_recipe_name_is_printed_literally(refused, tmp_path):
    line = refused("train", "--recipe", "[red]x[/red]", "-o", tmp_path / "m.pt")
    assert "'[red]x[/red]'" in line


def test_a_section_name_in_an_error_is_not_eaten_as_a_style(refused, ckpt, tmp_path):
    line = refused("forget", ckpt, "--classes", "3", "--method", "ft", "--set", "ga.epochs=1", "-o", tmp_path / "f.pt")
    assert "[ga]" in line and "[ft]" in line


def test_a_logged_warning_with_brackets_is_printed_literally():
    view = ProgressView(err)
    with err.capture() as cap:
        view({"type": "log", "level": "warning", "message": "file [dim]x[/dim].pt looks odd"})
    assert "file [dim]x[/dim].pt looks odd" in cap.get()


def test_markup_in_a_checkpoints_own_text_is_printed_literally(dau, tiny_ckpt, tmp_path):
    import torch

    ckpt = torch.load(tiny_ckpt, weights_only=True)
    ckpt["metrics"] = {"[/]": 1.0, "note": "[bold red]x"}
    ckpt["lineage"][0]["device"] = "[/cpu]"
    torch.save(ckpt, tmp_path / "odd.pt")
    result = dau("info", tmp_path / "odd.pt")
    assert result.exit_code == 0, result.output
    assert "[/]" in result.stdout and "[bold red]x" in result.stdout and "[/cpu]" in result.stdout


def test_control_characters_in_a_path_stay_one_line_and_never_reach_the_terminal(refused, tmp_path):
    """A newline in a path would make the error three lines; an escape sequence would recolour or
    clear the user's terminal. Both are shown as escapes."""
    name = tmp_path / "a\nb\x1b[2J.pt"
    line = refused("info", name, says=["a\\nb\\x1b[2J.pt", "does not exist"])
    assert "\x1b[2J" not in line


def test_a_long_file_name_the_file_system_takes_is_written(tiny_ckpt, tmp_path, dau):
    out = tmp_path / ("x" * 250 + ".txt")
    r = dau("info", tiny_ckpt, "--indices", out, "--classes", "3")
    assert r.exit_code == 0 and out.is_file(), r.output
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no temporary file left
