"""Markdown renderer: GitHub-flavoured tables, ready to paste into a PR or README."""

from __future__ import annotations

from archinspect.render.count_data import arrays_text
from archinspect.render.fmt import dims_label, dtype_lines, human_bytes, num, row_path
from archinspect.report import CountReport


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
