"""Shared fixtures for the dashboard tests: a private DAU_HOME and the recorded runs."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from tui_helpers import FIXTURES

@pytest.fixture(autouse=True)
def dau_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own DAU_HOME, and UTC so drawn start times do not depend on the host."""
    home = tmp_path / "dau-home"
    (home / "runs").mkdir(parents=True)
    monkeypatch.setenv("DAU_HOME", str(home))
    monkeypatch.delenv("DAU_RUN_ID", raising=False)
    old_tz = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield home
    if old_tz is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = old_tz
    time.tzset()


@pytest.fixture
def runs(dau_home: Path) -> Path:
    """The recorded runs, copied into DAU_HOME/runs so tests may change them."""
    root = dau_home / "runs"
    for d in FIXTURES.iterdir():
        shutil.copytree(d, root / d.name)
    return root
