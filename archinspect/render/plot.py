"""`sweep --plot`: each metric against the swept parameter on log-log axes, with the fit.

matplotlib is an optional extra (`pip install 'archinspect[plot]'`); without it the command
exits 2 with that advice instead of failing on an import.
"""

from __future__ import annotations

import math

from archinspect import metrics as registry
from archinspect.errors import ArchinspectError
from archinspect.report import SweepResult


def sweep_plot(result: SweepResult, path: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ArchinspectError(
            "error: --plot needs matplotlib, an optional extra: pip install 'archinspect[plot]'"
        ) from None
    if len(result.swept) != 1:
        raise ArchinspectError("error: --plot draws one-parameter sweeps; sweep one --param")
    if not path.endswith((".png", ".svg")):
        raise ArchinspectError(f"error: --plot writes .png or .svg files, got {path!r}")
    param = result.swept[0]
    metrics = [m for m in result.metrics if registry.fitted(m)]
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.6), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        xs, ys = [], []
        for row in result.rows:
            if row.error is not None:
                continue
            y = row.metrics.get(metric)
            y = registry.trend(metric, y)
            if y is None or not math.isfinite(y) or y <= 0:
                continue
            xs.append(float(row.values[param]))
            ys.append(float(y))
        ax.loglog(xs, ys, "o", color="#1f5fa8", label="exact")
        fit = result.fits.get(metric)
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
        ax.set_title(f"{label} vs {param}", fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
    fig.suptitle(f"{result.name}: sweep over {param}", fontsize=11)
    fig.tight_layout()
    # Written like every other report file (archinspect/output.py): atomically, or through a
    # device; the figure is closed whatever happens.
    from archinspect.output import write_file

    try:
        write_file(path, lambda handle: fig.savefig(handle, format=path[-3:]), option="--plot")
    finally:
        plt.close(fig)
