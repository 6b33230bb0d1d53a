"""Every input file the tool reads goes through here: checked before a byte is read.

A path is refused in one line (an :class:`InputError` naming the file) when a part of it is
longer than the file system allows, when it is not a regular file (a folder, a device such
as ``/dev/zero``, a FIFO, a socket), or when it is larger than the limit the caller gives
(from ``hyperdrive_sim.limits``). The file is opened without blocking (a FIFO never waits for
a writer) and its type and size are taken from the open descriptor, so what is checked is
what is read. Reads stop one byte past the limit however the file grows meanwhile.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

from hyperdrive_sim import limits
from hyperdrive_sim.errors import InputError

#: environment variable naming further folders ``include:`` may read (os.pathsep-separated);
#: ``--include-dir`` on the command line adds to it (see spec.loader.include_roots)
INCLUDE_PATH_ENV = "HYPERDRIVE_SIM_INCLUDE_PATH"
#: bytes read at a time while hashing
_BLOCK = 1 << 20


def short(text: str, keep: int = 80) -> str:
    """A path shortened for a one-line message (start and end kept)."""
    return text if len(text) <= keep else f"{text[: keep // 2]}...{text[-keep // 2 :]}"


def check_path(
    path: str | Path, *, key: str | None = None, error: type[InputError] = InputError
) -> Path:
    """``path`` as a Path, refused when empty or when a part is longer than the OS allows."""
    text = str(path)
    if not text:
        raise error("expected a file path, got an empty string", key=key)
    for part in Path(text).parts:
        if len(part) > limits.MAX_NAME_CHARS:
            raise error(
                f"a part of this path has {len(part)} characters; file systems allow at most "
                f"{limits.MAX_NAME_CHARS}",
                file=short(text),
                key=key,
            )
    return Path(text)


def _os_error(exc: OSError, text: str, key: str | None, error: type[InputError]) -> InputError:
    reasons = {
        errno.ENOENT: "file not found",
        errno.ENOTDIR: "file not found (a part of the path is not a folder)",
        errno.EACCES: "cannot read the file (permission denied)",
        errno.EPERM: "cannot read the file (permission denied)",
        errno.ENAMETOOLONG: "the path is longer than the file system allows",
        errno.ELOOP: "cannot read the file (too many levels of symbolic links)",
        errno.ENXIO: "expected a regular file, got a device, pipe or socket",
    }
    reason = reasons.get(exc.errno, f"cannot read the file ({exc.__class__.__name__})")
    return error(reason, file=text, key=key)


@contextmanager
def open_input(
    path: str | Path,
    *,
    limit: int,
    what: str,
    key: str | None = None,
    error: type[InputError] = InputError,
) -> Iterator[tuple[IO[bytes], int]]:
    """Open a regular file of at most ``limit`` bytes for reading; yields (handle, size).

    ``what`` names the kind of file in messages ("YAML file", "weight file", ...).
    """
    path = check_path(path, key=key, error=error)
    text = str(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except IsADirectoryError:
        raise error(f"expected a {what}, got a folder", file=text, key=key) from None
    except OSError as exc:
        raise _os_error(exc, text, key, error) from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise error(f"expected a {what}, got a folder", file=text, key=key)
        if not stat.S_ISREG(info.st_mode):
            raise error(
                f"expected a {what}, got a device, pipe or socket",
                file=text,
                key=key,
            )
        if info.st_size > limit:
            raise error(
                f"file is larger than {limit} bytes (the input limit of one {what}; it has "
                f"{info.st_size})",
                file=text,
                key=key,
            )
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        handle = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with handle:
        yield handle, info.st_size


def read_input(
    path: str | Path,
    *,
    limit: int,
    what: str,
    key: str | None = None,
    error: type[InputError] = InputError,
) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes (see :func:`open_input`)."""
    with open_input(path, limit=limit, what=what, key=key, error=error) as (handle, _):
        try:
            data = handle.read(limit + 1)
        except OSError as exc:
            raise _os_error(exc, str(path), key, error) from None
    if len(data) > limit:  # the file grew after it was checked
        raise error(
            f"file is larger than {limit} bytes (the input limit of one {what})",
            file=str(path),
            key=key,
        )
    return data


def digest_input(
    path: str | Path,
    *,
    limit: int,
    what: str,
    key: str | None = None,
    error: type[InputError] = InputError,
) -> str:
    """sha256 of a regular file of at most ``limit`` bytes, read in blocks."""
    sha = hashlib.sha256()
    seen = 0
    with open_input(path, limit=limit, what=what, key=key, error=error) as (handle, _):
        while block := handle.read(_BLOCK):
            seen += len(block)
            if seen > limit:
                raise error(
                    f"file is larger than {limit} bytes (the input limit of one {what})",
                    file=str(path),
                    key=key,
                )
            sha.update(block)
    return sha.hexdigest()


def read_output_file(path: str | Path, *, limit: int = limits.MAX_RESULTS_BYTES) -> str | None:
    """Text of a file the tool wrote earlier (a cache entry, a stamp), or None when it is
    missing, not a regular file, too large or not UTF-8: such a file is simply not reused."""
    try:
        return read_input(path, limit=limit, what="file").decode("utf-8")
    except (InputError, UnicodeDecodeError):
        return None


