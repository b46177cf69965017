"""MLP over the whole field: flatten (channels x all points), dense layers, reshape back."""

from __future__ import annotations

import equinox as eqx
import jax

from archinspect.activations import activation as get_activation


class MLP(eqx.Module):
    flat_mlp: eqx.nn.MLP
    in_shape: tuple[int, ...] = eqx.field(static=True)
    out_shape: tuple[int, ...] = eqx.field(static=True)

    def __init__(
        self,
        num_spatial_dims: int,
        in_channels: int,
        out_channels: int,
        *,
        num_points: int,
        width_size: int = 64,
        depth: int = 3,
        activation: str = "relu",
        final_activation: str = "identity",
        use_bias: bool = True,
        use_final_bias: bool = True,
        key: jax.Array,
    ):
        cells = num_points**num_spatial_dims
        self.in_shape = (in_channels,) + (num_points,) * num_spatial_dims
        self.out_shape = (out_channels,) + (num_points,) * num_spatial_dims
        self.flat_mlp = eqx.nn.MLP(
            in_size=in_channels * cells,
            out_size=out_channels * cells,
            width_size=width_size,
            depth=depth,
            activation=get_activation(activation),
            final_activation=get_activation(final_activation),
            use_bias=use_bias,
            use_final_bias=use_final_bias,
            key=key,
        )

    def __call__(self, x: jax.Array) -> jax.Array:
        if x.shape != self.in_shape:
            raise ValueError(f"this MLP takes inputs of shape {self.in_shape}, got {x.shape}")
        return self.flat_mlp(x.reshape(-1)).reshape(self.out_shape)
