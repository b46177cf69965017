"""Convolution and pooling arithmetic, free of JAX: the one place where padding is resolved
and output sizes are computed, used by spec validation (the shape walk of `family:
Sequential`) and by the layers themselves (archinspect/layers/stack.py).

Per axis, with k_eff = (k - 1) * kernel_dilation + 1 and an input of n cells dilated to
n_dil = (n - 1) * input_dilation + 1 cells and padded by (lo, hi):

    out = floor((n_dil + lo + hi - k_eff) / stride) + 1

The padding forms follow `flax.nnx.Conv` (README, "Custom layer stacks"):

- VALID: (0, 0); an int p: (p, p); one [low, high] pair per axis as given;
- SAME: out = ceil(n / stride), the total padding max((out - 1) * stride + k_eff - n, 0) split
  as JAX splits it (low = total // 2);
- CIRCULAR / REFLECT: ((k_eff - 1) // 2, k_eff // 2) cells of wrapped or mirrored values;
- CAUSAL (1-D): (k_eff - 1, 0).

String paddings need input_dilation 1 (flax and `jax.lax` refuse them otherwise).

A transposed convolution (`flax.nnx.ConvTranspose`, i.e. `jax.lax.conv_transpose` with
transpose_kernel=False) is the direct convolution of the input dilated by the stride, with
stride 1: SAME and VALID become lax's transposed paddings, explicit pairs are the padding of
that direct convolution, and CIRCULAR gives n * stride cells (flax's periodic folding).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

CONV_PADDINGS: tuple[str, ...] = ("SAME", "VALID", "CAUSAL", "CIRCULAR", "REFLECT")
TRANSPOSE_PADDINGS: tuple[str, ...] = ("SAME", "VALID", "CIRCULAR")
POOL_PADDINGS: tuple[str, ...] = ("SAME", "VALID")
PADDING_MODE = {"CIRCULAR": "circular", "REFLECT": "reflect"}  # others pad with zeros

Pads = tuple[tuple[int, int], ...]


class ConvArithmeticError(ValueError):
    """A knob that cannot apply: `key` names the layer's argument at fault (None: the layer)."""

    def __init__(self, message: str, key: str | None = None):
        super().__init__(message)
        self.key = key


def per_axis(value: int | Sequence[int], n: int, key: str) -> tuple[int, ...]:
    """A scalar broadcast to every axis, or a list with one entry per axis."""
    if isinstance(value, int):
        return (value,) * n
    if len(value) != n:
        raise ConvArithmeticError(
            f"needs one entry per spatial axis (num_spatial_dims={n}), got {len(value)}: "
            f"{list(value)}",
            key,
        )
    return tuple(value)


def explicit_pads(padding: Any, n: int) -> Pads | None:
    """An int or a list of [low, high] pairs as per-axis pairs; None for a string."""
    if isinstance(padding, str):
        return None
    if isinstance(padding, int):
        return ((padding, padding),) * n
    if len(padding) != n:
        raise ConvArithmeticError(
            f"needs one [low, high] pair per spatial axis (num_spatial_dims={n}), got "
            f"{len(padding)}: {[list(p) for p in padding]}",
            "padding",
        )
    return tuple((int(p[0]), int(p[1])) for p in padding)


def effective_kernel(kernel: Sequence[int], dilation: Sequence[int]) -> tuple[int, ...]:
    return tuple((k - 1) * d + 1 for k, d in zip(kernel, dilation, strict=True))


