"""Assertions for users' own test suites (README "Python API"): a model's parameter count and
receptive field held to limits, failing with the words `archinspect check` uses for a budget.

    from archinspect.testing import assert_params, assert_receptive_field

    def test_the_unet_stays_small_and_sees_far():
        model = eqx.filter_eval_shape(make_unet)
        assert_params(model, max="2.5M")
        assert_receptive_field(model, (1, 128, 128), min=100)

Nothing here imports JAX until an assertion is called.
"""

from __future__ import annotations

from typing import Any

from archinspect.errors import ArgumentError

_Report = Any  # CountReport, RFReport: imported lazily


def assert_params(model: Any, max: Any = None, min: Any = None) -> _Report:  # noqa: A002
    """Assert that a model's total parameter count (complex weights counted twice, as
    `archinspect count` counts them) lies within limits.

    **Arguments:**

    - `model`: an Equinox module (or a Flax NNX module), concrete or abstract.
    - `max`: the most parameters allowed (inclusive): an int, or a number as a spec's budget
        writes it (`1_000_000`, `1e6`, `"1.5M"`, `"25k"`).
    - `min`: the fewest parameters allowed (inclusive), written the same way.

    **Returns:**

    The `CountReport` (from `archinspect.count`), when the count is within the limits.

    **Raises:**

    `AssertionError` with the budget message of `archinspect check`, e.g. "parameters 2,357,441
    exceed max_params 1,000,000 by 1,357,441".
    """
    from archinspect import api, metrics
    from archinspect.build.live import live_spec
    from archinspect.commands.check import evaluate
    from archinspect.render.check_text import amount_text, budget_message

    caller = "archinspect.testing.assert_params"
    limits = {"max": _amount(caller, "max", max), "min": _amount(caller, "min", min)}
    if limits["max"] is None and limits["min"] is None:
        raise ArgumentError(f"{caller}: give at least one of `max`, `min`")
    report = api.count(model)
    total = report.params.total
    if limits["max"] is not None:
        spec = live_spec(caller, report.name, report.family)
        (result,) = evaluate(spec, {"max_params": limits["max"]}, {"params": total}, set())
        if not result.ok:
            raise AssertionError(budget_message(result))
    low = limits["min"]
    if low is not None and total < low:
        description = metrics.get("params").description
        raise AssertionError(amount_text(description, "min_params", total, low, False, "min"))
    return report


def _amount(caller: str, name: str, value: Any) -> int | None:
    from archinspect.spec.numbers import AMOUNT_HELP, parse_amount

    if value is None:
        return None
    amount = parse_amount(value)
    if amount is None:
        raise ArgumentError(f"{caller}: `{name}` (={value!r}) must be {AMOUNT_HELP}")
    return amount


def assert_receptive_field(
    model: Any,
    x: Any,
    min: Any = None,  # noqa: A002
    max: Any = None,  # noqa: A002
    *,
    method: str = "structural",
    layout: str | None = None,
) -> _Report:
    """Assert that a model's (or a function's) receptive field lies within limits on every
    spatial axis and in both directions, as a spec's `budget: receptive_field:` does.

    **Arguments:**

    - `model`: an Equinox module (or a Flax NNX module), concrete or abstract, or a pure JAX
        function `f(x)` (see `archinspect.receptive_field`).
    - `x`: one input: an array, a `jax.ShapeDtypeStruct` or a shape tuple, unbatched.
    - `min`: the smallest extent allowed (inclusive): one int for every axis and direction, or
        one entry per spatial axis, each an int or a `(backward, forward)` pair.
    - `max`: the largest extent allowed (inclusive), written the same way.
    - `method`, `layout`: as for `archinspect.receptive_field`.

    **Returns:**

    The `RFReport`, when the receptive field is within the limits.

    **Raises:**

    `AssertionError` with the budget message of `archinspect check`, e.g. "receptive field
    (2,2) violates at least (3,3) per axis (backward, forward)".
    """
    from archinspect import api
    from archinspect.build.live import live_spec
    from archinspect.commands.check import evaluate
    from archinspect.render.check_text import budget_message

    caller = "archinspect.testing.assert_receptive_field"
    if min is None and max is None:
        raise ArgumentError(f"{caller}: give at least one of `min`, `max`")
    report = api.receptive_field(model, x, method, layout=layout)
    dims = len(report.result.per_axis)
    limits = {
        bound: _pairs(caller, bound, value, dims)
        for bound, value in (("min", min), ("max", max))
        if value is not None
    }
    spec = live_spec(caller, report.name, report.family)
    results = evaluate(spec, {"receptive_field": limits}, {"receptive_field": report.result}, set())
    failed = [budget_message(r) for r in results if not r.ok]
    if failed:
        raise AssertionError("; ".join(failed))
    return report


def _extent(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _pairs(caller: str, name: str, value: Any, dims: int) -> list[Any]:
    """A receptive-field limit as a spec's budget writes it: one int, or per axis an int or a
    (backward, forward) pair."""
    if _extent(value):
        return [[value, value]] * dims
    entries = list(value) if isinstance(value, list | tuple) else None
    if entries is not None and len(entries) == dims:
        out = []
        for v in entries:
            if _extent(v):
                out.append([v, v])
            elif isinstance(v, list | tuple) and len(v) == 2 and all(_extent(e) for e in v):
                out.append(list(v))
            else:
                break
        else:
            return out
    raise ArgumentError(
        f"{caller}: `{name}` (={value!r}) must be a non-negative int, or one entry per spatial "
        f"axis ({dims}), each an int or a (backward, forward) pair"
    )
