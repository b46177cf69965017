"""Method C: receptive fields composed layer by layer from the Spec, for the families whose
declaration gives a composition (`Family.receptive_field`).

A layer is a cone: output position q of its grid depends on input positions [lo(q), hi(q)] of
the grid below. Cones of convolutional layers are monotone in q, so composing them needs only
the end points: (A after B)(q) = [lo_B(lo_A(q)), hi_B(hi_A(q))], and the union of two branches
(residual sum, skip concatenation) is the pointwise hull. Everything is on the unbounded domain,
so the boundary mode does not matter.

Same-padded convolution of kernel k and dilation r (JAX puts the extra cell of an even kernel
after): [q - r*((k-1)//2), q + r*(k-1 - (k-1)//2)]. A causal one pads only before and sees
[q - r*(k-1), q].

Resampling by 2. Grid i has cells 2**i input cells apart. A stride-2 3-conv maps coarse cell q
to fine cells [2q - 1, 2q + 1]. Up-sampling by zero insertion and a 3-conv maps fine cell p to
coarse cells [floor(p/2), ceil(p/2)]: an even p sits on a coarse cell and sees only it, an odd
p sees its two neighbours, so the field depends on the output position modulo the period.

The helpers here are generic and JAX-free; each family's declaration (archinspect/families/)
composes them for its own layers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from archinspect.errors import UnsupportedOperation
from archinspect.report import GlobalSource, Pair, RFResult

End = Callable[[int], int]


class Cone:
    """A monotone cone: cell q of its grid depends on cells [lo(q), hi(q)] below."""

    def __init__(self, lo: End, hi: End):
        self.lo = lo
        self.hi = hi


def identity() -> Cone:
    return Cone(lambda q: q, lambda q: q)


def conv(k: int, r: int = 1) -> Cone:
    """A same-padded convolution of kernel k and dilation r."""
    before = r * ((k - 1) // 2)
    after = r * (k - 1) - before
    return Cone(lambda q: q - before, lambda q: q + after)


def causal_conv(k: int, r: int = 1) -> Cone:
    """A causal convolution of kernel k and dilation r (all padding before): [q - r*(k-1), q]."""
    reach = r * (k - 1)
    return Cone(lambda q: q - reach, lambda q: q)


def then(*cones: Cone) -> Cone:
    """The cone of applying cones[0] first, then cones[1], ...: compose from the output down.

    Monotone cones compose end point by end point, so each end is a chain of calls."""

    def end(q: int, which: str) -> int:
        for c in reversed(cones):
            q = getattr(c, which)(q)
        return q

    return Cone(lambda q: end(q, "lo"), lambda q: end(q, "hi"))


def union(*cones: Cone) -> Cone:
    return Cone(lambda q: min(c.lo(q) for c in cones), lambda q: max(c.hi(q) for c in cones))


def down_at(fine: Cone) -> Cone:
    """A coarse cell q after the stride-2 3-conv: fine cells [2q - 1, 2q + 1] of `fine`."""
    return Cone(lambda q: fine.lo(2 * q - 1), lambda q: fine.hi(2 * q + 1))


def up_at(coarse: Cone) -> Cone:
    """A fine cell p after zero insertion and a 3-conv: coarse cells [floor(p/2), ceil(p/2)]."""
    return Cone(lambda p: coarse.lo(p // 2), lambda p: coarse.hi(-(-p // 2)))


@dataclass(frozen=True)
class Composition:
    """A family's receptive field along one spatial axis (every axis alike): the largest
    (backward, forward) extent, its range over one period of output positions, the period,
    and the global sources (norms, FFTs, dense layers over space)."""

    extent: Pair
    position_range: tuple[Pair, Pair]
    period: int = 1
    global_via: tuple[GlobalSource, ...] = ()


def stencil(cone: Cone, period: int = 1, global_via: tuple[GlobalSource, ...] = ()) -> Composition:
    """The composition of a cone, measured over one period of output positions."""
    back = [q - cone.lo(q) for q in range(period)]
    fwd = [cone.hi(q) - q for q in range(period)]
    return Composition(
        (max(back), max(fwd)), ((min(back), max(back)), (min(fwd), max(fwd))), period, global_via
    )


def uniform(extent: Pair, global_via: tuple[GlobalSource, ...] = ()) -> Composition:
    """The same extent at every output position (a global layer: FFT or dense over space)."""
    back, fwd = extent
    return Composition(extent, ((back, back), (fwd, fwd)), 1, global_via)


def analytic_receptive_field(spec: Any) -> RFResult:
    """Receptive field of a family's model composed layer by layer (see the module docstring)."""
    from archinspect.families import FAMILIES

    family = FAMILIES.get(spec.family) if spec.target is None else None
    if family is None or family.receptive_field is None:
        raise UnsupportedOperation(
            f"error: receptive field: no analytic composition for family {spec.family!r}; "
            "use the structural method"
        )
    c = family.receptive_field(spec.args)
    d = spec.num_spatial_dims
    return RFResult(
        per_axis=(c.extent,) * d,
        position_range=(c.position_range,) * d,
        period=(c.period,) * d,
        global_=bool(c.global_via),
        global_via=tuple(c.global_via),
        method="analytic",
        analysed_shape=tuple(spec.input_shape),
    )
