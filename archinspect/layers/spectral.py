"""Spectral convolution (the Fourier layer of an FNO) with complex weights.

Weights are stored as complex64, one (in, out, m, ..., m) block per corner of the kept
spectrum: the last axis uses the one-sided rfft (modes 0..m-1) while every other axis keeps
its m lowest positive and m lowest negative frequencies, hence 2**(d-1) blocks in d dims.
A complex weight is two real parameters, and the counter reports it that way.
"""

from __future__ import annotations

import itertools

import equinox as eqx
import jax
import jax.numpy as jnp


class SpectralConv(eqx.Module):
    weights: jax.Array  # complex64, (2**(d-1), in, out, *modes)
    num_spatial_dims: int = eqx.field(static=True)
    in_channels: int = eqx.field(static=True)
    out_channels: int = eqx.field(static=True)
    num_modes: tuple[int, ...] = eqx.field(static=True)

    def __init__(
        self,
        num_spatial_dims: int,
        in_channels: int,
        out_channels: int,
        num_modes: int,
        *,
        key: jax.Array,
    ):
        n = num_spatial_dims
        self.num_spatial_dims = n
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.num_modes = (num_modes,) * n
        shape = (2 ** (n - 1), in_channels, out_channels, *self.num_modes)
        rkey, ikey = jax.random.split(key)
        scale = 1.0 / (in_channels * out_channels)
        real = jax.random.uniform(rkey, shape, maxval=scale)
        imag = jax.random.uniform(ikey, shape, maxval=scale)
        self.weights = jax.lax.complex(real, imag)

    def __call__(self, x: jax.Array) -> jax.Array:
        spatial = x.shape[1:]
        axes = tuple(range(1, self.num_spatial_dims + 1))
        for i, (n, m) in enumerate(zip(spatial, self.num_modes, strict=True)):
            last = i == self.num_spatial_dims - 1
            limit = n // 2 + 1 if last else n // 2
            if m > limit:
                raise ValueError(
                    f"num_modes (={m}) needs at least {2 * m - (2 if last else 0)} cells "
                    f"on spatial axis {i}, got {n}"
                )
        x_ft = jnp.fft.rfftn(x, axes=axes)
        out_ft = jnp.zeros((self.out_channels, *x_ft.shape[1:]), dtype=x_ft.dtype)
        for corner, sides in enumerate(itertools.product((0, 1), repeat=self.num_spatial_dims - 1)):
            index = tuple(
                slice(-m, None) if high else slice(0, m)
                for high, m in zip(sides, self.num_modes[:-1], strict=True)
            ) + (slice(0, self.num_modes[-1]),)
            block = jnp.einsum(
                "i...,io...->o...", x_ft[(slice(None), *index)], self.weights[corner]
            )
            out_ft = out_ft.at[(slice(None), *index)].set(block)
        return jnp.fft.irfftn(out_ft, s=spatial, axes=axes).astype(x.dtype)
