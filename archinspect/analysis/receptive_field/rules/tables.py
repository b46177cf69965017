"""Dependency tables: what every array value of the traced forward pass depends on.

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
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any

import numpy as np

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

    A reshape that splits a spatial axis (n cells into (n // f, f)) gives the coarse axis the
    map (slope * f) and the minor axis a `phase` tag: its positions add slope * i to the
    coordinate, so a reduction over it is a window, not a statistic over space. `period`: the
    layout repeats every `period` positions (a gather reading q - 1 at even and q + 1 at odd
    cells), a period of the network. `why` says what broke the order of the cells (a flip, a
    permutation), for the refusal when such an axis reaches the output.
    """

    axes: frozenset[int]
    slope: Fraction | None = None
    offset: Fraction | None = None
    freq: bool = False
    phase: bool = False
    period: int = field(default=1, compare=False)
    why: str = field(default="", compare=False)
    # No periodic layout was found, but most cells were boundary cells: on a larger input the
    # interior may show one (a Lanczos resize on a short axis).
    settle: bool = field(default=False, compare=False)

    @property
    def mapped(self) -> bool:
        return self.slope is not None and not self.freq and not self.phase

    def coord(self, q: Any) -> Any:
        assert self.slope is not None and self.offset is not None
        return q * float(self.slope) + float(self.offset)

    def moved(self, slope: Fraction, offset: Fraction) -> Tag:
        return replace(self, slope=slope, offset=offset)

    def unmapped(self) -> Tag:
        return Tag(self.axes, why=self.why, settle=self.settle)


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
    # Per array axis, None or a 1-D mask as long as the axis: an element off the mask along
    # some axis depends on nothing (its lo, hi and dense are FILL, whatever the tables hold;
    # its taint may be set where the exact one is not, which only measures fewer cells).
    # Zero insertion and padding stay factorised this way instead of writing their holes into
    # every table, which would make each table as large as the array (`materialise`).
    support: tuple[np.ndarray | None, ...] | None = field(default=None, compare=False)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def d(self) -> int:
        return len(self.lo)

    def table(self, kind: str) -> tuple[np.ndarray, ...]:
        return getattr(self, kind)

    def nonempty(self, s: int | None = None) -> bool:
        if self.support is not None and any(m is not None and not m.any() for m in self.support):
            return False
        comps = range(self.d) if s is None else (s,)
        return any(
            bool(np.any(masked(self, "lo", self.lo[c]) <= masked(self, "hi", self.hi[c])))
            for c in comps
        )


def masked(v: Val, kind: str, x: np.ndarray) -> np.ndarray:
    """Table x of v with FILL off v's support along the axes where x varies (its shape kept):
    along the others the support stays a factor of its own. Taint is left as it is."""
    if v.support is None or kind == "taint":
        return x
    for a, m in enumerate(v.support):
        if m is not None and x.shape[a] != 1:
            shp = [1] * x.ndim
            shp[a] = m.size
            x = np.where(m.reshape(shp), x, np.asarray(FILL[kind], DTYPE[kind]))
    return x


def materialise(v: Val) -> Val:
    """v with its support written into every table (the form rules without a support rule
    read): tables then vary along every axis with holes."""
    if v.support is None:
        return v
    support = v.support

    def full(x: np.ndarray, kind: str, s: int) -> np.ndarray:
        if kind == "taint":
            return x
        for a, m in enumerate(support):
            if m is not None:
                shp = [1] * x.ndim
                shp[a] = m.size
                x = np.where(m.reshape(shp), x, np.asarray(FILL[kind], DTYPE[kind]))
        return x

    return each(v, v.shape, v.tags, full)


def supported(v: Val, support: Sequence[np.ndarray | None] | None) -> Val:
    """v with `support` (masks that are all set are dropped)."""
    if support is None:
        return with_support(v, None)
    masks = tuple(None if m is None or m.all() else np.asarray(m, bool) for m in support)
    return with_support(v, None if all(m is None for m in masks) else masks)


