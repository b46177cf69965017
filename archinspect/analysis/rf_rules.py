"""Dependency tables and one exact rule per jaxpr primitive, for the structural receptive field.

Every array value of the traced forward pass carries, for each of its elements, the interval
hull [lo, hi] of the input cells it depends on along each input spatial axis (tables that
broadcast like the array, so a value that is the same for every channel stores one row). Hulls
compose exactly for convolutional networks because their cones are monotone in the position;
per-axis hulls are projections, and the projection of a union is the union of projections.

Three more things travel with the tables:
- `taint`: the element was computed with a boundary rule (padding, or a value wrapped or
  mirrored from elsewhere). Only untainted elements are measured, so the result is the stencil
  of the network on an unbounded domain, whatever the boundary mode.
- `dense`: the element depends on a whole axis through a dense layer over space (the SPEC's
  convention reports the number of points there).
- per array axis a `Tag`: which input spatial axis it runs along and the affine map from
  position to input coordinate; data movement (concatenate, scatter, gather) that breaks the
  map along a spatial axis is how periodic, reflecting and edge padding are recognised.

Statistics over space (reductions), FFTs and dense contractions over space are global
couplings: they are recorded as `GlobalSource`s; reductions add nothing to the stencil, FFTs
make it infinite along their axes, dense layers make it the whole axis.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from archinspect.errors import UnsupportedOperation

INF = math.inf


@dataclass(frozen=True)
class Tag:
    """What an array axis is: the input spatial axes it runs along, and where it sits.

    `slope`/`offset` map a position q to the input coordinate slope*q + offset (None when the
    axis merges several axes or was broadcast); `freq` marks Fourier axes, which keep the map of
    the spatial axis they came from so that the inverse transform restores it.
    """

    axes: frozenset[int]
    slope: Fraction | None = None
    offset: Fraction | None = None
    freq: bool = False

    @property
    def mapped(self) -> bool:
        return self.slope is not None and not self.freq

    def coord(self, q: Any) -> Any:
        assert self.slope is not None and self.offset is not None
        return q * float(self.slope) + float(self.offset)

    def moved(self, slope: Fraction, offset: Fraction) -> Tag:
        return Tag(self.axes, slope, offset, self.freq)

    def unmapped(self) -> Tag:
        return Tag(self.axes)


@dataclass
class Val:
    """Dependency tables of one array value (see the module docstring)."""

    shape: tuple[int, ...]
    lo: np.ndarray  # float64, table shape + (d,); +inf where there is no dependency
    hi: np.ndarray  # float64, table shape + (d,); -inf where there is no dependency
    taint: np.ndarray  # bool, table shape
    dense: np.ndarray  # bool, table shape + (d,)
    tags: tuple[Tag | None, ...]

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def d(self) -> int:
        return self.lo.shape[-1]

    def nonempty(self) -> bool:
        return bool(np.any(self.lo <= self.hi))


@dataclass(frozen=True)
class GlobalSource:
    """A module through which an output depends on every input cell along some axis."""

    path: str
    type: str
    kind: str  # "normalization" | "global pooling" | "fft" | "dense over space"


def empty(shape: Sequence[int], d: int) -> Val:
    one = (1,) * len(shape)
    return Val(
        tuple(shape),
        np.full(one + (d,), INF),
        np.full(one + (d,), -INF),
        np.zeros(one, bool),
        np.zeros(one + (d,), bool),
        (None,) * len(shape),
    )


def input_val(shape: Sequence[int], d: int) -> Val:
    """The network input (C, *spatial): cell i of spatial axis s depends on exactly [i, i]."""
    n = len(shape)
    lo = np.zeros((1,) + tuple(shape[1:]) + (d,))
    for s in range(d):
        idx = np.arange(shape[s + 1], dtype=float).reshape((-1,) + (1,) * (d - 1 - s))
        lo[..., s] = idx
    tags = (None,) + tuple(Tag(frozenset({s}), Fraction(1), Fraction(0)) for s in range(d))
    return Val(tuple(shape), lo, lo.copy(), np.zeros((1,) * n, bool), np.zeros(lo.shape, bool), tags)


# ----------------------------------------------------------------------------- table helpers


def _tbl(v: Val) -> tuple[int, ...]:
    return v.taint.shape


def _materialize(v: Val, axes: Sequence[int]) -> Val:
    """Broadcast the tables to the full array size along `axes` (views, not copies)."""
    shape = list(_tbl(v))
    for a in axes:
        shape[a] = v.shape[a]
    t = tuple(shape)
    return Val(
        v.shape,
        np.broadcast_to(v.lo, t + (v.d,)),
        np.broadcast_to(v.hi, t + (v.d,)),
        np.broadcast_to(v.taint, t),
        np.broadcast_to(v.dense, t + (v.d,)),
        v.tags,
    )


def _common(vals: Sequence[Val], skip: int | None = None) -> list[Val]:
    """Bring tables to a common table shape (full size on an axis where any is non-trivial)."""
    n = vals[0].ndim
    full = [a for a in range(n) if a != skip and any(_tbl(v)[a] != 1 for v in vals)]
    return [_materialize(v, full) for v in vals]


def _with_rank(v: Val, n: int) -> Val:
    """Rank-0 operands (literals, scalars) broadcast against rank-n ones."""
    if v.ndim == n:
        return v
    assert v.ndim == 0, (v.shape, n)
    one = (1,) * n
    return Val(
        one,
        v.lo.reshape(one + (v.d,)),
        v.hi.reshape(one + (v.d,)),
        v.taint.reshape(one),
        v.dense.reshape(one + (v.d,)),
        (None,) * n,
    )


def _nonempty_mask(v: Val) -> np.ndarray:
    return v.lo <= v.hi


def _place(arr: np.ndarray, axis: int, length: int, pos: np.ndarray, fill: Any) -> np.ndarray:
    """A new array of `length` along `axis`, holding arr's i-th slice at pos[i] (if in range)."""
    shape = list(arr.shape)
    shape[axis] = length
    out = np.empty(shape, arr.dtype)
    out[...] = fill
    ok = (pos >= 0) & (pos < length)
    dst = [slice(None)] * arr.ndim
    src = [slice(None)] * arr.ndim
    dst[axis] = pos[ok]
    src[axis] = np.nonzero(ok)[0]
    out[tuple(dst)] = arr[tuple(src)]
    return out


