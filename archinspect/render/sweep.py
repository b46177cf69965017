"""`archinspect sweep`: one row per point of the grid, a column per swept parameter and per
metric, declared once for every format; the fitted laws below."""

from __future__ import annotations

from typing import Any

from rich.text import Text

from archinspect import metrics as registry
from archinspect.render.fmt import (
    num,
    one_paragraph,
    pairs_json,
    pairs_text,
    reason,
    shape_text,
)
from archinspect.render.formats import markdown as md
from archinspect.render.formats.csv import csv_text
from archinspect.render.formats.json import dumps
from archinspect.render.formats.table import rich_table, to_text
from archinspect.render.view import Column, Grid
from archinspect.report import Fit, SweepResult, SweepRow


def metric_json(name: str, value: Any) -> Any:
    if value is None:
        return None
    if name == "receptive_field":
        return pairs_json(value.per_axis)
    if name == "output_shape":
        return list(value)
    return value


def metric_text(name: str, value: Any, sep: str = "×") -> str:
    if value is None:
        return ""
    if name == "receptive_field":
        return pairs_text(value.per_axis)
    if name == "output_shape":
        return shape_text(value, sep)
    if isinstance(value, int):
        return num(value)
    if isinstance(value, float):  # a measured figure (init_std): four significant digits
        return f"{value:.4g}"
    return str(value)


def value_text(value: Any) -> str:
    """A swept parameter's value: lists without spaces ("[1,2]")."""
    if isinstance(value, list):
        return "[" + ",".join(str(v) for v in value) + "]"
    return str(value)


def _param(p: str) -> Column[SweepRow]:
    text = lambda r: value_text(r.values[p])  # noqa: E731
    return Column[SweepRow](p, p, lambda r: r.values[p], text, "right", csv=text)


def _metric_csv(m: str, v: Any) -> str:
    return str(v) if isinstance(v, int | float) else metric_text(m, v, "x")


# The cell of a metric that could not be measured at a point (its reason is in `error`).
FAILED_CELL = "failed"


def _metric(m: str) -> Column[SweepRow]:
    return Column[SweepRow](
        m,
        registry.label(m),
        lambda r: metric_json(m, r.metrics.get(m)),
        lambda r: FAILED_CELL if m in r.failed else metric_text(m, r.metrics.get(m)),
        "left" if m in ("receptive_field", "output_shape") else "right",
        csv=lambda r: _metric_csv(m, r.metrics.get(m)),
        style=lambda r: "red" if m in r.failed else "",
        no_wrap=m not in ("receptive_field", "output_shape"),  # numbers are never cut
    )


def error_text(row: SweepRow) -> str:
    """Why a point has no metric, or which metrics failed there and why (grouped by reason)."""
    if row.error is not None:
        return one_paragraph(row.error)
    by_reason: dict[str, list[str]] = {}
    for metric, message in row.failed.items():
        by_reason.setdefault(reason(message), []).append(registry.label(metric))
    return "; ".join(f"{', '.join(labels)}: {why}" for why, labels in by_reason.items())


ERROR = Column[SweepRow](
    "error",
    "error",
    lambda r: error_text(r) or None,
    error_text,
    style=lambda _r: "red",
    fold=True,
)
# JSON and CSV name the metrics that failed (table and Markdown say "failed" in their cells).
FAILED = Column[SweepRow](
    "failed",
    "failed",
    lambda r: list(r.failed),
    lambda r: ", ".join(r.failed),
    csv=lambda r: ";".join(r.failed),
)


def grid(result: SweepResult, fmt: str) -> Grid[SweepRow]:
    """The table shows the error column only when a row failed; the others always do."""
    columns = [*map(_param, result.swept), *map(_metric, result.metrics)]
    if fmt != "table" or not all(r.complete for r in result.rows):
        columns.append(ERROR)
    if fmt in ("json", "csv"):
        columns.append(FAILED)
    title = f"{result.name}: sweep over {', '.join(result.swept)}"
    return Grid(title, columns, result.rows, aligned=False)


def fit_dict(fit: Fit) -> dict:
    out = {"exponent": round(fit.exponent, 4), "law": fit.law, "r2": round(fit.r2, 6)}
    if fit.base is not None:
        out["base"] = round(fit.base, 4)
        out["r2_exponential"] = round(fit.r2_exponential or 0.0, 6)
    return out


def fit_line(metric: str, fit: Fit) -> str:
    line = f"{metric}: {fit.law} (exponent {fit.exponent:.2f}, r² {fit.r2:.3f}"
    if fit.base is not None:
        line += f"; log-linear r² {fit.r2_exponential:.3f}"
    return line + ")"


def sweep_dict(result: SweepResult) -> dict:
    g = grid(result, "json")
    return {
        "name": result.name,
        "spec": result.spec,
        "swept": list(result.swept),
        "metrics": list(result.metrics),
        "rows": [g.record(r) for r in g.rows],
        "fits": {m: fit_dict(f) for m, f in result.fits.items()},
    }


def to_table(result: SweepResult, *, width: int = 120, color: bool = False) -> str:
    items: list[Any] = [rich_table(grid(result, "table"))]
    if result.fits:
        items.append(Text("fitted laws (power law in log-log over the upper half of the range):"))
        items += [Text("  " + fit_line(m, f)) for m, f in result.fits.items()]
    elif len(result.swept) > 1:
        items.append(Text("(laws are fitted for one-parameter sweeps)"))
    return to_text(items, width=width, color=color)


def to_markdown(result: SweepResult) -> str:
    g = grid(result, "markdown")
    lines = [f"### {g.title}", "", *md.md_table(g)]
    if result.fits:
        lines.append("")
        lines += [f"- {fit_line(m, f)}" for m, f in result.fits.items()]
    return md.join(lines)


def to_csv(result: SweepResult) -> str:
    return csv_text(grid(result, "csv"))


def to_json(result: SweepResult) -> str:
    return dumps(sweep_dict(result))
