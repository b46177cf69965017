"""Exact parameter counting over a module tree whose leaves may be abstract.

`eqx.is_array` is False for `jax.ShapeDtypeStruct`, so filtering an abstract model with it
silently counts 0; here any object with a `shape` and a `dtype` (arrays, numpy arrays and
ShapeDtypeStructs alike) is an array leaf. Counting uses Python ints, so the totals are exact at
any size (no float rounding, no int32 overflow).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from archinspect.errors import ArchinspectError
from archinspect.report import LeafRow, ModuleRow, ParamSummary


def is_array_like(x: Any) -> bool:
    return hasattr(x, "shape") and hasattr(x, "dtype") and not isinstance(x, type)


def leaf_row(name: str, x: Any, *, state: bool = False, frozen: bool = False) -> LeafRow:
    """One array; `state`: held under an `eqx.nn.StateIndex`; `frozen`: marked by the user."""
    dtype = np.dtype(x.dtype)
    elements = math.prod(int(d) for d in x.shape)
    # A complex number is two real degrees of freedom: count it as two parameters, as every
    # reference figure (and an optimizer's view of the weights) does.
    params = elements * (2 if dtype.kind == "c" else 1)
    # Only inexact arrays are trained: an integer or boolean array (indices, masks, step
    # counters) is a buffer, counted with the state. A running mean or variance is inexact but
    # updated by the forward pass, never by an optimizer: state too (torchvision's published
    # counts leave BatchNorm's running statistics out for the same reason). What the user
    # marks frozen stays out of learnable, but is not state: it is a weight that is not trained.
    inexact = dtype.kind in "fc" or dtype.name == "bfloat16"
    state = state or not inexact
    frozen = frozen and not state
    return LeafRow(
        name,
        tuple(int(d) for d in x.shape),
        dtype.name,
        params,
        elements * dtype.itemsize,
        not state and not frozen,
        state,
        frozen,
    )


def is_state_index(node: Any) -> bool:
    """An `eqx.nn.StateIndex`: its `init` holds state (equinox is not imported to know: if it
    was never imported, nothing can be one)."""
    eqx = sys.modules.get("equinox")
    return eqx is not None and isinstance(node, eqx.nn.StateIndex)


def glob_regex(pattern: str) -> re.Pattern[str]:
    """A `--frozen` pattern: `*` any run of characters (dots included), `?` one character,
    everything else literal -- `[0]` in `blocks[0].conv` is an index, not a character class
    as `fnmatch` would read it."""
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body + r"\Z", re.DOTALL)


def unwrap(node: Any) -> Any:
    """The model inside a transparent wrapper (archinspect.build.adapt), else the node: the
    wrapper is no level of the tree, its model's paths and types are reported as they are."""
    while True:
        inner = getattr(type(node), "archinspect_inner", None)
        if inner is None:
            return node
        node = node.archinspect_inner


def _children(node: Any) -> list[tuple[str, Any]]:
    """Named children of a module, list, tuple or dict; static fields are skipped."""
    node = unwrap(node)
    if isinstance(node, (list, tuple)) and not is_array_like(node):
        return [(f"[{i}]", v) for i, v in enumerate(node)]
    if isinstance(node, dict):
        return [(f"[{k!r}]", v) for k, v in node.items()]
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        return [(name, getattr(node, name, None)) for name in _field_names(type(node))]
    return []


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    """A dataclass's non-static fields, once per class: a tree of 10⁴ layers is walked
    several times per command (README "Performance")."""
    return tuple(f.name for f in dataclasses.fields(cls) if not f.metadata.get("static", False))


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
    stack: list[tuple[str, Any]] = [("", unwrap(model))]
    while stack:
        path, node = stack.pop()
        yield path, node
        children = [
            (_join(path, name), child)
            for name, child in _children(node)
            if _is_container(child) and not is_array_like(child)
        ]
        stack.extend(reversed(children))


