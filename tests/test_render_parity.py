"""Every format shows the same fields: each field of a report's JSON appears in its table,
Markdown and CSV (each command's section of the README lists its formats), and the renderers
import no compute module.

The reports are built by hand (no model, no JAX), with the awkward cases in them: an infinite
extent, a module with two inputs, a failed sweep point, a limit from the command line. Row
fields are looked up in the same row of every format; summary fields anywhere in the table and
the Markdown (CSV carries rows only). The few fields a format leaves out on purpose are listed
in EXEMPT, each with its reason: a field added to a report and left out of a format fails here.
"""

from __future__ import annotations

import ast
import csv
import io
import json
import math
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from archinspect.errors import Location, Problem
from archinspect.render import render
from archinspect.report import (
    BudgetResult,
    CheckError,
    CheckReport,
    ConvGeometry,
    CountReport,
    DenseEquivalent,
    Fit,
    FlopsReport,
    GlobalSource,
    InspectReport,
    LayerRow,
    LeafRow,
    MemoryReport,
    ModuleRow,
    ParamSummary,
    RFReport,
    RFResult,
    SolveResult,
    SweepResult,
    SweepRow,
    XlaMemory,
)

INF = math.inf
ROOT = Path(__file__).resolve().parent.parent

# ---------------------------------------------------------------- hand-built reports

PARAMS = ParamSummary(
    total=3_210,
    learnable=3_100,
    materialized=3_300,
    bytes=12_840,
    by_dtype={"float32": 3_210},
    elements_by_dtype={"float32": 3_210},
    bytes_by_dtype={"float32": 12_840},
    complex_elements=0,
)
STENCIL = RFResult(
    per_axis=((7, 5),),
    position_range=(((6, 7), (5, 5)),),
    period=(2,),
    global_=False,
    global_via=(),
    method="structural",
    analysed_shape=(3, 64),
)
SPECTRAL = RFResult(
    per_axis=((INF, INF), (9, 4)),
    position_range=(((INF, INF), (INF, INF)), ((8, 9), (4, 4))),
    period=(1, 4),
    global_=True,
    global_via=(
        GlobalSource("blocks[0].spectral", "SpectralConv", "fft"),
        GlobalSource("norm", "GroupNorm", "normalization"),
    ),
    method="empirical",
    analysed_shape=(3, 32, 32),
)


def _leaf(name: str, shape: tuple[int, ...], params: int) -> LeafRow:
    return LeafRow(name, shape, "float32", params, params * 4, True)


def count_report(rf: bool) -> CountReport:
    rows = (
        ModuleRow("", "Net", 0, 0, 3_210, rf=((7, 5),) if rf else None),
        ModuleRow(
            "lift",
            "Conv",
            1,
            1_210,
            1_210,
            (_leaf("lift.weight", (40, 3, 10), 1_200), _leaf("lift.bias", (10, 1), 10)),
            rf=((3, 2),) if rf else None,
        ),
        ModuleRow("blocks", "list", 1, 0, 2_000, folded=6, rf=((7, 5),) if rf else None),
    )
    return CountReport(
        name="parity",
        spec="parity.yaml",
        family="Net",
        num_spatial_dims=1,
        input_shape=(3, 64),
        params=PARAMS,
        rows=rows,
        depth=1,
        notes=("a note on the count",),
        receptive_field=STENCIL if rf else None,
    )


# a dilated, strided, grouped 2-D conv with circular padding (its JSON is an object per row)
LIFT = ConvGeometry(
    kernel_size=(3, 3),
    kernel_dilation=(2, 1),
    input_dilation=(1, 1),
    stride=(2, 1),
    padding=((2, 2), (1, 1)),
    padding_mode="circular",
    groups=1,
    in_channels=3,
    out_channels=10,
)


