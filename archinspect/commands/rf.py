"""Spec -> RFReport: the receptive field by the requested method(s); for the built-in families
`both` also checks the analytic per-layer composition, so three methods must agree."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from archinspect.build import build_abstract
from archinspect.build.faults import ForwardError, blame_model
from archinspect.errors import ArchinspectError
from archinspect.report import RFReport
from archinspect.spec.model import Spec


def rf_report(
    spec: Spec,
    *,
    method: str = "structural",
    trusted: Iterable[str] = (),
    model: Any = None,
    live: bool = False,
) -> RFReport:
    """`live`: the model was handed over (the Python API), not built from the spec's arguments:
    its class's declared separability is used, and there is no analytic method to compare."""
    from archinspect.analysis.receptive_field import receptive_field, require_agreement

    if model is None:
        model = build_abstract(spec, trusted)
    from archinspect.families import class_separable, separable

    declared = class_separable(model) if live else separable(spec, model)
    with blame_model(spec, model):
        result = receptive_field(model, spec.input_shape, method=method, separable=declared)
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
    )


def _has_analytic(spec: Spec) -> bool:
    """Whether the family declares an analytic composition (Sequential does not: `both` is
    then the structural and empirical methods)."""
    from archinspect.families import FAMILIES

    family = FAMILIES.get(spec.family)
    return family is not None and family.receptive_field is not None


def receptive_fields_or_note(spec: Spec, model: Any) -> tuple[Any, dict, tuple[str, ...]]:
    """Network RF and cumulative RF per layer, for reports that show them next to other
    figures: an analysis that cannot handle the model (e.g. an unknown operation in a user's
    module) becomes a note there, not a failed report."""
    from archinspect.analysis.receptive_field import receptive_fields

    try:
        with blame_model(spec, model):
            result, layers = receptive_fields(model, spec.input_shape)
    except ForwardError:
        raise  # the model itself fails: the spec's error, in every command alike
    except ArchinspectError as exc:
        reason = " ".join(line.strip() for line in exc.message.splitlines())
        return None, {}, (f"receptive field not available: {reason}",)
    return result, layers, ()
