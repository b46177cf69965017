"""`archinspect rf`: the receptive field per axis, declared once for every format; and the
receptive-field texts the other views share (the network's RF in `count --rf`, `shapes`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from archinspect.render.fmt import (
    dims_label,
    extent_json,
    extent_text,
    pairs_csv,
    pairs_json,
    pairs_text,
    shape_text,
)
from archinspect.render.formats import markdown as md
from archinspect.render.formats.csv import csv_text
from archinspect.render.formats.html import html_notes, html_page, html_summary, html_table
from archinspect.render.formats.json import dumps
from archinspect.render.view import Column, Field, Grid
from archinspect.report import Pair, RFReport, RFResult


def range_text(pair: Pair) -> str:
    lo, hi = pair
    return extent_text(lo) if lo == hi else f"{extent_text(lo)}..{extent_text(hi)}"


def global_text(result: RFResult, limit: int = 4) -> str:
    if not result.global_:
        return "no"
    names = [f"{g.path or '<root>'} ({g.type}, {g.kind})" for g in result.global_via]
    more = f", ... ({len(names)} modules)" if len(names) > limit else ""
    return "yes, via " + ", ".join(names[:limit]) + more


def rf_dict(result: RFResult) -> dict:
    """The README's receptive-field keys; infinite extents are the string "inf"."""
    return {
        "per_axis": pairs_json(result.per_axis),
        "global": bool(result.global_),
        "global_via": [{"path": g.path, "type": g.type, "kind": g.kind} for g in result.global_via],
        "position_range": [pairs_json([b, f]) for b, f in result.position_range],
        "period": list(result.period),
        "method": result.method,
        "analysed_shape": list(result.analysed_shape),
    }


def network_fields(result: RFResult, *, per_axis: str) -> list[Field]:
    """The network's RF as summary lines of `count --rf`, `shapes` and `inspect`."""
    pairs = pairs_text(result.per_axis)
    coupling = global_text(result, limit=2)
    return [
        Field(
            "receptive_field",
            "receptive field",
            note=pairs + per_axis,
            markdown=pairs,
            md_label="receptive field (backward, forward)",
        ),
        Field("global", "global coupling", note=coupling, markdown=coupling),
    ]


# The cumulative RF at a module's output: a column of `count --rf`, `shapes` and `inspect`.
RF = Column[Any](
    "receptive_field",
    "RF",
    lambda r: None if r.rf is None else pairs_json(r.rf),
    lambda r: pairs_text(r.rf),
    csv=lambda r: pairs_csv(r.rf),
    short=lambda r: pairs_text(r.rf, compact=True),
    no_wrap=True,
)


@dataclass(frozen=True)
class AxisRow:
    """One spatial axis of an RF result."""

    axis: int
    extents: Pair
    backward_range: Pair
    forward_range: Pair
    period: int
    result: RFResult


def _rows(result: RFResult) -> list[AxisRow]:
    return [
        AxisRow(axis, pair, br, fr, p, result)
        for axis, (pair, (br, fr), p) in enumerate(
            zip(result.per_axis, result.position_range, result.period, strict=True)
        )
    ]


def _extent(header: str, get) -> Column[AxisRow]:
    return Column[AxisRow](
        header.replace(" ", "_"),
        header,
        lambda r: extent_json(get(r)),
        lambda r: extent_text(get(r)),
        "right",
        csv=lambda r: extent_text(get(r)),
    )


