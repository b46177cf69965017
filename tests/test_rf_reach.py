"""Where the structural analysis starts (README, "Exact receptive fields"): a chain of windows
that spans the whole requested input sends it straight to the size its growth would reach, so
the requested input is traced but not interpreted; the result is the same."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest
from jax import lax

from archinspect.analysis.receptive_field import receptive_field, structural
from archinspect.analysis.receptive_field.reach import reach
from tests.rf_oracle import Probe, oracle


def _conv(x, k=3, stride=1):
    """A same-padded k-tap convolution of a (C, n) array, one channel."""
    w = jnp.ones((1, 1, k), x.dtype)
    return lax.conv_general_dilated(x[None], w, (stride,), "SAME")[0]


def _deep(x, layers=10):
    for _ in range(layers):
        x = _conv(x)
    return x


def _reach(fn, shape):
    closed = jax.make_jaxpr(fn)(jax.ShapeDtypeStruct(shape, jnp.float32))
    return reach(closed.jaxpr, shape)


CASES = {
    # Three 3-tap convolutions in a row: 2 cells each, 6 on the chain and in all.
    "chain": (lambda x: _conv(_conv(_conv(x))), [6.0], [6.0]),
    # Two branches, a 3-tap conv, and a 3-tap then a 5-tap one: the widest chain 2 + 4 = 6,
    # every window 2 + 2 + 4 = 8.
    "branches": (lambda x: _conv(x) + _conv(_conv(x), k=5), [6.0], [8.0]),
    # A stride-2 3-tap conv (2 fine cells) then a 3-tap conv on the coarse grid, whose cells
    # are 2 input cells apart (2 * 2 = 4): 6.
    "strided": (lambda x: _conv(_conv(x, stride=2)), [6.0], [6.0]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_reach_by_hand_and_as_the_interpreter_adds_it_up(name):
    fn, widest, total = CASES[name]
    shape = (1, 64)
    assert _reach(fn, shape) == (widest, total)
    # The oracle for the total: the interpreter's own sum of window widths (Context.widen),
    # from its tags, not from the shapes this reads.
    assert structural.analyse(Probe(fn, jnp.ones(())), shape).reach == total


def test_a_loop_gives_no_hint():
    def fn(x):
        return lax.fori_loop(0, 3, lambda i, y: _conv(y), x)

    assert _reach(fn, (1, 64)) is None


def _interpreted(monkeypatch, fn, shape):
    sizes: list[tuple[int, ...]] = []
    real = structural.interpret

    def spy(closed, calls, input_shape):
        sizes.append(input_shape)
        return real(closed, calls, input_shape)

    monkeypatch.setattr(structural, "interpret", spy)
    return receptive_field(Probe(fn, jnp.ones(())), shape), sizes


def test_an_input_the_chain_spans_is_not_interpreted(monkeypatch):
    # Ten 3-tap convolutions: 10 cells each way, a chain 20 cells wide. On 8 cells no output
    # cell can be free of the padding, so the analysis goes to 8 doubled until it holds the
    # windows' 20 cells (and at least 16): 32, where interior cells cover the period 1.
    got, sizes = _interpreted(monkeypatch, _deep, (1, 8))
    assert sizes == [(1, 32)]
    assert got.analysed_shape == (1, 32)
    assert got.per_axis == oracle(_deep, (1, 64))[0] == ((10, 10),)


def test_an_input_with_room_is_interpreted_as_requested(monkeypatch):
    # The same chain, 20 cells wide, on 64 cells: interior cells escape; analysed as asked.
    got, sizes = _interpreted(monkeypatch, _deep, (1, 64))
    assert sizes == [(1, 64)]
    assert got.per_axis == ((10, 10),)


def _inputs_of(monkeypatch, name: str) -> list[tuple[int, ...]]:
    """The input shapes the structural analysis's function `name` is called with, in order."""
    sizes: list[tuple[int, ...]] = []
    real = getattr(structural, name)

    def spy(model, input_shape):
        sizes.append(tuple(input_shape))
        return real(model, input_shape)

    monkeypatch.setattr(structural, name, spy)
    return sizes


def _traced(monkeypatch) -> list[tuple[int, ...]]:
    return _inputs_of(monkeypatch, "trace")


def test_a_hint_only_says_where_to_start(monkeypatch):
    # Whatever the hint, the field is the chain's (10, 10): a hint of 100 cells starts at 8
    # doubled to 128; one of 1 cell leaves the jaxpr's own chain (20 cells) to decide (32).
    traced = _traced(monkeypatch)
    wide = receptive_field(Probe(_deep, jnp.ones(())), (1, 8), hint=(100.0,))
    assert (wide.per_axis, wide.analysed_shape, traced) == (((10, 10),), (1, 128), [(1, 128)])
    traced.clear()
    narrow = receptive_field(Probe(_deep, jnp.ones(())), (1, 8), hint=(1.0,))
    assert (narrow.per_axis, narrow.analysed_shape) == (((10, 10),), (1, 32))
    assert traced == [(1, 8), (1, 32)]


