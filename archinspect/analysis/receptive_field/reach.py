"""How far a traced program's windows reach, read off its jaxpr before it is interpreted.

The structural method analyses an input at least as large as the requested one and grows it
until interior cells, free of boundary effects, cover the network's period. Interpreting an
input on which no cell can escape the boundary is wasted work (about half of the analysis of
a UNet). Along any chain of windows (convolutions, pools) an output cell depends on input cells
as far apart as the sum of the windows' widths on that chain, each in input cells (its width
times the grid's spacing, n_in / n along the axis): where the widest chain spans the whole
input, every output cell has read padding or been cut by the boundary, so the analysis goes
straight to the size the growth would reach, from the sum of every window's width (what the
interpreter's `Context.widen` adds up).

Only a hint for where to start: the result is exact by the growth's own check, whatever this
says. Programs with loops (whose steps the interpreter may stop early) give no hint.
"""

from __future__ import annotations

from typing import Any

from jax import lax
from jax.extend.core import Literal

from archinspect.analysis.jaxprs import sub_jaxprs

_POOLS = (lax.reduce_window_sum_p, lax.reduce_window_max_p, lax.reduce_window_min_p)
_LOOPS = (lax.scan_p, lax.while_p)


class _Loop(Exception):
    pass


def reach(jaxpr: Any, input_shape: tuple[int, ...]) -> tuple[list[float], list[float]] | None:
    """Per input spatial axis: (the widest chain of windows, the sum of every window), in input
    cells; None for a program with loops. The program's last input is the network's input."""
    sizes = input_shape[1:]
    d = len(sizes)
    total = [0.0] * d
    try:
        chain = _walk(jaxpr, [[0.0] * d for _ in jaxpr.invars], sizes, total)
    except _Loop:
        return None
    widest = [max((c[s] for c in chain), default=0.0) for s in range(d)]
    return widest, total


def _windows(eqn: Any, sizes: tuple[int, ...]) -> list[tuple[int, float]]:
    """(input spatial axis, width in input cells) of each window of `eqn` along a spatial axis:
    a convolution's spatial dimensions in order, a pool's non-trivial window dimensions in
    order (a heuristic: this only chooses where the analysis starts)."""
    p = eqn.params
    found: list[tuple[int, float]] = []
    if not eqn.outvars:
        return found
    out = eqn.outvars[0].aval.shape
    if eqn.primitive is lax.conv_general_dilated_p:
        rhs = eqn.invars[1].aval.shape
        lhs_spec, rhs_spec, out_spec = p["dimension_numbers"]
        for i in range(min(len(sizes), len(lhs_spec) - 2)):
            k_eff = (rhs[rhs_spec[2 + i]] - 1) * p["rhs_dilation"][i] + 1
            found.append((i, _width(sizes[i], out[out_spec[2 + i]], p["window_strides"][i], k_eff)))
    elif eqn.primitive in _POOLS or eqn.primitive is lax.reduce_window_p:
        trivial = (1, 1, (0, 0), 1, 1)
        axes = [
            a
            for a in range(len(out))
            if (
                p["window_dimensions"][a],
                p["window_strides"][a],
                tuple(p["padding"][a]),
                p["base_dilation"][a],
                p["window_dilation"][a],
            )
            != trivial
        ]
        if len(axes) <= len(sizes):
            for i, a in enumerate(axes):
                k_eff = (p["window_dimensions"][a] - 1) * p["window_dilation"][a] + 1
                found.append((i, _width(sizes[i], out[a], p["window_strides"][a], k_eff)))
    return found


def _width(n_in: int, n_out: int, stride: int, k_eff: int) -> float:
    """A window's width in input cells: its taps are one cell of its (dilated) input apart,
    whose spacing is the output's, n_in / n_out, over the stride (the output's size, unlike the
    input's, is not changed by explicit padding before a VALID window)."""
    return n_in / n_out / stride * (k_eff - 1) if n_out else 0.0


def _walk(
    jaxpr: Any, ins: list[list[float]], sizes: tuple[int, ...], total: list[float]
) -> list[list[float]]:
    d = len(sizes)
    chain: dict[Any, list[float]] = dict(zip(jaxpr.invars, ins, strict=True))
    zero = [0.0] * d

    def read(atom: Any) -> list[float]:
        return zero if isinstance(atom, Literal) else chain.get(atom, zero)

    for eqn in jaxpr.eqns:
        if eqn.primitive in _LOOPS:
            raise _Loop
        reads = [read(a) for a in eqn.invars]
        widest = [max((r[s] for r in reads), default=0.0) for s in range(d)]
        subs = sub_jaxprs(eqn)
        if subs:
            # A call's (or a cond's branches', a custom derivative's primal) jaxpr: the chains
            # run through it; its windows count once per jaxpr, as the interpreter's do.
            outs = [list(zero) for _ in eqn.outvars]
            for sub, _ in subs:
                n = len(sub.invars)
                sub_ins = reads[len(reads) - n :] if 0 < n <= len(reads) else [widest] * n
                got = _walk(sub, sub_ins, sizes, total)
                if len(got) != len(outs):
                    got = [widest] * len(outs)  # not the call's body: every output may read all
                outs = [
                    [max(a, b) for a, b in zip(o, g, strict=True)]
                    for o, g in zip(outs, got, strict=True)
                ]
        else:
            out = list(widest)
            for s, width in _windows(eqn, sizes):
                out[s] += width
                total[s] += width
            outs = [out for _ in eqn.outvars]
        for var, val in zip(eqn.outvars, outs, strict=True):
            chain[var] = val
    return [read(a) for a in jaxpr.outvars]
