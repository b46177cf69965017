"""CountReport -> plain dicts/rows shared by the json, csv and markdown renderers."""

from __future__ import annotations

from archinspect.render.fmt import array_desc
from archinspect.report import CountReport, InspectReport, ModuleRow


def params_dict(report: CountReport | InspectReport) -> dict:
    p = report.params
    return {
        "total": p.total,
        "learnable": p.learnable,
        "materialized": p.materialized,
        "bytes": p.bytes,
        "by_dtype": dict(p.by_dtype),
        "elements_by_dtype": dict(p.elements_by_dtype),
        "bytes_by_dtype": dict(p.bytes_by_dtype),
        "complex_elements": p.complex_elements,
    }


def arrays_text(row: ModuleRow) -> str:
    parts = [array_desc(leaf.name, leaf.shape, leaf.dtype) for leaf in row.leaves]
    if row.folded:
        parts.append(f"+{row.folded} nested rows folded")
    return ", ".join(parts)


def layer_rows(report: CountReport) -> list[ModuleRow]:
    """The module rows below the root (the root's figures are the totals)."""
    return [r for r in report.rows if r.depth > 0]
