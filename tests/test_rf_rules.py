"""One test per structural RF rule: a minimal function against an independent oracle.

The registry (README, "Exact receptive fields": a rule per primitive) is keyed by the
primitive objects of the installed JAX; the first tests check that every key is one and that
none is registered twice. Then each case is a small function `f(x)` on a channels-first input
that contains the primitive under test (checked on its jaxpr), whose structural receptive
field must equal the oracle's:

- the oracle (`tests/rf_oracle.py`) perturbs one input cell at a time and records which
  output elements change; each case also states the hand-derived value, which the oracle
  must reproduce.

Most cases shift a copy of the input by `jnp.roll(x, 2)` (output p reads input p - 2) so that a
rule which dropped or moved a dependency would show: x op roll(x, 2) reaches 2 cells back, 0
forward.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax
from jax._src.callback import io_callback_p, pure_callback_p
from jax._src.core import pvary_p
from jax._src.debugging import debug_callback_p, debug_print_p
from jax._src.pjit import reshard_p
from jax._src.random.prng import random_unwrap_p, random_wrap_p
from jax.experimental import io_callback
from jax.extend.core import Primitive
from jax.extend.core import primitives as ext

from archinspect.analysis.receptive_field import layer_receptive_fields, receptive_field
from archinspect.analysis.receptive_field.rules import MARK, RULES
from archinspect.analysis.receptive_field.rules.registry import register
from archinspect.errors import UnsupportedOperation
from tests.rf_oracle import Probe, dependencies, oracle, primitives_of, structural

N = 32  # cells of a 1-D input; stencils here are at most a few cells wide


# ----------------------------------------------------------------------------- the cases


def r(x, shift=2):
    """Output p reads input p - shift (periodically): 2 cells back by default."""
    return jnp.roll(x, shift, axis=-1)


def i32(x):
    return (7 * x).astype(jnp.int32)


@dataclasses.dataclass(frozen=True)
class Case:
    id: str
    fn: Callable
    primitives: tuple[Primitive, ...]
    hand: tuple  # per axis (backward, forward), worked out by hand
    shape: tuple[int, ...] = (2, N)
    # The oracle perturbs with +-inf too, except where a constant matrix has zeros (inf * 0 is
    # nan, which would show dependencies that do not exist).
    infinite: bool = True


def unary(prim, f):
    # f(x + roll(x, 2)): each output reads p and p - 2, so (2, 0).
    return Case(prim.name, lambda x: f(x + r(x)), (prim,), ((2, 0),))


def binary(prim, f):
    # f(x, roll(x, 2)): the union of (0, 0) and (2, 0) is (2, 0).
    return Case(prim.name, lambda x: f(x, r(x)), (prim,), ((2, 0),))


ELEMENTWISE = [
    unary(lax.abs_p, lax.abs),
    unary(lax.acos_p, lax.acos),
    unary(lax.acosh_p, lax.acosh),
    unary(lax.asin_p, lax.asin),
    unary(lax.asinh_p, lax.asinh),
    unary(lax.atan_p, lax.atan),
    unary(lax.atanh_p, lax.atanh),
    unary(lax.bessel_i0e_p, lax.bessel_i0e),
    unary(lax.bessel_i1e_p, lax.bessel_i1e),
    unary(lax.cbrt_p, lax.cbrt),
    unary(lax.ceil_p, lax.ceil),
    unary(lax.cos_p, lax.cos),
    unary(lax.cosh_p, lax.cosh),
    unary(lax.digamma_p, lax.digamma),
    unary(lax.erf_p, lax.erf),
    unary(lax.erf_inv_p, lax.erf_inv),
    unary(lax.erfc_p, lax.erfc),
    unary(lax.exp_p, lax.exp),
    unary(lax.exp2_p, lax.exp2),
    unary(lax.expm1_p, lax.expm1),
    unary(lax.floor_p, lax.floor),
    unary(lax.is_finite_p, lax.is_finite),
    unary(lax.lgamma_p, lax.lgamma),
    unary(lax.log_p, lax.log),
    unary(lax.log1p_p, lax.log1p),
    unary(lax.logistic_p, lax.logistic),
    unary(lax.neg_p, lax.neg),
    unary(lax.round_p, lax.round),
    unary(lax.rsqrt_p, lax.rsqrt),
    unary(lax.sign_p, lax.sign),
    unary(lax.sin_p, lax.sin),
    unary(lax.sinh_p, lax.sinh),
    unary(lax.sqrt_p, lax.sqrt),
    unary(lax.square_p, lax.square),
    unary(lax.tan_p, lax.tan),
    unary(lax.tanh_p, lax.tanh),
    unary(lax.integer_pow_p, lambda x: lax.integer_pow(x, 3)),
    unary(lax.reduce_precision_p, lambda x: lax.reduce_precision(x, 5, 2)),
    unary(lax.copy_p, lax.copy_p.bind),
    unary(lax.convert_element_type_p, lambda x: x.astype(jnp.float16)),
    unary(lax.not_p, lambda x: lax.bitwise_not(i32(x))),
    unary(lax.population_count_p, lambda x: lax.population_count(i32(x))),
    unary(lax.clz_p, lambda x: lax.clz(i32(x))),
    binary(lax.add_p, lax.add),
    binary(lax.sub_p, lax.sub),
    binary(lax.mul_p, lax.mul),
    binary(lax.div_p, lax.div),
    binary(lax.max_p, lax.max),
    binary(lax.min_p, lax.min),
    binary(lax.atan2_p, lax.atan2),
    binary(lax.nextafter_p, lax.nextafter),
    binary(lax.rem_p, lax.rem),
    binary(lax.pow_p, lambda x, y: lax.pow(lax.abs(x) + 0.5, y)),
    binary(lax.eq_p, lax.eq),
    binary(lax.ne_p, lax.ne),
    binary(lax.ge_p, lax.ge),
    binary(lax.gt_p, lax.gt),
    binary(lax.le_p, lax.le),
    binary(lax.lt_p, lax.lt),
    binary(lax.and_p, lambda x, y: lax.bitwise_and(i32(x), i32(y))),
    binary(lax.or_p, lambda x, y: lax.bitwise_or(i32(x), i32(y))),
    binary(lax.xor_p, lambda x, y: lax.bitwise_xor(i32(x), i32(y))),
    binary(lax.shift_left_p, lambda x, y: lax.shift_left(i32(x), lax.rem(lax.abs(i32(y)), 5))),
    binary(
        lax.shift_right_arithmetic_p,
        lambda x, y: lax.shift_right_arithmetic(i32(x), lax.rem(lax.abs(i32(y)), 5)),
    ),
    binary(
        lax.shift_right_logical_p,
        lambda x, y: lax.shift_right_logical(i32(x), lax.rem(lax.abs(i32(y)), 5)),
    ),
    binary(lax.igamma_p, lambda x, y: lax.igamma(lax.abs(x) + 0.5, lax.abs(y))),
    binary(lax.igammac_p, lambda x, y: lax.igammac(lax.abs(x) + 0.5, lax.abs(y))),
    binary(
        lax.polygamma_p,
        lambda x, y: lax.polygamma(lax.floor(lax.abs(y)) + 1.0, lax.abs(x) + 0.5),
    ),
    binary(lax.zeta_p, lambda x, y: lax.zeta(lax.abs(x) + 1.5, lax.abs(y) + 0.5)),
    binary(
        lax.regularized_incomplete_beta_p,
        lambda x, y: lax.betainc(lax.abs(x) + 0.5, 2.0, lax.logistic(y)),
    ),
    binary(lax.complex_p, lax.complex),
    # (x + i y)^2 = x^2 - y^2 + 2 i x y: the real and imaginary parts read both x and y.
    binary(lax.real_p, lambda x, y: lax.real(lax.square(lax.complex(x, y)))),
    binary(lax.imag_p, lambda x, y: lax.imag(lax.square(lax.complex(x, y)))),
    binary(lax.conj_p, lambda x, y: lax.conj(lax.complex(x, y))),
    # Ternary: roll(x, 2) reads p - 2, x reads p, roll(x, -1) reads p + 1: (2, 1).
    Case("clamp", lambda x: lax.clamp(r(x), x, r(x, -1)), (lax.clamp_p,), ((2, 1),)),
    Case("select_n", lambda x: lax.select_n(x > 0, r(x), r(x, -1)), (lax.select_n_p,), ((2, 1),)),
]


def conv(x, k, **kw):
    """A 1-input-channel-per-group conv with weights 1, 2, ... (nonzero everywhere)."""
    c = x.shape[0] // kw.get("feature_group_count", 1)
    kshape = (kw.pop("out", 1), c, *k)
    w = jnp.arange(1.0, 1.0 + math.prod(kshape)).reshape(kshape)
    return lax.conv_general_dilated(x[None], w, **kw)[0]


def pool(x, init, op, window, strides, padding):
    return lax.reduce_window(x, init, op, window, strides, padding)


def scatter_sub(x):
    # out[p] = x[p] - x[p - 1] for p >= 1 (a scatter of x[:-1] one cell to the right): (1, 0).
    dn = lax.ScatterDimensionNumbers(
        update_window_dims=(0, 1), inserted_window_dims=(), scatter_dims_to_operand_dims=(0, 1)
    )
    return lax.scatter_sub(x, jnp.array([0, 1]), x[:, :-1], dn)


def custom_vjp_shift():
    @jax.custom_vjp
    def f(x):
        return x + r(x)

    f.defvjp(lambda x: (f(x), None), lambda _, g: (g,))
    return f


STRUCTURED = [
    # ---- data movement
    Case(
        "broadcast_in_dim",
        # Channel 0 of x + roll(x, 2) broadcast to 3 channels: (2, 0).
        lambda x: lax.broadcast_in_dim((x + r(x))[0], (3, N), (1,)),
        (lax.broadcast_in_dim_p,),
        ((2, 0),),
    ),
    Case(
        "reshape",
        lambda x: lax.reshape(lax.reshape(x + r(x), (2, 1, N)), (2, N)),
        (lax.reshape_p,),
        ((2, 0),),
    ),
    Case(
        "squeeze",
        lambda x: lax.squeeze(lax.expand_dims(x + r(x), (1,)), (1,)),
        (lax.squeeze_p,),
        ((2, 0),),
    ),
    Case(
        "transpose",
        # Rolled along its last axis while transposed, i.e. along the first spatial axis:
        # ((2, 0), (0, 0)).
        lambda x: x + lax.transpose(r(lax.transpose(x, (0, 2, 1))), (0, 2, 1)),
        (lax.transpose_p,),
        ((2, 0), (0, 0)),
        (1, 12, 12),
    ),
    Case(
        "rev",
        # rev(roll(rev(x), 2)) is roll(x, -2): p reads p + 2; with x: (0, 2).
        lambda x: x + lax.rev(r(lax.rev(x, (1,))), (1,)),
        (lax.rev_p,),
        ((0, 2),),
    ),
    Case(
        "slice",
        # Coarse cell q sits at 2q and reads 2q and 2q + 1: (0, 1).
        lambda x: x[:, ::2] + x[:, 1::2],
        (lax.slice_p,),
        ((0, 1),),
    ),
    Case(
        "split",
        # Channel 0 at p and channel 1 at p - 2: (2, 0).
        lambda x: (lambda a, b: a + r(b))(*lax.split(x, (1, 1), axis=0)),
        (lax.split_p,),
        ((2, 0),),
    ),
    Case(
        "dynamic_slice",
        # The last 2 cells, then the first N - 2: roll by 2, plus x: (2, 0).
        lambda x: (
            x
            + jnp.concatenate(
                [
                    lax.dynamic_slice(x, (0, N - 2), (2, 2)),
                    lax.dynamic_slice(x, (0, 0), (2, N - 2)),
                ],
                axis=1,
            )
        ),
        (lax.dynamic_slice_p,),
        ((2, 0),),
    ),
    Case(
        "concatenate",
        # Channels [x, roll(x, 2)] summed over channels: (2, 0).
        lambda x: jnp.concatenate([x, r(x)], axis=0).sum(0, keepdims=True),
        (lax.concatenate_p,),
        ((2, 0),),
    ),
    Case(
        "pad",
        # Two zeros on the left, then the first N cells: p reads p - 2; with x: (2, 0).
        lambda x: x + lax.pad(x, 0.0, ((0, 0, 0), (2, 0, 0)))[:, :N],
        (lax.pad_p,),
        ((2, 0),),
    ),
    Case(
        "pad-interior",
        # A zero after every cell (2N cells), then a 3-conv: fine p sits at p / 2; p even reads
        # coarse p / 2 only, (0, 0); p odd reads (p - 1) / 2 and (p + 1) / 2: (0.5, 0.5).
        lambda x: conv(
            lax.pad(x, 0.0, ((0, 0, 0), (0, 1, 1))), (3,), window_strides=(1,), padding="SAME"
        ),
        (lax.pad_p,),
        ((0.5, 0.5),),
    ),  # fmt: skip
    # ---- indexed moves
    Case(
        "scatter",
        # x[:, 1:] = x[:, :-1] (a strided write): p reads p - 1; with x: (1, 0).
        lambda x: x + x.at[:, 1:].set(x[:, :-1]),
        (lax.scatter_p,),
        ((1, 0),),
    ),
    Case(
        "scatter-shift",
        # The same write alone: p >= 1 reads p - 1 only, one cell back and -1 forward.
        lambda x: x.at[:, 1:].set(x[:, :-1]),
        (lax.scatter_p,),
        ((1, -1),),
    ),
    Case(
        "scatter-periodic-padding",
        # x written into N + 2 zeros at 1..N, its last cell at 0 and its first at N + 1 (the
        # wrapped cells: boundary), then a VALID 3-conv: q reads padded q .. q + 2, which is
        # x[q - 1] .. x[q + 1]: (1, 1).
        lambda x: conv(
            jnp.zeros((2, x.shape[1] + 2))
            .at[:, 1:-1]
            .set(x)
            .at[:, 0]
            .set(x[:, -1])
            .at[:, -1]
            .set(x[:, 0]),
            (3,),
            window_strides=(1,),
            padding="VALID",
        ),
        (lax.scatter_p,),
        ((1, 1),),
    ),
    Case(
        "scatter-permuted",
        # Element by element: cell q lands at q + 2 (a roll); with x: (2, 0).
        lambda x: x + x.at[:, (jnp.arange(x.shape[1]) + 2) % x.shape[1]].set(x),
        (lax.scatter_p,),
        ((2, 0),),
    ),
    Case(
        "scatter-add",
        lambda x: x.at[:, 1:].add(x[:, :-1]),  # p reads p and p - 1: (1, 0)
        (lax.scatter_add_p,),
        ((1, 0),),
    ),
    Case(
        "scatter-mul",
        lambda x: x.at[:, 1:].multiply(x[:, :-1]),
        (lax.scatter_mul_p,),
        ((1, 0),),
    ),
    Case("scatter-min", lambda x: x.at[:, 1:].min(x[:, :-1]), (lax.scatter_min_p,), ((1, 0),)),
    Case("scatter-max", lambda x: x.at[:, 1:].max(x[:, :-1]), (lax.scatter_max_p,), ((1, 0),)),
    Case("scatter-sub", scatter_sub, (lax.scatter_sub_p,), ((1, 0),)),
    Case(
        "gather",
        # take(x, (q - 2) mod N) is roll(x, 2); with x: (2, 0).
        lambda x: x + jnp.take(x, (np.arange(N) - 2) % N, axis=1),
        (lax.gather_p,),
        ((2, 0),),
    ),
    Case(
        "dynamic_update_slice",
        # x[:, 2:] = x[:, :N-2]: p reads p - 2; with x: (2, 0).
        lambda x: x + lax.dynamic_update_slice(x, x[:, : N - 2], (0, 2)),
        (lax.dynamic_update_slice_p,),
        ((2, 0),),
    ),
    # ---- reductions and contractions (over channels; over space see the tests below)
    Case(
        "reduce_sum",
        lambda x: jnp.concatenate([x[:1], r(x[1:])]).sum(0, keepdims=True),
        (lax.reduce_sum_p,),
        ((2, 0),),
    ),  # fmt: skip
    Case(
        "reduce_max",
        lambda x: jnp.concatenate([x[:1], r(x[1:])]).max(0, keepdims=True),
        (lax.reduce_max_p,),
        ((2, 0),),
    ),  # fmt: skip
    Case(
        "reduce_min",
        lambda x: jnp.concatenate([x[:1], r(x[1:])]).min(0, keepdims=True),
        (lax.reduce_min_p,),
        ((2, 0),),
    ),  # fmt: skip
    Case(
        "reduce_prod",
        lambda x: jnp.concatenate([x[:1], r(x[1:])]).prod(0, keepdims=True),
        (lax.reduce_prod_p,),
        ((2, 0),),
    ),  # fmt: skip
    Case(
        "reduce_and",
        lambda x: jnp.all(jnp.concatenate([x[:1], r(x[1:])]) > 0, 0, keepdims=True),
        (lax.reduce_and_p,),
        ((2, 0),),
    ),  # fmt: skip
    Case(
        "reduce_or",
        lambda x: jnp.any(jnp.concatenate([x[:1], r(x[1:])]) > 0, 0, keepdims=True),
        (lax.reduce_or_p,),
        ((2, 0),),
    ),  # fmt: skip
    Case(
        "reduce_xor",
        lambda x: lax.reduce_xor_p.bind(i32(jnp.concatenate([x[:1], r(x[1:])])), axes=(0,))[None],
        (lax.reduce_xor_p,),
        ((2, 0),),
    ),  # fmt: skip
    Case(
        "argmax",
        lambda x: jnp.argmax(jnp.concatenate([x[:1], r(x[1:])]), 0, keepdims=True),
        (lax.argmax_p,),
        ((2, 0),),
    ),  # fmt: skip
    Case(
        "argmin",
        lambda x: jnp.argmin(jnp.concatenate([x[:1], r(x[1:])]), 0, keepdims=True),
        (lax.argmin_p,),
        ((2, 0),),
    ),  # fmt: skip
    Case(
        "dot_general",
        # A 1x1 conv (channel mixing) of [x, roll(x, 2)]: (2, 0).
        lambda x: jnp.einsum(
            "oc,cn->on", jnp.arange(1.0, 9.0).reshape(2, 4), jnp.concatenate([x, r(x)])
        ),
        (lax.dot_general_p,),
        ((2, 0),),
    ),  # fmt: skip
    # ---- layouts: split spatial axes, constant matrices and selections (README, "Exact
    # receptive fields": windows, not global statistics)
    Case(
        "reshape-pool",
        # x + roll(x, 2) pooled by 2 as a reshape and a sum over the split sub-axis: coarse j
        # sits at 2j and reads 2j - 2 .. 2j + 1: (2, 1), a window, not a global statistic.
        lambda x: (x + r(x)).reshape(2, N // 2, 2).sum(-1),
        (lax.reshape_p, lax.reduce_sum_p),
        ((2, 1),),
    ),
    Case(
        "reshape-pool-2d",
        # Max-pooling by (2, 2) as a reshape (C, H/2, 2, W/2, 2) and a max over the sub-axes:
        # coarse (i, j) sits at (2i, 2j) and reads 2i .. 2i + 1, 2j .. 2j + 1.
        lambda x: x.reshape(1, 6, 2, 8, 2).max((2, 4)),
        (lax.reshape_p, lax.reduce_max_p),
        ((0, 1), (0, 1)),
        (1, 12, 16),
    ),
    Case(
        "reshape-pool-2d-one-axis",
        # The split sub-axis of the first spatial axis reduced, the second axis untouched:
        # (0, 1) along the first (coarse i at 2i), (0, 0) along the second.
        lambda x: x.reshape(1, 6, 2, 16).mean(2),
        (lax.reshape_p, lax.reduce_sum_p),
        ((0, 1), (0, 0)),
        (1, 12, 16),
    ),
    Case(
        "reshape-repeat",
        # Nearest up-sampling as broadcast + reshape: fine p sits at p / 2 and reads coarse
        # p // 2 - 2 .. p // 2; odd p is half a cell past p // 2: (2.5, 0).
        lambda x: jnp.repeat(x + r(x), 2, axis=-1),
        (lax.broadcast_in_dim_p, lax.reshape_p),
        ((2.5, 0),),
    ),
    Case(
        "dot_general-constant",
        # x @ (I + shift by 2): cell q reads q and q - 2: (2, 0), not the whole axis.
        lambda x: x @ jnp.asarray(np.eye(N) + np.eye(N, k=2), x.dtype),
        (lax.dot_general_p,),
        ((2, 0),),
        infinite=False,
    ),
    Case(
        "dot_general-constant-2d",
        # Along the second spatial axis (the array's last): ((0, 0), (2, 0)).
        lambda x: x @ jnp.asarray(np.eye(16) + np.eye(16, k=2), x.dtype),
        (lax.dot_general_p,),
        ((0, 0), (2, 0)),
        (1, 12, 16),
        infinite=False,
    ),
    Case(
        "dot_general-constant-2d-axis1",
        # Along the first spatial axis (the array's axis 1): cell i reads i - 1 .. i + 1 of the
        # tridiagonal matrix, ((1, 1), (0, 0)).
        # (Written "kh,chw": XLA computes the vmapped "chw,hk" in a way whose rounding lets
        # far cells change some outputs, which the oracle would count as dependencies.)
        lambda x: jnp.einsum(
            "kh,chw->ckw", jnp.asarray(2 * np.eye(12) + np.eye(12, k=1) + np.eye(12, k=-1)), x
        ),
        (lax.dot_general_p,),
        ((1, 1), (0, 0)),
        (1, 12, 16),
        infinite=False,
    ),
    Case(
        "dot_general-resize",
        # jax.image.resize down by 2 (linear, antialiased): coarse j sits at 2j and reads a
        # tent of half-width 2 around 2j + 1/2, inputs 2j - 1 .. 2j + 2: (1, 2).
        lambda x: jax.image.resize(x, (2, N // 2), "linear"),
        (lax.dot_general_p,),
        ((1, 2),),
        infinite=False,
    ),
    Case(
        "select_n-fixed",
        # A predicate fixed at trace time: even cells take roll(x, 2) (p - 2), odd cells
        # roll(x, -1) (p + 1), per element, not the union: (2, 1) with ranges -1 .. 2, -2 .. 1.
        lambda x: jnp.where(jnp.arange(N) % 2 == 0, r(x), r(x, -1)),
        (lax.select_n_p,),
        ((2, 1),),
    ),
    Case(
        "select_n-dead",
        # No cell index is negative: the roll by 8 is dead; x + roll(x, 2) remains: (2, 0).
        lambda x: jnp.where(jnp.arange(N) < 0, r(x, 8), x) + r(x),
        (lax.select_n_p,),
        ((2, 0),),
    ),
    Case(
        "gather-periodic",
        # Cell q reads 3 * (q // 3) (a layout of period 3): back 0 .. 2, forward -2 .. 0.
        lambda x: x[:, np.arange(N) - np.arange(N) % 3],
        (lax.gather_p,),
        ((2, 0),),
    ),
    # ---- windows: convolutions (k_eff = (k - 1) * dilation + 1)
    # SAME, k = 3: 1 cell each side: (1, 1).
    Case(
        "conv",
        lambda x: conv(x, (3,), window_strides=(1,), padding="SAME"),
        (lax.conv_general_dilated_p,),
        ((1, 1),),
    ),  # fmt: skip
    # SAME, k = 4, dilation 2: k_eff = 7, 3 cells each side: (3, 3).
    Case(
        "conv-dilated",
        lambda x: conv(x, (4,), window_strides=(1,), padding="SAME", rhs_dilation=(2,)),
        (lax.conv_general_dilated_p,),
        ((3, 3),),
    ),  # fmt: skip
    # Explicit causal padding (4, 0), k = 3, dilation 2: q reads q - 4 .. q: (4, 0).
    Case(
        "conv-causal",
        lambda x: conv(x, (3,), window_strides=(1,), padding=[(4, 0)], rhs_dilation=(2,)),
        (lax.conv_general_dilated_p,),
        ((4, 0),),
    ),  # fmt: skip
    # Stride 2, padding (1, 1), k = 3: coarse j sits at 2j and reads 2j - 1 .. 2j + 1: (1, 1).
    Case(
        "conv-strided",
        lambda x: conv(x, (3,), window_strides=(2,), padding=[(1, 1)]),
        (lax.conv_general_dilated_p,),
        ((1, 1),),
    ),  # fmt: skip
    # lhs_dilation 2 (a transposed conv), padding (1, 2), k = 3: 2N fine cells; fine p sits at
    # p / 2 and reads dilated cells p - 1 .. p + 1: p even -> coarse p/2 only, (0, 0); p odd ->
    # coarse (p - 1)/2 and (p + 1)/2, half a cell either side: (0.5, 0.5).
    Case(
        "conv-transposed",
        lambda x: conv(x, (3,), window_strides=(1,), padding=[(1, 2)], lhs_dilation=(2,)),
        (lax.conv_general_dilated_p,),
        ((0.5, 0.5),),
    ),  # fmt: skip
    # Two groups over [x0, roll(x1, 3)], output channel 0 only: group 0 reads x0 alone, so
    # (1, 1); a conv mixing the groups would read roll(x1, 3) too and give (4, 1).
    Case(
        "conv-grouped",
        lambda x: conv(
            jnp.concatenate([x[:1], r(x[1:], 3)]),
            (3,),
            window_strides=(1,),
            padding="SAME",
            feature_group_count=2,
            out=2,
        )[:1],
        (lax.conv_general_dilated_p,),
        ((1, 1),),
    ),  # fmt: skip
    # 2-D, kernel (3, 5): (1, 1) along the first axis, (2, 2) along the second.
    Case(
        "conv-2d",
        lambda x: conv(x, (3, 5), window_strides=(1, 1), padding="SAME"),
        (lax.conv_general_dilated_p,),
        ((1, 1), (2, 2)),
        (1, 12, 16),
    ),  # fmt: skip
    # ---- windows: pooling; window 3, SAME, stride 1: (1, 1)
    Case(
        "reduce_window_sum",
        lambda x: pool(x, 0.0, lax.add, (1, 3), (1, 1), "SAME"),
        (lax.reduce_window_sum_p,),
        ((1, 1),),
    ),  # fmt: skip
    Case(
        "reduce_window_max",
        lambda x: pool(x, -jnp.inf, lax.max, (1, 3), (1, 1), "SAME"),
        (lax.reduce_window_max_p,),
        ((1, 1),),
    ),  # fmt: skip
    Case(
        "reduce_window_min",
        lambda x: pool(x, jnp.inf, lax.min, (1, 3), (1, 1), "SAME"),
        (lax.reduce_window_min_p,),
        ((1, 1),),
    ),  # fmt: skip
    Case(
        "reduce_window",
        lambda x: pool(x, 1.0, lambda a, b: a * b, (1, 3), (1, 1), "SAME"),
        (lax.reduce_window_p,),
        ((1, 1),),
    ),  # fmt: skip
    # Window 2, stride 2: coarse j sits at 2j and reads 2j, 2j + 1: (0, 1).
    Case(
        "reduce_window-strided",
        lambda x: pool(x, 0.0, lax.add, (1, 2), (1, 2), "VALID"),
        (lax.reduce_window_sum_p,),
        ((0, 1),),
    ),  # fmt: skip
    # ---- marks and constants: nothing added to x + roll(x, 2), so (2, 0)
    Case("iota", lambda x: x + r(x) + lax.iota(jnp.float32, N)[None], (lax.iota_p,), ((2, 0),)),
    Case(
        "random",
        lambda x: x + r(x) + jax.random.bits(jax.random.PRNGKey(0), x.shape),
        (ext.random_seed_p, ext.random_bits_p, random_wrap_p, random_unwrap_p),
        ((2, 0),),
    ),  # fmt: skip
    Case(
        "rng_bit_generator",
        lambda x: x + r(x) + lax.rng_bit_generator(jnp.zeros(4, jnp.uint32), x.shape)[1],
        (lax.rng_bit_generator_p,),
        ((2, 0),),
    ),  # fmt: skip
    Case(
        "optimization_barrier",
        lambda x: lax.optimization_barrier(x + r(x)),
        (lax.optimization_barrier_p,),
        ((2, 0),),
    ),  # fmt: skip
    Case(
        "sharding_constraint",
        lambda x: lax.with_sharding_constraint(
            x + r(x), jax.sharding.SingleDeviceSharding(jax.devices()[0])
        ),
        (lax.sharding_constraint_p,),
        ((2, 0),),
    ),  # fmt: skip
    # ---- calls: the body is x + roll(x, 2): (2, 0)
    Case("jit", lambda x: jax.jit(lambda y: y + r(y))(x), (ext.jit_p,), ((2, 0),)),
    Case("remat2", lambda x: jax.checkpoint(lambda y: y + r(y))(x), (ext.remat_p,), ((2, 0),)),
    Case(
        "custom_jvp_call", lambda x: jax.nn.relu(x + r(x)) + x, (ext.custom_jvp_call_p,), ((2, 0),)
    ),  # fmt: skip
    Case(
        "custom_vjp_call", lambda x: custom_vjp_shift()(x), (ext.custom_vjp_call_p,), ((2, 0),)
    ),  # fmt: skip
]


def two(x):
    """Channel 0 of x and channel 1 rolled by 2: an op over channels reads (2, 0)."""
    return jnp.concatenate([x[:1], r(x[1:])])


def periodic_pad_by_tiling(x):
    # Three copies, then one cell beyond the middle one either side: periodic padding by 1.
    return jnp.tile(x, (1, 3))[:, x.shape[1] - 1 : 2 * x.shape[1] + 1]


def fori_counter_indexing(x):
    # The counter i (0..3) picks a window of [x, x]: x + x[p] + x[p + 1] + x[p + 2] + x[p + 3]
    # (static bounds lower to a scan whose counter is a carry): (0, 3).
    xx = jnp.concatenate([x, x], axis=1)
    return lax.fori_loop(0, 4, lambda i, c: c + lax.dynamic_slice_in_dim(xx, i, N, axis=1), x)


AXISWISE = [
    # ---- stop_gradient: the forward value is the operand
    Case("stop_gradient", lambda x: x + lax.stop_gradient(r(x)), (lax.stop_gradient_p,), ((2, 0),)),
    Case(
        "softmax-over-channels",
        # Per cell: channel 0 at p, channel 1 at p - 2: (2, 0).
        lambda x: jax.nn.softmax(two(x), axis=0),
        (lax.stop_gradient_p, lax.reduce_max_p, lax.exp_p, lax.reduce_sum_p),
        ((2, 0),),
    ),  # fmt: skip
    # ---- cumulative ops over channels: channel 1 reads channels 0 and 1: (2, 0)
    Case("cumsum", lambda x: jnp.cumsum(two(x), axis=0), (lax.cumsum_p,), ((2, 0),)),
    Case("cumprod", lambda x: jnp.cumprod(two(x), axis=0), (lax.cumprod_p,), ((2, 0),)),
    Case("cummax", lambda x: lax.cummax(two(x), axis=0), (lax.cummax_p,), ((2, 0),)),
    # reverse: channel 0 reads channels 0 and 1: (2, 0)
    Case("cummin", lambda x: lax.cummin(two(x), axis=0, reverse=True), (lax.cummin_p,), ((2, 0),)),
    Case(
        "cumlogsumexp",
        lambda x: lax.cumlogsumexp(two(x), axis=0),
        (lax.cumlogsumexp_p,),
        ((2, 0),),
    ),  # fmt: skip
    # ---- sorts over channels: every channel reads both: (2, 0)
    Case("sort", lambda x: jnp.sort(two(x), axis=0), (lax.sort_p,), ((2, 0),)),
    Case("argsort", lambda x: jnp.argsort(two(x), axis=0), (lax.sort_p,), ((2, 0),)),
    Case("top_k", lambda x: lax.top_k(two(x).T, 1)[0].T, (lax.top_k_p,), ((2, 0),)),
    Case(
        "approx_top_k",
        lambda x: lax.approx_max_k(two(x).T, 1)[0].T,
        (lax.approx_top_k_p,),
        ((2, 0),),
    ),  # fmt: skip
    # ---- tile
    Case("tile", lambda x: jnp.tile(x + r(x), (2, 1)), (lax.tile_p,), ((2, 0),)),
    Case(
        "tile-periodic-padding",
        # A VALID 3-conv over the periodically padded axis: q reads q - 1 .. q + 1: (1, 1).
        lambda x: conv(periodic_pad_by_tiling(x), (3,), window_strides=(1,), padding="VALID"),
        (lax.tile_p,),
        ((1, 1),),
    ),  # fmt: skip
    # ---- callbacks: those that return nothing are ignored; x + roll(x, 2): (2, 0)
    Case(
        "debug_callback",
        lambda x: (jax.debug.callback(lambda *a: None, x), x + r(x))[1],
        (debug_callback_p,),
        ((2, 0),),
        (1, 16),  # the oracle's vmap calls a debug callback once per perturbation: few cells
    ),  # fmt: skip
    Case(
        "debug_print",
        # The mean over space only printed is no global coupling (the case asserts none).
        lambda x: (jax.debug.print("{}", x.mean()), x + r(x))[1],
        (debug_print_p,),
        ((2, 0),),
        (1, 16),
    ),  # fmt: skip
    Case(
        "io_callback",
        lambda x: (io_callback(lambda a: None, None, x), x + r(x))[1],
        (io_callback_p,),
        ((2, 0),),
    ),  # fmt: skip
    Case(
        "pure_callback",
        # A pure callback of a constant depends on no input cell.
        lambda x: (
            x
            + r(x)
            + jax.pure_callback(
                np.sin, jax.ShapeDtypeStruct((N,), jnp.float32), jnp.arange(N * 1.0)
            )
        ),
        (pure_callback_p,),
        ((2, 0),),
    ),
    # ---- loops: three steps of c + roll(c, 1) read p - 3 .. p: (3, 0)
    Case(
        "scan",
        lambda x: lax.fori_loop(0, 3, lambda i, c: c + r(c, 1), x),  # static bounds: a scan
        (lax.scan_p,),
        ((3, 0),),
    ),  # fmt: skip
    Case(
        "while",
        lambda x: lax.fori_loop(0, jnp.int32(3), lambda i, c: c + r(c, 1), x),  # a while
        (lax.while_p,),
        ((3, 0),),
    ),  # fmt: skip
    Case("scan-counter", fori_counter_indexing, (lax.scan_p, lax.dynamic_slice_p), ((0, 3),)),
    Case(
        "scan-xs",
        # Over the channels as xs: y_c = carry + x_c with carry = sum of the earlier channels
        # (channel 1 rolled by 2): channel 1 of the result reads p and p - 2: (2, 0).
        lambda x: lax.scan(lambda c, xc: (c + xc, c + xc), jnp.zeros(N), two(x))[1],
        (lax.scan_p,),
        ((2, 0),),
    ),  # fmt: skip
]

CASES = ELEMENTWISE + STRUCTURED + AXISWISE

# Primitives that no small forward pass emits (they need a mesh or a hand-built jaxpr) share
# the rule of one that a case covers.
SHARED = {
    pvary_p: lax.sharding_constraint_p,
    reshard_p: lax.sharding_constraint_p,
    ext.closed_call_p: ext.jit_p,
}
# Covered by the hand tests below (their oracle is not a perturbation: see each test).
BY_HAND = {lax.fft_p, lax.cond_p, MARK}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_rule_against_the_oracle(case):
    assert set(case.primitives) <= primitives_of(case.fn, case.shape)
    expected = oracle(case.fn, case.shape, case.infinite)
    assert expected[0] == case.hand  # the oracle sees every dependency worked out by hand
    got = structural(case.fn, case.shape)
    assert (got.per_axis, got.position_range) == expected
    assert not got.global_


# ----------------------------------------------------------------------------- the registry


def test_every_key_is_a_primitive_of_the_installed_jax():
    homes = [lax, ext]
    public = {id(v) for home in homes for v in vars(home).values() if isinstance(v, Primitive)}
    private = {
        id(p)
        for p in (
            pvary_p,
            reshard_p,
            random_wrap_p,
            random_unwrap_p,
            debug_callback_p,
            debug_print_p,
            io_callback_p,
            pure_callback_p,
        )
    }
    for prim in RULES:
        assert isinstance(prim, Primitive), prim
        assert prim is MARK or id(prim) in public | private, prim.name
    assert len({p.name for p in RULES}) == len(RULES)  # no two keys share a name


def test_a_primitive_gets_one_rule_and_keys_are_primitives():
    with pytest.raises(ValueError, match="primitive 'add' already has an RF rule"):
        register(RULES[lax.add_p], lax.add_p)
    with pytest.raises(TypeError, match="must be keyed by a jax Primitive, got 'add'"):
        register(RULES[lax.add_p], "add")  # type: ignore[arg-type]


def test_every_rule_has_a_case():
    covered = {p for case in CASES for p in case.primitives} | set(SHARED) | BY_HAND
    assert set(RULES) - covered == set()
    for prim, twin in SHARED.items():
        assert RULES[prim] is RULES[twin]


def test_the_registry_is_keyed_by_object_not_by_name():
    # A primitive of the user's that happens to be called 'add' is not lax.add_p: refused.
    fake = Primitive("add")
    fake.def_abstract_eval(lambda x, y: x)
    with pytest.raises(
        UnsupportedOperation,
        match=r"no exact dependency rule for primitive 'add', used in the root module \(Probe\)",
    ):
        structural(lambda x: fake.bind(x, x), (1, N))


# ----------------------------------------------------------------------------- by hand


def test_reduction_over_space_is_global_and_adds_nothing():
    # x - mean over the axis: the stencil of x alone, (0, 0); the mean is a global coupling.
    got = structural(lambda x: x - x.mean(axis=1, keepdims=True), (2, N))
    assert got.per_axis == ((0, 0),)
    assert got.global_
    assert [g.kind for g in got.global_via] == ["global pooling"]


def test_dense_over_space_depends_on_the_whole_axis():
    # y = x @ W with W (N, N): every output cell reads every input cell; a dense layer over
    # space is reported as the number of points (README, "Exact receptive fields").
    w = jnp.arange(1.0, 1.0 + N * N).reshape(N, N)
    got = structural(lambda x: x @ w, (1, N))
    assert got.per_axis == ((N, N),)
    assert [g.kind for g in got.global_via] == ["dense over space"]


class Learned(eqx.Module):
    """f(x, w) with w a weight of the model (known only at run time, unlike a constant)."""

    fn: Callable = eqx.field(static=True)
    w: jax.Array

    def __call__(self, x):
        return self.fn(x, self.w)


def test_learned_dense_over_space_depends_on_the_whole_axis():
    # A learned W (a model weight, not a constant) over space: still a dense layer.
    model = Learned(lambda x, w: x @ w, jnp.asarray(np.eye(N) + np.eye(N, k=2), jnp.float32))
    got = receptive_field(model, (1, N))
    assert got.per_axis == ((N, N),)
    assert [g.kind for g in got.global_via] == ["dense over space"]


def test_learned_contraction_over_a_split_axis_is_a_window():
    # Space-to-depth by 2, a learned 1x1 conv over channels (which now hold the phase), and
    # depth-to-space: p reads its pair 2m, 2m + 1 (m = p // 2) only: (1, 1), not global.
    def shuffle(x, w):
        y = x.reshape(1, N // 2, 2).transpose(0, 2, 1).reshape(2, N // 2)
        return (w @ y).reshape(1, 2, N // 2).transpose(0, 2, 1).reshape(1, N)

    w = jnp.arange(1.0, 5.0).reshape(2, 2)
    per_axis, ranges = oracle(lambda x: shuffle(x, w), (1, N))
    assert per_axis == ((1, 1),)
    got = receptive_field(Learned(shuffle, w), (1, N))
    assert (got.per_axis, got.position_range) == (per_axis, ranges)
    assert not got.global_


def test_constant_weighted_sum_over_space_is_global():
    # x - (x @ ones(N) / N): a weighted sum over the whole axis through a constant vector is a
    # statistic over space, like the mean: the stencil of x alone, (0, 0), and global pooling.
    got = structural(lambda x: x - (x @ jnp.full((N,), 1.0 / N))[:, None], (2, N))
    assert got.per_axis == ((0, 0),)
    assert [g.kind for g in got.global_via] == ["global pooling"]


def test_constant_dense_matrix_is_dense_over_space():
    # A constant matrix with no zero: every output reads every cell, as a dense layer.
    got = structural(lambda x: x @ jnp.ones((N, N)), (1, N))
    assert got.per_axis == ((N, N),)
    assert [g.kind for g in got.global_via] == ["dense over space"]


FLIPPED = (
    r"error: receptive field: along spatial axis 0 the dependency of output cell q moves with "
    r"its position q \({}\): no stencil receptive field; archinspect reports one where output "
    r"cell q sits at input position q \* n_in / n_out"
)


def test_a_flip_reaching_the_output_is_refused():
    with pytest.raises(
        UnsupportedOperation,
        match=FLIPPED.format(r"a flip along array axis 1 in the root module \(Probe\)"),
    ):
        structural(lambda x: jnp.flip(x + r(x), axis=-1), (1, N))
    # Flipped twice, the cells are in order again: (0, 2) as in the "rev" case.
    assert structural(lambda x: jnp.flip(r(jnp.flip(x, -1)), -1), (1, N)).per_axis == ((-2, 2),)


@pytest.mark.parametrize(
    ("fn", "why"),
    [
        (
            lambda x: x[:, np.random.default_rng(0).permutation(N)],
            r"a gather or scatter that permutes the cells of array axis 1 in the root module "
            r"\(Probe\)",
        ),
        (
            lambda x: x[:, N - 1 - np.arange(N)],
            r"a gather or scatter that reverses array axis 1 in the root module \(Probe\)",
        ),
        (
            lambda x: x @ jnp.asarray(np.eye(N)[::-1].copy()),
            r"a contraction with a constant matrix that reverses the cells of a spatial axis, "
            r"in the root module \(Probe\)",
        ),
        (
            lambda x: jnp.where(jnp.arange(N) < N // 2, r(x, 8), x),
            r"a selection fixed at trace time that varies along array axis 1 non-periodically, "
            r"in the root module \(Probe\)",
        ),
        (
            # The even cells, then the odd ones: output q < N/2 reads 2q, q >= N/2 reads
            # 2(q - N/2) + 1.
            lambda x: x.reshape(1, N // 2, 2).transpose(0, 2, 1).reshape(1, N),
            r"a reshape that reorders the cells of a spatial axis, in the root module \(Probe\)",
        ),
    ],
    ids=[
        "gather-permutation",
        "gather-reversal",
        "constant-reversal",
        "select-halves",
        "deinterleave",
    ],
)
def test_position_dependent_layouts_are_refused(fn, why):
    with pytest.raises(UnsupportedOperation, match=FLIPPED.format(why)):
        structural(fn, (1, N))


def test_fft_is_an_infinite_global_coupling():
    got = structural(lambda x: jnp.fft.irfft(jnp.fft.rfft(x, axis=1), n=N, axis=1), (1, N))
    assert lax.fft_p in primitives_of(lambda x: jnp.fft.rfft(x, axis=1), (1, N))
    assert got.per_axis == ((math.inf, math.inf),)
    assert [g.kind for g in got.global_via] == ["fft"]


class Branching(eqx.Module):
    """lax.cond on a weight: either branch may run, so the field is the hull of both."""

    w: jax.Array

    def __call__(self, x):
        return lax.cond(self.w > 0, lambda y: r(y, 1), lambda y: r(y, -2), x)


def test_cond_takes_the_hull_of_its_branches():
    # Branch 1 reads p - 1: (1, -1); branch 2 reads p + 2: (-2, 2); the hull: (1, 2). The
    # oracle would see only the branch taken for one weight, so this one is worked out by hand.
    model = Branching(jnp.ones(()))
    assert lax.cond_p in primitives_of(lambda x: model(x), (1, N))
    assert receptive_field(model, (1, N)).per_axis == ((1, 2),)


def test_mark_is_an_identity_that_records_the_layer_field():
    got = structural(lambda x: MARK.bind(x + r(x), path="probe"), (1, N))
    assert got.per_axis == ((2, 0),)  # as without the mark

    class Outer(eqx.Module):
        inner: Probe

        def __call__(self, x):
            return self.inner(x) + r(x, -1)

    model = Outer(Probe(lambda x: x + r(x), jnp.ones(())))
    # inner: (2, 0); the whole model adds p + 1: (2, 1).
    assert layer_receptive_fields(model, (1, N)) == {"inner": ((2, 0),), "": ((2, 1),)}


# ----------------------------------------------------------------------------- checkpoints


class Stack(eqx.Module):
    layers: list
    wrap: str = eqx.field(static=True)

    def __call__(self, x):
        for layer in self.layers:
            if self.wrap == "eqx":
                x = eqx.filter_checkpoint(layer)(x)
            elif self.wrap == "jax":
                x = jax.checkpoint(lambda y, layer=layer: layer(y))(x)
            else:
                x = layer(x)
        return x


@pytest.mark.parametrize("wrap", ["eqx", "jax"])
def test_checkpointed_conv_stack_has_the_same_field(wrap):
    key = jax.random.PRNGKey(0)
    layers = [
        eqx.nn.Conv1d(1, 2, 3, padding=1, key=key),  # (1, 1)
        eqx.nn.Conv1d(2, 2, 5, padding=4, dilation=2, key=key),  # k_eff 9: (4, 4)
        eqx.nn.Conv1d(2, 1, 4, padding=((1, 2),), key=key),  # (1, 2)
    ]
    plain = receptive_field(Stack(layers, "none"), (1, N))
    assert plain.per_axis == ((6, 7),)  # (1 + 4 + 1, 1 + 4 + 2)
    model = Stack(layers, wrap)
    assert ext.remat_p in primitives_of(lambda x: model(x), (1, N))
    got = receptive_field(model, (1, N))
    assert (got.per_axis, got.position_range, got.period) == (
        plain.per_axis,
        plain.position_range,
        plain.period,
    )
    if wrap == "jax":
        # The layers are called as themselves inside the checkpoint, so each has its field.
        # (eqx.filter_checkpoint calls a rebuilt copy of the layer, which is not a module of
        # the tree: only the whole model's field is then known.)
        assert layer_receptive_fields(model, (1, N)) == layer_receptive_fields(
            Stack(layers, "none"), (1, N)
        )


# ----------------------------------------------------------------------------- the walker


def test_walk_visits_every_nested_jaxpr():
    from archinspect.analysis.receptive_field.rules import walk

    def c(y):
        return conv(y, (3,), window_strides=(1,), padding="SAME")

    def f(x):
        # One conv inside jit inside a checkpoint, one in each branch of a cond: three.
        inner = jax.checkpoint(lambda y: jax.jit(c)(y))(x)
        return inner + lax.cond(x.sum() > 0, c, lambda y: 2 * c(y), x)

    seen: list[Primitive] = []
    walk(jax.make_jaxpr(f)(jnp.ones((1, N))).jaxpr, lambda eqn: seen.append(eqn.primitive))
    assert seen.count(lax.conv_general_dilated_p) == 3
    assert {ext.remat_p, ext.jit_p, lax.cond_p} <= set(seen)


def test_empirical_grid_bounds_see_through_checkpoints():
    from archinspect.analysis.receptive_field.empirical import _grid_bounds

    key = jax.random.PRNGKey(0)
    # Two stride-2 convs (period 4) with kernels 3 and 5 under jax.checkpoint: the widening
    # is (3 - 1) + (5 - 1) = 6 cells of the finest grid, times the period: 24.
    layers = [
        eqx.nn.Conv1d(1, 1, 3, stride=2, padding=1, key=key),
        eqx.nn.Conv1d(1, 1, 5, stride=2, padding=2, key=key),
    ]
    assert _grid_bounds(Stack(layers, "jax"), (1, N)) == ((4,), 24)
    assert _grid_bounds(Stack(layers, "eqx"), (1, N)) == ((4,), 24)


# ----------------------------------------------------------------------------- along a whole axis


def whole_hulls(fn, shape):
    """Per output cell of a 1-D fn, the first and last input cell it depends on, from the
    perturbation oracle over every cell (not only the middle half: these reach the edges)."""
    dep, out_shape = dependencies(fn, shape)
    cells = np.indices(shape)[1].reshape(-1)
    lo = np.array([cells[row].min() if row.any() else np.inf for row in dep])
    hi = np.array([cells[row].max() if row.any() else -np.inf for row in dep])
    return lo.reshape(out_shape), hi.reshape(out_shape)


@pytest.mark.parametrize("reverse", [False, True])
def test_cumulative_over_space_reaches_the_edge_and_is_a_global_coupling(reverse):
    # Cell p reads cells 0..p (reversed: p..N-1): how far is the size of the input. README,
    # "Exact receptive fields": like a dense layer over space, the whole axis (the number of
    # points), and a global coupling, "cumulative over space".
    def fn(x):
        return lax.cumsum(x, axis=1, reverse=reverse)

    lo, hi = whole_hulls(fn, (1, N))
    p = np.arange(N)
    if reverse:
        assert (lo[0] == p).all() and (hi[0] == N - 1).all()
    else:
        assert (lo[0] == 0).all() and (hi[0] == p).all()
    got = structural(fn, (1, N))
    assert got.per_axis == ((N, N),)
    assert [g.kind for g in got.global_via] == ["cumulative over space"]


def test_cumulative_over_space_after_a_padded_conv():
    # The first cell reads the boundary (zero padding), and every later cell reads the first:
    # still the whole axis, not a search for cells free of the boundary.
    def fn(x):
        return jnp.cumsum(conv(x, (3,), window_strides=(1,), padding="SAME"), axis=1)

    got = structural(fn, (1, N))
    assert (got.per_axis, got.analysed_shape) == (((N, N),), (1, N))
    assert [g.kind for g in got.global_via] == ["cumulative over space"]


@pytest.mark.parametrize(
    "fn",
    [lambda x: jnp.sort(x, axis=1), lambda x: lax.top_k(x, 3)[0]],
    ids=["sort", "top_k"],
)
def test_a_sort_over_space_is_dense_over_the_axis(fn):
    # Every result reads every cell of the axis (the oracle says so); like a dense layer over
    # space, that is reported as the number of points, and as a global coupling.
    lo, hi = whole_hulls(fn, (1, N))
    assert (lo == 0).all() and (hi == N - 1).all()
    got = structural(fn, (1, N))
    assert got.per_axis == ((N, N),)
    assert [g.kind for g in got.global_via] == ["sort over space"]


def test_softmax_over_space_is_a_global_coupling():
    # exp(x - max) / sum(exp(x - max)) over the axis: the statistics are global; the stencil is
    # the cell itself.
    got = structural(lambda x: jax.nn.softmax(x, axis=1), (2, N))
    assert got.per_axis == ((0, 0),)
    assert got.global_
    assert [g.kind for g in got.global_via] == ["global pooling"]


def test_attention_over_a_sequence_is_a_global_coupling():
    # softmax(q k^T) v over the sequence (the spatial axis), with 1x1 projections: every output
    # cell reads every cell of the sequence, a dense coupling over space, not a refusal.
    def attention(x):
        c = x.shape[0]
        wq, wk, wv = (jnp.arange(1.0, 1.0 + 3 * c).reshape(3, c) * s for s in (0.1, 0.2, 0.3))
        q, k, v = wq @ x, wk @ x, wv @ x
        return v @ jax.nn.softmax(q.T @ k, axis=-1).T

    assert lax.stop_gradient_p in primitives_of(attention, (2, N))
    lo, hi = whole_hulls(attention, (2, N))
    assert (lo == 0).all() and (hi == N - 1).all()
    got = structural(attention, (2, N))
    assert got.per_axis == ((N, N),)
    assert {g.kind for g in got.global_via} == {"global pooling", "dense over space"}


# ----------------------------------------------------------------------------- callbacks


@pytest.mark.parametrize(
    "fn, name",
    [
        (lambda x: jax.pure_callback(np.sin, jax.ShapeDtypeStruct(x.shape, x.dtype), x), "pure"),
        (lambda x: io_callback(np.sin, jax.ShapeDtypeStruct(x.shape, x.dtype), x), "io"),
    ],
    ids=["pure_callback", "io_callback"],
)
def test_a_callback_that_returns_values_of_the_input_is_refused(fn, name):
    with pytest.raises(
        UnsupportedOperation,
        match=rf"no exact dependency rule for '{name}_callback', a callback that returns values "
        r"\(they depend on whatever its Python function reads\), used in the root module "
        rf"\(Probe\); archinspect does not guess what '{name}_callback' depends on",
    ):
        structural(fn, (1, N))


# ----------------------------------------------------------------------------- loops


def test_a_recurrence_over_space_reaches_the_edge_and_is_a_global_coupling():
    # An RNN along the axis: h_t = h_{t-1} / 2 + x_t, emitted at every t, reads cells 0..t.
    def rnn(x):
        return lax.scan(lambda h, xt: (h / 2 + xt, h / 2 + xt), jnp.zeros(x.shape[0]), x.T)[1].T

    lo, hi = whole_hulls(rnn, (1, N))
    assert (lo == 0).all() and (hi[0] == np.arange(N)).all()
    got = structural(rnn, (1, N))
    assert got.per_axis == ((N, N),)  # like a cumulative sum over space: the whole axis
    assert [g.kind for g in got.global_via] == ["recurrence over space"]


def test_a_while_loop_stops_at_its_fixed_point():
    # c <- c / 2 + roll(x, 2), a million times: after one step c reads p and p - 2, and every
    # later step reads the same (the oracle cannot run this: x's weight underflows to 0).
    def fn(x):
        return lax.fori_loop(0, jnp.int32(1_000_000), lambda i, c: c / 2 + r(x), x)

    assert lax.while_p in primitives_of(fn, (1, N))
    assert structural(fn, (1, N)).per_axis == ((2, 0),)


def test_a_loop_without_a_fixed_point_is_bounded(monkeypatch):
    from archinspect.analysis.receptive_field.rules import loops

    monkeypatch.setattr(loops, "MAX_STEPS", 20)
    grow = lambda i, c: c + r(c, 1)  # noqa: E731  (reaches one more cell at every step)
    assert structural(lambda x: lax.fori_loop(0, 20, grow, x), (1, 64)).per_axis == ((20, 0),)
    assert structural(lambda x: lax.fori_loop(0, 0, grow, x), (1, 64)).per_axis == ((0, 0),)
    with pytest.raises(
        UnsupportedOperation,
        match=r"no exact dependency rule for a 'scan' loop of 30 steps without a fixed point "
        r"\(archinspect interprets at most 20 steps\), used in the root module \(Probe\)",
    ):
        structural(lambda x: lax.fori_loop(0, 30, grow, x), (1, N))
    with pytest.raises(
        UnsupportedOperation,
        match=r"no exact dependency rule for a 'while' loop of more than 20 steps without a "
        r"fixed point \(archinspect interprets at most 20 steps\)",
    ):
        structural(lambda x: lax.fori_loop(0, jnp.int32(30), grow, x), (1, N))


class Weighted(eqx.Module):
    """fori_loop up to a weight."""

    n: jax.Array
    w: jax.Array  # the float weight that gives the trace its dtype

    def __call__(self, x):
        return lax.fori_loop(0, self.n, lambda i, c: c + r(c, 1), x)


def test_a_while_loop_whose_steps_depend_on_the_input_or_a_weight_is_refused():
    message = (
        r"no exact dependency rule for a 'while' loop whose number of steps is not fixed at "
        r"trace time \(its condition reads the input or a weight\), used in the root module "
        r"\({}\); archinspect does not guess what 'while' depends on"
    )
    with pytest.raises(UnsupportedOperation, match=message.format("Probe")):
        structural(lambda x: lax.while_loop(lambda c: c.sum() < 10, lambda c: 2 * c, x), (1, N))
    with pytest.raises(UnsupportedOperation, match=message.format("Weighted")):
        receptive_field(Weighted(jnp.int32(3), jnp.ones(2)), (1, N))


# ----------------------------------------------------------------------------- no rule needed


def test_a_primitive_without_a_rule_on_constants_needs_none():
    # A primitive archinspect has no rule for, applied to constants only: its result depends on
    # no input cell, and stays evaluable (here as the indices of a gather: roll by 2, (2, 0)).
    shift = Primitive("archinspect_test_shift")
    shift.def_impl(lambda i: (i - 2) % N)
    shift.def_abstract_eval(lambda i: i)
    got = structural(lambda x: x + jnp.take(x, shift.bind(jnp.arange(N)), axis=1), (1, N))
    assert got.per_axis == ((2, 0),)
    with pytest.raises(UnsupportedOperation, match="no exact dependency rule for primitive"):
        structural(lambda x: shift.bind(x), (1, N))


def test_tile_of_a_weight():
    class Tiled(eqx.Module):
        w: jax.Array

        def __call__(self, x):
            return x + r(x) + jnp.tile(self.w, x.shape[1] // 2)

    assert receptive_field(Tiled(jnp.ones(2)), (1, N)).per_axis == ((2, 0),)
