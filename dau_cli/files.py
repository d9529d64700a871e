"""The files a command reads and writes, and the one writer every output goes through.

Inputs must exist (`check_input`, `check_checkpoint`; a missing one's line names a file with a
close name in its folder: `near_miss`). Every file dau makes (checkpoints, run
records, plots, compare tables, cells, job results) is written by `write(path, fill, force)`:
`fill(f)` writes into a hidden temporary file beside `path` (`.NAME.PID.TOKEN.tmp`), which is
fsynced and then, without `force`, *linked* to `path`: `os.link` fails if `path` exists, even if
it appeared a moment ago (two `dau forget -o same.pt` at once: one wins, the other gets a one-line
error and writes nothing). With `force` it is renamed over `path` (`os.replace`). The temporary
file is removed in every case and the folder is fsynced. A machine fault (full disk, read-only
folder, no permission) is one `DauError` line.

`check_output` runs the same checks before a command starts its work (never an input, never an
existing file without --force, not a folder, a folder that takes a file: probed), so a job of
minutes never ends in "cannot write". `clean_stale` removes the hidden temporary files of writers
that were killed. Torch-free, so a command refuses a bad path before it imports torch.
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import secrets
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from dau_cli.errors import DauError

#: Hidden temporary files of this writer, `.NAME.PID.TOKEN.tmp` (and of older dau versions:
#: `.NAME.PID.tmp`). NAME is matched lazily, so a TOKEN of six decimal digits is never read as the PID
#: (that once removed a live writer's file).
TEMP = re.compile(r"^\..+?\.(\d+)(\.[0-9a-f]{6})?\.tmp$")
#: A temporary file older than this is stale whatever its pid says (pids are reused).
STALE_AFTER_S = 24 * 3600
#: Bytes the pre-flight probe writes: enough to fail on a full disk without costing anything.
PROBE_BYTES = 64 * 1024


def fault(e: OSError, path: Path, doing: str = "write") -> DauError:
    """An OSError as the one line a user can act on."""
    folder = path.parent
    reasons = {
        errno.ENOSPC: f"no space left on the disk of {folder}; free some space or choose another folder",
        errno.EDQUOT: f"disk quota exceeded in {folder}; free some space or choose another folder",
        errno.EROFS: f"{folder} is on a read-only file system; choose another folder",
        errno.EACCES: f"no permission to {doing} in {folder}; choose a folder you can write to",
        errno.EPERM: f"no permission to {doing} in {folder}; choose a folder you can write to",
        errno.EISDIR: f"{path} is a folder; give a file name",
        errno.ENOTDIR: f"a part of {path.parent} is a file, not a folder; choose another path",
        errno.ENAMETOOLONG: f"the name {path.name[:40]}... is too long for the file system; choose a shorter one",
    }
    reason = reasons.get(e.errno, f"{e.strerror or type(e).__name__} ({folder})")
    return DauError(f"cannot {doing} {path}: {reason}; nothing was written")


def _temp_for(path: Path) -> Path:
    """A hidden name beside `path`; a long name is shortened so the temporary one fits the file
    system's 255 bytes too (clean_stale recognises both)."""
    stem = path.name if len(path.name.encode()) <= 200 else path.name.encode()[:200].decode("utf-8", "ignore")
    return path.with_name(f".{stem}.{os.getpid()}.{secrets.token_hex(3)}.tmp")


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot fsync a directory; the data itself was fsynced
    finally:
        os.close(fd)


def _replaceable(path: Path) -> None:
    """Only a regular file is ever replaced: never a link (dangling or not), a device, FIFO or socket."""
    if path.is_symlink():
        raise DauError(f"{path} is a link; dau writes only regular files: remove the link or choose another "
                       f"-o/--out")
    if os.path.lexists(path) and not stat.S_ISREG(path.lstat().st_mode):
        raise DauError(f"{path} is not a regular file (a folder, device, FIFO or socket); choose another -o/--out")


def write(path: str | Path, fill: Callable[[IO[bytes]], Any], force: bool = False) -> Path:
    """Write `path` atomically through `fill(binary file)`; without `force`, create-or-fail. Only a
    regular file is ever replaced."""
    path = Path(path)
    _replaceable(path)
    tmp = _temp_for(path)
    try:
        with open(tmp, "xb") as f:
            fill(f)
            f.flush()
            os.fsync(f.fileno())
        if force:
            os.replace(tmp, path)
        else:
            _link_or_create(tmp, path)
        _fsync_dir(path.parent)
    except FileExistsError:
        raise DauError(f"{path} appeared while dau was writing it (another command wrote it first); "
                       f"nothing was written: pass --force to replace it, or choose another -o/--out") from None
    except OSError as e:
        raise fault(e, path) from None
    finally:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
        except OSError:
            pass  # the folder became unwritable; clean_stale removes it later
    return path


