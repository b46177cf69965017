"""Calls, conditionals and callbacks: primitives whose parameters hold jaxprs or Python
functions. The call rules interpret the jaxprs that `archinspect.analysis.jaxprs.sub_jaxprs`
finds (a call's body, a cond's branches, a checkpoint's jaxpr, a custom derivative's primal);
loops are in `loops`.

Callbacks that return nothing (`jax.debug.print`, `jax.debug.callback`) are ignored: no value
of the forward pass depends on them. One that returns values is refused, naming it: what its
result depends on is whatever its Python function reads (unless nothing it is given depends on
the input and it is pure).
"""

from __future__ import annotations

from typing import Any

from jax import lax
from jax._src.callback import io_callback_p, pure_callback_p  # no public home
from jax._src.debugging import debug_callback_p, debug_print_p  # no public home
from jax.extend.core import Jaxpr, Literal, Primitive
from jax.extend.core.primitives import (
    closed_call_p,
    custom_jvp_call_p,
    custom_vjp_call_p,
    jit_p,
    remat_p,
)

from archinspect.analysis.jaxprs import sub_jaxprs
from archinspect.analysis.receptive_field.rules.elementwise import union_val
from archinspect.analysis.receptive_field.rules.registry import (
    Context,
    keeps_support,
    out_shape,
    register,
    unsupported,
)
from archinspect.analysis.receptive_field.rules.tables import Val, empty, inert


@keeps_support
def _call(eqn: Any, ins: list[Val], ctx: Context) -> list[Val]:
    subs = sub_jaxprs(eqn)
    if len(subs) != 1:
        raise unsupported(eqn, ctx, f"a '{eqn.primitive.name}' call with {len(subs)} jaxprs")
    return ctx.call(subs[0], ins, ctx.prefix)


def defcall(*primitives: Primitive) -> None:
    """The outputs of the call's one jaxpr run on the operands (a checkpoint, a custom
    derivative's primal function, a nested jit)."""
    register(_call, *primitives)


defcall(jit_p, closed_call_p, remat_p, custom_jvp_call_p, custom_vjp_call_p)


def _cond(eqn: Any, ins: list[Val], ctx: Context) -> list[Val]:
    # Either branch may run: the result depends on what any branch and the index depend on.
    index, ops = ins[0], ins[1:]
    results = [ctx.call(branch, ops, ctx.prefix) for branch in sub_jaxprs(eqn)]
    return [
        union_val(out_shape(eqn, i), [index] + [r[i] for r in results], ctx.d)
        for i in range(len(eqn.outvars))
    ]


register(_cond, lax.cond_p)


# ----------------------------------------------------------------------------- callbacks


def _callback(eqn: Any, ins: list[Val], ctx: Context) -> list[Val]:
    if not eqn.outvars:
        # jax.debug.print, jax.debug.callback, an io_callback that returns nothing: no value of
        # the forward pass reads what they do, so they move no dependency.
        return []
    if eqn.primitive is pure_callback_p and all(inert(v) for v in ins):
        # A pure function of operands that depend on no input cell.
        return [empty(out_shape(eqn, i), ctx.d) for i in range(len(eqn.outvars))]
    raise unsupported(
        eqn,
        ctx,
        f"'{eqn.primitive.name}', a callback that returns values (they depend on whatever its "
        "Python function reads)",
    )


register(_callback, debug_callback_p, debug_print_p, io_callback_p, pure_callback_p)


def feeds_callbacks_only(jaxpr: Jaxpr) -> set[int]:
    """Positions of the equations of `jaxpr` whose results only callbacks that return nothing
    read, directly or through each other (`jax.debug.print("{}", x.mean())`): no value of the
    forward pass depends on them, so they must not count (a mean only printed is no global
    coupling). An equation whose results nothing reads at all is not one of them."""
    silent = {debug_callback_p, debug_print_p, io_callback_p}
    dead: set[int] = set()
    readers: dict[Any, list[int]] = {}
    for i, eqn in enumerate(jaxpr.eqns):
        for atom in eqn.invars:
            if not isinstance(atom, Literal):
                readers.setdefault(atom, []).append(i)
    outputs = {atom for atom in jaxpr.outvars if not isinstance(atom, Literal)}
    for i in range(len(jaxpr.eqns) - 1, -1, -1):
        eqn = jaxpr.eqns[i]
        if not eqn.outvars:
            if eqn.primitive in silent:
                dead.add(i)
            continue
        uses = [j for v in eqn.outvars for j in readers.get(v, [])]
        if uses and all(j in dead for j in uses) and not any(v in outputs for v in eqn.outvars):
            dead.add(i)
    return dead
