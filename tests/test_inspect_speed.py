"""What `inspect` may leave out or reuse without changing a number (README "What inspect
compiles"): per-layer FLOPs cached across layers and across calls equal those lowered afresh;
--no-flops / --no-memory skip work and say so, and the numbers they keep are the full report's.
"""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from archinspect.analysis import flops as flops_mod
from archinspect.cli import app
from archinspect.commands import inspect as inspect_mod
from archinspect.commands.inspect import _forward, inspect_report
from archinspect.commands.measure import measure
from archinspect.render.inspect import report_dict
from archinspect.spec import load_spec
from tests.conftest import slow_after

pytestmark = pytest.mark.usefixtures("repo_root")

# ConvNet, 1-D, 10 cells, hidden 4, circular 3-tap convs: lift 1 -> 4, two hidden 4 -> 4, and
# the projection 4 -> 1. A conv's FLOPs: 2 * MACs + one bias add per output element.
CONVNET = ["model.depth=3", "model.hidden_channels=4", "input.resolution=10"]
LIFT = 2 * 1 * 4 * 3 * 10 + 4 * 10  # 280
HIDDEN = 2 * 4 * 4 * 3 * 10 + 4 * 10  # 1,000
PROJECT = 2 * 4 * 1 * 3 * 10 + 1 * 10  # 250
CONFIGS = {
    "convnet": ("configs/convnet.yaml", CONVNET),
    "tcn": ("configs/tcn.yaml", ["model.num_channels=[4, 4]", "input.resolution=16"]),
    "unet": (
        "configs/unet.yaml",
        ["model.hidden_channels=4", "input.resolution=16", "model.num_levels=2"],
    ),
}


def spec_of(name: str):
    path, sets = CONFIGS[name]
    return load_spec(path, sets)


