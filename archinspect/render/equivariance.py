"""`archinspect equivariance`: the error of every group element, declared once for every
format, with the verdict and, when it fails, the causes archinspect detected."""

from __future__ import annotations

from typing import Any

from rich.text import Text

from archinspect.render.fmt import human_bytes, shape_text
from archinspect.render.formats import markdown as md
from archinspect.render.formats.csv import csv_text
from archinspect.render.formats.json import dumps
from archinspect.render.formats.table import rich_table, summary_grid, to_text
from archinspect.render.view import Column, Field, Grid
from archinspect.report import ElementError, EquivarianceReport


def _err(x: float) -> str:
    return f"{x:.3g}"


ELEMENT = Column[ElementError]("element", "element", lambda e: e.label, lambda e: e.label)
WHAT = Column[ElementError](
    "description", "transform", lambda e: e.description, lambda e: e.description
)
ABSOLUTE = Column[ElementError](
    "absolute", "max abs error", lambda e: e.absolute, lambda e: _err(e.absolute), "right"
)
RELATIVE = Column[ElementError](
    "relative", "relative", lambda e: e.relative, lambda e: _err(e.relative), "right"
)
OK = Column[ElementError](
    "ok",
    "ok",
    lambda e: e.ok,
    lambda e: "yes" if e.ok else "NO",
    style=lambda e: "" if e.ok else "bold red",
)
COLUMNS = [ELEMENT, WHAT, ABSOLUTE, RELATIVE, OK]


def _title(r: EquivarianceReport) -> str:
    return f"{r.name} · {r.family} · {r.group} (S={r.order}) · input {shape_text(r.input_shape)}"


def grid(report: EquivarianceReport) -> Grid[ElementError]:
    return Grid(title=_title(report), columns=COLUMNS, rows=report.per_element)


def _checked(r: EquivarianceReport) -> str:
    if r.orientation_axis is None:
        what = (
            "invariance (no spatial axes)"
            if not r.spatial
            else "space rotated with the input; no orientation axis (invariant to orientations)"
        )
    else:
        packed = " (channels × orientations, orientation fastest)" if r.packed else ""
        what = f"rotation of space and orientations on output axis {r.orientation_axis}{packed}"
    return what


def summary(r: EquivarianceReport) -> list[Field]:
    verdict = "equivariant" if r.ok else "NOT equivariant"
    if r.ok and r.orientation_axis is None and not r.spatial:
        verdict = "invariant"
    return [
        Field("ok", "verdict", note=f"{verdict} within tolerance" if r.ok else verdict),
        Field(
            "max_error",
            "max error",
            note=f"{_err(r.max_absolute)} absolute, {_err(r.max_relative)} relative",
        ),
        Field("tolerance", "tolerance", note=f"{r.tolerance:g} of the largest output magnitude"),
        Field("checked", "checked", note=_checked(r)),
        Field("output_shape", "output", note=shape_text(r.output_shape)),
        Field("seed", "weights, input", note=f"random, seed {r.seed}"),
        Field(
            "estimated_bytes", "memory", note=f"about {human_bytes(r.estimated_bytes)} (estimated)"
        ),
    ]


def _causes(r: EquivarianceReport) -> list[str]:
    if r.ok:
        return []
    if not r.causes:
        return [
            "cause: none of the known causes was detected (asymmetric padding, input "
            "parity, strides, plain layers)"
        ]
    return [f"cause: {c.message}" for c in r.causes]


def to_table(report: EquivarianceReport, *, width: int = 120, color: bool = False) -> str:
    items: list[Any] = [rich_table(grid(report)), summary_grid(summary(report), numbers=False)]
    items += [Text(line) for line in _causes(report)]
    items += [Text(f"note: {n}") for n in report.notes]
    return to_text(items, width=width, color=color)


def to_markdown(report: EquivarianceReport) -> str:
    lines = [f"### {_title(report)}", "", *md.md_table(grid(report)), ""]
    for f in summary(report):
        label, _ = f.md_cells
        lines.append(f"- {label}: {md.cell(f.note)}")
    lines += [f"- {md.cell(c)}" for c in _causes(report)]
    return md.join(lines + md.md_notes(report.notes))


def to_csv(report: EquivarianceReport) -> str:
    return csv_text(grid(report))


def to_json(report: EquivarianceReport) -> str:
    g = grid(report)
    return dumps(
        {
            "name": report.name,
            "spec": report.spec,
            "family": report.family,
            "group": report.group,
            "order": report.order,
            "input_shape": list(report.input_shape),
            "output_shape": list(report.output_shape),
            "orientation_axis": report.orientation_axis,
            "packed": report.packed,
            "spatial": report.spatial,
            "ok": report.ok,
            "tolerance": report.tolerance,
            "max_error": {"absolute": report.max_absolute, "relative": report.max_relative},
            "per_element": [g.record(e) for e in report.per_element],
            "causes": [
                {"kind": c.kind, "path": c.path, "message": c.message} for c in report.causes
            ]
            if not report.ok
            else [],
            "seed": report.seed,
            "estimated_bytes": report.estimated_bytes,
            "notes": list(report.notes),
        }
    )
