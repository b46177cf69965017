"""Rich table renderer. Renders to a string; colour only when the caller asks for it."""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from archinspect.render.check_data import headroom_text, summary_line, value_text
from archinspect.render.check_text import budget_message
from archinspect.render.count_data import arrays_text
from archinspect.render.fmt import dims_label, dtype_lines, human_bytes, num, row_path
from archinspect.render.inspect_data import FLOPS_NOTE, flops_text, rf_text, shape_text
from archinspect.render.rf_data import extent_text, global_text, per_axis_text, range_text
from archinspect.render.sweep_data import METRIC_LABELS, fit_line, metric_text, solve_lines
from archinspect.render.sweep_data import value_text as sweep_value_text
from archinspect.report import (
    CheckReport,
    CountReport,
    InspectReport,
    RFReport,
    SolveResult,
    SweepResult,
    XlaMemory,
)


def to_text(renderables: list, *, width: int = 120, color: bool = False) -> str:
    buffer = io.StringIO()
    console = Console(
        file=buffer,
        width=width,
        color_system="standard" if color else None,
        force_terminal=color,
        no_color=not color,
        highlight=False,
        legacy_windows=False,
    )
    for item in renderables:
        console.print(item)
    # Rich pads titles and grids to the full width; trailing blanks only make diffs noisy.
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines()) + "\n"


def count_table(report: CountReport, *, width: int = 120, color: bool = False) -> str:
    p = report.params
    shape = "×".join(str(d) for d in report.input_shape)
    title = (
        f"{report.name} · {report.family} · {dims_label(report.num_spatial_dims)} · input {shape}"
    )
    table = Table(title=title, title_justify="left", show_lines=False)
    table.add_column("module", no_wrap=True)
    table.add_column("type", no_wrap=True)
    table.add_column("own", justify="right")
    table.add_column("params", justify="right")
    table.add_column("arrays", overflow="fold")
    has_rf = report.receptive_field is not None
    if has_rf:
        table.add_column("RF", no_wrap=True)
    for r in report.rows:
        label = Text(
            "  " * max(r.depth - 1, 0) + row_path(r.path), style="bold" if r.depth == 0 else ""
        )
        cells: list[Any] = [
            label,
            Text(r.type),
            num(r.own_params),
            num(r.params),
            Text(arrays_text(r)),
        ]
        if has_rf:
            cells.append(rf_text(r.rf, compact=True))
        table.add_row(*cells)

    summary = Table.grid(padding=(0, 2))
    summary.add_column(style="bold")
    summary.add_column(justify="right")
    summary.add_column()
    summary.add_row("total parameters", num(p.total), "exact")
    summary.add_row("learnable", num(p.learnable), "")
    summary.add_row("materialized", num(p.materialized), "")
    summary.add_row("parameter bytes", num(p.bytes), human_bytes(p.bytes))
    for i, line in enumerate(dtype_lines(p.by_dtype, p.elements_by_dtype, p.bytes_by_dtype)):
        summary.add_row("by dtype" if i == 0 else "", "", line)
    if report.receptive_field is not None:
        rfr = report.receptive_field
        summary.add_row("receptive field", "", per_axis_text(rfr) + " (backward, forward)")
        summary.add_row("global coupling", "", global_text(rfr, limit=2))
    items: list = [table, summary]
    items += [Text(f"note: {note}") for note in report.notes]
    return to_text(items, width=width, color=color)


def _xla_line(m: XlaMemory) -> str:
    return (
        f"{num(m.peak_bytes)} bytes ({human_bytes(m.peak_bytes)}): arguments "
        f"{num(m.argument_bytes)} + outputs {num(m.output_bytes)} + temporaries "
        f"{num(m.temp_bytes)}" + (f" - aliased {num(m.alias_bytes)}" if m.alias_bytes else "")
    )


