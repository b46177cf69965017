"""`sweep --plot`: each metric against the (first) swept parameter on log-log axes, or
semilog-y where the fitted law is exponential (a straight line there).

One parameter: a panel per metric (at most three to a row), with its fitted law, its formula,
r² and the range it was fitted over in the legend; "learnable" is left out where it equals
"params" at every point. Two parameters: small multiples, one
panel per value of the second parameter (at most three to a row), a block of them per metric,
the points only (laws are fitted for one-parameter sweeps). More parameters, or values that
are not numbers on the x axis, are refused; the CLI has printed the table already.

matplotlib is an optional extra (`pip install 'archinspect[plot]'`); without it the command
exits 2 with that advice instead of failing on an import.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from archinspect import metrics as registry
from archinspect.errors import ArchinspectError
from archinspect.report import Fit, SweepResult, SweepRow
from archinspect.text import visible

PER_ROW = 3  # small multiples: panels to a row of the figure
MAX_PANELS = 12  # values of the second parameter a figure shows


def _literal(text: str) -> str:
    """User text for a Matplotlib title: `$` would start mathtext (a name '$\\frac{$' is a
    parse error), so each is escaped; control characters are shown as escapes."""
    return visible(text).replace("$", r"\$")


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and v > 0


Panel = tuple[str, str | None, Sequence[SweepRow]]  # metric, "param=value" or None, its rows


def _learnable_is_params(result: SweepResult, metrics: list[str]) -> bool:
    """Whether "learnable" equals "params" at every point: a second identical panel says
    nothing, so it is left out and the params panel's title says so."""
    return (
        "params" in metrics
        and "learnable_params" in metrics
        and all(r.metrics.get("learnable_params") == r.metrics.get("params") for r in result.rows)
    )


def _layout(result: SweepResult, metrics: list[str]) -> list[list[Panel]]:
    """The figure's rows of panels, at most PER_ROW to a row: the metrics of a one-parameter
    sweep wrapped, or per metric the small multiples of the second parameter's values."""
    from archinspect.render.sweep import value_text

    if len(result.swept) == 1:
        return [
            [(m, None, result.rows) for m in metrics[i : i + PER_ROW]]
            for i in range(0, len(metrics), PER_ROW)
        ]
    second = result.swept[1]
    groups: dict[str, list[SweepRow]] = {}
    for row in result.rows:
        groups.setdefault(value_text(row.values[second]), []).append(row)
    if len(groups) > MAX_PANELS:
        raise ArchinspectError(
            f"error: --plot draws one panel per value of {second} (the second --param), at "
            f"most {MAX_PANELS}; this sweep has {len(groups)}. The table above is complete; "
            "sweep fewer values to plot it"
        )
    panels = list(groups.items())
    return [
        [(m, f"{second}={value}", rows) for value, rows in panels[i : i + PER_ROW]]
        for m in metrics
        for i in range(0, len(panels), PER_ROW)
    ]


def _matplotlib() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib.figure import Figure
    except ImportError:
        raise ArchinspectError(
            "error: --plot needs matplotlib, an optional extra: pip install 'archinspect[plot]'"
        ) from None
    return Figure


def _refuse_grids(result: SweepResult) -> None:
    if len(result.swept) > 2:
        raise ArchinspectError(
            f"error: --plot draws sweeps of one or two parameters (two: one panel per value of "
            f"the second); this sweep has {len(result.swept)}. The table above is complete"
        )


def sweep_figure(result: SweepResult) -> Any:
    """The matplotlib Figure of a sweep (the tests read its axes, scales and legends)."""
    Figure = _matplotlib()
    _refuse_grids(result)
    param = result.swept[0]
    bad = [r.values[param] for r in result.rows if not _is_number(r.values[param])]
    if bad:
        raise ArchinspectError(
            f"error: --plot puts {param} on a logarithmic axis, which takes positive numbers; "
            f"got {bad[0]!r}. The table above is complete"
        )
    shown = [m for m in result.metrics if registry.fitted(m)]
    same = _learnable_is_params(result, shown)
    layout = _layout(result, [m for m in shown if not (same and m == "learnable_params")])
    ncols = max(len(line) for line in layout)
    height = 3.6 * len(layout)
    fig = Figure(figsize=(4.2 * ncols, height))
    axes = fig.subplots(len(layout), ncols, squeeze=False)
    by_metric: dict[str, list[Any]] = {}
    for r, line in enumerate(layout):
        for c in range(ncols):
            if c < len(line):
                _panel(axes[r][c], result, param, *line[c], same_learnable=same)
                by_metric.setdefault(line[c][0], []).append(axes[r][c])
            else:
                axes[r][c].set_visible(False)
    if len(result.swept) > 1:
        for panels in by_metric.values():  # one metric's small multiples share its y axis
            lows, highs = zip(*(ax.get_ylim() for ax in panels), strict=True)
            for ax in panels:
                ax.set_ylim(min(lows), max(highs))
    swept = " × ".join(result.swept)
    fig.suptitle(_literal(f"{result.name}: sweep over {swept}"), fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / height))  # room for the title above the panels
    return fig


