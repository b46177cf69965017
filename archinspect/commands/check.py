"""Budgets: compare a spec's measured metrics with its limits. Pure: no printing, no exits."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from archinspect.errors import ArchinspectError, Problem, SpecError
from archinspect.report import BudgetResult, CheckReport
from archinspect.spec.model import Spec

# budget key -> metric it limits (see archinspect.commands.measure)
AMOUNT_METRICS = {
    "max_params": "params",
    "max_learnable_params": "learnable_params",
    "max_flops": "flops",
    "max_param_bytes": "param_bytes",
    "max_memory": "memory",
}
METRIC_WORDS = {
    "params": "parameters",
    "learnable_params": "learnable parameters",
    "flops": "forward FLOPs (XLA's estimate, whole batch)",
    "param_bytes": "parameter bytes",
    "memory": "training-step memory (XLA, peak bytes)",
}

Pairs = list[tuple[float, float]]


def rf_bound(value: Any, dims: int) -> Pairs | None:
    """One number for every axis and direction, or one entry per axis (int or [b, f])."""
    if isinstance(value, int):
        return [(value, value)] * dims
    if isinstance(value, list) and len(value) == dims:
        return [(v, v) if isinstance(v, int) else (v[0], v[1]) for v in value]
    return None


def budgets_of(spec: Spec, overrides: dict[str, Any]) -> dict[str, Any]:
    """The spec's budget with command-line overrides applied (they win)."""
    merged = dict(spec.budget)
    for key, value in overrides.items():
        if key.startswith("receptive_field."):
            rf = dict(merged.get("receptive_field", {}))
            rf[key.split(".", 1)[1]] = value
            merged["receptive_field"] = rf
        else:
            merged[key] = value
    return merged


def needed_metrics(budgets: dict[str, Any]) -> set[str]:
    names = {AMOUNT_METRICS[k] for k in budgets if k in AMOUNT_METRICS}
    if "receptive_field" in budgets:
        names.add("receptive_field")
    return names


def _where(spec: Spec, path: str) -> tuple[int | None, int | None]:
    loc = spec.marks.get(path)
    if loc is None or loc.line is None or loc.source != spec.source:
        return None, None
    return loc.line, loc.column


def _set_on_command_line(spec: Spec, path: str) -> bool:
    """True when `--set budget...=` wrote this limit (its mark is the override, not the file)."""
    loc = spec.marks.get(path)
    return loc is not None and loc.source.startswith("--set ")


def _fmt_pairs(pairs: Iterable[tuple[float, float]]) -> str:
    def one(v: float) -> str:
        return "inf" if v == math.inf else str(int(v))

    return " ".join(f"({one(b)},{one(f)})" for b, f in pairs)


def evaluate(
    spec: Spec, budgets: dict[str, Any], metrics: dict[str, Any], overridden: set[str]
) -> list[BudgetResult]:
    results = []
    for key, metric in AMOUNT_METRICS.items():
        if key not in budgets:
            continue
        limit = budgets[key]
        actual = metrics[metric]
        ok = actual <= limit  # exactly at the limit is within it
        headroom = (limit - actual) / limit * 100 if limit else (0.0 if ok else -math.inf)
        words = METRIC_WORDS[metric]
        message = (
            f"{words} {actual:,} within {key} {limit:,}"
            if ok
            else f"{words} {actual:,} exceed {key} {limit:,} by {actual - limit:,}"
        )
        from_cli = key in overridden or _set_on_command_line(spec, f"budget.{key}")
        if from_cli:
            message += " (limit set on the command line)"
        line, column = _where(spec, f"budget.{key}")
        results.append(
            BudgetResult(
                spec.source,
                spec.name,
                key,
                limit,
                actual,
                ok,
                headroom,
                line,
                column,
                from_cli,
                message,
            )
        )
    rf_limits = budgets.get("receptive_field") or {}
    if rf_limits:
        rf = metrics["receptive_field"]
        actual_pairs = [tuple(p) for p in rf.per_axis]
        dims = len(actual_pairs)
        for bound in ("min", "max"):
            if bound not in rf_limits:
                continue
            pairs = rf_bound(rf_limits[bound], dims)
            path = f"budget.receptive_field.{bound}"
            if pairs is None:
                raise SpecError(
                    spec.source,
                    [
                        Problem(
                            path,
                            f"needs one entry per spatial axis ({dims}), got {rf_limits[bound]!r}",
                            spec.marks.get(path),
                        )
                    ],
                )
            if bound == "min":
                ok = all(
                    a >= w
                    for ap, wp in zip(actual_pairs, pairs, strict=True)
                    for a, w in zip(ap, wp, strict=True)
                )
            else:
                ok = all(
                    a <= w
                    for ap, wp in zip(actual_pairs, pairs, strict=True)
                    for a, w in zip(ap, wp, strict=True)
                )
            relation = "at least" if bound == "min" else "at most"
            verdict = "meets" if ok else "violates"
            message = (
                f"receptive field {_fmt_pairs(actual_pairs)} {verdict} {relation} "
                f"{_fmt_pairs(pairs)} per axis (backward, forward)"
            )
            from_cli = f"receptive_field.{bound}" in overridden or _set_on_command_line(spec, path)
            if from_cli:
                message += " (limit set on the command line)"
            line, column = _where(spec, path)
            results.append(
                BudgetResult(
                    spec.source,
                    spec.name,
                    f"receptive_field.{bound}",
                    pairs,
                    actual_pairs,
                    ok,
                    None,
                    line,
                    column,
                    from_cli,
                    message,
                )
            )
    return results


def check_specs(
    specs: Iterable[tuple[str, Spec | ArchinspectError]],
    overrides: dict[str, Any],
    *,
    trusted: Iterable[str] = (),
    platform: str | None = None,
) -> CheckReport:
    """Measure each spec as far as its budgets need, and compare. Bad specs become errors."""
    from archinspect.commands.measure import measure

    results: list[BudgetResult] = []
    errors: list[tuple[str, str]] = []
    unbudgeted: list[str] = []
    for path, spec in specs:
        if isinstance(spec, ArchinspectError):
            errors.append((path, spec.message))
            continue
        budgets = budgets_of(spec, overrides)
        if not budgets:
            unbudgeted.append(path)
            continue
        try:
            metrics = measure(spec, needed_metrics(budgets), trusted=trusted, platform=platform)
            results += evaluate(spec, budgets, metrics, set(overrides))
        except ArchinspectError as exc:
            errors.append((path, exc.message))
    return CheckReport(tuple(results), tuple(errors), tuple(unbudgeted))
