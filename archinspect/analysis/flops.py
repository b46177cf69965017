"""FLOPs: XLA's cost analysis. A multiply-add counts as 2 FLOPs, as XLA counts it.

Per layer, each distinct (module structure, call arguments) is lowered once — lowered, not
compiled — with the arguments it was actually called with (extra arrays, keys, flags) and
analysed on its own; identical layers share the figure, so the cost grows with the number of
distinct layers, not with the number of rows. The whole forward pass, one sample, is lowered
the same way for the root row: every figure of the layer table is the same kind of analysis
(the unoptimised program), so a module's figure includes its submodules' and the root's is
never below a part. The compiled program's figure (`FlopsReport.forward`) is another kind:
XLA's optimisations (constant folding, algebraic simplification, fusion that duplicates
elementwise work, library calls for convolutions on GPU) move it either way.
"""

from __future__ import annotations

from typing import Any

import jax

from archinspect.analysis.flops_analytic import Traced
from archinspect.analysis.params import is_array_like, module_tree
from archinspect.analysis.programs import module_program, xla_flops
from archinspect.analysis.recorder import Call


def _static_key(x: Any) -> Any:
    try:
        hash(x)
    except TypeError:
        return ("id", id(x))
    return ("value", type(x).__name__, x)


def _signature(module: Any, arguments: Any) -> tuple:
    leaves, treedef = jax.tree_util.tree_flatten((module, arguments), is_leaf=is_array_like)
    shapes = tuple(
        (tuple(leaf.shape), str(leaf.dtype)) if is_array_like(leaf) else _static_key(leaf)
        for leaf in leaves
    )
    return (treedef, shapes)


def whole_flops(traced: Traced) -> int | None:
    """XLA's figure for the unoptimised program of one traced sample, `model(x)` (lowered
    from the jaxpr already traced for the analytic count: not traced again)."""
    if traced.program is None:
        return None
    from jax.extend.core import jaxpr_as_fun

    return xla_flops(jax.jit(jaxpr_as_fun(traced.program)).lower(*traced.arguments).cost_analysis())


def per_layer_flops(model: Any, calls: list[Call]) -> tuple[dict[str, int], dict[str, str]]:
    """XLA's per-sample FLOPs of every called module, summed over its calls, by path; and the
    paths that could not be measured, with the reason (a cell left blank says why).

    Each call is lowered with the arguments it was called with (a shared module may see
    several shapes), times the elements it is mapped over under `jax.vmap` (`Call.repeat`).
    The root is not here: `whole_flops` is its figure.
    """
    modules = dict(module_tree(model))
    # A wrapper whose called modules are not the nodes of its tree (a Flax NNX model: its
    # tree mirrors the parameters) gives a callable module per path itself.
    callable_at = getattr(model, "callable_at", None)
    if callable_at is not None:
        modules = {call.path: callable_at(call.path) for call in calls}
    cache: dict[tuple, int | str] = {}
    out: dict[str, int] = {}
    unmeasured: dict[str, str] = {}
    for call in calls:
        if call.path == "" or call.path in unmeasured:
            continue
        module = modules.get(call.path)
        if module is None:
            unmeasured[call.path] = "not a node of the model's tree: no module to lower alone"
            continue
        key = _signature(module, call.arguments)
        if key not in cache:
            try:
                lowered = module_program(module, call.arguments)
                cache[key] = xla_flops(lowered.cost_analysis())
            except Exception as e:  # the call could not be repeated on its own: say why
                first = (str(e).strip().splitlines() or [""])[0]
                cache[key] = f"lowering it alone failed: {type(e).__name__}: {first}"
        figure = cache[key]
        if isinstance(figure, str):
            unmeasured[call.path] = figure
            out.pop(call.path, None)
        else:
            out[call.path] = out.get(call.path, 0) + figure * call.repeat
    return out, unmeasured
