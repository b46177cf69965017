"""`archinspect init`: the signal at every conv and dense layer, declared once for every
format, with the verdict and the rule that gave it."""

from __future__ import annotations

import math
from typing import Any

from rich.text import Text

from archinspect.render.fmt import human_bytes, shape_text
from archinspect.render.formats import markdown as md
from archinspect.render.formats.csv import csv_text
from archinspect.render.formats.json import dumps
from archinspect.render.formats.table import rich_table, summary_grid, to_text
from archinspect.render.view import Column, Field, Grid
from archinspect.report import InitLayer, InitReport


def number(x: float | None) -> float | str | None:
    """JSON has no inf or nan: they are the strings "inf", "-inf", "nan"."""
    if x is None or math.isfinite(x):
        return x
    return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")


def _g(x: float) -> str:
    return f"{x:.4g}"


PATH = Column[InitLayer]("path", "layer", lambda r: r.path, lambda r: r.path, fold=True)
TYPE = Column[InitLayer]("type", "type", lambda r: r.type, lambda r: r.type)
MEAN = Column[InitLayer]("mean", "mean", lambda r: number(r.mean), lambda r: _g(r.mean), "right")
STD = Column[InitLayer]("std", "std", lambda r: number(r.std), lambda r: _g(r.std), "right")
RMS = Column[InitLayer]("rms", "rms", lambda r: number(r.rms), lambda r: _g(r.rms), "right")
CORR = Column[InitLayer](
    "corr", "corr", lambda r: number(r.corr), lambda r: f"{r.corr:.3f}", "right"
)
GRAD = Column[InitLayer](
    "grad_norm", "grad norm", lambda r: number(r.grad_norm), lambda r: _g(r.grad_norm), "right"
)
MOVED = Column[InitLayer](
    "perturbation",
    "perturbation",
    lambda r: number(r.perturbation),
    lambda r: _g(r.perturbation),
    "right",
)
COLUMNS = [PATH, TYPE, MEAN, STD, RMS, CORR, GRAD, MOVED]


def _title(r: InitReport) -> str:
    return (
        f"{r.name} · {r.family} · input {shape_text(r.input_shape)} · batch {r.batch} · "
        f"seed {r.seed}"
    )


def grid(report: InitReport) -> Grid[InitLayer]:
    return Grid(title=_title(report), columns=COLUMNS, rows=report.layers)


def _verdict_note(r: InitReport) -> str:
    chi = "" if r.chi is None else f", chi {r.chi:.3g}"
    return f"{r.verdict} (std ratio: rms last/first {r.std_ratio:.3g}{chi})"


def _mean_field_note(r: InitReport) -> str:
    m = r.mean_field
    if m is None:
        return ""

    def g(x: float | None) -> str:
        return "none" if x is None else f"{x:.4g}"

    text = (
        f"{m.activation} at σ_w² = {m.sw2:.4g}, σ_b² = {m.sb2:.4g}: q* {g(m.q_star)}, "
        f"c* {g(m.c_star)}, χ₁ {g(m.chi1)}"
    )
    return text + (f" ({m.note})" if m.note else "")


def mean_field_json(r: InitReport) -> dict[str, Any] | None:
    m = r.mean_field
    if m is None:
        return None
    return {
        "activation": m.activation,
        "sw2": m.sw2,
        "sb2": m.sb2,
        "q_star": number(m.q_star),
        "c_star": number(m.c_star),
        "chi1": number(m.chi1),
        "note": m.note,
    }


def summary(r: InitReport) -> list[Field]:
    theory = [Field("mean_field", "mean field", note=_mean_field_note(r))] if r.mean_field else []
    return [
        Field("verdict", "verdict", note=_verdict_note(r)),
        Field("rule", "rule", note=r.rule),
        *theory,
        Field("init", "weights", note=r.init),
        Field("output_shape", "output", note=shape_text(r.output_shape)),
        Field(
            "estimated_bytes", "memory", note=f"about {human_bytes(r.estimated_bytes)} (estimated)"
        ),
    ]


def to_table(report: InitReport, *, width: int = 120, color: bool = False) -> str:
    items: list[Any] = [rich_table(grid(report)), summary_grid(summary(report), numbers=False)]
    items += [Text(f"note: {n}") for n in report.notes]
    return to_text(items, width=width, color=color)


def to_markdown(report: InitReport) -> str:
    lines = [f"### {_title(report)}", "", *md.md_table(grid(report)), ""]
    for f in summary(report):
        label, _ = f.md_cells
        lines.append(f"- {label}: {md.cell(f.note)}")
    return md.join(lines + md.md_notes(report.notes))


def to_csv(report: InitReport) -> str:
    return csv_text(grid(report))


def to_json(report: InitReport) -> str:
    g = grid(report)
    return dumps(
        {
            "name": report.name,
            "spec": report.spec,
            "family": report.family,
            "input_shape": list(report.input_shape),
            "output_shape": list(report.output_shape),
            "init": {
                "description": report.init,
                "w_std": report.w_std,
                "b_std": report.b_std,
                "parameterization": report.parameterization,
            },
            "batch": report.batch,
            "seed": report.seed,
            "layers": [g.record(r) for r in report.layers],
            "exploding": report.exploding,
            "vanishing": report.vanishing,
            "std_ratio": number(report.std_ratio),
            "chi": number(report.chi),
            "verdict": report.verdict,
            "rule": report.rule,
            "mean_field": mean_field_json(report),
            "estimated_bytes": report.estimated_bytes,
            "notes": list(report.notes),
        }
    )
