"""Ctrl-C (SIGINT) that always ends a command: exit 130, and no report written.

Python turns SIGINT into a KeyboardInterrupt raised wherever the main thread happens to be, and
some places swallow it: a garbage-collection callback (JAX registers one) or a weakref callback
prints "Exception ignored" and carries on, and an extension module being imported turns it into
an ImportError. So the handler installed here records the interrupt as well as raising it, and
raises it again every RETRY_S seconds until the CLI has caught it (`delivered`); the CLI also
consults the record before it writes a report (`check`) and before it picks an exit code
(`requested`).

Only the entry point (`archinspect.cli.main`) installs the handler; in-process callers (tests,
the Python API) keep Python's own.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from types import FrameType
from typing import Any

RETRY_S = 0.1


class _State:
    requested = False  # a SIGINT arrived
    delivered = False  # the CLI caught it and is exiting with 130


_state = _State()


def install() -> None:
    """Route SIGINT through the recording handler (main thread only, as `signal` requires),
    and keep a swallowed one from printing Python's "Exception ignored" traceback."""
    signal.signal(signal.SIGINT, _on_sigint)
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
        threading.Thread(target=_retry, name="archinspect-sigint", daemon=True).start()
    if isinstance(sys.exc_info()[1], KeyboardInterrupt):
        return  # one is propagating already: let the cleanup it runs (finally, __exit__) finish
    raise KeyboardInterrupt


def _retry() -> None:
    """Raise the interrupt in the main thread again until the CLI has caught it."""
    import _thread

    while not _state.delivered:
        time.sleep(RETRY_S)
        if not _state.delivered:
            _thread.interrupt_main(signal.SIGINT)


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
