"""Values fixed at trace time are evaluated with NumPy where it is exact, so the structural
receptive field compiles nothing (README, "Performance"); JAX itself is the oracle: each
primitive's NumPy result must be bit-identical, dtype included, to binding the primitive."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from archinspect.analysis.receptive_field import receptive_field
from archinspect.analysis.receptive_field.constants import _IMPLS, evaluate
from tests.rf_oracle import Probe, oracle

I32 = np.array([7, -7, 0, 5, 2147483647], np.int32)
I32B = np.array([2, 3, -4, 5, 1], np.int32)
F32 = np.array([1.5, -2.25, 0.0, np.inf, 3e38], np.float32)
F32B = np.array([0.5, 0.0, -0.0, 2.0, 10.0], np.float32)

# One case per primitive with a NumPy implementation: (function, arguments).
CASES = {
    lax.add_p: (lax.add, (I32, I32B)),  # 2147483647 + 1 wraps in both
    lax.sub_p: (lax.sub, (F32, F32B)),
    lax.mul_p: (lax.mul, (F32, F32B)),  # 3e38 * 10 overflows to inf in both
    lax.div_p: (lax.div, (F32, F32B)),  # -2.25 / 0 is -inf, 0 / -0 is nan
    lax.rem_p: (lax.rem, (I32, I32B)),  # -7 rem 3 is -1 (the dividend's sign)
    lax.neg_p: (lax.neg, (F32,)),
    lax.max_p: (lax.max, (I32, I32B)),
    lax.min_p: (lax.min, (F32, F32B)),
    lax.floor_p: (lax.floor, (np.array([1.5, -1.5, -0.0], np.float32),)),
    lax.ceil_p: (lax.ceil, (np.array([1.5, -1.5, -0.5], np.float32),)),
    lax.eq_p: (lax.eq, (F32B, -F32B)),  # 0 == -0
    lax.ne_p: (lax.ne, (I32, I32B)),
    lax.lt_p: (lax.lt, (I32, I32B)),
    lax.le_p: (lax.le, (F32, F32B)),
    lax.gt_p: (lax.gt, (F32, F32B)),
    lax.ge_p: (lax.ge, (I32, I32B)),
    lax.and_p: (lax.bitwise_and, (I32, I32B)),
    lax.or_p: (lax.bitwise_or, (np.array([True, False]), np.array([False, False]))),
    lax.xor_p: (lax.bitwise_xor, (I32, I32B)),
    lax.not_p: (lax.bitwise_not, (I32,)),
    lax.clamp_p: (lax.clamp, (np.int32(-1), I32, np.int32(5))),
    lax.select_n_p: (lambda w, a, b: lax.select_n(w, a, b), (I32 > 0, I32, I32B)),
    lax.convert_element_type_p: (lambda x: x.astype(jnp.int32), (np.float32([2.7, -2.7, 0]),)),
    lax.iota_p: (lambda: lax.broadcasted_iota(jnp.int32, (3, 4), 1), ()),
    lax.broadcast_in_dim_p: (lambda x: lax.broadcast_in_dim(x, (2, 5, 3), (1,)), (I32,)),
    lax.reshape_p: (lambda x: x.reshape(2, 3), (np.arange(6, dtype=np.int32),)),
    lax.squeeze_p: (lambda x: lax.squeeze(x, (0,)), (I32[None],)),
    lax.transpose_p: (lambda x: x.T, (np.arange(6, dtype=np.int32).reshape(2, 3),)),
    lax.rev_p: (lambda x: lax.rev(x, (0,)), (I32,)),
    lax.concatenate_p: (lambda a, b: lax.concatenate([a, b], 0), (I32, I32B)),
    lax.slice_p: (lambda x: lax.slice(x, (1,), (5,), (2,)), (I32,)),
}


def _eqn(fn, args):
    jaxpr = jax.make_jaxpr(fn)(*args).jaxpr
    assert len(jaxpr.eqns) == 1, jaxpr
    return jaxpr.eqns[0]


def test_every_numpy_primitive_has_a_case():
    assert set(CASES) == set(_IMPLS)


@pytest.mark.parametrize("prim", list(CASES), ids=lambda p: p.name)
def test_numpy_matches_the_primitive_bit_for_bit(prim):
    fn, args = CASES[prim]
    eqn = _eqn(fn, args)
    assert eqn.primitive is prim
    got = evaluate(eqn, list(args))
    assert got is not None
    want = np.asarray(eqn.primitive.bind(*args, **eqn.params))
    assert got[0].dtype == want.dtype and got[0].shape == want.shape
    # Bit patterns, so that nan == nan and -0.0 != 0.0.
    assert got[0].tobytes() == want.tobytes(), (got[0], want)


@pytest.mark.parametrize(
    ("fn", "args", "why"),
    [
        (lax.div, (np.int32([-7]), np.int32([2])), "a negative integer dividend"),
        (lax.div, (np.int32([7]), np.int32([0])), "an integer division by zero"),
        (lax.rem, (np.int32([7]), np.int32([0])), "an integer remainder by zero"),
        (lambda x: x.astype(jnp.int32), (np.float32([3e9]),), "a conversion out of range"),
        (lambda x: x.astype(jnp.int32), (np.float32([np.nan]),), "a conversion of nan"),
        (lax.add, (jnp.bfloat16([1]), jnp.bfloat16([2])), "a narrow float type"),
        (lax.exp, (np.float32([1]),), "a transcendental function"),
    ],
)
def test_left_to_xla_where_numpy_may_differ(fn, args, why):
    assert evaluate(_eqn(fn, args), list(args)) is None, why


def test_structural_field_of_a_selection_fixed_at_trace_time_compiles_nothing():
    # Even cells keep x, odd cells take the cell before (a selection whose pattern comes from
    # an iota): even q reads q (0 back, 0 forward), odd q reads q - 1 only (1 back, -1
    # forward). Period 2.
    def fn(x):
        q = lax.broadcasted_iota(jnp.int32, x.shape, 1)
        return jnp.where(q % 2 == 0, x, jnp.roll(x, 1, axis=1))

    compiles: list[str] = []

    def listen(event: str, duration: float, **kwargs) -> None:
        if event.endswith("backend_compile_duration"):  # XLA compiles, not traces
            compiles.append(event)

    shape = (1, 64)
    probe = Probe(fn, jnp.ones(()))
    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        got = receptive_field(probe, shape)
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)
    assert compiles == []
    assert (got.per_axis, got.position_range) == oracle(fn, shape)
    assert got.per_axis == ((1, 0),) and got.position_range == (((0, 1), (-1, 0)),)
