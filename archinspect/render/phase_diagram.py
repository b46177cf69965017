"""`init --phase-diagram`: the (σ_w², σ_b²) plane of the spec's activation, with the χ₁ = 1
line of mean-field theory between the ordered and the chaotic phase, and the verdicts measured
on the real network on top (README "init").

matplotlib is an optional extra, imported only here; the figure is built by
`phase_diagram_figure` (the tests read it) and written by `phase_diagram_plot`.
"""

from __future__ import annotations

from typing import Any

from archinspect.errors import ArchinspectError
from archinspect.report import PhaseDiagram

ORDERED, CHAOTIC, LINE = "#cfe0f3", "#f6d3c4", "#1b1b1b"
MARKERS: dict[str, tuple[str, str]] = {  # verdict -> marker, colour
    "ordered": ("o", "#1f5fa8"),
    "critical": ("D", "#2b8a3e"),
    "chaotic": ("s", "#c0392b"),
    "vanishing": ("v", "#6c3fa0"),
    "exploding": ("^", "#d0652b"),
}
OTHER = ("X", "#555555")  # a verdict not listed above is still drawn, in grey
X_LABEL = r"$\sigma_w^2$ (weight variance × fan-in)"
Y_LABEL = r"$\sigma_b^2$ (bias variance)"


def _segments(diagram: PhaseDiagram) -> list[tuple[list[float], list[float]]]:
    """The theory line's runs of known points, (σ_b², σ_w²) each; a None ends a run."""
    runs: list[tuple[list[float], list[float]]] = []
    run: tuple[list[float], list[float]] = ([], [])
    for b, w in zip(diagram.sb2, diagram.sw2, strict=True):
        if w is None:
            if run[0]:
                runs.append(run)
            run = ([], [])
        else:
            run[0].append(b)
            run[1].append(w)
    if run[0]:
        runs.append(run)
    return runs


def phase_diagram_figure(diagram: PhaseDiagram) -> Any:
    """The matplotlib Figure: shaded phases either side of the χ₁ = 1 line, one marker style
    per measured verdict, everything named in the legend."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib.figure import Figure
        from matplotlib.lines import Line2D
        from matplotlib.patches import Patch
    except ImportError:
        raise ArchinspectError(
            "error: --phase-diagram needs matplotlib, an optional extra: "
            "pip install 'archinspect[plot]'"
        ) from None
    fig = Figure(figsize=(6.4, 4.8))
    ax = fig.add_subplot()
    known = [w for w in diagram.sw2 if w is not None]
    xs = known + [p.sw2 for p in diagram.points]
    ys = list(diagram.sb2) + [p.sb2 for p in diagram.points]
    x_max = 1.25 * max(xs, default=1.0) or 1.0
    y_max = max(ys, default=1.0) or 1.0
    handles: list[Any] = []
    segments = _segments(diagram)
    for b, w in segments:
        ax.fill_betweenx(b, 0, w, color=ORDERED, linewidth=0)
        ax.fill_betweenx(b, w, x_max, color=CHAOTIC, linewidth=0)
        ax.plot(w, b, "-", color=LINE, linewidth=1.8)
    if segments:
        handles += [
            Line2D([], [], color=LINE, linewidth=1.8, label="χ₁ = 1 (mean-field theory)"),
            Patch(color=ORDERED, label="ordered (χ₁ < 1)"),
            Patch(color=CHAOTIC, label="chaotic (χ₁ > 1)"),
        ]
        # the region names, inside the regions, at the middle run's middle height
        b, w = segments[len(segments) // 2]
        mid = len(b) // 2
        ax.text(w[mid] / 2, b[mid], "ordered", ha="center", va="center", fontsize=10)
        ax.text((w[mid] + x_max) / 2, b[mid], "chaotic", ha="center", va="center", fontsize=10)
    if len(known) < len(diagram.sw2):
        handles.append(
            Line2D([], [], color="none", label="no χ₁ = 1 where the line stops (q* is lost first)")
        )
    for verdict in dict.fromkeys(p.verdict for p in diagram.points):  # first-seen order
        marker, colour = MARKERS.get(verdict, OTHER)
        mine = [p for p in diagram.points if p.verdict == verdict]
        ax.plot(
            [p.sw2 for p in mine],
            [p.sb2 for p in mine],
            marker,
            color=colour,
            markeredgecolor="white",
            markersize=7,
            linestyle="none",
            label=f"measured: {verdict}",
        )
    handles += [h for h in ax.get_lines() if not str(h.get_label()).startswith("_")]
    ax.set_xlim(0, x_max)
    ax.set_ylim(0, y_max)
    ax.set_xlabel(X_LABEL)
    ax.set_ylabel(Y_LABEL)
    ax.set_title(f"{diagram.activation}: order-to-chaos phase diagram", fontsize=11)
    ax.legend(handles=handles, fontsize=8, loc="upper left", framealpha=0.9)
    fig.tight_layout()
    return fig


def phase_diagram_plot(diagram: PhaseDiagram, path: str) -> None:
    """Write the figure to `path`, a .png or .svg file (by its suffix)."""
    if not path.endswith((".png", ".svg")):
        raise ArchinspectError(f"error: --phase-diagram writes .png or .svg files, got {path!r}")
    fig = phase_diagram_figure(diagram)
    from archinspect.output import write_file  # atomically, or through a device, as every report

    write_file(path, lambda handle: fig.savefig(handle, format=path[-3:]), option="--phase-diagram")