def inspect_report(full: bool) -> InspectReport:
    def flops(n: Any) -> Any:  # FLOPs figures and notes: `shapes` compiles nothing
        return n if full else None

    layers = (
        LayerRow(
            "",
            "Net",
            0,
            ((3, 32, 32),),
            ((2, 32, 32),),
            0,
            3_210,
            1,
            flops(91_000),
            rf=((INF, INF),),
            analytic_flops=flops(98_765),
        ),
        LayerRow(
            "lift",
            "Conv",
            1,
            ((3, 32, 32),),
            ((10, 16, 32),),
            1_210,
            1_210,
            1,
            flops(54_000),
            conv=LIFT,
            analytic_flops=flops(61_440),
            dense=DenseEquivalent(5_120, 3_072, 123_456, 900),
        ),
        LayerRow(
            "mix",
            "Add",
            1,
            ((10, 32, 32), (10, 32, 32)),
            ((10, 32, 32),),
            0,
            0,
            3,
            None,
            ((9, 4), (9, 4)),
            folded=2,
            flops_note=flops("lowering it alone failed: TypeError: a reason"),
        ),
        LayerRow("head", "Sum", 1, ((10, 32, 32),), ((),), 2_000, 2_000, 1, flops(37_000)),
    )
    return InspectReport(
        name="parity",
        spec="parity.yaml",
        family="Net",
        target="pkg.mod:Net",
        platform="cpu",
        input_shape=(3, 32, 32),
        output_shape=(2, 32, 32),
        batch_size=2,
        dtype="float32",
        params=PARAMS,
        layers=layers,
        depth=1,
        flops=FlopsReport(
            forward=182_000,
            per_sample=91_000,
            batch_size=2,
            unoptimised=91_000,
            analytic=197_530,
        )
        if full
        else None,
        memory=MemoryReport(
            param_bytes=12_840,
            param_bytes_by_dtype={"float32": 12_840},
            activation_bytes=81_920,
            forward=XlaMemory(11_000, 12_000, 13_000, 0, 500),
            train_step=XlaMemory(21_000, 22_000, 23_000, 1_000, 700),
        )
        if full
        else None,
        receptive_field=SPECTRAL,
        notes=("a note on the shapes",),
    )


def rf_report() -> RFReport:
    return RFReport("parity", "parity.yaml", "Net", (3, 32, 32), SPECTRAL, ("empirical", "both"))


def _budget(budget: str, limit: Any, actual: Any, ok: bool, headroom: float | None, **kw: Any):
    return BudgetResult(
        spec=kw.get("spec", "a.yaml"),
        name=kw.get("name", "alpha"),
        budget=budget,
        limit=limit,
        actual=actual,
        ok=ok,
        headroom=headroom,
        location=Location(kw.get("spec", "a.yaml"), kw["line"], kw.get("column"))
        if "line" in kw
        else None,
        from_command_line=kw.get("cli", False),
    )


def check_report() -> CheckReport:
    return CheckReport(
        results=(
            _budget("max_params", 4_000, 3_210, True, 19.75, line=9, column=15),
            _budget("max_flops", 100_000, 182_000, False, -82.0, line=10, column=14),
            _budget("receptive_field.min", [(8, 8)], [(7, 5)], False, None, cli=True),
            _budget("max_memory", 0, 5, False, -INF, spec="b.yaml", name="beta", line=3),
        ),
        errors=(
            CheckError(
                "c.yaml",
                "error: c.yaml is not a valid archinspect spec (1 problem)\n"
                "c.yaml:2:3: model.depth: must be a non-negative integer, got -1",
                (
                    Problem(
                        "model.depth",
                        "must be a non-negative integer, got -1",
                        Location("c.yaml", 2, 3),
                    ),
                ),
            ),
        ),
        unbudgeted=("d.yaml",),
    )


def sweep_result(two: bool) -> SweepResult:
    swept = ("depth", "hidden_channels") if two else ("hidden_channels",)
    metrics = ("params", "receptive_field", "output_shape")
    points = [(1, 4), (2, 8), (3, 16)]
    rows = tuple(
        SweepRow(
            values={"depth": d, "hidden_channels": h} if two else {"hidden_channels": h},
            metrics={"params": 97 * h, "receptive_field": STENCIL, "output_shape": (1, 64)},
        )
        for d, h in points
    ) + (
        SweepRow(
            values={"depth": 4, "hidden_channels": 0} if two else {"hidden_channels": 0},
            error="hidden_channels must be positive",
        ),
        # counted, but its forward pass fails: the other metrics are marked with the reason
        SweepRow(
            values={"depth": 5, "hidden_channels": 5} if two else {"hidden_channels": 5},
            metrics={"params": 97 * 5},
            failed={
                "receptive_field": "error: parity.yaml: the forward pass fails",
                "output_shape": "error: parity.yaml: the forward pass fails",
            },
        ),
    )
    fits = {} if two else {"params": Fit(1.0, 0.999, "linear", points=3)}
    return SweepResult("parity", "parity.yaml", swept, rows, fits, metrics)


