"""Atomic file writers: write to a temporary file in the same folder, then rename.

Guarantees (docs/limits.md, "Outputs"):

- one file (:func:`atomic_open`, :func:`write_csv`, :func:`write_json`): a run killed
  mid-write leaves either the old file or none, never half a file;
- a set of files (:class:`OutputSet`): every file is first written completely to a
  temporary file beside its target; only when all are written are they renamed into place,
  in order (the manifest last). A failure while writing (a full disk, say) removes the
  temporary files and leaves the previous set untouched. Should a rename itself fail (it
  needs no space, so this is rare), the files already renamed are restored from hard-linked
  backups when the file system supports them;
- files get the usual permissions, ``0o666`` less the process umask (``mkstemp`` alone
  would make them private);
- every ``OSError`` while writing becomes an :class:`~hyperdrive_sim.errors.OutputError`
  (exit 2) saying which file could not be written, why, and what to do.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import hashlib
import json
import math
import os
import re
import socket
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from hyperdrive_sim.errors import OutputError
from hyperdrive_sim.limits import MAX_NAME_CHARS

#: what the user can do about an OSError, by errno
_HINTS = {
    errno.ENOSPC: "free some space or choose another folder with --out",
    errno.EDQUOT: "free some space or choose another folder with --out",
    errno.EROFS: "choose another folder with --out",
    errno.EACCES: "choose a folder you may write to with --out",
    errno.EPERM: "choose a folder you may write to with --out",
    errno.ENAMETOOLONG: "choose a shorter name with --out",
    errno.ENOTDIR: "a part of the path is a file, not a folder; choose another folder with --out",
    errno.EEXIST: "it exists and is not a folder; choose another folder with --out",
    errno.EISDIR: "a folder is in the way; remove it or choose another folder with --out",
}
TEMP_SUFFIX = ".tmp"


def _short(text: str, keep: int = 80) -> str:
    """A path shortened for a one-line message (start and end kept)."""
    return text if len(text) <= keep else f"{text[: keep // 2]}...{text[-keep // 2 :]}"


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows (Linux /proc)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore (not thread-safe, but brief)
    os.umask(mask)
    return mask


def output_error(exc: OSError, path: Path | str, action: str = "write") -> OutputError:
    """``exc`` as a one-line OutputError: ``FOLDER: cannot write NAME: reason; what to do``."""
    path = Path(path)
    reason = (exc.strerror or exc.__class__.__name__).lower()
    hint = _HINTS.get(exc.errno or 0, "check the folder or choose another one with --out")
    return OutputError(
        f"cannot {action} {_short(path.name or str(path))}: {reason}; {hint}",
        file=_short(str(path.parent)),
    )


def check_names(path: Path) -> None:
    """OutputError when a part of ``path`` is longer than ``limits.MAX_NAME_CHARS``."""
    for part in Path(path).parts:
        if len(part) > MAX_NAME_CHARS:
            raise OutputError(
                f"a name of {len(part)} characters in this path is too long (at most "
                f"{MAX_NAME_CHARS}); choose a shorter name with --out",
                file=_short(str(path)),
            )


def ensure_folder(folder: Path) -> None:
    """Create ``folder`` (and parents); OutputError if it cannot exist as a folder."""
    check_names(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputError(
            "expected a folder for the outputs, but this is a file; choose another folder with "
            "--out",
            file=str(folder),
        ) from None
    except OSError as exc:
        raise output_error(exc, folder, "create folder") from None


def _owner_tag() -> str:
    """``<pid>-<host hash>``: which process on which machine a temporary file belongs to."""
    host = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:6]
    return f"{os.getpid()}-{host}"


#: a temporary file of a dead process on another machine (seen over a shared folder) is
#: removed once it is this old; one of a dead process on this machine at once
STALE_TEMP_SECONDS = 3600
_TEMP_NAME = re.compile(r"^\..+\.(\d+)-([0-9a-f]{6})\.[^.]+" + re.escape(TEMP_SUFFIX) + "$")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):  # another user's process, or no way to tell
        return True
    return True


def remove_stale_temps(folder: Path) -> int:
    """Remove temporary files that a killed run left in ``folder`` (written by ``_stage``);
    return how many. A file of a live process (a concurrent run) is left alone."""
    mine = _owner_tag().split("-")[1]
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    now = time.time()
    for entry in entries:
        if not (entry.name.startswith(".") and entry.name.endswith(TEMP_SUFFIX)):
            continue
        match = _TEMP_NAME.match(entry.name)
        try:
            if match and match.group(2) == mine:
                stale = not _alive(int(match.group(1)))
            else:
                stale = now - entry.stat(follow_symlinks=False).st_mtime > STALE_TEMP_SECONDS
            if stale and entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
                removed += 1
        except OSError:
            continue
    return removed


def _stage(path: Path) -> tuple[int, Path]:
    """A new temporary file beside ``path`` with the umask's permissions: (fd, its path).
    Its name carries the process and machine (``remove_stale_temps`` reads them)."""
    ensure_folder(path.parent)
    prefix = f".{path.name}.{_owner_tag()}."
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=TEMP_SUFFIX)
    with contextlib.suppress(AttributeError, OSError):  # no fchmod: keep mkstemp's mode
        os.fchmod(fd, 0o666 & ~current_umask())
    return fd, Path(tmp)


@contextmanager
def _staged(path: Path, binary: bool) -> Iterator[tuple[IO, Path]]:
    """A handle on a complete, synced temporary file for ``path``; removed on failure."""
    tmp: Path | None = None
    try:
        fd, tmp = _stage(path)
        text = {} if binary else {"encoding": "utf-8", "newline": ""}
        with os.fdopen(fd, "wb" if binary else "w", **text) as fh:
            yield fh, tmp
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException as exc:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise output_error(exc, path) from None
        raise


@contextmanager
def atomic_open(path: Path, binary: bool = False) -> Iterator[IO]:
    """A file handle on a temporary file beside ``path``, renamed onto it on success."""
    with _staged(path, binary) as (fh, tmp):
        yield fh
    try:
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise output_error(exc, path) from None


def write_atomic(path: Path, data: str | bytes) -> None:
    with atomic_open(path, binary=isinstance(data, bytes)) as fh:
        fh.write(data)


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ""
    return value


def _csv_into(fh: IO, columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> None:
    writer = csv.DictWriter(fh, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(row.get(k)) for k in columns})


def write_csv(path: Path, columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> None:
    """Stream ``rows`` into ``path`` atomically: constant memory however many rows."""
    with atomic_open(path) as fh:
        _csv_into(fh, columns, rows)


def json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def json_text(data: Any) -> str:
    """The JSON text the writers produce (strict: no NaN or infinity)."""
    return json.dumps(data, indent=1, default=json_default, allow_nan=False) + "\n"


def write_json(path: Path, data: Any) -> None:
    write_atomic(path, json_text(data))


class OutputSet:
    """Several files replaced together: all written first, then all renamed into place.

    Use as a context manager; ``csv``/``json`` stage one file each, in the order they are
    renamed on a clean exit (stage the manifest last). An exception inside the block, or
    while staging, removes every temporary file and leaves the previous files as they were.
    """

    def __init__(self, folder: Path):
        self.folder = folder
        self._staged: list[tuple[Path, Path]] = []  # (temporary file, target)

    def __enter__(self) -> OutputSet:
        ensure_folder(self.folder)
        return self

    def _add(self, name: str, write) -> None:
        path = self.folder / name
        with _staged(path, binary=False) as (fh, tmp):
            self._staged.append((tmp, path))
            write(fh)

    def csv(self, name: str, columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> None:
        self._add(name, lambda fh: _csv_into(fh, columns, rows))

    def json(self, name: str, data: Any) -> None:
        text = json_text(data)
        self._add(name, lambda fh: fh.write(text))

    def __exit__(self, kind, exc, tb) -> None:
        if kind is not None:
            self._discard()
            return
        self._commit()

    def _discard(self) -> None:
        for tmp, _ in self._staged:
            tmp.unlink(missing_ok=True)
        self._staged.clear()

    def _commit(self) -> None:
        backups: dict[Path, Path] = {}
        try:
            for _, path in self._staged:  # hard links: free, and they restore a failed rename
                if path.is_file():
                    backup = path.with_name(f".{path.name}.old{TEMP_SUFFIX}")
                    with contextlib.suppress(OSError):
                        backup.unlink(missing_ok=True)
                        os.link(path, backup)
                        backups[path] = backup
            done: list[Path] = []
            for tmp, path in self._staged:
                try:
                    os.replace(tmp, path)
                except OSError as exc:
                    for undone in done:
                        with contextlib.suppress(OSError):
                            if undone in backups:
                                os.replace(backups.pop(undone), undone)
                            else:
                                undone.unlink()
                    raise output_error(exc, path) from None
                done.append(path)
        finally:
            self._discard()
            for backup in backups.values():
                backup.unlink(missing_ok=True)
