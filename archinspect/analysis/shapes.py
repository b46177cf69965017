"""Per-layer table of a forward pass: path, type, shapes, parameters, call counts."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from archinspect.analysis.params import module_rows
from archinspect.analysis.recorder import Call, traced_calls
from archinspect.report import LayerRow


def forward_layers(
    model: Any, input_shape: tuple[int, ...], dtype: str
) -> tuple[tuple[int, ...], list[LayerRow], list[Call]]:
    """Output shape, one row per called module (first call's shapes, call count), the calls.

    A module called several times (shared weights) is one row: its parameters count once.
    """
    x = jax.ShapeDtypeStruct(input_shape, jnp.dtype(dtype))
    out, calls = traced_calls(model, x)
    leaves = [leaf for leaf in jax.tree_util.tree_leaves(out) if hasattr(leaf, "shape")]
    if len(leaves) != 1:
        output_shape: tuple[int, ...] = ()
    else:
        output_shape = tuple(int(d) for d in leaves[0].shape)
    rows_by_path = {row.path: row for row in module_rows(model)[0]}
    first: dict[str, Call] = {}
    count: dict[str, int] = {}
    for call in sorted(calls, key=lambda c: c.order):
        first.setdefault(call.path, call)
        count[call.path] = count.get(call.path, 0) + 1
    rows = []
    called = list(first)
    for path, call in first.items():
        tree_row = rows_by_path.get(path)
        rows.append(
            LayerRow(
                path=path,
                type=call.type,
                # nesting among *called* modules: containers (lists) are not levels here
                depth=sum(1 for p in called if p != path and _is_ancestor(p, path)),
                input_shapes=call.input_shapes,
                output_shapes=call.output_shapes,
                own_params=tree_row.own_params if tree_row else 0,
                params=tree_row.params if tree_row else 0,
                calls=count[path],
            )
        )
    return output_shape, rows, calls


def leaf_paths(rows: list[LayerRow]) -> set[str]:
    """Called modules none of whose descendants were called: where the work happens."""
    paths = [r.path for r in rows]
    leaves = {p for p in paths if not any(q != p and _is_ancestor(p, q) for q in paths)}
    return leaves or {""}


def fold_layers(rows: list[LayerRow], depth: int | None) -> list[LayerRow]:
    """Keep rows up to `depth` (the root always); count the folded ones into the kept parent."""
    if depth is None:
        return rows
    import dataclasses

    kept: list[LayerRow] = []
    for row in rows:
        if row.depth <= depth:
            kept.append(row)
            continue
        for i in range(len(kept) - 1, -1, -1):
            if kept[i].depth <= depth and _is_ancestor(kept[i].path, row.path):
                kept[i] = dataclasses.replace(kept[i], folded=kept[i].folded + 1)
                break
    return kept


def _is_ancestor(parent: str, child: str) -> bool:
    return parent == "" or child.startswith(parent + ".") or child.startswith(parent + "[")