def module_rows(model: Any, frozen: Sequence[str] = ()) -> tuple[list[ModuleRow], list[LeafRow]]:
    """Every module/container node in tree order with own and subtree totals, and all leaves.

    A leaf is frozen when a `frozen` pattern (`glob_regex`) matches its path or the path of a
    module above it (`'solver'` and `'solver.*'` both freeze everything in `solver`); a
    pattern that matches nothing is an error naming it (`FrozenUnmatched`), never ignored."""
    rows: list[ModuleRow] = []
    all_leaves: list[LeafRow] = []
    patterns = [(p, glob_regex(p)) for p in frozen]
    matched: set[str] = set()

    def matches(path: str) -> bool:
        hit = [p for p, rx in patterns if rx.match(path)]
        matched.update(hit)
        return bool(hit)

    def visit(node: Any, path: str, depth: int, state: bool, freeze: bool) -> int:
        index = len(rows)
        rows.append(None)  # type: ignore[arg-type]  # placeholder keeps pre-order
        state = state or is_state_index(node)
        freeze = (matches(path) or freeze) if path else freeze
        own: list[LeafRow] = []
        total = 0
        for name, child in _children(node):
            child_path = _join(path, name)
            if is_array_like(child):
                hit = matches(child_path)
                leaf = leaf_row(child_path, child, state=state, frozen=freeze or hit)
                own.append(leaf)
                all_leaves.append(leaf)
                total += leaf.params
            elif _is_container(child):
                total += visit(child, child_path, depth + 1, state, freeze)
        own_params = sum(leaf.params for leaf in own)
        rows[index] = ModuleRow(
            path, type(unwrap(node)).__name__, depth, own_params, total, tuple(own)
        )
        return total

    visit(model, "", 0, False, False)
    unmatched = [p for p, _ in patterns if p not in matched]
    if unmatched:
        raise FrozenUnmatched(unmatched, [leaf.name for leaf in all_leaves])
    # Containers that hold no parameters anywhere (e.g. an empty list) are noise in a table.
    rows = [r for r in rows if r.params > 0 or r.depth == 0]
    return rows, all_leaves


class FrozenUnmatched(ArchinspectError):
    """A frozen pattern that matches no array or module: a typo would otherwise silently
    leave the weights it meant learnable (exit 2)."""

    def __init__(self, patterns: list[str], paths: list[str]):
        listed = ", ".join(repr(p) for p in patterns)
        plural = "s" if len(patterns) != 1 else ""
        examples = ", ".join(repr(p) for p in paths[:4]) or "none: the model holds no array"
        verb = "match" if plural else "matches"
        super().__init__(
            f"error: frozen pattern{plural} {listed} (--frozen, frozen=) {verb} "
            "no array or module path of the model; patterns are globs (* and ?) over the "
            f"dotted paths `archinspect count` shows, e.g. {examples}"
        )
        self.patterns = patterns


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


def array_leaves(model: Any) -> Iterator[tuple[str, Any]]:
    """(path, array) for every array leaf, in the order and with the names of `module_rows`."""

    def visit(node: Any, path: str) -> Iterator[tuple[str, Any]]:
        for name, child in _children(node):
            child_path = _join(path, name)
            if is_array_like(child):
                yield child_path, child
            elif _is_container(child):
                yield from visit(child, child_path)

    yield from visit(model, "")


class NotTraced(Exception):
    """The forward pass could not be traced on the spec's input (its message says why)."""


def trace_over_arrays(
    model: Any, input_shape: tuple[int, ...], dtype: str
) -> tuple[Any, list[Any], list[int]]:
    """`model(x)` traced abstractly with the model's array leaves as the program's first
    inputs: (closed jaxpr, the flattened model, the indices of its array leaves, in input order).
    What reads which parameter (`read_leaves`, the filter banks of archinspect.analysis.banks)
    is then a question about the jaxpr's inputs."""
    import jax
    import jax.numpy as jnp

    flat, treedef = jax.tree_util.tree_flatten(model, is_leaf=is_array_like)
    where = [i for i, x in enumerate(flat) if is_array_like(x)]

    def forward(arrays: list[Any], x: Any) -> Any:
        leaves = list(flat)
        for i, a in zip(where, arrays, strict=True):
            leaves[i] = a
        return jax.tree_util.tree_unflatten(treedef, leaves)(x)

    avals = [jax.ShapeDtypeStruct(flat[i].shape, flat[i].dtype) for i in where]
    x = jax.ShapeDtypeStruct(input_shape, jnp.dtype(dtype))
    return jax.make_jaxpr(forward)(avals, x), flat, where


def read_leaves(
    model: Any, input_shape: tuple[int, ...], dtype: str, *, shared: bool = True
) -> frozenset[str]:
    """Paths of the array leaves that the forward pass `model(x)` reads, for one input of
    `input_shape` (unbatched) and `dtype`.

    The forward pass is traced abstractly (`jax.make_jaxpr` over the model's array leaves and
    the input: no weight memory), and dead code is removed with JAX's own
    `partial_eval.dce_jaxpr`, which follows values into every sub-program (nested jits,
    `cond` branches, loops): a leaf is read when some equation that contributes to the output,
    or has an effect (a print), uses it, at any depth. A parameter used under one branch of a
    `cond` is read (either branch may run); one the program never touches, or only computes
    with and discards, is not. Raises `NotTraced` when the forward pass fails on that input.

    `shared`: repeated submodule calls are traced once each (archinspect.analysis.shared_calls:
    the same program, at a cost linear in depth); False traces every call anew (the reference
    the tests compare it with).
    """
    import contextlib

    from jax.interpreters import partial_eval as pe

    from archinspect.analysis.shared_calls import shared_calls

    try:
        with shared_calls(model) if shared else contextlib.nullcontext():
            closed, flat, where = trace_over_arrays(model, input_shape, dtype)
    except Exception as e:  # any failure of user code: reported, never guessed around
        first = (str(e).strip().splitlines() or [""])[0]
        raise NotTraced(f"{type(e).__name__}: {first}" if first else type(e).__name__) from e
    jaxpr = closed.jaxpr
    _, used = pe.dce_jaxpr(jaxpr, [True] * len(jaxpr.outvars))
    read_ids = {id(flat[i]) for i, u in zip(where, used[: len(where)], strict=True) if u}
    return frozenset(path for path, x in array_leaves(model) if id(x) in read_ids)


