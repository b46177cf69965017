"""Exceptions raised deep in archinspect and turned into messages and exit codes by cli.py."""

from __future__ import annotations

from dataclasses import dataclass

from archinspect.text import visible


class ArchinspectError(Exception):
    """Base class: carries a user-facing message and the exit code the CLI should use."""

    exit_code = 2

    def __init__(self, message: str):
        # Messages quote user text (names, keys, paths): its control characters are shown as
        # escapes, so printing a message can neither drive the terminal nor fail to encode.
        message = visible(message, keep="\n")
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Location:
    """Where a value came from: a file position, or a command-line override."""

    source: str  # file path, or "--set" for command-line overrides
    line: int | None = None  # 1-based
    column: int | None = None  # 1-based

    def describe(self) -> str:
        """`path:line:col` as compilers, ruff and mypy write it (editors and CI problem
        matchers pick it up); the source alone when there is no position (a --set override)."""
        if self.line is None:
            return self.source
        return f"{self.source}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a spec, located by dotted path and position."""

    path: str
    message: str
    location: Location | None = None

    def render(self, source: str) -> str:
        """One line, `path:line:col: dotted.path: message` (`source` when the problem has no
        location); a newline in a key or a file name is shown as \\n."""
        where = self.location.describe() if self.location is not None else source
        path = f"{self.path}: " if self.path else ""
        return visible(f"{where}: {path}{self.message}")


# A message lists at most this many problems, then says how many more there are: a spec with
# a thousand mistakes needs its first few fixed, not a thousand lines.
MAX_PROBLEMS = 50


class SpecError(ArchinspectError):
    """A spec file (or its overrides) has one or more problems; all are reported at once (up
    to MAX_PROBLEMS; `more` counts those found but not kept)."""

    def __init__(self, source: str, problems: list[Problem], more: int = 0):
        self.source = source
        self.problems = sorted(problems, key=_problem_order)[:MAX_PROBLEMS]
        n = len(problems) + more
        plural = "s" if n != 1 else ""
        head = visible(f"error: {source} is not a valid archinspect spec ({n:,} problem{plural})")
        lines = [head] + [p.render(source) for p in self.problems]
        if n > len(self.problems):
            lines.append(f"  ... and {n - len(self.problems):,} more problems")
        super().__init__("\n".join(lines))


def _problem_order(p: Problem) -> tuple:
    loc = p.location
    if loc is None or loc.line is None:
        return (1, 0, 0, p.path)
    return (0, loc.line, loc.column or 0, p.path)


class UsageError(ArchinspectError):
    """Bad command-line usage that Typer itself cannot catch (e.g. a malformed --set)."""


class ArgumentError(ArchinspectError, ValueError):
    """A Python API call (README "Python API") with an argument archinspect cannot use: the
    message names the argument, its value and what is allowed."""


class FileError(ArchinspectError):
    """A file to read (a spec) or write (--output, --plot) that archinspect cannot or will not
    use: missing, a device, a FIFO, too large, a link out of the working tree, unwritable."""


class BuildError(ArchinspectError):
    """A valid-looking spec whose arguments the family rejects when it is built."""


class TrustError(ArchinspectError):
    """A `target:` names a package that is not trusted; nothing was imported."""


class PlatformError(ArchinspectError):
    """The requested JAX platform (cpu, gpu, tpu) is not available on this machine."""


class UnsupportedOperation(ArchinspectError):
    """An analysis met an operation it has no exact rule for; it names it instead of guessing."""


class MethodsDisagree(ArchinspectError):
    """--method both: the structural and empirical methods gave different receptive fields."""


class StreamError(ArchinspectError):
    """Standard output is closed or cannot take the report (e.g. a full device)."""


class InternalError(ArchinspectError):
    """A bug in archinspect (any other exception), worded for the user. `check` records one per
    spec instead of raising it, so the other specs' results are still reported."""

    exit_code = 3

    def __init__(self, exc: BaseException, source: str | None = None):
        where = f"{source}: " if source is not None else ""
        super().__init__(
            f"internal error: {where}{type(exc).__name__}: {exc}\n"
            "(this is a bug in archinspect; run with --debug for the traceback)"
        )


class TooLarge(ArchinspectError):
    """A spec whose sizes exhaust this machine (MemoryError) or whose nesting exhausts Python's
    stack (RecursionError): the input is too large, not a bug in archinspect (exit 2)."""

    def __init__(self, exc: BaseException, source: str | None = None):
        where = f"{source}: " if source is not None else ""
        if isinstance(exc, RecursionError):
            what = (
                "the model is nested too deeply to analyse (RecursionError: Python's stack "
                "ran out); lower its depth or nesting (levels, blocks, nested modules)"
            )
        else:
            detail = f": {exc}" if str(exc) else ""
            what = (
                f"the analysis ran out of memory (MemoryError{detail}); the model or input is "
                "too large for this machine: lower the sizes the spec sets (depth, widths, "
                "blocks, input.resolution, input.batch_size)"
            )
        super().__init__(f"error: {where}{what}")


def user_error(exc: BaseException, source: str | None = None) -> ArchinspectError:
    """The error to report for an exception that is not archinspect's own: `TooLarge` for
    memory and recursion exhaustion (the spec's sizes), otherwise `InternalError` (a bug)."""
    if isinstance(exc, (MemoryError, RecursionError)):
        return TooLarge(exc, source)
    return InternalError(exc, source)
