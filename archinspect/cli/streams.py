"""Standard output as the CLI writes reports to it: closed, full or cut off by the reader.

A closed stdout (`archinspect families >&-`) leaves `sys.stdout` None; a full one
(`> /dev/full`) fails the write with ENOSPC; a reader that stops early (`| head -1`) breaks the
pipe. The first two are errors with a one-line message (exit 2); the broken pipe ends the
command quietly (the CLI exits 141, as a program killed by SIGPIPE does).
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

from archinspect.errors import StreamError


def isatty(stream: TextIO | None) -> bool:
    """A terminal; a closed stream (None) is not one."""
    try:
        return stream is not None and stream.isatty()
    except (OSError, ValueError):
        return False


def require_stdout(hint: str = "") -> None:
    """Refuse a command that would print to a closed stdout, before any work starts."""
    if sys.stdout is None:
        raise StreamError(f"error: standard output is closed, so there is nowhere to print{hint}")


def write_stdout(text: str) -> None:
    """Write and flush now, so a failure is raised here and not at interpreter exit."""
    require_stdout()
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        discard()
        raise
    except OSError as exc:
        discard()
        raise StreamError(
            f"error: cannot write to standard output: {exc.strerror or exc}"
        ) from None


def discard() -> None:
    """Point stdout (the file descriptor) at /dev/null so that the data still buffered, which
    Python flushes again at exit, goes nowhere instead of failing with a second traceback."""
    stream = sys.stdout
    if stream is None:
        return
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
