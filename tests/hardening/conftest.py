"""What every hardening test checks about a refused command (issue #13's contract).

`refused(*args, inputs=..., folder=..., says=...)` runs the CLI in-process and asserts: exit code
2, exactly one line on stderr starting with `error:`, no traceback, every input byte-for-byte
unchanged (sha256 before and after), no new or removed file in `folder` (hidden ones included),
and each of `says` in the line. It returns the line.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest


def digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def listing(folder: Path | None) -> list[str]:
    if folder is None or not Path(folder).is_dir():
        return []
    return sorted(str(p.relative_to(folder)) for p in Path(folder).rglob("*"))


@pytest.fixture
def ckpt(tiny_ckpt: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny checkpoint in the test's own folder."""
    path = tmp_path / "model.pt"
    shutil.copy(tiny_ckpt, path)
    return path


@pytest.fixture
def refused(dau: Callable, user_error: Callable, tmp_path: Path) -> Callable:
    def run(*args, inputs: Iterable[Path] = (), folder: Path | None = None, says: Iterable[str] = ()) -> str:
        folder = tmp_path if folder is None else folder
        inputs = [Path(p) for p in inputs]
        hashes = {p: digest(p) for p in inputs}
        before = listing(folder)
        line = user_error(dau(*args))
        for word in says:
            assert word in line, line
        assert {p: digest(p) for p in inputs} == hashes, "an input was modified"
        assert listing(folder) == before, f"files changed in {folder}: {line}"
        return line

    return run
