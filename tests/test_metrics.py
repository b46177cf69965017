"""The metric registry (archinspect.metrics): declarations, budget keys, reducers on hand-made
values, and the budget wording of archinspect.render.check_text. Nothing here builds a model."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from archinspect import metrics
from archinspect.errors import Location, Problem
from archinspect.render.check_text import budget_message
from archinspect.render.github import check_github
from archinspect.report import (
    BudgetResult,
    CheckError,
    CheckReport,
    FlopsReport,
    MemoryReport,
    ParamSummary,
    RFResult,
    XlaMemory,
)
from tests.conftest import ROOT


def rf(*per_axis: tuple[float, float]) -> RFResult:
    return RFResult(
        per_axis=per_axis,
        position_range=(),
        period=(),
        global_=False,
        global_via=(),
        method="structural",
        analysed_shape=(),
    )


def test_names_and_labels_are_unique():
    names = [m.name for m in metrics.METRICS]
    assert len(names) == len(set(names)) == 9
    labels = [m.label for m in metrics.METRICS]
    assert len(labels) == len(set(labels))
    assert metrics.NAMES == (
        "params",
        "learnable_params",
        "flops",
        "param_bytes",
        "memory",
        "receptive_field",
        "init_std",
        "init_verdict",
        "output_shape",
    )


def test_every_metric_is_measured_by_a_known_analysis():
    assert {m.measured_by for m in metrics.METRICS} == set(metrics.KINDS)
    by_kind = {k: [m.name for m in metrics.METRICS if m.measured_by == k] for k in metrics.KINDS}
    assert by_kind == {
        "count": ["params", "learnable_params", "param_bytes"],
        "shape": ["output_shape"],
        "rf": ["receptive_field"],
        "compiled": ["flops", "memory"],
        "init": ["init_std", "init_verdict"],
    }


def test_every_budget_key_maps_to_one_metric():
    assert metrics.BUDGET_KEYS == (
        "max_params",
        "max_learnable_params",
        "max_flops",
        "max_param_bytes",
        "max_memory",
        "receptive_field",
    )
    for key in metrics.BUDGET_KEYS:
        assert [m.name for m in metrics.METRICS if m.budget == key] != []
        assert len([m for m in metrics.METRICS if m.budget == key]) == 1
    assert metrics.BUDGET_AMOUNTS == metrics.BUDGET_KEYS[:-1]
    assert metrics.AMOUNT_METRICS == {
        "max_params": "params",
        "max_learnable_params": "learnable_params",
        "max_flops": "flops",
        "max_param_bytes": "param_bytes",
        "max_memory": "memory",
    }


def test_every_limit_key_names_a_metric_and_a_bound():
    assert metrics.LIMITS == {
        "max_params": ("params", "max"),
        "max_learnable_params": ("learnable_params", "max"),
        "max_flops": ("flops", "max"),
        "max_param_bytes": ("param_bytes", "max"),
        "max_memory": ("memory", "max"),
        "receptive_field.min": ("receptive_field", "min"),
        "min_rf": ("receptive_field", "min"),
        "receptive_field.max": ("receptive_field", "max"),
        "max_rf": ("receptive_field", "max"),
    }
    with pytest.raises(KeyError, match=r"unknown limit 'max_rff' \(one of: max_params, "):
        metrics.limit("max_rff")


def test_the_validator_and_the_schema_accept_exactly_the_registry_budget_keys():
    from archinspect.errors import SpecError
    from archinspect.spec import load_spec_text
    from archinspect.spec.schema import build_schema

    head = (
        "model: {family: ConvNet, num_spatial_dims: 1, in_channels: 1, out_channels: 1}\n"
        "input: {resolution: 8}\n"
    )
    for key in metrics.BUDGET_AMOUNTS:
        assert load_spec_text(head + f"budget: {{{key}: 10}}\n", "x.yaml").budget == {key: 10}
    spec = load_spec_text(head + "budget: {receptive_field: {min: 1, max: 9}}\n", "x.yaml")
    assert spec.budget == {"receptive_field": {"min": 1, "max": 9}}
    with pytest.raises(SpecError, match=r"budget\.max_parms: unknown key") as exc:
        load_spec_text(head + "budget: {max_parms: 10}\n", "x.yaml")
    assert exc.value.message.endswith(f"(allowed: {', '.join(metrics.BUDGET_KEYS)})")
    schema_budget = build_schema()["properties"]["budget"]["properties"]
    assert tuple(schema_budget) == metrics.BUDGET_KEYS


def test_sweep_columns():
    assert metrics.SWEEP_ALWAYS == ("params", "learnable_params", "receptive_field", "output_shape")
    assert metrics.SWEEP_ON_REQUEST == ("flops", "memory", "init_std", "init_verdict")


def test_labels():
    assert [metrics.label(n) for n in metrics.NAMES] == [
        "params",
        "learnable",
        "FLOPs",
        "param bytes",
        "train memory",
        "receptive field",
        "init output std",
        "init verdict",
        "output shape",
    ]
    assert metrics.label("not_a_metric") == "not_a_metric"
    assert metrics.axis_label("receptive_field") == "cells, backward + forward"
    assert metrics.axis_label("flops") == "FLOPs"
    with pytest.raises(KeyError, match="unknown metric 'parameters'"):
        metrics.get("parameters")


class TestExtract:
    def test_counts_from_a_param_summary(self):
        summary = ParamSummary(
            total=30,
            learnable=20,
            materialized=30,
            bytes=120,
            by_dtype={"float32": 30},
            elements_by_dtype={"float32": 30},
            bytes_by_dtype={"float32": 120},
            complex_elements=0,
        )
        got = {m.name: m.extract(summary) for m in metrics.METRICS if m.measured_by == "count"}
        assert got == {"params": 30, "learnable_params": 20, "param_bytes": 120}

    def test_memory_is_the_peak_bytes_of_the_training_step(self):
        class Report:
            flops = FlopsReport(forward=1000, per_sample=500, batch_size=2)
            memory = MemoryReport(
                param_bytes=4,
                param_bytes_by_dtype={},
                activation_bytes=8,
                forward=XlaMemory(1, 2, 3, 0, 0),
                # 10 + 20 + 30 - 5 (aliased) = 55
                train_step=XlaMemory(10, 20, 30, 5, 99),
            )
            output_shape = (1, 4)

        assert metrics.get("memory").extract(Report) == 55
        assert metrics.get("flops").extract(Report) == 1000  # the whole batch
        assert metrics.get("output_shape").extract(Report) == (1, 4)

    def test_no_training_step_is_no_memory(self):
        class Report:
            memory = MemoryReport(param_bytes=4, param_bytes_by_dtype={}, activation_bytes=8)

        assert metrics.get("memory").extract(Report) is None


class TestReducers:
    def test_receptive_field_bounds(self):
        field = rf((3, 5), (2, 7))
        assert metrics.bounded("receptive_field", field, "min") == 2  # the smallest side
        assert metrics.bounded("receptive_field", field, "max") == 7  # the largest side
        assert metrics.trend("receptive_field", field) == 9  # largest backward + forward

    def test_receptive_field_limits_hold_on_every_side(self):
        field = rf((3, 5), (2, 7))
        assert metrics.within("min_rf", field, 2)
        assert not metrics.within("min_rf", field, 3)
        assert metrics.within("receptive_field.max", field, 7)
        assert not metrics.within("max_rf", field, 6)

    def test_spectral_coupling_is_infinite(self):
        field = rf((math.inf, math.inf), (1, 1))
        assert metrics.bounded("receptive_field", field, "min") == 1
        assert metrics.bounded("receptive_field", field, "max") == math.inf
        assert metrics.trend("receptive_field", field) == math.inf

    def test_amounts_are_their_own_number_and_limits_are_inclusive(self):
        for name in ("params", "learnable_params", "param_bytes", "flops", "memory"):
            assert metrics.bounded(name, 1234, "max") == 1234
            assert metrics.trend(name, 1234) == 1234
        assert metrics.within("max_params", 10, 10)
        assert not metrics.within("max_params", 11, 10)

    def test_a_missing_value_has_no_trend(self):
        assert metrics.trend("memory", None) is None
        assert metrics.trend("receptive_field", None) is None

    def test_a_shape_is_not_a_number(self):
        assert not metrics.fitted("output_shape")
        assert [n for n in metrics.NAMES if metrics.fitted(n)] == [
            "params",
            "learnable_params",
            "flops",
            "param_bytes",
            "memory",
            "receptive_field",
        ]
        with pytest.raises(ValueError, match="'output_shape' is not a number to fit"):
            metrics.trend("output_shape", (1, 4))
        with pytest.raises(ValueError, match="'output_shape' has no limits"):
            metrics.bounded("output_shape", (1, 4), "max")


def result(budget: str, limit, actual, ok: bool, cli: bool = False) -> BudgetResult:
    return BudgetResult("a.yaml", "a", budget, limit, actual, ok, None, None, cli)


class TestBudgetMessage:
    def test_amount_within(self):
        assert (
            budget_message(result("max_params", 1000, 1000, True))
            == "parameters 1,000 within max_params 1,000"
        )

    def test_amount_exceeded_by(self):
        assert budget_message(result("max_memory", 10_000, 12_345, False)) == (
            "training-step memory (XLA, peak bytes) 12,345 exceed max_memory 10,000 by 2,345"
        )

    def test_limit_from_the_command_line(self):
        assert budget_message(result("max_flops", 5, 4, True, cli=True)) == (
            "forward FLOPs (XLA's estimate, whole batch) 4 within max_flops 5 "
            "(limit set on the command line)"
        )

    def test_receptive_field(self):
        limit = [(3, 3), (3, 3)]
        assert budget_message(result("receptive_field.min", limit, [(4, 4), (2, 5)], False)) == (
            "receptive field (4,4) (2,5) violates at least (3,3) (3,3) per axis (backward, forward)"
        )
        actual = [(math.inf, math.inf)]
        assert budget_message(result("receptive_field.max", [(9, 9)], actual, False)) == (
            "receptive field (inf,inf) violates at most (9,9) per axis (backward, forward)"
        )
        assert budget_message(result("receptive_field.max", [(9, 9)], [(1, 2)], True)) == (
            "receptive field (1,2) meets at most (9,9) per axis (backward, forward)"
        )


def test_located_results_and_errors_in_github_annotations():
    """Locations come from the structured fields; the message text is not parsed."""
    located = BudgetResult(
        "a.yaml", "a", "max_params", 10, 12, False, -20.0, Location("a.yaml", 7, 15), False
    )
    assert (located.line, located.column) == (7, 15)
    error = CheckError(
        "b.yaml",
        "error: b.yaml is broken",  # no 'line N, col M' in the text at all
        (
            Problem("model.depth", "must be positive", Location("b.yaml", 3, 10)),
            Problem("", "no family", Location("b.yaml", 1, 1)),
        ),
    )
    plain = CheckError("c.yaml", "error: spec file not found: c.yaml\n  line 1, col 2, x: y")
    report = CheckReport((located,), (error, plain), ())
    assert check_github(report).splitlines() == [
        "::error file=a.yaml,line=7,col=15,title=archinspect budget max_params::"
        "parameters 12 exceed max_params 10 by 2",
        "::error file=b.yaml,line=3,col=10,title=archinspect spec::model.depth: must be positive",
        "::error file=b.yaml,line=1,col=1,title=archinspect spec::no family",
        "::error file=c.yaml,title=archinspect spec::"
        "error: spec file not found: c.yaml%0A  line 1, col 2, x: y",
        "1 budget in 1 spec: 0 ok, 1 exceeded (in 1 spec); 2 spec(s) could not be checked",
    ]


def test_the_registry_and_the_wording_do_not_import_jax():
    probe = (
        "import sys, archinspect.metrics, archinspect.render.check_text, "
        "archinspect.commands.inputs\n"
        "print(sorted(m for m in ('jax', 'jaxlib', 'equinox', 'numpy') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
