"""Writing reports (`--output`, `sweep --plot`): what the target is decides how it is written.

- A regular file, or a name that does not exist yet, is written atomically: a temporary file
  next to it, moved into place, so a reader never sees half a report and a failure (an error,
  a full disk, Ctrl-C) leaves the old file as it was and no temporary file behind. A file
  being replaced keeps its permission bits; a read-only file is refused, as a shell `>` would.
- A symbolic link is followed: the file it leads to is replaced atomically and the link kept.
- A character device (`/dev/null`, a terminal, `/dev/stdout`) or a FIFO is written through,
  never replaced: renaming a regular file over `/dev/null` would break every later user of it
  (a FIFO waits for its reader, as with a shell redirection). A path that reaches an open file
  through `/proc/<pid>/fd` (`/dev/stdout` redirected to a file) is appended to, not replaced,
  so `-o /dev/stdout >> log` keeps the log.
- A directory, a block device or a socket is refused.

`append_text` appends instead (`check --summary`, a file every step of a CI job adds to).

`check_target` looks at the target before any work starts (the CLI calls it when it parses
`--output`), so a report that cannot be written is an exit-2 message at once, not after a long
computation; `write_atomic` and `write_file` then write it. Every failure is a
FileError (an ArchinspectError, exit 2) naming the option, the path and why.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from archinspect.errors import FileError

_REFUSED = {
    stat.S_IFDIR: "a directory",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


@dataclass(frozen=True)
class Target:
    """Where and how a report is written: `path` replaced atomically, or written through."""

    path: str  # the file to replace (symbolic links resolved), or the path to write through
    through: bool = False
    append: bool = False


def check_target(path: str, option: str = "--output") -> Target:
    """How `path` would be written; a FileError (exit 2) if it cannot be.

    For a file that will be replaced, a temporary file is created (and removed) next to it:
    the only honest test that the directory is writable (permissions, a read-only file
    system, and for root, who passes every permission check, the rest of those).
    """
    if not path:
        raise FileError(f"error: {option} needs a file name, got ''")
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        st = None  # a missing file, or a directory that is not one: said below
    except OSError as exc:
        raise _cannot(option, path, exc) from None
    if st is not None and not stat.S_ISREG(st.st_mode):
        kind = _REFUSED.get(stat.S_IFMT(st.st_mode))
        if kind is not None:
            raise FileError(
                f"error: cannot write {option} {path}: it is {kind}; give a file name "
                "(a regular file is replaced, a character device or FIFO written through)"
            )
        if not os.access(path, os.W_OK):
            raise FileError(f"error: cannot write {option} {path}: permission denied")
        return Target(path, through=True)
    if st is not None and _through_proc(path):
        # /dev/stdout or /dev/fd/N reaching a regular file: the caller's open file, append.
        if not os.access(path, os.W_OK):
            raise FileError(f"error: cannot write {option} {path}: permission denied")
        return Target(path, through=True, append=True)
    real = os.path.realpath(path)
    directory = os.path.dirname(real) or "."
    if not os.path.isdir(directory):
        # the directory as written, or the one a symbolic link leads to
        shown = directory if os.path.islink(path) else os.path.dirname(path) or "."
        if os.path.exists(directory):
            raise FileError(f"error: cannot write {option} {path}: {shown} is not a directory")
        raise FileError(f"error: cannot write {option} {path}: directory {shown} does not exist")
    if st is not None and not os.access(real, os.W_OK):
        raise FileError(
            f"error: cannot write {option} {path}: the file is read-only "
            "(archinspect does not replace a file you cannot write)"
        )
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{os.path.basename(real)}.", dir=directory)
    except OSError as exc:
        raise _cannot(option, path, exc, f"cannot create a file in {directory}") from None
    os.close(fd)
    os.unlink(probe)
    return Target(real)


def write_atomic(path: str | os.PathLike, text: str, option: str = "--output") -> None:
    """Write `text` (UTF-8) to `path` as the module docstring describes."""
    write_file(os.fspath(path), lambda handle: handle.write(text.encode("utf-8")), option)


def write_file(path: str, write: Callable[[BinaryIO], object], option: str = "--output") -> None:
    """Call `write` with a binary file that ends up at `path` (see the module docstring)."""
    target = check_target(path, option)
    if target.through:
        _write_through(target, write, option, path)
    else:
        _replace(target.path, write, option, path)


def _write_through(
    target: Target, write: Callable[[BinaryIO], object], option: str, shown: str
) -> None:
    flags = os.O_WRONLY | (os.O_APPEND if target.append else 0)
    try:
        fd = os.open(target.path, flags)
        with os.fdopen(fd, "wb") as handle:
            write(handle)  # a full device (ENOSPC) fails here or on the flush when closing
    except OSError as exc:
        raise _cannot(option, shown, exc) from None


def _replace(real: str, write: Callable[[BinaryIO], object], option: str, shown: str) -> None:
    directory = os.path.dirname(real) or "."
    try:
        mode = stat.S_IMODE(os.stat(real).st_mode)
    except FileNotFoundError:
        mode = 0o666 & ~_umask()  # mkstemp makes 0600; a report is an ordinary file
    tmp = None
    try:
        name = f".{os.path.basename(real)}."
        fd, tmp = tempfile.mkstemp(prefix=name, suffix=".tmp", dir=directory)
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())  # a full disk shows here, before the old file is gone
        os.replace(tmp, real)
        tmp = None
    except OSError as exc:
        raise _cannot(option, shown, exc) from None
    finally:  # any exception, KeyboardInterrupt included: the old file stays, no temporary
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def append_text(path: str, text: str, option: str) -> None:
    """Append `text` (UTF-8) to `path`, creating it: a step summary (`check --summary
    "$GITHUB_STEP_SUMMARY"`) is one file that every step of a job appends to, never replaces.
    The text is written in one call on a file opened for appending, so two writers never
    interleave within it."""
    if not path:
        raise FileError(f"error: {option} needs a file name, got ''")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    except IsADirectoryError:
        raise FileError(
            f"error: cannot write {option} {path}: it is a directory; give a file name"
        ) from None
    except OSError as exc:
        raise _cannot(option, path, exc) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode("utf-8"))
    except OSError as exc:
        raise _cannot(option, path, exc) from None


def _through_proc(path: str) -> bool:
    """Whether following `path`'s symbolic links passes through /proc/<pid>/fd (or /dev/fd)."""
    seen = 0
    current = os.path.abspath(path)
    while os.path.islink(current) and seen < 40:
        if current.startswith(("/proc/", "/dev/fd/")):
            return True
        link = os.readlink(current)
        current = os.path.normpath(os.path.join(os.path.dirname(current), link))
        seen += 1
    return current.startswith(("/proc/", "/dev/fd/"))


def _cannot(option: str, path: str, exc: OSError, what: str | None = None) -> FileError:
    reason = exc.strerror or type(exc).__name__
    if exc.errno is not None:
        reason = {
            errno.ENOSPC: "no space left on the device",
            errno.EROFS: "read-only file system",
            errno.EACCES: "permission denied",
            errno.EPERM: "operation not permitted",
            errno.ENOTDIR: "a component of the path is not a directory",
        }.get(exc.errno, reason)
    detail = f"{what}: {reason}" if what else reason
    return FileError(f"error: cannot write {option} {path}: {detail}")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
