"""The wording of one budget result, e.g. "parameters 1,200 exceed max_params 1,000 by 200".

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
