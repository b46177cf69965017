"""Exceptions raised deep in archinspect and turned into messages and exit codes by cli.py."""

from __future__ import annotations

from dataclasses import dataclass


class ArchinspectError(Exception):
    """Base class: carries a user-facing message and the exit code the CLI should use."""

    exit_code = 2

    def __init__(self, message: str):
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
        if self.line is None:
            return self.source
        return f"line {self.line}, col {self.column}"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a spec, located by dotted path and position."""

    path: str
    message: str
    location: Location | None = None

    def render(self) -> str:
        where = self.location.describe() + ", " if self.location is not None else ""
        path = f"{self.path}: " if self.path else ""
        return f"{where}{path}{self.message}"


class SpecError(ArchinspectError):
    """A spec file (or its overrides) has one or more problems; all are reported at once."""

    def __init__(self, source: str, problems: list[Problem]):
        self.source = source
        self.problems = sorted(problems, key=_problem_order)
        n = len(self.problems)
        head = (
            f"error: {source} is not a valid archinspect spec ({n} problem{'s' if n != 1 else ''})"
        )
        lines = [head] + ["  " + p.render() for p in self.problems]
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
