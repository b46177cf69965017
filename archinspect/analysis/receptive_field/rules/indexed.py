"""Data movement with index arrays: scatter, gather and dynamic_update_slice.

Strided and windowed writes are placed axis by axis; otherwise every cell's source is found
element by element (with the indices fixed at trace time) and the axes' coordinate maps are
fitted again from where the cells came from.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from jax import lax

from archinspect.analysis.receptive_field.rules.movement import where
from archinspect.analysis.receptive_field.rules.registry import (
    Context,
    out_shape,
    rule,
    unsupported,
)
from archinspect.analysis.receptive_field.rules.tables import (
    DTYPE,
    FILL,
    UNION,
    Tag,
    Val,
    build,
    compress,
    fit_layout,
    inert,
    mark_taint,
)
from archinspect.errors import UnsupportedOperation


def _coords(v: Val, s: int) -> np.ndarray | None:
    """The input coordinate along spatial axis s of every element (NaN where unknown)."""
    for a, tag in enumerate(v.tags):
        if tag is not None and tag.mapped and s in tag.axes:
            shp = [1] * v.ndim
            shp[a] = v.shape[a]
            c = tag.coord(np.arange(v.shape[a], dtype=float)).reshape(shp)
            return np.broadcast_to(c, v.shape)
    return None


def _fit(coord: np.ndarray, s: int, where: str) -> tuple[int | None, Tag | None, np.ndarray]:
    """The array axis along which `coord` runs, its layout, and the elements that break it.

    Used after scatters and gathers, whose placement is only known element by element: the
    layout is the affine map plus a periodic deviation that most elements follow (`fit_layout`:
    even cells reading q - 1 and odd ones q + 1 is a layout of period 2); elements off it, and
    empty elements outside the span of those on it, are boundary cells. Cells that follow no
    periodic layout, or run backwards, are refused where they reach the output.
    """
    known = ~np.isnan(coord)
    taint = np.zeros(coord.shape, bool)
    if not known.any():
        return None, None, taint
    varying = []
    for a in range(coord.ndim):
        if coord.shape[a] < 2:
            continue
        c = np.moveaxis(coord, a, -1)
        k = np.moveaxis(known, a, -1)
        diffs = c[..., 1:] - c[..., :-1]
        both = k[..., 1:] & k[..., :-1]
        if np.any(both & (diffs != 0)):
            varying.append(a)
    if len(varying) != 1:
        return None, None, taint
    a = varying[0]
    c = np.moveaxis(coord, a, -1)
    k = np.moveaxis(known, a, -1)
    n = c.shape[-1]
    lines = np.where(k, c, 0.0).reshape(-1, n)
    fit = fit_layout(lines, lines, k.reshape(-1, n))
    if fit is None or fit.slope == 0:
        why = f"a gather or scatter that permutes the cells of array axis {a} in {where}"
        return a, Tag(frozenset({s}), why=why, settle=fit is None), taint
    on = fit.on.reshape(c.shape)
    q = np.arange(n, dtype=float)
    bad = k & ~on
    idx = np.where(on, q, np.nan)
    with np.errstate(all="ignore"):
        first = np.nanmin(np.where(on.any(-1, keepdims=True), idx, np.inf), axis=-1, keepdims=True)
        last = np.nanmax(np.where(on.any(-1, keepdims=True), idx, -np.inf), axis=-1, keepdims=True)
    outside = ~k & ((q < first) | (q > last))
    taint = np.moveaxis(bad | outside, -1, a)
    why = "" if fit.slope > 0 else f"a gather or scatter that reverses array axis {a} in {where}"
    return a, Tag(frozenset({s}), fit.slope, fit.offset, period=fit.period, why=why), taint


def _refit(
    v: Val, coords: dict[int, np.ndarray], fallback: Sequence[Tag | None], where: str
) -> Val:
    """Tags of a scatter's or gather's result from where its cells came from (see `_fit`)."""
    tags = list(fallback)
    taint = list(v.taint)
    for s, coord in coords.items():
        a, tag, bad = _fit(coord, s, where)
        if a is None or tag is None:
            continue
        taint[s] = compress(np.broadcast_to(taint[s], v.shape) | bad)
        tags[a] = tag
    return Val(v.shape, v.lo, v.hi, tuple(taint), v.dense, tuple(tags))


def _moved(
    sources: list[Val], shape: tuple[int, ...], src: np.ndarray, d: int, tags: Sequence[Tag | None]
) -> Val:
    """Cell i of the result is cell src[i] of the concatenated, flattened sources (-1: none)."""
    flat = src.reshape(-1)

    def take(kind: str, s: int) -> np.ndarray:
        parts = [np.broadcast_to(v.table(kind)[s], v.shape).reshape(-1) for v in sources]
        parts.append(np.full(1, FILL[kind], DTYPE[kind]))
        pool = np.concatenate(parts)
        return compress(pool[np.where(flat < 0, pool.size - 1, flat)].reshape(shape))

    return build(shape, tags, d, take)


def _moved_coords(
    sources: list[Val], shape: tuple[int, ...], src: np.ndarray, d: int
) -> dict[int, np.ndarray]:
    flat = src.reshape(-1)
    coords = {}
    for s in range(d):
        found = [_coords(v, s) for v in sources]
        if all(c is None for c in found):
            continue
        parts = [
            np.full(math.prod(v.shape), np.nan) if c is None else np.asarray(c, float).reshape(-1)
            for v, c in zip(sources, found, strict=True)
        ]
        parts.append(np.full(1, np.nan))
        pool = np.concatenate(parts)
        coords[s] = pool[np.where(flat < 0, pool.size - 1, flat)].reshape(shape)
    return coords


@dataclass
class _AxisPlacement:
    """Where an update lands along one operand axis: update axis `source` (None: the update has
    no such axis) at operand positions `pos` (one per update position, or one constant)."""

    source: int | None
    pos: np.ndarray


def _placement(
    eqn: Any, operand: Val, updates: Val, indices: np.ndarray
) -> list[_AxisPlacement] | None:
    """The scatter as a placement axis by axis, when it is one (strided and windowed writes
    such as x.at[:, ::2].set(y) or x.at[:, :m].set(y)); None otherwise."""
    dn = eqn.params["dimension_numbers"]
    if getattr(dn, "operand_batching_dims", ()) or indices.ndim == 0:
        return None
    window = list(dn.update_window_dims)
    batch = [u for u in range(updates.ndim) if u not in window]
    if tuple(indices.shape[:-1]) != tuple(updates.shape[u] for u in batch):
        return None
    comps: dict[int, tuple[int | None, np.ndarray]] = {}  # operand axis -> (batch axis, pos)
    used: set[int] = set()
    for j, o in enumerate(dn.scatter_dims_to_operand_dims):
        c = indices[..., j]
        moving = [b for b in range(c.ndim) if c.shape[b] > 1 and np.ptp(c, axis=b).any()]
        if not moving:
            comps[o] = (None, c.reshape(-1)[:1])
            continue
        if len(moving) > 1 or moving[0] in used:
            return None
        b = moving[0]
        line = np.moveaxis(c, b, 0).reshape(c.shape[b], -1)[:, 0]
        if not np.array_equal(
            np.moveaxis(c, b, 0),
            np.broadcast_to(line.reshape((-1,) + (1,) * (c.ndim - 1)), np.moveaxis(c, b, 0).shape),
        ):
            return None
        used.add(b)
        comps[o] = (b, line)
    if any(updates.shape[batch[b]] > 1 and b not in used for b in range(len(batch))):
        return None  # several updates land on the same cells
    inserted = set(dn.inserted_window_dims)
    window_axes = [o for o in range(operand.ndim) if o not in inserted]
    out: list[_AxisPlacement] = []
    source: int | None
    for o in range(operand.ndim):
        moved_by, start = comps.get(o, (None, np.zeros(1, np.int64)))
        if o in inserted:
            source = None if moved_by is None else batch[moved_by]
            pos = start
        else:
            w = window[window_axes.index(o)]
            if moved_by is not None:
                return None  # a window that also moves with the batch
            source, pos = w, int(start[0]) + np.arange(updates.shape[w])
        if np.any(pos < 0) or np.any(pos >= operand.shape[o]):
            return None  # partly out of bounds: leave it to the general rule
        out.append(_AxisPlacement(source, np.asarray(pos, np.int64)))
    return out


def _off_map(t_op: Tag, t_up: Tag | None, p: _AxisPlacement, n: int) -> np.ndarray:
    """Cells of the operand's axis (n long) that a write along it leaves off the axis's map.

    A write whose cells sit at their own coordinates keeps the map; one that puts them at the
    operand's coordinates shifted by one constant over most of the axis (x.at[:, 1:].set(x[:,
    :-1]), a roll by scatter) is a translation: as for a concatenation, the larger part fixes
    the axis, and the cells kept from the operand, or written with another shift (wrapped
    around), are the boundary. Any other write marks the cells it writes.
    """
    written = np.zeros(n, bool)
    written[p.pos] = True
    if t_up is None or not t_up.mapped or p.source is None or t_up.slope != t_op.slope:
        return written
    gap = np.round(t_up.coord(np.arange(len(p.pos))) - t_op.coord(p.pos), 9)
    values, counts = np.unique(gap, return_counts=True)
    common = values[np.argmax(counts)]
    on = np.zeros(n, bool)
    on[p.pos[gap == common]] = True
    if 2 * on.sum() <= n:
        return written
    return ~on


def _uneven(operand: Val, updates: Val, axes: list[_AxisPlacement]) -> bool:
    """Whether a spatial update lands in a background array other than evenly, in order (a
    scatter-add of cells 2j and 2j + 1 into cell j: several cells into one). `_placed` maps
    only an even placement (zero insertion); the others are placed element by element."""
    for o, p in enumerate(axes):
        t_up = updates.tags[p.source] if p.source is not None else None
        if t_up is None or not t_up.mapped or operand.tags[o] is not None or len(p.pos) < 2:
            continue
        steps = np.diff(p.pos)
        if steps[0] <= 0 or np.any(steps != steps[0]):
            return True
    return False


def _placed(operand: Val, updates: Val, axes: list[_AxisPlacement], combine: bool, d: int) -> Val:
    """`updates` written into `operand` axis by axis (set, or union for combining scatters)."""
    order = [p.source for p in axes if p.source is not None]
    missing = [u for u in range(updates.ndim) if u not in order]

    def write(kind: str, s: int) -> np.ndarray:
        op = operand.table(kind)[s]
        up = (
            np.squeeze(updates.table(kind)[s], axis=tuple(missing))
            if missing
            else updates.table(kind)[s]
        )
        # Updates in operand-axis order, with a unit axis where the update has none.
        rank = {u: i for i, u in enumerate(sorted(order))}
        up = up.transpose([rank[u] for u in order]) if order else up
        shp, k = [], 0
        for p in axes:
            if p.source is None:
                shp.append(1)
            else:
                shp.append(up.shape[k])
                k += 1
        up = up.reshape(shp)
        full = [
            n
            if (
                op.shape[o] != 1
                or up.shape[o] != 1
                or len(p.pos) != n
                or not np.array_equal(np.sort(p.pos), np.arange(n))
            )
            else 1
            for o, (n, p) in enumerate(zip(operand.shape, axes, strict=True))
        ]
        res = np.array(
            np.broadcast_to(op, [f if f != 1 else op.shape[o] for o, f in enumerate(full)])
        )
        res = np.array(np.broadcast_to(res, full))
        index = np.ix_(
            *(p.pos if full[o] != 1 else np.zeros(1, np.int64) for o, p in enumerate(axes))
        )
        grid = tuple(len(ix.reshape(-1)) for ix in index)
        vals = np.broadcast_to(up, grid)
        if combine:
            UNION[kind].at(res, index, vals)
        else:
            res[index] = vals
        return compress(res)

    out = build(operand.shape, operand.tags, d, write)
    tags = list(operand.tags)
    for o, p in enumerate(axes):
        t_op = operand.tags[o]
        t_up = updates.tags[p.source] if p.source is not None else None
        if t_op is not None and t_op.mapped:
            ok = (
                t_up is not None
                and t_up.mapped
                and p.source is not None
                and np.allclose(t_up.coord(np.arange(len(p.pos))), t_op.coord(p.pos))
            )
            if not ok:
                out = mark_taint(out, t_op.axes, o, _off_map(t_op, t_up, p, operand.shape[o]))
        elif t_up is not None and t_up.mapped and t_op is None:
            # A spatial update written into a background array (zero insertion): the result's
            # cells take the update's coordinates; background cells beyond the first and last
            # written cell are padding, those in between are holes.
            assert t_up.slope is not None and t_up.offset is not None
            step = int(p.pos[1] - p.pos[0]) if len(p.pos) > 1 else 1
            slope = t_up.slope / step
            tags[o] = Tag(t_up.axes, slope, t_up.offset - slope * int(p.pos[0]))
            q = np.arange(operand.shape[o])
            out = mark_taint(out, t_up.axes, o, (q < p.pos.min()) | (q > p.pos.max()))
        elif t_op is None and t_up is not None:
            tags[o] = t_up
    return Val(out.shape, out.lo, out.hi, out.taint, out.dense, tuple(tags))


@rule(
    lax.scatter_p,
    lax.scatter_add_p,
    lax.scatter_max_p,
    lax.scatter_min_p,
    lax.scatter_mul_p,
    lax.scatter_sub_p,
)
def _scatter(eqn: Any, ins: list[Val], ctx: Context) -> list[Val]:
    import jax

    operand, _, updates = ins[0], ins[1], ins[2]
    indices = np.asarray(ctx.concrete(1))
    axes = _placement(eqn, operand, updates, indices)
    if axes is not None and not _uneven(operand, updates, axes):
        return [_placed(operand, updates, axes, eqn.primitive is not lax.scatter_p, ctx.d)]
    _check_size(eqn, ctx, operand, updates)
    p = eqn.params
    kw = dict(
        dimension_numbers=p["dimension_numbers"],
        indices_are_sorted=p["indices_are_sorted"],
        unique_indices=p["unique_indices"],
        mode=p["mode"],
    )
    n_op = math.prod(operand.shape)
    op_ids = np.arange(n_op, dtype=np.int32).reshape(operand.shape)
    up_ids = (n_op + np.arange(math.prod(updates.shape), dtype=np.int32)).reshape(updates.shape)
    # Which source each cell holds after a set-scatter (the last write, as JAX does it).
    src = np.asarray(jax.lax.scatter(op_ids, indices, up_ids, **kw))
    out = _moved([operand, updates], operand.shape, src, ctx.d, operand.tags)
    if eqn.primitive is not lax.scatter_p:
        # Combining scatters (add, mul, min, max): a cell holds the operand and every update
        # that lands on it, so take the union over all of them.
        def combine(kind: str, s: int) -> np.ndarray:
            fn = jax.lax.scatter_max if kind != "lo" else jax.lax.scatter_min
            base = np.broadcast_to(operand.table(kind)[s], operand.shape).astype(np.float32)
            upd = np.broadcast_to(updates.table(kind)[s], updates.shape).astype(np.float32)
            res = np.asarray(fn(base, indices, upd, **kw))
            return compress(res.astype(DTYPE[kind]) if kind in ("lo", "hi") else res > 0)

        out = build(operand.shape, operand.tags, ctx.d, combine)
    coords = _moved_coords([operand, updates], operand.shape, src, ctx.d)
    # Axes the updates' windows run along keep their tags (Fourier axes have no coordinates).
    dn = p["dimension_numbers"]
    skipped = set(dn.inserted_window_dims) | set(getattr(dn, "operand_batching_dims", ()))
    fallback = list(operand.tags)
    op_axes = [a for a in range(operand.ndim) if a not in skipped]
    for ua, oa in zip(dn.update_window_dims, op_axes, strict=False):
        if fallback[oa] is None and updates.shape[ua] == operand.shape[oa]:
            fallback[oa] = updates.tags[ua]
    return [_refit(out, coords, fallback, where(ctx))]


@rule(lax.gather_p)
def _gather(eqn: Any, ins: list[Val], ctx: Context) -> list[Val]:
    import jax

    operand = ins[0]
    indices = np.asarray(ctx.concrete(1))
    _check_size(eqn, ctx, operand)
    p = eqn.params
    ids = np.arange(math.prod(operand.shape), dtype=np.int32).reshape(operand.shape)
    src = np.asarray(
        jax.lax.gather(
            ids,
            indices,
            p["dimension_numbers"],
            p["slice_sizes"],
            indices_are_sorted=p["indices_are_sorted"],
            unique_indices=p["unique_indices"],
            mode=p["mode"],
            fill_value=-1,
        )
    )
    shape = out_shape(eqn)
    dn = p["dimension_numbers"]
    skipped = set(dn.collapsed_slice_dims) | set(getattr(dn, "operand_batching_dims", ()))
    fallback: list[Tag | None] = [None] * len(shape)
    op_axes = [a for a in range(operand.ndim) if a not in skipped]
    for oa_out, oa in zip(dn.offset_dims, op_axes, strict=False):
        tag = operand.tags[oa]
        if tag is not None and shape[oa_out] == operand.shape[oa]:
            fallback[oa_out] = tag if not tag.mapped else tag.unmapped()
    out = _moved([operand], shape, src, ctx.d, fallback)
    return [_refit(out, _moved_coords([operand], shape, src, ctx.d), fallback, where(ctx))]


@rule(lax.dynamic_update_slice_p)
def _dynamic_update_slice(eqn: Any, ins: list[Val], ctx: Context) -> list[Val]:
    operand, update = ins[0], ins[1]
    axes = []
    for a in range(operand.ndim):
        start = int(ctx.concrete(2 + a))
        start = min(max(start, 0), operand.shape[a] - update.shape[a])  # JAX clamps the start
        axes.append(_AxisPlacement(a, start + np.arange(update.shape[a])))
    return [_placed(operand, update, axes, False, ctx.d)]


# Element-by-element scatters and gathers index every cell: refuse sizes that would not fit.
MAX_ELEMENTS = 1 << 24


def _check_size(eqn: Any, ctx: Context, *vals: Val) -> None:
    if max(math.prod(v.shape) for v in vals) > MAX_ELEMENTS:
        raise unsupported(
            eqn,
            ctx,
            f"a '{eqn.primitive.name}' over more than "
            f"{MAX_ELEMENTS:,} elements that is not a strided or windowed write",
        )


# ----------------------------------------------------------------------------- selections


@rule(lax.select_n_p)
def _select_n(eqn: Any, ins: list[Val], ctx: Context) -> list[Val]:
    """select_n(which, *cases): with `which` fixed at trace time (where(arange(n) < k, ...)),
    an element depends on the case it takes only; a case taken nowhere is dead. Along a
    spatial axis the choice must repeat periodically (elements off the pattern, at the ends,
    are boundary cells), else the dependency moves with the position and is refused where it
    reaches the output. With `which` computed from the data, the union of all operands."""
    from archinspect.analysis.receptive_field.rules.elementwise import union_val

    shape = out_shape(eqn)
    which = _fixed(eqn, ins, ctx)
    if which is None:
        return [union_val(shape, ins, ctx.d)]
    which = np.broadcast_to(which.astype(np.int64), shape)
    cases = ins[1:]
    live = [c for c in range(len(cases)) if np.any(which == c)]
    if len(live) == 1:
        return [union_val(shape, [cases[live[0]]], ctx.d)]
    each_case = [union_val(shape, [cases[c]], ctx.d) for c in live]

    def choose(kind: str, s: int) -> np.ndarray:
        out = np.broadcast_to(each_case[0].table(kind)[s], shape)
        for c, val in zip(live[1:], each_case[1:], strict=True):
            out = np.where(which == c, val.table(kind)[s], out)
        return compress(np.asarray(out))

    tags = list(union_val(shape, [cases[c] for c in live], ctx.d).tags)
    out = build(shape, tags, ctx.d, choose)
    for a, tag in enumerate(tags):
        if tag is None or not tag.mapped or shape[a] < 2:
            continue
        lines = np.moveaxis(which, a, -1).reshape(-1, shape[a]).astype(float)
        if np.all(lines == lines[:, :1]):
            continue
        fit = fit_layout(lines, lines, np.ones(lines.shape, bool), slope0=True)
        if fit is None:
            why = f"a selection fixed at trace time that varies along array axis {a} "
            tags[a] = Tag(tag.axes, why=why + f"non-periodically, in {where(ctx)}")
            continue
        tags[a] = replace(tag, period=math.lcm(tag.period, fit.period))
        off = ~np.moveaxis(fit.on.reshape(np.moveaxis(which, a, -1).shape), -1, a)
        taint = list(out.taint)
        for s in tag.axes:
            taint[s] = compress(np.broadcast_to(taint[s], shape) | off)
        out = Val(shape, out.lo, out.hi, tuple(taint), out.dense, out.tags)
    return [Val(shape, out.lo, out.hi, out.taint, out.dense, tuple(tags))]


def _fixed(eqn: Any, ins: list[Val], ctx: Context) -> np.ndarray | None:
    """The value of a selection's `which` when it is fixed at trace time (and not huge)."""
    if not inert(ins[0]) or math.prod(out_shape(eqn)) > MAX_ELEMENTS:
        return None
    try:
        return np.asarray(ctx.concrete(0))
    except UnsupportedOperation:
        return None
