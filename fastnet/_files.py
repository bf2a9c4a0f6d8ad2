"""Paths, atomic writes and guarded opens.

Writes: nothing a user saved is ever half-written. A file is written to a temporary file in the
same directory (``.<name>.<pid>.<random hex>.fastnet-tmp``), flushed to disk, then
``os.replace``'d over the target. The temporary file is created with mode 0o666 so the
kernel applies the process umask (as ``open(path, "w")`` does; ``tempfile.mkstemp`` would
make every saved file 0600); an existing regular file being replaced keeps its mode.
Temporary files left behind by a writer that was killed (its pid no longer exists) are
removed by the next write to the same path.

Reads: ``open_regular`` refuses anything that is not a regular file (a FIFO would block, a
character device such as /dev/zero never ends) before and after opening it.
"""

from __future__ import annotations

import os
import re
import stat

_TMP_SUFFIX = ".fastnet-tmp"
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_O_BINARY = getattr(os, "O_BINARY", 0)  # Windows


def check_path(path, name="path") -> str:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{name} must be a str or os.PathLike, got {type(path).__name__}")
    path = os.fspath(path)
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not path:
        raise ValueError(f"{name} must not be empty")
    return path


def _pid_is_dead(pid: int) -> bool:
    """True only when no process has this pid (a live process of another user counts as live)."""
    if pid <= 0 or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (OSError, OverflowError, ValueError):  # PermissionError: alive, not ours
        return False
    return False


def remove_stale_temporaries(directory: str, basename: str) -> list:
    """Remove ``.<basename>.<pid>.<hex>.fastnet-tmp`` files in directory whose writer (pid) no
    longer exists: what a process killed mid-write (kill -9, power cut) left behind. Only that
    exact pattern for that basename is touched. Returns the paths removed; errors are ignored
    (cleaning up is a courtesy, never a reason for a save to fail)."""
    pattern = re.compile(
        r"\."
        + re.escape(basename)
        + r"\.([1-9][0-9]{0,9})\.[0-9a-f]+"
        + re.escape(_TMP_SUFFIX)
        + r"\Z"
    )
    removed = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        match = pattern.match(entry.name)
        if match is None or not _pid_is_dead(int(match.group(1))):
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            os.unlink(entry.path)
            removed.append(entry.path)
        except OSError:
            pass
    return removed


def _existing_mode(path: str):
    """The permission bits of the regular file at path (the entry os.replace will replace),
    or None when there is none."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return stat.S_IMODE(st.st_mode) if stat.S_ISREG(st.st_mode) else None


def atomic_write_bytes(path, data) -> None:
    """Write data to path through a temporary file in the same directory and os.replace, so
    readers see the old file or the new one, never a partial one. The new file's mode is
    0o666 minus the umask, or the mode of the regular file it replaces. On any error the
    temporary file is removed and an existing file at path is left untouched."""
    path = check_path(path)
    directory = os.path.dirname(os.path.abspath(path))
    basename = os.path.basename(path)
    remove_stale_temporaries(directory, basename)
    flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY | _O_CLOEXEC | _O_BINARY
    while True:
        tmp = os.path.join(
            directory, f".{basename}.{os.getpid()}.{os.urandom(8).hex()}{_TMP_SUFFIX}"
        )
        try:
            fd = os.open(tmp, flags, 0o666)  # the kernel applies the umask
        except FileExistsError:  # 64 random bits: practically never
            continue
        break
    try:
        with os.fdopen(fd, "wb") as f:
            mode = _existing_mode(path)
            if mode is not None and hasattr(os, "fchmod"):
                try:
                    os.fchmod(f.fileno(), mode)
                except OSError:  # a filesystem without modes: the umask's default stays
                    pass
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
    _fsync_directory(directory)


def _fsync_directory(directory: str) -> None:
    """Make the rename durable (best effort: not every platform or filesystem allows it)."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | _O_CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def require_regular_file(mode: int, path: str) -> None:
    """ValueError naming path and its kind unless ``mode`` (from stat) is a regular file's."""
    if stat.S_ISREG(mode):
        return
    what = next((text for test, text in _KINDS if test(mode)), "not a regular file")
    raise ValueError(f"{path} is {what}, not a regular file: refusing to read it")


def open_regular(path: str):
    """(file descriptor, size) of the regular file at path, opened read-only.

    A FIFO, device, directory or socket (also behind a symlink) is refused with a ValueError
    before it is opened; the open itself is non-blocking (a FIFO swapped in after the check
    cannot block) and the descriptor is checked again, its size taken from fstat. The caller
    closes the descriptor."""
    require_regular_file(os.stat(path).st_mode, path)
    fd = os.open(path, os.O_RDONLY | _O_NONBLOCK | _O_CLOEXEC | _O_BINARY)
    try:
        st = os.fstat(fd)
        require_regular_file(st.st_mode, path)
    except BaseException:
        os.close(fd)
        raise
    return fd, st.st_size


def read_exact(fd: int, n: int, path: str, what: str = "data") -> bytearray:
    """Exactly n bytes from fd's current position (a ValueError if the file ends first)."""
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = os.readv(fd, [view[got:]]) if hasattr(os, "readv") else _read_into(fd, view[got:])
        if k == 0:
            raise ValueError(
                f"{path}: the file ended while reading its {what} ({got} of {n} "
                "bytes): it changed while being read, or is truncated"
            )
        got += k
    return buf


def _read_into(fd, view) -> int:
    chunk = os.read(fd, min(len(view), 1 << 30))
    view[: len(chunk)] = chunk
    return len(chunk)
