"""GitHub Actions workflow commands for `check`: an ::error annotation on the YAML line of each
exceeded budget, so it lands on that line in a pull request."""

from __future__ import annotations

import re

from archinspect.render.check_data import summary_line
from archinspect.report import CheckReport


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


_LOCATED = re.compile(r"^\s+line (\d+), col (\d+), (.*)$")


def check_github(report: CheckReport) -> str:
    lines = []
    for r in report.exceeded:
        props = f"file={_escape_property(r.spec)}"
        if r.line is not None:
            props += f",line={r.line},col={r.column}"
        props += f",title={_escape_property('archinspect budget ' + r.budget)}"
        lines.append(f"::error {props}::{_escape_data(r.message)}")
    for spec, message in report.errors:
        located = False
        for text in message.splitlines()[1:]:
            match = _LOCATED.match(text)
            if match:
                located = True
                lines.append(
                    f"::error file={_escape_property(spec)},line={match.group(1)},"
                    f"col={match.group(2)},title=archinspect spec::{_escape_data(match.group(3))}"
                )
        if not located:
            lines.append(
                f"::error file={_escape_property(spec)},title=archinspect spec::"
                f"{_escape_data(message)}"
            )
    lines.append(summary_line(report))
    return "\n".join(lines) + "\n"
