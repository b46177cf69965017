"""The rule registry: one rule per primitive object, and what a rule may consult.

As in JAX's own interpreters (`jax/experimental/jet.py`: `jet_rules[lax.exp_p] = ...`), rules
are keyed by the primitive objects themselves, never by name: a name that is not a primitive
of the installed JAX would be a silent hole, and a primitive missing from the registry is an
error that names it (`unknown`). Each family module registers its primitives next to the
helper that defines the family's rule (`defelementwise`, `defidentity`, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from jax.extend.core import Primitive

from archinspect.analysis.receptive_field.rules.tables import Val
from archinspect.errors import UnsupportedOperation


@dataclass
class Context:
    """What a rule may consult: the equation's module, concrete index values, the recorders."""

    d: int
    module: Callable[[], tuple[str, str]]  # (path, type) of the innermost module call
    concrete: Callable[[int], np.ndarray]  # concrete value of the i-th input, or raise
    record_global: Callable[[str], None]  # kind -> records a GlobalSource for this module
    mark: Callable[[str, Val], None]  # a module call's output value
    # interpret a sub-jaxpr (jaxpr, consts) on the given operand values; call(sub, ins, prefix,
    # linked=False) when its inputs are not the equation's operands (a loop body's)
    call: Callable[..., list[Val]]
    prefix: tuple[str, ...] = field(default=())
    # Records how far a window reaches along input axes (in input cells): a hint for how large
    # an input must be so that some cells escape the boundary.
    widen: Callable[[frozenset[int], float], None] = field(default=lambda axes, cells: None)
    # The operand of a global pooling (a statistic over space that is not a norm's): what the
    # network's stencil is measured on where its output has no grid left (README, "Receptive
    # fields across grids").
    pool: Callable[[Val], None] = field(default=lambda val: None)


Rule = Callable[[Any, list[Val], Context], list[Val]]
RULES: dict[Primitive, Rule] = {}
# Rules that read and keep a Val's `support`; every other rule is given its operands (and its
# sub-jaxprs' results) with the support written into the tables (`tables.materialise`).
SUPPORT_RULES: set[Rule] = set()


def keeps_support(fn: Rule) -> Rule:
    """Mark `fn` as a rule that handles `Val.support` itself."""
    SUPPORT_RULES.add(fn)
    return fn


def register(rule: Rule, *primitives: Primitive) -> Rule:
    """Make `rule` the rule of each of `primitives`; a primitive gets exactly one rule."""
    for prim in primitives:
        if not isinstance(prim, Primitive):
            raise TypeError(f"an RF rule must be keyed by a jax Primitive, got {prim!r}")
        if prim in RULES:
            raise ValueError(f"primitive '{prim.name}' already has an RF rule")
        RULES[prim] = rule
    return rule


def rule(*primitives: Primitive) -> Callable[[Rule], Rule]:
    """Decorator form of `register`, for families of one rule per primitive."""

    def decorate(fn: Rule) -> Rule:
        return register(fn, *primitives)

    return decorate


def out_shape(eqn: Any, i: int = 0) -> tuple[int, ...]:
    return tuple(int(s) for s in eqn.outvars[i].aval.shape)


def unsupported(eqn: Any, ctx: Context, what: str | None = None) -> UnsupportedOperation:
    path, typ = ctx.module()
    where = f"{path} ({typ})" if path else f"the root module ({typ})"
    name = eqn.primitive.name
    detail = what or f"primitive '{name}'"
    return UnsupportedOperation(
        f"error: receptive field: no exact dependency rule for {detail}, used in {where}; "
        f"archinspect does not guess what '{name}' depends on"
    )


def unknown(eqn: Any, ctx: Context) -> UnsupportedOperation:
    return unsupported(eqn, ctx)
