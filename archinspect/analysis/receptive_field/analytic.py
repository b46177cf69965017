"""Method C: receptive fields of the built-in families by per-layer composition, from the Spec.

A layer is a cone: output position q of its grid depends on input positions [lo(q), hi(q)] of
the grid below. Cones of convolutional layers are monotone in q, so composing them needs only
the end points: (A after B)(q) = [lo_B(lo_A(q)), hi_B(hi_A(q))], and the union of two branches
(residual sum, skip concatenation) is the pointwise hull. Everything is on the unbounded domain,
so the boundary mode does not matter.

Same-padded convolution of kernel k and dilation r (JAX puts the extra cell of an even kernel
after): [q - r*((k-1)//2), q + r*(k-1 - (k-1)//2)].

UNets, exactly. Grid i has cells 2**i input cells apart. The stride-2 down-sampling conv maps
coarse cell q to fine cells [2q - 1, 2q + 1]. The up-sampling conv (zero insertion, then a
3-conv) maps fine cell p to coarse cells [floor(p/2), ceil(p/2)]: an even p sits on a coarse
cell and sees only it, an odd p sees its two neighbours, so the reach is one fine cell (2**i
input cells) and depends on the parity of p. Composing cone by cone therefore gives a receptive
field that depends on the output position modulo 2**num_levels. pdequinox instead scales each
up-sampling conv's (1, 1) by the coarser grid's factor 2**(i+1) and adds everything up: that
counts every up-sampling step twice as wide as it is (and ignores parity), which is why its
137 (ClassicUNet) and 227 (ModernUNet) for the 1-D defaults exceed the exact 122 and 212.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from archinspect.errors import UnsupportedOperation
from archinspect.report import GlobalSource, RFResult

End = Callable[[int], int]


class Cone:
    """A monotone cone: cell q of its grid depends on cells [lo(q), hi(q)] below."""

    def __init__(self, lo: End, hi: End):
        self.lo = lo
        self.hi = hi


def _identity() -> Cone:
    return Cone(lambda q: q, lambda q: q)


def _conv(k: int, r: int = 1) -> Cone:
    before = r * ((k - 1) // 2)
    after = r * (k - 1) - before
    return Cone(lambda q: q - before, lambda q: q + after)


def _then(*cones: Cone) -> Cone:
    """The cone of applying cones[0] first, then cones[1], ...: compose from the output down.

    Monotone cones compose end point by end point, so each end is a chain of calls."""

    def end(q: int, which: str) -> int:
        for c in reversed(cones):
            q = getattr(c, which)(q)
        return q

    return Cone(lambda q: end(q, "lo"), lambda q: end(q, "hi"))


def _union(*cones: Cone) -> Cone:
    return Cone(lambda q: min(c.lo(q) for c in cones), lambda q: max(c.hi(q) for c in cones))


def _block() -> Cone:
    # ClassicDoubleConvBlock: two 3-convs. Residual blocks: two 3-convs plus a 1x1 (or identity)
    # bypass, whose cone lies inside theirs: the same cone.
    return _then(_conv(3), _conv(3))


def _down_at(fine: Cone) -> Cone:
    """A coarse cell q after the stride-2 3-conv: fine cells [2q - 1, 2q + 1] of `fine`."""
    return Cone(lambda q: fine.lo(2 * q - 1), lambda q: fine.hi(2 * q + 1))


def _up_at(coarse: Cone) -> Cone:
    """A fine cell p after zero insertion and a 3-conv: coarse cells [floor(p/2), ceil(p/2)]."""
    return Cone(lambda p: coarse.lo(p // 2), lambda p: coarse.hi(-(-p // 2)))


def _unet_cone(num_levels: int, num_blocks: int) -> Cone:
    """Cone of an output cell, in input cells; every cone maps a cell of its own grid."""
    blocks = _then(*([_block()] * num_blocks))
    # skip[i]: the left arc's output on grid i (grid 0: the lifting block).
    skip: list[Cone] = [_block()]
    for i in range(1, num_levels + 1):
        skip.append(_then(_down_at(skip[i - 1]), blocks))
    x = skip[num_levels]
    for i in reversed(range(num_levels)):
        # Concatenate the skip with the up-sampled coarser result, then the right-arc blocks.
        x = _then(_union(skip[i], _up_at(x)), blocks)
    return x


def _per_position(cone: Cone, period: int) -> tuple[tuple[int, int], tuple[tuple[int, int], ...]]:
    back = []
    fwd = []
    for q in range(period):
        back.append(q - cone.lo(q))
        fwd.append(cone.hi(q) - q)
    return (max(back), max(fwd)), ((min(back), max(back)), (min(fwd), max(fwd)))


def _norms(family: str, args: dict[str, Any]) -> list[str]:
    """Paths of the GroupNorms, in call order (they couple every cell through statistics)."""
    if not args.get("use_norm", False):
        return []
    if family in ("ClassicResNet", "ModernResNet"):
        return [f"blocks[{b}].norm_{j}" for b in range(args["num_blocks"]) for j in (1, 2)]
    if family == "DilatedResNet":
        n = len(args["dilation_rates"])
        return [
            f"blocks[{b}].norm_layers[{j}]" for b in range(args["num_blocks"]) for j in range(n)
        ]
    if family in ("ClassicUNet", "ModernUNet"):
        modern = family == "ModernUNet"
        nb = args.get("num_blocks", 1) if modern else 1
        h = args["hidden_channels"]
        mult = args.get("channel_multipliers") or [2 ** (i + 1) for i in range(args["num_levels"])]
        width = [h] + [h * m for m in mult]

        def block(path: str, c_in: int, c_out: int) -> list[str]:
            own = [f"{path}.norm_1", f"{path}.norm_2"]
            return own + ([f"{path}.bypass_norm"] if modern and c_in != c_out else [])

        paths = block("lifting", args["in_channels"], h)
        levels = args["num_levels"]
        for i in range(levels):
            for b in range(nb):
                c_in = width[i] if b == 0 else width[i + 1]
                paths += block(f"left_arc_blocks[{i}][{b}]", c_in, width[i + 1])
        for i in reversed(range(levels)):
            for b in range(nb):
                c_in = width[i + 1] // 2 + width[i] if b == 0 else width[i]
                paths += block(f"right_arc_blocks[{i}][{b}]", c_in, width[i])
        return paths
    return []


def analytic_receptive_field(spec: Any) -> RFResult:
    """Receptive field of a built-in family composed layer by layer (see the module docstring)."""
    family, args = spec.family, spec.args
    d = args["num_spatial_dims"]
    period = 1
    sources: list[GlobalSource] = [
        GlobalSource(p, "GroupNorm", "normalization") for p in _norms(family, args)
    ]
    if family == "ConvNet":
        cone = _then(*([_conv(args["kernel_size"])] * (args["depth"] + 1)))
    elif family in ("ClassicResNet", "ModernResNet"):
        cone = _then(*([_block()] * args["num_blocks"]))
    elif family == "DilatedResNet":
        block = _then(*(_conv(3, r) for r in args["dilation_rates"]))
        cone = _then(*([_union(_identity(), block)] * args["num_blocks"]))
    elif family in ("ClassicUNet", "ModernUNet"):
        nb = args["num_blocks"] if family == "ModernUNet" else 1
        levels = args["num_levels"]
        cone = _unet_cone(levels, nb)
        period = 2**levels
    elif family == "ClassicFNO":
        inf = (math.inf, math.inf)
        sources = [
            GlobalSource(f"blocks[{b}].spectral_conv", "SpectralConv", "fft")
            for b in range(args["num_blocks"])
        ]
        return _result(((inf, (inf, inf)),) * d, (1,) * d, sources, spec)
    elif family == "MLP":
        n = args["num_points"]
        sources = [GlobalSource("flat_mlp.layers[0]", "Linear", "dense over space")]
        return _result((((n, n), ((n, n), (n, n))),) * d, (1,) * d, sources, spec)
    else:
        raise UnsupportedOperation(
            f"error: receptive field: no analytic composition for family {family!r}; "
            "use the structural method"
        )
    per_axis, ranges = _per_position(cone, period)
    return _result(((per_axis, ranges),) * d, (period,) * d, sources, spec)


def _result(axes: Any, period: tuple[int, ...], sources: list[GlobalSource], spec: Any) -> RFResult:
    return RFResult(
        per_axis=tuple(a[0] for a in axes),
        position_range=tuple(a[1] for a in axes),
        period=period,
        global_=bool(sources),
        global_via=tuple(sources),
        method="analytic",
        analysed_shape=tuple(spec.input_shape),
    )
