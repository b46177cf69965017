"""PRNG keys for many layers."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def split(key: jax.Array, n: int) -> list[jax.Array]:
    """`jax.random.split(key, n)` as a list: the same keys as indexing the split one by one,
    but one operation for all of them, so an abstract build of n layers does not trace n
    indexing operations (README "Performance")."""
    return list(jnp.unstack(jax.random.split(key, n)))
