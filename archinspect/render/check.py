"""`archinspect check`: one row per spec and budget, declared once for every format, plus the
two CI formats (JUnit XML, GitHub workflow commands)."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from typing import Any

from rich.text import Text

from archinspect.render.check_text import budget_message, no_budget_message
from archinspect.render.fmt import num, pairs_csv, pairs_json, pairs_text
from archinspect.render.formats import markdown as md
from archinspect.render.formats.csv import csv_text
from archinspect.render.formats.github import escape_data, escape_property, spec_error_commands
from archinspect.render.formats.json import dumps
from archinspect.render.formats.table import rich_table, to_text
from archinspect.render.view import Column, Grid
from archinspect.report import BudgetResult, CheckError, CheckReport
from archinspect.text import visible

# The two places the check view reads words: the message of a budget (worded by
# render/check_text.py from the structured result) and the specs that could not be checked.


def message(result: BudgetResult) -> str:
    """What an exceeded (or kept) budget says, in words."""
    return budget_message(result)


def spec_errors(report: CheckReport) -> tuple[CheckError, ...]:
    """Every spec that could not be checked, with its message and located problems."""
    return report.errors


def value_text(value: object) -> str:
    """A budget's limit or measured value: an amount, or per-axis (backward, forward) pairs."""
    if isinstance(value, int):
        return num(value)
    if isinstance(value, list):
        return pairs_text(value)
    return str(value)


def _csv_value(value: object) -> object:
    """An amount as its digits; RF pairs as JSON ("[[8,8],[8,8]]", per axis [backward,
    forward]; the writer quotes them): one cell that a spreadsheet keeps as text and any reader
    turns back into numbers with a JSON parser, never "(8,8) (8,8)" to be taken apart."""
    return pairs_csv(value) if isinstance(value, list) else value


def _json_value(value: object) -> object:
    return pairs_json(value) if isinstance(value, list) else value


def headroom_text(r: BudgetResult) -> str:
    if r.headroom is None:
        return ""
    if r.headroom == -math.inf:
        return "-inf%"
    return f"{r.headroom:.1f}%"


def _headroom_json(r: BudgetResult) -> float | None:
    if r.headroom is None or r.headroom == -math.inf:
        return None
    return round(r.headroom, 3)


SPEC = Column[BudgetResult]("spec", "spec", lambda r: r.spec, lambda r: r.spec)
NAME = Column[BudgetResult]("name", "name", lambda r: r.name, lambda r: r.name)
BUDGET = Column[BudgetResult]("budget", "budget", lambda r: r.budget, lambda r: r.budget)
LIMIT = Column[BudgetResult](
    "limit",
    "limit",
    lambda r: _json_value(r.limit),
    lambda r: value_text(r.limit),
    "right",
    csv=lambda r: _csv_value(r.limit),
    # the table marks a limit given on the command line, which wins over the file's
    short=lambda r: value_text(r.limit) + (" (cli)" if r.from_command_line else ""),
)
ACTUAL = Column[BudgetResult](
    "actual",
    "actual",
    lambda r: _json_value(r.actual),
    lambda r: value_text(r.actual),
    "right",
    csv=lambda r: _csv_value(r.actual),
)
HEADROOM = Column[BudgetResult](
    "headroom_percent", "headroom", _headroom_json, headroom_text, "right"
)
# CSV and JSON carry the number (-0.714, a percentage of the limit); tables the text ("-0.7%")
OK = Column[BudgetResult](
    "ok",
    "ok",
    lambda r: r.ok,
    lambda r: "ok" if r.ok else "**exceeded**",
    short=lambda r: "ok" if r.ok else "EXCEEDED",
    style=lambda r: "green" if r.ok else "bold red",
)
LINE = Column[BudgetResult]("line", "line", lambda r: r.line, lambda r: str(r.line or ""))
FROM_CLI = Column[BudgetResult](
    "from_command_line", "from command line", lambda r: r.from_command_line, lambda r: ""
)
MESSAGE = Column[BudgetResult]("message", "message", message, message)

JSON_KEYS: tuple[str, ...] = ("spec", "name", "budget", "limit", "actual", "ok")
JSON_KEYS += ("headroom_percent", "line", "from_command_line", "message")


def grid(report: CheckReport, fmt: str) -> Grid[BudgetResult]:
    if fmt == "csv":
        columns = [SPEC, NAME, BUDGET, LIMIT, ACTUAL, HEADROOM, OK, LINE]
    elif fmt == "json":
        columns = [SPEC, NAME, BUDGET, LIMIT, ACTUAL, OK, HEADROOM, LINE, FROM_CLI, MESSAGE]
    else:
        columns = [SPEC, BUDGET, LIMIT, ACTUAL, HEADROOM, OK]
    return Grid("archinspect check", columns, report.results)


def summary_line(report: CheckReport) -> str:
    results, exceeded, errors = report.results, report.exceeded, spec_errors(report)
    specs = {r.spec for r in results}
    bad = {r.spec for r in exceeded}
    parts = [
        f"{len(results)} budget{'s' if len(results) != 1 else ''} in "
        f"{len(specs)} spec{'s' if len(specs) != 1 else ''}: "
        f"{len(results) - len(exceeded)} ok, {len(exceeded)} exceeded"
        + (f" (in {len(bad)} spec{'s' if len(bad) != 1 else ''})" if bad else "")
    ]
    if errors:
        parts.append(f"{len(errors)} spec(s) could not be checked")
    if report.unbudgeted:
        parts.append(f"no budget in: {', '.join(report.unbudgeted)}")
    return "; ".join(parts)


