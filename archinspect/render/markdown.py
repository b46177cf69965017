"""Markdown renderer: GitHub-flavoured tables, ready to paste into a PR or README."""

from __future__ import annotations

from archinspect.render.check_data import headroom_text, summary_line, value_text
from archinspect.render.count_data import arrays_text
from archinspect.render.fmt import dims_label, dtype_lines, human_bytes, num, row_path
from archinspect.render.inspect_data import FLOPS_NOTE, flops_text, rf_text, shape_text
from archinspect.render.rf_data import extent_text, global_text, range_text
from archinspect.render.sweep_data import (
    METRIC_LABELS,
    fit_line,
    metric_text,
    solve_lines,
)
from archinspect.render.sweep_data import value_text as sweep_value_text
from archinspect.report import (
    CheckReport,
    CountReport,
    InspectReport,
    RFReport,
    SolveResult,
    SweepResult,
)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def count_markdown(report: CountReport) -> str:
    p = report.params
    shape = "×".join(str(d) for d in report.input_shape)
    dtypes = dtype_lines(p.by_dtype, p.elements_by_dtype, p.bytes_by_dtype)
    lines = [
        f"### {report.name} — {report.family}, {dims_label(report.num_spatial_dims)}, "
        f"input {shape}",
        "",
        "| | |",
        "|---|---:|",
        f"| total parameters | {num(p.total)} |",
        f"| learnable | {num(p.learnable)} |",
        f"| materialized | {num(p.materialized)} |",
        f"| parameter bytes | {num(p.bytes)} ({human_bytes(p.bytes)}) |",
        f"| by dtype | {'; '.join(dtypes)} |",
        "",
        "| module | type | own | params | arrays |",
        "|---|---|---:|---:|---|",
    ]
    for r in report.rows:
        indent = "&nbsp;&nbsp;" * max(r.depth - 1, 0)
        lines.append(
            f"| {indent}{_cell(row_path(r.path))} | {r.type} | {num(r.own_params)} | "
            f"{num(r.params)} | {_cell(arrays_text(r))} |"
        )
    for note in report.notes:
        lines += ["", f"*{note}.*"]
    return "\n".join(lines) + "\n"


def inspect_markdown(report: InspectReport, *, full: bool) -> str:
    p = report.params
    shape_in = "×".join(str(d) for d in report.input_shape)
    shape_out = "×".join(str(d) for d in report.output_shape)
    lines = [
        f"### {report.name} — {report.family}, input {shape_in} → output {shape_out}, "
        f"batch {report.batch_size}, {report.dtype}, {report.platform}",
        "",
        "| | |",
        "|---|---:|",
        f"| parameters | {num(p.total)} |",
    ]
    if report.receptive_field is not None:
        from archinspect.render.rf_data import per_axis_text

        lines.append(
            f"| receptive field (backward, forward) | {per_axis_text(report.receptive_field)} |"
        )
        lines.append(f"| global coupling | {_cell(global_text(report.receptive_field, limit=2))} |")
    if full and report.flops is not None:
        lines.append(f"| FLOPs, forward ({FLOPS_NOTE}) | {num(report.flops.forward)} |")
    if full and report.memory is not None:
        m = report.memory
        lines.append(
            f"| activation bytes (leaf outputs, whole batch) | {num(m.activation_bytes)} |"
        )
        if m.forward is not None:
            lines.append(f"| XLA memory, forward (peak bytes) | {num(m.forward.peak_bytes)} |")
        if m.train_step is not None:
            lines.append(
                f"| XLA memory, train step (peak bytes) | {num(m.train_step.peak_bytes)} |"
            )
    has_flops = full and any(r.flops is not None for r in report.layers)
    has_rf = any(r.rf is not None for r in report.layers)
    head = ["module", "type", "input", "output", "params", "calls"]
    head += ["FLOPs"] * has_flops + ["RF"] * has_rf
    lines += [
        "",
        "| " + " | ".join(head) + " |",
        "|" + "|".join("---:" if h in ("params", "calls", "FLOPs") else "---" for h in head) + "|",
    ]
    for r in report.layers:
        label = "&nbsp;&nbsp;" * r.depth + _cell(row_path(r.path))
        if r.folded:
            label += f" (+{r.folded})"
        cells = [
            label,
            r.type,
            shape_text(r.input_shapes),
            shape_text(r.output_shapes),
            num(r.params),
            str(r.calls),
        ]
        if has_flops:
            cells.append(flops_text(r))
        if has_rf:
            cells.append(rf_text(r.rf))
        lines.append("| " + " | ".join(cells) + " |")
    for note in report.notes:
        lines += ["", f"*{note}.*"]
    return "\n".join(lines) + "\n"


def check_markdown(report: CheckReport) -> str:
    lines = ["| spec | budget | limit | actual | headroom | ok |", "|---|---|---:|---:|---:|---|"]
    for r in report.results:
        lines.append(
            f"| {_cell(r.spec)} | {r.budget} | {value_text(r.limit)} | {value_text(r.actual)} | "
            f"{headroom_text(r)} | {'ok' if r.ok else '**exceeded**'} |"
        )
    lines += ["", summary_line(report)]
    return "\n".join(lines) + "\n"


def sweep_markdown(result: SweepResult) -> str:
    head = [*result.swept, *(METRIC_LABELS.get(m, m) for m in result.metrics), "error"]
    lines = [
        f"### {result.name}: sweep over {', '.join(result.swept)}",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "|".join("---" for _ in head) + "|",
    ]
    for row in result.rows:
        cells = [sweep_value_text(row.values[p]) for p in result.swept]
        cells += [metric_text(m, row.metrics.get(m)) for m in result.metrics]
        cells.append(_cell(row.error or ""))
        lines.append("| " + " | ".join(cells) + " |")
    if result.fits:
        lines.append("")
        lines += [f"- {fit_line(m, f)}" for m, f in result.fits.items()]
    return "\n".join(lines) + "\n"


def solve_markdown(result: SolveResult) -> str:
    return "\n".join(solve_lines(result)) + "\n"


def rf_markdown(report: RFReport) -> str:
    r = report.result
    shape = "×".join(str(d) for d in report.input_shape)
    lines = [
        f"### {report.name} — {report.family}, input {shape}: receptive field",
        "",
        "| axis | backward | forward | backward over positions | forward over positions | period |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for axis, ((b, f), (br, fr), p) in enumerate(
        zip(r.per_axis, r.position_range, r.period, strict=True)
    ):
        lines.append(
            f"| {axis} | {extent_text(b)} | {extent_text(f)} | {range_text(br)} | "
            f"{range_text(fr)} | {p} |"
        )
    lines += [
        "",
        f"- global coupling: {_cell(global_text(r, limit=100))}",
        f"- methods in agreement: {', '.join(report.methods)}",
    ]
    return "\n".join(lines) + "\n"