def _gather_axis(arr: np.ndarray, axis: int, idx: np.ndarray, fill: Any) -> np.ndarray:
    """arr taken at idx along axis; idx == -1 gives `fill`."""
    pad_shape = list(arr.shape)
    pad_shape[axis] = 1
    ext = np.concatenate([arr, np.full(pad_shape, fill, arr.dtype)], axis=axis)
    return np.take(ext, np.where(idx < 0, arr.shape[axis], idx), axis=axis)


def _first_tag(tags: Sequence[Tag | None]) -> Tag | None:
    mapped = [t for t in tags if t is not None and t.mapped]
    if mapped:
        return mapped[0]
    present = [t for t in tags if t is not None]
    return present[0] if present else None


def _union_tag(tags: Sequence[Tag | None]) -> Tag | None:
    present = [t for t in tags if t is not None]
    if not present:
        return None
    return Tag(frozenset().union(*(t.axes for t in present)))


# ----------------------------------------------------------------------------- the context


@dataclass
class Context:
    """What a rule may consult: the equation's module, concrete index values, the recorders."""

    d: int
    module: Callable[[], tuple[str, str]]  # (path, type) of the innermost module call
    concrete: Callable[[int], np.ndarray]  # concrete value of the i-th input, or raise
    record_global: Callable[[str], None]  # kind -> records a GlobalSource for this module
    mark: Callable[[str, Val], None]  # a module call's output value
    call: Callable[[Any, list[Val], tuple[str, ...]], list[Val]]  # interpret a sub-jaxpr
    prefix: tuple[str, ...] = field(default=())


Rule = Callable[[Any, list[Val], Context], list[Val]]
RULES: dict[str, Rule] = {}


def rule(*names: str) -> Callable[[Rule], Rule]:
    def register(fn: Rule) -> Rule:
        for name in names:
            RULES[name] = fn
        return fn

    return register


def out_shape(eqn: Any, i: int = 0) -> tuple[int, ...]:
    return tuple(int(s) for s in eqn.outvars[i].aval.shape)


# ----------------------------------------------------------------------------- elementwise

ELEMENTWISE = (
    "abs acos acosh add and asin asinh atan atan2 atanh cbrt ceil clamp complex conj copy "
    "copy_p cos cosh digamma div eq erf erf_inv erfc exp exp2 expm1 floor ge gt igamma "
    "igammac imag integer_pow is_finite le lgamma log log1p logistic lt max min mul ne neg "
    "nextafter not or polygamma population_count pow real reduce_precision rem round rsqrt "
    "select_n shift_left shift_right_arithmetic shift_right_logical sign sin sinh sqrt square "
    "sub tan tanh xor clz convert_element_type bessel_i0e bessel_i1e regularized_incomplete_beta "
    "random_gamma_grad zeta"
).split()


@rule(*ELEMENTWISE)
def _elementwise(eqn: Any, ins: list[Val], ctx: Context) -> list[Val]:
    shape = out_shape(eqn)
    n = len(shape)
    vals = [_with_rank(v, n) for v in ins]
    lo = functools.reduce(np.minimum, [v.lo for v in vals])
    hi = functools.reduce(np.maximum, [v.hi for v in vals])
    taint = functools.reduce(np.logical_or, [v.taint for v in vals])
    dense = functools.reduce(np.logical_or, [v.dense for v in vals])
    tags: list[Tag | None] = []
    for a in range(n):
        tags.append(_first_tag([v.tags[a] for v in vals if v.shape[a] == shape[a]]))
        for v in vals:
            # A single cell of a spatial axis spread over the whole axis (x + x[:, :1]) is an
            # absolute reference, not a stencil: distrust every result.
            if v.shape[a] == 1 < shape[a] and v.tags[a] is not None and v.nonempty():
                taint = np.ones(taint.shape, bool)
    return [Val(shape, lo, hi, taint, dense, tuple(tags))]


@rule("optimization_barrier")
def _identity_many(eqn: Any, ins: list[Val], ctx: Context) -> list[Val]:
    return list(ins)


@rule("sharding_constraint", "mesh_cast", "pvary", "reshard")
def _identity(eqn: Any, ins: list[Val], ctx: Context) -> list[Val]:
    return [ins[0]]


