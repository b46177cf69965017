"""`archinspect shapes` (full=False) and `inspect` (full=True): per-layer shapes, parameters,
calls, FLOPs and receptive field, declared once for every format."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.text import Text

from archinspect.render.count import params_dict
from archinspect.render.fmt import (
    dims_label,
    human_bytes,
    num,
    row_path,
    shape_text,
    short_dtype,
)
from archinspect.render.formats import markdown as md
from archinspect.render.formats.csv import csv_text
from archinspect.render.formats.html import html_notes, html_page, html_summary, html_table
from archinspect.render.formats.json import dumps
from archinspect.render.formats.table import rich_table, summary_grid, to_text
from archinspect.render.rf import RF, network_fields, rf_dict
from archinspect.render.view import Column, Field, Grid
from archinspect.report import ConvGeometry, DenseEquivalent, InspectReport, LayerRow, XlaMemory

FLOPS_NOTE = "XLA's estimate (cost analysis of the compiled program); a multiply-add = 2 FLOPs"
ANALYTIC_NOTE = (
    "analytic: 2 x multiply-adds of convolutions and dense products, padding taps included, "
    "plus bias adds (the torchinfo/fvcore convention)"
)
UNOPTIMISED_NOTE = (
    "XLA's estimate of the unoptimised program, one sample: the kind of every layer row"
)


def shapes_text(shapes: tuple[tuple[int, ...], ...], sep: str = "×") -> str:
    return ", ".join(shape_text(s, sep) or "scalar" for s in shapes)


def _one_shape(shapes: tuple[tuple[int, ...], ...]) -> list[int] | None:
    return list(shapes[0]) if len(shapes) == 1 else None


def _several(shapes: tuple[tuple[int, ...], ...]) -> list[list[int]] | None:
    return [list(s) for s in shapes] if len(shapes) != 1 else None


def _label(r: LayerRow) -> str:
    return row_path(r.path) + (f" (+{r.folded})" if r.folded else "")


PATH = Column[LayerRow](
    "path",
    "module",
    lambda r: r.path,
    _label,
    style=lambda r: "bold" if r.depth == 0 else "",
    fold=True,
)
TYPE = Column[LayerRow]("type", "type", lambda r: r.type, lambda r: r.type, fold=True)
DEPTH = Column[LayerRow]("depth", "depth", lambda r: r.depth, lambda r: str(r.depth), "right")
INPUT = Column[LayerRow](
    "input_shape",
    "input",
    lambda r: _one_shape(r.input_shapes),
    lambda r: shapes_text(r.input_shapes),
    csv=lambda r: shapes_text(r.input_shapes, "x"),
    no_wrap=True,
)
OUTPUT = Column[LayerRow](
    "output_shape",
    "output",
    lambda r: _one_shape(r.output_shapes),
    lambda r: shapes_text(r.output_shapes),
    csv=lambda r: shapes_text(r.output_shapes, "x"),
    no_wrap=True,
)
# JSON only: a module with several inputs or outputs lists them all (input_shape is null).
INPUTS = Column[LayerRow](
    "input_shapes",
    "input",
    lambda r: _several(r.input_shapes),
    lambda r: shapes_text(r.input_shapes),
)
OUTPUTS = Column[LayerRow](
    "output_shapes",
    "output",
    lambda r: _several(r.output_shapes),
    lambda r: shapes_text(r.output_shapes),
)
OWN = Column[LayerRow](
    "own_params", "own", lambda r: r.own_params, lambda r: num(r.own_params), "right"
)
PARAMS = Column[LayerRow](
    "params", "params", lambda r: r.params, lambda r: num(r.params), "right", no_wrap=True
)
CALLS = Column[LayerRow](
    "calls", "calls", lambda r: r.calls, lambda r: str(r.calls), "right", no_wrap=True
)


def _flops_text(r: LayerRow) -> str:
    if r.flops is None:
        return "not measured" if r.flops_note else ""
    return num(r.flops)


# XLA's figure per layer (the unoptimised program of its calls); "not measured" with the
# reason in the notes (and in JSON/CSV `flops_note`) when a layer could not be lowered alone.
FLOPS = Column[LayerRow](
    "flops",
    "FLOPs (XLA)",
    lambda r: r.flops,
    _flops_text,
    "right",
    no_wrap=True,
)
FLOPS_WHY = Column[LayerRow](
    "flops_note", "FLOPs note", lambda r: r.flops_note, lambda r: r.flops_note or ""
)
# Blank for a module without a convolution or dense product in it: no convention to follow.
ANALYTIC = Column[LayerRow](
    "analytic_flops",
    "FLOPs (analytic)",
    lambda r: r.analytic_flops,
    lambda r: "" if r.analytic_flops is None else num(r.analytic_flops),
    "right",
    no_wrap=True,
)
# Shown only where some output is not float32 (a bfloat16 or integer model): the layer table of
# a float32 model is unchanged.
OUT_DTYPES = Column[LayerRow](
    "output_dtypes",
    "dtype",
    lambda r: list(r.output_dtypes) or None,
    lambda r: ", ".join(short_dtype(d) for d in r.output_dtypes),
    no_wrap=True,
)


def _shows_dtypes(report: InspectReport) -> bool:
    return any(d != "float32" for r in report.layers for d in r.output_dtypes)


FOLDED = Column[LayerRow]("folded", "folded", lambda r: r.folded, lambda r: str(r.folded), "right")


# A conv's geometry as the direct convolution XLA runs (a transposed conv: its input dilated
# by the stride, shown as the fractional stride 1/s); blank for every other row.
def _axes(values: tuple[int, ...], sep: str = "×") -> str:
    return sep.join(str(v) for v in values)


def kernel_text(g: ConvGeometry, sep: str = "×") -> str:
    """The effective kernel (k - 1) * d + 1 per axis; '5 (3 d2)' when dilated; ' g4': groups."""
    text = _axes(g.effective_kernel, sep)
    if any(d != 1 for d in g.kernel_dilation):
        dil = g.kernel_dilation
        dils = str(dil[0]) if len(set(dil)) == 1 else _axes(dil, sep)
        text += f" ({_axes(g.kernel_size, sep)} d{dils})"
    return text + (f" g{g.groups}" if g.groups > 1 else "")


def stride_text(g: ConvGeometry, sep: str = "×") -> str:
    """The stride per axis; 's/d' where the input is dilated by d (1/2: a transposed conv)."""
    pairs = zip(g.stride, g.input_dilation, strict=True)
    return sep.join(str(s) if d == 1 else f"{s}/{d}" for s, d in pairs)


def padding_text(g: ConvGeometry, compact: bool = True) -> str:
    """(low,high) per axis, '(1,1)×2' when every axis has the same (compact, as the RF column
    writes extents); then the mode, unless zeros or nothing is padded."""
    texts = [f"({lo},{hi})" for lo, hi in g.padding]
    text = " ".join(texts)
    if compact and len(set(texts)) == 1:
        text = texts[0] + (f"×{len(texts)}" if len(texts) > 1 else "")
    padded = any(lo or hi for lo, hi in g.padding)
    return text + ("" if g.padding_mode == "zeros" or not padded else f" {g.padding_mode}")


def conv_dict(g: ConvGeometry) -> dict[str, Any]:
    data: dict[str, Any] = {
        "kernel_size": list(g.kernel_size),
        "kernel_dilation": list(g.kernel_dilation),
        "input_dilation": list(g.input_dilation),
        "effective_kernel": list(g.effective_kernel),
        "stride": list(g.stride),
        "padding": [list(p) for p in g.padding],
        "padding_mode": g.padding_mode,
        "groups": g.groups,
        "transposed": g.transposed,
    }
    if g.zero_padding:
        data["zero_padding"] = [list(p) for p in g.zero_padding]
    return data


def _conv(text: Any) -> Any:
    return lambda r: "" if r.conv is None else text(r.conv)


CONV = Column[LayerRow](
    "conv", "conv", lambda r: None if r.conv is None else conv_dict(r.conv), lambda r: ""
)
KERNEL = Column[LayerRow](
    "kernel",
    "kernel",
    _conv(kernel_text),
    _conv(kernel_text),
    csv=_conv(lambda g: kernel_text(g, "x")),
    no_wrap=True,
)
STRIDE = Column[LayerRow](
    "stride",
    "stride",
    _conv(stride_text),
    _conv(stride_text),
    csv=_conv(lambda g: stride_text(g, "x")),
    no_wrap=True,
)
PADDING = Column[LayerRow](
    "padding",
    "padding",
    _conv(padding_text),
    _conv(padding_text),
    csv=_conv(lambda g: padding_text(g, compact=False)),
    no_wrap=True,
)


def sharing_text(d: DenseEquivalent) -> str:
    return f"{d.sharing:,.2f}"


def dense_dict(d: DenseEquivalent) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if d.rows is not None:
        data.update(rows=d.rows, cols=d.cols)
    data.update(nonzeros=d.nonzeros, weights=d.weights, sharing=round(d.sharing, 6))
    return data


def _matrix(d: DenseEquivalent | None, sep: str = "×") -> str:
    if d is None or d.rows is None:
        return ""
    return f"{num(d.rows)}{sep}{num(d.cols or 0)}"


DENSE = Column[LayerRow](
    "dense_equivalent",
    "dense equivalent",
    lambda r: None if r.dense is None else dense_dict(r.dense),
    lambda r: "",
)
MATRIX = Column[LayerRow](
    "matrix",
    "matrix",
    lambda r: _matrix(r.dense),
    lambda r: _matrix(r.dense),
    "right",
    csv=lambda r: _matrix(r.dense, "x").replace(",", ""),
    no_wrap=True,
)
NONZEROS = Column[LayerRow](
    "nonzeros",
    "non-zeros",
    lambda r: None if r.dense is None else r.dense.nonzeros,
    lambda r: "" if r.dense is None else num(r.dense.nonzeros),
    "right",
    no_wrap=True,
)
WEIGHTS = Column[LayerRow](
    "weights",
    "weights",
    lambda r: None if r.dense is None else r.dense.weights,
    lambda r: "" if r.dense is None else num(r.dense.weights),
    "right",
    no_wrap=True,
)
SHARING = Column[LayerRow](
    "sharing",
    "sharing",
    lambda r: None if r.dense is None else round(r.dense.sharing, 6),
    lambda r: "" if r.dense is None else sharing_text(r.dense),
    "right",
    no_wrap=True,
)
CONV_COLUMNS = [KERNEL, STRIDE, PADDING]
DENSE_COLUMNS = [MATRIX, NONZEROS, WEIGHTS, SHARING]

# JSON's key order is the README's contract; the optional keys are absent when empty.
JSON_KEYS: tuple[str, ...] = (
    "path",
    "type",
    "depth",
    "input_shape",
    "output_shape",
    "output_dtypes",
    "params",
    "own_params",
)
JSON_KEYS += ("calls", "folded", "input_shapes", "output_shapes", "flops", "flops_note")
JSON_KEYS += ("analytic_flops", "receptive_field", "conv", "dense_equivalent")
OPTIONAL: tuple[str, ...] = ("output_dtypes", "input_shapes", "output_shapes", "flops")
OPTIONAL += ("flops_note", "analytic_flops", "receptive_field", "conv", "dense_equivalent")


def grid(report: InspectReport, fmt: str, *, full: bool) -> Grid[LayerRow]:
    has_dense = any(r.dense is not None for r in report.layers)
    dense = DENSE_COLUMNS if has_dense else []
    dtypes = [OUT_DTYPES] if _shows_dtypes(report) else []
    if fmt == "csv":
        columns = [PATH, TYPE, DEPTH, INPUT, OUTPUT, *dtypes, *CONV_COLUMNS, OWN, PARAMS, CALLS]
        columns += [FLOPS, ANALYTIC, FLOPS_WHY, RF]
        return Grid("", [*columns, FOLDED, *dense], report.layers)
    if fmt == "json":
        columns = [PATH, TYPE, DEPTH, INPUT, OUTPUT, *dtypes, PARAMS, OWN, CALLS, FOLDED]
        columns += [INPUTS, OUTPUTS, FLOPS, FLOPS_WHY, ANALYTIC, RF, CONV, DENSE]
        return Grid("", columns, report.layers)
    has_flops = full and any(r.flops is not None or r.flops_note for r in report.layers)
    has_analytic = full and any(r.analytic_flops is not None for r in report.layers)
    has_rf = any(r.rf is not None for r in report.layers)
    has_conv = any(r.conv is not None for r in report.layers)
    columns = [PATH, TYPE, INPUT, OUTPUT, *dtypes, *(CONV_COLUMNS if has_conv else [])]
    columns += [PARAMS, CALLS]
    columns += [FLOPS] * has_flops + [ANALYTIC] * has_analytic + [RF] * has_rf + dense
    return Grid(" · ".join(_title(report)), columns, report.layers, indent=lambda r: r.depth)


def _title(report: InspectReport) -> list[str]:
    return [
        report.name,
        report.family,
        dims_label(len(report.input_shape) - 1),
        f"input {shape_text(report.input_shape)} → output {shape_text(report.output_shape)}",
        f"batch {report.batch_size}",
        report.dtype,
        report.platform,
    ]


def _xla_line(m: XlaMemory) -> str:
    return (
        f"{num(m.peak_bytes)} bytes ({human_bytes(m.peak_bytes)}): arguments "
        f"{num(m.argument_bytes)} + outputs {num(m.output_bytes)} + temporaries "
        f"{num(m.temp_bytes)}" + (f" - aliased {num(m.alias_bytes)}" if m.alias_bytes else "")
    )


def summary(report: InspectReport, *, full: bool) -> list[Field]:
    p = report.params
    fields = [
        Field(
            "params",
            "parameters",
            num(p.total),
            f"exact; {num(p.bytes)} bytes ({human_bytes(p.bytes)})",
        )
    ]
    if p.banks and p.materialized is not None:  # layers build filter banks (group convs)
        fields += [
            Field("learnable", "learnable", num(p.learnable)),
            Field("materialized", "materialized", num(p.materialized), "the filter banks built"),
        ]
    if report.receptive_field is not None:
        fields += network_fields(report.receptive_field, per_axis=" (backward, forward) per axis")
    if full and report.flops is not None:
        f = report.flops
        per = f" ({num(f.per_sample)} per sample)" if f.batch_size > 1 else ""
        fields.append(
            Field(
                "flops",
                "FLOPs, forward",
                num(f.forward),
                f"{FLOPS_NOTE}{per}",
                md_label=f"FLOPs, forward ({FLOPS_NOTE})",
            )
        )
        if f.unoptimised is not None:
            fields.append(
                Field(
                    "flops_unoptimised",
                    "FLOPs, unoptimised",
                    num(f.unoptimised),
                    f"{UNOPTIMISED_NOTE} (the (total) row)",
                    md_label=f"FLOPs, unoptimised ({UNOPTIMISED_NOTE})",
                )
            )
        if f.analytic is not None:
            per = f" ({num(f.analytic // f.batch_size)} per sample)" if f.batch_size > 1 else ""
            fields.append(
                Field(
                    "flops_analytic",
                    "FLOPs, analytic",
                    num(f.analytic),
                    f"{ANALYTIC_NOTE}{per}",
                    md_label=f"FLOPs, analytic ({ANALYTIC_NOTE})",
                )
            )
    for key, label in (("flops", "FLOPs"), ("memory", "XLA memory")):
        if full and key in report.not_measured:
            why = report.not_measured[key]
            fields.append(Field(key, label, "not measured", why, md_label=f"{label} ({why})"))
    if full and report.memory is not None:
        m = report.memory
        fields.append(
            Field(
                "activation_bytes",
                "activations",
                num(m.activation_bytes),
                f"bytes ({human_bytes(m.activation_bytes)}): outputs of every leaf module, "
                "whole batch",
                md_label="activation bytes (leaf outputs, whole batch)",
            )
        )
        for key, label, x in (
            ("forward", "forward", m.forward),
            ("train_step", "train step", m.train_step),
        ):
            if x is not None:
                fields.append(
                    Field(
                        key,
                        f"XLA memory, {label}",
                        note=_xla_line(x),
                        markdown=num(x.peak_bytes),
                        md_label=f"XLA memory, {label} (peak bytes)",
                    )
                )
    return fields


def renderables(report: InspectReport, *, full: bool) -> list[Any]:
    """The table, the summary and the notes, laid out at the console's width."""
    items: list[Any] = [rich_table(grid(report, "table", full=full))]
    items.append(summary_grid(summary(report, full=full)))
    return items + [Text(f"note: {note}") for note in report.notes]


