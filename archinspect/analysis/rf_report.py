"""Spec -> RFReport: the receptive field by the requested method(s); for the built-in families
`both` also checks the analytic per-layer composition, so three methods must agree."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from archinspect.build import build_abstract
from archinspect.report import RFReport
from archinspect.spec.model import Spec


def rf_report(
    spec: Spec, *, method: str = "structural", trusted: Iterable[str] = (), model: Any = None
) -> RFReport:
    from archinspect.analysis.receptive_field import MethodsDisagree, compare, receptive_field

    if model is None:
        model = build_abstract(spec, trusted)
    result = receptive_field(model, spec.input_shape, method=method)
    methods = ["structural", "empirical"] if method == "both" else [method]
    if method == "both" and spec.target is None:
        from archinspect.analysis.rf_analytic import analytic_receptive_field

        analytic = analytic_receptive_field(spec)
        differences = compare(result, analytic)
        if differences:
            raise MethodsDisagree(
                "error: receptive field: the structural and analytic methods disagree ("
                + "; ".join(differences)
                + "); please report this with the spec"
            )
        methods.append("analytic")
    return RFReport(
        name=spec.name,
        spec=spec.source,
        family=spec.family,
        input_shape=spec.input_shape,
        result=result,
        methods=tuple(methods),
    )