@pytest.fixture
def lowerings(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every per-layer program lowered, by the type of its module."""
    seen: list[str] = []
    real = flops_mod.module_program

    def counted(module, arguments):
        seen.append(type(module).__name__)
        return real(module, arguments)

    monkeypatch.setattr(flops_mod, "module_program", counted)
    return seen


@pytest.mark.parametrize("name", list(CONFIGS))
def test_cached_layer_figures_equal_uncached(name: str, lowerings: list[str]) -> None:
    from archinspect.build import build_abstract

    spec = spec_of(name)
    model = build_abstract(spec, ())
    _, _, calls = _forward(spec, model)
    layer_calls = [c for c in calls if c.path]

    uncached = flops_mod.per_layer_flops(model, calls, cache=False)
    assert len(lowerings) == len(layer_calls)  # every call lowered afresh
    flops_mod.clear_shared_cache()
    lowerings.clear()
    cold = flops_mod.per_layer_flops(model, calls)
    distinct = len(lowerings)
    lowerings.clear()
    warm = flops_mod.per_layer_flops(model, calls)  # a second spec with the same layers
    assert cold == uncached
    assert warm == uncached
    assert lowerings == []  # all from the shared cache
    assert 0 < distinct <= len(layer_calls)
    if name == "convnet":
        figures, unmeasured = uncached
        assert unmeasured == {}
        assert figures == {
            "layers[0]": LIFT,
            "layers[1]": HIDDEN,
            "layers[2]": HIDDEN,
            "layers[3]": PROJECT,
        }
        assert distinct == 3  # the two hidden convs share one lowering


def test_an_unhashable_static_value_is_not_shared_across_calls() -> None:
    # An id() names a value only while it lives: such a signature stays in the call's cache.
    key = flops_mod._signature(object(), ((), {"table": {1, 2}}))  # a set: unhashable
    assert not flops_mod._shareable(key)
    assert flops_mod._shareable(flops_mod._signature(object(), ((), {"n": 3})))


def _full(name: str) -> dict:
    return report_dict(inspect_report(spec_of(name), depth=None, platform="cpu"), full=True)


@pytest.mark.parametrize("name", slow_after(["convnet", "unet"], keep=1))
def test_skipping_one_analysis_keeps_the_other_numbers(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    full = _full(name)

    def refused(*args, **kwargs):
        raise AssertionError("the training step is not built without memory")

    monkeypatch.setattr(inspect_mod, "train_step_program", refused)
    no_memory = report_dict(
        inspect_report(spec_of(name), depth=None, platform="cpu", memory=False), full=True
    )
    assert no_memory["flops"] == full["flops"]
    assert [r.get("flops") for r in no_memory["layers"]] == [r.get("flops") for r in full["layers"]]
    assert no_memory["memory"] == {
        **full["memory"],
        "forward": None,
        "train_step": None,
        "measured": False,
        "reason": "not asked for",
    }
    monkeypatch.undo()
    no_flops = report_dict(
        inspect_report(spec_of(name), depth=None, platform="cpu", flops=False), full=True
    )
    assert no_flops["memory"] == full["memory"]
    assert no_flops["flops"] == {"measured": False, "reason": "not asked for"}
    assert all("flops" not in r and "analytic_flops" not in r for r in no_flops["layers"])
    if name == "convnet":  # the figures themselves, by hand: 3 convs + 3 ReLUs of 4 x 10
        assert full["flops"]["forward"] == LIFT + 2 * HIDDEN + PROJECT + 3 * 40 == 2_650


def test_neither_compiles_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(*args, **kwargs):
        raise AssertionError("nothing is lowered when neither FLOPs nor memory is asked for")

    monkeypatch.setattr(inspect_mod, "train_step_program", refused)
    monkeypatch.setattr(inspect_mod, "forward_program", refused)
    report = inspect_report(spec_of("convnet"), platform="cpu", flops=False, memory=False)
    assert report.flops is None
    assert report.memory is not None and report.memory.train_step is None
    # activations: 4 leaf convs' outputs, 4 + 4 + 4 + 1 channels x 10 cells x 4 bytes
    assert report.memory.activation_bytes == (4 + 4 + 4 + 1) * 10 * 4 == 520


def test_a_flops_budget_alone_does_not_compile_the_training_step(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refused(*args, **kwargs):
        raise AssertionError("a FLOPs budget does not need the training step")

    monkeypatch.setattr(inspect_mod, "train_step_program", refused)
    got = measure(spec_of("convnet"), ["flops"], platform="cpu")
    assert got == {"flops": LIFT + 2 * HIDDEN + PROJECT + 3 * 40}


def test_cli_flags_show_not_measured() -> None:
    path, sets = CONFIGS["convnet"]
    args = ["inspect", path, *(a for s in sets for a in ("--set", s)), "--no-rf"]
    result = CliRunner().invoke(app, [*args, "--no-flops", "--no-memory", "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["flops"] == {"measured": False, "reason": "skipped by --no-flops"}
    assert data["memory"]["measured"] is False
    assert data["memory"]["reason"] == "skipped by --no-memory"
    assert data["memory"]["train_step"] is None
    table = CliRunner().invoke(app, [*args, "--no-memory"])
    assert table.exit_code == 0, table.output
    assert re.search(r"XLA memory +not measured +skipped by --no-memory\n", table.stdout)
    assert re.search(r"FLOPs, forward +2,650 ", table.stdout)


def test_rows_folded_by_depth_are_not_lowered(lowerings: list[str]) -> None:
    flops_mod.clear_shared_cache()
    report = inspect_report(spec_of("convnet"), depth=0, platform="cpu", memory=False)
    assert lowerings == []  # the (total) row comes from the traced sample, not a layer program
    (root,) = report.layers
    assert root.folded == 4
    # unoptimised, one sample: the 4 convs and 3 ReLUs of 4 x 10
    assert root.flops == LIFT + 2 * HIDDEN + PROJECT + 3 * 40


def test_check_refuses_a_budget_it_was_told_not_to_measure() -> None:
    # unet.yaml has max_params, max_flops, max_memory and RF budgets; convnet.yaml max_params.
    result = CliRunner().invoke(
        app, ["check", "configs/unet.yaml", "configs/convnet.yaml", "--no-memory", "--no-flops"]
    )
    assert result.exit_code == 2, result.output
    assert result.stderr == (
        "error: configs/unet.yaml: its budget max_flops needs the forward FLOPs (XLA's "
        "estimate, whole batch), which --no-flops skips; its budget max_memory needs the "
        "training-step memory (XLA, peak bytes), which --no-memory skips (drop the option or "
        "the budget)\n"
    )
    assert "configs/convnet.yaml │ max_params │ 10,000 │  7,169" in result.stdout


@pytest.mark.parametrize("fmt", ["table", "markdown", "json"])  # CSV: the rows only
def test_every_format_says_what_was_not_measured(fmt: str) -> None:
    path, sets = CONFIGS["convnet"]
    args = ["inspect", path, *(a for s in sets for a in ("--set", s)), "--no-rf"]
    result = CliRunner().invoke(app, [*args, "--no-flops", "--no-memory", "--format", fmt])
    assert result.exit_code == 0, result.output
    assert "skipped by --no-flops" in result.stdout
    assert "skipped by --no-memory" in result.stdout


def test_diff_of_flops_alone_compiles_no_training_step(monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(*args, **kwargs):
        raise AssertionError("diff --flops does not need the training step")

    monkeypatch.setattr(inspect_mod, "train_step_program", refused)
    path, sets = CONFIGS["convnet"]
    small = [a for s in sets for a in ("--set", s)]
    result = CliRunner().invoke(app, ["diff", path, path, *small, "--flops", "-f", "json"])
    assert result.exit_code == 0, result.output
    figures = {f["name"]: f for f in json.loads(result.stdout)["figures"]}
    assert figures["flops.forward"]["a"] == LIFT + 2 * HIDDEN + PROJECT + 3 * 40
    assert "memory.train_step_peak" not in figures
