"""Elementwise primitives: each output element depends on the same element of every operand.

The rule is the union of the operands' tables, broadcast as the arrays broadcast (a rank-0
operand, a literal, broadcasts against everything). Weights, biases and literals depend on
nothing and are left out of the union.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from jax import lax
from jax.extend.core import Primitive

from archinspect.analysis.receptive_field.rules.registry import (
    Context,
    keeps_support,
    out_shape,
    register,
)
from archinspect.analysis.receptive_field.rules.tables import (
    UNION,
    Val,
    build,
    empty,
    first_tag,
    inert,
    materialise,
    same_support,
    supported,
    taint_all,
    with_rank,
)


def union_val(shape: tuple[int, ...], ins: list[Val], d: int) -> Val:
    """What an element of an elementwise result of `shape` over `ins` depends on."""
    n = len(shape)
    vals = [with_rank(v, n) for v in ins]
    tags = [first_tag([v.tags[a] for v in vals if v.shape[a] == shape[a]]) for a in range(n)]
    # Weights, biases and literals depend on nothing: leave them out of the union.
    vals = [v for v in vals if not inert(v)]
    if not vals:
        return empty(shape, d, tags)
    if not same_support(vals):
        vals = [materialise(v) for v in vals]  # holes in different places: written out
    if len(vals) == 1:
        out = Val(shape, vals[0].lo, vals[0].hi, vals[0].taint, vals[0].dense, tuple(tags))
    else:

        def joined(k: str, s: int) -> np.ndarray:
            acc = vals[0].table(k)[s]
            for v in vals[1:]:
                acc = UNION[k](acc, v.table(k)[s])
            return acc

        out = build(shape, tags, d, joined)
    out = supported(out, vals[0].support)
    for v in vals:
        for a in range(n):
            tag = v.tags[a]
            # One cell of a spatial axis spread over the whole axis (x + x[:, :1]) is an
            # absolute position, not a stencil: distrust the result along that axis.
            if tag is not None and v.shape[a] == 1 < shape[a] and v.nonempty():
                out = taint_all(out, tag.axes)
    return out


@keeps_support
def _elementwise(eqn: Any, ins: list[Val], ctx: Context) -> list[Val]:
    return [union_val(out_shape(eqn), ins, ctx.d)]


def defelementwise(*primitives: Primitive) -> None:
    register(_elementwise, *primitives)


# Arithmetic, comparisons, logic and bit operations, special functions, conversions.
defelementwise(
    lax.abs_p, lax.acos_p, lax.acosh_p, lax.add_p, lax.and_p, lax.asin_p, lax.asinh_p,
    lax.atan_p, lax.atan2_p, lax.atanh_p, lax.bessel_i0e_p, lax.bessel_i1e_p, lax.cbrt_p,
    lax.ceil_p, lax.clamp_p, lax.clz_p, lax.complex_p, lax.conj_p, lax.convert_element_type_p,
    lax.copy_p, lax.cos_p, lax.cosh_p, lax.digamma_p, lax.div_p, lax.eq_p, lax.erf_inv_p,
    lax.erf_p, lax.erfc_p, lax.exp2_p, lax.exp_p, lax.expm1_p, lax.floor_p, lax.ge_p, lax.gt_p,
    lax.igamma_p, lax.igammac_p, lax.imag_p, lax.integer_pow_p, lax.is_finite_p, lax.le_p,
    lax.lgamma_p, lax.log1p_p, lax.log_p, lax.logistic_p, lax.lt_p, lax.max_p, lax.min_p,
    lax.mul_p, lax.ne_p, lax.neg_p, lax.nextafter_p, lax.not_p, lax.or_p, lax.polygamma_p,
    lax.population_count_p, lax.pow_p, lax.real_p, lax.reduce_precision_p,
    lax.regularized_incomplete_beta_p, lax.rem_p, lax.round_p, lax.rsqrt_p,
    lax.shift_left_p, lax.shift_right_arithmetic_p, lax.shift_right_logical_p, lax.sign_p,
    lax.sin_p, lax.sinh_p, lax.sqrt_p, lax.square_p, lax.sub_p, lax.tan_p, lax.tanh_p,
    lax.xor_p, lax.zeta_p,
)  # fmt: skip

# stop_gradient changes derivatives only: its forward value, which the receptive field is about,
# is its operand, element by element (softmax subtracts a stopped maximum).
defelementwise(lax.stop_gradient_p)
