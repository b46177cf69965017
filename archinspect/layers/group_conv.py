"""Group convolutions on the square grid: lifting Z2 -> G and group G -> G, G = C4 or D4.

A feature map on G has C G-channels of S orientations each, stored channels-first as
(C * S, H, W) with the orientation fastest (channel c * S + s); s numbers the group elements
as archinspect/groups.py does (e, r, r2, r3 for C4; then m, r m, r2 m, r3 m for D4).

The stored (learnable) filters are the base filters; the filter bank a layer convolves with is
built in every forward pass, S times larger, from the base filters:

- lifting: bank[c, g] = L_g psi[c], the base filter rotated (and mirrored) by g;
- group: bank[c, g][c', h] = L_g psi[c, c'][g^-1 h], rotated by g with its orientation
  channels permuted by g (for C4 a cyclic shift by g's quarter turns).

L_g acts on the last two axes: mirror left-right (jnp.flip) when g is mirrored, then
jnp.rot90 by g's quarter turns. Then one `conv_general_dilated` with the bank. The bank is
built inside a function named `archinspect_filter_bank` (jitted, so it shows in the traced
program as one call of that name): the parameter analysis measures the materialized count as
the size of what that call returns (archinspect/analysis/banks.py). A bias is one value per
G-channel, shared by its S orientations and added by broadcasting: nothing is expanded.

With these banks a layer is equivariant: acting with k on the input (L_k on space, and for a
group layer the orientation permutation h -> k^-1 h) acts the same way on the output, exactly
when the padding is symmetric about the rotation centre (odd kernels, or VALID / CIRCULAR).
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp

from archinspect import groups
from archinspect.report import ConvGeometry

BANK_NAME = "archinspect_filter_bank"
PADDINGS = ("SAME", "VALID", "CIRCULAR")


def transform(x: jax.Array, g: int) -> jax.Array:
    """L_g on the last two axes: mirror left-right if g is mirrored, then rotate."""
    turns, mirrored = groups.split(g)
    if mirrored:
        x = jnp.flip(x, axis=-1)
    return jnp.rot90(x, turns, axes=(-2, -1))


def _pads(kernel_size: int, padding: str) -> tuple[tuple[int, int], ...]:
    if padding == "VALID":
        return ((0, 0), (0, 0))
    total = kernel_size - 1  # JAX's SAME split at stride 1: the odd cell goes after
    return ((total // 2, total - total // 2),) * 2


def _init(key: jax.Array, shape: tuple[int, ...], fan_in: int) -> jax.Array:
    bound = 1.0 / math.sqrt(fan_in)
    return jax.random.uniform(key, shape, minval=-bound, maxval=bound)


def _parameters(
    key: jax.Array, shape: tuple[int, ...], use_bias: bool
) -> tuple[jax.Array, jax.Array | None]:
    """Base filters of `shape` (C_out, ...) and one bias per G-channel, uniform in
    ±1/sqrt(fan_in), fan_in being everything a filter reads (all of `shape` but C_out)."""
    wkey, bkey = jax.random.split(key)
    fan_in = math.prod(shape[1:])
    bias = _init(bkey, (shape[0],), fan_in) if use_bias else None
    return _init(wkey, shape, fan_in), bias


class _GroupLayer(eqx.Module):
    """What lifting and group convolutions share: the convolution with a built bank."""

    weight: jax.Array
    bias: jax.Array | None
    group: str = eqx.field(static=True)
    in_channels: int = eqx.field(static=True)  # G-channels (plain channels for lifting)
    out_channels: int = eqx.field(static=True)  # G-channels
    kernel_size: int = eqx.field(static=True)
    padding: str = eqx.field(static=True)
    lifting: bool = eqx.field(static=True)

    @property
    def order(self) -> int:
        return groups.order(self.group)

    @property
    def bank_in_channels(self) -> int:
        return self.in_channels if self.lifting else self.in_channels * self.order

    def filter_bank(self) -> jax.Array:
        """The bank (C_out * S, C_in [* S], k, k), built from the stored filters."""
        build = self._bank

        def archinspect_filter_bank(weight: jax.Array) -> jax.Array:
            return build(weight)

        return jax.jit(archinspect_filter_bank)(self.weight)

    def _bank(self, weight: jax.Array) -> jax.Array:
        raise NotImplementedError

    def __call__(self, x: jax.Array) -> jax.Array:
        bank = self.filter_bank()
        pads = _pads(self.kernel_size, self.padding)
        if self.padding == "CIRCULAR":
            x = jnp.pad(x, ((0, 0), *pads), mode="wrap")
            pads = ((0, 0), (0, 0))
        y = jax.lax.conv_general_dilated(x[None], bank, (1, 1), pads)[0]
        if self.bias is None:
            return y
        s = self.order
        z = y.reshape(self.out_channels, s, *y.shape[1:]) + self.bias[:, None, None, None]
        return z.reshape(y.shape)

    def conv_geometry(self, spatial_in: tuple[int, ...]) -> ConvGeometry:
        """The convolution with the bank, as XLA runs it."""
        circular = self.padding == "CIRCULAR"
        return ConvGeometry(
            kernel_size=(self.kernel_size,) * 2,
            kernel_dilation=(1, 1),
            input_dilation=(1, 1),
            stride=(1, 1),
            padding=_pads(self.kernel_size, self.padding),
            padding_mode="circular" if circular else "zeros",
            groups=1,
            in_channels=self.bank_in_channels,
            out_channels=self.out_channels * self.order,
        )


def _check(group: str, padding: str, kernel_size: int) -> None:
    if group not in groups.GROUPS:
        raise ValueError(f"group must be one of {', '.join(groups.GROUPS)}, got {group!r}")
    if padding not in PADDINGS:
        raise ValueError(f"padding must be one of {', '.join(PADDINGS)}, got {padding!r}")
    if kernel_size < 1:
        raise ValueError(f"kernel_size must be a positive integer, got {kernel_size}")


class LiftingConv(_GroupLayer):
    """Z2 -> G: weight (C_out, C_in, k, k), one base filter per (G-channel, input channel);
    bias (C_out,) or None."""

    def __init__(
        self,
        group: str,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        *,
        padding: str = "SAME",
        use_bias: bool = True,
        key: jax.Array,
    ):
        _check(group, padding, kernel_size)
        self.group, self.in_channels, self.out_channels = group, in_channels, out_channels
        self.kernel_size, self.padding, self.lifting = kernel_size, padding, True
        shape = (out_channels, in_channels, kernel_size, kernel_size)
        self.weight, self.bias = _parameters(key, shape, use_bias)

    def _bank(self, weight: jax.Array) -> jax.Array:
        s = self.order
        bank = jnp.stack([transform(weight, g) for g in range(s)], axis=1)  # (C_out, S, C_in..)
        return bank.reshape(self.out_channels * s, *weight.shape[1:])


class GroupConv(_GroupLayer):
    """G -> G: weight (C_out, C_in, S, k, k), a filter on G per (G-channel, input G-channel);
    bias (C_out,) or None."""

    def __init__(
        self,
        group: str,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        *,
        padding: str = "SAME",
        use_bias: bool = True,
        key: jax.Array,
    ):
        _check(group, padding, kernel_size)
        self.group, self.in_channels, self.out_channels = group, in_channels, out_channels
        self.kernel_size, self.padding, self.lifting = kernel_size, padding, False
        shape = (out_channels, in_channels, groups.order(group), kernel_size, kernel_size)
        self.weight, self.bias = _parameters(key, shape, use_bias)

    def _bank(self, weight: jax.Array) -> jax.Array:
        s = self.order
        rows = []
        for g in range(s):
            turns, mirrored = groups.split(g)
            if not mirrored and s == 4:
                permuted = jnp.roll(weight, turns, axis=2)  # h -> (h - turns) mod 4
            else:
                permuted = weight[:, :, list(groups.permutation(g, self.group))]
            rows.append(transform(permuted, g))
        bank = jnp.stack(rows, axis=1)  # (C_out, S, C_in, S, k, k)
        k = self.kernel_size
        return bank.reshape(self.out_channels * s, self.in_channels * s, k, k)


class OrientationPool(eqx.Module):
    """Max or mean over the S orientations of every G-channel: (C * S, H, W) -> (C, H, W),
    invariant to the orientation permutation."""

    group: str = eqx.field(static=True)
    mode: str = eqx.field(static=True)

    def __call__(self, x: jax.Array) -> jax.Array:
        s = groups.order(self.group)
        z = x.reshape(x.shape[0] // s, s, *x.shape[1:])
        return jnp.max(z, axis=1) if self.mode == "max" else jnp.mean(z, axis=1)
