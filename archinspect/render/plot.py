"""`sweep --plot`: each metric against the (first) swept parameter on log-log axes.

One parameter: a panel per metric, with its fitted law. Two parameters: small multiples, one
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
from archinspect.report import SweepResult, SweepRow
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


def _layout(result: SweepResult, metrics: list[str]) -> list[list[Panel]]:
    """The figure's rows of panels: one row of metrics, or per metric the small multiples."""
    from archinspect.render.sweep import value_text

    if len(result.swept) == 1:
        return [[(m, None, result.rows) for m in metrics]]
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


def sweep_plot(result: SweepResult, path: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ArchinspectError(
            "error: --plot needs matplotlib, an optional extra: pip install 'archinspect[plot]'"
        ) from None
    if len(result.swept) > 2:
        raise ArchinspectError(
            f"error: --plot draws sweeps of one or two parameters (two: one panel per value of "
            f"the second); this sweep has {len(result.swept)}. The table above is complete"
        )
    if not path.endswith((".png", ".svg")):
        raise ArchinspectError(f"error: --plot writes .png or .svg files, got {path!r}")
    param = result.swept[0]
    bad = [r.values[param] for r in result.rows if not _is_number(r.values[param])]
    if bad:
        raise ArchinspectError(
            f"error: --plot puts {param} on a logarithmic axis, which takes positive numbers; "
            f"got {bad[0]!r}. The table above is complete"
        )
    metrics = [m for m in result.metrics if registry.fitted(m)]
    layout = _layout(result, metrics)
    ncols = max(len(line) for line in layout)
    fig, axes = plt.subplots(
        len(layout), ncols, figsize=(4.2 * ncols, 3.6 * len(layout)), squeeze=False
    )
    by_metric: dict[str, list[Any]] = {}
    for r, line in enumerate(layout):
        for c in range(ncols):
            if c < len(line):
                _panel(axes[r][c], result, param, *line[c])
                by_metric.setdefault(line[c][0], []).append(axes[r][c])
            else:
                axes[r][c].set_visible(False)
    for panels in by_metric.values():  # one metric's small multiples share its y axis
        lows, highs = zip(*(ax.get_ylim() for ax in panels), strict=True)
        for ax in panels:
            ax.set_ylim(min(lows), max(highs))
    swept = " × ".join(result.swept)
    fig.suptitle(_literal(f"{result.name}: sweep over {swept}"), fontsize=11)
    height = 3.6 * len(layout)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / height))  # room for the title above the panels
    # Written like every other report file (archinspect/output.py): atomically, or through a
    # device; the figure is closed whatever happens.
    from archinspect.output import write_file

    try:
        write_file(path, lambda handle: fig.savefig(handle, format=path[-3:]), option="--plot")
    finally:
        plt.close(fig)


def _panel(
    ax: Any,
    result: SweepResult,
    param: str,
    metric: str,
    where: str | None,
    rows: Sequence[SweepRow],
) -> None:
    """One metric against `param` over `rows`: the measured points (a row that could not
    measure it is left out), and the fitted law of a one-parameter sweep."""
    xs, ys = [], []
    for row in rows:
        if metric not in row.metrics:
            continue
        y = registry.trend(metric, row.metrics[metric])
        if y is None or not math.isfinite(y) or y <= 0:
            continue
        xs.append(float(row.values[param]))
        ys.append(float(y))
    ax.loglog(xs, ys, "o", color="#1f5fa8", label="exact")
    fit = result.fits.get(metric) if where is None else None
    if fit is not None and xs:
        lo, hi = min(xs), max(xs)
        grid = [lo * (hi / lo) ** (i / 50) for i in range(51)]
        anchor_x, anchor_y = xs[-1], ys[-1]
        if fit.base is not None:
            curve = [anchor_y * fit.base ** (g - anchor_x) for g in grid]
        else:
            curve = [anchor_y * (g / anchor_x) ** fit.exponent for g in grid]
        ax.loglog(grid, curve, "-", color="#d0652b", label=f"{fit.law}")
        ax.legend(fontsize=8)
    label = registry.label(metric)
    if xs:
        from matplotlib.ticker import NullFormatter

        ax.set_xticks(xs)
        ax.set_xticklabels([f"{x:g}" for x in xs])
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(param)
    ax.set_ylabel(registry.axis_label(metric))
    title = f"{label} vs {param}" + (f", {where}" if where is not None else "")
    ax.set_title(_literal(title), fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
