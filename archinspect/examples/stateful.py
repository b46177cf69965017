"""A model called the way Equinox users call a BatchNorm-and-dropout network (README,
"forward:"): `model(x, state, key=key)`, built with `eqx.nn.make_with_state`, evaluated in
`eqx.nn.inference_mode`.

conv k3 -> BatchNorm -> activation -> dropout -> conv k3, same padding: the receptive field is
(1 + 1, 1 + 1) = (2, 2) cells per axis; the BatchNorm's running mean and variance (and its batch
counter) are state, not learnable parameters.
"""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax


class StatefulNet(eqx.Module):
    conv1: eqx.nn.Conv2d
    norm: eqx.nn.BatchNorm
    drop: eqx.nn.Dropout
    conv2: eqx.nn.Conv2d
    activation: Callable = eqx.field(static=True)

    def __init__(self, in_channels: int, hidden_channels: int, out_channels: int, p: float, *, key):
        k1, k2 = jax.random.split(key)
        self.conv1 = eqx.nn.Conv2d(in_channels, hidden_channels, 3, padding=1, key=k1)
        self.norm = eqx.nn.BatchNorm(hidden_channels, "batch", mode="batch")
        self.drop = eqx.nn.Dropout(p)
        self.conv2 = eqx.nn.Conv2d(hidden_channels, out_channels, 3, padding=1, key=k2)
        self.activation = jax.nn.relu

    def __call__(
        self, x: jax.Array, state: eqx.nn.State, *, key: jax.Array
    ) -> tuple[jax.Array, eqx.nn.State]:
        x, state = self.norm(self.conv1(x), state)
        x = self.drop(self.activation(x), key=key)
        return self.conv2(x), state
