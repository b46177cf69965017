"""`archinspect diff`: three sections (the arguments that differ, the figures, the parameters
per module), each declared once as columns; the table and Markdown show them as three tables,
JSON as three lists, CSV as one table with a `section` column (the same columns by key)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from html import escape
from typing import Any

from rich.text import Text

from archinspect.render.fmt import num, pairs_json, pairs_text, row_path, shape_text
from archinspect.render.formats import markdown as md
from archinspect.render.formats.csv import csv_text
from archinspect.render.formats.html import html_notes, html_page, html_table
from archinspect.render.formats.json import dumps
from archinspect.render.formats.table import rich_table, to_text
from archinspect.render.view import Column, Grid
from archinspect.report import ArgumentDiff, DiffReport, DiffSide, FigureDiff, ModuleDiff

ABSENT = "—"  # a value the side does not have (an argument of the other family, a module)
NOT_MEASURED = "not measured"


def difference_text(d: int | None) -> str:
    return "" if d is None else f"{d:+,}" if d else "0"


def ratio_json(r: float | None) -> float | None:
    return None if r is None else round(r, 6)


def ratio_text(r: float | None) -> str:
    return "" if r is None else f"{r:,.3f}"


# ---------------------------------------------------------------- arguments


def argument_text(value: Any, present: bool) -> str:
    """As the spec writes it: a string bare, anything else in YAML's flow style."""
    if not present:
        return ABSENT
    return value if isinstance(value, str) else json.dumps(value)


ARG_NAME = Column[ArgumentDiff]("name", "argument", lambda r: r.name, lambda r: r.name)
ARG_A = Column[ArgumentDiff](
    "a",
    "A",
    lambda r: r.a,
    lambda r: argument_text(r.a, r.in_a),
    csv=lambda r: argument_text(r.a, r.in_a),
)
ARG_B = Column[ArgumentDiff](
    "b",
    "B",
    lambda r: r.b,
    lambda r: argument_text(r.b, r.in_b),
    csv=lambda r: argument_text(r.b, r.in_b),
)
ARG_STATUS = Column[ArgumentDiff]("status", "status", lambda r: r.status, lambda r: r.status)
ARGUMENTS = [ARG_NAME, ARG_A, ARG_B, ARG_STATUS]


# ---------------------------------------------------------------- figures

FIGURE_LABELS = {
    "params.total": "total parameters",
    "params.learnable": "learnable",
    "params.materialized": "materialized",
    "params.bytes": "parameter bytes",
    "input_shape": "input shape",
    "output_shape": "output shape",
    "receptive_field.per_axis": "receptive field (backward, forward)",
    "receptive_field.global": "global coupling",
    "flops.forward": "FLOPs, forward (XLA, whole batch)",
    "flops.per_sample": "FLOPs, per sample",
    "memory.activation_bytes": "activation bytes (whole batch)",
    "memory.forward_peak": "XLA memory, forward peak (bytes)",
    "memory.train_step_peak": "XLA memory, train step peak (bytes)",
}


def figure_json(key: str, value: Any) -> Any:
    if value is None or isinstance(value, bool | int):
        return value
    if key == "receptive_field.per_axis":
        return pairs_json(value)
    return list(value)  # a shape


def figure_text(key: str, value: Any, sep: str = "×") -> str:
    if value is None:
        return NOT_MEASURED
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return num(value)
    if key == "receptive_field.per_axis":
        return pairs_text(value)
    return shape_text(value, sep)


def figure_csv(key: str, value: Any) -> Any:
    """A count as a plain number; anything else as the table writes it (shapes with x)."""
    plain = isinstance(value, int) and not isinstance(value, bool)
    return value if plain else figure_text(key, value, "x")


FIG_NAME = Column[FigureDiff](
    "name",
    "figure",
    lambda r: r.key,
    lambda r: FIGURE_LABELS.get(r.key, r.key),
    csv=lambda r: r.key,
)
FIG_A = Column[FigureDiff](
    "a",
    "A",
    lambda r: figure_json(r.key, r.a),
    lambda r: figure_text(r.key, r.a),
    "right",
    csv=lambda r: figure_csv(r.key, r.a),
)
FIG_B = Column[FigureDiff](
    "b",
    "B",
    lambda r: figure_json(r.key, r.b),
    lambda r: figure_text(r.key, r.b),
    "right",
    csv=lambda r: figure_csv(r.key, r.b),
)
FIG_DIFF = Column[FigureDiff](
    "difference", "B − A", lambda r: r.difference, lambda r: difference_text(r.difference), "right"
)
FIG_RATIO = Column[FigureDiff](
    "ratio", "B / A", lambda r: ratio_json(r.ratio), lambda r: ratio_text(r.ratio), "right"
)
FIG_STATUS = Column[FigureDiff]("status", "status", lambda r: r.status, lambda r: r.status)
FIGURES = [FIG_NAME, FIG_A, FIG_B, FIG_DIFF, FIG_RATIO, FIG_STATUS]


# ---------------------------------------------------------------- modules


def type_text(r: ModuleDiff) -> str:
    """One type when both sides agree, else "A's → B's"."""
    if r.type_a == r.type_b or r.type_b is None:
        return r.type_a or ""
    if r.type_a is None:
        return r.type_b
    return f"{r.type_a} → {r.type_b}"


def _params_text(n: int | None) -> str:
    return ABSENT if n is None else num(n)


