"""Rich table renderer. Renders to a string; colour only when the caller asks for it."""

from __future__ import annotations

import io

from rich.console import Console
from rich.table import Table
from rich.text import Text

from archinspect.render.count_data import arrays_text
from archinspect.render.fmt import dims_label, dtype_lines, human_bytes, num, row_path
from archinspect.report import CountReport


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
    for r in report.rows:
        label = Text(
            "  " * max(r.depth - 1, 0) + row_path(r.path), style="bold" if r.depth == 0 else ""
        )
        table.add_row(label, Text(r.type), num(r.own_params), num(r.params), Text(arrays_text(r)))

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
    items: list = [table, summary]
    items += [Text(f"note: {note}") for note in report.notes]
    return to_text(items, width=width, color=color)
