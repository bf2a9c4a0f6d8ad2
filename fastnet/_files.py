"""Paths and atomic writes: nothing a user saved is ever half-written. A file is written to a
temporary file in the same directory, flushed to disk, then os.replace'd over the target."""
from __future__ import annotations

import os


def check_path(path, name="path") -> str:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{name} must be a str or os.PathLike, got {type(path).__name__}")
    path = os.fspath(path)
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not path:
        raise ValueError(f"{name} must not be empty")
    return path


def atomic_write_bytes(path, data: bytes) -> None:
    """Write data to path through a temporary file in the same directory and os.replace, so
    readers see the old file or the new one, never a partial one."""
    import tempfile  # lazily: it pulls in random and hashlib (import time)

    path = check_path(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".",
                               suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
