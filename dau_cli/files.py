"""The files a command reads and writes: inputs must exist, outputs never replace an input, nor an
existing file without --force. Torch-free, so a command refuses a bad path in well under a second,
before it imports torch."""

from __future__ import annotations

from pathlib import Path

from dau_cli.errors import DauError


def check_input(path: str | Path, fix: str) -> Path:
    """`path` if it is a file; else one line saying so and how to `fix` it."""
    path = Path(path)
    if path.is_dir():
        raise DauError(f"{path} is a folder, not a file; {fix}")
    if not path.is_file():
        raise DauError(f"{path} does not exist; {fix}")
    return path


def check_checkpoint(path: str | Path, fix: str | None = None) -> Path:
    """A checkpoint path that exists; `fix` says how to make one (default: `dau train`)."""
    return check_input(path, fix or f"train one with `dau train -o {path}`")


def check_output(out: str | Path, inputs: list[str | Path], force: bool) -> Path:
    """Refuse to overwrite an input ever, or an existing file without --force."""
    out = Path(out)
    for i in inputs:
        if out.resolve() == Path(i).resolve():
            raise DauError(f"refusing to overwrite the input {i}; choose another -o/--out")
    if out.exists() and not force:
        raise DauError(f"{out} already exists; pass --force to replace it, or choose another -o/--out")
    if not out.parent.exists():
        raise DauError(f"the folder {out.parent} does not exist; create it or choose another -o/--out")
    return out