def sweep_plot(result: SweepResult, path: str) -> None:
    _matplotlib()
    _refuse_grids(result)
    if not path.endswith((".png", ".svg")):
        raise ArchinspectError(f"error: --plot writes .png or .svg files, got {path!r}")
    fig = sweep_figure(result)
    # Written like every other report file (archinspect/output.py): atomically, or through a
    # device.
    from archinspect.output import write_file

    write_file(path, lambda handle: fig.savefig(handle, format=path[-3:]), option="--plot")


def y_label(metric: str) -> str:
    """The y axis: the metric and its unit ("params (parameters)"), the unit left out where
    the label already is one ("FLOPs"), on a second line where both would not fit a panel."""
    m = registry.BY_NAME.get(metric)
    if m is None:
        return metric
    unit = m.axis_label or m.unit
    if unit in ("", m.label):
        return m.label
    return f"{m.label}{chr(10) if len(m.label) + len(unit) > 28 else ' '}({unit})"


def law_label(fit: Fit, param: str, fitted: Sequence[float]) -> str:
    """The legend of a fitted law: its name, its formula with the exponent or base, its r²
    (of the fit that named it) and the points it was fitted over."""
    span = f"fitted over {param} = {min(fitted):g}–{max(fitted):g} ({len(fitted)} points)"
    if fit.base is not None:
        r2 = fit.r2_exponential if fit.r2_exponential is not None else fit.r2
        return f"exponential: y ∝ {fit.base:.2f}^x, r² {r2:.3f}\n{span}"
    if fit.law == "constant":
        return f"constant, r² {fit.r2:.3f}\n{span}"
    return f"{fit.law}: y ∝ x^{fit.exponent:.2f}, r² {fit.r2:.3f}\n{span}"


def _panel(
    ax: Any,
    result: SweepResult,
    param: str,
    metric: str,
    where: str | None,
    rows: Sequence[SweepRow],
    same_learnable: bool = False,
) -> None:
    """One metric against `param` over `rows`: the measured points (a row that could not
    measure it is left out), and the fitted law of a one-parameter sweep: on log-log axes, or
    semilog-y for an exponential law (a straight line there)."""
    xs, ys = [], []
    for row in rows:
        if metric not in row.metrics:
            continue
        y = registry.trend(metric, row.metrics[metric])
        if y is None or not math.isfinite(y) or y <= 0:
            continue
        xs.append(float(row.values[param]))
        ys.append(float(y))
    fit = result.fits.get(metric) if where is None else None
    exponential = fit is not None and fit.base is not None
    ax.set_yscale("log")
    ax.set_xscale("linear" if exponential else "log")
    ax.plot(xs, ys, "o", color="#1f5fa8", label="exact")
    if fit is not None and xs:
        _law(ax, fit, param, xs, ys, exponential)
    label = registry.label(metric)
    if same_learnable and metric == "params":
        label = "params = learnable"
    if xs:
        from matplotlib.ticker import NullFormatter

        ax.set_xticks(xs)
        ax.set_xticklabels([f"{x:g}" for x in xs])
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(param)
    ax.set_ylabel(y_label(metric))
    title = f"{label} vs {param}" + (f", {where}" if where is not None else "")
    ax.set_title(_literal(title), fontsize=10)
    ax.grid(True, which="both", alpha=0.3)


def _law(
    ax: Any, fit: Fit, param: str, xs: list[float], ys: list[float], exponential: bool
) -> None:
    """The fitted law through the last point: solid over the range it was fitted on (the upper
    `fit.points` points, archinspect/analysis/fit.py), dotted where carried below it."""
    fitted = sorted(xs)[-fit.points :] if fit.points else sorted(xs)
    anchor_x, anchor_y = max(zip(xs, ys, strict=True))

    def law(g: float) -> float:
        if fit.base is not None:
            return anchor_y * fit.base ** (g - anchor_x)
        return anchor_y * (g / anchor_x) ** fit.exponent

    def grid(lo: float, hi: float) -> list[float]:
        if exponential:
            return [lo + (hi - lo) * i / 50 for i in range(51)]
        return [lo * (hi / lo) ** (i / 50) for i in range(51)]

    inside = grid(min(fitted), max(fitted))
    label = "\n".join(_literal(line) for line in law_label(fit, param, fitted).split("\n"))
    ax.plot(inside, [law(g) for g in inside], "-", color="#d0652b", label=label)
    if min(xs) < min(fitted):
        outside = grid(min(xs), min(fitted))
        ax.plot(outside, [law(g) for g in outside], ":", color="#d0652b")
    ax.legend(fontsize=7)
