"""Rich tables, rendered to a string; colour only when the caller asks for it.

Every text reaches Rich as a `Text` (never parsed as markup: a name '[/]' or '[link=...]' is
printed as written) with its control characters shown as escapes (archinspect.text.visible).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from archinspect.render.view import Field, Grid
from archinspect.text import visible


def plain(text: str, style: str = "", keep: str = "") -> Text:
    """User text for Rich: no markup, control characters escaped (`keep` them, say "\n")."""
    return Text(visible(text, keep), style=style)


def to_text(renderables: list, *, width: int = 120, color: bool = False) -> str:
    buffer = io.StringIO()
    console = Console(
        file=buffer,
        width=width,
        color_system="standard" if color else None,
        force_terminal=color,
        no_color=not color,
        highlight=False,
        legacy_windows=False,
    )
    for item in renderables:
        if isinstance(item, Text) and not item.spans:  # plain lines: escape them here
            item = plain(item.plain, style=str(item.style), keep="\n")
        elif isinstance(item, str):
            item = plain(item, keep="\n")
        console.print(item)
    # Rich pads titles and grids to the full width; trailing blanks only make diffs noisy.
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines()) + "\n"


def rich_table(grid: Grid[Any], *, title: bool = True) -> Table:
    """The grid as a Rich table: the first column indented two spaces per level."""
    table = Table(title=plain(grid.title) if title else None, title_justify="left")
    for c in grid.columns:
        options: dict[str, Any] = {"justify": c.justify, "no_wrap": c.no_wrap}
        if c.fold:
            options["overflow"] = "fold"
        table.add_column(c.header, **options)
    for row in grid.rows:
        cells = []
        for i, c in enumerate(grid.columns):
            text = c.table_cell(row)
            if i == 0:
                text = "  " * grid.indent(row) + text
            cells.append(plain(text, style=c.style(row) if c.style else ""))
        table.add_row(*cells)
    return table


def summary_grid(fields: Sequence[Field], *, numbers: bool = True) -> Table:
    """Summary lines: a bold label, a right-justified figure (when `numbers`), words."""
    summary = Table.grid(padding=(0, 2))
    summary.add_column(style="bold")
    if numbers:
        summary.add_column(justify="right")
    summary.add_column()
    for f in fields:
        cells = (f.label, f.number, f.note) if numbers else (f.label, f.note)
        summary.add_row(*(plain(cell, keep="\n") for cell in cells))
    return summary


def lines(texts: Sequence[str]) -> list[Text]:
    return [plain(t, keep="\n") for t in texts]
