"""Small models called as they are called in the wild (README "forward:"), for the tests of
tests/test_state.py and tests/test_forward_options.py: a BatchNorm held as state, a forward
pass that wants a PRNG key and runs dropout, keyword arguments of `__call__`."""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax


class ConvBN(eqx.Module):
    """Conv2d(3 -> 8, k3) + BatchNorm(8): 8*3*3*3 + 8 = 224 conv weights, 2*8 = 16 affine
    BatchNorm weights (learnable 240); 2*8 running statistics and one counter (state)."""

    conv: eqx.nn.Conv2d
    bn: eqx.nn.BatchNorm

    def __init__(self, *, key: jax.Array):
        self.conv = eqx.nn.Conv2d(3, 8, 3, padding=1, key=key)
        self.bn = eqx.nn.BatchNorm(8, "batch", mode="batch")

    def __call__(self, x: jax.Array, state: eqx.nn.State) -> tuple[jax.Array, eqx.nn.State]:
        return self.bn(self.conv(x), state)


class NoisyNet(eqx.Module):
    """conv k3 -> relu -> dropout (its key split from the call's key) -> conv k5, same
    padding: the receptive field is (1 + 2, 1 + 2) = (3, 3) per axis."""

    conv1: eqx.nn.Conv2d
    drop: eqx.nn.Dropout
    conv2: eqx.nn.Conv2d
    activation: Callable = eqx.field(static=True)

    def __init__(self, in_channels: int, *, key: jax.Array):
        k1, k2 = jax.random.split(key)
        self.conv1 = eqx.nn.Conv2d(in_channels, 4, 3, padding=1, key=k1)
        self.drop = eqx.nn.Dropout(0.3)
        self.conv2 = eqx.nn.Conv2d(4, 2, 5, padding=2, key=k2)
        self.activation = jax.nn.relu

    def __call__(self, x: jax.Array, *, key: jax.Array, scale: float = 1.0) -> jax.Array:
        k1, _ = jax.random.split(key)
        x = self.drop(self.activation(self.conv1(x)), key=k1)
        return self.conv2(x) * scale
