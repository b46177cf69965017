"""Reading a spec file: a regular file of bounded size, never through a link out of the tree.

Spec files come from repositories, and `check "configs/*.yaml"` runs on pull requests, so a
spec path is treated as hostile input:

- It must be a regular file of at most MAX_BYTES. The type and size are checked with stat
  before the file is opened, and it is opened non-blocking: `/dev/zero`, a FIFO or a directory
  is an exit-2 message at once, never a read that eats memory or waits forever.
- A symbolic link is followed only when it leads to a file inside the directory tree of the
  working directory: a pull request that adds `configs/leak.yaml -> ~/.git-credentials` must not
  get the credentials quoted back in an error message or a CI annotation. Checked are the links
  a checkout could contain (those inside the tree, at any depth of the path) and the named file
  itself; links of the system's own layout above the tree (macOS's /tmp -> /private/tmp) are
  not. `--follow-symlinks` lifts the rule; the file it leads to must still be regular and small.
"""

from __future__ import annotations

import os
import stat
import sys

from archinspect.errors import FileError

# `-` as SPEC: the spec is read from standard input and named so in messages
# (`<stdin>:7:20: model.depth: ...`), as compilers name it.
STDIN = "-"
STDIN_SOURCE = "<stdin>"

MAX_BYTES = 4 * 1024 * 1024
_LIMIT = f"at most 4 MiB ({MAX_BYTES:,} bytes)"
_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFIFO: "a named pipe (FIFO)",
    stat.S_IFSOCK: "a socket",
}


def read_spec_file(path: str, follow_symlinks: bool = False) -> str:
    """The text of the spec file at `path`, or a FileError (exit 2) saying why not."""
    real, link = _resolve(path)
    if link is not None and not follow_symlinks:
        which = "it is" if link == path else f"{link} is"
        raise FileError(
            f"error: cannot read {path}: {which} a symbolic link that leads out of the working "
            f"directory {_root()}; refusing to follow it (pass --follow-symlinks to read it anyway)"
        )
    try:
        st = os.stat(real)
    except FileNotFoundError:
        if os.path.lexists(path):
            raise FileError(
                f"error: {path} is a symbolic link to a file that does not exist"
            ) from None
        raise FileError(f"error: spec file not found: {path}") from None
    except OSError as exc:
        raise FileError(f"error: cannot read {path}: {exc.strerror}") from None
    _check_kind(path, st)
    try:
        fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise FileError(f"error: cannot read {path}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as handle:
        _check_kind(path, os.fstat(handle.fileno()))  # the same file as the stat above
        try:
            data = handle.read(MAX_BYTES + 1)  # a /proc file says size 0: the limit holds anyway
        except OSError as exc:
            raise FileError(f"error: cannot read {path}: {exc.strerror}") from None
    if len(data) > MAX_BYTES:
        raise FileError(f"error: {path} is larger than a spec file may be: {_LIMIT}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileError(f"error: {path} is not UTF-8 text ({exc.reason})") from None


def _check_kind(path: str, st: os.stat_result) -> None:
    if not stat.S_ISREG(st.st_mode):
        kind = _KINDS.get(stat.S_IFMT(st.st_mode), "not a regular file")
        raise FileError(
            f"error: {path} is {kind}, not a spec file; a spec is a regular file of {_LIMIT}"
        )
    if st.st_size > MAX_BYTES:
        raise FileError(
            f"error: {path} is {st.st_size:,} bytes, larger than a spec file may be: {_LIMIT}"
        )


def _root() -> str:
    return os.path.realpath(os.getcwd())


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _resolve(path: str) -> tuple[str, str | None]:
    """The physical path of `path`, and the first link on the way that leaves the tree (as the
    user wrote it), if any; component by component, so `..` after a link goes where the
    operating system goes."""
    root = _root()
    absolute = os.path.isabs(path)
    current = os.sep if absolute else root
    written = os.sep if absolute else ""
    parts = [p for p in path.split(os.sep) if p not in ("", ".")]
    escape = None
    for i, part in enumerate(parts):
        written = os.path.join(written, part)
        if part == "..":
            current = os.path.dirname(current)
            continue
        candidate = os.path.join(current, part)
        if not os.path.islink(candidate):
            current = candidate
            continue
        target = os.path.realpath(candidate)
        planted = i == len(parts) - 1 or _inside(current, root)
        if escape is None and planted and not _inside(target, root):
            escape = written
        current = target
    return current, escape


def read_spec_stdin() -> str:
    """The spec on standard input (`-` as SPEC), with a file's limits: at most MAX_BYTES of
    UTF-8; a closed or terminal stdin is an error, not a wait for typing."""
    stream = sys.stdin
    if stream is None:
        raise FileError("error: cannot read the spec from standard input: it is closed")
    try:
        if stream.isatty():
            raise FileError(
                "error: - reads the spec from standard input, which is a terminal; pipe a file "
                "in (archinspect validate - < spec.yaml) or give its path"
            )
        raw = getattr(stream, "buffer", None)
        data = raw.read(MAX_BYTES + 1) if raw is not None else stream.read().encode("utf-8")
    except OSError as exc:
        raise FileError(f"error: cannot read {STDIN_SOURCE}: {exc.strerror or exc}") from None
    if len(data) > MAX_BYTES:
        raise FileError(f"error: {STDIN_SOURCE} is larger than a spec file may be: {_LIMIT}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileError(f"error: {STDIN_SOURCE} is not UTF-8 text ({exc.reason})") from None
