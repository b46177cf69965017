"""`archinspect count`: parameters per module, declared once for every format."""

from __future__ import annotations

from typing import Any

from archinspect.render.fmt import (
    array_desc,
    dims_label,
    dtype_lines,
    human_bytes,
    num,
    row_path,
    shape_text,
)
from archinspect.render.formats import markdown as md
from archinspect.render.formats.csv import csv_text
from archinspect.render.formats.html import html_notes, html_page, html_summary, html_table
from archinspect.render.formats.json import dumps
from archinspect.render.rf import RF, network_fields, rf_dict
from archinspect.render.view import Column, Field, Grid
from archinspect.report import CountReport, FilterBank, InspectReport, ModuleRow


def arrays_text(row: ModuleRow) -> str:
    parts = [array_desc(leaf.name, leaf.shape, leaf.dtype) for leaf in row.leaves]
    if row.folded:
        parts.append(f"+{row.folded} nested rows folded")
    return ", ".join(parts)


def _arrays(row: ModuleRow) -> list[dict]:
    return [
        {"name": leaf.name, "shape": list(leaf.shape), "dtype": leaf.dtype, "params": leaf.params}
        for leaf in row.leaves
    ]


PATH = Column[ModuleRow](
    "path",
    "module",
    lambda r: r.path,
    lambda r: row_path(r.path),
    style=lambda r: "bold" if r.depth == 0 else "",
    fold=True,
)
TYPE = Column[ModuleRow]("type", "type", lambda r: r.type, lambda r: r.type, fold=True)
DEPTH = Column[ModuleRow]("depth", "depth", lambda r: r.depth, lambda r: str(r.depth), "right")
OWN = Column[ModuleRow](
    "own_params", "own", lambda r: r.own_params, lambda r: num(r.own_params), "right"
)
PARAMS = Column[ModuleRow]("params", "params", lambda r: r.params, lambda r: num(r.params), "right")
MATERIALIZED = Column[ModuleRow](
    "materialized",
    "materialized",
    lambda r: r.materialized,
    lambda r: "" if r.materialized is None else num(r.materialized),
    "right",
)
FOLDED = Column[ModuleRow]("folded", "folded", lambda r: r.folded, lambda r: str(r.folded), "right")
ARRAYS = Column[ModuleRow]("arrays", "arrays", _arrays, arrays_text, csv=arrays_text, fold=True)
# JSON's key order is the README's contract (params before own_params).
JSON_KEYS = ("path", "type", "depth", "params", "own_params", "folded", "arrays")


def grid(report: CountReport, fmt: str) -> Grid[ModuleRow]:
    """Table and Markdown show the root row and the tree by indentation; CSV and JSON the rows
    below the root with their depth (the root's figures are the totals)."""
    rf = [RF] if report.receptive_field is not None else []
    # Where layers build filter banks, each row's materialized count beside its parameters.
    built = [MATERIALIZED] if report.params.banks else []
    if fmt in ("table", "markdown"):
        return Grid(
            title=" · ".join(_title(report)),
            columns=[PATH, TYPE, OWN, PARAMS, *built, ARRAYS, *rf],
            rows=report.rows,
            indent=lambda r: max(r.depth - 1, 0),
        )
    return Grid(
        title="",
        columns=[PATH, TYPE, DEPTH, OWN, PARAMS, *built, FOLDED, ARRAYS, *rf],
        rows=[r for r in report.rows if r.depth > 0],
    )


def _title(report: CountReport) -> list[str]:
    if report.num_spatial_dims is None or report.input_shape is None:
        return [report.name, report.family]  # a live model counted without an input
    dims = dims_label(report.num_spatial_dims)
    return [report.name, report.family, dims, f"input {shape_text(report.input_shape)}"]