def _link_or_create(tmp: Path, path: Path) -> None:
    """Give `tmp`'s content the name `path` only if `path` does not exist, atomically."""
    try:
        os.link(tmp, path)
        return
    except FileExistsError:
        raise
    except OSError as e:
        if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
    # No hard links here (e.g. FAT, some network shares): exclusive create, then copy and fsync.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with os.fdopen(fd, "wb") as out, open(tmp, "rb") as src:
            while block := src.read(1 << 20):
                out.write(block)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def write_json(path: str | Path, obj: Any, force: bool = False) -> Path:
    """JSON through the one writer; numpy arrays, tensors and paths become lists and strings."""
    data = (to_json(obj) + "\n").encode()
    return write(path, lambda f: f.write(data), force)


def to_json(obj: Any) -> str:
    """Strict JSON (every reader parses it): NaN and infinities become null."""
    return json.dumps(_finite(json.loads(json.dumps(obj, default=jsonable))), indent=2, allow_nan=False)


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj


def write_text(path: str | Path, text: str, force: bool = False) -> Path:
    data = text.encode()
    return write(path, lambda f: f.write(data), force)


def jsonable(obj: Any) -> Any:
    if hasattr(obj, "tolist"):  # numpy arrays and scalars, torch tensors
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


# ----------------------------------------------------------------------------- before the work


def check_input(path: str | Path, fix: str) -> Path:
    """`path` if it is a file; else one line saying so and how to `fix` it."""
    path = Path(path)
    if path.is_dir():
        raise DauError(f"{path} is a folder, not a file; {fix}")
    if not path.is_file():
        raise DauError(f"{path} does not exist{near_miss(path)}; {fix}")
    return path


MAX_LISTED = 5000  # entries of a folder near_miss looks at: a huge folder costs no more than this


def near_miss(path: Path) -> str:
    """` (did you mean 'DIR/NAME'?)` for a file in `path`'s folder with a close name (one with the
    same suffix first: digit-cnn.pt finds digits-cnn.pt before digit-cnn.toml), or nothing. Lists
    one folder, at most MAX_LISTED entries; hidden files only for a hidden name."""
    from itertools import islice

    from dau_cli.settings import closest

    names = []
    try:
        with os.scandir(path.parent) as entries:
            for entry in islice(entries, MAX_LISTED):
                if (path.name.startswith(".") or not entry.name.startswith(".")) and entry.is_file():
                    names.append(entry.name)
    except OSError:
        return ""
    same = [n for n in names if Path(n).suffix == path.suffix]
    found = closest(path.name, same) or closest(path.name, names)
    return f" (did you mean '{path.with_name(found[0])}'?)" if found else ""


def check_checkpoint(path: str | Path, fix: str | None = None) -> Path:
    """A checkpoint path that exists; `fix` says how to make one (default: `dau train`)."""
    return check_input(path, fix or f"train one with `dau train -o {path}`")


def check_output(out: str | Path, inputs: list[str | Path] = (), force: bool = False,
                   need_bytes: int = 0) -> Path:
    """Everything that would stop `write(out)` later, checked now: never an input, never an existing
    file without --force, not a folder, the folder exists and takes a file (probed), enough space."""
    out = Path(out)
    for i in inputs:
        if out.resolve() == Path(i).resolve():
            raise DauError(f"refusing to overwrite the input {i}; choose another -o/--out")
    if out.is_dir() and not out.is_symlink():
        raise DauError(f"{out} is a folder; give a file name for the output, e.g. -o {out / 'model.pt'}")
    _replaceable(out)
    if out.exists() and not force:
        raise DauError(f"{out} already exists; pass --force to replace it, or choose another -o/--out")
    folder = out.parent
    if not folder.exists():
        raise DauError(f"the folder {folder} does not exist; create it or choose another -o/--out")
    if not folder.is_dir():
        raise DauError(f"{folder} is a file, not a folder; choose another -o/--out")
    clean_stale(folder)
    probe(folder, out, need_bytes)
    return out


def probe(folder: Path, out: Path, need_bytes: int = 0) -> None:
    """Write and remove a small hidden file in `folder`: read-only, permission and full-disk faults
    show now. `need_bytes` more than the free space is refused too."""
    tmp = _temp_for(out)
    try:
        with open(tmp, "xb") as f:
            f.write(b"\0" * PROBE_BYTES)
            f.flush()
            os.fsync(f.fileno())
        if need_bytes:
            st = os.statvfs(folder)
            free = st.f_bavail * st.f_frsize
            if free < need_bytes:
                raise DauError(f"cannot write {out}: it needs about {need_bytes / 1e6:.1f} MB and {folder} has "
                               f"{free / 1e6:.1f} MB free; free some space or choose another folder")
    except OSError as e:
        raise fault(e, out) from None
    finally:
        try:
            tmp.unlink()
        except OSError:
            pass


def clean_stale(folder: str | Path) -> list[Path]:
    """Remove hidden temporary files left by writers that died; returns what was removed."""
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        m = TEMP.match(entry.name)
        if not m or not entry.is_file(follow_symlinks=False):
            continue
        try:
            age = now - entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        if age > STALE_AFTER_S or not pid_alive(int(m.group(1))):
            try:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
            except OSError:
                pass
    return removed


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this machine."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. another user's process: it exists
        return True
    return True
