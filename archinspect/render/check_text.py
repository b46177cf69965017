"""The wording of one budget result, e.g. "parameters 1,200 exceed max_params 1,000 by 200",
and of a spec that has no budget at all.

Shared by every check renderer (table, json, junit, github); a pure function of the result.
"""

from __future__ import annotations

from archinspect import metrics
from archinspect.render.fmt import pairs_text
from archinspect.report import BudgetResult


def budget_message(result: BudgetResult) -> str:
    name, bound = metrics.limit(result.budget)
    metric = metrics.get(name)
    if metric.per_axis:
        relation = "at least" if bound == "min" else "at most"
        verdict = "meets" if result.ok else "violates"
        text = (
            f"{metric.description} {pairs_text(list(result.actual))} {verdict} {relation} "
            f"{pairs_text(list(result.limit))} per axis (backward, forward)"
        )
    elif result.ok:
        text = f"{metric.description} {result.actual:,} within {result.budget} {result.limit:,}"
    else:
        text = (
            f"{metric.description} {result.actual:,} exceed {result.budget} {result.limit:,} "
            f"by {result.actual - result.limit:,}"
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