def solve_result(found: bool) -> SolveResult:
    return SolveResult(
        name="parity",
        spec="parity.yaml",
        param="hidden_channels",
        direction="largest",
        limits={"max_params": 5_000},
        value=48 if found else None,
        metric={"params": 4_900} if found else None,
        next_value=49 if found else 1,
        next_metric={"params": 5_100},
        binding=("max_params",),
        probes=7,
    )


# ---------------------------------------------------------------- what each format shows

# (report, format) -> JSON keys it leaves out, and why. Rows are keyed by the row field, the
# summary by its dotted JSON path ("*" for every key below it).
# JSON-only detail of the summaries: per-dtype element counts, how the RF was found.
COUNT_SUMMARY_ONLY_IN_JSON = {
    "num_spatial_dims",  # the title says "1-D"
    "params.by_dtype",  # the "by dtype" line lists them with their bytes
    "params.elements_by_dtype",
    "params.complex_elements",
    "receptive_field.position_range",
    "receptive_field.period",
    "receptive_field.method",
    "receptive_field.analysed_shape",
}
INSPECT_SUMMARY_ONLY_IN_JSON = COUNT_SUMMARY_ONLY_IN_JSON - {"num_spatial_dims"} | {
    "params.learnable",
    "params.state",
    "params.frozen",
    "params.materialized",
    "params.bytes_by_dtype",
    "memory.param_bytes_by_dtype",
    "memory.forward.generated_code_bytes",
    "memory.train_step.generated_code_bytes",
    "flops.method",
}

EXEMPT: dict[str, dict[str, set[str]]] = {
    "count": {
        # the tree is drawn by indentation, a folded count is the arrays cell's "+N folded"; the
        # spec is the file the user named; the network's RF is its extents and global coupling
        "table": {"depth", "folded", "spec", *COUNT_SUMMARY_ONLY_IN_JSON},
        "markdown": {"depth", "folded", "spec", *COUNT_SUMMARY_ONLY_IN_JSON},
    },
    "inspect": {
        # the tree is drawn by indentation; own parameters and dtypes are count's business
        "table": {
            "depth",
            "own_params",
            "folded",
            "input_shapes",
            "output_shapes",
            "spec",
            "target",
            "flops_note",  # the cell says "not measured": the reason is a note under the table
            *INSPECT_SUMMARY_ONLY_IN_JSON,
        },
        # Markdown's summary has the parameter count (not its bytes) and the peak bytes of
        # XLA's analyses (not their parts)
        "markdown": {
            "depth",
            "own_params",
            "folded",
            "input_shapes",
            "output_shapes",
            "spec",
            "target",
            "params.bytes",
            "flops.per_sample",
            "memory.forward.*",
            "memory.train_step.*",
            "memory.param_bytes",
            "flops_note",  # the cell says "not measured": the reason is a note
            *INSPECT_SUMMARY_ONLY_IN_JSON,
        },
        "csv": {"input_shapes", "output_shapes"},  # CSV joins several shapes in one cell
    },
    "check": {
        # the table and Markdown name the spec by its file; messages of exceeded budgets
        # follow the table; specs that could not be checked go to stderr in these formats
        "table": {"name", "line", "from_command_line", "message", "errors.*"},
        "markdown": {"name", "line", "from_command_line", "message", "errors.*"},
        "csv": {"from_command_line", "message"},
    },
    "rf": {
        "table": {"spec", "receptive_field.method"},
        "markdown": {"spec", "receptive_field.method", "receptive_field.analysed_shape"},
        "csv": {
            "receptive_field.methods",
            "receptive_field.global_via",
            "receptive_field.analysed_shape",
        },
    },
    "sweep": {
        # the fit line shows the law and its exponent; the headers label the metrics, and so
        # does the error cell of a point whose metrics failed (their cells say "failed")
        "table": {"spec", "fits.*", "metrics", "failed"},
        "markdown": {"spec", "fits.*", "metrics", "failed"},
    },
    "solve": {
        # the answer in words names the parameter, not the spec; no value: no probe count
        "table": {"name", "probes", "spec", "direction", "next_error"},
        "markdown": {"name", "probes", "spec", "direction", "next_error"},
        "csv": {"name", "spec", "direction", "next_error", "metric", "next_metric", "probes"},
    },
}