def test_a_family_traces_once_where_its_composition_says(monkeypatch):
    # configs/unet.yaml: 4 levels, 122 cells each way by the analytic composition, a field 244
    # cells wide that 128 cells cannot hold: traced once, at 256 (128 doubled), the size the
    # growth reaches without the hint.
    from archinspect.commands.rf import field_hint, rf_report
    from archinspect.spec import load_spec

    spec = load_spec("configs/unet.yaml", [], False, ())
    assert field_hint(spec) == (122.0 + 122.0,) * 2
    traced = _traced(monkeypatch)
    report = rf_report(spec)
    assert traced == [(1, 256, 256)]
    assert report.result.analysed_shape == (1, 256, 256)
    assert report.result.per_axis == ((122, 122), (122, 122))


def test_no_hint_for_a_model_handed_to_the_python_api():
    # A live model's spec names its class but holds none of its arguments: no composition.
    from archinspect.build.live import live_spec
    from archinspect.commands.rf import field_hint

    assert field_hint(live_spec("archinspect.shapes(...)", "m", "ClassicResNet", (1, 8, 8))) is None


@pytest.mark.parametrize(
    ("levels", "cells", "divisor", "near"),
    [
        (2, 10, 4, "8 or 12"),  # the family's hint would start the analysis at a size it takes
        (4, 1000, 16, "992 or 1008"),  # above 256 cells the analysis would start at 256
    ],
)
def test_an_input_the_model_refuses_is_refused_wherever_the_analysis_starts(
    tmp_path, monkeypatch, levels, cells, divisor, near
):
    """Neither the hint nor the smaller start may answer for an input the model fails on
    (they gave a field analysed on 80 and on 256 cells): `rf` and `count --rf` refuse it at
    validation, located at input.resolution, as `validate` does."""
    from typer.testing import CliRunner

    from archinspect.cli import app

    monkeypatch.chdir(tmp_path)
    (tmp_path / "u.yaml").write_text(
        "model: {family: ClassicUNet, num_spatial_dims: 1, in_channels: 1, out_channels: 1, "
        f"hidden_channels: 1, num_levels: {levels}}}\ninput: {{resolution: [{cells}]}}\n"
    )
    # line 2, column 21: the value of `resolution:` in the second line
    expected = (
        "error: u.yaml is not a valid archinspect spec (1 problem)\n"
        f"u.yaml:2:21: input.resolution: a ClassicUNet with num_levels={levels} needs every "
        f"spatial size divisible by 2**{levels} = {divisor} (e.g. {near}), got [{cells}]\n"
    )
    assert cells % divisor != 0
    lower, upper = (int(n) for n in near.split(" or "))
    assert lower < cells < upper and upper - lower == divisor and lower % divisor == 0
    for args in (["rf", "u.yaml"], ["count", "u.yaml", "--rf"], ["validate", "u.yaml"]):
        result = CliRunner().invoke(app, args)
        assert (args, result.exit_code, result.stderr) == (args, 2, expected)


def _checks(monkeypatch) -> list[tuple[int, ...]]:
    """Record the structural analysis's abstract check of the requested input."""
    return _inputs_of(monkeypatch, "check_input")


def test_a_validated_family_model_is_not_traced_again_to_check_its_input(monkeypatch):
    # configs/unet.yaml passed validation, whose ClassicUNet rule is complete: the analysis
    # starts at 256 cells (its hint) without tracing the requested 128 x 128 once more.
    from archinspect.commands.rf import input_validated, rf_report
    from archinspect.spec import load_spec

    spec = load_spec("configs/unet.yaml", [], False, ())
    checks = _checks(monkeypatch)
    report = rf_report(spec)
    assert checks == []
    assert report.result.per_axis == ((122, 122), (122, 122))
    # count --rf and inspect --rf take the same path (receptive_fields_or_note)
    from archinspect.build import build_abstract
    from archinspect.commands.rf import receptive_fields_or_note

    model = build_abstract(spec)
    assert input_validated(spec, model)
    result, _, notes = receptive_fields_or_note(spec, model)
    assert (checks, notes, result.per_axis) == ([], (), ((122, 122), (122, 122)))


def test_target_and_live_models_keep_the_check(monkeypatch):
    """The same class by `target:` (no declared rule applies to a target) and handed to the
    Python API (its spec holds no arguments) is traced at the requested input first."""
    from archinspect.api import receptive_field as api_rf
    from archinspect.build import build_abstract
    from archinspect.commands.rf import input_validated, rf_report
    from archinspect.spec import load_spec_text

    text = (
        "model: {target: archinspect.models.u_net:ClassicUNet, num_spatial_dims: 1, "
        "in_channels: 1, out_channels: 1, hidden_channels: 1, num_levels: 2}\n"
        "input: {resolution: [400]}\n"
    )
    spec = load_spec_text(text, "t.yaml")
    checks = _checks(monkeypatch)
    report = rf_report(spec, trusted=["archinspect"])
    assert checks == [(1, 400)]  # 400 cells start at 256: the requested size is checked
    assert not input_validated(spec, build_abstract(spec, ["archinspect"]))
    family = load_spec_text(text.replace("target: archinspect.models.u_net:", "family: "), "f")
    assert rf_report(family).result.per_axis == report.result.per_axis
    assert checks == [(1, 400)]  # the family's model: not checked again

    model = build_abstract(family)
    checks.clear()
    api_rf(model, (1, 400))
    assert checks == [(1, 400)]
