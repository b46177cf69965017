"""CheckReport -> cell texts and dicts shared by the check renderers."""

from __future__ import annotations

import math

from archinspect.render.check_text import budget_message
from archinspect.render.fmt import num
from archinspect.report import BudgetResult, CheckReport


def value_text(value: object) -> str:
    if isinstance(value, int):
        return num(value)
    if isinstance(value, list):
        return " ".join(f"({_one(b)},{_one(f)})" for b, f in value)
    return str(value)


def _one(v: float) -> str:
    return "inf" if v == math.inf else str(int(v))


def headroom_text(r: BudgetResult) -> str:
    if r.headroom is None:
        return ""
    if r.headroom == -math.inf:
        return "-inf%"
    return f"{r.headroom:.1f}%"


def json_value(value: object) -> object:
    if isinstance(value, list):
        return [[_json_one(b), _json_one(f)] for b, f in value]
    return value


def _json_one(v: float) -> object:
    return "inf" if v == math.inf else int(v)


def result_dict(r: BudgetResult) -> dict:
    return {
        "spec": r.spec,
        "name": r.name,
        "budget": r.budget,
        "limit": json_value(r.limit),
        "actual": json_value(r.actual),
        "ok": r.ok,
        "headroom_percent": None
        if r.headroom is None or r.headroom == -math.inf
        else round(r.headroom, 3),
        "line": r.line,
        "from_command_line": r.from_command_line,
        "message": budget_message(r),
    }


def summary_line(report: CheckReport) -> str:
    specs = {r.spec for r in report.results}
    bad = {r.spec for r in report.exceeded}
    parts = [
        f"{len(report.results)} budget{'s' if len(report.results) != 1 else ''} in "
        f"{len(specs)} spec{'s' if len(specs) != 1 else ''}: "
        f"{len(report.results) - len(report.exceeded)} ok, {len(report.exceeded)} exceeded"
        + (f" (in {len(bad)} spec{'s' if len(bad) != 1 else ''})" if bad else "")
    ]
    if report.errors:
        parts.append(f"{len(report.errors)} spec(s) could not be checked")
    if report.unbudgeted:
        parts.append(f"no budget in: {', '.join(report.unbudgeted)}")
    return "; ".join(parts)
