"""Renderers: Report -> text. The only modules that import rich; they never compute.

One module per report declares its view once (count, rf, inspect, check, sweep, solve, diff; see
view.py); the generic writers in formats/ lay it out as a table, Markdown, CSV or JSON.
`render(fmt, report)` picks the view by the report's type; the per-format modules (table.py,
markdown.py, csv.py, json.py, junit.py, github.py) keep the `<report>_<format>` entry points.
"""

from __future__ import annotations

import importlib
from typing import Any

from archinspect import report as _r

_VIEWS: dict[type, str] = {
    _r.CountReport: "count",
    _r.RFReport: "rf",
    _r.InspectReport: "inspect",
    _r.CheckReport: "check",
    _r.SweepResult: "sweep",
    _r.SolveResult: "solve",
    _r.DiffReport: "diff",
}
_TEXT_FORMATS = ("table", "markdown", "csv", "json", "junit", "github", "html")


def render(fmt: str, report: Any, **kwargs: Any) -> str:
    """The text of `report` in `fmt`; `width` and `color` go to the table only, `full` to the
    inspect view (shapes without it)."""
    view = _VIEWS.get(type(report))
    if view is None or fmt not in _TEXT_FORMATS:
        raise ValueError(f"no {fmt} view of {type(report).__name__}")
    module = importlib.import_module(f"archinspect.render.{view}")
    writer = getattr(module, f"to_{fmt}", None)
    if writer is None:
        raise ValueError(f"no {fmt} view of {type(report).__name__}")
    if fmt != "table":
        kwargs.pop("width", None)
        kwargs.pop("color", None)
    if view != "inspect":
        kwargs.pop("full", None)
    return writer(report, **kwargs)
