"""GitHub-flavoured Markdown tables, ready to paste into a PR or README."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from archinspect.render.view import Field, Grid


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
    return "\n".join(lines) + "\n"