def to_html(report: InspectReport, *, full: bool) -> str:
    g = grid(report, "table", full=full)
    fields = summary(report, full=full)
    return html_page([html_table(g), html_summary(fields), html_notes(report.notes)])


def to_table(report: InspectReport, *, full: bool, width: int = 120, color: bool = False) -> str:
    """The layer table at its natural width when the conv columns make it wider than `width`
    (a squeezed table folds paths and shapes into unreadable pieces); the rest at `width`."""
    table = rich_table(grid(report, "table", full=full))
    rest: list[Any] = [summary_grid(summary(report, full=full))]
    rest += [Text(f"note: {note}") for note in report.notes]
    if any(r.conv is not None for r in report.layers):
        natural = Console(width=10_000).measure(table).maximum
        if natural > width:
            return to_text([table], width=natural, color=color) + to_text(
                rest, width=width, color=color
            )
    return to_text([table, *rest], width=width, color=color)


def to_markdown(report: InspectReport, *, full: bool) -> str:
    name, family, _dims, *rest = _title(report)
    lines = [f"### {name} — {family}, {', '.join(rest)}", ""]
    lines += md.md_summary(summary(report, full=full))
    lines += ["", *md.md_table(grid(report, "markdown", full=full))]
    return md.join(lines + md.md_notes(report.notes))