def inspect_table(
    report: InspectReport, *, full: bool, width: int = 120, color: bool = False
) -> str:
    """`shapes` (full=False) and `inspect` (full=True) as a Rich table plus a summary."""
    shape_in = "×".join(str(d) for d in report.input_shape)
    shape_out = "×".join(str(d) for d in report.output_shape)
    title = (
        f"{report.name} · {report.family} · {dims_label(len(report.input_shape) - 1)} · "
        f"input {shape_in} → output {shape_out} · batch {report.batch_size} · "
        f"{report.dtype} · {report.platform}"
    )
    has_flops = full and any(r.flops is not None for r in report.layers)
    has_rf = any(r.rf is not None for r in report.layers)
    table = Table(title=title, title_justify="left")
    table.add_column("module", overflow="fold")
    table.add_column("type", overflow="fold")
    table.add_column("input", no_wrap=True)
    table.add_column("output", no_wrap=True)
    table.add_column("params", justify="right", no_wrap=True)
    table.add_column("calls", justify="right", no_wrap=True)
    if has_flops:
        table.add_column("FLOPs", justify="right", no_wrap=True)
    if has_rf:
        table.add_column("RF", no_wrap=True)
    for r in report.layers:
        label = "  " * r.depth + row_path(r.path)
        if r.folded:
            label += f" (+{r.folded})"
        cells: list[Any] = [
            Text(label, style="bold" if r.depth == 0 else ""),
            Text(r.type),
            shape_text(r.input_shapes),
            shape_text(r.output_shapes),
            num(r.params),
            str(r.calls),
        ]
        if has_flops:
            cells.append(flops_text(r))
        if has_rf:
            cells.append(rf_text(r.rf, compact=True))
        table.add_row(*cells)

    p = report.params
    summary = Table.grid(padding=(0, 2))
    summary.add_column(style="bold")
    summary.add_column(justify="right")
    summary.add_column()
    summary.add_row(
        "parameters", num(p.total), f"exact; {num(p.bytes)} bytes ({human_bytes(p.bytes)})"
    )
    if report.receptive_field is not None:
        rf = report.receptive_field
        summary.add_row("receptive field", "", per_axis_text(rf) + " (backward, forward) per axis")
        summary.add_row("global coupling", "", global_text(rf, limit=2))
    if full and report.flops is not None:
        f = report.flops
        per = f" ({num(f.per_sample)} per sample)" if f.batch_size > 1 else ""
        summary.add_row("FLOPs, forward", num(f.forward), f"{FLOPS_NOTE}{per}")
    if full and report.memory is not None:
        m = report.memory
        summary.add_row(
            "activations",
            num(m.activation_bytes),
            f"bytes ({human_bytes(m.activation_bytes)}): outputs of every leaf module, whole batch",
        )
        if m.forward is not None:
            summary.add_row("XLA memory, forward", "", _xla_line(m.forward))
        if m.train_step is not None:
            summary.add_row("XLA memory, train step", "", _xla_line(m.train_step))
    items: list = [table, summary]
    items += [Text(f"note: {note}") for note in report.notes]
    return to_text(items, width=width, color=color)


def check_table(report: CheckReport, *, width: int = 120, color: bool = False) -> str:
    table = Table(title="archinspect check", title_justify="left")
    for col, justify in (
        ("spec", "left"),
        ("budget", "left"),
        ("limit", "right"),
        ("actual", "right"),
        ("headroom", "right"),
        ("ok", "left"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for r in report.results:
        verdict = Text("ok", style="green") if r.ok else Text("EXCEEDED", style="bold red")
        limit = value_text(r.limit) + (" (cli)" if r.from_command_line else "")
        table.add_row(
            Text(r.spec), r.budget, limit, value_text(r.actual), headroom_text(r), verdict
        )
    items: list = [table] if report.results else []
    items += [Text(f"{r.spec}: {budget_message(r)}") for r in report.exceeded]
    items.append(Text(summary_line(report)))
    return to_text(items, width=width, color=color)


def sweep_table(result: SweepResult, *, width: int = 120, color: bool = False) -> str:
    table = Table(
        title=f"{result.name}: sweep over {', '.join(result.swept)}", title_justify="left"
    )
    for p in result.swept:
        table.add_column(p, justify="right")
    for m in result.metrics:
        table.add_column(
            METRIC_LABELS.get(m, m),
            justify="left" if m in ("receptive_field", "output_shape") else "right",
        )
    has_errors = any(r.error for r in result.rows)
    if has_errors:
        table.add_column("error", overflow="fold")
    for row in result.rows:
        cells: list = [sweep_value_text(row.values[p]) for p in result.swept]
        cells += [metric_text(m, row.metrics.get(m)) for m in result.metrics]
        if has_errors:
            cells.append(Text(row.error or "", style="red"))
        table.add_row(*cells)
    items: list = [table]
    if result.fits:
        items.append(Text("fitted laws (power law in log-log over the upper half of the range):"))
        items += [Text("  " + fit_line(m, f)) for m, f in result.fits.items()]
    elif len(result.swept) > 1:
        items.append(Text("(laws are fitted for one-parameter sweeps)"))
    return to_text(items, width=width, color=color)


def solve_table(result: SolveResult, *, width: int = 120, color: bool = False) -> str:
    return to_text([Text(line) for line in solve_lines(result)], width=width, color=color)


def rf_table(report: RFReport, *, width: int = 120, color: bool = False) -> str:
    r = report.result
    shape = "×".join(str(d) for d in report.input_shape)
    table = Table(
        title=f"{report.name} · {report.family} · {dims_label(len(report.input_shape) - 1)} · "
        f"input {shape} · receptive field",
        title_justify="left",
    )
    for col in (
        "axis",
        "backward",
        "forward",
        "backward over positions",
        "forward over positions",
        "period",
    ):
        table.add_column(col, justify="right")
    for axis, ((b, f), (br, fr), p) in enumerate(
        zip(r.per_axis, r.position_range, r.period, strict=True)
    ):
        table.add_row(
            str(axis), extent_text(b), extent_text(f), range_text(br), range_text(fr), str(p)
        )
    summary = Table.grid(padding=(0, 2))
    summary.add_column(style="bold")
    summary.add_column()
    summary.add_row("stencil RF", per_axis_text(r) + " cells (backward, forward) per axis")
    summary.add_row("global coupling", global_text(r))
    summary.add_row(
        "methods", ", ".join(report.methods) + (" (agree)" if len(report.methods) > 1 else "")
    )
    analysed = "×".join(str(d) for d in r.analysed_shape)
    summary.add_row("analysed on", f"input {analysed}")
    return to_text([table, summary], width=width, color=color)
