"""Numbers are never cut, however narrow the terminal: text columns fold instead.

Every report with large figures is rendered into fixed-width 80- and 60-column consoles, as
Rich's own tests render (DESIGN habit 5), and every number must appear whole: each of its
digit groups, in order, not split across lines or ended by an ellipsis. The figures come from
the 3-D ClassicUNet at hidden_channels=1024 (28,906,436,609 parameters), counted by hand with
the closed form of tests/test_sweep.py.
"""

from __future__ import annotations

import re
from collections import Counter

import pytest
import yaml

from archinspect.commands.check import check_specs
from archinspect.commands.count import count_report
from archinspect.commands.inspect import inspect_report
from archinspect.commands.sweep import run_sweep
from archinspect.render.check import to_table as check_table
from archinspect.render.count import to_table as count_table
from archinspect.render.inspect import to_table as inspect_table
from archinspect.render.solve import to_table as solve_table
from archinspect.render.sweep import to_table as sweep_table
from archinspect.report import SolveResult
from archinspect.spec import load_spec_text
from tests.test_sweep import classic_unet_params

WIDTHS = (80, 60)
SPEC = {
    "name": "unet-3d-wide",
    "model": {
        "family": "ClassicUNet",
        "num_spatial_dims": 3,
        "in_channels": 1,
        "out_channels": 1,
        "hidden_channels": 1024,
        "num_levels": 4,
    },
    "input": {"resolution": [32, 32, 32]},
    "budget": {"max_params": "30G"},
}
TOTAL = classic_unet_params(1024, 4, 3)


def loader(extra: list[str]):
    return load_spec_text(yaml.safe_dump(SPEC), "wide.yaml", extra)


def whole(number: int, text: str) -> bool:
    """`number` with its thousands separators, not inside a longer figure."""
    return re.search(rf"(?<![\d,]){re.escape(f'{number:,}')}(?![\d,])", text) is not None


def figures(text: str) -> list[str]:
    """Every figure with thousands separators; a shape's list of sizes ('f32[1024,1024,3]'
    in the arrays column, folded like any text there) is not one."""
    return re.findall(r"(?<![\d,\[])\d{1,3}(?:,\d{3})+(?![\d,\]])", text)


def test_the_total_by_hand():
    # lifting 28,345,344 + the four levels + the 1x1 projection 1,025 (tests/test_sweep.py)
    assert TOTAL == 28_906_436_609


@pytest.fixture(scope="module")
def reports():
    """(name, render(width) -> text, the figures it must show whole)."""
    spec = loader([])
    count = count_report(spec, depth=2)
    shapes = inspect_report(spec, depth=2, costs=False)
    check = check_specs([("wide.yaml", spec)], {})
    sweep = run_sweep(
        loader, spec, ["hidden_channels"], [[512, 1024]], ("params", "learnable_params")
    )
    below, above = TOTAL, classic_unet_params(1025, 4, 3)
    solve = SolveResult(
        "unet-3d-wide", "wide.yaml", "hidden_channels", "largest", {"max_params": 28_910_000_000},
        1024, {"params": below}, 1025, {"params": above}, ("max_params",), 12,
    )  # fmt: skip
    half = classic_unet_params(512, 4, 3)
    bytes_ = 4 * TOTAL  # float32
    return [
        ("count", lambda w: count_table(count, width=w), [TOTAL, bytes_, 28_345_344, 1_025]),
        ("shapes", lambda w: inspect_table(shapes, full=False, width=w), [TOTAL, 28_345_344]),
        ("check", lambda w: check_table(check, width=w), [TOTAL, 30_000_000_000]),
        ("sweep", lambda w: sweep_table(sweep, width=w), [half, TOTAL]),
        ("solve", lambda w: solve_table(solve, width=w), [TOTAL, above, 28_910_000_000]),
    ]


@pytest.mark.parametrize("width", WIDTHS)
def test_every_number_is_whole(reports, width):
    for name, render, expected in reports:
        text = render(width)
        wide = render(1000)
        assert "…" not in text, (name, text)
        for number in expected:
            assert whole(number, wide), (name, number)
            assert whole(number, text), (name, number, text)
        # and every figure the wide table shows, at least as often (a folded shape in the
        # arrays column may leave a fragment that looks like a figure, never fewer)
        narrow = Counter(figures(text))
        missing = {f: n for f, n in Counter(figures(wide)).items() if narrow[f] < n}
        assert not missing, (name, missing, text)


def test_the_lines_fit_when_the_numbers_leave_room(reports):
    """At 80 columns the count table folds its names instead of growing past the terminal."""
    name, render, _ = reports[0]
    assert name == "count"
    assert max(len(line) for line in render(80).splitlines()) <= 80
