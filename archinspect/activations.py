"""Activation functions by name (a spec may use those in `archinspect.spec.kinds.ACTIVATIONS`)."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp


def _identity(x: jax.Array) -> jax.Array:
    return x


def _gelu_exact(x: jax.Array) -> jax.Array:
    return jax.nn.gelu(x, approximate=False)


_PLAIN: dict[str, Callable[[jax.Array], jax.Array]] = {
    "relu": jax.nn.relu,
    "relu6": jax.nn.relu6,
    "leaky_relu": jax.nn.leaky_relu,
    "gelu": jax.nn.gelu,  # tanh approximation, JAX's (and pdequinox's) default
    "gelu_exact": _gelu_exact,
    "tanh": jnp.tanh,
    "silu": jax.nn.silu,
    "swish": jax.nn.silu,
    "elu": jax.nn.elu,
    "celu": jax.nn.celu,
    "selu": jax.nn.selu,
    "sigmoid": jax.nn.sigmoid,
    "softplus": jax.nn.softplus,
    "identity": _identity,
}
# Each under `jax.jit`: the same function, but a traced forward pass reuses one trace of it per
# input shape instead of tracing it at every call (`jax.nn.relu` is a `custom_jvp`, traced anew
# each time: a third of the trace of a deep ConvNet; README "Performance").
_BY_NAME: dict[str, Callable[[jax.Array], jax.Array]] = {
    name: jax.jit(fn) for name, fn in _PLAIN.items()
}


def activation(name: str) -> Callable[[jax.Array], jax.Array]:
    """The function the built-in families apply (under `jax.jit`)."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown activation {name!r} (one of: {', '.join(_BY_NAME)})") from None


def plain(name: str) -> Callable[[jax.Array], jax.Array]:
    """The JAX function itself (`jax.nn.relu`, `jnp.tanh`): what a `target:` is handed for an
    activation name, as README "Any Equinox module: `target:`" says."""
    activation(name)  # the same error for an unknown name
    return _PLAIN[name]
