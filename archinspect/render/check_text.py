"""The wording of one budget result, e.g. "parameters 1,200 exceed max_params 1,000 by 200",
and of a spec that has no budget at all.

Shared by every check renderer (table, json, junit, github); a pure function of the result.
"""

from __future__ import annotations

from typing import Any

from archinspect import metrics
from archinspect.render.fmt import pairs_text
from archinspect.report import BudgetResult


def budget_message(result: BudgetResult) -> str:
    name, bound = metrics.limit(result.budget)
    metric = metrics.get(name)
    if metric.per_axis:
        text = per_axis_text(metric.description, result.actual, result.limit, result.ok, bound)
    else:
        text = amount_text(
            metric.description, result.budget, result.actual, result.limit, result.ok
        )
    if result.from_command_line:
        text += " (limit set on the command line)"
    return text


def no_budget_message(required: bool) -> str:
    """What a spec without any limit gets: a warning, or with --require-budget a failure."""
    fix = "add a `budget:` block to the spec, or limits on the command line"
    if required:
        return f"no budget, and --require-budget needs one ({fix})"
    return f"no budget, so nothing was checked ({fix}; --require-budget makes this a failure)"


def per_axis_text(description: str, actual: Any, limit: Any, ok: bool, bound: str) -> str:
    """ "receptive field (2,2) violates at least (3,3) per axis (backward, forward)"."""
    relation = "at least" if bound == "min" else "at most"
    verdict = "meets" if ok else "violates"
    return (
        f"{description} {pairs_text(list(actual))} {verdict} {relation} "
        f"{pairs_text(list(limit))} per axis (backward, forward)"
    )


def amount_text(
    description: str, key: str, actual: int, limit: int, ok: bool, bound: str = "max"
) -> str:
    """ "parameters 1,200 exceed max_params 1,000 by 200"; a minimum (the Python API's
    `assert_params(min=...)`): "parameters 800 fall short of min_params 1,000 by 200"."""
    if ok:
        return f"{description} {actual:,} within {key} {limit:,}"
    if bound == "min":
        return f"{description} {actual:,} fall short of {key} {limit:,} by {limit - actual:,}"
    return f"{description} {actual:,} exceed {key} {limit:,} by {actual - limit:,}"
