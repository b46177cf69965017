"""Filter banks built in the forward pass: how materialized exceeds learnable.

A group convolution stores base filters and builds, in every forward pass, a bank S times
larger from them (archinspect/layers/group_conv.py). Such a module has a `filter_bank` method
and builds the bank inside one call named `archinspect_filter_bank`, so the traced program
shows it: the bank's size is the size of what
that call returns, measured, never a formula. A stored array that only such a call reads is
not materialized as stored (its bank is, instead); one that anything else reads directly is
materialized as stored too.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from archinspect.analysis.params import array_leaves, is_array_like, module_tree
from archinspect.report import FilterBank, LeafRow, ModuleRow, ParamSummary

BANK_NAME = "archinspect_filter_bank"  # archinspect.layers.group_conv names its builder so
CALLS = frozenset({"jit", "pjit", "closed_call", "core_call"})


@dataclass(frozen=True)
class Expansion:
    """What the forward pass builds from stored arrays: the banks, and the stored arrays read
    only through a bank (materialized as their bank, not as stored)."""

    banks: tuple[FilterBank, ...]
    expanded: frozenset[str]


def builds_banks(model: Any) -> bool:
    """Whether some module of the tree builds a bank: it has a `filter_bank` method (the
    group convolutions do), which calls the function named `archinspect_filter_bank`."""
    return any(callable(getattr(node, "filter_bank", None)) for _, node in module_tree(model))


def _size(aval: Any) -> int:
    n = math.prod(int(d) for d in aval.shape)
    return n * (2 if np.dtype(aval.dtype).kind == "c" else 1)


def measure(model: Any, input_shape: tuple[int, ...], dtype: str) -> Expansion:
    """Trace `model(x)` abstractly and find every live bank call (any depth of nested calls)."""
    from jax.extend.core import Var
    from jax.interpreters import partial_eval as pe

    from archinspect.analysis.jaxprs import sub_jaxprs
    from archinspect.analysis.params import trace_over_arrays

    closed, flat, where = trace_over_arrays(model, input_shape, dtype)
    live, used = pe.dce_jaxpr(closed.jaxpr, [True] * len(closed.jaxpr.outvars))
    kept = [k for k, u in enumerate(used) if u]
    env = {v: kept[n] for n, v in enumerate(live.invars) if kept[n] < len(where)}

    found: list[tuple[frozenset[int], int]] = []
    direct: set[int] = set()

    def walk(jaxpr: Any, env: dict[Any, int]) -> None:
        def sources(vs: list[Any]) -> set[int]:
            return {env[v] for v in vs if isinstance(v, Var) and v in env}

        for eqn in jaxpr.eqns:
            subs = sub_jaxprs(eqn)
            if eqn.primitive.name in CALLS and eqn.params.get("name") == BANK_NAME:
                built = sum(_size(v.aval) for v in eqn.outvars)
                found.append((frozenset(sources(eqn.invars)), built))
                continue
            if eqn.primitive.name in CALLS and len(subs) == 1:
                inner = subs[0][0]
                pairs = zip(inner.invars, eqn.invars, strict=False)
                walk(inner, {i: env[o] for i, o in pairs if isinstance(o, Var) and o in env})
                continue
            direct.update(sources(eqn.invars))
            for sub, _ in subs:  # banks inside loops and branches: counted, sources unknown
                walk(sub, {})
        direct.update(sources(jaxpr.outvars))

    walk(live, env)
    if not found:
        return Expansion((), frozenset())
    path_of = {id(x): path for path, x in array_leaves(model)}
    # A wrapper (Flax) may flatten to other objects than its tree shows: named by position.
    paths = [path_of.get(id(flat[i]), f"<array {n}>") for n, i in enumerate(where)]
    modules = dict(module_tree(model))
    sizes = {path: _size(x) for path, x in array_leaves(model)}
    banked = {i for leaf_ids, _ in found for i in leaf_ids}
    expanded = frozenset(paths[i] for i in banked - direct)
    banks = []
    for leaf_ids, size in found:
        names = tuple(sorted(paths[i] for i in leaf_ids))
        owner = _common_parent(names)
        module = modules.get(owner)
        bias = getattr(module, "bias", None)
        banks.append(
            FilterBank(
                path=owner,
                sources=names,
                expanded=tuple(n for n in names if n in expanded),
                learnable=sum(sizes.get(n, 0) for n in names),
                materialized=size,
                group=getattr(module, "group", None),
                order=getattr(module, "order", None),
                lifting=getattr(module, "lifting", None),
                in_channels=getattr(module, "in_channels", None),
                out_channels=getattr(module, "out_channels", None),
                kernel_size=getattr(module, "kernel_size", None),
                bias=_size(bias) if is_array_like(bias) else 0,
            )
        )
    return Expansion(tuple(banks), expanded)


def _common_parent(paths: tuple[str, ...]) -> str:
    """The module holding the arrays: "layers[0].weight" -> "layers[0]"."""
    parents = {p.rsplit(".", 1)[0] if "." in p else "" for p in paths}
    return parents.pop() if len(parents) == 1 else ""


def materialized(leaves: list[LeafRow], read: frozenset[str], expansion: Expansion) -> int:
    """Stored arrays read directly, plus every bank built from stored arrays."""
    stored = sum(leaf.params for leaf in leaves if leaf.name in read - expansion.expanded)
    return stored + sum(bank.materialized for bank in expansion.banks)


def with_rows(rows: list[ModuleRow], summary: ParamSummary) -> list[ModuleRow]:
    """Each row's materialized count (of its subtree), when the forward pass builds banks:
    its stored arrays that are read directly, plus the banks its modules build."""
    if not summary.banks:
        return rows
    skip = set(summary.unread) | {n for bank in summary.banks for n in bank.expanded}

    def inside(path: str, root: str) -> bool:
        return root == "" or path == root or path.startswith((root + ".", root + "["))

    out = []
    for row in rows:
        stored = sum(leaf.params for leaf in _subtree_leaves(rows, row) if leaf.name not in skip)
        built = sum(b.materialized for b in summary.banks if inside(b.path, row.path))
        out.append(dataclasses.replace(row, materialized=stored + built))
    return out


def _subtree_leaves(rows: list[ModuleRow], root: ModuleRow) -> list[LeafRow]:
    start = rows.index(root)
    leaves = list(root.leaves)
    for row in rows[start + 1 :]:
        if row.depth <= root.depth:
            break
        leaves.extend(row.leaves)
    return leaves


def explain(bank: FilterBank) -> str:
    """One line: why this layer's materialized count is what it is, e.g. "layers[0]: 5→7 C4
    conv: 1,260 learnable (5 G-channels × 4 orientations × 7 × 3×3), materialized ×4 = 5,040"."""
    where = bank.path or "<root>"
    if bank.group is None or bank.order is None or bank.kernel_size is None:
        return (
            f"{where}: filter bank of {bank.materialized:,} values built from "
            f"{bank.learnable:,} stored parameters"
        )
    k = bank.kernel_size
    s = bank.order
    if bank.lifting:
        what = f"{bank.in_channels}→{bank.out_channels} {bank.group} lifting conv"
        factors = f"{bank.in_channels} channels × {bank.out_channels} × {k}×{k}"
    else:
        what = f"{bank.in_channels}→{bank.out_channels} {bank.group} conv"
        factors = (
            f"{bank.in_channels} G-channels × {s} orientations × {bank.out_channels} × {k}×{k}"
        )
    ratio = bank.materialized / bank.learnable if bank.learnable else 0
    times = f"×{int(ratio)}" if ratio == int(ratio) else f"×{ratio:.3g}"
    line = (
        f"{where}: {what}: {bank.learnable:,} learnable ({factors}), "
        f"materialized {times} = {bank.materialized:,}"
    )
    if bank.bias:
        line += f"; bias {bank.bias:,}, one per G-channel, not expanded"
    return line