@rule("archinspect_rf_mark")
def _mark(eqn: Any, ins: list[Val], ctx: Context) -> list[Val]:
    ctx.mark(eqn.params["path"], ins[0])
    return [ins[0]]


@rule("iota", "random_seed", "random_bits", "random_wrap", "random_unwrap", "rng_bit_generator")
def _constant(eqn: Any, ins: list[Val], ctx: Context) -> list[Val]:
    return [empty(out_shape(eqn, i), ctx.d) for i in range(len(eqn.outvars))]


# ----------------------------------------------------------------------------- shape changes


@rule("broadcast_in_dim")
def _broadcast_in_dim(eqn: Any, ins: list[Val], ctx: Context) -> list[Val]:
    v = ins[0]
    shape = out_shape(eqn)
    dims = eqn.params["broadcast_dimensions"]
    tbl = [1] * len(shape)
    tags: list[Tag | None] = [None] * len(shape)
    taint = v.taint
    for i, a in enumerate(dims):
        tbl[a] = _tbl(v)[i]
        tag = v.tags[i]
        if tag is not None and v.shape[i] == 1 < shape[a]:
            tag = tag.unmapped()
            if v.nonempty():
                taint = np.ones(taint.shape, bool)
        tags[a] = tag
    t = tuple(tbl)
    return [
        Val(
            shape,
            v.lo.reshape(t + (ctx.d,)),
            v.hi.reshape(t + (ctx.d,)),
            taint.reshape(t),
            v.dense.reshape(t + (ctx.d,)),
            tuple(tags),
        )
    ]


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


@rule("reshape")
def _reshape(eqn: Any, ins: list[Val], ctx: Context) -> list[Val]:
    v = ins[0]
    if eqn.params.get("dimensions") is not None:
        raise _unsupported(eqn, ctx, "reshape with a dimension permutation")
    shape = out_shape(eqn)
    groups = _reshape_groups(v.shape, shape)
    full: list[int] = []
    new_tbl = [1] * len(shape)
    tags: list[Tag | None] = [None] * len(shape)
    for g_old, g_new in groups:
        if any(_tbl(v)[a] != 1 for a in g_old):
            full.extend(g_old)
            for b in g_new:
                new_tbl[b] = shape[b]
        big_old = [a for a in g_old if v.shape[a] != 1]
        big_new = [b for b in g_new if shape[b] != 1]
        if len(big_old) == 1 and len(big_new) == 1:
            tags[big_new[0]] = v.tags[big_old[0]]
        elif not big_old and not big_new and len(g_old) == 1 and len(g_new) == 1:
            tags[g_new[0]] = v.tags[g_old[0]]
        else:
            merged = _union_tag([v.tags[a] for a in g_old])
            for b in big_new:
                tags[b] = merged
    m = _materialize(v, full)
    t = tuple(new_tbl)
    return [
        Val(
            shape,
            np.reshape(m.lo, t + (ctx.d,)),
            np.reshape(m.hi, t + (ctx.d,)),
            np.reshape(m.taint, t),
            np.reshape(m.dense, t + (ctx.d,)),
            tuple(tags),
        )
    ]


@rule("squeeze")
def _squeeze(eqn: Any, ins: list[Val], ctx: Context) -> list[Val]:
    v = ins[0]
    dims = tuple(a % v.ndim for a in eqn.params["dimensions"])
    keep = [a for a in range(v.ndim) if a not in dims]
    return [
        Val(
            out_shape(eqn),
            np.squeeze(v.lo, axis=dims),
            np.squeeze(v.hi, axis=dims),
            np.squeeze(v.taint, axis=dims),
            np.squeeze(v.dense, axis=dims),
            tuple(v.tags[a] for a in keep),
        )
    ]


@rule("transpose")
def _transpose(eqn: Any, ins: list[Val], ctx: Context) -> list[Val]:
    v = ins[0]
    perm = tuple(eqn.params["permutation"])
    ext = perm + (v.ndim,)
    return [
        Val(
            out_shape(eqn),
            v.lo.transpose(ext),
            v.hi.transpose(ext),
            v.taint.transpose(perm),
            v.dense.transpose(ext),
            tuple(v.tags[a] for a in perm),
        )
    ]


@rule("rev")
def _rev(eqn: Any, ins: list[Val], ctx: Context) -> list[Val]:
    v = ins[0]
    dims = tuple(eqn.params["dimensions"])
    flip = tuple(a for a in dims if _tbl(v)[a] != 1)
    tags = list(v.tags)
    for a in dims:
        tag = tags[a]
        if tag is not None and tag.mapped:
            assert tag.slope is not None and tag.offset is not None
            tags[a] = tag.moved(-tag.slope, tag.slope * (v.shape[a] - 1) + tag.offset)
    return [
        Val(
            v.shape,
            np.flip(v.lo, flip),
            np.flip(v.hi, flip),
            np.flip(v.taint, flip),
            np.flip(v.dense, flip),
            tuple(tags),
        )
    ]


