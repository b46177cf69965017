"""Data movement fixed at trace time: broadcasts, reshapes, transposes, reversals, slices,
concatenations and padding. Each moves tables (and the tags' coordinate maps) as it moves the
array; a concatenation or padding that breaks an axis's map marks a boundary (taint).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from fractions import Fraction
from typing import Any

import numpy as np
from jax import lax

from archinspect.analysis.receptive_field.rules.registry import (
    Context,
    keeps_support,
    out_shape,
    rule,
    unsupported,
)
from archinspect.analysis.receptive_field.rules.tables import (
    Tag,
    Val,
    along,
    build,
    each,
    first_tag,
    inert,
    mark_taint,
    masks,
    materialise,
    place_along,
    same_support,
    supported,
    taint_all,
    to_shape,
    union_tag,
)


@rule(lax.broadcast_in_dim_p)
@keeps_support
def _broadcast_in_dim(eqn: Any, ins: list[Val], ctx: Context) -> list[Val]:
    v = ins[0]
    shape = out_shape(eqn)
    dims = eqn.params["broadcast_dimensions"]
    tags: list[Tag | None] = [None] * len(shape)
    spread: set[int] = set()
    for i, a in enumerate(dims):
        tag = v.tags[i]
        if tag is not None and v.shape[i] == 1 < shape[a]:
            tag = tag.unmapped()
            if v.nonempty():
                spread |= tag.axes
        tags[a] = tag

    def expand(x: np.ndarray, k: str, s: int) -> np.ndarray:
        shp = [1] * len(shape)
        for i, a in enumerate(dims):
            shp[a] = x.shape[i]
        return x.reshape(shp)

    support: list[np.ndarray | None] = [None] * len(shape)
    for i, (a, m) in enumerate(zip(dims, masks(v), strict=True)):
        if m is not None:
            support[a] = np.broadcast_to(m, (shape[a],)) if v.shape[i] != shape[a] else m
    return [taint_all(supported(each(v, shape, tags, expand), support), spread)]


def _reshape_groups(old: Sequence[int], new: Sequence[int]) -> list[tuple[list[int], list[int]]]:
    """Contiguous groups of old and new axes with equal products (unit axes attach anywhere)."""
    groups: list[tuple[list[int], list[int]]] = []
    i = j = 0
    while i < len(old) and j < len(new):
        gi, gj = [i], [j]
        po, pn = old[i], new[j]
        i, j = i + 1, j + 1
        while po != pn:
            if po < pn:
                gi.append(i)
                po *= old[i]
                i += 1
            else:
                gj.append(j)
                pn *= new[j]
                j += 1
        groups.append((gi, gj))
    if not groups:
        groups.append(([], []))
    groups[-1][0].extend(range(i, len(old)))
    groups[-1][1].extend(range(j, len(new)))
    return groups


def where(ctx: Context) -> str:
    """The module an equation belongs to, as messages name it."""
    path, typ = ctx.module()
    return f"{path} ({typ})" if path else f"the root module ({typ})"


def _is_mapped(tag: Tag | None) -> bool:
    return tag is not None and tag.mapped


def _merged(tags: Sequence[Tag | None], sizes: Sequence[int]) -> Tag | None:
    """The map of the axis that merges axes (major first) when it is one: the major axis is
    mapped and the minor ones are its phases (split from it), channels or broadcast copies.
    Minor position i then sits at the fine grid's i-th cell, as the README reads an output
    (cell q at q * n_in / n_out): nearest up-sampling by repeat, depth-to-space, the inverse of
    a split."""
    if not tags or tags[0] is None or not tags[0].mapped:
        return None
    major = tags[0]
    assert major.slope is not None and major.offset is not None
    for tag in tags[1:]:
        if tag is not None and (tag.mapped or tag.freq or not tag.axes <= major.axes):
            return None
    return major.moved(major.slope / math.prod(sizes[1:]), major.offset)


def _split_tag(tag: Tag, sizes: Sequence[int]) -> list[Tag]:
    """A mapped axis split into `sizes` (major first): the major axis keeps the map with a
    coarser slope, the others are its phases."""
    assert tag.slope is not None and tag.offset is not None
    out = []
    for i in range(len(sizes)):
        stride = math.prod(sizes[i + 1 :])
        if i == 0:
            out.append(tag.moved(tag.slope * stride, tag.offset))
        else:
            out.append(Tag(tag.axes, tag.slope * stride, Fraction(0), phase=True))
    return out


@rule(lax.reshape_p)
def _reshape(eqn: Any, ins: list[Val], ctx: Context) -> list[Val]:
    v = ins[0]
    if eqn.params.get("dimensions") is not None:
        raise unsupported(eqn, ctx, "reshape with a dimension permutation")
    shape = out_shape(eqn)
    groups = _reshape_groups(v.shape, shape)
    tags: list[Tag | None] = [None] * len(shape)
    for g_old, g_new in groups:
        big_old = [a for a in g_old if v.shape[a] != 1]
        big_new = [b for b in g_new if shape[b] != 1]
        if len(big_old) == 1 and len(big_new) == 1:
            tags[big_new[0]] = v.tags[big_old[0]]
        elif not big_old and not big_new and len(g_old) == 1 and len(g_new) == 1:
            tags[g_new[0]] = v.tags[g_old[0]]
        else:
            flat = _merged([v.tags[a] for a in big_old], [v.shape[a] for a in big_old])
            if flat is not None:
                for b, tag in zip(
                    big_new, _split_tag(flat, [shape[b] for b in big_new]), strict=True
                ):
                    tags[b] = tag
                continue
            merged = union_tag([v.tags[a] for a in g_old])
            if merged is not None and any(_is_mapped(v.tags[a]) for a in big_old):
                merged = Tag(
                    merged.axes,
                    why=f"a reshape that reorders the cells of a spatial axis, in {where(ctx)}",
                )
            for b in big_new:
                tags[b] = merged

    def reshape(x: np.ndarray, k: str, s: int) -> np.ndarray:
        target = list(x.shape)
        new = [1] * len(shape)
        for g_old, g_new in groups:
            if any(x.shape[a] != 1 for a in g_old):
                for a in g_old:
                    target[a] = v.shape[a]
                for b in g_new:
                    new[b] = shape[b]
        return np.reshape(np.broadcast_to(x, target), new)

    return [each(v, shape, tags, reshape)]


@rule(lax.squeeze_p)
@keeps_support
def _squeeze(eqn: Any, ins: list[Val], ctx: Context) -> list[Val]:
    v = ins[0]
    dims = tuple(a % v.ndim for a in eqn.params["dimensions"])
    if any(masks(v)[a] is not None for a in dims):
        v = materialise(v)
    keep = [a for a in range(v.ndim) if a not in dims]
    tags = tuple(v.tags[a] for a in keep)
    out = each(v, out_shape(eqn), tags, lambda x, k, s: np.squeeze(x, axis=dims))
    return [supported(out, [masks(v)[a] for a in keep])]


@rule(lax.transpose_p)
@keeps_support
def _transpose(eqn: Any, ins: list[Val], ctx: Context) -> list[Val]:
    v = ins[0]
    perm = tuple(eqn.params["permutation"])
    tags = tuple(v.tags[a] for a in perm)
    out = each(v, out_shape(eqn), tags, lambda x, k, s: x.transpose(perm))
    return [supported(out, [masks(v)[a] for a in perm])]


@rule(lax.rev_p)
def _rev(eqn: Any, ins: list[Val], ctx: Context) -> list[Val]:
    v = ins[0]
    dims = tuple(eqn.params["dimensions"])
    tags = list(v.tags)
    for a in dims:
        tag = tags[a]
        if tag is not None and tag.mapped:
            assert tag.slope is not None and tag.offset is not None
            tags[a] = tag.moved(-tag.slope, tag.slope * (v.shape[a] - 1) + tag.offset)
            # Reversed cells are refused where they reach the output (see `measure`), unless a
            # concatenation uses them as a boundary (reflect padding) or a second flip undoes it.
            why = f"a flip along array axis {a} in {where(ctx)}" if tag.slope > 0 else ""
            tags[a] = replace(tags[a], why=why)  # type: ignore[arg-type]

    def flip(x: np.ndarray, k: str, s: int) -> np.ndarray:
        return np.flip(x, tuple(a for a in dims if x.shape[a] != 1))

    return [each(v, v.shape, tags, flip)]


def slice_val(v: Val, starts: Sequence[int], limits: Sequence[int], strides: Sequence[int]) -> Val:
    tags = list(v.tags)
    shape = []
    for a, (b, e, st) in enumerate(zip(starts, limits, strides, strict=True)):
        shape.append(max(0, -(-(e - b) // st)))
        tag = tags[a]
        if tag is not None and tag.mapped and (b, st) != (0, 1):
            assert tag.slope is not None and tag.offset is not None
            tags[a] = tag.moved(tag.slope * st, tag.offset + tag.slope * b)

    def cut(x: np.ndarray, k: str, s: int) -> np.ndarray:
        ix = tuple(
            slice(None) if x.shape[a] == 1 else slice(b, e, st)
            for a, (b, e, st) in enumerate(zip(starts, limits, strides, strict=True))
        )
        return x[ix]

    support = [
        None if m is None else m[b:e:st]
        for m, b, e, st in zip(masks(v), starts, limits, strides, strict=True)
    ]
    return supported(each(v, shape, tags, cut), support)


@rule(lax.slice_p)
@keeps_support
def _slice(eqn: Any, ins: list[Val], ctx: Context) -> list[Val]:
    p = eqn.params
    strides = p["strides"] or (1,) * ins[0].ndim
    return [slice_val(ins[0], p["start_indices"], p["limit_indices"], strides)]


@rule(lax.split_p)
@keeps_support
def _split(eqn: Any, ins: list[Val], ctx: Context) -> list[Val]:
    v = ins[0]
    axis = eqn.params["axis"]
    outs, start = [], 0
    for size in eqn.params["sizes"]:
        b = [0] * v.ndim
        e = list(v.shape)
        b[axis], e[axis] = start, start + size
        outs.append(slice_val(v, b, e, [1] * v.ndim))
        start += size
    return outs


@rule(lax.dynamic_slice_p)
@keeps_support
def _dynamic_slice(eqn: Any, ins: list[Val], ctx: Context) -> list[Val]:
    v = ins[0]
    sizes = eqn.params["slice_sizes"]
    starts = []
    for a in range(v.ndim):
        start = int(ctx.concrete(1 + a))
        starts.append(min(max(start, 0), v.shape[a] - sizes[a]))  # JAX clamps the start
    limits = [b + s for b, s in zip(starts, sizes, strict=True)]
    return [slice_val(v, starts, limits, [1] * v.ndim)]


@rule(lax.concatenate_p)
@keeps_support
def _concatenate(eqn: Any, ins: list[Val], ctx: Context) -> list[Val]:
    k = eqn.params["dimension"]
    shape = out_shape(eqn)
    vals = [v for v in ins if v.shape[k]]
    starts = np.cumsum([0] + [v.shape[k] for v in vals])
    # Holes stay a factor where the pieces have them in the same places across the joined axis.
    if any(v.support is not None for v in vals):
        across = [replace(v, support=_without(masks(v), k)) for v in vals]
        if not same_support(across):
            vals = [materialise(v) for v in vals]
    support = masks(vals[0]) if vals else []
    if any(masks(v)[k] is not None for v in vals):
        support[k] = np.concatenate(
            [np.ones(v.shape[k], bool) if masks(v)[k] is None else masks(v)[k] for v in vals]
        )

    def join(kind: str, s: int) -> np.ndarray:
        arrays = [v.table(kind)[s] for v in vals]
        target = [
            shape[a] if a != k and any(x.shape[a] != 1 for x in arrays) else 1
            for a in range(len(shape))
        ]
        arrays = [to_shape(x, target) for x in arrays]
        if all(x.shape[k] == 1 for x in arrays) and all(
            np.array_equal(x, arrays[0]) for x in arrays[1:]
        ):
            return arrays[0]  # the same all along the new axis
        return np.concatenate(
            [along(x, k, v.shape[k]) for x, v in zip(arrays, vals, strict=True)], axis=k
        )

    tags = [first_tag([v.tags[a] for v in vals]) if a != k else None for a in range(len(shape))]
    out = build(shape, tags, ctx.d, join)
    mapped = [i for i, v in enumerate(vals) if v.tags[k] is not None and v.tags[k].mapped]
    axis_tag = union_tag([v.tags[k] for v in vals])
    if mapped and axis_tag is not None:
        # The longest piece fixes the axis's coordinates; a piece that does not continue them
        # (a slice from the far end, a mirrored or repeated edge, a constant) is a boundary.
        ref = max(mapped, key=lambda i: vals[i].shape[k])
        rt = vals[ref].tags[k]
        assert rt is not None and rt.slope is not None and rt.offset is not None
        off = rt.offset - rt.slope * int(starts[ref])
        bad = np.zeros(shape[k], bool)
        for i, v in enumerate(vals):
            t = v.tags[k]
            ok = (
                t is not None
                and t.mapped
                and t.slope == rt.slope
                and t.offset == off + rt.slope * int(starts[i])
            )
            if not ok:
                bad[int(starts[i]) : int(starts[i + 1])] = True
        tags[k] = Tag(axis_tag.axes, rt.slope, off)
        out = mark_taint(
            Val(shape, out.lo, out.hi, out.taint, out.dense, tuple(tags)), axis_tag.axes, k, bad
        )
    else:
        tags[k] = axis_tag
        out = Val(shape, out.lo, out.hi, out.taint, out.dense, tuple(tags))
    return [supported(out, support) if vals else out]


def _without(support: list[np.ndarray | None], k: int) -> tuple[np.ndarray | None, ...]:
    return tuple(None if a == k else m for a, m in enumerate(support))


@rule(lax.pad_p)
@keeps_support
def _pad(eqn: Any, ins: list[Val], ctx: Context) -> list[Val]:
    v, fill = ins
    # Padding with a value that depends on nothing leaves holes: they go into the support
    # (tables uniform along the axis stay so; a taint there is kept, which only measures
    # fewer cells); a fill that depends on the input is written into every table.
    factor = inert(fill)
    if not factor:
        v = materialise(v)
    for a, (lo_p, hi_p, interior) in enumerate(eqn.params["padding_config"]):
        lo_p, hi_p, interior = int(lo_p), int(hi_p), int(interior)
        if (lo_p, hi_p, interior) == (0, 0, 0):
            continue
        n = v.shape[a]
        length = lo_p + hi_p + (n + (n - 1) * interior if n else 0)
        pos = lo_p + np.arange(n) * (interior + 1)

        def place(x: np.ndarray, kind: str, s: int, a=a, n=n, length=length, pos=pos) -> np.ndarray:
            f = fill.table(kind)[s].reshape(())
            if x.shape[a] == 1 and (factor or np.all(x == f)):
                return x  # padding with what is already everywhere, or held by the support
            return place_along(np.asarray(along(x, a, n)), a, length, pos, f)

        support = masks(v)
        if factor:
            mask = support[a]
            held = np.ones(n, bool) if mask is None else mask
            support[a] = place_along(held, 0, length, pos, False)

        shape = list(v.shape)
        shape[a] = length
        tags = list(v.tags)
        tag = tags[a]
        if tag is not None and tag.mapped:
            assert tag.slope is not None and tag.offset is not None
            slope = tag.slope / (interior + 1)
            tags[a] = tag.moved(slope, tag.offset - slope * lo_p)
        v = supported(each(v, shape, tags, place), support)
        if tag is not None:
            # Cells before the first and after the last source cell are padding: a boundary
            # rule. Interior cells (zero insertion) are holes of the unbounded domain too.
            q = np.arange(length)
            outside = (q < lo_p) | (q > lo_p + (n - 1) * (interior + 1))
            v = mark_taint(v, tag.axes, a, outside)
    return [v]
