"""ConvNet: depth+1 same-padded convolutions, in -> hidden -> ... -> hidden -> out."""

from __future__ import annotations

import equinox as eqx
import jax

from archinspect.activations import activation as get_activation
from archinspect.layers.conv import Conv
from archinspect.layers.keys import split


class ConvNet(eqx.Module):
    layers: list[Conv]
    activation: str = eqx.field(static=True)
    final_activation: str = eqx.field(static=True)

    def __init__(
        self,
        num_spatial_dims: int,
        in_channels: int,
        out_channels: int,
        *,
        hidden_channels: int = 16,
        depth: int = 10,
        kernel_size: int = 3,
        activation: str = "relu",
        final_activation: str = "identity",
        use_bias: bool = True,
        use_final_bias: bool = True,
        boundary_mode: str = "periodic",
        key: jax.Array,
    ):
        keys = split(key, depth + 1)
        # depth hidden layers => depth+1 convs; depth=0 is a single in->out conv.
        widths = [in_channels] + [hidden_channels] * depth + [out_channels]
        self.layers = [
            Conv(
                num_spatial_dims,
                c_in,
                c_out,
                kernel_size,
                use_bias=use_final_bias if i == depth else use_bias,
                boundary_mode=boundary_mode,
                key=keys[i],
            )
            for i, (c_in, c_out) in enumerate(zip(widths[:-1], widths[1:], strict=True))
        ]
        self.activation = activation
        self.final_activation = final_activation

    def __call__(self, x: jax.Array) -> jax.Array:
        act = get_activation(self.activation)
        for layer in self.layers[:-1]:
            x = act(layer(x))
        return get_activation(self.final_activation)(self.layers[-1](x))
