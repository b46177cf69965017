"""The forward program of a model with every derivative-only construct taken out (README,
"Exact receptive fields": the empirical method).

A gradient describes the forward map only when every primitive's derivative rule is the
derivative of what that primitive computes. JAX's own primitives keep that promise; three kinds
of construct break it on purpose:

- `stop_gradient` computes the identity and declares the derivative zero;
- `custom_jvp` / `custom_vjp` compute their primal function (the `call_jaxpr` of the call) and
  declare any derivative their author chose (e.g. the identity for a conv);
- callbacks run Python: `jax.debug.print` / `jax.debug.callback` return nothing (no data
  dependency, but their lines would land on stdout); `pure_callback` / `io_callback` return
  values JAX cannot differentiate or see into.

`primal_program` rebuilds the traced program with `stop_gradient` replaced by the identity, each
custom derivative replaced by its primal function (inlined, so its rules are never used), and
the output-free debug callbacks dropped; it refuses a callback that returns values, naming it
and where it was written. Everything else is bound as traced, so the rebuilt program computes
exactly the values the model's forward pass computes, and its derivatives are JAX's own rules
for JAX's own primitives: the derivatives of the forward map.

With `positive=True` (the empirical method's copy) one more rewrite makes the copy's paths
positive where the program itself brings signs in: a contraction of the data with a constant
(an operand computed from literals and constants only, like the interpolation matrix of a cubic
or Lanczos `jax.image.resize`, whose lobes are negative) uses the constant's absolute value,
exactly as the copy's weights are made positive. The nonzeros, hence which cells a cell reads,
are unchanged; what is removed is only the chance of cancellation.

This walks the program on its own (it shares no code with the structural method's rules).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from archinspect.analysis.jaxprs import sub_jaxprs, walk
from archinspect.errors import UnsupportedOperation


def _primitives() -> tuple[set[Any], set[Any], set[Any], set[Any]]:
    """(identity, inlined, dropped, refused) primitive objects of this JAX version."""
    from jax._src import callback, debugging
    from jax.extend.core.primitives import custom_jvp_call_p, custom_vjp_call_p, stop_gradient_p

    dropped = {debugging.debug_callback_p}
    if hasattr(debugging, "debug_print_p"):
        dropped.add(debugging.debug_print_p)
    refused = {callback.pure_callback_p, callback.io_callback_p}
    return {stop_gradient_p}, {custom_jvp_call_p, custom_vjp_call_p}, dropped, refused


def _open(sub: Any) -> tuple[Any, list[Any]]:
    """A custom derivative's primal (closed or open) as a jaxpr and its constants."""
    return getattr(sub, "jaxpr", sub), list(getattr(sub, "consts", []))


def where(eqn: Any) -> str:
    """Where the equation was written: the user's file and line, and the module path."""
    from jax._src import source_info_util

    place = source_info_util.summarize(eqn.source_info)
    stack = str(eqn.source_info.name_stack)
    return f"{stack} ({place})" if stack else place


def derivative_only(jaxpr: Any) -> list[Any]:
    """The equations, at any depth, that `primal_program` rewrites or refuses."""
    identity, inlined, dropped, refused = _primitives()
    special = identity | inlined | dropped | refused
    found: list[Any] = []
    walk(jaxpr, lambda eqn: found.append(eqn) if eqn.primitive in special else None)
    return found


def refuse_callbacks(jaxpr: Any) -> None:
    """A callback that returns values is an opaque data dependency: refuse it by name."""
    _, _, _, refused = _primitives()
    for eqn in derivative_only(jaxpr):
        if eqn.primitive in refused:
            raise UnsupportedOperation(
                f"error: receptive field (empirical): '{eqn.primitive.name}' at {where(eqn)} "
                "runs Python code whose values JAX cannot see into; use the structural method"
            )


