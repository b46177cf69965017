"""Spec -> RFReport: the receptive field by the requested method(s); for the built-in families
`both` also checks the analytic per-layer composition, so three methods must agree."""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from archinspect.build import build_abstract
from archinspect.build.faults import ForwardError, blame_model
from archinspect.errors import ArchinspectError
from archinspect.limits import MEMORY_LIMIT
from archinspect.report import RFReport
from archinspect.spec.model import Spec


def rf_report(
    spec: Spec,
    *,
    method: str = "structural",
    trusted: Iterable[str] = (),
    model: Any = None,
    live: bool = False,
    max_memory: int = MEMORY_LIMIT,
) -> RFReport:
    """`live`: the model was handed over (the Python API), not built from the spec's arguments:
    its class's declared separability is used, and there is no analytic method to compare."""
    from archinspect.analysis.receptive_field import receptive_field, require_agreement
    from archinspect.build.adapt import build_notes

    if spec.num_spatial_dims == 0:
        raise ArchinspectError(f"error: {spec.source}: {NO_SPATIAL_AXIS}")
    if model is None:
        model = build_abstract(spec, trusted, max_memory)
    from archinspect.families import class_separable, separable

    declared = class_separable(model) if live else separable(spec, model)
    if method != "structural":
        refuse_integer_input(spec, method)
    with blame_model(spec, model), located_input(spec):
        result = receptive_field(
            model,
            spec.input_shape,
            method=method,
            separable=declared,
            max_memory=max_memory,
            hint=None if live else field_hint(spec),
            input_checked=not live and input_validated(spec, model),
        )
    methods = ["structural", "empirical"] if method == "both" else [method]
    if method == "both" and spec.target is None and not live and _has_analytic(spec):
        from archinspect.analysis.receptive_field.analytic import analytic_receptive_field

        require_agreement(result, analytic_receptive_field(spec))
        methods.append("analytic")
    return RFReport(
        name=spec.name,
        spec=spec.source,
        family=spec.family,
        input_shape=spec.input_shape,
        result=result,
        methods=tuple(methods),
        notes=build_notes(model),
    )


@contextmanager
def located_input(spec: Spec) -> Iterator[None]:
    """The structural method's refusal of an input too large for it, located at the spec's
    input.resolution (or at the spec, where the model fixes its own size)."""
    from archinspect.analysis.receptive_field.structural import TablesTooLarge

    try:
        yield
    except TablesTooLarge as exc:
        where = spec.marks.get("input.resolution")
        at = f", {where.describe()}, input.resolution" if where and where.line else ""
        message = exc.message.removeprefix("error: ")
        raise ArchinspectError(f"error: {spec.source}{at}: {message}") from None


def input_validated(spec: Spec, model: Any) -> bool:
    """Whether validation has already shown that `model` takes the spec's input: a model of a
    built-in family's own class, built from the spec's (validated) arguments, where the family
    declares its complete input rule (`Family.input_rule_complete`). Then the structural
    analysis skips its abstract trace at the requested size. Never for a `target:` (its input
    rules are unknown) or a model handed to the Python API (its spec holds no arguments)."""
    from archinspect.families import FAMILIES

    family = FAMILIES.get(spec.family) if spec.target is None and spec.args else None
    if family is None or not family.input_rule_complete:
        return False
    return type(model) is family.load_class()


def field_hint(spec: Spec) -> tuple[float, ...] | None:
    """Per axis, how many input cells a field spans by the family's analytic composition
    (back + forward): where the structural analysis may start, so that it does not trace an
    input its stencil cannot fit in. Only a hint (the analysis checks its own result); None
    for a `target:`, a family without a composition, a model handed to the Python API (its
    spec holds no arguments), or arguments the composition does not cover."""
    if spec.target is not None or not spec.args or not _has_analytic(spec):
        return None
    from archinspect.analysis.receptive_field.analytic import analytic_receptive_field

    try:
        composed = analytic_receptive_field(spec)
    except (ArchinspectError, RecursionError, LookupError, TypeError, ValueError):
        return None  # no hint: the analysis starts from the jaxpr's own reach
    widths = tuple(float(back + fwd) for back, fwd in composed.per_axis)
    return widths if all(math.isfinite(w) for w in widths) else None


def _has_analytic(spec: Spec) -> bool:
    """Whether the family declares an analytic composition (Sequential does not: `both` is
    then the structural and empirical methods)."""
    from archinspect.families import FAMILIES

    family = FAMILIES.get(spec.family)
    return family is not None and family.receptive_field is not None


NO_SPATIAL_AXIS = (
    "the input has no spatial axis (its only axis holds features, or it is a scalar): a "
    "receptive field is measured along spatial axes; a sequence has one, e.g. input.shape "
    "[L, D] with input.layout channels_last"
)


def refuse_integer_input(spec: Spec, method: str) -> None:
    """The empirical method differentiates the output with respect to the input: an integer
    input (token ids, indices) has no derivative, so it is refused where the spec says so."""
    if spec.input.dtype.startswith(("int", "uint")):
        where = spec.marks.get("input.dtype")
        at = where.describe() if where is not None and where.line is not None else spec.source
        raise ArchinspectError(
            f"error: {at}: input.dtype: rf --method {method} needs a real-valued "
            f"input (it measures the gradient of the output with respect to the input), got "
            f"{spec.input.dtype!r}; use --method structural"
        )


def receptive_fields_or_note(
    spec: Spec,
    model: Any,
    max_memory: int = MEMORY_LIMIT,
    paths: Collection[str] | None = None,
) -> tuple[Any, dict, tuple[str, ...]]:
    """Network RF and cumulative RF per layer, for reports that show them next to other
    figures: an analysis that cannot handle the model (e.g. an unknown operation in a user's
    module) becomes a note there, not a failed report. `paths`: the module paths of the rows
    the report shows (`count` at its --depth); the per-layer fields of no other module are
    computed."""
    from archinspect.analysis.receptive_field import receptive_fields

    if spec.num_spatial_dims == 0:
        return None, {}, (f"receptive field not available: {NO_SPATIAL_AXIS}",)
    try:
        with blame_model(spec, model), located_input(spec):
            result, layers = receptive_fields(
                model,
                spec.input_shape,
                max_memory=max_memory,
                hint=field_hint(spec),
                input_checked=input_validated(spec, model),
                paths=paths,
            )
    except ForwardError:
        raise  # the model itself fails: the spec's error, in every command alike
    except ArchinspectError as exc:
        reason = " ".join(line.strip() for line in exc.message.splitlines())
        # a note, not an error of the command, under a heading that already names the field
        reason = reason.removeprefix("error: ").removeprefix("receptive field: ")
        return None, {}, (f"receptive field not available: {reason}",)
    return result, layers, ()
