"""The CLI follows its ecosystem: --version, -h, completion, --quiet, --method as a choice with
`dau methods`, help that reflows, --json on every command that prints a result, and mistakes in
paths or names reported before torch is imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FAST = ["--set", "ft.epochs=1"]


def test_version_is_the_packages(dau):
    r = dau("--version")
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"].get("version")
    from dau_cli import __version__

    assert r.exit_code == 0 and r.stdout.strip() == f"dau {__version__}"
    assert version is None or version == __version__  # one source: the package's __version__


@pytest.mark.parametrize("args", [["-h"], ["forget", "-h"], ["runs", "ls", "-h"], ["recipes", "-h"]])
def test_dash_h_is_help(dau, args):
    r = dau(*args)
    assert r.exit_code == 0 and "Usage: dau" in r.stdout and "-h, --help" in r.stdout


def test_completion_is_on_and_completes_commands_and_methods():
    from typer.testing import CliRunner

    from dau_cli.cli import app

    runner = CliRunner()
    shown = runner.invoke(app, ["--show-completion", "bash"], prog_name="dau")
    assert shown.exit_code == 0 and "_DAU_COMPLETE" in shown.stdout

    def complete(line: str) -> list[str]:
        words = line.split(" ")
        env = {"_DAU_COMPLETE": "complete_bash", "COMP_WORDS": line, "COMP_CWORD": str(len(words) - 1)}
        r = runner.invoke(app, [], prog_name="dau", env=env)
        return r.stdout.split()

    assert "forget" in complete("dau fo")
    assert set(complete("dau forget x.pt --method s")) >= {"salun", "scrub"}


def test_methods_lists_each_method_in_one_line_and_matches_the_engine(dau):
    from dau_cli.engine.unlearn import METHODS as registry
    from dau_cli.methods import METHODS

    assert sorted(METHODS) == sorted(registry)  # the CLI's choices are exactly the registered methods
    r = dau("methods")
    lines = r.stdout.splitlines()
    assert r.exit_code == 0 and len(lines) == len(METHODS)
    for name, line in zip(METHODS, lines):
        assert line.split()[0] == name and len(line) <= 80
    listed = json.loads(dau("methods", "--json").stdout)["methods"]
    assert [m["name"] for m in listed] == list(METHODS)


def test_method_is_a_choice_reported_in_one_line(dau, user_error, tmp_path):
    line = user_error(dau("forget", tmp_path / "x.pt", "--classes", "3", "--method", "magic"))
    assert "unknown method 'magic';" in line and "scrub" in line and "`dau methods`" in line


def test_quiet_leaves_only_the_result(dau, tiny_ckpt, tmp_path):
    out = tmp_path / "f.pt"
    loud = dau("forget", tiny_ckpt, "--classes", "3", "--method", "ft", "-o", out, *FAST)
    assert loud.exit_code == 0 and loud.stderr.strip()  # the class-forgetting note, at least
    quiet = dau("-q", "forget", tiny_ckpt, "--classes", "3", "--method", "ft", "-o", out, "--force", *FAST)
    assert quiet.exit_code == 0, quiet.output
    assert quiet.stderr.strip() == "" and "ft" in quiet.stdout


def help_text(*args: str, columns: int) -> list[str]:
    env = {**os.environ, "COLUMNS": str(columns)}
    done = subprocess.run([sys.executable, "-m", "dau_cli", *args, "-h"], capture_output=True, text=True, env=env,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_help_reflows_to_the_terminal_width():
    narrow, wide = help_text("prune", columns=60), help_text("prune", columns=120)
    examples = {ln for ln in narrow if ln.lstrip().startswith("dau ")}
    assert all(len(ln) <= 60 for ln in narrow if ln not in examples), [ln for ln in narrow if len(ln) > 60]
    # the description is one paragraph, rewrapped: fewer lines when wide, and no sentence broken early
    first = lambda lines: next(i for i, ln in enumerate(lines) if ln.strip().startswith("Masks"))  # noqa: E731
    assert wide[first(wide)].strip().startswith("Masks are stored in the checkpoint and re-applied after every optimiser step")
    assert len(narrow) > len(wide)


@pytest.mark.parametrize("args", [["recipes", "ls"], ["recipes", "show", "digits-cnn"], ["methods"], ["runs", "ls"]])
def test_every_listing_has_json(dau, args):
    r = dau(*args, "--json")
    assert r.exit_code == 0, r.output
    assert isinstance(json.loads(r.stdout), dict)


def run_without_torch(tmp_path: Path, *argv: str) -> str:
    """Run `dau argv` in a fresh interpreter; assert a one-line user error with torch never imported."""
    code = ("import sys\n"
            "from dau_cli.cli import main\n"
            f"sys.argv = ['dau', *{list(argv)!r}]\n"
            "try:\n    main()\n"
            "except SystemExit as e:\n    code = e.code\n"
            "assert code == 2, code\n"
            "assert 'torch' not in sys.modules, 'torch was imported before the error'\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), done.stderr
    return lines[0]


def test_path_mistakes_are_reported_before_torch_is_imported(tmp_path):
    (tmp_path / "model.pt").write_bytes(b"not read")
    (tmp_path / "model-forget-dau-class3.pt").write_bytes(b"exists")
    (tmp_path / "model-omp90.pt").write_bytes(b"exists")
    assert "does not exist" in run_without_torch(tmp_path, "forget", "missing.pt", "--classes", "3")
    assert "already exists" in run_without_torch(tmp_path, "forget", "model.pt", "--classes", "3")
    assert "exactly one of" in run_without_torch(tmp_path, "forget", "model.pt", "--classes", "3", "--random", "0.1")
    assert "nope.txt does not exist" in run_without_torch(tmp_path, "forget", "model.pt", "--indices", "nope.txt")
    assert "already exists" in run_without_torch(tmp_path, "prune", "model.pt", "-s", "0.9")
    assert "does not exist" in run_without_torch(tmp_path, "info", "missing.pt")
    assert "already exists" in run_without_torch(tmp_path, "train", "-o", "model.pt")
    assert "--method retrain" in run_without_torch(tmp_path, "audit", "model.pt", "--reference", "retrained.pt")
    assert "unknown method 'magic'" in run_without_torch(tmp_path, "compare", "model.pt", "-c", "3", "--methods", "dau,magic")


def test_every_recipe_loads_and_the_forgetting_presets_set_what_they_say():
    from dau_cli.config import list_recipes, read_recipe, resolve

    for name in list_recipes():
        resolve(name)  # every key known and in range
    assert resolve("forget-class")["dau"].repair_lr == 0.02 and resolve("forget-random")["dau"].sample_epochs == 5
    for name in ("forget-class", "forget-random"):
        header = list_recipes()[name].read_text().splitlines()[1]
        assert header.startswith("# dau forget ") and f"--recipe {name}" in header  # the command that runs it
        assert set(read_recipe(name)) == {"dau"}


def test_recipes_cp_copies_a_preset_to_edit_and_refuses_to_overwrite(dau, user_error, tmp_path):
    from dau_cli.config import list_recipes, resolve

    target = tmp_path / "my-random.toml"
    r = dau("recipes", "cp", "forget-random", target)
    assert r.exit_code == 0, r.output
    assert target.read_text() == list_recipes()["forget-random"].read_text()
    target.write_text(target.read_text().replace("alpha = 0.3", "alpha = 0.5"))
    assert resolve(str(target))["dau"].alpha == 0.5
    assert "already exists" in user_error(dau("recipes", "cp", "forget-random", target))
    assert "unknown recipe" in user_error(dau("recipes", "cp", "nope", tmp_path / "x.toml"))
