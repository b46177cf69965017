"""Reductions and contractions: statistics over space and dense layers are global couplings.

A reduction over channels unites the reduced elements' tables; over a spatial axis it records a
global source and adds nothing to the stencil. A contraction (dot_general) over a spatial axis
is a dense layer over space: every element then depends on the whole axis.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
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
    REDUCE,
    UNION,
    Tag,
    Val,
    build,
    compress,
    each,
    first_tag,
    fit_layout,
    inert,
    mark_taint,
)
from archinspect.errors import UnsupportedOperation


def spatial_axes(v: Val, axes: Sequence[int]) -> set[int]:
    out: set[int] = set()
    for a in axes:
        tag = v.tags[a]
        if tag is not None and not tag.freq and v.shape[a] > 1:
            out |= tag.axes
    return out


def windows(v: Val, axes: Sequence[int]) -> set[int]:
    """Spatial axes that a reduction over `axes` leaves in the result: reducing a sub-axis of
    a split axis (y.reshape(c, n // 2, 2).mean(-1)) while its coarse axis stays is a window
    (the union of the reduced elements' hulls), not a statistic over space."""
    kept: set[int] = set()
    reduced: set[int] = set()
    for a in range(v.ndim):
        tag = v.tags[a]
        if tag is not None and tag.mapped and v.shape[a] > 1:
            (reduced if a in axes else kept).update(tag.axes)
    # Reducing a mapped axis is a statistic over space even where another axis along the same
    # input axis stays (x[i] * sum_j x[j], attention scores contracted over the keys).
    return kept - reduced


def reduce_table(x: np.ndarray, kind: str, axes: Sequence[int], keepdims: bool) -> np.ndarray:
    ax = tuple(a for a in axes if x.shape[a] != 1)
    out = REDUCE[kind](x, axis=ax, keepdims=True) if ax else x
    return out if keepdims else np.squeeze(out, axis=tuple(axes))


@rule(
    lax.argmax_p,
    lax.argmin_p,
    lax.reduce_and_p,
    lax.reduce_max_p,
    lax.reduce_min_p,
    lax.reduce_or_p,
    lax.reduce_prod_p,
    lax.reduce_sum_p,
    lax.reduce_xor_p,
)
def _reduce(eqn: Any, ins: list[Val], ctx: Context) -> list[Val]:
    v = ins[0]
    axes = tuple(int(a) for a in eqn.params["axes"])
    spatial = {s for s in spatial_axes(v, axes) if v.nonempty(s)} - windows(v, axes)
    if spatial:
        # Statistics over space: a global coupling, not part of the stencil.
        path, typ = ctx.module()
        kind = "normalization" if "Norm" in typ else "global pooling"
        ctx.record_global(kind)
        if kind == "global pooling":
            ctx.pool(v)
    keep = [a for a in range(v.ndim) if a not in axes]
    shape = out_shape(eqn)
    tags = tuple(v.tags[a] for a in keep)
    one = (1,) * len(shape)

    def reduce(x: np.ndarray, kind: str, s: int) -> np.ndarray:
        if s in spatial:
            return np.full(one, FILL[kind], DTYPE[kind])
        return reduce_table(x, kind, axes, keepdims=False)

    return [each(v, shape, tags, reduce)]


# ----------------------------------------------------------------------------- contractions


@rule(lax.dot_general_p)
def _dot_general(eqn: Any, ins: list[Val], ctx: Context) -> list[Val]:
    lhs, rhs = ins
    for i in (0, 1):
        if not inert(ins[i]) and inert(ins[1 - i]):
            value = _constant(ctx, ins, 1 - i)
            if value is not None:
                return [_constant_contraction(eqn, ins[i], i, value, ctx)]
    return [_learned_contraction(eqn, ins, ctx)]


# A constant operand is evaluated (iota, comparisons, literals: an interpolation matrix) up to
# this many elements; a larger one is treated as a learned one.
MAX_CONSTANT = 1 << 24
# Elements of the largest intermediate (output x contracted positions) a constant contraction
# may need to unite the hulls the constant's nonzeros select.
MAX_PRODUCT = 1 << 26


def _constant(ctx: Context, ins: list[Val], i: int) -> np.ndarray | None:
    if math.prod(ins[i].shape) > MAX_CONSTANT:
        return None
    try:
        return np.asarray(ctx.concrete(i))
    except UnsupportedOperation:
        return None  # a weight: known only at run time


def _numbers(eqn: Any, i: int, ndims: tuple[int, int]) -> tuple[list[int], list[int], list[int]]:
    """(contracted, batch, free) axes of operand i."""
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    contract, batch = (
        ([int(a) for a in lc], [int(a) for a in lb])
        if i == 0
        else (
            [int(a) for a in rc],
            [int(a) for a in rb],
        )
    )
    free = [a for a in range(ndims[i]) if a not in contract and a not in batch]
    return contract, batch, free


def _constant_contraction(eqn: Any, v: Val, i: int, value: np.ndarray, ctx: Context) -> Val:
    """A contraction with a constant operand (an interpolation or shift matrix): an output
    element depends on the union of the hulls of the elements it multiplies by a nonzero.
    Along a spatial axis contracted away, the constant's free axis takes its place, with the
    layout its nonzeros give (`fit_layout`); positions off it (cut at the ends) are boundary
    cells. A constant that gives every output the same cells (dense) is a dense layer over
    space; one that leaves no axis in place of a spatial one, a statistic over space."""
    shape = out_shape(eqn)
    ndims = (v.ndim, value.ndim) if i == 0 else (value.ndim, v.ndim)
    cv, bv, fv = _numbers(eqn, i, ndims)
    cc, bc, fc = _numbers(eqn, 1 - i, ndims)
    mask = value != 0
    nb, nc = len(bv), len(cv)
    # Both operands as [batch, lhs free, rhs free, contracted], with unit axes where absent.
    m = mask.transpose(bc + fc + cc)
    x_axes = bv + fv + cv

    def expand_v(x: np.ndarray) -> np.ndarray:
        y = x.transpose(x_axes)
        b, f, c = y.shape[:nb], y.shape[nb : nb + len(fv)], y.shape[nb + len(fv) :]
        mid = f + (1,) * len(fc) if i == 0 else (1,) * len(fc) + f
        return y.reshape(b + mid + c)

    mb, mf, mc = m.shape[:nb], m.shape[nb : nb + len(fc)], m.shape[nb + len(fc) :]
    m = m.reshape(mb + ((1,) * len(fv) + mf if i == 0 else mf + (1,) * len(fv)) + mc)
    red = tuple(range(len(shape), len(shape) + nc))
    m_any = m.any(axis=red)

    def table(kind: str, s: int) -> np.ndarray:
        x = expand_v(v.table(kind)[s])
        if all(x.shape[a] == 1 for a in red):
            y = np.where(m_any, x.reshape(x.shape[: len(shape)]), FILL[kind])
        else:
            size = math.prod(np.broadcast_shapes(x.shape, m.shape))
            if size > MAX_PRODUCT:
                raise unsupported(
                    eqn, ctx, f"a contraction with a constant of {size:,} products to unite"
                )
            y = REDUCE[kind](np.where(m, x, FILL[kind]), axis=red)
        return compress(np.asarray(y, DTYPE[kind]))

    out = build(shape, [None] * len(shape), ctx.d, table)
    tags: list[Tag | None] = [first_tag([v.tags[a]]) for a in bv]
    tags += [v.tags[a] for a in fv] if i == 0 else [None] * len(fc)
    tags += [None] * len(fc) if i == 0 else [v.tags[a] for a in fv]
    first_c = nb + (len(fv) if i == 0 else 0)  # output axis of the constant's first free axis
    spatial = {s for s in spatial_axes(v, cv) if v.nonempty(s)} - windows(v, cv)
    dense: set[int] = set()
    for s in sorted(spatial):
        mapped = [k for k, a in enumerate(cv) if _maps(v.tags[a], s)]
        big = [j for j, a in enumerate(fc) if value.shape[a] > 1]
        if not big:
            # A weighted sum over the whole axis (x @ ones(n) / n): a statistic over space.
            ctx.record_global("global pooling")
            ctx.pool(v)
            out = _emptied(out, s)
            continue
        if len(mapped) != 1 or len(big) != 1:
            dense.add(s)
            continue
        k, j = mapped[0], big[0]
        tag = v.tags[cv[k]]
        assert tag is not None
        # The cells each position of the constant's free axis reads along the contracted one.
        along = np.moveaxis(mask, [fc[j], cc[k]], [0, 1])
        reads = along.reshape(along.shape[0], along.shape[1], -1).any(axis=2)
        coord = tag.coord(np.arange(reads.shape[1], dtype=float))
        known = reads.any(axis=1)
        lo = np.where(reads, coord, np.inf).min(axis=1)
        hi = np.where(reads, coord, -np.inf).max(axis=1)
        lo, hi = np.where(known, lo, 0.0), np.where(known, hi, 0.0)
        fit = fit_layout(lo[None], hi[None], known[None])
        axis = first_c + j
        if fit is not None and fit.slope == 0:
            dense.add(s)  # every output reads the same cells: a dense layer over space
            continue
        if fit is None:
            why = (
                "a contraction with a constant matrix that permutes the cells of a spatial "
                f"axis non-periodically, in {where(ctx)}"
            )
            tags[axis] = Tag(frozenset({s}), why=why, settle=True)
            continue
        why = (
            ""
            if fit.slope > 0
            else f"a contraction with a constant matrix that reverses "
            f"the cells of a spatial axis, in {where(ctx)}"
        )
        tags[axis] = Tag(frozenset({s}), fit.slope, fit.offset, period=fit.period, why=why)
        out = mark_taint(out, {s}, axis, known & ~fit.on[0])
    out = Val(shape, out.lo, out.hi, out.taint, out.dense, tuple(tags))
    if dense:
        ctx.record_global("dense over space")
        out = _densified(out, dense)
    return out


def _maps(tag: Tag | None, s: int) -> bool:
    return tag is not None and tag.mapped and s in tag.axes


def _emptied(v: Val, s: int) -> Val:
    """v with no dependency along spatial axis s (a statistic over it adds nothing)."""
    one = (1,) * v.ndim
    return each(
        v, v.shape, v.tags, lambda x, k, t: np.full(one, FILL[k], DTYPE[k]) if t == s else x
    )


def _densified(v: Val, spatial: set[int]) -> Val:
    """Every element that depends on axis s depends on all of it (a dense layer over space)."""
    dense = tuple((v.lo[s] <= v.hi[s]) if s in spatial else v.dense[s] for s in range(v.d))
    return Val(v.shape, v.lo, v.hi, v.taint, dense, v.tags)


def _learned_contraction(eqn: Any, ins: list[Val], ctx: Context) -> Val:
    """A contraction of two operands known only at run time (a weight and the data, or two
    data values): over a spatial axis that does not stay in the result it is a dense layer over
    space; over a sub-axis of a split one (a phase) the union of the contracted elements."""
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    lhs, rhs = ins
    lf = [a for a in range(lhs.ndim) if a not in lc and a not in lb]
    rf = [a for a in range(rhs.ndim) if a not in rc and a not in rb]
    shape = out_shape(eqn)
    parts = []
    for v, contract, batch, free, before, after in (
        (lhs, lc, lb, lf, 0, len(rf)),
        (rhs, rc, rb, rf, len(lf), 0),
    ):
        spatial = {s for s in spatial_axes(v, contract) if v.nonempty(s)} - windows(v, contract)
        if spatial:
            ctx.record_global("dense over space")
        keep = [a for a in range(v.ndim) if a not in contract]
        order = [keep.index(a) for a in batch] + [keep.index(a) for a in free]
        nb = len(batch)

        def arrange(
            x: np.ndarray,
            kind: str,
            s: int,
            contract=contract,
            order=order,
            nb=nb,
            before=before,
            after=after,
        ) -> np.ndarray:
            y = reduce_table(x, kind, contract, keepdims=False).transpose(order)
            return y.reshape(y.shape[:nb] + (1,) * before + y.shape[nb:] + (1,) * after)

        part = each(v, shape, (None,) * len(shape), arrange)
        if spatial:
            part = _densified(part, spatial)
        parts.append(part)
    tags = (
        [first_tag([lhs.tags[a], rhs.tags[b]]) for a, b in zip(lb, rb, strict=True)]
        + [lhs.tags[a] for a in lf]
        + [rhs.tags[a] for a in rf]
    )
    left, right = parts
    return build(shape, tags, ctx.d, lambda k, s: UNION[k](left.table(k)[s], right.table(k)[s]))
