"""A block applied with `jax.lax.scan` over stacked weights, the common Equinox pattern for deep
homogeneous stacks (tests/test_scan.py): one traced call of the block runs once per step."""

from __future__ import annotations

import equinox as eqx
import jax


class Block(eqx.Module):
    """Linear(W -> W) + tanh: W*W + W parameters, 2*W*W FLOPs of the product per input."""

    linear: eqx.nn.Linear

    def __init__(self, width: int, *, key: jax.Array):
        self.linear = eqx.nn.Linear(width, width, key=key)

    def __call__(self, x: jax.Array) -> jax.Array:
        return jax.nn.tanh(self.linear(x))


class ScannedStack(eqx.Module):
    """`steps` Blocks with stacked weights (leading axis `steps`), applied by `lax.scan`."""

    blocks: Block

    def __init__(self, width: int = 8, steps: int = 5, *, key: jax.Array):
        keys = jax.random.split(key, steps)
        self.blocks = eqx.filter_vmap(lambda k: Block(width, key=k))(keys)

    def __call__(self, x: jax.Array) -> jax.Array:
        dynamic, static = eqx.partition(self.blocks, eqx.is_array)

        def step(h: jax.Array, weights: Block) -> tuple[jax.Array, None]:
            return eqx.combine(weights, static)(h), None

        out, _ = jax.lax.scan(step, x, dynamic)
        return out


class LoopedStack(eqx.Module):
    """The same `steps` Blocks as a Python list, applied one after another: the oracle."""

    blocks: list[Block]

    def __init__(self, width: int = 8, steps: int = 5, *, key: jax.Array):
        self.blocks = [Block(width, key=k) for k in jax.random.split(key, steps)]

    def __call__(self, x: jax.Array) -> jax.Array:
        for block in self.blocks:
            x = block(x)
        return x
