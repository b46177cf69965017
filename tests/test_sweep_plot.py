"""`sweep --plot` figures (archinspect/render/plot.py, README "Scaling laws"), read back from
the matplotlib objects: axis scales, legend texts, y labels with units, which panels are drawn
and how they are laid out. The sweeps are built by hand (no model is run)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from archinspect.analysis.fit import fit_law
from archinspect.render.plot import sweep_figure
from archinspect.report import RFResult, SweepResult, SweepRow


def rf(extent):
    """A 2-D receptive field whose plotted trend (backward + forward) is `extent`."""
    pair = (extent // 2, extent - extent // 2)
    return RFResult(
        per_axis=(pair, pair),
        position_range=(((pair[0], pair[0]), (pair[1], pair[1])),) * 2,
        period=(1, 1),
        global_=False,
        global_via=(),
        method="structural",
        analysed_shape=(1, 64, 64),
    )


def sweep(param, values, columns, name="net"):
    """A one-parameter sweep with the laws fitted as the sweep command fits them."""
    rows = tuple(
        SweepRow(
            {param: v},
            {m: col[i] if m != "receptive_field" else rf(col[i]) for m, col in columns.items()},
        )
        for i, v in enumerate(values)
    )
    fits = {m: fit_law(list(values), list(col)) for m, col in columns.items()}
    return SweepResult(name, "net.yaml", (param,), rows, fits, (*columns, "output_shape"))


LEVELS = [1, 2, 3, 4, 5, 6]
# a U-Net's receptive field doubles with each level: 2^(L+3) - 6 = 10, 26, 58, 122, 250, 506
UNET = sweep(
    "num_levels",
    LEVELS,
    {
        "params": [30529, 141761, 585409, 2357441, 9440449, 37762241],
        "learnable_params": [30529, 141761, 585409, 2357441, 9440449, 37762241],
        "receptive_field": [2 ** (n + 3) - 6 for n in LEVELS],
    },
)
WIDTHS = [4, 8, 16, 32, 64]
# a conv net's parameters grow as 9 h² + 3 h (quadratic), its learnable ones are 8 fewer
CONV = sweep(
    "hidden_channels",
    WIDTHS,
    {
        "params": [9 * h * h + 3 * h for h in WIDTHS],
        "learnable_params": [9 * h * h + 3 * h - 8 for h in WIDTHS],
        "flops": [2 * 9 * h * h * 1024 for h in WIDTHS],
        "param_bytes": [4 * (9 * h * h + 3 * h) for h in WIDTHS],
        "receptive_field": [11] * len(WIDTHS),
    },
)


def panels(fig):
    return [ax for ax in fig.axes if ax.get_visible()]


def by_title(fig):
    return {ax.get_title(): ax for ax in panels(fig)}


def test_an_exponential_law_is_a_straight_line_on_semilog_y():
    ax = by_title(sweep_figure(UNET))["receptive field vs num_levels"]
    assert (ax.get_xscale(), ax.get_yscale()) == ("linear", "log")
    law = [line for line in ax.get_lines() if line.get_linestyle() == "-"][0]
    x, y = (np.asarray(v, dtype=float) for v in law.get_data())
    slope, _ = np.polyfit(x, np.log(y), 1)
    # the base from ratios of differences: (506-250)/(250-122) = 2, a slope of log 2 per level
    assert slope == pytest.approx(math.log(2.0), rel=1e-12)
    assert np.log(y) == pytest.approx(np.log(y[0]) + slope * (x - x[0]), abs=1e-9)  # straight


def test_a_power_law_stays_on_log_log():
    ax = by_title(sweep_figure(CONV))["params vs hidden_channels"]
    assert (ax.get_xscale(), ax.get_yscale()) == ("log", "log")


def test_the_legend_gives_the_formula_r2_and_the_fitted_range():
    fig = sweep_figure(UNET)
    fit = UNET.fits["receptive_field"]
    texts = [
        t.get_text()
        for t in by_title(fig)["receptive field vs num_levels"].get_legend().get_texts()
    ]
    # six levels: the law is fitted over the upper ones, levels 3 to 6 (fit.py: pts[6 // 2 - 1:])
    assert texts == [
        "exact",
        f"exponential: y ∝ 2.00^x, r² {fit.r2_exponential:.3f}\n"
        "fitted over num_levels = 3–6 (4 points)",
    ]
    fit = CONV.fits["params"]
    texts = [
        t.get_text()
        for t in by_title(sweep_figure(CONV))["params vs hidden_channels"].get_legend().get_texts()
    ]
    assert texts[1] == (
        f"quadratic: y ∝ x^{fit.exponent:.2f}, r² {fit.r2:.3f}\n"
        "fitted over hidden_channels = 8–64 (4 points)"  # five widths: the upper four
    )
    assert fit.exponent == pytest.approx(2.0, abs=0.05)


def test_the_law_is_dotted_below_the_fitted_range():
    ax = by_title(sweep_figure(UNET))["receptive field vs num_levels"]
    styles = {line.get_linestyle(): line.get_xdata() for line in ax.get_lines()}
    assert (min(styles["-"]), max(styles["-"])) == (3, 6)
    assert (min(styles[":"]), max(styles[":"])) == (1, 3)


def test_y_axes_carry_units():
    labels = {ax.get_title(): ax.get_ylabel() for ax in panels(sweep_figure(CONV))}
    assert labels == {
        "params vs hidden_channels": "params (parameters)",
        "learnable vs hidden_channels": "learnable (parameters)",
        "FLOPs vs hidden_channels": "FLOPs",  # the label is the unit
        "param bytes vs hidden_channels": "param bytes (bytes)",
        "receptive field vs hidden_channels": "receptive field\n(cells, backward + forward)",
    }


def test_learnable_equal_to_params_is_not_drawn_twice():
    titles = [ax.get_title() for ax in panels(sweep_figure(UNET))]
    assert titles == ["params = learnable vs num_levels", "receptive field vs num_levels"]
    titles = [ax.get_title() for ax in panels(sweep_figure(CONV))]  # 8 fewer: both drawn
    assert titles[:2] == ["params vs hidden_channels", "learnable vs hidden_channels"]


def test_five_metrics_wrap_at_three_panels_a_row():
    fig = sweep_figure(CONV)
    geometry = [ax.get_subplotspec().get_geometry() for ax in panels(fig)]
    # (rows, columns, first cell, last cell): 2 rows of 3, the sixth cell hidden
    assert geometry == [(2, 3, i, i) for i in range(5)]
    assert len(fig.axes) == 6 and not fig.axes[5].get_visible()
    assert tuple(fig.get_size_inches()) == pytest.approx((3 * 4.2, 2 * 3.6))
