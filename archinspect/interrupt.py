"""Ctrl-C (SIGINT) that always ends the program: exit 130, and no report written. SIGTERM (a CI
job cancelled, `kill`, `timeout`) ends it the same way with exit 143: without a handler the
process would die wherever it stands, possibly between writing a report's temporary file and
moving it into place, leaving that file behind.

Python turns SIGINT into a KeyboardInterrupt raised wherever the main thread happens to be, and
some places swallow it: a garbage-collection callback (JAX registers one) or a weakref callback
prints "Exception ignored" and carries on, and an extension module being imported turns it into
an ImportError. So the handler installed here records the interrupt as well as raising it, and
raises it again every RETRY_S seconds until the CLI has caught it (`delivered`); the CLI also
consults the record before it writes a report (`check`) and before it picks an exit code
(`requested`), and the program ends with `finish`.

Only the program (archinspect/__main__.py) installs the handler, first of all, so that Ctrl-C
while the CLI itself is being imported is handled too; in-process callers (tests, the Python
API) keep Python's own. Kept free of any import but the standard library's for that reason,
which is also why `finish` writes its one word itself: it may run before the CLI exists.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from types import FrameType
from typing import Any

RETRY_S = 0.1
EXIT_CODE = 130  # 128 + SIGINT, as the shell reports a program it interrupted
MESSAGE = "interrupted"
MESSAGES: dict[int, str] = {signal.SIGINT: MESSAGE, signal.SIGTERM: "terminated"}


class _State:
    requested = False  # a SIGINT (or SIGTERM) arrived
    delivered = False  # the CLI caught it and is exiting with exit_code()
    signum: int = signal.SIGINT  # the first signal that arrived


_state = _State()


def install() -> None:
    """Route SIGINT through the recording handler (main thread only, as `signal` requires),
    and keep a swallowed one from printing Python's "Exception ignored" traceback."""
    signal.signal(signal.SIGINT, _on_sigint)
    signal.signal(signal.SIGTERM, _on_sigint)
    previous = sys.unraisablehook

    def hook(unraisable: Any) -> None:
        if not (_state.requested and isinstance(unraisable.exc_value, KeyboardInterrupt)):
            previous(unraisable)

    sys.unraisablehook = hook


def _on_sigint(signum: int, frame: FrameType | None) -> None:
    if _state.delivered:
        return  # already on the way out; a second Ctrl-C changes nothing
    if not _state.requested:
        _state.requested = True
        _state.signum = signum
        threading.Thread(target=_retry, name="archinspect-sigint", daemon=True).start()
    if isinstance(sys.exc_info()[1], KeyboardInterrupt):
        return  # one is propagating already: let the cleanup it runs (finally, __exit__) finish
    if _importing(frame):
        return  # raised by the retry once the import is over (see _importing)
    raise KeyboardInterrupt


def _importing(frame: FrameType | None) -> bool:
    """True inside an import. A KeyboardInterrupt raised in Python code that an extension
    module runs while it initialises (jaxlib's, through nanobind) can abort the whole process
    (`terminate called after throwing an instance of 'nanobind::python_error'`), so the
    interrupt waits until the import is done."""
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib._bootstrap"):
            return True
        frame = frame.f_back
    return False


def _retry() -> None:
    """Raise the interrupt in the main thread again until the CLI has caught it. With
    `_thread.interrupt_main`, not a real signal: a real one would also break the system calls
    of native code (JAX, XLA) with EINTR ten times a second. The price: a main thread blocked
    in a wait (a compilation's result) gets it when the wait ends."""
    import _thread

    while not _state.delivered:
        time.sleep(RETRY_S)
        if not _state.delivered:
            _thread.interrupt_main(signal.SIGINT)


def exit_code() -> int:
    """128 + the signal number, as a shell reports a program a signal ended: 130 for SIGINT,
    143 for SIGTERM."""
    return 128 + int(_state.signum)


def message() -> str:
    """The one word said on standard error: "interrupted" (SIGINT) or "terminated" (SIGTERM)."""
    return MESSAGES.get(_state.signum, MESSAGE)


def requested() -> bool:
    """True once a SIGINT has arrived, whether or not its KeyboardInterrupt was swallowed."""
    return _state.requested


def pending() -> bool:
    """True when a SIGINT arrived and the CLI has not caught it (yet)."""
    return _state.requested and not _state.delivered


def check() -> None:
    """A safe point: raise the interrupt here if one arrived and was swallowed on the way."""
    if pending():
        raise KeyboardInterrupt


def delivered() -> None:
    """The CLI caught the interrupt: stop raising it again."""
    _state.delivered = True


def finish() -> None:
    """The program's last step: after an interrupt, say so (unless the CLI has) and exit 130 at
    once, without waiting for worker threads: an XLA compilation still running in one cannot
    be cancelled, and the interpreter would otherwise join it before exiting."""
    if not _state.requested:
        return
    for stream, text in (
        (sys.stderr, "" if _state.delivered else message() + "\n"),
        (sys.stdout, ""),
    ):
        try:
            if stream is not None:
                stream.write(text)
                stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(exit_code())
