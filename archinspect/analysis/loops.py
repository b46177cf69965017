"""Loops in a traced forward pass (`lax.scan`, `lax.fori_loop`, `lax.while_loop`): the figures
that see a loop's body once.

A module called inside `jax.lax.scan` (a block applied over stacked weights, the usual Equinox
pattern for deep homogeneous stacks) is traced once and runs `length` times. The analytic FLOPs
multiply by the length (archinspect.analysis.flops_analytic), but XLA's cost analysis counts a
loop body once, the recorder sees one call of a rebuilt module that is no node of the tree, and
the activation total sums recorded calls: those figures would be silently low, so `inspect`
says so in a note naming each loop instead (README "FLOPs")."""

from __future__ import annotations

from typing import Any


def loops(jaxpr: Any) -> list[str]:
    """One description per loop of `jaxpr` (any depth) that runs its body more than once, or
    an unknown number of times: "lax.scan of 5 steps in blocks", "lax.while_loop in ..."."""
    from archinspect.analysis.jaxprs import walk

    found: list[str] = []

    def visit(eqn: Any) -> None:
        name = eqn.primitive.name
        where = str(eqn.source_info.name_stack) or "the forward pass"
        if name == "scan" and int(eqn.params["length"]) > 1:
            found.append(f"lax.scan of {int(eqn.params['length']):,} steps in {where}")
        elif name == "while":
            found.append(f"lax.while_loop in {where}")

    walk(jaxpr, visit)
    return found


def loop_note(jaxpr: Any) -> str | None:
    """The note `inspect` prints when the forward pass loops; None when it does not."""
    found = loops(jaxpr)
    if not found:
        return None
    listed = "; ".join(found[:3]) + (f"; and {len(found) - 3} more" if len(found) > 3 else "")
    return (
        f"the forward pass loops ({listed}): XLA's FLOPs, the layer rows and the activation "
        "total see the loop body once, not once per step; the analytic FLOPs count every step"
    )
