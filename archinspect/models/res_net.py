"""ResNets: 1x1 lifting, residual blocks of two 3-convs at constant width, 1x1 projection."""

from __future__ import annotations

import equinox as eqx
import jax

from archinspect.layers.blocks import ClassicResBlock, ModernResBlock
from archinspect.layers.conv import Conv
from archinspect.layers.keys import split


class _ResNet(eqx.Module):
    lifting: Conv
    blocks: list[ClassicResBlock | ModernResBlock]
    projection: Conv

    def __call__(self, x: jax.Array) -> jax.Array:
        x = self.lifting(x)
        for block in self.blocks:
            x = block(x)
        return self.projection(x)


def _build(
    self,
    block_cls,
    num_spatial_dims,
    in_channels,
    out_channels,
    hidden_channels,
    num_blocks,
    use_norm,
    activation,
    boundary_mode,
    key,
):
    keys = split(key, num_blocks + 2)
    self.lifting = Conv(num_spatial_dims, in_channels, hidden_channels, 1, key=keys[0])
    self.blocks = [
        block_cls(
            num_spatial_dims,
            hidden_channels,
            hidden_channels,
            activation=activation,
            use_norm=use_norm,
            boundary_mode=boundary_mode,
            key=k,
        )
        for k in keys[1:-1]
    ]
    self.projection = Conv(num_spatial_dims, hidden_channels, out_channels, 1, key=keys[-1])


class ClassicResNet(_ResNet):
    def __init__(
        self,
        num_spatial_dims: int,
        in_channels: int,
        out_channels: int,
        *,
        hidden_channels: int = 32,
        num_blocks: int = 6,
        use_norm: bool = False,
        activation: str = "relu",
        boundary_mode: str = "periodic",
        key: jax.Array,
    ):
        _build(
            self,
            ClassicResBlock,
            num_spatial_dims,
            in_channels,
            out_channels,
            hidden_channels,
            num_blocks,
            use_norm,
            activation,
            boundary_mode,
            key,
        )


class ModernResNet(_ResNet):
    def __init__(
        self,
        num_spatial_dims: int,
        in_channels: int,
        out_channels: int,
        *,
        hidden_channels: int = 32,
        num_blocks: int = 6,
        use_norm: bool = True,
        activation: str = "relu",
        boundary_mode: str = "periodic",
        key: jax.Array,
    ):
        _build(
            self,
            ModernResBlock,
            num_spatial_dims,
            in_channels,
            out_channels,
            hidden_channels,
            num_blocks,
            use_norm,
            activation,
            boundary_mode,
            key,
        )
