"""Budgets: compare a spec's measured metrics with its limits. Pure: no printing, no exits, no
wording (archinspect.render.check_text words each result)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from archinspect import metrics as registry
from archinspect.errors import (
    ArchinspectError,
    InternalError,
    Location,
    Problem,
    SpecError,
    user_error,
)
from archinspect.report import BudgetResult, CheckError, CheckReport
from archinspect.spec.model import Spec

Pairs = list[tuple[float, float]]


def rf_bound(value: Any, dims: int) -> Pairs | None:
    """One number for every axis and direction, or one entry per axis (int or [b, f])."""
    if isinstance(value, int):
        return [(value, value)] * dims
    if isinstance(value, list) and len(value) == dims:
        return [(v, v) if isinstance(v, int) else (v[0], v[1]) for v in value]
    return None


def budgets_of(spec: Spec, overrides: dict[str, Any]) -> dict[str, Any]:
    """The spec's budget with command-line overrides applied (they win); an override of a
    per-axis limit is keyed like its result, e.g. receptive_field.min."""
    merged = dict(spec.budget)
    for key, value in overrides.items():
        head, dot, bound = key.partition(".")
        if dot:
            nested = dict(merged.get(head, {}))
            nested[bound] = value
            merged[head] = nested
        else:
            merged[key] = value
    return merged


def needed_metrics(budgets: dict[str, Any]) -> set[str]:
    return {m.name for m in registry.METRICS if m.budget is not None and m.budget in budgets}


def _where(spec: Spec, path: str) -> Location | None:
    loc = spec.marks.get(path)
    if loc is None or loc.line is None or loc.source != spec.source:
        return None
    return loc


def _set_on_command_line(spec: Spec, path: str) -> bool:
    """True when `--set budget...=` wrote this limit (its mark is the override, not the file)."""
    loc = spec.marks.get(path)
    return loc is not None and loc.source.startswith("--set ")


def _headroom(limit: int, actual: int, ok: bool) -> float:
    return (limit - actual) / limit * 100 if limit else (0.0 if ok else -math.inf)


def evaluate(
    spec: Spec, budgets: dict[str, Any], metrics: dict[str, Any], overridden: set[str]
) -> list[BudgetResult]:
    """One result per budget, in the registry's order."""
    results = []
    for metric in registry.METRICS:
        if metric.budget is None or metric.budget not in budgets:
            continue
        if metric.per_axis:
            results += _per_axis(spec, metric, budgets[metric.budget] or {}, metrics, overridden)
            continue
        key = metric.budget
        limit = budgets[key]
        actual = metrics[metric.name]
        ok = registry.within(key, actual, limit)  # exactly at the limit is within it
        path = f"budget.{key}"
        results.append(
            BudgetResult(
                spec.source,
                spec.name,
                key,
                limit,
                actual,
                ok,
                _headroom(limit, actual, ok),
                _where(spec, path),
                key in overridden or _set_on_command_line(spec, path),
            )
        )
    return results


def _per_axis(
    spec: Spec,
    metric: registry.Metric,
    limits: dict[str, Any],
    metrics: dict[str, Any],
    overridden: set[str],
) -> list[BudgetResult]:
    """Receptive-field limits: every axis and direction compared with its own bound."""
    results: list[BudgetResult] = []
    if not limits:
        return results
    actual_pairs = [tuple(p) for p in metrics[metric.name].per_axis]
    dims = len(actual_pairs)
    for bound in registry.BOUNDS:
        if bound not in limits:
            continue
        key = f"{metric.budget}.{bound}"
        path = f"budget.{key}"
        pairs = rf_bound(limits[bound], dims)
        if pairs is None:
            raise SpecError(
                spec.source,
                [
                    Problem(
                        path,
                        f"needs one entry per spatial axis ({dims}), got {limits[bound]!r}",
                        spec.marks.get(path),
                    )
                ],
            )
        sides = [
            (a, w)
            for ap, wp in zip(actual_pairs, pairs, strict=True)
            for a, w in zip(ap, wp, strict=True)
        ]
        ok = all(a >= w for a, w in sides) if bound == "min" else all(a <= w for a, w in sides)
        results.append(
            BudgetResult(
                spec.source,
                spec.name,
                key,
                pairs,
                actual_pairs,
                ok,
                None,
                _where(spec, path),
                key in overridden or _set_on_command_line(spec, path),
            )
        )
    return results


