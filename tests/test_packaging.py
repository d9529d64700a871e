"""The built wheel: it carries the recipes and the dashboard inside `dau_cli`, and no top-level `tui`."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
                   check=True, capture_output=True)
    return next(out.glob("dau-*.whl"))


def test_wheel_ships_every_recipe_inside_the_package(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    recipes = sorted(p.name for p in (ROOT / "recipes").glob("*.toml"))
    assert recipes
    for name in recipes:
        assert f"dau_cli/recipes/{name}" in names, name
    assert "dau_cli/cli/__init__.py" in names


def test_wheel_installs_the_dashboard_as_dau_cli_tui_and_no_top_level_tui(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"dau_cli"}, tops
    sources = sorted(p.relative_to(ROOT / "tui").as_posix() for p in (ROOT / "tui").rglob("*.py"))
    for name in sources:
        assert f"dau_cli/tui/{name}" in names, name


def test_the_installed_wheel_finds_its_dashboard(wheel, tmp_path):
    """Unpacked alone on the path (no source checkout), `dau tui`'s loader finds dau_cli.tui."""
    target = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(target)
    code = ("import sys; from dau_cli.cli.tui import dashboard; app = dashboard('app'); "
            "launch = dashboard('launch'); "
            "assert app.__name__ == 'dau_cli.tui.app', app.__name__; "
            "assert app.__file__.startswith(sys.argv[1]), app.__file__; "
            "assert 'tui' not in sys.modules; assert 'torch' not in sys.modules")
    done = subprocess.run([sys.executable, "-c", code, str(target)], cwd=tmp_path, capture_output=True, text=True,
                          env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"}, timeout=120)
    assert done.returncode == 0, done.stderr