def to_csv(report: InspectReport, *, full: bool = True) -> str:
    """The layer rows (the same for `shapes` and `inspect`; `full` is accepted for symmetry)."""
    return csv_text(grid(report, "csv", full=full))


def xla_memory_dict(m: XlaMemory | None) -> dict | None:
    if m is None:
        return None
    return {
        "argument_bytes": m.argument_bytes,
        "output_bytes": m.output_bytes,
        "temp_bytes": m.temp_bytes,
        "alias_bytes": m.alias_bytes,
        "generated_code_bytes": m.generated_code_bytes,
        "peak_bytes": m.peak_bytes,
    }


def report_dict(report: InspectReport, *, full: bool) -> dict:
    """The JSON object; `full` adds params, FLOPs and memory (inspect), else shapes only."""
    data: dict[str, Any] = {"name": report.name, "spec": report.spec, "family": report.family}
    if report.target is not None:
        data["target"] = report.target
    data.update(
        {
            "platform": report.platform,
            "input_shape": list(report.input_shape),
            "output_shape": list(report.output_shape),
            "batch_size": report.batch_size,
            "dtype": report.dtype,
        }
    )
    if full:
        data["params"] = params_dict(report)
        if report.flops is not None:
            data["flops"] = {
                "forward": report.flops.forward,
                "per_sample": report.flops.per_sample,
                "batch_size": report.flops.batch_size,
                "method": report.flops.method,
                "note": FLOPS_NOTE,
                "unoptimised_per_sample": report.flops.unoptimised,
                "analytic": report.flops.analytic,
                "analytic_per_sample": None
                if report.flops.analytic is None
                else report.flops.analytic // report.flops.batch_size,
                "analytic_note": report.flops.analytic_note or ANALYTIC_NOTE,
            }
        if report.memory is not None:
            m = report.memory
            data["memory"] = {
                "param_bytes": m.param_bytes,
                "param_bytes_by_dtype": dict(m.param_bytes_by_dtype),
                "activation_bytes": m.activation_bytes,
                "forward": xla_memory_dict(m.forward),
                "train_step": xla_memory_dict(m.train_step),
            }
        for key, why in report.not_measured.items():  # --no-flops, --no-memory
            data[key] = {**data.get(key, {}), "measured": False, "reason": why}
    if report.receptive_field is not None:
        data["receptive_field"] = rf_dict(report.receptive_field)
    data["depth"] = report.depth
    g = grid(report, "json", full=full)
    keys = [k for k in JSON_KEYS if k in {c.key for c in g.columns}]
    data["layers"] = [
        {k: v for k, v in g.record(r, keys).items() if not (k in OPTIONAL and v is None)}
        for r in g.rows
    ]
    data["notes"] = list(report.notes)
    return data


def to_json(report: InspectReport, *, full: bool) -> str:
    return dumps(report_dict(report, full=full))
