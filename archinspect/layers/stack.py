"""The layers of `family: Sequential`, on one sample laid out (channels, *spatial).

Padding and output sizes come from archinspect/families/conv_arithmetic.py, the arithmetic
that spec validation uses too, and follow flax.nnx (README, "Custom layer stacks"). Weights
are stored as JAX's default layout (out, in / groups, *kernel); the counts are flax's.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp

from archinspect.activations import activation as get_activation
from archinspect.families import conv_arithmetic as ca
from archinspect.layers.conv import _init, conv_weights
from archinspect.report import ConvGeometry

_JNP_MODE = {"circular": "wrap", "reflect": "reflect"}


def _geometry(layer: Conv | ConvTranspose, r: ca.Resolved, transposed: bool) -> ConvGeometry:
    # A circular transposed conv wraps one period of n * stride cells: the stride - 1 zeros
    # after the last input cell belong to the period (they are zeros whatever the mode).
    zeros: tuple[tuple[int, int], ...] = ()
    if transposed and r.padding_mode == "circular":
        zeros = tuple((0, d - 1) for d in r.input_dilation)
    return ConvGeometry(
        kernel_size=r.kernel_size,
        kernel_dilation=r.kernel_dilation,
        input_dilation=r.input_dilation,
        stride=r.stride,
        padding=r.padding,
        padding_mode=r.padding_mode,
        groups=layer.groups,
        in_channels=layer.in_channels,
        out_channels=layer.out_channels,
        transposed=transposed,
        zero_padding=zeros,
    )


class Conv(eqx.Module):
    """`flax.nnx.Conv`'s knobs: stride, padding (any form), kernel and input dilation, groups."""

    weight: jax.Array
    bias: jax.Array | None
    in_channels: int = eqx.field(static=True)
    out_channels: int = eqx.field(static=True)
    kernel_size: tuple[int, ...] = eqx.field(static=True)
    stride: tuple[int, ...] = eqx.field(static=True)
    padding: str | int | tuple[tuple[int, int], ...] = eqx.field(static=True)
    kernel_dilation: tuple[int, ...] = eqx.field(static=True)
    input_dilation: tuple[int, ...] = eqx.field(static=True)
    groups: int = eqx.field(static=True)

    def __init__(
        self,
        num_spatial_dims: int,
        in_channels: int,
        out_channels: int,
        kernel_size,
        *,
        stride=1,
        padding="SAME",
        kernel_dilation=1,
        input_dilation=1,
        groups: int = 1,
        use_bias: bool = True,
        key: jax.Array,
    ):
        n = num_spatial_dims
        ca.check_groups(in_channels, out_channels, groups)
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = ca.per_axis(kernel_size, n, "kernel_size")
        self.stride = ca.per_axis(stride, n, "stride")
        self.kernel_dilation = ca.per_axis(kernel_dilation, n, "kernel_dilation")
        self.input_dilation = ca.per_axis(input_dilation, n, "input_dilation")
        self.padding = padding if isinstance(padding, str | int) else tuple(map(tuple, padding))
        self.weight, self.bias = conv_weights(
            key, in_channels, out_channels, self.kernel_size, groups=groups, use_bias=use_bias
        )

    def resolved(self, spatial_in: tuple[int, ...]) -> ca.Resolved:
        return ca.resolve_conv(
            spatial_in,
            self.kernel_size,
            self.stride,
            self.padding,
            self.kernel_dilation,
            self.input_dilation,
        )

    def conv_geometry(self, spatial_in: tuple[int, ...]) -> ConvGeometry:
        return _geometry(self, self.resolved(tuple(spatial_in)), transposed=False)

    def __call__(self, x: jax.Array) -> jax.Array:
        r = self.resolved(x.shape[1:])
        pads = r.padding
        if r.padding_mode != "zeros":
            x = jnp.pad(x, ((0, 0), *pads), mode=_JNP_MODE[r.padding_mode])
            pads = ((0, 0),) * len(pads)
        y = jax.lax.conv_general_dilated(
            x[None],
            self.weight,
            window_strides=r.stride,
            padding=pads,
            lhs_dilation=r.input_dilation,
            rhs_dilation=r.kernel_dilation,
            feature_group_count=self.groups,
        )[0]
        return y if self.bias is None else y + self.bias


