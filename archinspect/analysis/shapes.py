"""Per-layer table of a forward pass: path, type, shapes, parameters, call counts, and each
conv's geometry (and, on request, its dense equivalent)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp

from archinspect.analysis.conv_matrix import dense_equivalent, subtotal
from archinspect.analysis.params import module_rows, module_tree
from archinspect.analysis.recorder import Call, traced_calls
from archinspect.report import ConvGeometry, DenseEquivalent, LayerRow

_EQX_MODE = {"ZEROS": "zeros", "REFLECT": "reflect", "REPLICATE": "edge", "CIRCULAR": "circular"}


def _string_pads(
    padding: str, spatial_in: tuple[int, ...], k_eff: tuple[int, ...], stride: tuple[int, ...]
) -> tuple[tuple[int, int], ...]:
    """jax.lax's SAME / SAME_LOWER / VALID padding: ceil(n / s) outputs for SAME."""
    if padding == "VALID":
        return ((0, 0),) * len(spatial_in)
    pads = []
    for n, k, s in zip(spatial_in, k_eff, stride, strict=True):
        total = max((-(-n // s) - 1) * s + k - n, 0)
        lo = (total + 1) // 2 if padding == "SAME_LOWER" else total // 2
        pads.append((lo, total - lo))
    return tuple(pads)


def _eqx_geometry(m: Any, spatial_in: tuple[int, ...]) -> ConvGeometry | None:
    """equinox.nn.Conv / ConvTranspose, read from their attributes (they have no method)."""
    k, d, s = tuple(m.kernel_size), tuple(m.dilation), tuple(m.stride)
    n = len(k)
    k_eff = tuple((ki - 1) * di + 1 for ki, di in zip(k, d, strict=True))
    mode = _EQX_MODE[m.padding_mode]
    common = dict(
        kernel_size=k,
        kernel_dilation=d,
        groups=m.groups,
        in_channels=m.in_channels,
        out_channels=m.out_channels,
        padding_mode=mode,
    )
    if isinstance(m, eqx.nn.Conv):
        if isinstance(m.padding, str):
            padding = _string_pads(m.padding, spatial_in, k_eff, s)
        else:
            padding = tuple((int(lo), int(hi)) for lo, hi in m.padding)
        return ConvGeometry(input_dilation=(1,) * n, stride=s, padding=padding, **common)
    # ConvTranspose runs the direct conv with the input dilated by the stride and the
    # padding of "A guide to convolution arithmetic" (Dumoulin & Visin), relationship 14
    pads = []
    for i in range(n):
        a = m.output_padding[i]
        if isinstance(m.padding, str):
            if m.padding == "VALID":
                p0 = p1 = 0
            else:
                p_sum = d[i] * (k[i] - 1) - s[i] + a + 1
                if p_sum < 0:
                    a, p_sum = -p_sum, 0
                p0 = (p_sum + (m.padding == "SAME_LOWER")) // 2
                p1 = p_sum - p0
        else:
            p0, p1 = (int(p) for p in m.padding[i])
        pads.append((d[i] * (k[i] - 1) - p0, d[i] * (k[i] - 1) - p1 + a))
    # circular: the input wrapped, then dilated: the dilated input is periodic, period n * s
    zeros = tuple((0, si - 1) for si in s) if mode == "circular" and max(s) > 1 else ()
    return ConvGeometry(
        input_dilation=s,
        stride=(1,) * n,
        padding=tuple(pads),
        transposed=True,
        zero_padding=zeros,
        **common,
    )


def conv_geometry_of(module: Any, spatial_in: tuple[int, ...]) -> ConvGeometry | None:
    """A conv's geometry for an input of `spatial_in` cells: the module's own `conv_geometry`,
    else equinox's Conv / ConvTranspose read from their attributes; None for anything else."""
    method = getattr(module, "conv_geometry", None)
    if callable(method):
        return method(spatial_in)
    if isinstance(module, eqx.nn.Conv | eqx.nn.ConvTranspose):
        return _eqx_geometry(module, spatial_in)
    return None


def _geometry(module: Any, call: Call) -> ConvGeometry | None:
    if module is None or len(call.input_shapes) != 1 or len(call.input_shapes[0]) < 2:
        return None
    return conv_geometry_of(module, call.input_shapes[0][1:])


def with_dense_equivalents(rows: list[LayerRow]) -> list[LayerRow]:
    """Each conv row's dense equivalent; every other row the sums over the convs below it."""
    out = []
    convs = [r for r in rows if r.conv is not None]
    own = {
        r.path: dense_equivalent(r.conv, r.input_shapes[0][1:]) for r in convs if r.conv is not None
    }
    # A conv inside a conv (a wrapper) is the wrapper's business: a row sums the convs below
    # it with no other conv between (the outer ones). Each conv is handed to the rows above it
    # and below its innermost conv ancestor: linear in the rows (README "Performance").
    outer: dict[str, list[str]] = {}
    for c in convs:
        above = list(ancestors(c.path))
        inner = max((len(a) for a in above if a in own), default=-1)
        for a in above:
            if len(a) > inner:
                outer.setdefault(a, []).append(c.path)
    for row in rows:
        dense: DenseEquivalent | None
        if row.path in own:
            dense = own[row.path]
        else:
            dense = subtotal([own[c] for c in outer.get(row.path, [])])
        out.append(dataclasses.replace(row, dense=dense))
    return out


def forward_layers(
    model: Any, input_shape: tuple[int, ...], dtype: str, *, dense: bool = False
) -> tuple[tuple[int, ...], list[LayerRow], list[Call]]:
    """Output shape, one row per called module (first call's shapes, call count), the calls.

    A module called several times (shared weights) is one row: its parameters count once; a
    call under `jax.vmap` counts once per mapped element (its shapes are one element's). A
    conv's row has its geometry at its first call; `dense` adds the dense equivalents.
    """
    x = jax.ShapeDtypeStruct(input_shape, jnp.dtype(dtype))
    out, calls = traced_calls(model, x)
    leaves = [leaf for leaf in jax.tree_util.tree_leaves(out) if hasattr(leaf, "shape")]
    if len(leaves) != 1:
        output_shape: tuple[int, ...] = ()
    else:
        output_shape = tuple(int(d) for d in leaves[0].shape)
    rows_by_path = {row.path: row for row in module_rows(model)[0]}
    modules: dict[str, Any] = {}
    for path, node in module_tree(model):
        modules.setdefault(path, node)
    first: dict[str, Call] = {}
    count: dict[str, int] = {}
    for call in sorted(calls, key=lambda c: c.order):
        first.setdefault(call.path, call)
        count[call.path] = count.get(call.path, 0) + call.repeat
    rows = []
    called = set(first)
    for path, call in first.items():
        tree_row = rows_by_path.get(path)
        rows.append(
            LayerRow(
                path=path,
                type=call.type,
                # nesting among *called* modules: containers (lists) are not levels here
                depth=sum(1 for p in ancestors(path) if p in called),
                input_shapes=call.input_shapes,
                output_shapes=call.output_shapes,
                own_params=tree_row.own_params if tree_row else 0,
                params=tree_row.params if tree_row else 0,
                calls=count[path],
                conv=_geometry(modules.get(path), call),
                output_dtypes=call.output_dtypes,
            )
        )
    if dense:
        rows = with_dense_equivalents(rows)
    return output_shape, rows, calls


def leaf_paths(rows: list[LayerRow]) -> set[str]:
    """Called modules none of whose descendants were called: where the work happens."""
    paths = [r.path for r in rows]
    # Linear in the rows, not quadratic: a 10⁴-layer model has 10⁴ rows (README "Performance").
    above = {p for q in paths for p in ancestors(q)}
    leaves = {p for p in paths if p not in above}
    return leaves or {""}


def fold_layers(rows: list[LayerRow], depth: int | None) -> list[LayerRow]:
    """Keep rows up to `depth` (the root always); count the folded ones into the kept parent."""
    if depth is None:
        return rows
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


def ancestors(path: str) -> Iterator[str]:
    """Every `p != path` with `_is_ancestor(p, path)`, each once: the root, and each prefix
    that a `.` or `[` follows (found by looking at `path` alone, not at every other path)."""
    if path:
        yield ""
    for i in range(1, len(path)):
        if path[i] in ".[":
            yield path[:i]
