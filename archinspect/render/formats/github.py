"""GitHub Actions workflow commands (`::error file=...,line=...,col=...::message`), escaped by
GitHub's rules so that no text from a spec can end an annotation or forge another command."""

from __future__ import annotations

from archinspect.report import CheckError
from archinspect.text import visible


def escape_data(text: str) -> str:
    """A workflow command's message (GitHub's rules): `%`, CR and LF percent-encoded, so no
    newline in a key, a value or a file name can end the annotation and forge another command;
    other control characters are shown as escapes (archinspect.text.visible)."""
    text = visible(text, keep="\r\n")
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A workflow command's property value: as data, and `:` and `,` percent-encoded too."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def spec_error_commands(error: CheckError) -> list[str]:
    """A spec that could not be loaded: one ::error per located problem, on its line (so it
    lands there in a pull request); the whole message, on the file, when none is located."""
    lines = []
    located = [
        (p, p.location)
        for p in error.problems
        if p.location is not None and p.location.line is not None and p.location.column is not None
    ]
    for p, where in located:
        text = f"{p.path}: {p.message}" if p.path else p.message
        lines.append(
            f"::error file={escape_property(error.spec)},line={where.line},"
            f"col={where.column},title=archinspect spec::{escape_data(text)}"
        )
    if not located:
        lines.append(
            f"::error file={escape_property(error.spec)},title=archinspect spec::"
            f"{escape_data(error.message)}"
        )
    return lines
