"""Values fixed at trace time (indices built from iota, literals and arithmetic), evaluated
with NumPy where NumPy computes exactly what XLA computes.

The structural method asks for such values (a gather's indices, a selection's pattern, a
slice's start). Binding the primitive to concrete arrays would run it eagerly: one XLA compile
per distinct primitive and shape, about 50 ms each, and the first one imports XLA's MLIR
dialects. Integer and boolean operations, comparisons, data movement and the IEEE-rounded
float operations (+, -, *, /, fmod, floor, ceil, min, max) give bit-identical results in NumPy;
anything else (transcendental functions, integer division by zero or of negatives, conversions
out of range, narrow float types) returns None and is bound as before.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from jax import lax
from jax.extend.core import Literal
from jax.extend.core.primitives import closed_call_p, jit_p

# Types whose arithmetic NumPy and XLA round alike (bfloat16 and float16 are left to XLA).
_EXACT = {np.dtype(t) for t in (bool, np.int8, np.int16, np.int32, np.int64)} | {
    np.dtype(t) for t in (np.uint8, np.uint16, np.uint32, np.uint64, np.float32, np.float64)
}

Impl = Callable[[list[np.ndarray], dict[str, Any]], np.ndarray | None]


def _ints(*xs: np.ndarray) -> bool:
    return all(np.issubdtype(x.dtype, np.integer) for x in xs)


def _div(a: np.ndarray, b: np.ndarray) -> np.ndarray | None:
    if not _ints(a, b):
        return np.true_divide(a, b)
    # lax.div rounds toward zero; floor division agrees where nothing is negative.
    if np.any(b <= 0) or np.any(a < 0):
        return None
    return np.floor_divide(a, b)


def _rem(a: np.ndarray, b: np.ndarray) -> np.ndarray | None:
    # lax.rem takes the dividend's sign, as C's fmod does.
    if _ints(a, b) and np.any(b == 0):
        return None
    return np.fmod(a, b)


def _convert(x: np.ndarray, new_dtype: Any) -> np.ndarray | None:
    to = np.dtype(new_dtype)
    if np.issubdtype(x.dtype, np.floating) and np.issubdtype(to, np.integer):
        # Both truncate toward zero in range; out of range (and NaN) they may differ.
        info = np.iinfo(to)
        if not np.all(np.isfinite(x)) or np.any(x < info.min) or np.any(x > info.max):
            return None
    return x.astype(to)


def _broadcast(x: np.ndarray, shape: Sequence[int], dims: Sequence[int]) -> np.ndarray:
    shp = [1] * len(shape)
    for i, d in enumerate(dims):
        shp[d] = x.shape[i]
    return np.broadcast_to(x.reshape(shp), tuple(shape))


def _iota(dtype: Any, shape: Sequence[int], dimension: int) -> np.ndarray:
    shp = [1] * len(shape)
    shp[dimension] = shape[dimension]
    return np.broadcast_to(np.arange(shape[dimension], dtype=dtype).reshape(shp), tuple(shape))


def _slice(x: np.ndarray, p: dict[str, Any]) -> np.ndarray:
    strides = p["strides"] or (1,) * x.ndim
    return x[
        tuple(
            slice(lo, hi, st)
            for lo, hi, st in zip(p["start_indices"], p["limit_indices"], strides, strict=True)
        )
    ]


def _select(which: np.ndarray, cases: list[np.ndarray]) -> np.ndarray:
    out = np.broadcast_to(cases[0], np.broadcast_shapes(*(c.shape for c in cases), which.shape))
    for c, case in enumerate(cases[1:], start=1):
        out = np.where(which == c, case, out)
    return out


_IMPLS: dict[Any, Impl] = {
    lax.add_p: lambda a, p: np.add(*a),
    lax.sub_p: lambda a, p: np.subtract(*a),
    lax.mul_p: lambda a, p: np.multiply(*a),
    lax.div_p: lambda a, p: _div(*a),
    lax.rem_p: lambda a, p: _rem(*a),
    lax.neg_p: lambda a, p: np.negative(a[0]),
    lax.max_p: lambda a, p: np.maximum(*a),
    lax.min_p: lambda a, p: np.minimum(*a),
    lax.floor_p: lambda a, p: np.floor(a[0]),
    lax.ceil_p: lambda a, p: np.ceil(a[0]),
    lax.eq_p: lambda a, p: np.equal(*a),
    lax.ne_p: lambda a, p: np.not_equal(*a),
    lax.lt_p: lambda a, p: np.less(*a),
    lax.le_p: lambda a, p: np.less_equal(*a),
    lax.gt_p: lambda a, p: np.greater(*a),
    lax.ge_p: lambda a, p: np.greater_equal(*a),
    lax.and_p: lambda a, p: np.bitwise_and(*a),
    lax.or_p: lambda a, p: np.bitwise_or(*a),
    lax.xor_p: lambda a, p: np.bitwise_xor(*a),
    lax.not_p: lambda a, p: np.invert(a[0]),
    lax.clamp_p: lambda a, p: np.minimum(np.maximum(a[1], a[0]), a[2]),
    lax.select_n_p: lambda a, p: _select(a[0], a[1:]),
    lax.convert_element_type_p: lambda a, p: _convert(a[0], p["new_dtype"]),
    lax.iota_p: lambda a, p: _iota(p["dtype"], p["shape"], p["dimension"]),
    lax.broadcast_in_dim_p: lambda a, p: _broadcast(a[0], p["shape"], p["broadcast_dimensions"]),
    lax.reshape_p: lambda a, p: (
        None if p.get("dimensions") is not None else np.reshape(a[0], p["new_sizes"])
    ),
    lax.squeeze_p: lambda a, p: np.squeeze(a[0], axis=tuple(p["dimensions"])),
    lax.transpose_p: lambda a, p: np.transpose(a[0], p["permutation"]),
    lax.rev_p: lambda a, p: np.flip(a[0], axis=tuple(p["dimensions"])),
    lax.concatenate_p: lambda a, p: np.concatenate(a, axis=p["dimension"]),
    lax.slice_p: lambda a, p: _slice(a[0], p),
}


def evaluate(eqn: Any, args: Sequence[Any]) -> list[np.ndarray] | None:
    """The outputs of `eqn` on concrete `args`, computed by NumPy; None where NumPy would not
    give exactly XLA's result (the caller then binds the primitive)."""
    if eqn.primitive in (jit_p, closed_call_p):
        closed = eqn.params.get("jaxpr", eqn.params.get("call_jaxpr"))
        if closed is None or not hasattr(closed, "jaxpr"):
            return None
        return run(closed.jaxpr, list(closed.consts), list(args))
    impl = _IMPLS.get(eqn.primitive)
    if impl is None or len(eqn.outvars) != 1:
        return None
    avals = [v.aval for v in eqn.invars]
    if any(np.dtype(a.dtype) not in _EXACT for a in (*avals, eqn.outvars[0].aval)):
        return None
    xs = [np.asarray(x, dtype=a.dtype) for x, a in zip(args, avals, strict=True)]
    with np.errstate(all="ignore"):  # IEEE results (inf, nan) as XLA gives them
        out = impl(xs, eqn.params)
    aval = eqn.outvars[0].aval
    if out is None:
        return None
    out = np.asarray(out)
    if out.shape != tuple(aval.shape) or out.dtype != np.dtype(aval.dtype):
        return None
    return [out]


def run(jaxpr: Any, consts: list[Any], args: list[Any]) -> list[np.ndarray] | None:
    """Evaluate a whole jaxpr by `evaluate`; None if some equation is left to XLA."""
    env: dict[Any, Any] = dict(zip(jaxpr.constvars, consts, strict=True))
    env.update(zip(jaxpr.invars, args, strict=True))

    def read(atom: Any) -> Any:
        return atom.val if isinstance(atom, Literal) else env[atom]

    for eqn in jaxpr.eqns:
        outs = evaluate(eqn, [read(a) for a in eqn.invars])
        if outs is None:
            return None
        env.update(zip(eqn.outvars, outs, strict=True))
    return [np.asarray(read(a), dtype=a.aval.dtype) for a in jaxpr.outvars]