def with_support(v: Val, support: tuple[np.ndarray | None, ...] | None) -> Val:
    """`replace(v, support=support)`, without its per-call field introspection (every rule
    that keeps supports calls this, a deep network hundreds of thousands of times)."""
    return Val(v.shape, v.lo, v.hi, v.taint, v.dense, v.tags, support)


def masks(v: Val) -> list[np.ndarray | None]:
    """v's support per array axis (None: every position)."""
    return list(v.support) if v.support is not None else [None] * v.ndim


def same_support(vals: Sequence[Val]) -> bool:
    ref = masks(vals[0])
    for v in vals[1:]:
        for m, r in zip(masks(v), ref, strict=True):
            if m is None or r is None:
                if m is not r:
                    return False
            elif not np.array_equal(m, r):
                return False
    return True


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
    """A value that depends on nothing: one cell per table, the same read-only tables for
    every value of its rank (literals, weights and constants are most of a network's values)."""
    n = len(shape)
    tables = _EMPTY.get((n, d))
    if tables is None:
        one = (1,) * n

        def fill(k: str) -> tuple[np.ndarray, ...]:
            x = np.full(one, FILL[k], DTYPE[k])
            x.setflags(write=False)  # shared: a rule that wrote into it would fail loudly
            return (x,) * d

        tables = _EMPTY[n, d] = (fill("lo"), fill("hi"), fill("taint"), fill("dense"))
    lo, hi, taint, dense = tables
    return Val(tuple(shape), lo, hi, taint, dense, (None,) * n if tags is None else tuple(tags))


_EMPTY: dict[tuple[int, int], tuple[tuple[np.ndarray, ...], ...]] = {}


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


def along(arr: np.ndarray, axis: int, n: int) -> np.ndarray:
    """arr broadcast to n along axis (a view) when it is uniform there."""
    if arr.shape[axis] == n:
        return arr
    shape = list(arr.shape)
    shape[axis] = n
    return np.broadcast_to(arr, shape)


def to_shape(arr: np.ndarray, shape: Sequence[int]) -> np.ndarray:
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


def with_rank(v: Val, n: int) -> Val:
    """Rank-0 operands (literals, scalars) broadcast against rank-n ones."""
    if v.ndim == n:
        return v
    assert v.ndim == 0, (v.shape, n)
    one = (1,) * n
    return each(v, one, (None,) * n, lambda x, k, s: x.reshape(one))


def place_along(arr: np.ndarray, axis: int, length: int, pos: np.ndarray, fill: Any) -> np.ndarray:
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


def extend_one(arr: np.ndarray, axis: int, fill: Any) -> np.ndarray:
    """One extra cell at the end of `axis` holding `fill` (no dependency)."""
    pad_shape = list(arr.shape)
    pad_shape[axis] = 1
    return np.concatenate([arr, np.full(pad_shape, fill, arr.dtype)], axis=axis)


def mark_taint(v: Val, axes: frozenset[int] | set[int], axis: int, mask: np.ndarray) -> Val:
    """Taint components `axes` where `mask` (1-D, along array axis `axis`) is set."""
    if not np.any(mask):
        return v
    shp = [1] * v.ndim
    shp[axis] = mask.size
    m = mask.reshape(shp)
    taint = list(v.taint)
    for s in axes:
        taint[s] = along(taint[s], axis, mask.size) | m
    return replace(v, taint=tuple(taint))


def taint_all(v: Val, axes: frozenset[int] | set[int]) -> Val:
    taint = list(v.taint)
    for s in axes:
        taint[s] = np.ones((1,) * v.ndim, bool)
    return replace(v, taint=tuple(taint))


def first_tag(tags: Sequence[Tag | None]) -> Tag | None:
    mapped = [t for t in tags if t is not None and t.mapped]
    if mapped:
        return mapped[0]
    present = [t for t in tags if t is not None]
    return present[0] if present else None


def union_tag(tags: Sequence[Tag | None]) -> Tag | None:
    present = [t for t in tags if t is not None]
    if not present:
        return None
    return Tag(frozenset().union(*(t.axes for t in present)))