def summarize(leaves: list[LeafRow], read: frozenset[str] | None = None) -> ParamSummary:
    """Totals of `leaves`. `read` (from `read_leaves`) gives materialized: the parameters the
    forward pass reads; without it (not traced) materialized is None, never a guess."""
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
    materialized: int | None = None
    unread: tuple[str, ...] = ()
    if read is not None:
        # Materialized counts each stored array the forward pass reads, as stored;
        # `measured_summary` then counts a filter bank built from stored filters (group
        # convolutions, archinspect/analysis/banks.py) in place of the filters it is built
        # from, so materialized can exceed learnable. `unread`: stored arrays nothing reads.
        materialized = sum(leaf.params for leaf in leaves if leaf.name in read)
        unread = tuple(leaf.name for leaf in leaves if leaf.name not in read)
    return ParamSummary(
        total=total,
        learnable=sum(leaf.params for leaf in leaves if leaf.learnable),
        state=sum(leaf.params for leaf in leaves if leaf.state),
        frozen=sum(leaf.params for leaf in leaves if leaf.frozen),
        materialized=materialized,
        bytes=sum(leaf.bytes for leaf in leaves),
        by_dtype=dict(sorted(by_dtype.items())),
        elements_by_dtype=dict(sorted(elements.items())),
        bytes_by_dtype=dict(sorted(nbytes.items())),
        complex_elements=complex_elements,
        unread=unread,
    )


def measured_summary(
    model: Any, leaves: list[LeafRow], input_shape: tuple[int, ...], dtype: str
) -> tuple[ParamSummary, tuple[str, ...]]:
    """`summarize` with materialized measured on the spec's input, and the notes to show:
    the arrays the forward pass never reads, or why materialized was not measured."""
    try:
        read = read_leaves(model, input_shape, dtype)
    except NotTraced as e:
        shape = "×".join(str(n) for n in input_shape)
        note = (
            f"materialized not measured: the forward pass fails on input {shape} ({e}); "
            "total and learnable are exact"
        )
        return summarize(leaves), (note,)
    summary = summarize(leaves, read)
    summary = _with_banks(model, leaves, read, summary, input_shape, dtype)
    notes: tuple[str, ...] = ()
    if summary.unread:
        unread = [leaf for leaf in leaves if leaf.name in set(summary.unread)]
        listed = ", ".join(f"{leaf.name} ({leaf.params:,})" for leaf in unread[:5])
        more = f" and {len(unread) - 5} more" if len(unread) > 5 else ""
        notes = (
            f"{len(unread)} array{'s' if len(unread) != 1 else ''} the forward pass never reads,"
            f" not materialized: {listed}{more}",
        )
    return summary, notes


def _with_banks(
    model: Any,
    leaves: list[LeafRow],
    read: frozenset[str],
    summary: ParamSummary,
    input_shape: tuple[int, ...],
    dtype: str,
) -> ParamSummary:
    """Materialized counts the filter banks the forward pass builds (group convolutions) in
    place of the stored filters they are built from (archinspect/analysis/banks.py)."""
    from archinspect.analysis import banks

    if not banks.builds_banks(model):
        return summary  # no second trace for the models that build none
    expansion = banks.measure(model, input_shape, dtype)
    if not expansion.banks:
        return summary
    return dataclasses.replace(
        summary, materialized=banks.materialized(leaves, read, expansion), banks=expansion.banks
    )


def count_params(
    model: Any,
    input_shape: tuple[int, ...] | None = None,
    dtype: str = "float32",
    frozen: Sequence[str] = (),
) -> ParamSummary:
    """Exact totals of a (possibly abstract) model; materialized is measured on inputs of
    `input_shape` (unbatched), and None without one or when the forward pass fails there;
    `frozen`: patterns of arrays that are not trained (see `module_rows`)."""
    _, leaves = module_rows(model, frozen)
    if input_shape is None:
        return summarize(leaves)
    return measured_summary(model, leaves, input_shape, dtype)[0]
