"""Sliding windows: convolutions and pooling (reduce_window), with strides, dilations and
padding. Each output cell unites the tables of the cells its window reads and sits at the
window's centre; a window that reads padding marks a boundary (taint).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Any

import numpy as np
from jax import lax

from archinspect.analysis.receptive_field.rules.elementwise import union_val
from archinspect.analysis.receptive_field.rules.registry import (
    Context,
    keeps_support,
    out_shape,
    rule,
    unsupported,
)
from archinspect.analysis.receptive_field.rules.tables import (
    DTYPE,
    FILL,
    KINDS,
    REDUCE,
    UNION,
    Tag,
    Val,
    along,
    compress,
    each,
    extend_one,
    mark_taint,
    masked,
    masks,
    materialise,
    supported,
)


@dataclass
class _Window:
    """A sliding window along one array axis: for every output position and tap, the input
    cell it reads (n: none, i.e. a hole of the dilated input or padding)."""

    src: np.ndarray  # (n_out, taps)
    reads_pad: np.ndarray  # (n_out,) the window reads padding
    always_reads: bool  # every window reads at least one cell
    n: int
    # Where every tap reads a cell and tap t of output q reads cell starts[t] + stride * q:
    # the taps are strided slices (views), not gathers. None otherwise.
    starts: tuple[int, ...] | None = None
    stride: int = 1


@lru_cache(maxsize=256)
def _reads(
    n: int,
    n_out: int,
    taps: int,
    stride: int,
    pad_lo: int,
    base_dilation: int,
    window_dilation: int,
) -> _Window:
    """The reads of a window (cached: a deep network repeats the same few windows; the arrays
    are read-only so that no rule can change a cached one)."""
    nd = (n - 1) * base_dilation + 1 if n else 0
    u = np.arange(n_out)[:, None] * stride + np.arange(taps)[None, :] * window_dilation - pad_lo
    inside = (u >= 0) & (u <= nd - 1)
    src = np.where(inside & (u % base_dilation == 0), u // base_dilation, n)
    reads_pad = np.asarray(~inside.all(axis=1))
    starts = None
    if n_out and base_dilation == 1 and bool(inside.all()):
        starts = tuple(int(i) for i in src[0])  # src[q, t] = src[0, t] + stride * q
    src.flags.writeable = False
    reads_pad.flags.writeable = False
    return _Window(src, reads_pad, bool((src < n).any(axis=1).all()), n, starts, stride)


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
    k_eff = (taps - 1) * window_dilation + 1
    window = _reads(n, n_out, taps, stride, pad_lo, base_dilation, window_dilation)
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
    if w.starts is not None:
        full = np.asarray(along(x, axis, w.n))
        n_out = w.src.shape[0]
        cut: list[Any] = [slice(None)] * full.ndim
        acc = None
        for b in w.starts:
            cut[axis] = slice(b, b + w.stride * (n_out - 1) + 1, w.stride)
            tap = full[tuple(cut)]
            acc = tap.copy() if acc is None else UNION[kind](acc, tap)
        if acc is not None:
            return acc
    ext = extend_one(np.asarray(along(x, axis, w.n)), axis, FILL[kind])
    acc = np.take(ext, w.src[:, 0], axis=axis)
    for t in range(1, w.src.shape[1]):
        acc = UNION[kind](acc, np.take(ext, w.src[:, t], axis=axis))
    return acc


def _taint_padding(v: Val, windows: dict[int, _Window], tags: Sequence[Tag | None]) -> Val:
    for a, w in windows.items():
        tag = tags[a]
        if tag is not None:
            # The window reads padding: a boundary rule along this axis.
            v = mark_taint(v, tag.axes, a, w.reads_pad)
    return v


@rule(lax.conv_general_dilated_p)
@keeps_support
def _conv(eqn: Any, ins: list[Val], ctx: Context) -> list[Val]:
    p = eqn.params
    lhs, rhs = ins
    rhs = materialise(rhs)
    if p["batch_group_count"] != 1:
        raise unsupported(eqn, ctx, "convolution with batch_group_count > 1")
    lhs_spec, rhs_spec, out_spec = p["dimension_numbers"]
    nsp = len(lhs_spec) - 2
    perm = tuple(lhs_spec)  # canonical layout: (batch, feature, *spatial)
    if masks(lhs)[perm[1]] is not None or rhs.nonempty():
        # Holes across features, or a kernel computed from the input: written out.
        lhs = materialise(lhs)
    held = [masks(lhs)[a] for a in perm]
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
        x = masked(lhs, kind, x).transpose(perm)
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
    # An output cell has a dependency only where its window reads a cell of the support along
    # every axis (the support is a product of masks, and so is the window).
    support: list[np.ndarray | None] = [held[0], None]
    for a, w in windows.items():
        m = held[a]
        slid = None if m is None else np.broadcast_to(_slide(m, "taint", 0, w), out[out_spec[a]])
        support.append(slid)
    result = _taint_padding(each(lhs, canon_out, tags, convolve), windows, tags)
    inv = tuple(int(i) for i in np.argsort(out_spec))
    moved = each(result, out, tuple(result.tags[i] for i in inv), lambda x, k, s: x.transpose(inv))
    return [supported(moved, [support[i] for i in inv])]


@rule(
    lax.reduce_window_sum_p, lax.reduce_window_max_p, lax.reduce_window_min_p, lax.reduce_window_p
)
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

    merged = union_val(operands[0].shape, list(operands), ctx.d) if n_ops > 1 else operands[0]
    result = _taint_padding(each(merged, out, tags, pool), windows, tags)
    return [result] * n_ops
