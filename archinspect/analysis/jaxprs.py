"""The one jaxpr walker: where an equation keeps its jaxprs, and a visit of every equation.

Both receptive-field methods and their helpers read traced programs with it (the structural
rules for calls and loops, the empirical method for windows, grids and callbacks); walking is
not a rule, so sharing it keeps the methods independent where it matters.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# Higher-order primitives whose one body runs exactly once, inputs and outputs one to one: the
# call's outputs are its body's values, computed (or passed through) inside it.
CALLS = frozenset(
    {"pjit", "jit", "closed_call", "core_call", "remat", "checkpoint", "custom_jvp_call"}
    | {"custom_vjp_call", "custom_vjp_call_jaxpr", "custom_lin"}
)


def sub_jaxprs(eqn: Any) -> list[tuple[Any, list[Any]]]:
    """Every jaxpr held by the equation's parameters, with its constants, in parameter order
    (a call's body; a cond's branches; a loop's condition and body)."""
    from jax.extend.core import ClosedJaxpr, Jaxpr

    found: list[tuple[Any, list[Any]]] = []
    for value in eqn.params.values():
        for sub in value if isinstance(value, (list, tuple)) else (value,):
            if isinstance(sub, ClosedJaxpr):
                found.append((sub.jaxpr, list(sub.consts)))
            elif isinstance(sub, Jaxpr):
                found.append((sub, []))
    return found


def walk(jaxpr: Any, visit: Callable[[Any], None]) -> None:
    """visit(eqn) for every equation of `jaxpr` and, depth first, of the jaxprs inside it."""
    for eqn in jaxpr.eqns:
        visit(eqn)
        for sub, _ in sub_jaxprs(eqn):
            walk(sub, visit)
