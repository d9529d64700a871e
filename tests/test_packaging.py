"""The wheel carries the recipes, so a non-editable install finds them."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_ships_every_recipe_inside_the_package(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
                   check=True, capture_output=True)
    wheel = next(tmp_path.glob("dau-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    recipes = sorted(p.name for p in (ROOT / "recipes").glob("*.toml"))
    assert recipes
    for name in recipes:
        assert f"dau_cli/recipes/{name}" in names, name
    assert "tui/app.py" in names and "dau_cli/cli/__init__.py" in names
