"""Residual and double-conv blocks shared by the ResNet and UNet families.

A norm is GroupNorm with one group (statistics over all channels and all space, which is what
couples every output to every input globally); `None` where the family has norms switched off
or where the bypass is the identity, so those positions hold no parameters.
"""

from __future__ import annotations

import equinox as eqx
import jax

from archinspect.activations import activation
from archinspect.layers.conv import Conv


def _norm(channels: int, use_norm: bool) -> eqx.nn.GroupNorm | None:
    return eqx.nn.GroupNorm(groups=1, channels=channels) if use_norm else None


def _apply(norm: eqx.nn.GroupNorm | None, x: jax.Array) -> jax.Array:
    return x if norm is None else norm(x)


class ClassicDoubleConvBlock(eqx.Module):
    """conv -> norm -> act -> conv -> norm -> act (the original U-Net's double convolution)."""

    conv_1: Conv
    norm_1: eqx.nn.GroupNorm | None
    conv_2: Conv
    norm_2: eqx.nn.GroupNorm | None
    activation: str = eqx.field(static=True)

    def __init__(
        self,
        num_spatial_dims: int,
        in_channels: int,
        out_channels: int,
        *,
        activation: str,
        use_norm: bool,
        boundary_mode: str,
        key: jax.Array,
    ):
        k1, k2 = jax.random.split(key)
        self.conv_1 = Conv(
            num_spatial_dims, in_channels, out_channels, 3, boundary_mode=boundary_mode, key=k1
        )
        self.norm_1 = _norm(out_channels, use_norm)
        self.conv_2 = Conv(
            num_spatial_dims, out_channels, out_channels, 3, boundary_mode=boundary_mode, key=k2
        )
        self.norm_2 = _norm(out_channels, use_norm)
        self.activation = activation

    def __call__(self, x: jax.Array) -> jax.Array:
        act = activation(self.activation)
        x = act(_apply(self.norm_1, self.conv_1(x)))
        return act(_apply(self.norm_2, self.conv_2(x)))


class ClassicResBlock(eqx.Module):
    """Post-activation residual block: act(norm(conv(act(norm(conv(x))))) + bypass(x))."""

    conv_1: Conv
    norm_1: eqx.nn.GroupNorm | None
    conv_2: Conv
    norm_2: eqx.nn.GroupNorm | None
    bypass_conv: Conv | None
    bypass_norm: eqx.nn.GroupNorm | None
    activation: str = eqx.field(static=True)

    def __init__(
        self,
        num_spatial_dims: int,
        in_channels: int,
        out_channels: int,
        *,
        activation: str,
        use_norm: bool,
        boundary_mode: str,
        key: jax.Array,
    ):
        k1, k2, k3 = jax.random.split(key, 3)
        self.conv_1 = Conv(
            num_spatial_dims, in_channels, out_channels, 3, boundary_mode=boundary_mode, key=k1
        )
        self.norm_1 = _norm(out_channels, use_norm)
        self.conv_2 = Conv(
            num_spatial_dims, out_channels, out_channels, 3, boundary_mode=boundary_mode, key=k2
        )
        self.norm_2 = _norm(out_channels, use_norm)
        if in_channels != out_channels:
            self.bypass_conv = Conv(
                num_spatial_dims, in_channels, out_channels, 1, use_bias=False, key=k3
            )
            self.bypass_norm = _norm(out_channels, use_norm)
        else:
            self.bypass_conv = None
            self.bypass_norm = None
        self.activation = activation

    def __call__(self, x: jax.Array) -> jax.Array:
        act = activation(self.activation)
        h = act(_apply(self.norm_1, self.conv_1(x)))
        h = _apply(self.norm_2, self.conv_2(h))
        skip = x if self.bypass_conv is None else _apply(self.bypass_norm, self.bypass_conv(x))
        return act(h + skip)


class ModernResBlock(eqx.Module):
    """Pre-activation residual block: conv(act(norm(conv(act(norm(x)))))) + bypass(x).

    The norms see the block's input channels first, then its output channels; a channel
    change goes through a bias-free 1x1 conv after its own norm.
    """

    conv_1: Conv
    norm_1: eqx.nn.GroupNorm | None
    conv_2: Conv
    norm_2: eqx.nn.GroupNorm | None
    bypass_conv: Conv | None
    bypass_norm: eqx.nn.GroupNorm | None
    activation: str = eqx.field(static=True)

    def __init__(
        self,
        num_spatial_dims: int,
        in_channels: int,
        out_channels: int,
        *,
        activation: str,
        use_norm: bool,
        boundary_mode: str,
        key: jax.Array,
    ):
        k1, k2, k3 = jax.random.split(key, 3)
        self.conv_1 = Conv(
            num_spatial_dims, in_channels, out_channels, 3, boundary_mode=boundary_mode, key=k1
        )
        self.norm_1 = _norm(in_channels, use_norm)
        self.conv_2 = Conv(
            num_spatial_dims, out_channels, out_channels, 3, boundary_mode=boundary_mode, key=k2
        )
        self.norm_2 = _norm(out_channels, use_norm)
        if in_channels != out_channels:
            self.bypass_conv = Conv(
                num_spatial_dims, in_channels, out_channels, 1, use_bias=False, key=k3
            )
            self.bypass_norm = _norm(in_channels, use_norm)
        else:
            self.bypass_conv = None
            self.bypass_norm = None
        self.activation = activation

    def __call__(self, x: jax.Array) -> jax.Array:
        act = activation(self.activation)
        h = self.conv_1(act(_apply(self.norm_1, x)))
        h = self.conv_2(act(_apply(self.norm_2, h)))
        skip = x if self.bypass_conv is None else self.bypass_conv(_apply(self.bypass_norm, x))
        return h + skip


class DilatedResBlock(eqx.Module):
    """Residual block: per dilation rate, norm -> 3-conv with that dilation -> activation; then
    the block's input is added (no activation after the sum)."""

    norm_layers: list[eqx.nn.GroupNorm | None]
    conv_layers: list[Conv]
    activation: str = eqx.field(static=True)

    def __init__(
        self,
        num_spatial_dims: int,
        channels: int,
        dilation_rates: list[int],
        *,
        activation: str,
        use_norm: bool,
        boundary_mode: str,
        key: jax.Array,
    ):
        keys = jax.random.split(key, len(dilation_rates))
        self.norm_layers = [_norm(channels, use_norm) for _ in dilation_rates]
        self.conv_layers = [
            Conv(
                num_spatial_dims,
                channels,
                channels,
                3,
                dilation=d,
                boundary_mode=boundary_mode,
                key=k,
            )
            for d, k in zip(dilation_rates, keys, strict=True)
        ]
        self.activation = activation

    def __call__(self, x: jax.Array) -> jax.Array:
        act = activation(self.activation)
        h = x
        for norm, conv in zip(self.norm_layers, self.conv_layers, strict=True):
            h = act(conv(_apply(norm, h)))
        return x + h
