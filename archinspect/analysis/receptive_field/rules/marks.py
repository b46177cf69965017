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
from jax._src.pjit import reshard_p  # no public home
from jax._src.random.prng import random_unwrap_p, random_wrap_p  # no public home
from jax.extend.core import Primitive
from jax.extend.core.primitives import random_bits_p, random_seed_p

from archinspect.analysis.receptive_field.rules.registry import Context, out_shape, register
from archinspect.analysis.receptive_field.rules.tables import Val, empty


def _identity(eqn: Any, ins: list[Val], ctx: Context) -> list[Val]:
    return [ins[0]]


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


def _mark(eqn: Any, ins: list[Val], ctx: Context) -> list[Val]:
    ctx.mark(eqn.params["path"], ins[0])
    return [ins[0]]


register(_mark, MARK)
