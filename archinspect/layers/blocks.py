"""Residual and double-conv blocks shared by the ResNet and UNet families.

A norm is GroupNorm with one group (statistics over all channels and all space, which is what
couples every output to every input globally); `None` where the family has norms switched off
or where the bypass is the identity, so those positions hold no parameters.
"""

from __future__ import annotations

import functools
from typing import Any

import equinox as eqx
import jax

from archinspect.activations import activation
from archinspect.layers.conv import Conv
from archinspect.layers.keys import split


def _norm(channels: int, use_norm: bool) -> eqx.nn.GroupNorm | None:
    return _group_norm(channels)() if use_norm else None


@functools.cache
def _group_norm(channels: int) -> Any:
    """`eqx.nn.GroupNorm(groups=1, channels=channels)` under `eqx.filter_jit`: each call
    returns a new norm with new arrays, but a model of many blocks is built abstractly with one
    trace of it per width, not one per block (README "Performance")."""
    return eqx.filter_jit(lambda: eqx.nn.GroupNorm(groups=1, channels=channels))


def _apply(norm: eqx.nn.GroupNorm | None, x: jax.Array) -> jax.Array:
    return x if norm is None else norm(x)


def _two_convs(
    block: Any,
    num_spatial_dims: int,
    in_channels: int,
    out_channels: int,
    *,
    activation: str,
    use_norm: bool,
    boundary_mode: str,
    pre_norm: bool,
    bypass: bool,
    key: jax.Array,
) -> None:
    """Set the fields the two-conv blocks share, from their __init__.

    A pre-norm block normalises its input channels before the first conv (and before a
    channel-changing bypass); a post-norm block normalises each conv's output. The bypass, a
    bias-free 1x1 conv, exists only where the channel count changes.
    """
    k1, k2, k3 = split(key, 3)
    block.conv_1 = Conv(
        num_spatial_dims, in_channels, out_channels, 3, boundary_mode=boundary_mode, key=k1
    )
    block.norm_1 = _norm(in_channels if pre_norm else out_channels, use_norm)
    block.conv_2 = Conv(
        num_spatial_dims, out_channels, out_channels, 3, boundary_mode=boundary_mode, key=k2
    )
    block.norm_2 = _norm(out_channels, use_norm)
    if bypass:
        changes = in_channels != out_channels
        block.bypass_conv = (
            Conv(num_spatial_dims, in_channels, out_channels, 1, use_bias=False, key=k3)
            if changes
            else None
        )
        norm_channels = in_channels if pre_norm else out_channels
        block.bypass_norm = _norm(norm_channels, use_norm) if changes else None
    block.activation = activation


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
        _two_convs(
            self,
            num_spatial_dims,
            in_channels,
            out_channels,
            activation=activation,
            use_norm=use_norm,
            boundary_mode=boundary_mode,
            pre_norm=False,
            bypass=False,
            key=key,
        )

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
        _two_convs(
            self,
            num_spatial_dims,
            in_channels,
            out_channels,
            activation=activation,
            use_norm=use_norm,
            boundary_mode=boundary_mode,
            pre_norm=False,
            bypass=True,
            key=key,
        )

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
        _two_convs(
            self,
            num_spatial_dims,
            in_channels,
            out_channels,
            activation=activation,
            use_norm=use_norm,
            boundary_mode=boundary_mode,
            pre_norm=True,
            bypass=True,
            key=key,
        )

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
