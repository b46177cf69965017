"""GitHub Actions workflow commands for `check`: an ::error annotation on the YAML line of each
exceeded budget, so it lands on that line in a pull request."""

from __future__ import annotations

from archinspect.render.check_data import summary_line
from archinspect.render.check_text import budget_message
from archinspect.report import CheckReport


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def check_github(report: CheckReport) -> str:
    lines = []
    for r in report.exceeded:
        props = f"file={_escape_property(r.spec)}"
        if r.line is not None:
            props += f",line={r.line},col={r.column}"
        props += f",title={_escape_property('archinspect budget ' + r.budget)}"
        lines.append(f"::error {props}::{_escape_data(budget_message(r))}")
    for e in report.errors:
        located = [
            (p, p.location)
            for p in e.problems
            if p.location is not None
            and p.location.line is not None
            and p.location.column is not None
        ]
        for p, where in located:
            text = f"{p.path}: {p.message}" if p.path else p.message
            lines.append(
                f"::error file={_escape_property(e.spec)},line={where.line},"
                f"col={where.column},title=archinspect spec::{_escape_data(text)}"
            )
        if not located:
            lines.append(
                f"::error file={_escape_property(e.spec)},title=archinspect spec::"
                f"{_escape_data(e.message)}"
            )
    lines.append(summary_line(report))
    return "\n".join(lines) + "\n"