def same_pads(n: int, k_eff: int, stride: int) -> tuple[int, int]:
    """JAX's SAME: ceil(n / stride) outputs, the total padding split low = total // 2."""
    out = -(-n // stride)
    total = max((out - 1) * stride + k_eff - n, 0)
    return total // 2, total - total // 2


def transpose_pads(k_eff: int, stride: int, padding: str) -> tuple[int, int]:
    """`jax.lax.conv_transpose`'s padding of the dilated input for SAME and VALID."""
    if padding == "SAME":
        total = k_eff + stride - 2
        lo = k_eff - 1 if stride > k_eff - 1 else math.ceil(total / 2)
    else:  # VALID
        total = k_eff + stride - 2 + max(k_eff - stride, 0)
        lo = k_eff - 1
    return lo, total - lo


def circular_transpose_low(k_eff: int, stride: int) -> int:
    """The wrapped cells before the period in flax's CIRCULAR ConvTranspose: its VALID output
    of n * stride + max(k_eff - stride, 0) cells is padded to two periods, low half first, and
    folded, which reads the periodic dilated input k_eff - 1 - max(k_eff - stride, 0) // 2
    cells back."""
    return k_eff - 1 - max(k_eff - stride, 0) // 2


@dataclass(frozen=True)
class Resolved:
    """One conv's knobs per axis and the padding it applies, as the direct convolution it runs
    (a transposed conv: input dilated by its stride, stride 1)."""

    kernel_size: tuple[int, ...]
    kernel_dilation: tuple[int, ...]
    input_dilation: tuple[int, ...]
    stride: tuple[int, ...]
    padding: Pads
    padding_mode: str  # zeros | circular | reflect
    spatial_in: tuple[int, ...]

    @property
    def effective_kernel(self) -> tuple[int, ...]:
        return effective_kernel(self.kernel_size, self.kernel_dilation)

    @property
    def dilated_in(self) -> tuple[int, ...]:
        return tuple(
            (n - 1) * d + 1 for n, d in zip(self.spatial_in, self.input_dilation, strict=True)
        )

    def out_size(self, axis: int) -> int:
        n_dil = self.dilated_in[axis]
        lo, hi = self.padding[axis]
        return (n_dil + lo + hi - self.effective_kernel[axis]) // self.stride[axis] + 1

    @property
    def spatial_out(self) -> tuple[int, ...]:
        return tuple(self.out_size(a) for a in range(len(self.spatial_in)))

    def arithmetic(self, axis: int) -> str:
        """The output size of one axis written out, e.g. floor((4 + 0 + 0 - 7)/1) + 1 = -2."""
        lo, hi = self.padding[axis]
        n, n_dil = self.spatial_in[axis], self.dilated_in[axis]
        k, s = self.effective_kernel[axis], self.stride[axis]
        dilated = f" (dilated to {n_dil})" if n_dil != n else ""
        return (
            f"maps {n} cells{dilated} to floor(({n_dil} + {lo} + {hi} - {k})/{s}) + 1 = "
            f"{self.out_size(axis)} on axis {axis}"
        )


def resolve_conv(
    spatial_in: Sequence[int],
    kernel_size: Any,
    stride: Any = 1,
    padding: Any = "SAME",
    kernel_dilation: Any = 1,
    input_dilation: Any = 1,
) -> Resolved:
    """A direct convolution's per-axis knobs and applied padding (see the module docstring)."""
    n = len(spatial_in)
    k = per_axis(kernel_size, n, "kernel_size")
    s = per_axis(stride, n, "stride")
    kd = per_axis(kernel_dilation, n, "kernel_dilation")
    idil = per_axis(input_dilation, n, "input_dilation")
    k_eff = effective_kernel(k, kd)
    mode = "zeros"
    pads = explicit_pads(padding, n)
    if pads is None:
        if any(d > 1 for d in idil):
            raise ConvArithmeticError(
                f"padding {padding} needs input_dilation 1 (flax and jax.lax refuse string "
                f"paddings for a dilated input), got input_dilation {list(idil)}; give "
                "explicit [low, high] pairs",
                "padding",
            )
        if padding == "SAME":
            pads = tuple(
                same_pads(ni, ke, si) for ni, ke, si in zip(spatial_in, k_eff, s, strict=True)
            )
        elif padding == "VALID":
            pads = ((0, 0),) * n
        elif padding == "CAUSAL":
            if n != 1:
                raise ConvArithmeticError(
                    f"padding CAUSAL is for 1-D convolutions only, got num_spatial_dims={n}",
                    "padding",
                )
            pads = ((k_eff[0] - 1, 0),)
        else:  # CIRCULAR, REFLECT
            pads = tuple(((ke - 1) // 2, ke // 2) for ke in k_eff)
            mode = PADDING_MODE[padding]
    return Resolved(k, kd, idil, s, pads, mode, tuple(spatial_in))


def resolve_conv_transpose(
    spatial_in: Sequence[int],
    kernel_size: Any,
    stride: Any = 1,
    padding: Any = "SAME",
    kernel_dilation: Any = 1,
) -> Resolved:
    """A transposed convolution as its equivalent direct convolution (input dilated by the
    stride, stride 1), padded as `flax.nnx.ConvTranspose` pads it."""
    n = len(spatial_in)
    k = per_axis(kernel_size, n, "kernel_size")
    s = per_axis(stride, n, "stride")
    kd = per_axis(kernel_dilation, n, "kernel_dilation")
    k_eff = effective_kernel(k, kd)
    mode = "zeros"
    pads = explicit_pads(padding, n)
    if pads is None:
        if padding not in TRANSPOSE_PADDINGS:
            raise ConvArithmeticError(
                f"padding {padding} is not one of conv_transpose's (as flax.nnx.ConvTranspose: "
                f"{', '.join(TRANSPOSE_PADDINGS)}, an int or [low, high] pairs)",
                "padding",
            )
        if padding == "CIRCULAR":
            # n * stride cells: the input dilated to a period of n * stride cells (stride - 1
            # zeros after the last cell too), wrapped around, aligned as flax folds its VALID
            # transposed output onto that period (`circular_transpose_low`).
            pads = tuple(
                (circular_transpose_low(ke, si), ke - 1 - circular_transpose_low(ke, si) + si - 1)
                for ke, si in zip(k_eff, s, strict=True)
            )
            mode = "circular"
        else:
            pads = tuple(transpose_pads(ke, si, padding) for ke, si in zip(k_eff, s, strict=True))
    return Resolved(k, kd, s, (1,) * n, pads, mode, tuple(spatial_in))


def resolve_pool(
    spatial_in: Sequence[int], window: Any, stride: Any = 1, padding: Any = "VALID"
) -> Resolved:
    """A pooling window (`flax.nnx.max_pool` / `avg_pool`: stride 1 and VALID by default)."""
    n = len(spatial_in)
    w = per_axis(window, n, "window")
    s = per_axis(stride, n, "stride")
    pads = explicit_pads(padding, n)
    if pads is None:
        if padding not in POOL_PADDINGS:
            raise ConvArithmeticError(
                f"padding {padding} is not one of a pool's (as flax.nnx's pools: SAME, VALID, "
                "an int or [low, high] pairs)",
                "padding",
            )
        if padding == "SAME":
            pads = tuple(same_pads(ni, wi, si) for ni, wi, si in zip(spatial_in, w, s, strict=True))
        else:
            pads = ((0, 0),) * n
    return Resolved(w, (1,) * n, (1,) * n, s, pads, "zeros", tuple(spatial_in))


def conv_params(
    in_channels: int, out_channels: int, kernel_size: Sequence[int], groups: int, use_bias: bool
) -> int:
    """in/groups * out * prod(kernel) weights, plus out biases."""
    return in_channels // groups * out_channels * math.prod(kernel_size) + (
        out_channels if use_bias else 0
    )


def check_groups(in_channels: int, out_channels: int, groups: int) -> None:
    if in_channels % groups or out_channels % groups:
        raise ConvArithmeticError(
            f"channels must be divisible by groups (={groups}): in_channels={in_channels}, "
            f"out_channels={out_channels}",
            "groups",
        )