def to_table(report: CheckReport, *, width: int = 120, color: bool = False) -> str:
    items: list[Any] = [rich_table(grid(report, "table"))] if report.results else []
    items += [Text(f"{r.spec}: {message(r)}") for r in report.exceeded]
    items.append(Text(summary_line(report)))
    return to_text(items, width=width, color=color)


def to_markdown(report: CheckReport) -> str:
    return md.join([*md.md_table(grid(report, "markdown")), "", summary_line(report)])


def to_csv(report: CheckReport) -> str:
    return csv_text(grid(report, "csv"))


def to_json(report: CheckReport) -> str:
    g = grid(report, "json")
    return dumps(
        {
            "results": [g.record(r, JSON_KEYS) for r in g.rows],
            "errors": [{"spec": e.spec, "message": e.message} for e in spec_errors(report)],
            "unbudgeted": list(report.unbudgeted),
            "ok": report.ok,
        }
    )


def to_junit(report: CheckReport) -> str:
    """JUnit XML, valid against the Jenkins `junit-10.xsd` that pytest's output follows: a
    testsuite per spec file, a testcase per budget (classname: the spec file, so two specs
    with the same `name:` never share an id; name: the budget), a <failure> per exceeded budget
    and per spec that could not be checked (type SpecError or InternalError: that schema has no
    <error> element), and for a spec without a budget one testcase that is <skipped> (a
    <failure> under --require-budget). The schema has no `file`/`line` on a testcase: where a
    budget is written is in the failure's text, `spec.yaml:LINE`."""
    root = ET.Element("testsuites", name="archinspect check")
    by_spec: dict[str, list] = {}
    for r in report.results:
        by_spec.setdefault(r.spec, []).append(r)
    for e in spec_errors(report):
        by_spec.setdefault(e.spec, [])
    for spec in report.unbudgeted:
        by_spec.setdefault(spec, [])
    totals = {"tests": 0, "failures": 0, "errors": 0}  # the root has no `skipped` in JUnit
    for spec, results in by_spec.items():
        errors = [e for e in spec_errors(report) if e.spec == spec]
        # a spec without a budget: one testcase, skipped (or failed under --require-budget)
        no_budget = 1 if spec in report.unbudgeted else 0
        skipped = 0 if report.budget_required else no_budget
        failures = sum(1 for r in results if not r.ok) + len(errors) + no_budget - skipped
        suite = ET.SubElement(
            root,
            "testsuite",
            name=spec,
            tests=str(len(results) + len(errors) + no_budget),
            failures=str(failures),
            errors="0",
            skipped=str(skipped),
        )
        if results:  # the spec's `name:`, which the ids no longer carry
            properties = ET.SubElement(suite, "properties")
            ET.SubElement(properties, "property", name="name", value=results[0].name)
        for r in results:
            case = ET.SubElement(suite, "testcase", classname=spec, name=r.budget)
            if not r.ok:
                failure = ET.SubElement(case, "failure", message=message(r), type="BudgetExceeded")
                failure.text = f"limit {value_text(r.limit)}, actual {value_text(r.actual)}" + (
                    f" ({spec}:{r.line})" if r.line else " (limit from the command line)"
                )
        for e in errors:
            case = ET.SubElement(suite, "testcase", classname=spec, name="spec")
            kind = "InternalError" if e.internal else "SpecError"
            failure = ET.SubElement(case, "failure", message=e.message.splitlines()[0], type=kind)
            failure.text = e.message
        if no_budget:
            text = no_budget_message(report.budget_required)
            case = ET.SubElement(suite, "testcase", classname=spec, name="budget")
            if report.budget_required:
                ET.SubElement(case, "failure", message=text, type="NoBudget").text = text
            else:
                ET.SubElement(case, "skipped", message=text)
        totals["tests"] += len(results) + len(errors) + no_budget
        totals["failures"] += failures
    for key, value in totals.items():
        root.set(key, str(value))
    for element in root.iter():  # XML 1.0 has no control characters (and no lone surrogates)
        element.attrib = {k: visible(v) for k, v in element.attrib.items()}
        element.text = visible(element.text, keep="\n") if element.text else element.text
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def to_github(report: CheckReport) -> str:
    """GitHub Actions workflow commands: an ::error annotation on the YAML line of each exceeded
    budget, so it lands on that line in a pull request."""
    lines = []
    for r in report.exceeded:
        props = f"file={escape_property(r.spec)}"
        if r.line is not None:
            props += f",line={r.line},col={r.column}"
        props += f",title={escape_property('archinspect budget ' + r.budget)}"
        lines.append(f"::error {props}::{escape_data(message(r))}")
    for e in spec_errors(report):
        lines += spec_error_commands(e)
    for spec in report.unbudgeted:
        command = "error" if report.budget_required else "warning"
        lines.append(
            f"::{command} file={escape_property(spec)},title=archinspect budget::"
            f"{escape_data(no_budget_message(report.budget_required))}"
        )
    # a plain log line: a newline in a spec's file name is shown as \\n, never a new command
    lines.append(visible(summary_line(report)))
    return "\n".join(lines) + "\n"
