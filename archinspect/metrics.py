"""The metric registry: every figure that `sweep`, `solve` and `check` measure, declared once.

A metric has a name (its key in measured dicts and in JSON), a label (column header, plot
title), a unit, a description (how budget messages name it), the spec's budget key that limits
it, the analysis it is measured by, and reducers to one number: the number a limit bounds, and
the number a sweep fits and plots.

Declaration order is meaningful: budgets are checked, reported and listed in the schema in this
order, and a sweep shows its metric columns in this order. Nothing here imports JAX.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["count", "shape", "rf", "compiled", "init"]
Bound = Literal["min", "max"]
BOUNDS: tuple[Bound, ...] = ("min", "max")


def _identity(value: Any) -> Any:
    return value


def _amount_bounded(value: Any, bound: Bound) -> Any:
    return value


def _rf_bounded(rf: Any, bound: Bound) -> float:
    """A minimum must hold on the smallest side of every axis, a maximum on the largest: one
    limit N holds for every axis and direction exactly when this number is >= N (or <= N)."""
    sides = [side for pair in rf.per_axis for side in pair]
    return min(sides) if bound == "min" else max(sides)


def _rf_trend(rf: Any) -> float | None:
    """The largest backward+forward extent over the axes: what grows with the architecture."""
    if rf is None:
        return None
    return max(b + f for b, f in rf.per_axis)


@dataclass(frozen=True)
class Metric:
    name: str
    label: str  # sweep column header, plot title, solve lines
    unit: str  # what one count of the value is
    description: str  # how a budget message names the metric
    measured_by: Kind  # the cheapest analysis that yields it (see commands/measure.py)
    # From the analysis' result to the value: a ParamSummary (count), an InspectReport
    # (shape, compiled) or an RFResult (rf).
    extract: Callable[[Any], Any]
    budget: str | None = None  # the key under a spec's `budget:` that limits it
    per_axis: bool = False  # limited per spatial axis and direction (min and max)
    option: str | None = None  # per-axis limits on the command line: --min-<option>/--max-<option>
    sweep: Literal["always", "on request"] | None = None  # is it a column of every sweep?
    # One number for a limit of the given bound (None: the value is not limited by numbers).
    bounded: Callable[[Any, Bound], Any] | None = _amount_bounded
    # One number to fit a law to and to plot (None: the value is not a number, e.g. a shape).
    trend: Callable[[Any], Any] | None = _identity
    axis_label: str | None = None  # a plot's y axis, when it is not the label


def _train_peak(report: Any) -> int | None:
    train = report.memory.train_step
    return train.peak_bytes if train is not None else None


METRICS: tuple[Metric, ...] = (
    Metric(
        "params",
        label="params",
        unit="parameters",
        description="parameters",
        measured_by="count",
        extract=lambda summary: summary.total,
        budget="max_params",
        sweep="always",
    ),
    Metric(
        "learnable_params",
        label="learnable",
        unit="parameters",
        description="learnable parameters",
        measured_by="count",
        extract=lambda summary: summary.learnable,
        budget="max_learnable_params",
        sweep="always",
    ),
    Metric(
        "flops",
        label="FLOPs",
        unit="FLOPs",
        description="forward FLOPs (XLA's estimate, whole batch)",
        measured_by="compiled",
        extract=lambda report: report.flops.forward,
        budget="max_flops",
        sweep="on request",
    ),
    Metric(
        "param_bytes",
        label="param bytes",
        unit="bytes",
        description="parameter bytes",
        measured_by="count",
        extract=lambda summary: summary.bytes,
        budget="max_param_bytes",
    ),
    Metric(
        "memory",
        label="train memory",
        unit="bytes",
        description="training-step memory (XLA, peak bytes)",
        measured_by="compiled",
        extract=_train_peak,  # XLA's peak bytes of one training step
        budget="max_memory",
        sweep="on request",
    ),
    Metric(
        "receptive_field",
        label="receptive field",
        unit="cells",
        description="receptive field",
        measured_by="rf",
        extract=_identity,  # the RFResult itself
        budget="receptive_field",
        per_axis=True,
        option="rf",
        sweep="always",
        bounded=_rf_bounded,
        trend=_rf_trend,
        axis_label="cells, backward + forward",
    ),
    Metric(
        "init_std",
        label="init output std",
        unit="",
        description="std of the last conv or dense layer's output at initialization",
        measured_by="init",  # archinspect init's run: real weights, a random batch
        extract=lambda report: report.layers[-1].std,
        sweep="on request",
        bounded=None,
        # not fitted: the laws are for sizes (an offset plus a power); this is exponential in
        # depth, and exactly w_std^layers for a ReLU net without biases
        trend=None,
    ),
    Metric(
        "init_verdict",
        label="init verdict",
        unit="",
        description="signal propagation verdict at initialization",
        measured_by="init",
        extract=lambda report: report.verdict,
        sweep="on request",
        bounded=None,
        trend=None,
    ),
    Metric(
        "output_shape",
        label="output shape",
        unit="",
        description="output shape",
        measured_by="shape",
        extract=lambda report: report.output_shape,
        sweep="always",
        bounded=None,
        trend=None,
    ),
)

BY_NAME: dict[str, Metric] = {m.name: m for m in METRICS}
NAMES: tuple[str, ...] = tuple(BY_NAME)
KINDS: tuple[Kind, ...] = ("count", "shape", "rf", "compiled", "init")

# Metrics every sweep measures, and those `sweep --metrics` adds (compiled, so slower).
SWEEP_ALWAYS: tuple[str, ...] = tuple(m.name for m in METRICS if m.sweep == "always")
SWEEP_ON_REQUEST: tuple[str, ...] = tuple(m.name for m in METRICS if m.sweep == "on request")

# The keys of a spec's `budget:` block: whole-number limits, then per-axis mappings.
BUDGET_AMOUNTS: tuple[str, ...] = tuple(
    m.budget for m in METRICS if m.budget is not None and not m.per_axis
)
BUDGET_KEYS: tuple[str, ...] = tuple(m.budget for m in METRICS if m.budget is not None)
AMOUNT_METRICS: dict[str, str] = {
    m.budget: m.name for m in METRICS if m.budget is not None and not m.per_axis
}


def _limits() -> dict[str, tuple[str, Bound]]:
    out: dict[str, tuple[str, Bound]] = {}
    for m in METRICS:
        if m.budget is None:
            continue
        if not m.per_axis:
            out[m.budget] = (m.name, "max")
            continue
        for bound in BOUNDS:
            out[f"{m.budget}.{bound}"] = (m.name, bound)  # check's result keys
            if m.option is not None:
                out[f"{bound}_{m.option}"] = (m.name, bound)  # solve's limit keys (min_rf)
    return out


# Every limit key a command accepts -> (metric, bound): max_params, ..., receptive_field.min,
# receptive_field.max (check), min_rf, max_rf (solve's one-number limits).
LIMITS: dict[str, tuple[str, Bound]] = _limits()


def get(name: str) -> Metric:
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown metric {name!r} (one of: {', '.join(NAMES)})") from None


def label(name: str) -> str:
    """The column header of a metric; an unknown name is its own label."""
    metric = BY_NAME.get(name)
    return metric.label if metric is not None else name


def axis_label(name: str) -> str:
    """What a plot's y axis shows for the metric."""
    metric = BY_NAME.get(name)
    if metric is None:
        return name
    return metric.axis_label or metric.label


