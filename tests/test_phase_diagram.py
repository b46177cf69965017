"""The phase-diagram renderer (archinspect/render/phase_diagram.py, README "init"): what the
figure shows is read back from the matplotlib objects, and the files are checked for format."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from archinspect.errors import ArchinspectError
from archinspect.render.phase_diagram import (
    phase_diagram_figure,
    phase_diagram_plot,
)
from archinspect.report import PhaseDiagram, PhasePoint

DIAGRAM = PhaseDiagram(
    activation="tanh",
    sb2=(0.0, 0.05, 0.1, 0.2),
    sw2=(1.0, 1.76, None, 2.4),  # a gap: the line is drawn in two runs
    points=(
        PhasePoint(1.0, 0.05, "ordered"),
        PhasePoint(1.76, 0.05, "critical"),
        PhasePoint(3.0, 0.05, "chaotic"),
        PhasePoint(3.5, 0.1, "chaotic"),
    ),
)


def legend_texts(fig):
    [ax] = fig.axes
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_the_figure_names_the_phases_the_line_and_each_verdict():
    fig = phase_diagram_figure(DIAGRAM)
    assert legend_texts(fig) == [
        "χ₁ = 1 (mean-field theory)",
        "ordered (χ₁ < 1)",
        "chaotic (χ₁ > 1)",
        "no χ₁ = 1 where the line stops (q* is lost first)",
        "measured: ordered",
        "measured: critical",
        "measured: chaotic",
    ]
    [ax] = fig.axes
    assert ax.get_xlabel() == r"$\sigma_w^2$ (weight variance × fan-in)"
    assert ax.get_ylabel() == r"$\sigma_b^2$ (bias variance)"
    assert ax.get_title() == "tanh: order-to-chaos phase diagram"
    assert sorted(t.get_text() for t in ax.texts) == ["chaotic", "ordered"]


def test_the_line_breaks_at_a_gap_and_the_points_are_where_measured():
    [ax] = phase_diagram_figure(DIAGRAM).axes
    lines = [(list(x), list(y)) for x, y in (ln.get_data() for ln in ax.get_lines())]
    # two runs of the theory line (σ_w² on x, σ_b² on y), then one set of markers per verdict
    assert lines == [
        ([1.0, 1.76], [0.0, 0.05]),
        ([2.4], [0.2]),
        ([1.0], [0.05]),
        ([1.76], [0.05]),
        ([3.0, 3.5], [0.05, 0.1]),
    ]
    assert len(ax.collections) == 4  # each run shades its ordered and its chaotic side
    # the axes hold the line and every point: σ_w² up to 1.25 × 3.5, σ_b² up to 0.2
    assert ax.get_xlim() == (0.0, pytest.approx(1.25 * 3.5))
    assert ax.get_ylim() == (0.0, 0.2)


def test_theory_only_has_no_measured_entries():
    fig = phase_diagram_figure(PhaseDiagram("relu", (0.0, 1.0), (2.0, 2.0)))
    assert legend_texts(fig) == [
        "χ₁ = 1 (mean-field theory)",
        "ordered (χ₁ < 1)",
        "chaotic (χ₁ > 1)",
    ]


def test_png(tmp_path):
    path = tmp_path / "phase.png"
    phase_diagram_plot(DIAGRAM, str(path))
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 10_000  # a drawn figure, not an empty canvas


def test_svg_carries_the_legend(tmp_path):
    path = tmp_path / "phase.svg"
    phase_diagram_plot(DIAGRAM, str(path))
    text = path.read_text(encoding="utf-8")
    assert ET.fromstring(text).tag == "{http://www.w3.org/2000/svg}svg"
    comments = re.findall(r"<!-- (.*?) -->", text)  # matplotlib names each drawn text
    for label in ("ordered (χ₁ &lt; 1)", "chaotic (χ₁ &gt; 1)", "measured: critical"):
        assert label in comments


def test_other_suffixes_are_refused(tmp_path):
    with pytest.raises(ArchinspectError, match=r"--phase-diagram writes \.png or \.svg files"):
        phase_diagram_plot(DIAGRAM, str(tmp_path / "phase.pdf"))
    assert list(tmp_path.iterdir()) == []


def test_no_critical_line_at_all_still_draws_the_points():
    # softplus at σ_b² = 1 has no χ₁ = 1 (q* is lost first): no regions, the points remain
    diagram = PhaseDiagram("softplus", (1.0,), (None,), (PhasePoint(2.5, 1.0, "exploding"),))
    fig = phase_diagram_figure(diagram)
    assert legend_texts(fig) == [
        "no χ₁ = 1 where the line stops (q* is lost first)",
        "measured: exploding",
    ]
    [ax] = fig.axes
    assert (len(ax.texts), len(ax.collections)) == (0, 0)  # no shaded phase, no region name
