"""HTML tables, for Jupyter (`_repr_html_`, README "Python API"): the same declared columns and
summary fields as the other formats, every text escaped, alignment given per cell (notebook
styles right-align cells by default)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from archinspect.render.view import Field, Grid


def _text(text: str) -> str:
    return escape(text).replace("\n", "<br>")


def _cell(tag: str, text: str, justify: str = "left", indent: int = 0) -> str:
    style = f"text-align: {justify}"
    if indent:
        style += f"; padding-left: {indent * 1.5:g}em"
    return f'<{tag} style="{style}">{_text(text)}</{tag}>'


def html_table(grid: Grid[Any]) -> str:
    """The grid as a <table>: its title the caption, a header row, one row per report row (the
    first column indented by its depth)."""
    out = ['<table class="archinspect">']
    if grid.title:
        out.append(f'<caption style="text-align: left">{_text(grid.title)}</caption>')
    out.append("<thead><tr>" + "".join(_cell("th", c.header, c.justify) for c in grid.columns))
    out.append("</tr></thead>")
    out.append("<tbody>")
    for row in grid.rows:
        cells = [
            _cell("td", c.text(row), c.justify, grid.indent(row) if i == 0 else 0)
            for i, c in enumerate(grid.columns)
        ]
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody>")
    out.append("</table>")
    return "\n".join(out)


def html_summary(fields: Sequence[Field], *, numbers: bool = True) -> str:
    """Summary lines as a table of label, figure (right-justified, when `numbers`) and words."""
    out = ['<table class="archinspect-summary">', "<tbody>"]
    for f in fields:
        cells = [_cell("th", f.label)]
        if numbers:
            cells.append(_cell("td", f.number, "right"))
        cells.append(_cell("td", f.note))
        out.append("<tr>" + "".join(cells) + "</tr>")
    out += ["</tbody>", "</table>"]
    return "\n".join(out)


def html_notes(notes: Sequence[str]) -> str:
    return "\n".join(f"<p>note: {_text(note)}</p>" for note in notes)


def html_page(parts: Sequence[str]) -> str:
    return "<div>\n" + "\n".join(p for p in parts if p) + "\n</div>\n"
