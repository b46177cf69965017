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
from archinspect.report import LayerRow


def _signature(module: Any, input_shape: tuple[int, ...], dtype: str) -> tuple:
    leaves, treedef = jax.tree_util.tree_flatten(module)
    shapes = tuple(
        (tuple(leaf.shape), str(leaf.dtype)) if is_array_like(leaf) else ("static", id(leaf))
        for leaf in leaves
    )
    return (treedef, shapes, input_shape, dtype)


def per_layer_flops(model: Any, rows: list[LayerRow], dtype: str) -> dict[str, int]:
    """XLA's per-sample FLOPs of every row's module (all of its calls), by path.

    Rows whose module takes more than one array argument are left out (no single input shape
    to lower it with).
    """
    modules = dict(module_tree(model))
    cache: dict[tuple, int] = {}
    out: dict[str, int] = {}
    for row in rows:
        module = modules.get(row.path)
        if module is None or len(row.input_shapes) != 1 or row.path == "":
            continue  # the root's figure is the whole program's, compiled
        key = _signature(module, row.input_shapes[0], dtype)
        if key not in cache:
            lowered = module_program(module, row.input_shapes[0], dtype)
            cache[key] = xla_flops(lowered.cost_analysis())
        out[row.path] = cache[key] * row.calls
    return out
