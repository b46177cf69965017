"""CSV: one row per report row, the columns' keys as the header.

Text cells are made safe for spreadsheets: a cell that begins with `=`, `+`, `-` or `@` (or a
tab or carriage return) would be run as a formula by Excel, LibreOffice or Google Sheets
(`=HYPERLINK(...)` in a spec name), so it is prefixed with `'`, which they read as "text".
Plain numbers stay numbers: ints and floats are written as they are, and so is text that is a
plain number (`-3`, `-17.9`, `1e6`, `-0.7%`, `-inf%`). Control characters are shown as
escapes (archinspect.text.visible); a newline is kept (the cell is quoted).
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from archinspect.render.view import Grid
from archinspect.text import visible

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(inf|nan|[0-9][0-9,_]*(\.[0-9]*)?([eE][+-]?[0-9]+)?)%?")


def safe_cell(cell: Any) -> Any:
    """A CSV cell that no spreadsheet runs as a formula (see the module's docstring)."""
    if not isinstance(cell, str):
        return cell
    if cell.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(cell):
        cell = "'" + cell
    return visible(cell, keep="\n")


def csv_text(grid: Grid[Any]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([safe_cell(c.key) for c in grid.columns])
    for row in grid.rows:
        writer.writerow([safe_cell(c.csv_cell(row)) for c in grid.columns])
    return buffer.getvalue()
