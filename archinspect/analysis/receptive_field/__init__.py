"""Exact receptive fields (README, "Exact receptive fields"): the public API.

Three independent methods live in their own modules:
- `structural`: a dependency analysis over the traced jaxpr, for any Equinox module, with one
  rule per primitive (`rules`);
- `empirical`: gradients of a positive, linear float64 copy of the model;
- `analytic`: per-layer composition for the built-in families, from the Spec.

A receptive field is given per spatial axis as (backward, forward): how many input cells before
and after an output cell it depends on, the maximum over output positions (`position_range`
gives the minimum and maximum over one period of positions, for strided and up-sampling
networks). `math.inf` marks spectral (FFT) coupling; a dense layer over space gives the number
of points, by the README's convention. The stencil RF never includes global statistics: those set
`global_` and are named in `global_via`.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from typing import Any

from archinspect.errors import ArchinspectError, MethodsDisagree, UsageError
from archinspect.limits import MEMORY_LIMIT
from archinspect.report import Pair, RFResult

METHODS = ("structural", "empirical", "both")


def receptive_field(
    model: Any,
    input_shape: tuple[int, ...],
    *,
    method: str = "structural",
    separable: bool | None = None,
    max_memory: int | None = None,
    hint: Sequence[float] | None = None,
    input_checked: bool = False,
) -> RFResult:
    """Exact receptive field of `model` (abstract or concrete) for inputs of `input_shape`.

    `separable` is passed to the empirical method (a family's declared separability), and
    `max_memory` (bytes, --max-memory; default archinspect.limits.MEMORY_LIMIT) bounds its input
    and the structural method's dependency tables where it must analyse the requested size.
    `hint` (per axis, the input cells a field is expected to span: a family's analytic
    composition) only says where the structural analysis may start; its result is checked.
    `input_checked`: the caller knows the model takes `input_shape` (a built-in family's
    complete input rule passed validation); otherwise, where the analysis starts on another
    size, the model is first traced abstractly on `input_shape` to make sure it takes it.

    `input_shape` is unbatched and channels-first; the analysis may use a larger input where a
    boundary would otherwise reach every output cell, and reports it in `analysed_shape`.
    """
    if method not in METHODS:
        raise UsageError(
            f"error: unknown receptive-field method {method!r}; use one of {', '.join(METHODS)}"
        )
    from archinspect.analysis.receptive_field.structural import structural_receptive_field

    memory = {} if max_memory is None else {"max_memory": max_memory}
    limit = MEMORY_LIMIT if max_memory is None else max_memory
    if method == "empirical":
        from archinspect.analysis.receptive_field.empirical import empirical_receptive_field

        # The structural result, when there is one, only says where to start looking.
        try:
            start = search_start(
                structural_receptive_field(model, tuple(input_shape), limit, hint, input_checked),
                tuple(input_shape),
            )
        except ArchinspectError:
            start = None
        return empirical_receptive_field(
            model, tuple(input_shape), start=start, separable=separable, **memory
        )

    result = structural_receptive_field(model, tuple(input_shape), limit, hint, input_checked)
    if method == "both":
        from archinspect.analysis.receptive_field.empirical import empirical_receptive_field

        check = empirical_receptive_field(
            model,
            tuple(input_shape),
            start=search_start(result, tuple(input_shape)),
            separable=separable,
            **memory,
        )
        require_agreement(result, check)
    return result


def require_agreement(a: RFResult, b: RFResult) -> None:
    """Two independent methods must give the same numbers; a difference is a bug to report."""
    differences = compare(a, b)
    if differences:
        raise MethodsDisagree(
            f"error: receptive field: the {a.method} and {b.method} methods disagree ("
            + "; ".join(differences)
            + "); please report this with the spec"
        )


def search_start(result: RFResult, input_shape: tuple[int, ...]) -> tuple[int, ...]:
    """Where the empirical search may start given another method's result: the smallest
    multiple of the period from which one period of cells in the middle, with their stencils,
    stays a period away from both ends (2 * max extent + 5 periods). Only a hint: the empirical
    method accepts a measurement on its own evidence, and falls back if the model refuses it.
    """
    sizes = []
    for n, (back, fwd), p in zip(input_shape[1:], result.per_axis, result.period, strict=True):
        reach = max(back, fwd)
        if reach == float("inf"):
            sizes.append(n)
            continue
        need = 2 * int(math.ceil(reach)) + 5 * p
        sizes.append(max(n, -(-need // p) * p))
    return tuple(sizes)


def compare(a: RFResult, b: RFResult) -> list[str]:
    """What differs between two results in the numbers both methods measure."""
    out = []
    for s, (pa, pb) in enumerate(zip(a.per_axis, b.per_axis, strict=True)):
        if pa != pb:
            out.append(f"axis {s}: {a.method} {_fmt(pa)}, {b.method} {_fmt(pb)}")
    for s, (ra, rb) in enumerate(zip(a.position_range, b.position_range, strict=True)):
        if ra != rb and a.per_axis[s] == b.per_axis[s]:
            out.append(f"axis {s} position range: {a.method} {ra}, {b.method} {rb}")
    if a.global_ != b.global_:
        out.append(f"global coupling: {a.method} {a.global_}, {b.method} {b.global_}")
    return out


def _fmt(pair: Pair) -> str:
    return "(" + ", ".join("inf" if x == float("inf") else str(x) for x in pair) + ")"


def layer_receptive_fields(
    model: Any, input_shape: tuple[int, ...], *, max_memory: int | None = None
) -> dict[str, tuple[Pair, ...]]:
    """Cumulative stencil RF (w.r.t. the network input) at the output of every module call.

    Keys are module paths as in the count report ("" is the whole model); a module called more
    than once gets the union of its calls. Calls whose output is not laid out along the input's
    spatial axes (e.g. a flattened vector that no dense layer has mixed yet) are left out.
    """
    from archinspect.analysis.receptive_field.structural import structural_layer_fields

    limit = MEMORY_LIMIT if max_memory is None else max_memory
    return structural_layer_fields(model, tuple(input_shape), limit)


def receptive_fields(
    model: Any,
    input_shape: tuple[int, ...],
    *,
    max_memory: int | None = None,
    hint: Sequence[float] | None = None,
    input_checked: bool = False,
    paths: Collection[str] | None = None,
) -> tuple[RFResult, dict[str, tuple[Pair, ...]]]:
    """`receptive_field` (structural) and `layer_receptive_fields` from a single analysis;
    `paths`: only the layers at these module paths (a report's shown rows: `count --depth`
    folds the others away), each exactly as the full computation gives it."""
    from archinspect.analysis.receptive_field.structural import structural_fields

    limit = MEMORY_LIMIT if max_memory is None else max_memory
    return structural_fields(model, tuple(input_shape), limit, hint, input_checked, paths)
