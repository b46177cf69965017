"""The three methods agree on a grid of every family in 1-, 2- and 3-D.

- structural (jaxpr dependency analysis) against analytic (per-layer composition from the
  Spec) on the whole grid: per-axis RF, per-position range, period and the global sources;
- empirical (gradients of the positive linear copy, float64) against analytic on a subset that
  covers every family in 1-D and the strided, dilated and boundary-mode cases in 2-D and 3-D.

The grid varies depth, blocks, kernel size (odd and even), dilations, levels, channel
multipliers and boundary modes; hidden channels stay tiny because the RF does not depend on
them (README "Families"), and every resolution is the smallest the family accepts, so the
analyses grow the input themselves.
"""

from __future__ import annotations

import pytest
import yaml

from archinspect.analysis.receptive_field import receptive_field, search_start
from archinspect.analysis.receptive_field.analytic import analytic_receptive_field
from archinspect.analysis.receptive_field.empirical import empirical_receptive_field
from archinspect.build import build_abstract
from archinspect.families import FAMILIES
from archinspect.spec import load_spec_text

GRID = {
    "ConvNet": [
        dict(depth=0, kernel_size=3),
        dict(depth=2, kernel_size=4),
        dict(depth=1, kernel_size=2, boundary_mode="dirichlet"),
        dict(depth=2, kernel_size=5, boundary_mode="neumann"),
        dict(depth=1, kernel_size=6),
    ],
    "ClassicResNet": [
        dict(num_blocks=0),
        dict(num_blocks=2),
        dict(num_blocks=1, use_norm=True, boundary_mode="dirichlet"),
    ],
    "ModernResNet": [
        dict(num_blocks=1),
        dict(num_blocks=3, boundary_mode="neumann"),
        dict(num_blocks=2, use_norm=False),
    ],
    "DilatedResNet": [
        dict(num_blocks=1, dilation_rates=[1, 2]),
        dict(num_blocks=2, dilation_rates=[1, 3, 1]),
        dict(num_blocks=1, dilation_rates=[2, 4], boundary_mode="dirichlet"),
    ],
    "ClassicUNet": [
        dict(num_levels=1),
        dict(num_levels=2),
        dict(num_levels=3, boundary_mode="neumann"),
        dict(num_levels=2, use_norm=False, boundary_mode="dirichlet"),
    ],
    "ModernUNet": [
        dict(num_levels=1, num_blocks=1),
        dict(num_levels=2, num_blocks=2, channel_multipliers=[1, 2]),
        dict(num_levels=2, num_blocks=1, boundary_mode="neumann"),
    ],
    "ClassicFNO": [dict(num_modes=2, num_blocks=1), dict(num_modes=3, num_blocks=2)],
    "MLP": [dict(num_points=8, depth=1), dict(num_points=6, depth=2)],
}


def spec(family, d, kwargs):
    args = {"num_spatial_dims": d, "in_channels": 1, "out_channels": 1, **kwargs}
    if family == "MLP":
        args.update(width_size=4)
        resolution = kwargs["num_points"]
    elif family == "ClassicFNO":
        args.update(hidden_channels=2)
        resolution = 2 * kwargs["num_modes"]
    else:
        args.update(hidden_channels=2)
        resolution = 2 ** kwargs.get("num_levels", 0)
    return load_spec_text(
        yaml.safe_dump({"model": {"family": family, **args}, "input": {"resolution": resolution}}),
        "grid",
    )


CELLS = [
    (family, i, d)
    for family, variants in GRID.items()
    for i in range(len(variants))
    for d in (1, 2, 3)
]


@pytest.mark.parametrize(
    ("family", "i", "d"),
    # 3-D cells beyond each family's first variant run with `make test-all`
    [pytest.param(*c, marks=pytest.mark.slow) if c[2] == 3 and c[1] > 0 else c for c in CELLS],
    ids=[f"{f}{i}-{d}d" for f, i, d in CELLS],
)
def test_structural_equals_analytic(family, i, d):
    s = spec(family, d, GRID[family][i])
    analytic = analytic_receptive_field(s)
    structural = receptive_field(build_abstract(s), s.input_shape)
    assert structural.per_axis == analytic.per_axis
    assert structural.position_range == analytic.position_range
    assert structural.period == analytic.period
    assert structural.global_via == analytic.global_via


EMPIRICAL = [
    *((family, 0, 1) for family in GRID),
    ("ConvNet", 1, 1),  # even kernel
    ("ClassicUNet", 1, 1),  # two levels: period 4
    ("ClassicUNet", 2, 1),  # three levels, mirrored boundary
    ("ModernUNet", 1, 1),  # channel multipliers, two blocks per level
    ("DilatedResNet", 2, 1),
    ("ConvNet", 3, 2),  # odd kernel, neumann
    ("ClassicUNet", 1, 2),
    ("ModernUNet", 2, 2),
    ("DilatedResNet", 1, 2),
    ("ClassicFNO", 0, 2),
    ("MLP", 0, 2),
    ("ConvNet", 2, 3),  # even kernel, dirichlet
    ("ModernResNet", 0, 3),
    ("ClassicUNet", 0, 3),
]


# The multi-level UNets beyond 1-D take 9 s each: they run in `make test-all`. So does the
# three-level 1-D ClassicUNet (17 s on the shared machine): the multi-level period is measured
# by the two-level one (ClassicUNet1-1d, period 4), the mirrored boundary by ConvNet3-2d, and
# the structural grid compares all three levels with the analytic field.
SLOW_EMPIRICAL = {
    ("ClassicUNet", 2, 1),
    ("ModernUNet", 1, 1),
    ("ClassicUNet", 1, 2),
    ("ModernUNet", 2, 2),
    ("ClassicUNet", 0, 3),
}


@pytest.mark.parametrize(
    ("family", "i", "d"),
    [pytest.param(*c, marks=pytest.mark.slow) if c in SLOW_EMPIRICAL else c for c in EMPIRICAL],
    ids=[f"{f}{i}-{d}d" for f, i, d in EMPIRICAL],
)
def test_empirical_equals_analytic(family, i, d):
    s = spec(family, d, GRID[family][i])
    analytic = analytic_receptive_field(s)
    empirical = empirical_receptive_field(
        build_abstract(s),
        s.input_shape,
        start=search_start(analytic, s.input_shape),
        separable=FAMILIES[family].separable,
    )
    assert empirical.per_axis == analytic.per_axis
    assert empirical.position_range == analytic.position_range
    assert empirical.global_ == analytic.global_


@pytest.mark.slow  # 10 s; the slicing itself is checked by the 1-D agreement grid
def test_one_axis_slices_equal_the_full_2d_measurement():
    # The separability the empirical method relies on for the families, checked directly.
    s = spec("ModernUNet", 2, GRID["ModernUNet"][0])
    model = build_abstract(s)
    sliced = empirical_receptive_field(model, s.input_shape, start=(32, 32), separable=True)
    full = empirical_receptive_field(model, s.input_shape, start=(32, 32), separable=False)
    assert (sliced.per_axis, sliced.position_range) == (full.per_axis, full.position_range)
    # One level, one block: lifting 2 + down 1 + left 2*2 + up (0 or 1) + right 2 = 9 or 10.
    assert sliced.position_range == (((9, 10), (9, 10)),) * 2
