"""Identities, constants and archinspect's own mark: primitives that move no dependency.

- identities (sharding and optimisation hints) return their operands unchanged;
- constants (iota, random numbers from a key fixed at trace time) depend on no input cell;
- `MARK`, bound by the recorder's RF tap around every module call's outputs, is an identity
  that hands its operand's tables to the analysis as that module's field.
"""

from __future__ import annotations

from typing import Any

from jax import lax
from jax._src.core import pvary_p  # no public home
from jax._src.interpreters import ad, batching, mlir  # no public home for rule tables
from jax._src.pjit import reshard_p  # no public home
from jax._src.random.prng import random_unwrap_p, random_wrap_p  # no public home
from jax.extend.core import Primitive
from jax.extend.core.primitives import random_bits_p, random_seed_p

from archinspect.analysis.receptive_field.rules.registry import (
    Context,
    keeps_support,
    out_shape,
    register,
)
from archinspect.analysis.receptive_field.rules.tables import Val, empty


@keeps_support
def _identity(eqn: Any, ins: list[Val], ctx: Context) -> list[Val]:
    return [ins[0]]


@keeps_support
def _identity_many(eqn: Any, ins: list[Val], ctx: Context) -> list[Val]:
    return list(ins)


def defidentity(*primitives: Primitive) -> None:
    """One operand, returned unchanged."""
    register(_identity, *primitives)


def defidentities(*primitives: Primitive) -> None:
    """Any number of operands, each returned unchanged."""
    register(_identity_many, *primitives)


def _constant(eqn: Any, ins: list[Val], ctx: Context) -> list[Val]:
    return [empty(out_shape(eqn, i), ctx.d) for i in range(len(eqn.outvars))]


def defconstant(*primitives: Primitive) -> None:
    """Every output depends on no input cell (the operands are fixed at trace time)."""
    register(_constant, *primitives)


defidentity(lax.sharding_constraint_p, pvary_p, reshard_p)
defidentities(lax.optimization_barrier_p)
defconstant(
    lax.iota_p,
    lax.rng_bit_generator_p,
    random_bits_p,
    random_seed_p,
    random_unwrap_p,
    random_wrap_p,
)


def _mark_impl(x: Any, *, path: str) -> Any:
    return x


MARK = Primitive("archinspect_rf_mark")
MARK.def_impl(_mark_impl)
MARK.def_abstract_eval(_mark_impl)


# The mark is bound wherever the model calls a module: under `jax.vmap` (eqx.nn.MultiheadAttention
# maps its projections over the sequence), inside `jax.jvp`/`jax.grad` of the forward pass, and
# in programs JAX may compile (a `jax.jit` inside the forward pass). It stays an identity under
# every transformation: batched, the mark wraps the whole batched value (whose tables cover
# every mapped position: the module's output at all of them); its tangent is the tangent.
def _mark_batched(args: Any, dims: Any, *, path: str) -> tuple[Any, Any]:
    return MARK.bind(args[0], path=path), dims[0]


def _mark_jvp(primals: Any, tangents: Any, *, path: str) -> tuple[Any, Any]:
    return MARK.bind(primals[0], path=path), tangents[0]


def _mark_transpose(ct: Any, x: Any, *, path: str) -> list[Any]:
    return [ct]


batching.primitive_batchers[MARK] = _mark_batched
ad.primitive_jvps[MARK] = _mark_jvp
ad.primitive_transposes[MARK] = _mark_transpose
mlir.register_lowering(MARK, lambda ctx, x, *, path: [x])


@keeps_support
def _mark(eqn: Any, ins: list[Val], ctx: Context) -> list[Val]:
    ctx.mark(eqn.params["path"], ins[0])
    return [ins[0]]


register(_mark, MARK)
