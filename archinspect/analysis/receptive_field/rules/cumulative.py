"""Operations along one axis whose elements read a prefix of it, or all of it.

- Cumulative operations (cumsum, cumprod, cummax, cummin, cumlogsumexp): element i reads
  elements 0..i of its axis (i..n-1 with `reverse`), so its tables are the union over that
  prefix, a running minimum of `lo` and maximum of `hi`: exact. Over channels that is all.
  Along a spatial axis every cell depends on every earlier cell, up to the edge of the input:
  how far it reaches is the size of the input (on an unbounded domain, infinitely far), not a
  property of the network, and what the first cell reads depends on the boundary. Like a dense
  layer over space (a cumulative sum is one, with a triangular matrix), it is reported as the
  whole axis (the README's convention, the number of points) and recorded as a global
  coupling, "cumulative over space"; the hulls stay exact for what follows.
- Sorts (sort, argsort: a sort carrying an iota, top_k, approx_max_k): any element of the
  result may come from any element of the axis, so every element reads the whole axis (the
  union over it). Along a spatial axis that is a dense layer over space: the whole axis (the
  README's convention, the number of points), recorded as a global coupling, "sort over
  space".
"""

from __future__ import annotations

from typing import Any

import numpy as np
from jax import lax

from archinspect.analysis.receptive_field.rules.elementwise import union_val
from archinspect.analysis.receptive_field.rules.reductions import reduce_table, spatial_axes
from archinspect.analysis.receptive_field.rules.registry import Context, out_shape, rule
from archinspect.analysis.receptive_field.rules.tables import UNION, Tag, Val, each


@rule(lax.cumsum_p, lax.cumprod_p, lax.cummax_p, lax.cummin_p, lax.cumlogsumexp_p)
def _cumulative(eqn: Any, ins: list[Val], ctx: Context) -> list[Val]:
    v = ins[0]
    a = int(eqn.params["axis"])
    reverse = bool(eqn.params["reverse"])
    spatial = {s for s in spatial_axes(v, (a,)) if v.nonempty(s)}
    if spatial:
        ctx.record_global("cumulative over space")

    def prefix(x: np.ndarray, kind: str, s: int) -> np.ndarray:
        if x.shape[a] == 1:
            return x  # the same all along the axis: so is every union over a prefix
        if reverse:
            return np.flip(UNION[kind].accumulate(np.flip(x, a), axis=a), a)
        return UNION[kind].accumulate(x, axis=a)

    return [dense_along(each(v, v.shape, v.tags, prefix), spatial)]


def dense_along(v: Val, spatial: set[int]) -> Val:
    """v, every element that depends on something along the `spatial` axes marked as
    depending on the whole axis (a dense coupling over space)."""
    if not spatial:
        return v
    dense = tuple(
        (v.lo[s] <= v.hi[s]) | v.dense[s] if s in spatial else v.dense[s] for s in range(v.d)
    )
    return Val(v.shape, v.lo, v.hi, v.taint, dense, v.tags)


def whole_axis(v: Val, a: int, length: int, ctx: Context, kind: str) -> Val:
    """Every element of the result (`length` long along `a`) reads every element of v's axis
    `a`; along a spatial axis that is a dense coupling over space, recorded as `kind`."""
    spatial = {s for s in spatial_axes(v, (a,)) if v.nonempty(s)}
    if spatial:
        ctx.record_global(kind)
    shape = list(v.shape)
    shape[a] = length
    tags: list[Tag | None] = list(v.tags)
    tag = tags[a]
    if length != v.shape[a] and tag is not None:
        tags[a] = tag.unmapped()  # top_k's k results sit nowhere along the axis
    out = each(v, shape, tags, lambda x, k, s: reduce_table(x, k, (a,), keepdims=True))
    return dense_along(out, spatial)


@rule(lax.sort_p)
def _sort(eqn: Any, ins: list[Val], ctx: Context) -> list[Val]:
    # The operands are permuted together, in the order of the first num_keys of them: output j
    # at i is operand j at the position the keys put there.
    a = int(eqn.params["dimension"])
    keys = ins[: int(eqn.params["num_keys"])]
    return [
        whole_axis(union_val(v.shape, keys + [v], ctx.d), a, v.shape[a], ctx, "sort over space")
        for v in ins
    ]


@rule(lax.top_k_p, lax.approx_top_k_p)
def _top_k(eqn: Any, ins: list[Val], ctx: Context) -> list[Val]:
    v = ins[0]
    a = int(eqn.params.get("axis", eqn.params.get("reduction_dimension", -1))) % v.ndim
    shape = out_shape(eqn)
    out = whole_axis(v, a, shape[a], ctx, "sort over space")
    return [out, out]  # the values and their indices
