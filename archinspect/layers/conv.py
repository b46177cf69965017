"""Convolutions with physical boundary modes, and the zero-insertion up-sampling convolution.

Padding is always 'centred' like pdequinox's: a kernel of effective size k_eff gets
(k_eff - 1) // 2 cells before and the rest after (JAX's split for odd and even kernels), and
the stride is applied afterwards, so an n-cell axis gives ceil(n / stride) cells.
"""

from __future__ import annotations

import functools
import math

import equinox as eqx
import jax
import jax.numpy as jnp

from archinspect.layers.draws import shapes_only
from archinspect.report import ConvGeometry

_PAD_MODE = {"periodic": "wrap", "dirichlet": "constant", "neumann": "reflect"}
# ConvGeometry's name for what the padded cells hold, per boundary mode
_GEOMETRY_MODE = {"periodic": "circular", "dirichlet": "zeros", "neumann": "reflect"}


def _tuple(value: int | tuple[int, ...], n: int) -> tuple[int, ...]:
    return tuple(value) if isinstance(value, tuple | list) else (value,) * n


def centred_padding(kernel_size: tuple[int, ...], dilation: tuple[int, ...]):
    pads = []
    for k, d in zip(kernel_size, dilation, strict=True):
        total = (k - 1) * d
        pads.append((total // 2, total - total // 2))
    return tuple(pads)


def _init(key: jax.Array, shape: tuple[int, ...], fan_in: int) -> jax.Array:
    bound = 1.0 / math.sqrt(fan_in)
    return jax.random.uniform(key, shape, minval=-bound, maxval=bound)


def conv_weights(
    key: jax.Array,
    in_channels: int,
    out_channels: int,
    kernel_size: tuple[int, ...],
    *,
    groups: int = 1,
    use_bias: bool = True,
) -> tuple[jax.Array, jax.Array | None]:
    """Weight (out, in / groups, *kernel) and bias (out, 1, ..., 1), uniform in
    +-1/sqrt(fan_in) as torch and pdequinox initialise them; one home for every conv class.
    In an abstract build (archinspect/layers/draws.py) only their shapes and dtypes are made."""
    make = _weight_shapes if shapes_only() else _weight_draws
    return make(key, in_channels, out_channels, kernel_size, groups=groups, use_bias=use_bias)


def _shaped(shape: tuple[int, ...]) -> jax.Array:
    """An array of the shape and dtype `_init` draws (JAX's default float, as
    `jax.random.uniform`'s); its values are never read."""
    return jnp.zeros(shape, jnp.result_type(float))


# Both under `jax.jit` (a pure function of the key, shapes static): a model of many equal layers
# is built with one trace per distinct shape, not one per layer (README "Performance"); the
# values are those of the same draws made one by one. Two functions, not one reading the flag:
# a jit trace is cached by its arguments alone, so one traced for shapes would be reused for
# real weights.
_STATIC = ("in_channels", "out_channels", "kernel_size", "groups", "use_bias")


@functools.partial(jax.jit, static_argnames=_STATIC)
def _weight_draws(
    key: jax.Array,
    in_channels: int,
    out_channels: int,
    kernel_size: tuple[int, ...],
    *,
    groups: int = 1,
    use_bias: bool = True,
) -> tuple[jax.Array, jax.Array | None]:
    wkey, bkey = jax.random.split(key)
    fan_in = in_channels // groups * math.prod(kernel_size)
    weight = _init(wkey, (out_channels, in_channels // groups, *kernel_size), fan_in)
    bias = _init(bkey, (out_channels,) + (1,) * len(kernel_size), fan_in) if use_bias else None
    return weight, bias


@functools.partial(jax.jit, static_argnames=_STATIC)
def _weight_shapes(
    key: jax.Array,
    in_channels: int,
    out_channels: int,
    kernel_size: tuple[int, ...],
    *,
    groups: int = 1,
    use_bias: bool = True,
) -> tuple[jax.Array, jax.Array | None]:
    """Arrays of the shapes and dtype `_weight_draws` gives, without tracing the draws."""
    del key
    weight = _shaped((out_channels, in_channels // groups, *kernel_size))
    bias = _shaped((out_channels,) + (1,) * len(kernel_size)) if use_bias else None
    return weight, bias


class Conv(eqx.Module):
    """N-d convolution; weight (out, in/groups, *kernel), bias (out, 1, ..., 1) or None."""

    weight: jax.Array
    bias: jax.Array | None
    num_spatial_dims: int = eqx.field(static=True)
    in_channels: int = eqx.field(static=True)
    out_channels: int = eqx.field(static=True)
    kernel_size: tuple[int, ...] = eqx.field(static=True)
    stride: tuple[int, ...] = eqx.field(static=True)
    dilation: tuple[int, ...] = eqx.field(static=True)
    padding: tuple[tuple[int, int], ...] = eqx.field(static=True)
    groups: int = eqx.field(static=True)
    boundary_mode: str = eqx.field(static=True)

    def __init__(
        self,
        num_spatial_dims: int,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, ...],
        *,
        stride: int | tuple[int, ...] = 1,
        dilation: int | tuple[int, ...] = 1,
        groups: int = 1,
        use_bias: bool = True,
        boundary_mode: str = "periodic",
        key: jax.Array,
    ):
        if in_channels % groups or out_channels % groups:
            raise ValueError(
                f"in_channels (={in_channels}) and out_channels (={out_channels}) "
                f"must be divisible by groups (={groups})"
            )
        n = num_spatial_dims
        self.num_spatial_dims = n
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _tuple(kernel_size, n)
        self.stride = _tuple(stride, n)
        self.dilation = _tuple(dilation, n)
        self.padding = centred_padding(self.kernel_size, self.dilation)
        self.groups = groups
        self.boundary_mode = boundary_mode
        self.weight, self.bias = conv_weights(
            key, in_channels, out_channels, self.kernel_size, groups=groups, use_bias=use_bias
        )

    def __call__(self, x: jax.Array) -> jax.Array:
        if any(lo or hi for lo, hi in self.padding):
            x = jnp.pad(x, ((0, 0), *self.padding), mode=_PAD_MODE[self.boundary_mode])
        y = jax.lax.conv_general_dilated(
            x[None],
            self.weight,
            window_strides=self.stride,
            padding="VALID",
            rhs_dilation=self.dilation,
            feature_group_count=self.groups,
        )[0]
        return y if self.bias is None else y + self.bias

    def conv_geometry(self, spatial_in: tuple[int, ...]) -> ConvGeometry:
        """Boundary-padded by the centred padding, then a VALID strided conv (any input size)."""
        n = self.num_spatial_dims
        return ConvGeometry(
            kernel_size=self.kernel_size,
            kernel_dilation=self.dilation,
            input_dilation=(1,) * n,
            stride=self.stride,
            padding=self.padding,
            padding_mode=_GEOMETRY_MODE[self.boundary_mode],
            groups=self.groups,
            in_channels=self.in_channels,
            out_channels=self.out_channels,
        )


class UpConv(eqx.Module):
    """Up-sampling by `stride`: zero-insertion to stride*n cells, then a boundary-padded conv.

    This is a transposed convolution with centred padding and output padding stride-1: an
    n-cell axis becomes exactly stride*n cells, and the parameters are those of a plain conv
    (weight (out, in, *kernel), bias (out, 1, ..., 1)).
    """

    weight: jax.Array
    bias: jax.Array | None
    num_spatial_dims: int = eqx.field(static=True)
    in_channels: int = eqx.field(static=True)
    out_channels: int = eqx.field(static=True)
    kernel_size: tuple[int, ...] = eqx.field(static=True)
    stride: tuple[int, ...] = eqx.field(static=True)
    padding: tuple[tuple[int, int], ...] = eqx.field(static=True)
    boundary_mode: str = eqx.field(static=True)

    def __init__(
        self,
        num_spatial_dims: int,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, ...] = 3,
        *,
        stride: int | tuple[int, ...] = 2,
        use_bias: bool = True,
        boundary_mode: str = "periodic",
        key: jax.Array,
    ):
        n = num_spatial_dims
        self.num_spatial_dims = n
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _tuple(kernel_size, n)
        self.stride = _tuple(stride, n)
        self.padding = centred_padding(self.kernel_size, (1,) * n)
        self.boundary_mode = boundary_mode
        self.weight, self.bias = conv_weights(
            key, in_channels, out_channels, self.kernel_size, use_bias=use_bias
        )

    def __call__(self, x: jax.Array) -> jax.Array:
        # Interior padding inserts stride-1 zeros between cells (and after the last), giving
        # exactly stride*n cells; it transposes to a strided slice, cheap to differentiate.
        zero = jnp.zeros((), x.dtype)
        up = jax.lax.pad(x, zero, [(0, 0, 0)] + [(0, s - 1, s - 1) for s in self.stride])
        up = jnp.pad(up, ((0, 0), *self.padding), mode=_PAD_MODE[self.boundary_mode])
        y = jax.lax.conv_general_dilated(
            up[None], self.weight, (1,) * self.num_spatial_dims, "VALID"
        )[0]
        return y if self.bias is None else y + self.bias

    def conv_geometry(self, spatial_in: tuple[int, ...]) -> ConvGeometry:
        """The input dilated by the stride with stride - 1 trailing zeros (stride * n cells),
        boundary-padded by the centred padding, then a VALID conv with stride 1."""
        n = self.num_spatial_dims
        trailing = tuple((0, s - 1) for s in self.stride)
        padding = tuple(
            (lo, hi + z) for (lo, hi), (_, z) in zip(self.padding, trailing, strict=True)
        )
        zeros = self.boundary_mode == "dirichlet"
        return ConvGeometry(
            kernel_size=self.kernel_size,
            kernel_dilation=(1,) * n,
            input_dilation=self.stride,
            stride=(1,) * n,
            padding=padding,
            padding_mode=_GEOMETRY_MODE[self.boundary_mode],
            groups=1,
            in_channels=self.in_channels,
            out_channels=self.out_channels,
            transposed=True,
            zero_padding=() if zeros or all(z == 0 for _, z in trailing) else trailing,
        )
