"""Start-up: the CLI imports without torch, `--help` works, and the recipe commands list every preset."""

from __future__ import annotations

import subprocess
import sys

from dau_cli.config import list_recipes


def python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def test_importing_the_cli_does_not_import_torch():
    done = python("import dau_cli.cli, sys; assert 'torch' not in sys.modules, 'torch was imported'")
    assert done.returncode == 0, done.stderr


def test_help_of_every_command_does_not_import_torch():
    done = python(
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from dau_cli.cli import app\n"
        "for args in (['--help'], ['train', '--help'], ['info', '--help'], ['runs', 'ls', '--help'], ['recipes', 'ls']):\n"
        "    r = CliRunner().invoke(app, args)\n"
        "    assert r.exit_code == 0, (args, r.output)\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    assert done.returncode == 0, done.stderr


def test_dau_help_lists_the_commands():
    done = subprocess.run([sys.executable, "-m", "dau_cli", "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    for command in ("train", "info", "runs", "recipes"):
        assert command in done.stdout


def test_train_help_gives_examples(dau):
    result = dau("train", "--help")
    assert result.exit_code == 0 and "Examples" in result.stdout and "--set" in result.stdout


def test_recipes_ls_lists_every_recipe(dau):
    result = dau("recipes", "ls")
    assert result.exit_code == 0, result.output
    for name in list_recipes():
        assert name in result.stdout


def test_recipes_show_prints_every_key(dau):
    result = dau("recipes", "show", "digits-cnn")
    assert result.exit_code == 0, result.output
    assert "train.lr" in result.stdout and "model.width" in result.stdout and "data.split_seed" in result.stdout


def test_recipes_show_unknown(dau, user_error):
    line = user_error(dau("recipes", "show", "imagenet-vit"))
    assert "imagenet-vit" in line and "digits-cnn" in line
