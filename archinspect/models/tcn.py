"""TCN: a temporal convolutional network (1-D, causal), after Bai, Kolter and Koltun (2018).

Block i holds two causal convolutions of kernel k and dilation 2**i, each followed by ReLU
and dropout, a residual add (through a 1x1 conv where the block changes the channel count,
the identity otherwise) and a ReLU; a final 1x1 conv maps to `out_channels`. Every conv here
has a bias. Unlike the reference implementation there is no weight normalisation (it only
reparametrises the same weights, which archinspect counts once each). Dropout is the identity
for inspection: archinspect runs the inference pass, so no key is needed.
"""

from __future__ import annotations

import equinox as eqx
import jax

from archinspect.activations import activation as get_activation
from archinspect.layers.conv import conv_weights
from archinspect.report import ConvGeometry


class CausalConv(eqx.Module):
    """1-D convolution that sees only the present and the past: the input is padded by
    k_eff - 1 zeros before its first cell and none after, k_eff = (k - 1) * dilation + 1, so an
    n-cell input gives n cells and output cell t depends on input cells t - (k_eff - 1) .. t.

    weight (out, in, k), bias (out, 1)."""

    weight: jax.Array
    bias: jax.Array
    in_channels: int = eqx.field(static=True)
    out_channels: int = eqx.field(static=True)
    kernel_size: int = eqx.field(static=True)
    dilation: int = eqx.field(static=True)

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        *,
        dilation: int = 1,
        key: jax.Array,
    ):
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.dilation = dilation
        weight, bias = conv_weights(key, in_channels, out_channels, (kernel_size,))
        assert bias is not None
        self.weight, self.bias = weight, bias

    @property
    def padding(self) -> tuple[tuple[int, int]]:
        return (((self.kernel_size - 1) * self.dilation, 0),)

    def conv_geometry(self, spatial_in: tuple[int, ...]) -> ConvGeometry:
        # The same padding for every input length: all of it before the first cell.
        return ConvGeometry(
            kernel_size=(self.kernel_size,),
            kernel_dilation=(self.dilation,),
            input_dilation=(1,),
            stride=(1,),
            padding=self.padding,
            padding_mode="zeros",
            groups=1,
            in_channels=self.in_channels,
            out_channels=self.out_channels,
        )

    def __call__(self, x: jax.Array) -> jax.Array:
        y = jax.lax.conv_general_dilated(
            x[None],
            self.weight,
            window_strides=(1,),
            padding=self.padding,
            rhs_dilation=(self.dilation,),
        )[0]
        return y + self.bias


class TemporalBlock(eqx.Module):
    """relu(dropout(relu(conv_2(dropout(relu(conv_1(x))))))) + bypass(x)), dilation 2**i."""

    conv_1: CausalConv
    dropout_1: eqx.nn.Dropout
    conv_2: CausalConv
    dropout_2: eqx.nn.Dropout
    bypass: CausalConv | None  # a 1x1 conv where the channel count changes
    # By name, as in the other families, so analyses that swap activations find it.
    activation: str = eqx.field(static=True)

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        dilation: int,
        dropout: float,
        *,
        key: jax.Array,
    ):
        k1, k2, k3 = jax.random.split(key, 3)
        self.conv_1 = CausalConv(in_channels, out_channels, kernel_size, dilation=dilation, key=k1)
        self.dropout_1 = eqx.nn.Dropout(dropout, inference=True)
        self.conv_2 = CausalConv(out_channels, out_channels, kernel_size, dilation=dilation, key=k2)
        self.dropout_2 = eqx.nn.Dropout(dropout, inference=True)
        changes = in_channels != out_channels
        self.bypass = CausalConv(in_channels, out_channels, 1, key=k3) if changes else None
        self.activation = "relu"

    def __call__(self, x: jax.Array) -> jax.Array:
        act = get_activation(self.activation)
        h = self.dropout_1(act(self.conv_1(x)))
        h = self.dropout_2(act(self.conv_2(h)))
        skip = x if self.bypass is None else self.bypass(x)
        return act(h + skip)


class TCN(eqx.Module):
    blocks: list[TemporalBlock]
    projection: CausalConv

    def __init__(
        self,
        num_spatial_dims: int,
        in_channels: int,
        out_channels: int,
        *,
        num_channels: tuple[int, ...] | list[int] = (32, 32, 32),
        kernel_size: int = 2,
        dropout: float = 0.2,
        key: jax.Array,
    ):
        if num_spatial_dims != 1:
            raise ValueError(f"a TCN is 1-D: num_spatial_dims must be 1, got {num_spatial_dims}")
        keys = jax.random.split(key, len(num_channels) + 1)
        widths = [in_channels, *num_channels]
        self.blocks = [
            TemporalBlock(c_in, c_out, kernel_size, 2**i, dropout, key=keys[i])
            for i, (c_in, c_out) in enumerate(zip(widths[:-1], widths[1:], strict=True))
        ]
        self.projection = CausalConv(widths[-1], out_channels, 1, key=keys[-1])

    def __call__(self, x: jax.Array) -> jax.Array:
        for block in self.blocks:
            x = block(x)
        return self.projection(x)
