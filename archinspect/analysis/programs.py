"""The XLA programs archinspect lowers and compiles — never runs — for FLOPs and memory.

The model's array leaves are ShapeDtypeStructs; they are split from the static parts and
passed to `jax.jit(...).lower(...)` as abstract arguments, so no weight is allocated even
when the program is compiled.
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp

from archinspect.analysis.extents import check_extents
from archinspect.analysis.params import is_array_like


def split(model: Any) -> tuple[Any, Any]:
    """(dynamic arrays as ShapeDtypeStructs, static rest) of a concrete or abstract model."""
    dynamic, static = eqx.partition(model, is_array_like)
    dynamic = jax.tree_util.tree_map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype) if is_array_like(x) else x, dynamic
    )
    return dynamic, static


def _lower(jitted: Any, what: str, source: str | None, args: list[tuple[str, Any]]) -> Any:
    """Trace, check every value's size (`archinspect.analysis.extents`), then lower. `args`:
    the program's arguments with their roles ("params": a tree of the model's arrays, named by
    their paths; any other role names its one array: "the input", "the target")."""
    traced = jitted.trace(*(arg for _, arg in args))
    names = []
    for role, arg in args:
        for path, _ in jax.tree_util.tree_flatten_with_path(arg)[0]:
            shown = jax.tree_util.keystr(path).lstrip(".")
            names.append(f"the parameter {shown}" if role == "params" else role)
    check_extents(traced.jaxpr.jaxpr, what, source, names)
    return traced.lower()


def forward_program(
    model: Any, batch_shape: tuple[int, ...], dtype: str, source: str | None = None
) -> Any:
    """Lowered batched forward pass: vmap(model) over inputs of `batch_shape`."""
    dynamic, static = split(model)

    def forward(params: Any, x: jax.Array) -> Any:
        return jax.vmap(eqx.combine(params, static))(x)

    x = jax.ShapeDtypeStruct(batch_shape, jnp.dtype(dtype))
    return _lower(
        jax.jit(forward), "forward program", source, [("params", dynamic), ("the input", x)]
    )


def train_step_program(
    model: Any,
    batch_shape: tuple[int, ...],
    output_shape: tuple[int, ...],
    dtype: str,
    source: str | None = None,
) -> Any:
    """Lowered training step: value_and_grad of the mean squared error w.r.t. every floating
    or complex array (integer arrays, such as indices or a Flax model's RNG state, are held
    fixed: they have no gradient)."""
    dynamic, static = split(model)
    trained, fixed = eqx.partition(
        dynamic, lambda x: is_array_like(x) and jnp.issubdtype(x.dtype, jnp.inexact)
    )

    def loss(params: Any, rest: Any, x: jax.Array, y: jax.Array) -> jax.Array:
        prediction = jax.vmap(eqx.combine(params, rest, static))(x)
        return jnp.mean((prediction - y) ** 2)

    def step(params: Any, rest: Any, x: jax.Array, y: jax.Array) -> Any:
        return jax.value_and_grad(loss)(params, rest, x, y)

    dt = jnp.dtype(dtype)
    x, y = jax.ShapeDtypeStruct(batch_shape, dt), jax.ShapeDtypeStruct(output_shape, dt)
    return _lower(
        jax.jit(step),
        "training step",
        source,
        [("params", trained), ("params", fixed), ("the input", x), ("the target", y)],
    )


def module_program(module: Any, input_shape: tuple[int, ...], dtype: str) -> Any:
    """Lowered single call of one submodule on one (unbatched) input."""
    dynamic, static = split(module)

    def call(params: Any, x: jax.Array) -> Any:
        return eqx.combine(params, static)(x)

    return jax.jit(call).lower(dynamic, jax.ShapeDtypeStruct(input_shape, jnp.dtype(dtype)))


def xla_flops(cost: Any) -> int:
    """FLOPs from an XLA cost analysis (a dict, or a list of one dict in older JAX)."""
    if isinstance(cost, list | tuple):
        cost = cost[0] if cost else {}
    return int(round(float((cost or {}).get("flops", 0.0))))
