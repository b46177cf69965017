"""Exact parameter counting over a module tree whose leaves may be abstract.

`eqx.is_array` is False for `jax.ShapeDtypeStruct`, so filtering an abstract model with it
silently counts 0; here any object with a `shape` and a `dtype` (arrays, numpy arrays and
ShapeDtypeStructs alike) is an array leaf. Counting uses Python ints, so the totals are exact at
any size (no float rounding, no int32 overflow).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from archinspect.report import LeafRow, ModuleRow, ParamSummary


def is_array_like(x: Any) -> bool:
    return hasattr(x, "shape") and hasattr(x, "dtype") and not isinstance(x, type)


def leaf_row(name: str, x: Any) -> LeafRow:
    dtype = np.dtype(x.dtype)
    elements = math.prod(int(d) for d in x.shape)
    # A complex number is two real degrees of freedom: count it as two parameters, as every
    # reference figure (and an optimizer's view of the weights) does.
    params = elements * (2 if dtype.kind == "c" else 1)
    # Only inexact arrays are trained; integer or boolean arrays (indices, masks) are state.
    learnable = dtype.kind in "fc" or dtype.name == "bfloat16"
    return LeafRow(
        name,
        tuple(int(d) for d in x.shape),
        dtype.name,
        params,
        elements * dtype.itemsize,
        learnable,
    )


def _children(node: Any) -> list[tuple[str, Any]]:
    """Named children of a module, list, tuple or dict; static fields are skipped."""
    if isinstance(node, (list, tuple)) and not is_array_like(node):
        return [(f"[{i}]", v) for i, v in enumerate(node)]
    if isinstance(node, dict):
        return [(f"[{k!r}]", v) for k, v in node.items()]
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        out = []
        for f in dataclasses.fields(node):
            if f.metadata.get("static", False):
                continue
            out.append((f.name, getattr(node, f.name, None)))
        return out
    return []


def _join(path: str, name: str) -> str:
    if name.startswith("["):
        return path + name
    return f"{path}.{name}" if path else name


def _is_container(x: Any) -> bool:
    return (
        isinstance(x, (list, tuple, dict))
        or (dataclasses.is_dataclass(x) and not isinstance(x, type))
    ) and not is_array_like(x)


def module_tree(model: Any) -> Iterator[tuple[str, Any]]:
    """(path, node) for every module/container node, in pre-order; the root has path ""."""
    stack: list[tuple[str, Any]] = [("", model)]
    while stack:
        path, node = stack.pop()
        yield path, node
        children = [
            (_join(path, name), child)
            for name, child in _children(node)
            if _is_container(child) and not is_array_like(child)
        ]
        stack.extend(reversed(children))


def module_rows(model: Any) -> tuple[list[ModuleRow], list[LeafRow]]:
    """Every module/container node in tree order with own and subtree totals, and all leaves."""
    rows: list[ModuleRow] = []
    all_leaves: list[LeafRow] = []

    def visit(node: Any, path: str, depth: int) -> int:
        index = len(rows)
        rows.append(None)  # type: ignore[arg-type]  # placeholder keeps pre-order
        own: list[LeafRow] = []
        total = 0
        for name, child in _children(node):
            child_path = _join(path, name)
            if is_array_like(child):
                leaf = leaf_row(child_path, child)
                own.append(leaf)
                all_leaves.append(leaf)
                total += leaf.params
            elif _is_container(child):
                total += visit(child, child_path, depth + 1)
        own_params = sum(leaf.params for leaf in own)
        rows[index] = ModuleRow(path, type(node).__name__, depth, own_params, total, tuple(own))
        return total

    visit(model, "", 0)
    # Containers that hold no parameters anywhere (e.g. an empty list) are noise in a table.
    rows = [r for r in rows if r.params > 0 or r.depth == 0]
    return rows, all_leaves


def fold(rows: list[ModuleRow], depth: int | None) -> list[ModuleRow]:
    """Keep rows up to `depth`; deeper rows are counted into their kept ancestor's `folded`."""
    if depth is None:
        return rows
    kept: list[ModuleRow] = []
    for row in rows:
        if row.depth <= depth:
            kept.append(row)
        else:
            parent = next(i for i in range(len(kept) - 1, -1, -1) if kept[i].depth == depth)
            kept[parent] = dataclasses.replace(kept[parent], folded=kept[parent].folded + 1)
    return kept


def summarize(leaves: list[LeafRow]) -> ParamSummary:
    by_dtype: dict[str, int] = {}
    elements: dict[str, int] = {}
    nbytes: dict[str, int] = {}
    complex_elements = 0
    for leaf in leaves:
        by_dtype[leaf.dtype] = by_dtype.get(leaf.dtype, 0) + leaf.params
        n = math.prod(leaf.shape)
        elements[leaf.dtype] = elements.get(leaf.dtype, 0) + n
        nbytes[leaf.dtype] = nbytes.get(leaf.dtype, 0) + leaf.bytes
        if leaf.params != n:
            complex_elements += n
    total = sum(leaf.params for leaf in leaves)
    return ParamSummary(
        total=total,
        learnable=sum(leaf.params for leaf in leaves if leaf.learnable),
        # Every stored weight is used as stored in the built-in families; families that expand
        # a stored filter into a larger bank (group convolutions) will report more here.
        materialized=total,
        bytes=sum(leaf.bytes for leaf in leaves),
        by_dtype=dict(sorted(by_dtype.items())),
        elements_by_dtype=dict(sorted(elements.items())),
        bytes_by_dtype=dict(sorted(nbytes.items())),
        complex_elements=complex_elements,
    )


def count_params(model: Any) -> ParamSummary:
    """Exact totals of a (possibly abstract) model."""
    _, leaves = module_rows(model)
    return summarize(leaves)
