"""`dau tui` as a typer command: cheap to import, resolves its run argument, opens the app."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from dau_cli.errors import DauError
from tui_helpers import AUDIT_ID, DEMO_ID, FAILED_ID, FORGET_ID

REPO = Path(__file__).resolve().parents[2]
COMMAND_FILE = REPO / "dau_cli" / "cli" / "tui.py"


def load_command():
    # by file, so this tests our module and not whatever dau_cli/cli/__init__.py imports
    spec = importlib.util.spec_from_file_location("dau_tui_command", COMMAND_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch):
    """A typer app with `tui` registered the way dau_cli.cli does it; the dashboard is not run."""
    module = load_command()
    opened = []
    from tui.app import DauDashboard

    monkeypatch.setattr(DauDashboard, "run", lambda self, *a, **k: opened.append(self))
    monkeypatch.setattr(module, "has_terminal", lambda: True)
    app = typer.Typer()
    app.command("tui")(module.tui)
    app.command("other")(lambda: None)  # so that `tui` stays a subcommand, as in dau
    return app, opened


def test_importing_the_command_pulls_in_neither_textual_nor_torch():
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('m', {str(COMMAND_FILE)!r})\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        "assert callable(m.tui)\n"
        "bad = [n for n in ('textual', 'torch', 'textual_plotext') if n in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, env={"PYTHONPATH": str(REPO)})


def test_the_dashboard_never_imports_torch():
    code = "import sys, tui.app, tui.launch, tui.screens.run; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, env={"PYTHONPATH": str(REPO)})


def test_no_argument_opens_the_runs_list(cli, runs: Path):
    app, opened = cli
    result = CliRunner().invoke(app, ["tui", "--no-follow", "--interval", "0.25"])
    assert result.exit_code == 0, result.output
    (dash,) = opened
    assert dash.runs_root == runs and dash.initial_run is None
    assert dash.follow is False and dash.poll_interval == 0.25


@pytest.mark.parametrize(
    "arg, expected",
    [(FORGET_ID, FORGET_ID), ("20250102-0930", FAILED_ID), ("latest", DEMO_ID)],
)
def test_a_run_by_id_prefix_or_latest(cli, runs: Path, arg: str, expected: str):
    app, opened = cli
    result = CliRunner().invoke(app, ["tui", arg])
    assert result.exit_code == 0, result.output
    assert opened[0].initial_run == runs / expected


def test_a_run_by_path_and_another_home(cli, runs: Path, tmp_path: Path):
    app, opened = cli
    result = CliRunner().invoke(app, ["tui", str(runs / AUDIT_ID), "--home", str(tmp_path / "elsewhere")])
    assert result.exit_code == 0, result.output
    assert opened[0].initial_run == (runs / AUDIT_ID).resolve()
    assert opened[0].runs_root == tmp_path / "elsewhere" / "runs"


@pytest.mark.parametrize("arg, message", [("nope", "no run 'nope'"), ("20250102", "matches 4 runs")])
def test_unknown_or_ambiguous_runs_are_a_user_error(cli, runs: Path, arg: str, message: str):
    app, opened = cli
    result = CliRunner().invoke(app, ["tui", arg], env={"COLUMNS": "200"})
    assert result.exit_code == 2  # one line on stderr, as for every dau command
    assert message in result.stderr and "Traceback" not in result.output
    assert not opened


def test_resolve_run_raises_dau_error(runs: Path):
    module = load_command()
    with pytest.raises(DauError, match="no run 'nope'"):
        module.resolve_run("nope", runs)
    with pytest.raises(DauError, match="no runs in"):
        module.resolve_run("latest", runs.parent / "empty")


def test_help_has_examples(cli):
    app, _ = cli
    result = CliRunner().invoke(app, ["tui", "--help"], env={"COLUMNS": "120", "TERMINAL_WIDTH": "120"})
    assert result.exit_code == 0
    assert "Examples" in result.output and "dau tui latest" in result.output and "--no-follow" in result.output


def test_without_a_terminal_it_says_so_and_exits(runs: Path):
    """Piped or in a script, the dashboard would wait forever for keys: one line, exit 2."""
    module = load_command()
    app = typer.Typer()
    app.command("tui")(module.tui)
    app.command("other")(lambda: None)
    result = CliRunner().invoke(app, ["tui", "--no-follow"])
    assert result.exit_code == 2 and "needs a terminal" in result.output


@pytest.mark.parametrize("args", [
    ["train", "--epochs", "1", "-o", "{tmp}/m.pt"],
    ["audit", "{ckpt}", "--classes", "3", "--references", "4"],
    ["compare", "{ckpt}", "--classes", "3", "--methods", "ft", "--seeds", "1", "-o", "{tmp}/cmp"],
    ["forget", "{ckpt}", "--classes", "3", "-o", "{tmp}/f.pt"],
])
def test_long_jobs_can_be_launched_and_watched_with_tui(dau, tiny_ckpt, tmp_path, monkeypatch, args):
    """`--tui` on train, audit, compare and forget: after the cheap checks, the same command
    (without --tui) goes to the dashboard's launcher, and this process does no work itself."""
    import importlib
    import types

    from dau_cli.runs import runs_dir

    cli_tui = importlib.import_module("dau_cli.cli.tui")  # the module; `dau_cli.cli.tui` the attribute is the command

    args = [a.replace("{tmp}", str(tmp_path)).replace("{ckpt}", str(tiny_ckpt)) for a in args]
    launched = []
    fake = types.SimpleNamespace(follow_child=lambda argv: launched.append(argv) or 0)
    monkeypatch.setattr(cli_tui, "dashboard", lambda name: fake)
    monkeypatch.setattr(sys, "argv", ["dau", *args, "--tui"])
    r = dau(*args, "--tui")
    assert r.exit_code == 0, r.output
    assert launched == [args]
    assert not runs_dir().exists() or not list(runs_dir().iterdir())