def load_arrays(path: str | Path, *, key: str | None = None) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` (by name) or ``.npy`` (under ``""``) weight file, told
    apart by their first bytes.

    Bounded before anything is allocated: the file by ``limits.MAX_WEIGHT_BYTES``, each
    array by the size its header declares (which must fit the file, or for an .npz, the
    archive member), and the arrays of an .npz together by the same limit once decompressed.
    Pickled (object) arrays are never loaded. InputError naming the file and ``key``.
    """
    limit = limits.MAX_WEIGHT_BYTES
    text = str(path)
    suffix = Path(text).suffix.lower()
    with open_input(path, limit=limit, what=f"{suffix or 'weight'} file", key=key) as (fh, size):
        try:
            single = fh.read(6) == b"\x93NUMPY"  # .npy magic; an .npz is a zip archive
            fh.seek(0)
            if single:
                return {"": _read_npy(fh, size, limit)}
            out: dict[str, np.ndarray] = {}
            with zipfile.ZipFile(fh) as archive:
                members = [m for m in archive.infolist() if not m.is_dir()]
                total = sum(m.file_size for m in members)
                if total > limit:
                    raise InputError(
                        f"the arrays hold {total} bytes once decompressed; weights may have at "
                        f"most {limit} bytes (the input limit)",
                        file=text,
                        key=key,
                    )
                for member in members:
                    with archive.open(member) as inner:
                        name = member.filename.removesuffix(".npy")
                        out[name] = _read_npy(inner, member.file_size, limit)
            return out
        except InputError:
            raise
        except (ValueError, OSError, EOFError, zipfile.BadZipFile, MemoryError, KeyError) as exc:
            detail = short(" ".join(str(exc).split()), 120)
            raise InputError(
                f"cannot read the weights ({exc.__class__.__name__}: {detail}); "
                f"expected a {suffix} file of numeric arrays",
                file=text,
                key=key,
            ) from None


def _read_npy(fh: IO[bytes], size: int, limit: int) -> np.ndarray:
    """One .npy array from ``fh`` whose declared size fits ``size`` bytes of data."""
    import numpy as np

    version = np.lib.format.read_magic(fh)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
    else:
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
    if dtype.hasobject:
        raise ValueError("the array holds Python objects (a pickle), not numbers")
    count = 1
    for side in shape:
        count *= int(side)
    nbytes = count * dtype.itemsize
    if nbytes > min(size, limit):
        raise ValueError(f"the header declares {nbytes} bytes of data, more than the file holds")
    data = fh.read(nbytes)
    if len(data) != nbytes:
        raise ValueError("the file ends before the array's data")
    array = np.frombuffer(data, dtype=dtype, count=count)
    return array.reshape(shape, order="F" if fortran else "C").copy()


def read_external_data(tensor, model: Path, budget: list[int]) -> bytes:
    """The bytes of an ONNX tensor stored outside its model file, read only from a regular
    file inside the model's folder.

    Refused (InputError naming the model and ``pruning_weights``): an absolute location or
    one that leaves the folder once ``..`` and symbolic links are resolved, a symbolic link,
    a file with more than one hard link (it may be another name of any file), an offset or
    length outside the file, and more bytes in all than ``budget[0]``, which is reduced by
    what is read (``limits.MAX_WEIGHT_BYTES`` per model).
    """
    key = "pruning_weights"
    info = {entry.key: entry.value for entry in tensor.external_data}
    where = f"tensor {short(tensor.name, 60)!r}"
    location = info.get("location", "")
    folder = Path(model).resolve().parent
    target = folder / location
    if not location or Path(location).is_absolute() or Path(location).drive:
        raise InputError(
            f"{where} keeps its data at an absolute or empty location; external data must be "
            "a file beside the model",
            file=str(model),
            key=key,
        )
    try:
        inside = target.resolve().is_relative_to(folder)
        link = target.is_symlink()
        links = os.lstat(target).st_nlink if target.exists() else 1
    except (OSError, RuntimeError):
        inside, link, links = False, False, 1
    if not inside or link or links > 1:
        what = (
            "a symbolic link"
            if link
            else "a file with several hard links"
            if links > 1
            else ("outside the model's folder")
        )
        raise InputError(
            f"{where} keeps its data in {what}; external data is read only from a regular "
            "file inside the model's folder",
            file=str(model),
            key=key,
        )
    try:
        offset = int(info.get("offset", 0) or 0)
        length = int(info["length"]) if info.get("length") else None
    except ValueError:
        offset, length = -1, None
    if offset < 0 or (length is not None and length < 0):
        raise InputError(f"{where} has an invalid external data offset or length",
                         file=str(model), key=key)  # fmt: skip
    with open_input(target, limit=limits.MAX_WEIGHT_BYTES, what="external data file",
                    key=key) as (handle, size):  # fmt: skip
        want = size - offset if length is None else length
        if offset > size or offset + want > size or want > budget[0]:
            raise InputError(
                f"{where}: its external data ({want} bytes at offset {offset}) lies outside "
                f"the file or exceeds the weight limit of {limits.MAX_WEIGHT_BYTES} bytes",
                file=str(model),
                key=key,
            )
        handle.seek(offset)
        data = handle.read(want)
    budget[0] -= len(data)
    return data