MOD_PATH = Column[ModuleDiff](
    "path",
    "module",
    lambda r: r.path,
    lambda r: row_path(r.path),
    style=lambda r: "bold" if r.depth == 0 else "",
    no_wrap=True,
)
MOD_DEPTH = Column[ModuleDiff]("depth", "depth", lambda r: r.depth, lambda r: str(r.depth), "right")
MOD_TYPE_A = Column[ModuleDiff]("type_a", "type A", lambda r: r.type_a, lambda r: r.type_a or "")
MOD_TYPE_B = Column[ModuleDiff]("type_b", "type B", lambda r: r.type_b, lambda r: r.type_b or "")
MOD_TYPE = Column[ModuleDiff]("type", "type", type_text, type_text)
MOD_A = Column[ModuleDiff]("a", "A", lambda r: r.a, lambda r: _params_text(r.a), "right")
MOD_B = Column[ModuleDiff]("b", "B", lambda r: r.b, lambda r: _params_text(r.b), "right")
MOD_DIFF = Column[ModuleDiff](
    "difference", "B − A", lambda r: r.difference, lambda r: difference_text(r.difference), "right"
)
MOD_RATIO = Column[ModuleDiff](
    "ratio", "B / A", lambda r: ratio_json(r.ratio), lambda r: ratio_text(r.ratio), "right"
)
MOD_STATUS = Column[ModuleDiff]("status", "status", lambda r: r.status, lambda r: r.status)
# The table shows one type column ("Conv → ConvNext" where they differ); JSON both types.
MODULES_SHOWN = [MOD_PATH, MOD_TYPE, MOD_A, MOD_B, MOD_DIFF, MOD_RATIO, MOD_STATUS]
MODULES_JSON = [MOD_PATH, MOD_DEPTH, MOD_TYPE_A, MOD_TYPE_B, *MODULES_SHOWN[2:]]


# ---------------------------------------------------------------- the grids


def side_text(label: str, side: DiffSide) -> str:
    source = side.spec or "live model"
    if side.overrides:
        source += " with " + ", ".join(side.overrides)
    return f"{label}: {side.name} ({source}), {side.target or side.family}"


def grids(report: DiffReport) -> list[Grid[Any]]:
    """The three sections as the table and Markdown show them."""
    depth = "every depth" if report.depth is None else f"depth {report.depth}"
    arguments = "arguments that differ" if report.arguments else "arguments that differ: none"
    return [
        Grid(title=arguments, columns=ARGUMENTS, rows=report.arguments),
        Grid(title="figures", columns=FIGURES, rows=report.figures),
        Grid(
            title=f"parameters per module ({depth})",
            columns=MODULES_SHOWN,
            rows=report.modules,
            indent=lambda r: max(r.depth - 1, 0),
        ),
    ]


def renderables(report: DiffReport) -> list[Any]:
    items: list[Any] = [Text(side_text("A", report.a)), Text(side_text("B", report.b))]
    for g in grids(report):
        items.append(rich_table(g) if g.rows else Text(g.title))
    return items + [Text(f"note: {note}") for note in report.notes]


def to_table(report: DiffReport, *, width: int = 120, color: bool = False) -> str:
    return to_text(renderables(report), width=width, color=color)


def to_html(report: DiffReport) -> str:
    sides = (("A", report.a), ("B", report.b))
    heads = [f"<p>{escape(side_text(label, side))}</p>" for label, side in sides]
    tables = [html_table(g) for g in grids(report)]
    return html_page([*heads, *tables, html_notes(report.notes)])


def to_markdown(report: DiffReport) -> str:
    lines = [f"### diff — {report.a.name} vs {report.b.name}", ""]
    lines += [f"- {side_text('A', report.a)}", f"- {side_text('B', report.b)}"]
    for g in grids(report):
        lines += ["", f"#### {g.title}"]
        if g.rows:
            lines += ["", *md.md_table(g)]
    return md.join(lines + md.md_notes(report.notes))


# CSV: every row of the three sections under one header; a section lacks some columns.
CSV_KEYS = ("section", "name", "type", "depth", "a", "b", "difference", "ratio", "status")
_SECTIONS: Sequence[tuple[str, Sequence[Column[Any]]]] = (
    ("argument", ARGUMENTS),
    ("figure", FIGURES),
    ("module", [*MODULES_SHOWN, MOD_DEPTH]),
)


def _csv_column(key: str) -> Column[tuple[str, Sequence[Column[Any]], Any]]:
    def cell(line: tuple[str, Sequence[Column[Any]], Any]) -> Any:
        section, columns, row = line
        if key == "section":
            return section
        wanted = "path" if key == "name" and section == "module" else key
        column = next((c for c in columns if c.key == wanted), None)
        return None if column is None else column.csv_cell(row)

    return Column(key, key, cell, lambda line: str(cell(line)))


def to_csv(report: DiffReport) -> str:
    rows = [
        (section, columns, row)
        for (section, columns), rows in zip(
            _SECTIONS, (report.arguments, report.figures, report.modules), strict=True
        )
        for row in rows
    ]
    return csv_text(Grid(title="", columns=[_csv_column(k) for k in CSV_KEYS], rows=rows))


def _side_dict(side: DiffSide) -> dict[str, Any]:
    return {
        "name": side.name,
        "spec": side.spec,
        "overrides": list(side.overrides),
        "family": side.family,
        "target": side.target,
    }


def to_json(report: DiffReport) -> str:
    def records(columns: Sequence[Column[Any]], rows: Sequence[Any]) -> list[dict[str, Any]]:
        g = Grid(title="", columns=columns, rows=rows)
        return [g.record(r) for r in rows]

    data: dict[str, Any] = {
        "a": _side_dict(report.a),
        "b": _side_dict(report.b),
        "depth": report.depth,
        "arguments": records(ARGUMENTS, report.arguments),
        "figures": records(FIGURES, report.figures),
        "modules": records(MODULES_JSON, report.modules),
        "notes": list(report.notes),
    }
    return dumps(data)