def slice_val(v: Val, starts: Sequence[int], limits: Sequence[int], strides: Sequence[int]) -> Val:
    index = []
    tags = list(v.tags)
    shape = []
    for a, (b, e, s) in enumerate(zip(starts, limits, strides, strict=True)):
        shape.append(max(0, -(-(e - b) // s)))
        index.append(slice(None) if _tbl(v)[a] == 1 else slice(b, e, s))
        tag = tags[a]
        if tag is not None and tag.mapped and (b, s) != (0, 1):
            assert tag.slope is not None and tag.offset is not None
            tags[a] = tag.moved(tag.slope * s, tag.offset + tag.slope * b)
    ix = tuple(index)
    return Val(
        tuple(shape), v.lo[ix], v.hi[ix], v.taint[ix], v.dense[ix], tuple(tags)
    )


@rule("slice")
def _slice(eqn: Any, ins: list[Val], ctx: Context) -> list[Val]:
    p = eqn.params
    strides = p["strides"] or (1,) * ins[0].ndim
    return [slice_val(ins[0], p["start_indices"], p["limit_indices"], strides)]


@rule("split")
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


@rule("dynamic_slice")
def _dynamic_slice(eqn: Any, ins: list[Val], ctx: Context) -> list[Val]:
    v = ins[0]
    sizes = eqn.params["slice_sizes"]
    starts = []
    for a in range(v.ndim):
        start = int(ctx.concrete(1 + a))
        starts.append(min(max(start, 0), v.shape[a] - sizes[a]))  # JAX clamps the start
    limits = [b + s for b, s in zip(starts, sizes, strict=True)]
    return [slice_val(v, starts, limits, [1] * v.ndim)]


@rule("concatenate")
def _concatenate(eqn: Any, ins: list[Val], ctx: Context) -> list[Val]:
    k = eqn.params["dimension"]
    vals = [_materialize(v, [k]) for v in _common(ins, skip=k)]
    shape = out_shape(eqn)
    starts = np.cumsum([0] + [v.shape[k] for v in vals])
    lo = np.concatenate([v.lo for v in vals], axis=k)
    hi = np.concatenate([v.hi for v in vals], axis=k)
    dense = np.concatenate([v.dense for v in vals], axis=k)
    taint = np.concatenate([v.taint for v in vals], axis=k).copy()
    tags = [_first_tag([v.tags[a] for v in vals]) if a != k else None for a in range(len(shape))]
    mapped = [i for i, v in enumerate(vals) if v.tags[k] is not None and v.tags[k].mapped]
    if mapped:
        # The longest piece fixes the axis's coordinates; a piece that does not continue them
        # (a slice from the far end, a mirrored or repeated edge, a constant) is a boundary.
        ref = max(mapped, key=lambda i: vals[i].shape[k])
        rt = vals[ref].tags[k]
        assert rt is not None and rt.slope is not None and rt.offset is not None
        off = rt.offset - rt.slope * int(starts[ref])
        for i, v in enumerate(vals):
            t = v.tags[k]
            ok = (
                t is not None
                and t.mapped
                and t.slope == rt.slope
                and t.offset == off + rt.slope * int(starts[i])
            )
            if not ok and v.shape[k]:
                index = [slice(None)] * len(shape)
                index[k] = slice(int(starts[i]), int(starts[i + 1]))
                taint[tuple(index)] = True
        tags[k] = Tag(_union_tag([v.tags[k] for v in vals]).axes, rt.slope, off)  # type: ignore[union-attr]
    else:
        tags[k] = _union_tag([v.tags[k] for v in vals])
    return [Val(shape, lo, hi, taint, dense, tuple(tags))]


@rule("pad")
def _pad(eqn: Any, ins: list[Val], ctx: Context) -> list[Val]:
    v, fill = ins
    fill_lo = fill.lo.reshape(ctx.d)
    fill_hi = fill.hi.reshape(ctx.d)
    tags = list(v.tags)
    for a, (lo_p, hi_p, interior) in enumerate(eqn.params["padding_config"]):
        lo_p, hi_p, interior = int(lo_p), int(hi_p), int(interior)
        if (lo_p, hi_p, interior) == (0, 0, 0):
            continue
        v = _materialize(v, [a])
        n = v.shape[a]
        length = lo_p + hi_p + (n + (n - 1) * interior if n else 0)
        pos = lo_p + np.arange(n) * (interior + 1)
        lo = _place(np.asarray(v.lo), a, length, pos, 0.0)
        hi = _place(np.asarray(v.hi), a, length, pos, 0.0)
        holes = _place(np.zeros(n, bool), 0, length, pos, True)
        hole_ix = [None] * v.ndim
        hole_ix[a] = slice(None)
        mask = holes[tuple(hole_ix)][..., None]
        lo = np.where(mask, fill_lo, lo)
        hi = np.where(mask, fill_hi, hi)
        dense = _place(np.asarray(v.dense), a, length, pos, False)
        taint = _place(np.asarray(v.taint), a, length, pos, False)
        tag = tags[a]
        if tag is not None:
            # Cells outside the first and last source cell are padding: a boundary rule.
            # Interior cells (zero insertion) are holes of the unbounded domain too.
            q = np.arange(length)
            outside = (q < lo_p) | (q > lo_p + (n - 1) * (interior + 1))
            taint = taint | outside[tuple(hole_ix)]
            if tag.mapped:
                assert tag.slope is not None and tag.offset is not None
                slope = tag.slope / (interior + 1)
                tags[a] = tag.moved(slope, tag.offset - slope * lo_p)
        shape = list(v.shape)
        shape[a] = length
        v = Val(tuple(shape), lo, hi, taint, dense, tuple(tags))
    return [v]


# ----------------------------------------------------------------------------- reductions

REDUCTIONS = (
    "reduce_sum reduce_max reduce_min reduce_prod reduce_and reduce_or reduce_xor argmax argmin"
).split()


@rule(*REDUCTIONS)
def _reduce(eqn: Any, ins: list[Val], ctx: Context) -> list[Val]:
    v = ins[0]
    axes = tuple(int(a) for a in eqn.params["axes"])
    spatial = _spatial_axes(v, axes)
    if spatial and v.nonempty():
        # Statistics over space: a global coupling, not part of the stencil.
        path, typ = ctx.module()
        ctx.record_global("normalization" if "Norm" in typ else "global pooling")
    lo, hi, taint, dense = _union_over(v, axes)
    for s in spatial:
        lo[..., s] = INF
        hi[..., s] = -INF
        dense[..., s] = False
    if lo.size and not np.any(lo <= hi):
        taint = np.zeros_like(taint)
    keep = [a for a in range(v.ndim) if a not in axes]
    return [Val(out_shape(eqn), lo, hi, taint, dense, tuple(v.tags[a] for a in keep))]


def _spatial_axes(v: Val, axes: Sequence[int]) -> set[int]:
    out: set[int] = set()
    for a in axes:
        tag = v.tags[a]
        if tag is not None and not tag.freq and v.shape[a] > 1:
            out |= tag.axes
    return out


def _union_over(v: Val, axes: Sequence[int]) -> tuple[np.ndarray, ...]:
    """Union of the tables over `axes` (which are removed)."""
    ax = tuple(axes)
    return (
        np.min(v.lo, axis=ax),
        np.max(v.hi, axis=ax),
        np.any(v.taint, axis=ax),
        np.any(v.dense, axis=ax),
    )


# ----------------------------------------------------------------------------- contractions


@rule("dot_general")
def _dot_general(eqn: Any, ins: list[Val], ctx: Context) -> list[Val]:
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    lhs, rhs = ins
    lf = [a for a in range(lhs.ndim) if a not in lc and a not in lb]
    rf = [a for a in range(rhs.ndim) if a not in rc and a not in rb]
    parts = []
    for v, contract, batch, free, before, after in (
        (lhs, lc, lb, lf, 0, len(rf)),
        (rhs, rc, rb, rf, len(lf), 0),
    ):
        lo, hi, taint, dense = _union_over(v, contract)
        spatial = _spatial_axes(v, contract)
        if spatial and v.nonempty():
            ctx.record_global("dense over space")
            for s in spatial:
                dense[..., s] = lo[..., s] <= hi[..., s]
        keep = [a for a in range(v.ndim) if a not in contract]
        order = [keep.index(a) for a in batch] + [keep.index(a) for a in free]
        nb = len(batch)
        tbl = [lo.shape[i] for i in order]
        t = tuple(tbl[:nb] + [1] * before + tbl[nb:] + [1] * after)
        ext = tuple(order) + (len(keep),)
        parts.append(
            (
                lo.transpose(ext).reshape(t + (ctx.d,)),
                hi.transpose(ext).reshape(t + (ctx.d,)),
                taint.transpose(order).reshape(t),
                dense.transpose(ext).reshape(t + (ctx.d,)),
            )
        )
    (llo, lhi, lt, ld), (rlo, rhi, rt, rd) = parts
    tags = (
        [_first_tag([lhs.tags[a], rhs.tags[b]]) for a, b in zip(lb, rb, strict=True)]
        + [lhs.tags[a] for a in lf]
        + [rhs.tags[a] for a in rf]
    )
    return [
        Val(
            out_shape(eqn),
            np.minimum(llo, rlo),
            np.maximum(lhi, rhi),
            lt | rt,
            ld | rd,
            tuple(tags),
        )
    ]


@rule("conv_general_dilated")
def _conv(eqn: Any, ins: list[Val], ctx: Context) -> list[Val]:
    p = eqn.params
    lhs, rhs = ins
    if p["batch_group_count"] != 1:
        raise _unsupported(eqn, ctx, "convolution with batch_group_count > 1")
    lhs_spec, rhs_spec, out_spec = p["dimension_numbers"]
    nsp = len(lhs_spec) - 2
    # Canonical layout (batch, feature, *spatial) for the computation.
    perm = tuple(lhs_spec)
    v = Val(
        tuple(lhs.shape[a] for a in perm),
        lhs.lo.transpose(perm + (lhs.ndim,)),
        lhs.hi.transpose(perm + (lhs.ndim,)),
        lhs.taint.transpose(perm),
        lhs.dense.transpose(perm + (lhs.ndim,)),
        tuple(lhs.tags[a] for a in perm),
    )
    groups = p["feature_group_count"]
    out_features = rhs.shape[rhs_spec[0]]
    lo, hi, taint, dense = (np.asarray(x) for x in (v.lo, v.hi, v.taint, v.dense))
    if lo.shape[1] != 1:
        # Every output feature of group g reads every input feature of group g.
        def grouped(x: np.ndarray, red: Callable) -> np.ndarray:
            shp = x.shape
            x = x.reshape(shp[:1] + (groups, shp[1] // groups) + shp[2:])
            x = red(x, axis=2)
            return np.repeat(x, out_features // groups, axis=1)

        lo, hi = grouped(lo, np.min), grouped(hi, np.max)
        taint, dense = grouped(taint, np.any), grouped(dense, np.any)
    if rhs.nonempty():
        # A kernel computed from the input: every output depends on all of it.
        lo = np.minimum(lo, np.min(rhs.lo, axis=tuple(range(rhs.ndim))))
        hi = np.maximum(hi, np.max(rhs.hi, axis=tuple(range(rhs.ndim))))
    tags: list[Tag | None] = [v.tags[0], None]
    out = out_shape(eqn)
    for i in range(nsp):
        a = 2 + i
        n = v.shape[a]
        k = rhs.shape[rhs_spec[2 + i]]
        s = p["window_strides"][i]
        ld = p["lhs_dilation"][i]
        rd = p["rhs_dilation"][i]
        plo, phi = p["padding"][i]
        nd = (n - 1) * ld + 1 if n else 0
        k_eff = (k - 1) * rd + 1
        n_out = out[out_spec[2 + i]]
        tag = v.tags[a]
        if lo.shape[a] == 1 and n > 1:
            lo, hi, taint, dense = (
                np.broadcast_to(x, x.shape[:a] + (n,) + x.shape[a + 1 :])
                for x in (lo, hi, taint, dense)
            )
        q = np.arange(n_out)
        acc_lo = acc_hi = acc_dense = acc_taint = None
        for t in range(k):
            u = q * s + t * rd - plo  # index into the lhs after dilation, before padding
            inside = (u >= 0) & (u <= nd - 1)
            src = np.where(inside & (u % ld == 0), u // ld, -1)
            g_lo = _gather_axis(np.asarray(lo), a, src, INF)
            g_hi = _gather_axis(np.asarray(hi), a, src, -INF)
            g_dense = _gather_axis(np.asarray(dense), a, src, False)
            g_taint = _gather_axis(np.asarray(taint), a, src, False)
            if tag is not None and not np.all(inside):
                # The window reads padding: a boundary rule.
                shp = [1] * g_taint.ndim
                shp[a] = n_out
                g_taint = g_taint | (~inside).reshape(shp)
            if acc_lo is None:
                acc_lo, acc_hi, acc_dense, acc_taint = g_lo, g_hi, g_dense, g_taint
            else:
                acc_lo = np.minimum(acc_lo, g_lo)
                acc_hi = np.maximum(acc_hi, g_hi)
                acc_dense = acc_dense | g_dense
                acc_taint = acc_taint | g_taint
        assert acc_lo is not None
        lo, hi, dense, taint = acc_lo, acc_hi, acc_dense, acc_taint
        if tag is not None and tag.mapped:
            assert tag.slope is not None and tag.offset is not None
            centre = Fraction(-plo + (k_eff - 1) // 2, ld)
            tag = tag.moved(tag.slope * Fraction(s, ld), tag.slope * centre + tag.offset)
        tags.append(tag)
    inv = tuple(int(i) for i in np.argsort(out_spec))
    return [
        Val(
            out,
            lo.transpose(inv + (len(out),)),
            hi.transpose(inv + (len(out),)),
            taint.transpose(inv),
            dense.transpose(inv + (len(out),)),
            tuple(tags[i] for i in inv),
        )
    ]


@rule("fft")
def _fft(eqn: Any, ins: list[Val], ctx: Context) -> list[Val]:
    v = ins[0]
    k = len(eqn.params["fft_lengths"])
    axes = tuple(range(v.ndim - k, v.ndim))
    kind = getattr(eqn.params["fft_type"], "name", str(eqn.params["fft_type"]))
    inverse = "I" in kind.upper().replace("FFT", "")  # IFFT, IRFFT
    spatial: set[int] = set()
    for a in axes:
        tag = v.tags[a]
        if tag is not None and v.shape[a] > 1:
            spatial |= tag.axes
    lo, hi, taint, dense = (
        np.expand_dims(x, axes) for x in _union_over(v, axes)
    )
    if spatial and v.nonempty():
        ctx.record_global("fft")
        for s in spatial:
            has = lo[..., s] <= hi[..., s]
            lo[..., s] = np.where(has, -INF, INF)
            hi[..., s] = np.where(has, INF, -INF)
    tags = list(v.tags)
    for a in axes:
        tag = tags[a]
        if tag is not None:
            tags[a] = Tag(tag.axes, tag.slope, tag.offset, freq=not inverse)
    return [Val(out_shape(eqn), lo, hi, taint, dense, tuple(tags))]


# ----------------------------------------------------------------------------- calls


SUB_JAXPR_PARAMS = ("jaxpr", "call_jaxpr", "fun_jaxpr")


@rule(
    "jit",
    "pjit",
    "closed_call",
    "core_call",
    "remat",
    "checkpoint",
    "custom_jvp_call",
    "custom_vjp_call",
    "custom_vjp_call_jaxpr",
    "custom_lin",
)
def _call(eqn: Any, ins: list[Val], ctx: Context) -> list[Val]:
    for name in SUB_JAXPR_PARAMS:
        if name in eqn.params:
            return ctx.call(eqn.params[name], ins, ctx.prefix)
    raise _unsupported(eqn, ctx, "a call without a jaxpr")


@rule("cond")
def _cond(eqn: Any, ins: list[Val], ctx: Context) -> list[Val]:
    # Either branch may run: the result depends on what any branch and the index depend on.
    index, ops = ins[0], ins[1:]
    results = [ctx.call(branch, ops, ctx.prefix) for branch in eqn.params["branches"]]
    outs = []
    for i in range(len(eqn.outvars)):
        outs.append(_elementwise(_FakeEqn(eqn, i), [index] + [r[i] for r in results], ctx)[0])
    return outs


@dataclass
class _FakeEqn:
    eqn: Any
    i: int

    @property
    def outvars(self) -> list[Any]:
        return [self.eqn.outvars[self.i]]


# ----------------------------------------------------------------------------- indexed data movement


def _coords(v: Val, s: int) -> np.ndarray | None:
    """The input coordinate along spatial axis s of every element (NaN where unknown)."""
    for a, tag in enumerate(v.tags):
        if tag is not None and tag.mapped and s in tag.axes:
            shp = [1] * v.ndim
            shp[a] = v.shape[a]
            c = tag.coord(np.arange(v.shape[a], dtype=float)).reshape(shp)
            return np.broadcast_to(c, v.shape)
    return None


def _fit(coord: np.ndarray, s: int) -> tuple[int | None, Tag | None, np.ndarray]:
    """The array axis along which `coord` runs, its affine map, and the elements that break it.

    Used after scatters and gathers, whose placement is only known element by element: the most
    common step and offset along the axis define the map; elements off the map, and empty
    elements outside the span of the mapped ones, are boundary cells.
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
    q = np.arange(c.shape[-1], dtype=float)
    slopes: dict[float, int] = {}
    for line_c, line_k in zip(c.reshape(-1, c.shape[-1]), k.reshape(-1, c.shape[-1]), strict=True):
        qs, cs = q[line_k], line_c[line_k]
        for step in np.diff(cs) / np.diff(qs):
            slopes[float(step)] = slopes.get(float(step), 0) + 1
    slope = max(slopes, key=lambda x: slopes[x])
    offsets, counts = np.unique(np.round((c - slope * q)[k], 9), return_counts=True)
    offset = float(offsets[np.argmax(counts)])
    on = k & np.isclose(c, slope * q + offset, rtol=0, atol=1e-9)
    bad = k & ~on
    idx = np.where(on, q, np.nan)
    with np.errstate(all="ignore"):
        first = np.nanmin(np.where(on.any(-1, keepdims=True), idx, np.inf), axis=-1, keepdims=True)
        last = np.nanmax(np.where(on.any(-1, keepdims=True), idx, -np.inf), axis=-1, keepdims=True)
    outside = ~k & ((q < first) | (q > last))
    taint = np.moveaxis(bad | outside, -1, a)
    tag = Tag(
        frozenset({s}),
        Fraction(slope).limit_denominator(1 << 20),
        Fraction(offset).limit_denominator(1 << 20),
    )
    return a, tag, taint


def _refit(val: Val, coords: dict[int, np.ndarray], fallback: Sequence[Tag | None]) -> Val:
    tags = list(fallback)
    taint = np.asarray(np.broadcast_to(val.taint, val.shape)).copy() if coords else val.taint
    for s, coord in coords.items():
        a, tag, bad = _fit(coord, s)
        if a is None or tag is None:
            continue
        taint |= bad
        tags[a] = tag
    return Val(val.shape, val.lo, val.hi, taint, val.dense, tuple(tags))


def _full(v: Val) -> Val:
    return _materialize(v, range(v.ndim))


def _jax_scatter(eqn: Any, operand: np.ndarray, indices: np.ndarray, updates: np.ndarray,
                 combine: str) -> np.ndarray:
    import jax

    p = eqn.params
    fn = {
        "set": jax.lax.scatter,
        "min": jax.lax.scatter_min,
        "max": jax.lax.scatter_max,
    }[combine]
    out = fn(
        operand,
        indices,
        updates,
        p["dimension_numbers"],
        indices_are_sorted=p["indices_are_sorted"],
        unique_indices=p["unique_indices"],
        mode=p["mode"],
    )
    return np.asarray(out)


@rule("scatter", "scatter-add", "scatter_add", "scatter-mul", "scatter_mul", "scatter-min",
      "scatter_min", "scatter-max", "scatter_max", "scatter_sub", "scatter-sub")
def _scatter(eqn: Any, ins: list[Val], ctx: Context) -> list[Val]:
    operand, _, updates = _full(ins[0]), ins[1], _full(ins[2])
    indices = np.asarray(ctx.concrete(1))
    setting = eqn.primitive.name == "scatter"
    d = ctx.d
    f32 = np.float32
    lo = np.empty(operand.shape + (d,))
    hi = np.empty(operand.shape + (d,))
    dense = np.empty(operand.shape + (d,), bool)
    for s in range(d):
        # Set: the element holds what was written last; combining scatters (add, mul, min,
        # max) hold the operand and every update that lands on the element.
        lo[..., s] = _jax_scatter(eqn, operand.lo[..., s].astype(f32), indices,
                                  updates.lo[..., s].astype(f32), "set" if setting else "min")
        hi[..., s] = _jax_scatter(eqn, operand.hi[..., s].astype(f32), indices,
                                  updates.hi[..., s].astype(f32), "set" if setting else "max")
        dense[..., s] = _jax_scatter(eqn, operand.dense[..., s].astype(f32), indices,
                                     updates.dense[..., s].astype(f32),
                                     "set" if setting else "max") > 0
    taint = _jax_scatter(eqn, operand.taint.astype(f32), indices, updates.taint.astype(f32),
                         "set" if setting else "max") > 0
    out = Val(operand.shape, lo, hi, taint, dense, operand.tags)
    coords = {}
    for s in range(d):
        c_op = _coords(operand, s)
        c_up = _coords(updates, s)
        if c_op is None and c_up is None:
            continue
        base = np.full(operand.shape, np.nan, f32) if c_op is None else c_op.astype(f32)
        upd = np.full(updates.shape, np.nan, f32) if c_up is None else c_up.astype(f32)
        coords[s] = _jax_scatter(eqn, base, indices, upd, "set").astype(float)
    # Axes the updates' windows run along keep their tags (Fourier axes have no coordinates).
    dn = eqn.params["dimension_numbers"]
    skipped = set(dn.inserted_window_dims) | set(getattr(dn, "operand_batching_dims", ()))
    fallback = list(operand.tags)
    op_axes = [a for a in range(operand.ndim) if a not in skipped]
    for ua, oa in zip(dn.update_window_dims, op_axes, strict=False):
        if fallback[oa] is None and updates.shape[ua] == operand.shape[oa]:
            fallback[oa] = updates.tags[ua]
    return [_refit(out, coords, fallback)]


@rule("gather")
def _gather(eqn: Any, ins: list[Val], ctx: Context) -> list[Val]:
    import jax

    operand = _full(ins[0])
    indices = np.asarray(ctx.concrete(1))
    p = eqn.params
    ids = np.arange(int(np.prod(operand.shape)), dtype=np.int32).reshape(operand.shape)
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
    flat = src.reshape(-1)
    lo = _gather_axis(np.asarray(operand.lo).reshape(-1, ctx.d), 0, flat, INF)
    hi = _gather_axis(np.asarray(operand.hi).reshape(-1, ctx.d), 0, flat, -INF)
    dense = _gather_axis(np.asarray(operand.dense).reshape(-1, ctx.d), 0, flat, False)
    taint = _gather_axis(np.asarray(operand.taint).reshape(-1), 0, flat, False)
    out = Val(
        shape,
        lo.reshape(shape + (ctx.d,)),
        hi.reshape(shape + (ctx.d,)),
        taint.reshape(shape),
        dense.reshape(shape + (ctx.d,)),
        (None,) * len(shape),
    )
    coords = {}
    for s in range(ctx.d):
        c = _coords(operand, s)
        if c is not None:
            coords[s] = _gather_axis(c.reshape(-1), 0, flat, np.nan).reshape(shape)
    dn = p["dimension_numbers"]
    skipped = set(dn.collapsed_slice_dims) | set(getattr(dn, "operand_batching_dims", ()))
    fallback: list[Tag | None] = [None] * len(shape)
    op_axes = [a for a in range(operand.ndim) if a not in skipped]
    for oa_out, oa in zip(dn.offset_dims, op_axes, strict=False):
        tag = operand.tags[oa]
        if tag is not None and shape[oa_out] == operand.shape[oa]:
            fallback[oa_out] = tag if not tag.mapped else tag.unmapped()
    return [_refit(out, coords, fallback)]


@rule("dynamic_update_slice")
def _dynamic_update_slice(eqn: Any, ins: list[Val], ctx: Context) -> list[Val]:
    operand, update = _full(ins[0]), _full(ins[1])
    starts = []
    for a in range(operand.ndim):
        start = int(ctx.concrete(2 + a))
        starts.append(min(max(start, 0), operand.shape[a] - update.shape[a]))
    region = tuple(slice(b, b + n) for b, n in zip(starts, update.shape, strict=True))
    lo, hi = np.array(operand.lo), np.array(operand.hi)
    taint, dense = np.array(operand.taint), np.array(operand.dense)
    lo[region], hi[region] = update.lo, update.hi
    taint[region], dense[region] = update.taint, update.dense
    out = Val(operand.shape, lo, hi, taint, dense, operand.tags)
    coords = {}
    for s in range(ctx.d):
        c_op, c_up = _coords(operand, s), _coords(update, s)
        if c_op is None and c_up is None:
            continue
        c = np.full(operand.shape, np.nan) if c_op is None else np.array(c_op)
        c[region] = np.nan if c_up is None else c_up
        coords[s] = c
    fallback = [
        t if t is not None else (u if update.shape[a] == operand.shape[a] else None)
        for a, (t, u) in enumerate(zip(operand.tags, update.tags, strict=True))
    ]
    return [_refit(out, coords, fallback)]


# ----------------------------------------------------------------------------- errors


def _unsupported(eqn: Any, ctx: Context, what: str | None = None) -> UnsupportedOperation:
    path, typ = ctx.module()
    where = f"{path} ({typ})" if path else f"the root module ({typ})"
    name = eqn.primitive.name
    detail = what or f"primitive '{name}'"
    return UnsupportedOperation(
        f"error: receptive field: no exact dependency rule for {detail}, used in {where}; "
        f"archinspect does not guess what '{name}' depends on"
    )


def unknown(eqn: Any, ctx: Context) -> UnsupportedOperation:
    return _unsupported(eqn, ctx)
