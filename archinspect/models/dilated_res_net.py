"""DilatedResNet: 1x1 lifting, residual blocks of dilated 3-convs, 1x1 projection."""

from __future__ import annotations

import equinox as eqx
import jax

from archinspect.layers.blocks import DilatedResBlock
from archinspect.layers.conv import Conv


class DilatedResNet(eqx.Module):
    lifting: Conv
    blocks: list[DilatedResBlock]
    projection: Conv

    def __init__(
        self,
        num_spatial_dims: int,
        in_channels: int,
        out_channels: int,
        *,
        hidden_channels: int = 32,
        num_blocks: int = 2,
        dilation_rates: tuple[int, ...] | list[int] = (1, 2, 4, 8, 4, 2, 1),
        use_norm: bool = True,
        activation: str = "relu",
        boundary_mode: str = "periodic",
        key: jax.Array,
    ):
        keys = jax.random.split(key, num_blocks + 2)
        self.lifting = Conv(num_spatial_dims, in_channels, hidden_channels, 1, key=keys[0])
        self.blocks = [
            DilatedResBlock(
                num_spatial_dims,
                hidden_channels,
                list(dilation_rates),
                activation=activation,
                use_norm=use_norm,
                boundary_mode=boundary_mode,
                key=k,
            )
            for k in keys[1:-1]
        ]
        self.projection = Conv(num_spatial_dims, hidden_channels, out_channels, 1, key=keys[-1])

    def __call__(self, x: jax.Array) -> jax.Array:
        x = self.lifting(x)
        for block in self.blocks:
            x = block(x)
        return self.projection(x)
