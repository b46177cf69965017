"""CSV renderer: one row per module (below the root), totals in the parent rows."""

from __future__ import annotations

import csv
import io

from archinspect.render.check_data import headroom_text, value_text
from archinspect.render.count_data import arrays_text, layer_rows
from archinspect.render.inspect_data import rf_text, shape_text
from archinspect.render.rf_data import extent_text
from archinspect.render.sweep_data import metric_text
from archinspect.render.sweep_data import value_text as value_text_sweep
from archinspect.report import (
    CheckReport,
    CountReport,
    InspectReport,
    RFReport,
    SolveResult,
    SweepResult,
)


def count_csv(report: CountReport) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["path", "type", "depth", "own_params", "params", "folded", "arrays"])
    for r in layer_rows(report):
        writer.writerow([r.path, r.type, r.depth, r.own_params, r.params, r.folded, arrays_text(r)])
    return buffer.getvalue()


def inspect_csv(report: InspectReport, *, full: bool = True) -> str:
    """The layer rows (the same for `shapes` and `inspect`; `full` is accepted for symmetry)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        [
            "path",
            "type",
            "depth",
            "input_shape",
            "output_shape",
            "own_params",
            "params",
            "calls",
            "flops",
            "receptive_field",
            "folded",
        ]
    )
    for r in report.layers:
        writer.writerow(
            [
                r.path,
                r.type,
                r.depth,
                shape_text(r.input_shapes, "x"),
                shape_text(r.output_shapes, "x"),
                r.own_params,
                r.params,
                r.calls,
                "" if r.flops is None else r.flops,
                rf_text(r.rf),
                r.folded,
            ]
        )
    return buffer.getvalue()


def check_csv(report: CheckReport) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["spec", "name", "budget", "limit", "actual", "headroom", "ok", "line"])
    for r in report.results:
        writer.writerow(
            [
                r.spec,
                r.name,
                r.budget,
                value_text(r.limit).replace(",", ""),
                value_text(r.actual).replace(",", ""),
                headroom_text(r),
                r.ok,
                "" if r.line is None else r.line,
            ]
        )
    return buffer.getvalue()


def sweep_csv(result: SweepResult) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*result.swept, *result.metrics, "error"])
    for row in result.rows:
        cells = [value_text_sweep(row.values[p]) for p in result.swept]
        cells += [
            str(row.metrics[m])
            if isinstance(row.metrics.get(m), int)
            else metric_text(m, row.metrics.get(m), "x")
            for m in result.metrics
        ]
        writer.writerow([*cells, row.error or ""])
    return buffer.getvalue()


def solve_csv(result: SolveResult) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["param", "value", "next_value", "binding", "limits"])
    writer.writerow(
        [
            result.param,
            "" if result.value is None else result.value,
            "" if result.next_value is None else result.next_value,
            " ".join(result.binding),
            " ".join(f"{k}={v}" for k, v in result.limits.items()),
        ]
    )
    return buffer.getvalue()


def rf_csv(report: RFReport) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        [
            "axis",
            "backward",
            "forward",
            "backward_min",
            "backward_max",
            "forward_min",
            "forward_max",
            "period",
            "global",
            "method",
        ]
    )
    r = report.result
    for axis, ((b, f), ((b0, b1), (f0, f1)), p) in enumerate(
        zip(r.per_axis, r.position_range, r.period, strict=True)
    ):
        writer.writerow(
            [
                axis,
                extent_text(b),
                extent_text(f),
                extent_text(b0),
                extent_text(b1),
                extent_text(f0),
                extent_text(f1),
                p,
                r.global_,
                r.method,
            ]
        )
    return buffer.getvalue()
