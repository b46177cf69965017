"""A report shown in Python (README "Python API"): the Rich renderable a terminal prints, the
HTML Jupyter shows, the JSON `--format json` prints; each from the report's view, declared once.
"""

from __future__ import annotations

import importlib
from typing import Any

from rich.console import Group

from archinspect.render import render
from archinspect.report import CountReport, DiffReport, InspectReport, RFReport

_VIEWS: dict[type, str] = {
    CountReport: "count",
    RFReport: "rf",
    InspectReport: "inspect",
    DiffReport: "diff",
}


def _kwargs(report: Any) -> dict[str, Any]:
    """`shapes` and `inspect` share a report; which it is shown as, it says itself."""
    return {"full": report.full} if isinstance(report, InspectReport) else {}


def renderable(report: Any) -> Group:
    """The table, its summary and notes, laid out at the width of the console printing them."""
    view = importlib.import_module(f"archinspect.render.{_VIEWS[type(report)]}")
    return Group(*view.renderables(report, **_kwargs(report)))


def html(report: Any) -> str:
    return render("html", report, **_kwargs(report))


def json_text(report: Any) -> str:
    return render("json", report, **_kwargs(report))
