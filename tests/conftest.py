"""Fixtures every test file may use.

- `dau_home` (autouse): DAU_HOME points at a fresh temporary folder, so no test writes runs or
  data into the user's home.
- `tiny_ckpt` (session): a digits + cnn (width 8, 2 epochs) checkpoint trained once through the
  engine, in about a second; read it, never write to it (copy it first).
- `micro` (session): a smaller one, in memory, whose recipe trains a reference in under a second.
- `dau`: runs the CLI in-process and returns the result, with stdout and stderr kept apart.
- `user_error`: checks a result against the CLI's contract for a user mistake and returns the line.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

# Tests train tiny models, which gain nothing from a second intra-op thread; beside other jobs on
# a 2-core machine two spinning OpenMP threads made one ~1 s training take ~40 s. Set before torch
# is imported, inherited by subprocesses; an explicit OMP_NUM_THREADS wins.
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(autouse=True)
def dau_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path_factory.mktemp("dau_home")
    monkeypatch.setenv("DAU_HOME", str(home))
    monkeypatch.delenv("DAU_RUN_ID", raising=False)  # a parent dashboard's run name must not leak in
    return home


# Small batches: 82 steps instead of 22 for the same image passes, ~90 % test accuracy instead of ~20 %.
TINY_TRAIN = {"model.width": 8, "train.epochs": 2, "train.batch_size": 32, "train.lr": 0.1, "train.device": "cpu"}


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real checkpoint of a small digits model that has learned (~90 % test accuracy), trained once."""
    from dau_cli.config import resolve
    from dau_cli.engine.checkpoint import save_checkpoint
    from dau_cli.engine import operations
    from dau_cli.runs import EventSink

    folder = tmp_path_factory.mktemp("tiny_ckpt")
    with pytest.MonkeyPatch.context() as mp:  # session-scoped, so it cannot use the autouse fixture
        mp.setenv("DAU_HOME", str(folder))
        ckpt = operations.train(resolve(overrides=TINY_TRAIN), EventSink()).checkpoint
        return save_checkpoint(ckpt, folder / "digits-cnn-tiny.pt")


@pytest.fixture(scope="session")
def micro(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A digits checkpoint (in memory) whose recipe trains a reference model in well under a second
    (1 epoch, width 4): for the reference bank's tests. Read it, never change it."""
    from dau_cli.config import resolve
    from dau_cli.engine import operations
    from dau_cli.runs import EventSink

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DAU_HOME", str(tmp_path_factory.mktemp("micro")))
        ckpt = operations.train(resolve(overrides={"model.width": 4, "train.epochs": 1, "train.batch_size": 64,
                                                      "train.device": "cpu"}), EventSink()).checkpoint
    return ckpt


@pytest.fixture
def dau() -> Callable:
    """`dau("info", path, "--json")` -> click Result with .exit_code, .stdout, .stderr, .exception."""
    from typer.testing import CliRunner

    from dau_cli.cli import app

    runner = CliRunner()

    def invoke(*args: str | Path):
        return runner.invoke(app, [str(a) for a in args])

    return invoke


@pytest.fixture
def user_error() -> Callable:
    """`user_error(dau(...))` asserts exit code 2, exactly one line on stderr, no traceback; returns the line."""

    def check(result) -> str:
        lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
        assert result.exit_code == 2, result.output
        assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
        assert "Traceback" not in result.output
        return lines[0]

    return check


@pytest.fixture(scope="session")
def ray_local(tmp_path_factory: pytest.TempPathFactory):
    """One local Ray instance with 2 CPUs, started as `--ray --workers 2` starts it, for every test
    that needs it (skipped without Ray). Yields the executor. Its workers keep the environment of
    its start, so their runs go to a DAU_HOME of their own, never the caller's."""
    ray = pytest.importorskip("ray")
    from dau_cli.engine.jobs import make_executor

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DAU_HOME", str(tmp_path_factory.mktemp("ray_home")))
        executor = make_executor(workers=2, ray=True)
    yield executor
    ray.shutdown()


@pytest.fixture
def tamper_steppers(monkeypatch):
    """Every train.Stepper the tamper tests (engine/tamper.py) create from here on, in order."""
    from dau_cli.engine import tamper

    made = []

    class Spy(tamper.Stepper):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(tamper, "Stepper", Spy)
    return made


def pytest_collection_modifyitems(config, items):
    """With pytest-xdist (the suite runs in 2 processes): the README's commands, the longest test by
    far, start first, so the other process works through the rest meanwhile; the tests that share
    the one local Ray instance run in the same process, one after another."""
    items.sort(key=lambda item: 0 if item.path.name == "test_readme.py" else 1)  # stable: the rest keep their order
    for item in items:
        if "ray_local" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("ray"))
