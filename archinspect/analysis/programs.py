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
from archinspect.analysis.params import array_leaves, is_array_like


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
    learnable: frozenset[str] | None = None,
) -> Any:
    """Lowered training step: value_and_grad of the mean squared error w.r.t. what an
    optimizer trains: the arrays at the `learnable` paths (`params.module_rows`), else every
    floating or complex array. State (running statistics), frozen arrays and integer arrays
    (indices, a Flax model's RNG state) are held fixed: no gradient is computed for them, as
    a training step would not."""
    if learnable is None:
        trains = lambda x: jnp.issubdtype(x.dtype, jnp.inexact)  # noqa: E731
    else:
        ids = {id(x) for path, x in array_leaves(model) if path in learnable}
        trains = lambda x: id(x) in ids  # noqa: E731
    # Which leaves train, decided on the model itself (the split below makes new leaves).
    mask = jax.tree_util.tree_map(lambda x: is_array_like(x) and trains(x), model)
    dynamic, static = split(model)
    trained, fixed = eqx.partition(dynamic, mask)

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


def module_program(module: Any, arguments: tuple[tuple[Any, ...], dict[str, Any]]) -> Any:
    """Lowered single call of one module with the (args, kwargs) it was called with: their
    ShapeDtypeStructs are abstract arguments, every other value is passed as it was."""
    dynamic, static = split((module, arguments))

    def call(params: Any) -> Any:
        m, (args, kwargs) = eqx.combine(params, static)
        return m(*args, **kwargs)

    return jax.jit(call).lower(dynamic)


def xla_flops(cost: Any) -> int:
    """FLOPs from an XLA cost analysis (a dict, or a list of one dict in older JAX)."""
    if isinstance(cost, list | tuple):
        cost = cost[0] if cost else {}
    return int(round(float((cost or {}).get("flops", 0.0))))