def fitted(name: str) -> bool:
    """Whether a sweep fits a law to (and plots) the metric."""
    return get(name).trend is not None


def trend(name: str, value: Any) -> Any:
    """The number a sweep fits and plots for the value (None for a missing value)."""
    reducer = get(name).trend
    if reducer is None:
        raise ValueError(f"metric {name!r} is not a number to fit")
    return None if value is None else reducer(value)


def bounded(name: str, value: Any, bound: Bound) -> Any:
    """The number a limit of `bound` compares with: an amount itself; for a receptive field the
    smallest side over the axes for a minimum, the largest for a maximum."""
    reducer = get(name).bounded
    if reducer is None:
        raise ValueError(f"metric {name!r} has no limits")
    return reducer(value, bound)


def limit(key: str) -> tuple[str, Bound]:
    """(metric, bound) of a limit key: max_params, receptive_field.min, min_rf, ..."""
    try:
        return LIMITS[key]
    except KeyError:
        raise KeyError(f"unknown limit {key!r} (one of: {', '.join(LIMITS)})") from None


def within(key: str, value: Any, limit_value: Any) -> bool:
    """Whether the measured value of the limit's metric holds the limit (inclusive)."""
    name, bound = limit(key)
    number = bounded(name, value, bound)
    return number >= limit_value if bound == "min" else number <= limit_value