AXIS = Column[AxisRow]("axis", "axis", lambda r: r.axis, lambda r: str(r.axis), "right")
BACKWARD = _extent("backward", lambda r: r.extents[0])
FORWARD = _extent("forward", lambda r: r.extents[1])
BACKWARD_RANGE = Column[AxisRow](
    "backward_range",
    "backward over positions",
    lambda r: [extent_json(v) for v in r.backward_range],
    lambda r: range_text(r.backward_range),
    "right",
)
FORWARD_RANGE = Column[AxisRow](
    "forward_range",
    "forward over positions",
    lambda r: [extent_json(v) for v in r.forward_range],
    lambda r: range_text(r.forward_range),
    "right",
)
# CSV keeps each end of a range in a column of its own.
BACKWARD_MIN = _extent("backward min", lambda r: r.backward_range[0])
BACKWARD_MAX = _extent("backward max", lambda r: r.backward_range[1])
FORWARD_MIN = _extent("forward min", lambda r: r.forward_range[0])
FORWARD_MAX = _extent("forward max", lambda r: r.forward_range[1])
PERIOD = Column[AxisRow]("period", "period", lambda r: r.period, lambda r: str(r.period), "right")
GLOBAL = Column[AxisRow](
    "global", "global", lambda r: r.result.global_, lambda r: global_text(r.result)
)
METHOD = Column[AxisRow]("method", "method", lambda r: r.result.method, lambda r: r.result.method)


def grid(report: RFReport, fmt: str) -> Grid[AxisRow]:
    rows = _rows(report.result)
    if fmt == "csv":
        columns = [AXIS, BACKWARD, FORWARD, BACKWARD_MIN, BACKWARD_MAX, FORWARD_MIN, FORWARD_MAX]
        return Grid("", [*columns, PERIOD, GLOBAL, METHOD], rows)
    title = " · ".join(_title(report)) + " · receptive field"
    return Grid(title, [AXIS, BACKWARD, FORWARD, BACKWARD_RANGE, FORWARD_RANGE, PERIOD], rows)


def _title(report: RFReport) -> list[str]:
    dims = dims_label(len(report.input_shape) - 1)
    return [report.name, report.family, dims, f"input {shape_text(report.input_shape)}"]


def summary(report: RFReport) -> list[Field]:
    r = report.result
    agree = " (agree)" if len(report.methods) > 1 else ""
    return [
        Field(
            "per_axis",
            "stencil RF",
            note=pairs_text(r.per_axis) + " cells (backward, forward) per axis",
        ),
        Field("global", "global coupling", note=global_text(r), markdown=global_text(r, limit=100)),
        Field(
            "methods",
            "methods",
            note=", ".join(report.methods) + agree,
            markdown=", ".join(report.methods),
            md_label="methods in agreement",
        ),
        Field("analysed_shape", "analysed on", note=f"input {shape_text(r.analysed_shape)}"),
    ]


def renderables(report: RFReport) -> list[Any]:
    # Rich is imported by the table only: JSON, CSV and Markdown never load it.
    from rich.text import Text

    from archinspect.render.formats.table import rich_table, summary_grid

    items = [rich_table(grid(report, "table")), summary_grid(summary(report), numbers=False)]
    return items + [Text(f"note: {note}") for note in report.notes]


def to_table(report: RFReport, *, width: int = 120, color: bool = False) -> str:
    from archinspect.render.formats.table import to_text

    return to_text(renderables(report), width=width, color=color)


def to_html(report: RFReport) -> str:
    g = grid(report, "table")
    return html_page(
        [html_table(g), html_summary(summary(report), numbers=False), html_notes(report.notes)]
    )


def to_markdown(report: RFReport) -> str:
    name, family, _dims, shape = _title(report)
    lines = [f"### {name} — {family}, {shape}: receptive field", ""]
    lines += md.md_table(grid(report, "markdown"))
    lines.append("")
    # the summary as a list: the global coupling and the methods (the rest is in the table)
    for f in summary(report)[1:3]:
        label, value = f.md_cells
        lines.append(f"- {label}: {md.cell(value)}")
    return md.join(lines + md.md_notes(report.notes))


def to_csv(report: RFReport) -> str:
    return csv_text(grid(report, "csv"))


def to_json(report: RFReport) -> str:
    return dumps(
        {
            "name": report.name,
            "spec": report.spec,
            "family": report.family,
            "input_shape": list(report.input_shape),
            "receptive_field": {**rf_dict(report.result), "methods": list(report.methods)},
            "notes": list(report.notes),
        }
    )