def evaluate(
    jaxpr: Any,
    consts: list[Any],
    *args: Any,
    positive: bool = False,
    fixed: list[bool] | None = None,
    dependent: list[bool] | None = None,
) -> list[Any]:
    """Evaluate `jaxpr` with the rewrites described in the module docstring; `fixed` says which
    of `args` are constants of the program (computed from no input and no weight); with
    `dependent` (per argument: it depends on the model input), also those of `linearise`."""
    import numpy as np
    from jax import lax
    from jax.extend.core import Literal
    from jax.extend.core.primitives import closed_call_p, jit_p, remat_p

    from archinspect.analysis.receptive_field.linearise import linearised

    calls = {jit_p, closed_call_p, remat_p}
    identity, inlined, dropped, _ = _primitives()
    refuse_callbacks(jaxpr)
    env: dict[Any, Any] = {}

    def read(v: Any) -> Any:
        return v.val if isinstance(v, Literal) else env[v]

    constant: set[Any] = set(jaxpr.constvars)  # values computed from no input and no weight
    deps: dict[Any, bool] = {}  # whether a variable depends on the input (linearising only)

    def depends(v: Any) -> bool:
        return not isinstance(v, Literal) and deps.get(v, False)

    for v, x in zip(jaxpr.constvars, consts, strict=True):
        env[v] = x
    for i, (v, x) in enumerate(zip(jaxpr.invars, args, strict=True)):
        env[v] = x
        if fixed is not None and fixed[i]:
            constant.add(v)
        deps[v] = dependent is not None and dependent[i]
    for eqn in jaxpr.eqns:
        ins = [read(v) for v in eqn.invars]
        known = [isinstance(v, Literal) or v in constant for v in eqn.invars]
        if all(known):
            constant.update(eqn.outvars)
        dep = [depends(v) for v in eqn.invars]
        for v in eqn.outvars:
            deps[v] = any(dep)
        prim = eqn.primitive
        if positive and prim is lax.dot_general_p and sum(known) == 1:
            c = known.index(True)
            if np.dtype(ins[c].dtype).kind == "f":
                ins[c] = abs(ins[c])  # see the module docstring: same nonzeros, no sign
        sub_dep = dep if dependent is not None else None
        linear = linearised(eqn, ins, dep) if dependent is not None else None
        if linear is not None:
            outs: list[Any] = linear
        elif prim in dropped:
            outs = []
        elif prim in identity:
            outs = ins
        elif prim in inlined:
            sub = _open(eqn.params["call_jaxpr"])
            outs = evaluate(*sub, *ins, positive=positive, fixed=known, dependent=sub_dep)
        else:
            subs = sub_jaxprs(eqn)
            params = eqn.params
            needed = any(derivative_only(s) for s, _ in subs)
            rewrite = dependent is not None or needed
            if prim in calls and len(subs) == 1 and (positive or rewrite):
                # A call (jit, closed_call, checkpoint): run its body in place.
                outs = evaluate(*subs[0], *ins, positive=positive, fixed=known, dependent=sub_dep)
                for v, x in zip(eqn.outvars, outs, strict=True):
                    env[v] = x
                continue
            if subs and rewrite:
                # Control flow (cond, while, scan): the same program with rewritten bodies
                # (linearised as if each body input depended on the input: a weight read as
                # such only turns a product into a sum, which reads the same elements).
                # An open sub-program (a scatter's combiner) is left as it is unless it holds a
                # construct without a derivative.
                linearise = dependent is not None
                params = {k: _rewrite_param(v, linearise, needed) for k, v in params.items()}
            with eqn.ctx.manager:
                result = prim.bind(*ins, **prim.get_bind_params(params))
            outs = list(result) if prim.multiple_results else [result]
        for v, x in zip(eqn.outvars, outs, strict=True):
            env[v] = x
    return [read(v) for v in jaxpr.outvars]


def _rewrite_param(value: Any, linearise: bool = False, strict: bool = True) -> Any:
    from jax.extend.core import ClosedJaxpr, Jaxpr

    if type(value) in (list, tuple):  # not a named tuple of settings (scatter's dimensions)
        return type(value)(_rewrite_param(v, linearise, strict) for v in value)
    if isinstance(value, ClosedJaxpr):
        return _rewrite_closed(value, linearise)
    if isinstance(value, Jaxpr) and not strict:
        return value
    if isinstance(value, Jaxpr):
        raise UnsupportedOperation(
            "error: receptive field (empirical): a construct without a derivative (stop_gradient, "
            "a custom derivative or a callback) inside an open sub-program; use the structural "
            "method"
        )
    return value


def _rewrite_closed(closed: Any, linearise: bool = False) -> Any:
    """The same sub-program (same inputs and outputs), rewritten."""
    import jax

    avals = [jax.ShapeDtypeStruct(v.aval.shape, v.aval.dtype) for v in closed.jaxpr.invars]
    dependent = [True] * len(avals) if linearise else None

    def body(*xs: Any) -> list[Any]:
        return evaluate(closed.jaxpr, list(closed.consts), *xs, dependent=dependent)

    return jax.make_jaxpr(body)(*avals)


def primal_program(
    model: Any, positive: bool = False, linearise: bool = False
) -> Callable[[Any, Any], Any]:
    """`(dynamic, x) -> model(x)` as the rewritten forward program, where `dynamic` is the
    model's array part (`eqx.partition(model, eqx.is_array)`), traced once per input shape;
    `positive`: constants contracted with the data are made positive (module docstring);
    `linearise` adds the rewrites of `linearise` (the positive copy's)."""
    import equinox as eqx
    import jax

    dynamic, static = eqx.partition(model, eqx.is_array)
    leaves, treedef = jax.tree_util.tree_flatten(dynamic)

    def flat(leaves: list[Any], x: Any) -> Any:
        return eqx.combine(jax.tree_util.tree_unflatten(treedef, leaves), static)(x)

    cache: dict[tuple, Any] = {}

    def trace(shape: tuple[int, ...], dtype: Any) -> Any:
        key = (shape, str(dtype))
        if key not in cache:
            avals = [jax.ShapeDtypeStruct(x.shape, x.dtype) for x in leaves]
            cache[key] = jax.make_jaxpr(flat)(avals, jax.ShapeDtypeStruct(shape, dtype))
        return cache[key]

    def run(dynamic: Any, x: Any) -> Any:
        closed = trace(tuple(x.shape), x.dtype)
        args = jax.tree_util.tree_leaves(dynamic)
        dependent = [False] * len(args) + [True] if linearise else None
        (out,) = evaluate(
            closed.jaxpr, list(closed.consts), *args, x, positive=positive, dependent=dependent
        )
        return out

    return run
