"""A block applied with `jax.lax.scan` over stacked weights (tests/scan_models.py): the
analytic FLOPs count every step, and the figures that see the loop body once (XLA's FLOPs, the
layer rows, the activation total) are said to, in a note, never silently low.

By hand, width W = 8, 5 steps: each step is Linear(8 -> 8), 2*8*8 = 128 FLOPs of the product
plus 8 bias adds = 136; 5 steps: 680. Parameters: 5 * (8*8 + 8) = 360. The oracle is the same
blocks as a Python list, which every figure sees call by call.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from archinspect.cli import app

runner = CliRunner()
REPO = Path(__file__).resolve().parent.parent
STEPS, WIDTH = 5, 8


def inspect_json(tmp_path: Path, model: str) -> dict:
    spec = tmp_path / f"{model}.yaml"
    spec.write_text(
        f"model:\n  target: tests.scan_models:{model}\n"
        "input:\n  shape: [8]\n  layout: channels_first\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["inspect", str(spec), "--trust", "tests", "--no-rf", "-f", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    tmp = tmp_path_factory.mktemp("scan")
    return {m: inspect_json(tmp, m) for m in ("ScannedStack", "LoopedStack")}


def test_parameters_are_exact(reports):
    for report in reports.values():
        assert report["params"]["total"] == STEPS * (WIDTH * WIDTH + WIDTH) == 360


def test_the_analytic_flops_count_every_step(reports):
    # the bias is a slice of a stacked model array, scanned over: still a bias add
    by_hand = STEPS * (2 * WIDTH * WIDTH + WIDTH)
    assert by_hand == 680
    assert reports["ScannedStack"]["flops"]["analytic"] == by_hand
    assert reports["LoopedStack"]["flops"]["analytic"] == by_hand


def test_the_figures_that_see_one_step_say_so(reports):
    scanned, looped = reports["ScannedStack"], reports["LoopedStack"]
    # XLA's cost analysis counts the loop body once: below the five steps the list shows
    assert scanned["flops"]["forward"] < looped["flops"]["forward"] == 680
    assert scanned["notes"] == [
        "the forward pass loops (lax.scan of 5 steps in ScannedStack): XLA's FLOPs, the layer "
        "rows and the activation total see the loop body once, not once per step; the "
        "analytic FLOPs count every step"
    ]
    assert not any("loops" in note for note in looped["notes"])