def inert(v: Val) -> bool:
    """Depends on nothing, anywhere (cheap: such values have size-1 tables)."""
    held = _EMPTY.get((len(v.shape), len(v.lo)))
    if held is not None and v.lo is held[0] and v.hi is held[1]:
        if v.taint is held[2] and v.dense is held[3]:
            return True  # `empty`'s own tables
    for k in KINDS:
        for x in v.table(k):
            if x.size != 1 or x.reshape(()) != FILL[k]:
                return False
    return True


# ----------------------------------------------------------------------------- periodic layouts

# The longest period a layout built by indexing (gathers, constant matrices, selections) may
# have along an axis; longer ones are treated as not periodic (and refused where they matter).
MAX_PERIOD = 256


@dataclass
class Fit:
    """A layout along an axis: position q's hull [lo, hi] is the map slope * q + offset plus a
    deviation that repeats every `period` positions; `on` marks the positions that follow it
    (the others are boundary cells: wrapped, clamped or cut off)."""

    period: int
    slope: Fraction
    offset: Fraction
    on: np.ndarray


def _mode_per_phase(phase: np.ndarray, dev: np.ndarray, known: np.ndarray, p: int) -> np.ndarray:
    """Per phase (0..p-1), the most common deviation row among known cells (NaN: none)."""
    keys = np.concatenate([phase[known][:, None], dev[known]], axis=1)
    rows, counts = np.unique(keys, axis=0, return_counts=True)
    best = np.full((p, dev.shape[1]), np.nan)
    top = np.zeros(p, np.int64)
    for row, count in zip(rows, counts, strict=True):
        r = int(row[0])
        if count > top[r]:
            top[r], best[r] = count, row[1:]
    return best


def fit_layout(
    lo: np.ndarray, hi: np.ndarray, known: np.ndarray, slope0: bool = False
) -> Fit | None:
    """The periodic layout of lines of hulls (arrays (lines, n): position q of every line).

    The smallest period (up to MAX_PERIOD, and a quarter of the line) whose map most known
    positions follow, with every other known position before the first or after the last one
    that follows it (a boundary cell: wrapped, clamped or cut off), wins; None if no period
    does. With `slope0` the map is constant (a selection pattern).
    """
    lines, n = lo.shape
    total = int(known.sum())
    if total == 0:
        return None
    q = np.broadcast_to(np.arange(n, dtype=float), lo.shape)
    flat_known = known.reshape(-1)
    for p in range(1, max(1, min(MAX_PERIOD, n // 4)) + 1):
        if slope0:
            delta = 0.0
        else:
            both = known[:, p:] & known[:, :-p]
            dl = (lo[:, p:] - lo[:, :-p])[both]
            dh = (hi[:, p:] - hi[:, :-p])[both]
            same = dl[dl == dh]
            if same.size == 0:
                continue
            values, counts = np.unique(np.round(same, 9), return_counts=True)
            delta = float(values[np.argmax(counts)])
        slope = Fraction(delta / p).limit_denominator(1 << 20)
        dev = np.stack([lo - float(slope) * q, hi - float(slope) * q], axis=-1)
        dev = np.round(dev, 9).reshape(-1, 2)
        phase = (q % p).reshape(-1)
        modes = _mode_per_phase(phase, dev, flat_known, p)
        on = (flat_known & np.all(dev == modes[phase.astype(int)], axis=1)).reshape(lo.shape)
        if 2 * int(on.sum()) > total and _only_boundary(on, known):
            centre = float(np.nanmean(modes))
            return Fit(p, slope, Fraction(centre).limit_denominator(1 << 20), on)
    return None


def _only_boundary(on: np.ndarray, known: np.ndarray) -> bool:
    """Every known position off the fit lies before the first or after the last one on it."""
    n = on.shape[1]
    q = np.arange(n)
    first = np.where(on.any(1), np.argmax(on, axis=1), n)[:, None]
    last = np.where(on.any(1), n - 1 - np.argmax(on[:, ::-1], axis=1), -1)[:, None]
    inside = (q >= first) & (q <= last)
    return not np.any(known & ~on & inside)
