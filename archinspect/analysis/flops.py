"""FLOPs: XLA's cost analysis. A multiply-add counts as 2 FLOPs, as XLA counts it.

The total comes from the compiled, batched forward program. Per layer, each distinct
(module structure, input shape) is lowered once — lowered, not compiled — and analysed on its
own; identical layers share the figure, so the cost grows with the number of distinct layers,
not with the number of rows.
"""

from __future__ import annotations

from typing import Any

import jax

from archinspect.analysis.params import is_array_like, module_tree
from archinspect.analysis.programs import module_program, xla_flops
from archinspect.analysis.recorder import Call


def _signature(module: Any, input_shape: tuple[int, ...], dtype: str) -> tuple:
    leaves, treedef = jax.tree_util.tree_flatten(module)
    shapes = tuple(
        (tuple(leaf.shape), str(leaf.dtype)) if is_array_like(leaf) else ("static", id(leaf))
        for leaf in leaves
    )
    return (treedef, shapes, input_shape, dtype)


def per_layer_flops(model: Any, calls: list[Call], dtype: str) -> dict[str, int]:
    """XLA's per-sample FLOPs of every called module, summed over its calls, by path.

    Each call is costed at its own input shape (a shared module may see several), times the
    elements it is mapped over under `jax.vmap` (`Call.repeat`). Modules
    called with more than one array argument are left out (no single input to lower with).
    """
    modules = dict(module_tree(model))
    # A wrapper whose called modules are not the nodes of its tree (a Flax NNX model: its
    # tree mirrors the parameters) gives a callable module per path itself.
    callable_at = getattr(model, "callable_at", None)
    if callable_at is not None:
        modules = {call.path: callable_at(call.path) for call in calls}
    cache: dict[tuple, int] = {}
    out: dict[str, int] = {}
    skipped: set[str] = set()
    for call in calls:
        module = modules.get(call.path)
        if module is None or len(call.input_shapes) != 1 or call.path == "":
            skipped.add(call.path)  # the root's figure is the whole program's, compiled
            continue
        key = _signature(module, call.input_shapes[0], dtype)
        if key not in cache:
            lowered = module_program(module, call.input_shapes[0], dtype)
            cache[key] = xla_flops(lowered.cost_analysis())
        out[call.path] = out.get(call.path, 0) + cache[key] * call.repeat
    return {path: flops for path, flops in out.items() if path not in skipped}
