"""Dependency tables and one exact rule per jaxpr primitive, for the structural receptive field.

Every array value of the traced forward pass carries, for each of its elements and each input
spatial axis s, the interval hull [lo_s, hi_s] of the input cells along s that it depends on.
Hulls compose exactly for convolutional networks because their cones are monotone in the
position; per-axis hulls are projections, and the projection of a union is the union of the
projections. Each table broadcasts like the array on its own (a value that is the same for
every channel stores one row; lo_0 of a 3-D convolutional network varies along axis 0 only), so
separable networks cost O(cells along one axis) per table, not O(all cells).

Two more tables per axis travel with them:
- `taint_s`: the element's s-hull may have been shaped by a boundary rule along s (padding, a
  value wrapped or mirrored from elsewhere). Only untainted elements are measured, so the result
  is the stencil on an unbounded domain, the same for every boundary mode. A boundary rule
  along axis t does not change the s-projection of box-window dependencies, so it taints
  component t only.
- `dense_s`: the element depends on the whole axis through a dense layer over space (the README's
  convention reports the number of points there).

And per array axis a `Tag`: the input spatial axes it runs along and the affine map from
position to input coordinate. Data movement (concatenate, scatter, gather) that breaks the map
along a spatial axis is how periodic, reflecting and edge padding are recognised.

Statistics over space (reductions), FFTs and dense contractions over space are global
couplings: they are recorded; reductions add nothing to the stencil, FFTs make it infinite
along their axes, dense layers make it the whole axis.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from archinspect.errors import UnsupportedOperation

INF = math.inf
# Coordinates are cell indices (and halves, quarters on up-sampled grids) below 2**16: float32
# holds them exactly, with room to spare, and halves the memory traffic of float64.
COORD = np.float32
KINDS = ("lo", "hi", "taint", "dense")
FILL: dict[str, Any] = {"lo": INF, "hi": -INF, "taint": False, "dense": False}
DTYPE: dict[str, Any] = {"lo": COORD, "hi": COORD, "taint": bool, "dense": bool}
UNION: dict[str, np.ufunc] = {
    "lo": np.minimum,
    "hi": np.maximum,
    "taint": np.logical_or,
    "dense": np.logical_or,
}
REDUCE: dict[str, Callable] = {"lo": np.min, "hi": np.max, "taint": np.any, "dense": np.any}


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
    """Dependency tables of one array value (see the module docstring).

    Each of lo, hi, taint, dense holds one table per input spatial axis; a table has the
    array's rank and broadcasts to its shape. lo is +inf and hi -inf where there is no
    dependency; -inf/+inf where it is infinite (an FFT).
    """

    shape: tuple[int, ...]
    lo: tuple[np.ndarray, ...]
    hi: tuple[np.ndarray, ...]
    taint: tuple[np.ndarray, ...]
    dense: tuple[np.ndarray, ...]
    tags: tuple[Tag | None, ...]

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def d(self) -> int:
        return len(self.lo)

    def table(self, kind: str) -> tuple[np.ndarray, ...]:
        return getattr(self, kind)

    def nonempty(self, s: int | None = None) -> bool:
        comps = range(self.d) if s is None else (s,)
        return any(bool(np.any(self.lo[c] <= self.hi[c])) for c in comps)


def build(
    shape: Sequence[int], tags: Sequence[Tag | None], d: int, fn: Callable[[str, int], np.ndarray]
) -> Val:
    """A Val whose table (kind, s) is fn(kind, s)."""
    t = {k: tuple(fn(k, s) for s in range(d)) for k in KINDS}
    return Val(tuple(shape), t["lo"], t["hi"], t["taint"], t["dense"], tuple(tags))


def each(
    v: Val,
    shape: Sequence[int],
    tags: Sequence[Tag | None],
    fn: Callable[[np.ndarray, str, int], np.ndarray],
) -> Val:
    """A Val whose table (kind, s) is fn(v's table (kind, s), kind, s)."""
    return build(shape, tags, v.d, lambda k, s: fn(v.table(k)[s], k, s))


def empty(shape: Sequence[int], d: int, tags: Sequence[Tag | None] | None = None) -> Val:
    one = (1,) * len(shape)
    tags = (None,) * len(shape) if tags is None else tags
    return build(shape, tags, d, lambda k, s: np.full(one, FILL[k], DTYPE[k]))


def input_val(shape: Sequence[int], d: int) -> Val:
    """The network input (C, *spatial): cell i of spatial axis s depends on exactly [i, i]."""
    n = len(shape)

    def table(kind: str, s: int) -> np.ndarray:
        if kind in ("lo", "hi"):
            shp = [1] * n
            shp[s + 1] = shape[s + 1]
            return np.arange(shape[s + 1], dtype=COORD).reshape(shp)
        return np.zeros((1,) * n, bool)

    tags = (None,) + tuple(Tag(frozenset({s}), Fraction(1), Fraction(0)) for s in range(d))
    return build(shape, tags, d, table)


# ----------------------------------------------------------------------------- table helpers


def _along(arr: np.ndarray, axis: int, n: int) -> np.ndarray:
    """arr broadcast to n along axis (a view) when it is uniform there."""
    if arr.shape[axis] == n:
        return arr
    shape = list(arr.shape)
    shape[axis] = n
    return np.broadcast_to(arr, shape)


def _to(arr: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """arr broadcast to `shape` on the axes where shape is not 1."""
    target = [n if n != 1 else m for n, m in zip(shape, arr.shape, strict=True)]
    return np.broadcast_to(arr, target)


def compress(arr: np.ndarray) -> np.ndarray:
    """Drop the axes along which a table is constant back to size 1."""
    for a in range(arr.ndim):
        if arr.shape[a] > 1:
            first = arr.take([0], axis=a)
            if np.array_equal(arr, np.broadcast_to(first, arr.shape)):
                arr = first
    return arr


def _with_rank(v: Val, n: int) -> Val:
    """Rank-0 operands (literals, scalars) broadcast against rank-n ones."""
    if v.ndim == n:
        return v
    assert v.ndim == 0, (v.shape, n)
    one = (1,) * n
    return each(v, one, (None,) * n, lambda x, k, s: x.reshape(one))


def _place(arr: np.ndarray, axis: int, length: int, pos: np.ndarray, fill: Any) -> np.ndarray:
    """A new array of `length` along `axis`, holding arr's i-th slice at pos[i] (if in range)."""
    shape = list(arr.shape)
    shape[axis] = length
    out = np.empty(shape, arr.dtype)
    out[...] = fill
    ok = (pos >= 0) & (pos < length)
    dst: list[Any] = [slice(None)] * arr.ndim
    src: list[Any] = [slice(None)] * arr.ndim
    dst[axis] = pos[ok]
    src[axis] = np.nonzero(ok)[0]
    out[tuple(dst)] = arr[tuple(src)]
    return out


def _extend(arr: np.ndarray, axis: int, fill: Any) -> np.ndarray:
    """One extra cell at the end of `axis` holding `fill` (no dependency)."""
    pad_shape = list(arr.shape)
    pad_shape[axis] = 1
    return np.concatenate([arr, np.full(pad_shape, fill, arr.dtype)], axis=axis)


def _mark_taint(v: Val, axes: frozenset[int] | set[int], axis: int, mask: np.ndarray) -> Val:
    """Taint components `axes` where `mask` (1-D, along array axis `axis`) is set."""
    if not np.any(mask):
        return v
    shp = [1] * v.ndim
    shp[axis] = mask.size
    m = mask.reshape(shp)
    taint = list(v.taint)
    for s in axes:
        taint[s] = _along(taint[s], axis, mask.size) | m
    return Val(v.shape, v.lo, v.hi, tuple(taint), v.dense, v.tags)


def _taint_all(v: Val, axes: frozenset[int] | set[int]) -> Val:
    taint = list(v.taint)
    for s in axes:
        taint[s] = np.ones((1,) * v.ndim, bool)
    return Val(v.shape, v.lo, v.hi, tuple(taint), v.dense, v.tags)


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


def _inert(v: Val) -> bool:
    """Depends on nothing, anywhere (cheap: such values have size-1 tables)."""
    for k in KINDS:
        for x in v.table(k):
            if x.size != 1 or x.reshape(()) != FILL[k]:
                return False
    return True


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
    # Records how far a window reaches along input axes (in input cells): a hint for how large
    # an input must be so that some cells escape the boundary.
    widen: Callable[[frozenset[int], float], None] = field(default=lambda axes, cells: None)


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
    tags = [_first_tag([v.tags[a] for v in vals if v.shape[a] == shape[a]]) for a in range(n)]
    # Weights, biases and literals depend on nothing: leave them out of the union.
    vals = [v for v in vals if not _inert(v)]
    if not vals:
        return [empty(shape, ctx.d, tags)]
    if len(vals) == 1:
        out = Val(shape, vals[0].lo, vals[0].hi, vals[0].taint, vals[0].dense, tuple(tags))
    else:

        def union(k: str, s: int) -> np.ndarray:
            acc = vals[0].table(k)[s]
            for v in vals[1:]:
                acc = UNION[k](acc, v.table(k)[s])
            return acc

        out = build(shape, tags, ctx.d, union)
    for v in vals:
        for a in range(n):
            tag = v.tags[a]
            # One cell of a spatial axis spread over the whole axis (x + x[:, :1]) is an
            # absolute position, not a stencil: distrust the result along that axis.
            if tag is not None and v.shape[a] == 1 < shape[a] and v.nonempty():
                out = _taint_all(out, tag.axes)
    return [out]


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

    return [_taint_all(each(v, shape, tags, expand), spread)]


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
    tags: list[Tag | None] = [None] * len(shape)
    for g_old, g_new in groups:
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


@rule("squeeze")
def _squeeze(eqn: Any, ins: list[Val], ctx: Context) -> list[Val]:
    v = ins[0]
    dims = tuple(a % v.ndim for a in eqn.params["dimensions"])
    keep = [a for a in range(v.ndim) if a not in dims]
    tags = tuple(v.tags[a] for a in keep)
    return [each(v, out_shape(eqn), tags, lambda x, k, s: np.squeeze(x, axis=dims))]


@rule("transpose")
def _transpose(eqn: Any, ins: list[Val], ctx: Context) -> list[Val]:
    v = ins[0]
    perm = tuple(eqn.params["permutation"])
    tags = tuple(v.tags[a] for a in perm)
    return [each(v, out_shape(eqn), tags, lambda x, k, s: x.transpose(perm))]


@rule("rev")
def _rev(eqn: Any, ins: list[Val], ctx: Context) -> list[Val]:
    v = ins[0]
    dims = tuple(eqn.params["dimensions"])
    tags = list(v.tags)
    for a in dims:
        tag = tags[a]
        if tag is not None and tag.mapped:
            assert tag.slope is not None and tag.offset is not None
            tags[a] = tag.moved(-tag.slope, tag.slope * (v.shape[a] - 1) + tag.offset)

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

    return each(v, shape, tags, cut)


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
    shape = out_shape(eqn)
    vals = [v for v in ins if v.shape[k]]
    starts = np.cumsum([0] + [v.shape[k] for v in vals])

    def join(kind: str, s: int) -> np.ndarray:
        arrays = [v.table(kind)[s] for v in vals]
        target = [
            shape[a] if a != k and any(x.shape[a] != 1 for x in arrays) else 1
            for a in range(len(shape))
        ]
        arrays = [_to(x, target) for x in arrays]
        if all(x.shape[k] == 1 for x in arrays) and all(
            np.array_equal(x, arrays[0]) for x in arrays[1:]
        ):
            return arrays[0]  # the same all along the new axis
        return np.concatenate(
            [_along(x, k, v.shape[k]) for x, v in zip(arrays, vals, strict=True)], axis=k
        )

    tags = [_first_tag([v.tags[a] for v in vals]) if a != k else None for a in range(len(shape))]
    out = build(shape, tags, ctx.d, join)
    mapped = [i for i, v in enumerate(vals) if v.tags[k] is not None and v.tags[k].mapped]
    axis_tag = _union_tag([v.tags[k] for v in vals])
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
        out = _mark_taint(
            Val(shape, out.lo, out.hi, out.taint, out.dense, tuple(tags)), axis_tag.axes, k, bad
        )
    else:
        tags[k] = axis_tag
        out = Val(shape, out.lo, out.hi, out.taint, out.dense, tuple(tags))
    return [out]


@rule("pad")
def _pad(eqn: Any, ins: list[Val], ctx: Context) -> list[Val]:
    v, fill = ins
    for a, (lo_p, hi_p, interior) in enumerate(eqn.params["padding_config"]):
        lo_p, hi_p, interior = int(lo_p), int(hi_p), int(interior)
        if (lo_p, hi_p, interior) == (0, 0, 0):
            continue
        n = v.shape[a]
        length = lo_p + hi_p + (n + (n - 1) * interior if n else 0)
        pos = lo_p + np.arange(n) * (interior + 1)

        def place(x: np.ndarray, kind: str, s: int, a=a, n=n, length=length, pos=pos) -> np.ndarray:
            f = fill.table(kind)[s].reshape(())
            if x.shape[a] == 1 and np.all(x == f):
                return x  # padding with what is already everywhere
            return _place(np.asarray(_along(x, a, n)), a, length, pos, f)

        shape = list(v.shape)
        shape[a] = length
        tags = list(v.tags)
        tag = tags[a]
        if tag is not None and tag.mapped:
            assert tag.slope is not None and tag.offset is not None
            slope = tag.slope / (interior + 1)
            tags[a] = tag.moved(slope, tag.offset - slope * lo_p)
        v = each(v, shape, tags, place)
        if tag is not None:
            # Cells before the first and after the last source cell are padding: a boundary
            # rule. Interior cells (zero insertion) are holes of the unbounded domain too.
            q = np.arange(length)
            outside = (q < lo_p) | (q > lo_p + (n - 1) * (interior + 1))
            v = _mark_taint(v, tag.axes, a, outside)
    return [v]


# ----------------------------------------------------------------------------- reductions

REDUCTIONS = (
    "reduce_sum reduce_max reduce_min reduce_prod reduce_and reduce_or reduce_xor argmax argmin"
).split()


def _spatial_axes(v: Val, axes: Sequence[int]) -> set[int]:
    out: set[int] = set()
    for a in axes:
        tag = v.tags[a]
        if tag is not None and not tag.freq and v.shape[a] > 1:
            out |= tag.axes
    return out


def _reduce_table(x: np.ndarray, kind: str, axes: Sequence[int], keepdims: bool) -> np.ndarray:
    ax = tuple(a for a in axes if x.shape[a] != 1)
    out = REDUCE[kind](x, axis=ax, keepdims=True) if ax else x
    return out if keepdims else np.squeeze(out, axis=tuple(axes))


@rule(*REDUCTIONS)
def _reduce(eqn: Any, ins: list[Val], ctx: Context) -> list[Val]:
    v = ins[0]
    axes = tuple(int(a) for a in eqn.params["axes"])
    spatial = {s for s in _spatial_axes(v, axes) if v.nonempty(s)}
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
        return _reduce_table(x, kind, axes, keepdims=False)

    return [each(v, shape, tags, reduce)]


# ----------------------------------------------------------------------------- contractions


@rule("dot_general")
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
        spatial = {s for s in _spatial_axes(v, contract) if v.nonempty(s)}
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
            y = _reduce_table(x, kind, contract, keepdims=False).transpose(order)
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
        [_first_tag([lhs.tags[a], rhs.tags[b]]) for a, b in zip(lb, rb, strict=True)]
        + [lhs.tags[a] for a in lf]
        + [rhs.tags[a] for a in rf]
    )
    left, right = parts
    return [build(shape, tags, ctx.d, lambda k, s: UNION[k](left.table(k)[s], right.table(k)[s]))]


@dataclass
class _Window:
    """A sliding window along one array axis: for every output position and tap, the input
    cell it reads (n: none, i.e. a hole of the dilated input or padding)."""

    src: np.ndarray  # (n_out, taps)
    reads_pad: np.ndarray  # (n_out,) the window reads padding
    always_reads: bool  # every window reads at least one cell
    n: int


def _window(
    ctx: Context,
    tag: Tag | None,
    n: int,
    n_out: int,
    taps: int,
    stride: int,
    pad_lo: int,
    base_dilation: int = 1,
    window_dilation: int = 1,
) -> tuple[_Window, Tag | None]:
    """The window's reads, and the output axis's tag: a cell sits at its window's centre
    (the floor of it for even windows), in the coordinates of the input."""
    nd = (n - 1) * base_dilation + 1 if n else 0
    k_eff = (taps - 1) * window_dilation + 1
    u = np.arange(n_out)[:, None] * stride + np.arange(taps)[None, :] * window_dilation - pad_lo
    inside = (u >= 0) & (u <= nd - 1)
    src = np.where(inside & (u % base_dilation == 0), u // base_dilation, n)
    reads_pad = np.asarray(~inside.all(axis=1))
    window = _Window(src, reads_pad, bool((src < n).any(axis=1).all()), n)
    if tag is not None and tag.mapped:
        assert tag.slope is not None and tag.offset is not None
        ctx.widen(tag.axes, float(abs(tag.slope) * (k_eff - 1) / base_dilation))
        centre = Fraction(-pad_lo + (k_eff - 1) // 2, base_dilation)
        tag = tag.moved(
            tag.slope * Fraction(stride, base_dilation), tag.slope * centre + tag.offset
        )
    return window, tag


def _slide(x: np.ndarray, kind: str, axis: int, w: _Window) -> np.ndarray:
    """The union over each window along `axis` (a table that is uniform along the axis stays so
    when every window reads a cell)."""
    if x.shape[axis] == 1 and w.always_reads:
        return x
    ext = _extend(np.asarray(_along(x, axis, w.n)), axis, FILL[kind])
    acc = np.take(ext, w.src[:, 0], axis=axis)
    for t in range(1, w.src.shape[1]):
        acc = UNION[kind](acc, np.take(ext, w.src[:, t], axis=axis))
    return acc


def _taint_padding(v: Val, windows: dict[int, _Window], tags: Sequence[Tag | None]) -> Val:
    for a, w in windows.items():
        tag = tags[a]
        if tag is not None:
            # The window reads padding: a boundary rule along this axis.
            v = _mark_taint(v, tag.axes, a, w.reads_pad)
    return v


@rule("conv_general_dilated")
def _conv(eqn: Any, ins: list[Val], ctx: Context) -> list[Val]:
    p = eqn.params
    lhs, rhs = ins
    if p["batch_group_count"] != 1:
        raise _unsupported(eqn, ctx, "convolution with batch_group_count > 1")
    lhs_spec, rhs_spec, out_spec = p["dimension_numbers"]
    nsp = len(lhs_spec) - 2
    perm = tuple(lhs_spec)  # canonical layout: (batch, feature, *spatial)
    canon_shape = tuple(lhs.shape[a] for a in perm)
    canon_tags = tuple(lhs.tags[a] for a in perm)
    groups = p["feature_group_count"]
    out = out_shape(eqn)
    out_features = rhs.shape[rhs_spec[0]]
    kernel_dep = {k: [REDUCE[k](x) for x in rhs.table(k)] for k in KINDS}
    windows: dict[int, _Window] = {}
    tags: list[Tag | None] = [canon_tags[0], None]
    for i in range(nsp):
        windows[2 + i], tag = _window(
            ctx,
            canon_tags[2 + i],
            canon_shape[2 + i],
            out[out_spec[2 + i]],
            rhs.shape[rhs_spec[2 + i]],
            p["window_strides"][i],
            p["padding"][i][0],
            p["lhs_dilation"][i],
            p["rhs_dilation"][i],
        )
        tags.append(tag)

    def convolve(x: np.ndarray, kind: str, s: int) -> np.ndarray:
        x = x.transpose(perm)
        if x.shape[1] != 1:
            # Every output feature of group g reads every input feature of group g.
            if groups == 1:
                x = REDUCE[kind](x, axis=1, keepdims=True)
            else:
                shp = x.shape
                x = REDUCE[kind](x.reshape(shp[:1] + (groups, shp[1] // groups) + shp[2:]), axis=2)
                x = np.repeat(x, out_features // groups, axis=1)
        for a, w in windows.items():
            x = _slide(x, kind, a, w)
        if rhs.nonempty(s):
            # A kernel computed from the input: every output depends on all of it.
            x = UNION[kind](x, np.asarray(kernel_dep[kind][s], DTYPE[kind]))
        return compress(np.ascontiguousarray(x))

    canon_out = tuple(out[out_spec[j]] for j in range(len(out)))
    result = _taint_padding(each(lhs, canon_out, tags, convolve), windows, tags)
    inv = tuple(int(i) for i in np.argsort(out_spec))
    return [each(result, out, tuple(result.tags[i] for i in inv), lambda x, k, s: x.transpose(inv))]


@rule("reduce_window_sum", "reduce_window_max", "reduce_window_min", "reduce_window")
def _reduce_window(eqn: Any, ins: list[Val], ctx: Context) -> list[Val]:
    # Pooling: a window per array axis (size 1 on the axes it does not pool); a generic
    # reduce_window takes operands then init values, and every operand's window is the same.
    p = eqn.params
    n_ops = len(eqn.outvars)
    operands = ins[:n_ops]
    out = out_shape(eqn)
    windows: dict[int, _Window] = {}
    tags = list(operands[0].tags)
    for a in range(len(out)):
        k, st = p["window_dimensions"][a], p["window_strides"][a]
        (plo, phi), bd, wd = p["padding"][a], p["base_dilation"][a], p["window_dilation"][a]
        if (k, st, plo, phi, bd, wd) != (1, 1, 0, 0, 1, 1):
            windows[a], tags[a] = _window(
                ctx, tags[a], operands[0].shape[a], out[a], k, st, plo, bd, wd
            )

    def pool(x: np.ndarray, kind: str, s: int) -> np.ndarray:
        for a, w in windows.items():
            x = _slide(x, kind, a, w)
        return compress(np.ascontiguousarray(x))

    merged = _elementwise(_FakeEqn(eqn, 0), list(operands), ctx)[0] if n_ops > 1 else operands[0]
    result = _taint_padding(each(merged, out, tags, pool), windows, tags)
    return [result] * n_ops


@rule("fft")
def _fft(eqn: Any, ins: list[Val], ctx: Context) -> list[Val]:
    v = ins[0]
    k = len(eqn.params["fft_lengths"])
    axes = tuple(range(v.ndim - k, v.ndim))
    kind_name = getattr(eqn.params["fft_type"], "name", str(eqn.params["fft_type"]))
    inverse = "I" in kind_name.upper().replace("FFT", "")  # IFFT, IRFFT
    spatial: set[int] = set()
    for a in axes:
        tag = v.tags[a]
        if tag is not None and v.shape[a] > 1:
            spatial |= tag.axes
    spatial = {s for s in spatial if v.nonempty(s)}
    if spatial:
        ctx.record_global("fft")
    tags = list(v.tags)
    for a in axes:
        tag = tags[a]
        if tag is not None:
            tags[a] = Tag(tag.axes, tag.slope, tag.offset, freq=not inverse)
    lo_hi = {}
    for s in spatial:
        has = _reduce_table(v.lo[s], "lo", axes, True) <= _reduce_table(v.hi[s], "hi", axes, True)
        lo_hi[s] = (np.where(has, -INF, INF).astype(COORD), np.where(has, INF, -INF).astype(COORD))

    def transform(x: np.ndarray, kind: str, s: int) -> np.ndarray:
        if s in lo_hi and kind in ("lo", "hi"):
            return lo_hi[s][0 if kind == "lo" else 1]
        return _reduce_table(x, kind, axes, keepdims=True)

    return [each(v, out_shape(eqn), tags, transform)]


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


# ----------------------------------------------------------------------------- indexed moves


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


def _refit(v: Val, coords: dict[int, np.ndarray], fallback: Sequence[Tag | None]) -> Val:
    """Tags of a scatter's or gather's result from where its cells came from (see `_fit`)."""
    tags = list(fallback)
    taint = list(v.taint)
    for s, coord in coords.items():
        a, tag, bad = _fit(coord, s)
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
                mask = np.zeros(operand.shape[o], bool)
                mask[p.pos] = True
                out = _mark_taint(out, t_op.axes, o, mask)
        elif t_up is not None and t_up.mapped and t_op is None:
            # A spatial update written into a background array (zero insertion): the result's
            # cells take the update's coordinates; background cells beyond the first and last
            # written cell are padding, those in between are holes.
            assert t_up.slope is not None and t_up.offset is not None
            step = int(p.pos[1] - p.pos[0]) if len(p.pos) > 1 else 1
            slope = t_up.slope / step
            tags[o] = Tag(t_up.axes, slope, t_up.offset - slope * int(p.pos[0]))
            q = np.arange(operand.shape[o])
            out = _mark_taint(out, t_up.axes, o, (q < p.pos.min()) | (q > p.pos.max()))
        elif t_op is None and t_up is not None:
            tags[o] = t_up
    return Val(out.shape, out.lo, out.hi, out.taint, out.dense, tuple(tags))


SCATTERS = (
    "scatter scatter-add scatter_add scatter-mul scatter_mul scatter-min scatter_min "
    "scatter-max scatter_max scatter_sub scatter-sub"
).split()


@rule(*SCATTERS)
def _scatter(eqn: Any, ins: list[Val], ctx: Context) -> list[Val]:
    import jax

    operand, _, updates = ins[0], ins[1], ins[2]
    indices = np.asarray(ctx.concrete(1))
    axes = _placement(eqn, operand, updates, indices)
    if axes is not None:
        return [_placed(operand, updates, axes, eqn.primitive.name != "scatter", ctx.d)]
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
    if eqn.primitive.name != "scatter":
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
    return [_refit(out, coords, fallback)]


@rule("gather")
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
    return [_refit(out, _moved_coords([operand], shape, src, ctx.d), fallback)]


@rule("dynamic_update_slice")
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
        raise _unsupported(
            eqn,
            ctx,
            f"a '{eqn.primitive.name}' over more than "
            f"{MAX_ELEMENTS:,} elements that is not a strided or windowed write",
        )


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
