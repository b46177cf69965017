"""GitHub-flavoured Markdown tables, ready to paste into a PR or README.

Every line is written with its control characters shown as escapes (archinspect.text.visible),
so a name with a newline cannot break a table or start a new block."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from archinspect.render.view import Field, Grid
from archinspect.text import visible


def cell(text: str) -> str:
    return text.replace("|", "\\|")


def md_table(grid: Grid[Any]) -> list[str]:
    """Header, alignment row and one line per row; the first column indented by &nbsp;s."""
    out = [
        "| " + " | ".join(c.header for c in grid.columns) + " |",
        "|"
        + "|".join("---:" if grid.aligned and c.justify == "right" else "---" for c in grid.columns)
        + "|",
    ]
    for row in grid.rows:
        cells = [cell(c.text(row)) for c in grid.columns]
        cells[0] = "&nbsp;&nbsp;" * grid.indent(row) + cells[0]
        out.append("| " + " | ".join(cells) + " |")
    return out


def md_summary(fields: Sequence[Field]) -> list[str]:
    """A two-column table of summary lines, figures right-justified."""
    out = ["| | |", "|---|---:|"]
    for f in fields:
        label, value = f.md_cells
        out.append(f"| {label} | {cell(value)} |")
    return out


def md_notes(notes: Sequence[str]) -> list[str]:
    out: list[str] = []
    for note in notes:
        out += ["", f"*{note}.*"]
    return out


def join(lines: Sequence[str]) -> str:
    return "\n".join(visible(line) for line in lines) + "\n"