def summary(report: CountReport) -> list[Field]:
    p = report.params
    dtypes = dtype_lines(p.by_dtype, p.elements_by_dtype, p.bytes_by_dtype)
    fields = [
        Field("total", "total parameters", num(p.total), "exact"),
        Field("learnable", "learnable", num(p.learnable), "what an optimizer trains"),
        Field("state", "state", num(p.state), "running statistics, buffers"),
        Field("frozen", "frozen", num(p.frozen), "marked with --frozen"),
        Field(
            "materialized",
            "materialized",
            "not measured" if p.materialized is None else num(p.materialized),
        ),
        Field(
            "bytes",
            "parameter bytes",
            num(p.bytes),
            human_bytes(p.bytes),
            markdown=f"{num(p.bytes)} ({human_bytes(p.bytes)})",
        ),
        Field("by_dtype", "by dtype", "", "\n".join(dtypes), markdown="; ".join(dtypes)),
    ]
    if report.receptive_field is not None:
        fields += network_fields(report.receptive_field, per_axis=" (backward, forward)")
    return fields


def params_dict(report: CountReport | InspectReport) -> dict:
    p = report.params
    return {
        "total": p.total,
        "learnable": p.learnable,
        "state": p.state,
        "frozen": p.frozen,
        "materialized": p.materialized,
        "bytes": p.bytes,
        "by_dtype": dict(p.by_dtype),
        "elements_by_dtype": dict(p.elements_by_dtype),
        "bytes_by_dtype": dict(p.bytes_by_dtype),
        "complex_elements": p.complex_elements,
    } | ({"filter_banks": [_bank_dict(b) for b in p.banks]} if p.banks else {})


def _bank_dict(bank: FilterBank) -> dict[str, Any]:
    return {
        "path": bank.path,
        "group": bank.group,
        "order": bank.order,
        "lifting": bank.lifting,
        "in_channels": bank.in_channels,
        "out_channels": bank.out_channels,
        "kernel_size": bank.kernel_size,
        "learnable": bank.learnable,
        "materialized": bank.materialized,
        "bias": bank.bias,
        "sources": list(bank.sources),
    }


def renderables(report: CountReport) -> list[Any]:
    # Rich is imported by the table only: JSON, CSV and Markdown never load it.
    from rich.text import Text

    from archinspect.render.formats.table import rich_table, summary_grid

    items: list[Any] = [rich_table(grid(report, "table")), summary_grid(summary(report))]
    return items + [Text(f"note: {note}") for note in report.notes]


def to_table(report: CountReport, *, width: int = 120, color: bool = False) -> str:
    from archinspect.render.formats.table import to_text

    return to_text(renderables(report), width=width, color=color)


def to_html(report: CountReport) -> str:
    g = grid(report, "table")
    return html_page([html_table(g), html_summary(summary(report)), html_notes(report.notes)])


def to_markdown(report: CountReport) -> str:
    name, *rest = _title(report)
    heading = f"### {name} — {', '.join(rest)}"
    table = md.md_table(grid(report, "markdown"))
    lines = [heading, "", *md.md_summary(summary(report)), "", *table]
    return md.join(lines + md.md_notes(report.notes))


def to_csv(report: CountReport) -> str:
    return csv_text(grid(report, "csv"))


def to_json(report: CountReport) -> str:
    g = grid(report, "json")
    keys = JSON_KEYS + (("receptive_field",) if report.receptive_field is not None else ())
    keys += ("materialized",) if report.params.banks else ()
    data: dict[str, Any] = {
        "name": report.name,
        "spec": report.spec,
        "family": report.family,
        "num_spatial_dims": report.num_spatial_dims,
        "input_shape": None if report.input_shape is None else list(report.input_shape),
        "params": params_dict(report),
        "depth": report.depth,
        "layers": [_drop_none(g.record(r, keys), "receptive_field") for r in g.rows],
        "notes": list(report.notes),
    }
    if report.receptive_field is not None:
        data["receptive_field"] = rf_dict(report.receptive_field)
    return dumps(data)


def _drop_none(record: dict[str, Any], *keys: str) -> dict[str, Any]:
    """Optional keys are absent, not null, when a row has no value for them."""
    return {k: v for k, v in record.items() if not (k in keys and v is None)}