CASES = {
    "count": count_report(rf=False),
    "count --rf": count_report(rf=True),
    "shapes": inspect_report(full=False),
    "inspect": inspect_report(full=True),
    "rf": rf_report(),
    "check": check_report(),
    "sweep": sweep_result(two=False),
    "sweep, two parameters": sweep_result(two=True),
    "solve": solve_result(found=True),
    "solve, no value": solve_result(found=False),
}


def _view(case: str) -> str:
    return {"shapes": "inspect", "count --rf": "count"}.get(case, case.split(",")[0])


def _kwargs(case: str) -> dict[str, Any]:
    return {"full": case == "inspect"} if _view(case) == "inspect" else {}


def _forms(value: Any) -> list[str]:
    """The texts a JSON value may be shown as."""
    if isinstance(value, bool):
        return ["True", "ok", "yes"] if value else ["False", "exceeded", "EXCEEDED", "no"]
    if isinstance(value, int):
        return [f"{value:,}", str(value)]
    if isinstance(value, float):
        return [str(value), f"{value:.1f}", f"{value:.2f}"]
    if isinstance(value, str):
        return [value]
    if value and all(isinstance(p, list) and len(p) == 2 for p in value):  # extents per axis
        pairs = [f"({b},{f})" for b, f in value]
        compact = pairs[0] + f"×{len(pairs)}" if len(set(pairs)) == 1 else ""
        # CSV: the JSON itself in one cell, numbers again for any reader
        return [" ".join(pairs), compact, json.dumps(value, separators=(",", ":"))]
    if all(isinstance(v, int) for v in value):  # a shape
        return [sep.join(map(str, value)) for sep in ("×", "x", ",")]
    raise AssertionError(f"no text form for {value!r}")


def _found(value: Any, text: str, key: str = "") -> bool:
    if key.endswith("_range"):  # of extents: "lo..hi", or its two ends in cells of their own
        lo, hi = value
        if lo == hi or f"{lo}..{hi}" in text:
            return _word(str(lo), text)
        return _word(str(lo), text) and _word(str(hi), text)
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return all(_word(v, text) for v in value)  # names, notes: each of them
    return any(form and _word(form, text) for form in _forms(value))


def _word(form: str, text: str) -> bool:
    return re.search(rf"(?<![\w.]){re.escape(form)}(?!\w)", text) is not None


def _exempt(view: str, fmt: str, key: str) -> bool:
    names = {n.removesuffix(".*") for n in EXEMPT.get(view, {}).get(fmt, set())}
    return any(key == n or key.startswith(n + ".") for n in names)


def _leaves(data: Any, prefix: str = ""):
    """(dotted path, value) of every leaf; lists of numbers or of pairs are one leaf."""
    if isinstance(data, dict):
        for k, v in data.items():
            yield from _leaves(v, f"{prefix}{k}" if not prefix else f"{prefix}.{k}")
    elif isinstance(data, list) and data and all(isinstance(v, dict) for v in data):
        for v in data:
            yield from _leaves(v, prefix)
    elif isinstance(data, list) and not data:
        return
    elif data is not None:
        yield prefix, data


# ---------------------------------------------------------------- the rows of each format

ROWS_KEY = {"count": "layers", "inspect": "layers", "check": "results", "sweep": "rows"}


def _json_rows(view: str, data: dict) -> list[dict]:
    if view == "rf":
        r = data["receptive_field"]
        return [
            {
                "axis": i,
                "backward": b,
                "forward": f,
                "backward_range": br,
                "forward_range": fr,
                "period": p,
            }
            for i, ((b, f), (br, fr), p) in enumerate(
                zip(r["per_axis"], r["position_range"], r["period"], strict=True)
            )
        ]
    if view == "solve":
        return [data]
    return data[ROWS_KEY[view]]


def _table_rows(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("│")]


def _markdown_rows(text: str) -> list[str]:
    """The rows of the last Markdown table (the first one of count/inspect is the summary)."""
    tables: list[list[str]] = [[]]
    for line in text.splitlines():
        if line.startswith("|"):
            tables[-1].append(line.replace("&nbsp;", " "))
        elif tables[-1]:
            tables.append([])
    last = [t for t in tables if t][-1] if any(tables) else []
    return last[2:]  # below the header and the alignment row


def _csv_rows(text: str) -> list[str]:
    return [" | ".join(row) for row in list(csv.reader(io.StringIO(text)))[1:]]


