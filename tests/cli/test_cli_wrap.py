"""Prose on a terminal word-wraps at its width; in a pipe a line stays one line, with no trailing
spaces (no 80-column hard wrap)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

from dau_cli.cli.common import make_console


def piped(home: Path, *args: str) -> subprocess.CompletedProcess:
    """`dau ARGS` with stdout and stderr both pipes, as in `dau ... | grep` or a CI log."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "FORCE_COLOR", "TTY_COMPATIBLE")}
    return subprocess.run([sys.executable, "-m", "dau_cli", *args], env={**env, "DAU_HOME": str(home)},
                          capture_output=True, text=True, timeout=120)


def long_home(tmp_path: Path) -> Path:
    home = tmp_path / ("a folder name with words in it " * 4).strip()  # 120+ characters, with spaces to break at
    home.mkdir()
    return home


def test_a_long_note_on_stderr_arrives_whole_through_a_pipe(tmp_path):
    home = long_home(tmp_path)
    r = piped(home, "runs", "ls")
    assert r.returncode == 0, r.stderr
    assert r.stderr.splitlines() == [f"no runs in {home / 'runs'}"]


def test_a_long_line_on_stdout_arrives_whole_through_a_pipe(tmp_path):
    home = long_home(tmp_path)
    run = home / "runs" / "20260101-120000-train-000001"
    run.mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({
        "schema": 1, "id": run.name, "command": "train", "argv": ["dau", "train"], "config": {}, "pid": 1,
        "host": "elsewhere", "device": "cpu", "status": "completed", "started": 1.7e9, "ended": 1.7e9 + 5,
        "summary": {}, "outputs": {}}))
    r = piped(home, "runs", "ls")
    assert r.returncode == 0, r.stderr
    first = r.stdout.splitlines()[0]
    assert first == f"runs in {home / 'runs'}"
    assert not any(line != line.rstrip() for line in r.stdout.splitlines()[:1] + r.stderr.splitlines())


def test_on_a_terminal_prose_word_wraps_at_its_width():
    screen = io.StringIO()
    console = make_console(file=screen, force_terminal=True, width=60, color_system=None)
    prose = " ".join(f"word{i}" for i in range(40))  # about 270 characters
    console.print(prose)
    lines = screen.getvalue().splitlines()
    assert len(lines) > 2 and all(len(line) <= 60 for line in lines)
    assert " ".join(lines).split() == prose.split()  # broken between words, never inside one


def test_a_console_that_is_not_a_terminal_never_wraps():
    screen = io.StringIO()
    console = make_console(file=screen, width=60)
    prose = " ".join(f"word{i}" for i in range(40))
    console.print(prose)
    assert screen.getvalue() == prose + "\n"
