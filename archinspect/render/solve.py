"""`archinspect solve`: the answer in words (table, Markdown), one record (CSV, JSON)."""

from __future__ import annotations

from typing import Any

from rich.text import Text

from archinspect import metrics as registry
from archinspect.render.fmt import num, reason
from archinspect.render.formats.csv import csv_text
from archinspect.render.formats.json import dumps
from archinspect.render.formats.table import to_text
from archinspect.render.sweep import metric_json, metric_text
from archinspect.render.view import Column, Grid
from archinspect.report import SolveResult


def _metrics_json(metrics: dict | None) -> dict | None:
    if metrics is None:
        return None
    return {k: metric_json(k, v) for k, v in metrics.items()}


def _show(metrics: dict | None) -> str:
    if not metrics:
        return ""
    return ", ".join(f"{registry.label(k)} {metric_text(k, v)}" for k, v in metrics.items())


def _opt(v: int | None) -> str:
    return "" if v is None else str(v)


def _limits_text(r: SolveResult) -> str:
    return " ".join(f"{k}={v}" for k, v in r.limits.items())


PARAM = Column[SolveResult]("param", "param", lambda r: r.param, lambda r: r.param)
VALUE = Column[SolveResult]("value", "value", lambda r: r.value, lambda r: _opt(r.value))
NEXT = Column[SolveResult](
    "next_value", "next value", lambda r: r.next_value, lambda r: _opt(r.next_value)
)
BINDING = Column[SolveResult](
    "binding",
    "binding",
    lambda r: list(r.binding),
    lambda r: " ".join(r.binding),
    csv=lambda r: " ".join(r.binding),
)
LIMITS = Column[SolveResult](
    "limits", "limits", lambda r: dict(r.limits), _limits_text, csv=_limits_text
)
STOPPED = Column[SolveResult](
    "stopped", "stopped by", lambda r: r.stopped, lambda r: r.stopped or ""
)


def grid(result: SolveResult) -> Grid[SolveResult]:
    return Grid("", [PARAM, VALUE, NEXT, BINDING, LIMITS, STOPPED], [result])


def solve_lines(result: SolveResult) -> list[str]:
    maxima = ", ".join(f"{k} {num(v)}" for k, v in result.limits.items() if k != "min_rf")
    reach = (
        f"a receptive field of {num(result.limits['min_rf'])} on every side"
        if "min_rf" in result.limits
        else ""
    )
    limits = ", ".join(p for p in (reach, maxima) if p)
    if result.stopped is not None:
        where = f"at {result.param}={result.next_value}: "
        if result.next_error is not None:
            state = f"invalid — {reason(result.next_error)}"
        else:
            crossed = f" — crosses {', '.join(result.binding)}" if result.binding else ""
            state = _show(result.next_metric) + (crossed or " — within the limits")
        return [
            f"no answer for {result.param} with {limits}",
            f"  the search stopped at the bound {result.stopped}; raise it to search further",
            f"  last measured {where}{state}",
            f"  ({result.probes} exact evaluation{'s' if result.probes != 1 else ''})",
        ]
    if result.value is None:
        return [
            f"no value of {result.param} satisfies {limits}",
            f"at {result.param}={result.next_value}: {_show(result.next_metric)} "
            f"(crosses {', '.join(result.binding)})",
        ]
    if result.direction == "largest":
        head = f"largest {result.param} within {limits}: {result.value}"
    else:
        head = (
            f"smallest {result.param} reaching {reach}"
            + (f" within {maxima}" if maxima else "")
            + f": {result.value}"
        )
    lines = [head, f"  at {result.param}={result.value}: {_show(result.metric)}"]
    if result.next_error is not None:
        why = reason(result.next_error)
        lines.append(f"  at {result.param}={result.next_value}: invalid — {why}")
    elif result.next_value is not None:
        lines.append(
            f"  at {result.param}={result.next_value}: {_show(result.next_metric)}"
            + (f" — crosses {', '.join(result.binding)}" if result.binding else "")
        )
    lines.append(f"  ({result.probes} exact evaluation{'s' if result.probes != 1 else ''})")
    return lines


def solve_dict(result: SolveResult) -> dict[str, Any]:
    return {
        "name": result.name,
        "spec": result.spec,
        "param": result.param,
        "direction": result.direction,
        "limits": dict(result.limits),
        "value": result.value,
        "metric": _metrics_json(result.metric),
        "next_value": result.next_value,
        "next_metric": _metrics_json(result.next_metric),
        "binding": list(result.binding),
        "next_error": None if result.next_error is None else reason(result.next_error),
        "probes": result.probes,
        "stopped": result.stopped,
    }


def to_table(result: SolveResult, *, width: int = 120, color: bool = False) -> str:
    return to_text([Text(line) for line in solve_lines(result)], width=width, color=color)


def to_markdown(result: SolveResult) -> str:
    return "\n".join(solve_lines(result)) + "\n"


def to_csv(result: SolveResult) -> str:
    return csv_text(grid(result))


def to_json(result: SolveResult) -> str:
    return dumps(solve_dict(result))
