"""The empirical method's linearisation of what the positive copy cannot make linear by its
weights (README, "Exact receptive fields": the empirical method).

The positive linear copy cuts activations and norms that are fields of modules; what a module
computes inline stays: max pooling, softmax, and products of two values that both depend on
the input (attention's q kᵀ and its weighted sum of values). Each such equation is rebound, in
the copy's program, as a positive linear map that reads exactly the same operand elements:

- a nonlinear function of one input-dependent operand (exp, tanh, a power, max(x, c), c / x) is
  its operand;
- a product, quotient, maximum, minimum or difference of two input-dependent operands is their
  sum (a difference too: its terms can cancel, a sum's cannot);
- a contraction of two input-dependent operands, a · b, is a · 1 + 1 · b (each output element
  reads the same elements of each operand);
- a maximum or minimum over axes or windows is the sum over them, a cumulative max, min, product
  or log-sum-exp the cumulative sum.

Each keeps which operand elements an output element reads, and its derivative with respect to
every one of them is positive, so the gradient of the rebound program is nonzero exactly where
the model's output reads an input cell. Equations of the input alone with a weight or a
constant (x · w, x - c) are linear already and left alone. Anything else stays as traced: a
nonlinearity not listed here still fails the copy's linearity certificate, never a guess.
"""

from __future__ import annotations

from typing import Any

_UNARY = (
    "exp exp2 log log1p expm1 tanh logistic sqrt rsqrt cbrt sin cos tan asin acos atan sinh "
    "cosh asinh acosh atanh abs sign floor ceil round erf erfc erf_inv lgamma digamma "
    "integer_pow square"
).split()
_BINARY = "mul div pow max min atan2 rem sub".split()
_REDUCE = {"reduce_max": "reduce_sum", "reduce_min": "reduce_sum"}
_WINDOW = {"reduce_window_max": "reduce_window_sum", "reduce_window_min": "reduce_window_sum"}
_CUMULATIVE = {
    "cummax": "cumsum",
    "cummin": "cumsum",
    "cumprod": "cumsum",
    "cumlogsumexp": "cumsum",
}


def _prim(name: str) -> Any:
    from jax import lax

    return getattr(lax, f"{name}_p", None)


def _by_name() -> dict[Any, str]:
    found: dict[Any, str] = {}
    for name in [*_UNARY, *_BINARY, *_REDUCE, *_WINDOW, *_CUMULATIVE, "dot_general"]:
        prim = _prim(name)
        if prim is not None:
            found[prim] = name
    return found


_NAMES: dict[Any, str] | None = None


def linearised(eqn: Any, ins: list[Any], dependent: list[bool]) -> list[Any] | None:
    """The outputs of `eqn` rebound as described in the module docstring, or None where the
    equation is left as traced. `dependent[i]`: operand i depends on the input."""
    global _NAMES
    import jax.numpy as jnp
    from jax import lax

    if _NAMES is None:
        _NAMES = _by_name()
    name = _NAMES.get(eqn.primitive)
    if name is None or not any(dependent):
        return None
    out = eqn.outvars[0].aval
    if name in _UNARY:
        (x,) = ins
        return [x] if x.dtype == out.dtype and x.shape == out.shape else None
    if name in _BINARY:
        a, b = ins
        if all(dependent):
            return [lax.add(a, b)]
        if name in ("mul", "sub") or (name == "div" and dependent[0]):
            return None  # linear in the dependent operand
        (x,) = [v for v, dep in zip(ins, dependent, strict=True) if dep]
        return [jnp.broadcast_to(x, out.shape)] if x.dtype == out.dtype else None
    if name in _REDUCE:
        return [lax.reduce_sum_p.bind(ins[0], axes=eqn.params["axes"], out_sharding=None)]
    if name in _WINDOW:
        return [_prim(_WINDOW[name]).bind(ins[0], **eqn.params)]
    if name in _CUMULATIVE:
        return [_prim(_CUMULATIVE[name]).bind(ins[0], **eqn.params)]
    if name == "dot_general" and all(dependent):
        a, b = ins
        left = lax.dot_general_p.bind(a, jnp.ones_like(b), **eqn.params)
        right = lax.dot_general_p.bind(jnp.ones_like(a), b, **eqn.params)
        return [lax.add(left, right)]
    return None