class ConvTranspose(eqx.Module):
    """`flax.nnx.ConvTranspose` (transpose_kernel=False): the direct convolution of the input
    dilated by the stride, with stride 1 and lax's transposed padding; plus groups."""

    weight: jax.Array
    bias: jax.Array | None
    in_channels: int = eqx.field(static=True)
    out_channels: int = eqx.field(static=True)
    kernel_size: tuple[int, ...] = eqx.field(static=True)
    stride: tuple[int, ...] = eqx.field(static=True)
    padding: str | int | tuple[tuple[int, int], ...] = eqx.field(static=True)
    kernel_dilation: tuple[int, ...] = eqx.field(static=True)
    groups: int = eqx.field(static=True)

    def __init__(
        self,
        num_spatial_dims: int,
        in_channels: int,
        out_channels: int,
        kernel_size,
        *,
        stride=1,
        padding="SAME",
        kernel_dilation=1,
        groups: int = 1,
        use_bias: bool = True,
        key: jax.Array,
    ):
        n = num_spatial_dims
        ca.check_groups(in_channels, out_channels, groups)
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = ca.per_axis(kernel_size, n, "kernel_size")
        self.stride = ca.per_axis(stride, n, "stride")
        self.kernel_dilation = ca.per_axis(kernel_dilation, n, "kernel_dilation")
        self.padding = padding if isinstance(padding, str | int) else tuple(map(tuple, padding))
        self.weight, self.bias = conv_weights(
            key, in_channels, out_channels, self.kernel_size, groups=groups, use_bias=use_bias
        )

    def resolved(self, spatial_in: tuple[int, ...]) -> ca.Resolved:
        return ca.resolve_conv_transpose(
            spatial_in, self.kernel_size, self.stride, self.padding, self.kernel_dilation
        )

    def conv_geometry(self, spatial_in: tuple[int, ...]) -> ConvGeometry:
        return _geometry(self, self.resolved(tuple(spatial_in)), transposed=True)

    def __call__(self, x: jax.Array) -> jax.Array:
        r = self.resolved(x.shape[1:])
        n = len(r.stride)
        if r.padding_mode == "circular":
            # One period of n * stride cells (stride - 1 zeros after every cell), wrapped.
            zero = jnp.zeros((), x.dtype)
            x = jax.lax.pad(x, zero, [(0, 0, 0)] + [(0, s - 1, s - 1) for s in self.stride])
            wrap = tuple(
                (lo, hi - (s - 1)) for (lo, hi), s in zip(r.padding, self.stride, strict=True)
            )
            x = jnp.pad(x, ((0, 0), *wrap), mode="wrap")
            pads, lhs = ((0, 0),) * n, (1,) * n
        else:
            pads, lhs = r.padding, r.input_dilation
        y = jax.lax.conv_general_dilated(
            x[None],
            self.weight,
            window_strides=(1,) * n,
            padding=pads,
            lhs_dilation=lhs,
            rhs_dilation=r.kernel_dilation,
            feature_group_count=self.groups,
        )[0]
        return y if self.bias is None else y + self.bias


class Pool(eqx.Module):
    """`flax.nnx.max_pool` / `avg_pool` (padding counted in the mean, flax's default)."""

    kind: str = eqx.field(static=True)  # max | avg
    window: tuple[int, ...] = eqx.field(static=True)
    stride: tuple[int, ...] = eqx.field(static=True)
    padding: str | int | tuple[tuple[int, int], ...] = eqx.field(static=True)

    def __init__(self, kind: str, num_spatial_dims: int, window, *, stride=1, padding="VALID"):
        n = num_spatial_dims
        self.kind = kind
        self.window = ca.per_axis(window, n, "window")
        self.stride = ca.per_axis(stride, n, "stride")
        self.padding = padding if isinstance(padding, str | int) else tuple(map(tuple, padding))

    def __call__(self, x: jax.Array) -> jax.Array:
        r = ca.resolve_pool(x.shape[1:], self.window, self.stride, self.padding)
        dims, strides, pads = (1, *self.window), (1, *self.stride), ((0, 0), *r.padding)
        if self.kind == "max":
            return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, dims, strides, pads)
        total = jax.lax.reduce_window(x, 0.0, jax.lax.add, dims, strides, pads)
        return total / math.prod(self.window)


