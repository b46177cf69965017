"""CSV: one row per report row, the columns' keys as the header."""

from __future__ import annotations

import csv
import io
from typing import Any

from archinspect.render.view import Grid


def csv_text(grid: Grid[Any]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([c.key for c in grid.columns])
    for row in grid.rows:
        writer.writerow([c.csv_cell(row) for c in grid.columns])
    return buffer.getvalue()
