"""Rich tables, rendered to a string; colour only when the caller asks for it.

Every text reaches Rich as a `Text` (never parsed as markup: a name '[/]' or '[link=...]' is
printed as written) with its control characters shown as escapes (archinspect.text.visible).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from archinspect.render.view import Field, Grid
from archinspect.text import visible


def plain(text: str, style: str = "", keep: str = "") -> Text:
    """User text for Rich: no markup, control characters escaped (`keep` them, say "\n")."""
    return Text(visible(text, keep), style=style)


# A text column is never squeezed below this many characters (or its own width): below it,
# the table is laid out wider than the terminal instead.
MIN_TEXT = 6


def _console(buffer: io.StringIO, width: int, color: bool) -> Console:
    return Console(
        file=buffer,
        width=width,
        color_system="standard" if color else None,
        force_terminal=color,
        no_color=not color,
        highlight=False,
        legacy_windows=False,
    )


def terminal(stream: Any) -> tuple[int, bool]:
    """(width, colour) of tables written to `stream`, as Rich decides them: COLUMNS, else the
    terminal's width, else 80; colour on a terminal unless NO_COLOR, or when piped with
    FORCE_COLOR; never for TERM=dumb (no escape codes at all). None (a file written with
    --output) is no terminal: its width is COLUMNS, else 80."""
    console = Console(file=stream if stream is not None else io.StringIO())
    return console.width, console.color_system is not None and not console.no_color


def to_text(renderables: list, *, width: int = 120, color: bool = False) -> str:
    """Each renderable at `width`, except a table whose numbers need more (see fit_columns)."""
    buffer = io.StringIO()
    console = _console(buffer, width, color)
    for item in renderables:
        if isinstance(item, Text) and not item.spans:  # plain lines: escape them here
            item = plain(item.plain, style=str(item.style), keep="\n")
        elif isinstance(item, str):
            item = plain(item, keep="\n")
        needed = fit_columns(item, width) if isinstance(item, Table) else width
        (console if needed <= width else _console(buffer, needed, color)).print(item)
    # Rich pads titles and grids to the full width; trailing blanks only make diffs noisy.
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines()) + "\n"


def _cell_width(cell: Any) -> int:
    text = cell.plain if isinstance(cell, Text) else str(cell or "")
    return max((cell_len(line) for line in text.splitlines()), default=0)


def fit_columns(table: Table, width: int) -> int:
    """Lay out `table` for a console `width` wide; its width.

    Numbers are never cut: a column that is not wrapped (`no_wrap`: figures, shapes, extents)
    keeps the width of its widest cell. When the table is too wide, the text columns (names,
    types, arrays, messages) share what is left, the narrowest keeping their width first, and
    fold their cells; below MIN_TEXT characters each, the table is wider than the console.
    Rich's own squeeze would end by shrinking every column alike, cutting figures to `2,35…`.
    """
    columns = table.columns
    natural = [max(_cell_width(c) for c in (col.header, *col.cells)) for col in columns]
    chrome = table._extra_width + sum(table._get_padding_width(i) for i in range(len(columns)))
    if sum(natural) + chrome <= width:
        return sum(natural) + chrome
    whole = [col.no_wrap for col in columns]
    room = width - chrome - sum(n for n, w in zip(natural, whole, strict=True) if w)
    text = sorted((i for i, w in enumerate(whole) if not w), key=lambda i: natural[i])
    floor = sum(min(natural[i], MIN_TEXT) for i in text)
    widths = list(natural)
    room = max(room, floor)
    for k, i in enumerate(text):  # the narrowest first: each takes at most an equal share
        widths[i] = max(min(natural[i], room // (len(text) - k)), min(natural[i], MIN_TEXT))
        room -= widths[i]
    for col, w, keep in zip(columns, widths, whole, strict=True):
        col.width = w
        if not keep:
            col.overflow = "fold"
    return sum(widths) + chrome


def rich_table(grid: Grid[Any], *, title: bool = True) -> Table:
    """The grid as a Rich table: the first column indented two spaces per level."""
    table = Table(title=plain(grid.title) if title else None, title_justify="left")
    for c in grid.columns:
        # A right-justified column holds figures: never wrapped, never cut (fit_columns).
        options: dict[str, Any] = {
            "justify": c.justify,
            "no_wrap": c.no_wrap or c.justify == "right",
        }
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
        summary.add_column(justify="right", no_wrap=True)
    summary.add_column()
    for f in fields:
        cells = (f.label, f.number, f.note) if numbers else (f.label, f.note)
        summary.add_row(*(plain(cell, keep="\n") for cell in cells))
    return summary


def lines(texts: Sequence[str]) -> list[Text]:
    return [plain(t, keep="\n") for t in texts]