def _formats(case: str) -> dict[str, str]:
    report, kwargs = CASES[case], _kwargs(case)
    return {
        fmt: render(fmt, report, width=1000, **kwargs)
        for fmt in ("table", "markdown", "csv", "json")
    }


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("fmt", ["table", "markdown", "csv"])
def test_every_row_field_of_the_json_is_in_the_same_row_of_every_format(case: str, fmt: str):
    view = _view(case)
    texts = _formats(case)
    rows = _json_rows(view, json.loads(texts["json"]))
    if view == "solve" and fmt != "csv":
        shown = [texts[fmt]]  # the answer in words, one paragraph
    else:
        shown = {"table": _table_rows, "markdown": _markdown_rows, "csv": _csv_rows}[fmt](
            texts[fmt]
        )
        # the table and Markdown of count show the root row, whose figures are the totals
        shown = shown[1:] if view == "count" and fmt != "csv" else shown
    assert len(shown) == len(rows), texts[fmt]
    missing = []
    for row, line in zip(rows, shown, strict=True):
        for key, value in row.items():
            if value is None or _exempt(view, fmt, key) or key == "arrays":
                continue
            if isinstance(value, (dict, list)) and value and isinstance(value, dict):
                continue  # solve's metrics: the summary test looks at those
            if isinstance(value, list) and not value:
                continue
            if key == "path" and value == "":
                if fmt == "csv":
                    continue  # the root's path is the empty cell
                value = "(total)"
            if not _found(value, line, key):
                missing.append(f"{key}={value!r} not in {line!r}")
        for array in row.get("arrays", []):  # count: every array's shape in its row
            if "[" + ",".join(map(str, array["shape"])) + "]" not in line:
                missing.append(f"array {array['name']} not in {line!r}")
    assert not missing, "\n".join(missing)


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("fmt", ["table", "markdown"])
def test_every_summary_field_of_the_json_is_in_the_table_and_the_markdown(case: str, fmt: str):
    view = _view(case)
    texts = _formats(case)
    data = json.loads(texts["json"])
    rows_key = ROWS_KEY.get(view)
    summary = {k: v for k, v in data.items() if k != rows_key}
    if view == "rf":  # the per-axis fields are the rows, checked row by row above
        rf = summary["receptive_field"]
        summary["receptive_field"] = {
            k: v for k, v in rf.items() if k not in ("per_axis", "position_range", "period")
        }
    if view == "solve":
        summary = {k: v for k, v in summary.items() if k in ("metric", "next_metric", "limits")}
        summary.update(
            name=data["name"],
            spec=data["spec"],
            direction=data["direction"],
            next_error=data["next_error"],
        )
    missing = [
        f"{path}={value!r}"
        for path, value in _leaves(summary)
        if not _exempt(view, fmt, path) and not _found(value, texts[fmt])
    ]
    assert not missing, f"{fmt} of {case} lacks " + ", ".join(missing) + "\n" + texts[fmt]


def test_count_rf_shows_the_receptive_field_in_every_format():
    """The drift this file was written for: `count --rf` dropped the RF in Markdown and CSV."""
    texts = _formats("count --rf")
    assert "| (total) | Net | 0 | 3,210 |  | (7,5) |" in texts["markdown"]
    assert "| receptive field (backward, forward) | (7,5) |" in texts["markdown"]
    assert "| global coupling | no |" in texts["markdown"]
    assert texts["csv"].splitlines()[:2] == [
        "path,type,depth,own_params,params,folded,arrays,receptive_field",
        'lift,Conv,1,1210,1210,0,"weight f32[40,3,10], bias f32[10,1]","[[3,2]]"',
    ]
    plain = _formats("count")
    assert "RF" not in plain["markdown"] and "receptive_field" not in plain["csv"]


