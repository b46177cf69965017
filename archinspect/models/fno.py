"""ClassicFNO: 1x1 lifting, blocks act(spectral(x) + 1x1(x)), 1x1 projection."""

from __future__ import annotations

import equinox as eqx
import jax

from archinspect.activations import activation as get_activation
from archinspect.layers.conv import Conv
from archinspect.layers.spectral import SpectralConv


class SpectralBlock(eqx.Module):
    spectral_conv: SpectralConv
    by_pass_conv: Conv
    activation: str = eqx.field(static=True)

    def __init__(
        self,
        num_spatial_dims: int,
        channels: int,
        num_modes: int,
        *,
        activation: str,
        key: jax.Array,
    ):
        k1, k2 = jax.random.split(key)
        self.spectral_conv = SpectralConv(num_spatial_dims, channels, channels, num_modes, key=k1)
        self.by_pass_conv = Conv(num_spatial_dims, channels, channels, 1, key=k2)
        self.activation = activation

    def __call__(self, x: jax.Array) -> jax.Array:
        return get_activation(self.activation)(self.spectral_conv(x) + self.by_pass_conv(x))


class ClassicFNO(eqx.Module):
    lifting: Conv
    blocks: list[SpectralBlock]
    projection: Conv

    def __init__(
        self,
        num_spatial_dims: int,
        in_channels: int,
        out_channels: int,
        *,
        hidden_channels: int = 32,
        num_modes: int = 12,
        num_blocks: int = 4,
        activation: str = "gelu",
        key: jax.Array,
    ):
        keys = jax.random.split(key, num_blocks + 2)
        self.lifting = Conv(num_spatial_dims, in_channels, hidden_channels, 1, key=keys[0])
        self.blocks = [
            SpectralBlock(
                num_spatial_dims, hidden_channels, num_modes, activation=activation, key=k
            )
            for k in keys[1:-1]
        ]
        self.projection = Conv(num_spatial_dims, hidden_channels, out_channels, 1, key=keys[-1])

    def __call__(self, x: jax.Array) -> jax.Array:
        x = self.lifting(x)
        for block in self.blocks:
            x = block(x)
        return self.projection(x)
