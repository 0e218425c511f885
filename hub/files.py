"""Files Hub writes under its data directory are private to the user Hub runs as.

Directories are 0700 and files 0600, whatever the process umask: a file is created with
``os.open(..., 0o600)`` and then set to exactly 0600 (a umask can only take bits away, and a
strict one such as 0277 would otherwise leave an owner unable to write), and a directory is
set to 0700 right after ``mkdir``. SQLite gives its ``-wal`` and ``-shm`` files the mode of the
database file, so a database file created here keeps its journals private too.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

DIRECTORY_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path, *, tighten: bool = True) -> Path:
    """Create ``path`` and any missing parents as 0700 directories. An existing ``path`` is set
    to 0700 too unless ``tighten`` is false; parents that already exist are left alone."""
    missing: list[Path] = []
    current = path.absolute()
    while not current.exists():
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another process made it first
            directory.mkdir(mode=DIRECTORY_MODE)
        os.chmod(directory, DIRECTORY_MODE)
    if tighten and not missing:
        _tighten(path, DIRECTORY_MODE)
    return path


def create_private(path: Path, *, exclusive: bool = True, truncate: bool = False) -> int:
    """Open ``path`` for writing as a 0600 file and return the descriptor. With ``exclusive``
    an existing file raises ``FileExistsError``; otherwise it is opened (and set to 0600)."""
    flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
    if exclusive:
        flags |= os.O_EXCL
    if truncate:
        flags |= os.O_TRUNC
    fd = os.open(path, flags, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` as a 0600 file, replacing it atomically."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()
    with os.fdopen(create_private(temporary), "wb") as handle:
        handle.write(data)
    os.replace(temporary, path)


def private_file(path: Path) -> Path:
    """Make sure ``path`` exists and is 0600: created empty if missing; an existing file keeps
    its content and is set to 0600."""
    try:
        os.close(create_private(path))
    except FileExistsError:
        _tighten(path, FILE_MODE)
    return path


def _tighten(path: Path, mode: int) -> None:
    """Set ``mode`` on a path Hub did not just create; a path owned by someone else is left as
    it is (only its owner may change it)."""
    with contextlib.suppress(PermissionError):
        os.chmod(path, mode)
