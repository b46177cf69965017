"""A convolution as the sparse, weight-shared matrix it is: its size, non-zeros and sharing.

JAX-free arithmetic on a `ConvGeometry` (README "`archinspect shapes` and `archinspect
inspect`"). Unrolled, a conv is a matrix of (output cells * out_channels) rows and (input cells
* in_channels) columns. An entry is a structural non-zero when some weight connects the output
element to the input element. Per axis, output position o's taps read the dilated, padded axis
at o * stride - low + t * kernel_dilation (t = 0 .. k - 1); a tap on an inserted
(input-dilation) zero or on zero padding reads nothing; circular padding wraps, reflect and edge
padding mirror or repeat, so two taps may read the same cell, which is one entry. The kernel is a
product over axes, so the cells an output reads are the product of the per-axis sets, and

    non-zeros = prod over axes (sum over o of |cells read by o|) * out_channels * in/groups.

Each axis costs O(boundary positions * k + input_dilation), not O(length): positions whose taps
all land inside the dilated input read a pattern that repeats with the stride.
"""

from __future__ import annotations

import math

from archinspect.report import ConvGeometry, DenseEquivalent


def dilated_size(n: int, input_dilation: int) -> int:
    """n cells with input_dilation - 1 zeros inserted between neighbours."""
    return (n - 1) * input_dilation + 1


def output_sizes(g: ConvGeometry, spatial_in: tuple[int, ...]) -> tuple[int, ...]:
    """floor((n_dil + low + high - k_eff) / stride) + 1 per axis (0 when the kernel overhangs)."""
    out = []
    for i, n in enumerate(spatial_in):
        span = dilated_size(n, g.input_dilation[i]) + sum(g.padding[i]) - g.effective_kernel[i]
        out.append(span // g.stride[i] + 1 if span >= 0 else 0)
    return tuple(out)


def _cell(q: int, n: int, g: ConvGeometry, axis: int) -> int | None:
    """The input cell that position q of the dilated axis reads (None: a zero)."""
    di = g.input_dilation[axis]
    size = dilated_size(n, di)
    zlo, zhi = g.zero_padding[axis] if g.zero_padding else (0, 0)
    if not -zlo <= q < size + zhi and g.padding_mode != "zeros":
        # outside the dilated input and its zeros: the mode's cells continue that array
        m = size + zlo + zhi
        a = q + zlo
        if g.padding_mode == "circular":
            a %= m
        elif g.padding_mode == "reflect":
            period = 2 * (m - 1)
            a = 0 if period == 0 else a % period
            a = period - a if a >= m else a
        elif g.padding_mode == "edge":
            a = min(max(a, 0), m - 1)
        else:
            raise ValueError(f"unknown padding mode {g.padding_mode!r}")
        q = a - zlo
    if 0 <= q < size and q % di == 0:
        return q // di
    return None


def axis_pairs(g: ConvGeometry, spatial_in: tuple[int, ...], axis: int) -> int:
    """Sum over output positions of the number of distinct input cells each one reads."""
    n = spatial_in[axis]
    k, kd, di = g.kernel_size[axis], g.kernel_dilation[axis], g.input_dilation[axis]
    s, lo = g.stride[axis], g.padding[axis][0]
    size = dilated_size(n, di)
    k_eff = g.effective_kernel[axis]
    out = output_sizes(g, spatial_in)[axis]

    def reads(o: int) -> int:
        base = o * s - lo
        return len({c for t in range(k) if (c := _cell(base + t * kd, n, g, axis)) is not None})

    # interior: every tap inside the dilated input, where only the phase modulo di matters
    first = max(0, -(-lo // s))
    last = min(out - 1, (size - k_eff + lo) // s) if size >= k_eff else -1
    if last < first:
        return sum(reads(o) for o in range(out))
    total = sum(reads(o) for o in range(first)) + sum(reads(o) for o in range(last + 1, out))
    if di == 1:
        return total + (last - first + 1) * k
    period = di // math.gcd(s, di)  # (o * s - lo) mod di repeats with this period in o
    for start in range(first, min(first + period, last + 1)):
        times = (last - start) // period + 1
        phase = (start * s - lo) % di
        total += times * sum(1 for t in range(k) if (phase + t * kd) % di == 0)
    return total


def dense_equivalent(g: ConvGeometry, spatial_in: tuple[int, ...]) -> DenseEquivalent:
    """The matrix of the conv on an input of `spatial_in` cells: size, non-zeros, weights."""
    spatial_pairs = math.prod(axis_pairs(g, spatial_in, a) for a in range(len(spatial_in)))
    per_group = g.in_channels // g.groups
    return DenseEquivalent(
        rows=math.prod(output_sizes(g, spatial_in)) * g.out_channels,
        cols=math.prod(spatial_in) * g.in_channels,
        nonzeros=spatial_pairs * g.out_channels * per_group,
        weights=g.out_channels * per_group * math.prod(g.kernel_size),
    )


def subtotal(parts: list[DenseEquivalent]) -> DenseEquivalent | None:
    """The non-zeros and weights of several convs (no matrix size: they are not one matrix)."""
    if not parts:
        return None
    return DenseEquivalent(
        rows=None,
        cols=None,
        nonzeros=sum(p.nonzeros for p in parts),
        weights=sum(p.weights for p in parts),
    )
