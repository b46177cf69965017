"""The perturbation oracle shared by the receptive-field tests (README, "Exact receptive fields").

A ground truth that shares no code with archinspect's methods:

- the oracle perturbs one input cell at a time (several base inputs, several perturbations,
  +inf and -inf among them) and records which output elements change: a dependency it sees
  is real, and the bases and perturbations are chosen so that it sees all of them here (each
  case also states the hand-derived value, which the oracle must reproduce);
- an output cell q of an axis n_out long sits at input coordinate q * n_in / n_out (a coarse
  cell j of a stride-2 grid at 2j, a fine cell p of an up-sampled one at p / 2, as
  tests/test_rf_hand.py reads them); its dependencies along the axis span [lo, hi], so it
  reaches q - lo cells back and hi - q forward; only cells in the middle half of the axis are
  measured, far from any boundary, which is what the structural method measures on an
  unbounded domain;
- per axis the result is (max backward, max forward), and the position range their minima
  and maxima over those cells.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.extend.core import ClosedJaxpr, Jaxpr, Primitive

from archinspect.analysis.receptive_field import receptive_field


class Probe(eqx.Module):
    """f as a module (the scalar weight gives the trace its float dtype)."""

    fn: Callable = eqx.field(static=True)
    w: jax.Array

    def __call__(self, x):
        return self.fn(x)


def structural(fn, shape):
    return receptive_field(Probe(fn, jnp.ones(())), shape)


# ----------------------------------------------------------------------------- the oracle


def primitives_of(fn, shape) -> set[Primitive]:
    """Every primitive in the jaxpr of fn, at any depth (the test's own traversal)."""
    found: set[Primitive] = set()

    def scan(jaxpr):
        for eqn in jaxpr.eqns:
            found.add(eqn.primitive)
            for value in eqn.params.values():
                for sub in value if isinstance(value, (tuple, list)) else (value,):
                    if isinstance(sub, ClosedJaxpr):
                        scan(sub.jaxpr)
                    elif isinstance(sub, Jaxpr):
                        scan(sub)

    scan(jax.make_jaxpr(fn)(jax.ShapeDtypeStruct(shape, jnp.float32)).jaxpr)
    return found


def dependencies(fn, shape, infinite: bool = True) -> tuple[np.ndarray, tuple[int, ...]]:
    """dep[o, i]: output element o changes when input element i is perturbed."""
    rng = np.random.default_rng(0)
    n = math.prod(shape)
    # Random signs and sizes, and constant, all-positive and all-negative inputs (comparisons,
    # selections and clamps pass a perturbation on only for some inputs).
    bases = [scale * rng.normal(size=shape) for scale in (0.5, 1, 1, 2, 3, 3, 5, 10)]
    bases += [np.full(shape, 0.5), rng.uniform(1.5, 2.5, shape), rng.uniform(-2.5, -1.5, shape)]
    batched = jax.jit(jax.vmap(fn))
    dep = None
    for base in bases:
        flat = base.reshape(-1)
        rows = [flat[None]]
        for delta in (2.5, -1.75, 0.25) + ((np.inf, -np.inf) if infinite else ()):
            x = np.repeat(flat[None], n, axis=0)
            x[np.arange(n), np.arange(n)] += delta
            rows.append(x)
        xs = np.concatenate(rows).reshape((-1, *shape)).astype(np.float32)
        ys = np.asarray(batched(xs))
        out_shape = ys.shape[1:]
        ys = ys.reshape(ys.shape[0], -1)
        y0, yp = ys[:1], ys[1:]
        same = (yp == y0) | (np.isnan(yp) & np.isnan(y0))
        changed = (~same).reshape(-1, n, yp.shape[1]).any(axis=0)  # (input, output)
        dep = changed.T if dep is None else dep | changed.T
    assert dep is not None
    return dep, out_shape


def _num(x):
    return int(x) if float(x).is_integer() else float(x)


def oracle(fn, shape, infinite: bool = True):
    """(per_axis, position_range) from the dependencies (see the module docstring)."""
    dep, out_shape = dependencies(fn, shape, infinite)
    d = len(shape) - 1
    assert len(out_shape) == d + 1, out_shape
    in_idx = np.indices(shape).reshape(len(shape), -1)
    out_idx = np.indices(out_shape).reshape(len(out_shape), -1)
    ratio = [Fraction(shape[s + 1], out_shape[s + 1]) for s in range(d)]
    pos = [out_idx[s + 1] * float(ratio[s]) for s in range(d)]
    middle = np.ones(out_idx.shape[1], bool)
    for s in range(d):
        n = shape[s + 1]
        middle &= (pos[s] >= n / 4) & (pos[s] < 3 * n / 4)
    per_axis, ranges = [], []
    for s in range(d):
        back, fwd = [], []
        for o in np.nonzero(middle & dep.any(axis=1))[0]:
            cells = in_idx[s + 1][dep[o]]
            back.append(pos[s][o] - cells.min())
            fwd.append(cells.max() - pos[s][o])
        assert back, "no measured output cell depends on anything"
        per_axis.append((_num(max(back)), _num(max(fwd))))
        ranges.append(((_num(min(back)), _num(max(back))), (_num(min(fwd)), _num(max(fwd)))))
    return tuple(per_axis), tuple(ranges)