def test_every_conv_and_dense_field_is_in_the_conv_row_of_every_format():
    """The row test skips JSON objects: the `conv` and `dense_equivalent` objects, field by field
    (`transposed` is the type's business: its input dilation shows as the stride 1/s)."""
    texts = _formats("shapes")
    row = next(r for r in json.loads(texts["json"])["layers"] if r["path"] == "lift")
    assert row["conv"] == {
        "kernel_size": [3, 3],
        "kernel_dilation": [2, 1],
        "input_dilation": [1, 1],
        "effective_kernel": [5, 3],
        "stride": [2, 1],
        "padding": [[2, 2], [1, 1]],
        "padding_mode": "circular",
        "groups": 1,
        "transposed": False,
    }
    assert row["dense_equivalent"] == {
        "rows": 5_120,
        "cols": 3_072,
        "nonzeros": 123_456,
        "weights": 900,
        "sharing": 137.173333,
    }
    cells = "5×3 (3×3 d2×1) | 2×1 | (2,2) (1,1) circular | 1,210 | 1 | "
    cells += "| 5,120×3,072 | 123,456 | 900 | 137.17"
    table = next(line for line in _table_rows(texts["table"]) if " lift " in line)
    assert " ".join(table.replace("│", "|").split()).endswith(cells + " |")
    markdown = next(line for line in _markdown_rows(texts["markdown"]) if " lift " in line)
    assert " ".join(markdown.split()).endswith(cells + " |")
    lift = next(r for r in csv.DictReader(io.StringIO(texts["csv"])) if r["path"] == "lift")
    assert {k: lift[k] for k in ("kernel", "stride", "padding", "matrix")} == {
        "kernel": "5x3 (3x3 d2x1)",
        "stride": "2x1",
        "padding": "(2,2) (1,1) circular",
        "matrix": "5120x3072",
    }
    assert (lift["nonzeros"], lift["weights"], lift["sharing"]) == ("123456", "900", "137.173333")


def test_an_unknown_report_or_format_is_refused():
    with pytest.raises(ValueError, match="no junit view of CountReport"):
        render("junit", count_report(rf=False))
    with pytest.raises(ValueError, match="no table view of str"):
        render("table", "not a report")


# ---------------------------------------------------------------- renderers never compute

FORBIDDEN = (
    "archinspect.commands",
    "archinspect.analysis",
    "archinspect.build",
    "archinspect.models",
    "jax",
)


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import"
            names.append(node.module or "")
    return names


@pytest.mark.parametrize(
    "path",
    sorted((ROOT / "archinspect" / "render").rglob("*.py")),
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_renderers_import_no_compute_module(path: Path):
    bad = [
        name
        for name in _imports(path)
        if any(name == f or name.startswith(f + ".") for f in FORBIDDEN)
    ]
    assert not bad, f"{path.name} imports {bad}"


def test_the_import_check_sees_a_forbidden_import(tmp_path: Path):
    sample = tmp_path / "sample.py"
    sample.write_text("import jax.numpy as jnp\nfrom archinspect.commands.sweep import x\n")
    assert _imports(sample) == ["jax.numpy", "archinspect.commands.sweep"]


# ---------------------------------------------------------------- HTML (Jupyter)

HTML_CASES = [c for c in CASES if _view(c) in ("count", "inspect", "rf")]


class _HTMLCells(HTMLParser):
    """The rows of every <table> as lists of cell texts, and all the text of the page."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.text: list[str] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "br":
            self.text.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell))
            self._cell = None
        self.text.append(" ")

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        self.text.append(data)


@pytest.mark.parametrize("case", HTML_CASES)
def test_html_shows_every_field_the_table_shows(case: str):
    """`_repr_html_` lays out the table's own view: every field of the JSON that the table
    shows is in the same row of the HTML table, or (a summary field) in its text."""
    view = _view(case)
    report, kwargs = CASES[case], _kwargs(case)
    data = json.loads(render("json", report, **kwargs))
    page = _HTMLCells()
    page.feed(render("html", report, **kwargs))
    header, *shown = page.tables[0]
    assert header and all(cells for cells in shown)
    shown = shown[1:] if view == "count" else shown  # the root row: the totals
    rows = _json_rows(view, data)
    assert len(shown) == len(rows)
    missing = []
    for row, cells in zip(rows, shown, strict=True):
        line = " | ".join(cells)
        for key, value in row.items():
            if value is None or _exempt(view, "table", key) or key == "arrays":
                continue
            if isinstance(value, dict) or (isinstance(value, list) and not value):
                continue
            if not _found("(total)" if key == "path" and value == "" else value, line, key):
                missing.append(f"{key}={value!r} not in {line!r}")
    text = "".join(page.text)
    summary = {k: v for k, v in data.items() if k != ROWS_KEY.get(view)}
    if view == "rf":
        rf = summary["receptive_field"]
        summary["receptive_field"] = {
            k: v for k, v in rf.items() if k not in ("per_axis", "position_range", "period")
        }
    missing += [
        f"{path}={value!r}"
        for path, value in _leaves(summary)
        if not _exempt(view, "table", path) and not _found(value, text)
    ]
    assert not missing, "\n".join(missing)
