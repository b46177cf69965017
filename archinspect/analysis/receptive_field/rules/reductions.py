"""Reductions and contractions: statistics over space and dense layers are global couplings.

A reduction over channels unites the reduced elements' tables; over a spatial axis it records a
global source and adds nothing to the stencil. A contraction (dot_general) over a spatial axis
is a dense layer over space: every element then depends on the whole axis.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from jax import lax

from archinspect.analysis.receptive_field.rules.registry import (
    Context,
    out_shape,
    rule,
)
from archinspect.analysis.receptive_field.rules.tables import (
    DTYPE,
    FILL,
    REDUCE,
    UNION,
    Val,
    build,
    each,
    first_tag,
)


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
    out: set[int] = set()
    for a in range(v.ndim):
        tag = v.tags[a]
        if a not in axes and tag is not None and tag.mapped and v.shape[a] > 1:
            out |= tag.axes
    return out


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
        ctx.record_global("normalization" if "Norm" in typ else "global pooling")
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
        spatial = {s for s in spatial_axes(v, contract) if v.nonempty(s)}
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
            # A dense layer over space: every element depends on the whole axis.
            dense = tuple(
                (part.lo[s] <= part.hi[s]) if s in spatial else part.dense[s] for s in range(ctx.d)
            )
            part = Val(shape, part.lo, part.hi, part.taint, dense, part.tags)
        parts.append(part)
    tags = (
        [first_tag([lhs.tags[a], rhs.tags[b]]) for a, b in zip(lb, rb, strict=True)]
        + [lhs.tags[a] for a in lf]
        + [rhs.tags[a] for a in rf]
    )
    left, right = parts
    return [build(shape, tags, ctx.d, lambda k, s: UNION[k](left.table(k)[s], right.table(k)[s]))]
