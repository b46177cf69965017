"""A report's view, declared once: its columns and its summary fields.

Each report module (count, rf, inspect, check, sweep, solve) declares a `Column` per field of
its rows and a `Field` per summary line, torchinfo-style; the generic writers in
`archinspect.render.formats` lay out any selection of them as a Rich table, a Markdown table,
CSV or JSON. A field added to a report is added once, here, and shows in every format
(tests/test_render_parity.py checks that it does).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

Row = TypeVar("Row")
Justify = Literal["left", "right"]


@dataclass(frozen=True)
class Column(Generic[Row]):
    """One field of a report's rows.

    key: the JSON key and the CSV header; header: the table and Markdown header.
    value: the JSON value; text: the table and Markdown cell; csv: the CSV cell when it is
    not `value` (None: the empty cell); short: the table's cell when narrower than `text`.
    """

    key: str
    header: str
    value: Callable[[Row], Any]
    text: Callable[[Row], str]
    justify: Justify = "left"
    csv: Callable[[Row], Any] | None = None
    short: Callable[[Row], str] | None = None
    style: Callable[[Row], str] | None = None  # Rich style of the table cell
    # Never wrapped nor cut in the table (figures, shapes, extents; a right-justified column is
    # always so): narrow terminals fold the other columns (render.formats.table.fit_columns).
    no_wrap: bool = False
    fold: bool = False  # fold long cells in the table instead of wrapping at spaces

    def csv_cell(self, row: Row) -> Any:
        cell = (self.csv or self.value)(row)
        return "" if cell is None else cell

    def table_cell(self, row: Row) -> str:
        return (self.short or self.text)(row)


@dataclass(frozen=True)
class Grid(Generic[Row]):
    """Columns over rows, with what every format needs to lay them out."""

    title: str
    columns: Sequence[Column[Row]]
    rows: Sequence[Row]
    indent: Callable[[Row], int] = field(default=lambda _row: 0)  # of the first column
    aligned: bool = True  # Markdown: right-justified columns get `---:`

    def record(self, row: Row, keys: Sequence[str] | None = None) -> dict[str, Any]:
        """The JSON object of a row: the columns' values, in `keys` order when given."""
        by_key = {c.key: c for c in self.columns}
        return {k: by_key[k].value(row) for k in (keys or list(by_key))}


@dataclass(frozen=True)
class Field:
    """One line of a report's summary.

    label and number and note: the table's three cells (label, right-justified figure, words);
    markdown: the Markdown value cell when it is not the figure (and md_label its label).
    """

    key: str
    label: str
    number: str = ""
    note: str = ""
    markdown: str | None = None
    md_label: str | None = None

    @property
    def md_cells(self) -> tuple[str, str]:
        return (
            self.md_label or self.label,
            self.markdown if self.markdown is not None else self.number,
        )
