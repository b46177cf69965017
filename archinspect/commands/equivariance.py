"""Spec -> EquivarianceReport: real weights (seeded), a random input, every group element.

The group and the output axis of the orientations come from the family's declaration
(`Family.symmetry`) or the command line (a `target:`); the memory the check needs is estimated
on the abstract model first, and the check is refused above the limit.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from archinspect import groups
from archinspect.commands.inputs import refuse_above
from archinspect.errors import UsageError
from archinspect.limits import MEMORY_LIMIT
from archinspect.report import EquivarianceReport
from archinspect.spec.model import Spec

DEFAULT_TOLERANCE = 1e-5  # relative to the largest output magnitude (float32 rounding: ~1e-7)
UNSET: Any = object()  # --orientation-axis not given: the family's declaration decides


def symmetry_of(spec: Spec, group: str | None, axis: Any) -> tuple[str, int | None]:
    """The group and orientation axis: the command line's, else the family's declaration,
    else C4 and no orientation axis (a check of invariance up to the rotation of space)."""
    from archinspect.families import FAMILIES

    family = FAMILIES.get(spec.family) if spec.target is None else None
    declared = family.symmetry(spec.args) if family and family.symmetry else ("C4", None)
    chosen_group = group or declared[0]
    if chosen_group not in groups.GROUPS:
        raise UsageError(
            f"error: --group must be one of {', '.join(groups.GROUPS)}, got {chosen_group!r}"
        )
    return chosen_group, declared[1] if axis is UNSET else axis


def seeded(abstract: Any, seed: int) -> Any:
    """The abstract model with real weights drawn with numpy from `seed`: every floating array
    uniform in +-1/sqrt(fan_in), fan_in the product of its axes after the first (a conv's or a
    dense layer's), complex arrays in both parts; integer arrays (state) zero. Equivariance
    does not depend on the distribution, and nothing is compiled to draw them."""
    import jax
    import numpy as np

    from archinspect.analysis.params import is_array_like

    rng = np.random.default_rng(seed)

    def draw(leaf: Any) -> Any:
        if not is_array_like(leaf):
            return leaf
        dtype = np.dtype(leaf.dtype)
        shape = tuple(leaf.shape)
        if dtype.kind not in "fc" and dtype.name != "bfloat16":
            return jax.numpy.zeros(shape, dtype)
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        bound = 1.0 / np.sqrt(max(fan_in, 1))
        values = rng.uniform(-bound, bound, shape)
        if dtype.kind == "c":
            values = values + 1j * rng.uniform(-bound, bound, shape)
        return jax.numpy.asarray(values, dtype)

    return jax.tree_util.tree_map(draw, abstract, is_leaf=is_array_like)


def equivariance_report(
    spec: Spec,
    trusted: Iterable[str] = (),
    *,
    group: str | None = None,
    orientation_axis: Any = UNSET,
    seed: int = 0,
    tolerance: float = DEFAULT_TOLERANCE,
    max_bytes: int = MEMORY_LIMIT,
) -> EquivarianceReport:
    import equinox as eqx
    import jax
    import numpy as np

    from archinspect.analysis import equivariance as eq
    from archinspect.build import build_abstract

    shape = spec.input_shape
    if len(shape) != 3 or shape[-1] != shape[-2]:
        raise UsageError(
            f"error: {spec.source}: equivariance rotates the input's two spatial axes, so the "
            f"input must be one channels-first square image (C, N, N), got "
            f"{'×'.join(map(str, shape))}"
        )
    chosen, axis = symmetry_of(spec, group, orientation_axis)
    order = groups.order(chosen)
    dtype = spec.input.dtype
    abstract = build_abstract(spec, trusted)
    from archinspect.build.concrete import size_text

    cost = eq.estimate(abstract, shape, dtype, order)
    needed = cost.total
    refuse_above(
        spec.source,
        needed,
        max_bytes,
        "the check",
        f"{size_text(needed)}: "
        + cost.describe(
            f"{order + 1} forward passes at input {'×'.join(map(str, shape))}, and their "
            "copies on the host"
        ),
        "lower input.resolution or the model's widths and depth,",
    )
    out = eqx.filter_eval_shape(
        lambda m, v: m(v), abstract, jax.ShapeDtypeStruct(shape, np.dtype(dtype))
    )
    try:
        axis, packed, spatial = eq.output_layout(tuple(out.shape), chosen, axis)
    except ValueError as exc:
        raise UsageError(f"error: {spec.source}: {exc}") from None
    model = seeded(abstract, seed)
    x = np.random.default_rng([seed, 1]).standard_normal(shape).astype(np.dtype(dtype))
    per_element, out_shape = eq.errors(model, x, chosen, axis, packed, spatial, tolerance)
    failed = not all(e.ok for e in per_element)
    causes = eq.causes(abstract, shape, dtype) if failed else ()
    return EquivarianceReport(
        name=spec.name,
        spec=spec.source,
        family=spec.target or spec.family,
        group=chosen,
        order=order,
        input_shape=shape,
        output_shape=out_shape,
        orientation_axis=axis,
        packed=packed,
        spatial=spatial,
        tolerance=tolerance,
        seed=seed,
        per_element=per_element,
        causes=causes,
        estimated_bytes=needed,
    )