class GlobalPool(eqx.Module):
    """Mean or maximum over every spatial axis, each kept with size 1 (channels, 1, ..., 1)."""

    kind: str = eqx.field(static=True)

    def __call__(self, x: jax.Array) -> jax.Array:
        axes = tuple(range(1, x.ndim))
        reduce = jnp.mean if self.kind == "avg" else jnp.max
        return reduce(x, axis=axes, keepdims=True)


class GroupNorm(eqx.nn.GroupNorm):
    """`flax.nnx.GroupNorm`: mean and variance over each channel group and every cell, then
    a scale and a bias per channel (2 * channels parameters; flax's eps 1e-6). Equinox's
    GroupNorm already works on (channels, *spatial)."""

    def __init__(self, channels: int, groups: int):
        super().__init__(groups, channels, eps=1e-6)


class LayerNorm(eqx.Module):
    """`flax.nnx.LayerNorm` over the channels of each cell (features after flatten): a scale
    and a bias per channel (2 * channels parameters; flax's eps 1e-6). Per cell, so no global
    coupling (not an `eqx.nn.LayerNorm`, which normalizes over every axis it is given)."""

    weight: jax.Array
    bias: jax.Array

    def __init__(self, channels: int):
        self.weight = jnp.ones((channels,))
        self.bias = jnp.zeros((channels,))

    def __call__(self, x: jax.Array) -> jax.Array:
        mean = x.mean(axis=0, keepdims=True)
        var = x.var(axis=0, keepdims=True)
        y = (x - mean) * jax.lax.rsqrt(var + 1e-6)
        shape = (x.shape[0],) + (1,) * (x.ndim - 1)
        return y * self.weight.reshape(shape) + self.bias.reshape(shape)


class Dense(eqx.Module):
    """`flax.nnx.Linear` over the channels of each cell (over every feature after flatten):
    in * out weights plus out biases."""

    weight: jax.Array
    bias: jax.Array

    def __init__(self, in_features: int, out_features: int, *, key: jax.Array):
        wkey, bkey = jax.random.split(key)
        self.weight = _init(wkey, (out_features, in_features), in_features)
        self.bias = _init(bkey, (out_features,), in_features)

    def __call__(self, x: jax.Array) -> jax.Array:
        y = jnp.tensordot(self.weight, x, axes=(1, 0))
        return y + self.bias.reshape((-1,) + (1,) * (x.ndim - 1))


class Flatten(eqx.Module):
    def __call__(self, x: jax.Array) -> jax.Array:
        return x.reshape(-1)


class Dropout(eqx.Module):
    """Identity: inspection runs the model in inference mode."""

    rate: float = eqx.field(static=True)

    def __call__(self, x: jax.Array) -> jax.Array:
        return x


class Activation(eqx.Module):
    """A nonlinearity by name (the field is called `activation` so that the empirical
    receptive-field method recognises it and cuts it)."""

    activation: str = eqx.field(static=True)

    def __call__(self, x: jax.Array) -> jax.Array:
        return get_activation(self.activation)(x)


class Residual(eqx.Module):
    """x + body(x), through a 1x1 conv (with bias) of x when the body changes the channels."""

    body: list
    project: Conv | None

    def __init__(self, body: list, project: Conv | None):
        self.body = body
        self.project = project

    def __call__(self, x: jax.Array) -> jax.Array:
        y = x
        for layer in self.body:
            y = layer(y)
        return y + (x if self.project is None else self.project(x))