def spec_error(path: str, exc: ArchinspectError) -> CheckError:
    """A spec that could not be loaded, as check and validate report it."""
    problems = tuple(exc.problems) if isinstance(exc, SpecError) else ()
    return CheckError(path, exc.message, problems, internal=isinstance(exc, InternalError))


def _refused(path: str, metrics: list[registry.Metric], skipped: dict[str, str]) -> CheckError:
    said = "; ".join(
        f"its budget {m.budget} needs the {m.description}, which {skipped[m.name]} skips"
        for m in metrics
    )
    return CheckError(path, f"error: {path}: {said} (drop the option or the budget)")


def check_specs(
    specs: Iterable[tuple[str, Spec | ArchinspectError]],
    overrides: dict[str, Any],
    *,
    trusted: Iterable[str] = (),
    platform: str | None = None,
    require_budget: bool = False,
    raise_bugs: bool = False,
    skipped: dict[str, str] | None = None,
) -> CheckReport:
    """Measure each spec as far as its budgets need, and compare. Bad specs become errors, and
    so does a bug met on one spec (unless `raise_bugs`): the other specs are still checked.
    With `require_budget`, a spec without any limit fails the check. `skipped`: metrics the
    user asked not to measure (name -> the option, e.g. {"memory": "--no-memory"}); a spec
    whose budget needs one is an error, never a budget passed unmeasured.

    One spec is traced and lowered while XLA compiles the one before it (in threads: XLA
    releases the GIL), so a list of specs takes less than the sum of each alone; results and
    errors keep the specs' order."""
    from archinspect.commands.measure import measure_steps

    outcomes: list[tuple[list[BudgetResult], CheckError | None]] = []
    unbudgeted: list[str] = []
    waiting: _Waiting | None = None  # the spec whose programs XLA is compiling
    try:
        for path, spec in specs:
            if isinstance(spec, ArchinspectError):
                outcomes.append(([], spec_error(path, spec)))
                continue
            budgets = budgets_of(spec, overrides)
            if not budgets:
                unbudgeted.append(path)
                continue
            refused = [m for m in registry.METRICS if m.name in needed_metrics(budgets)]
            refused = [m for m in refused if m.name in (skipped or {})]
            if refused:
                outcomes.append(([], _refused(path, refused, skipped or {})))
                continue
            outcomes.append(([], None))  # its place, filled when it has been measured
            steps = measure_steps(
                spec,
                needed_metrics(budgets),
                trusted=trusted,
                platform=platform,
                keep_going=False,
            )
            started = _Waiting(path, spec, budgets, steps, len(outcomes) - 1)
            done = started.step(outcomes, set(overrides), raise_bugs)
            if waiting is not None:
                waiting.step(outcomes, set(overrides), raise_bugs)
            waiting = None if done else started
        if waiting is not None:
            waiting.step(outcomes, set(overrides), raise_bugs)
            waiting = None
    finally:
        if waiting is not None:
            waiting.steps.close()
    results = [r for rs, _ in outcomes for r in rs]
    errors = [e for _, e in outcomes if e is not None]
    return CheckReport(tuple(results), tuple(errors), tuple(unbudgeted), require_budget)


class _Waiting:
    """A spec being measured by `measure_steps`, and where its outcome goes."""

    def __init__(
        self, path: str, spec: Spec, budgets: dict[str, Any], steps: Any, slot: int
    ) -> None:
        self.path, self.spec, self.budgets, self.steps, self.slot = path, spec, budgets, steps, slot

    def step(
        self,
        outcomes: list[tuple[list[BudgetResult], CheckError | None]],
        from_cli: set[str],
        raise_bugs: bool,
    ) -> bool:
        """Advance the measurement; True when it has ended (its outcome is then in place)."""
        try:
            next(self.steps)
            return False
        except StopIteration as done:
            metrics = done.value[0]
            outcomes[self.slot] = (evaluate(self.spec, self.budgets, metrics, from_cli), None)
        except ArchinspectError as exc:
            outcomes[self.slot] = ([], spec_error(self.path, exc))
        except Exception as exc:
            if raise_bugs:
                raise
            outcomes[self.slot] = ([], spec_error(self.path, user_error(exc, self.path)))
        return True
