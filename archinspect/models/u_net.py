"""UNets: lifting block, per level a stride-2 conv then blocks (left arc), and per level an
up-sampling conv, concatenation with the skip, then blocks (right arc); 1x1 projection.

Channels at level i (0 = finest) are hidden * m_i with m_-1 = 1; the up-sampling conv of level
i maps hidden*m_i to hidden*m_i // 2, and the first right-arc block takes that plus the skip.
ClassicUNet has m_i = 2**(i+1), one double-conv block per arc; ModernUNet has configurable
multipliers (default 2, 4, 8, ...), num_blocks pre-activation residual blocks per arc.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp

from archinspect.layers.blocks import ClassicDoubleConvBlock, ModernResBlock
from archinspect.layers.conv import Conv, UpConv

Block = ClassicDoubleConvBlock | ModernResBlock


class _UNet(eqx.Module):
    lifting: Block
    down_sampling_blocks: list[Conv]
    left_arc_blocks: list[list[Block]]
    up_sampling_blocks: list[UpConv]
    right_arc_blocks: list[list[Block]]
    projection: Conv
    num_levels: int = eqx.field(static=True)

    def __call__(self, x: jax.Array) -> jax.Array:
        factor = 2**self.num_levels
        if any(n % factor for n in x.shape[1:]):
            raise ValueError(
                f"a UNet with num_levels={self.num_levels} needs every spatial size divisible "
                f"by 2**{self.num_levels}={factor}, got {x.shape[1:]}"
            )
        x = self.lifting(x)
        skips = [x]
        for down, blocks in zip(self.down_sampling_blocks, self.left_arc_blocks, strict=True):
            x = down(x)
            for block in blocks:
                x = block(x)
            skips.append(x)
        skips.pop()  # the coarsest level feeds the right arc directly
        for level in reversed(range(self.num_levels)):
            x = jnp.concatenate([skips.pop(), self.up_sampling_blocks[level](x)], axis=0)
            for block in self.right_arc_blocks[level]:
                x = block(x)
        return self.projection(x)


def _build(
    self,
    block_cls,
    num_spatial_dims,
    in_channels,
    out_channels,
    hidden_channels,
    num_levels,
    num_blocks,
    multipliers,
    use_norm,
    activation,
    boundary_mode,
    key,
):
    d = num_spatial_dims
    opts = dict(activation=activation, use_norm=use_norm, boundary_mode=boundary_mode)
    keys = iter(jax.random.split(key, 2 + num_levels * (2 + 2 * num_blocks)))
    width = [hidden_channels] + [hidden_channels * m for m in multipliers]  # width[i+1] = level i
    self.num_levels = num_levels
    self.lifting = block_cls(d, in_channels, hidden_channels, key=next(keys), **opts)
    self.down_sampling_blocks = []
    self.left_arc_blocks = []
    self.up_sampling_blocks = []
    self.right_arc_blocks = []
    for i in range(num_levels):
        c_prev, c_here = width[i], width[i + 1]
        self.down_sampling_blocks.append(
            Conv(d, c_prev, c_prev, 3, stride=2, boundary_mode=boundary_mode, key=next(keys))
        )
        self.left_arc_blocks.append(
            [
                block_cls(d, c_prev if b == 0 else c_here, c_here, key=next(keys), **opts)
                for b in range(num_blocks)
            ]
        )
        c_up = c_here // 2
        self.up_sampling_blocks.append(
            UpConv(d, c_here, c_up, 3, stride=2, boundary_mode=boundary_mode, key=next(keys))
        )
        self.right_arc_blocks.append(
            [
                block_cls(d, c_up + c_prev if b == 0 else c_prev, c_prev, key=next(keys), **opts)
                for b in range(num_blocks)
            ]
        )
    self.projection = Conv(d, hidden_channels, out_channels, 1, key=next(keys))


class ClassicUNet(_UNet):
    def __init__(
        self,
        num_spatial_dims: int,
        in_channels: int,
        out_channels: int,
        *,
        hidden_channels: int = 16,
        num_levels: int = 4,
        use_norm: bool = True,
        activation: str = "relu",
        boundary_mode: str = "periodic",
        key: jax.Array,
    ):
        multipliers = [2 ** (i + 1) for i in range(num_levels)]
        _build(
            self,
            ClassicDoubleConvBlock,
            num_spatial_dims,
            in_channels,
            out_channels,
            hidden_channels,
            num_levels,
            1,
            multipliers,
            use_norm,
            activation,
            boundary_mode,
            key,
        )


class ModernUNet(_UNet):
    def __init__(
        self,
        num_spatial_dims: int,
        in_channels: int,
        out_channels: int,
        *,
        hidden_channels: int = 16,
        num_levels: int = 4,
        num_blocks: int = 2,
        channel_multipliers: tuple[int, ...] | list[int] | None = None,
        use_norm: bool = True,
        activation: str = "relu",
        boundary_mode: str = "periodic",
        key: jax.Array,
    ):
        if channel_multipliers is None:
            channel_multipliers = [2 ** (i + 1) for i in range(num_levels)]
        if len(channel_multipliers) != num_levels:
            raise ValueError(
                f"channel_multipliers needs one entry per level (num_levels={num_levels}), "
                f"got {len(channel_multipliers)}"
            )
        _build(
            self,
            ModernResBlock,
            num_spatial_dims,
            in_channels,
            out_channels,
            hidden_channels,
            num_levels,
            num_blocks,
            list(channel_multipliers),
            use_norm,
            activation,
            boundary_mode,
            key,
        )
