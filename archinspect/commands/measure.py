"""Named metrics of one spec, computed only as far as needed (nothing compiles for params).

`check`, `sweep` and `solve` ask for metrics by name; each name maps to the cheapest analysis
that yields it: counting (abstract build), an abstract trace (shapes), the receptive-field
analysis, or XLA programs (FLOPs, memory), which are compiled but never run.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from archinspect.spec.model import Spec

COUNT_METRICS = ("params", "learnable_params", "param_bytes")
SHAPE_METRICS = ("output_shape",)
COST_METRICS = ("flops", "memory")
RF_METRICS = ("receptive_field",)
ALL_METRICS = COUNT_METRICS + SHAPE_METRICS + RF_METRICS + COST_METRICS


def measure(
    spec: Spec,
    names: Iterable[str],
    *,
    trusted: Iterable[str] = (),
    platform: str | None = None,
) -> dict[str, Any]:
    """{metric: value}: params etc. are ints; flops is XLA's forward estimate for the batch;
    memory is XLA's peak bytes of a training step; receptive_field is an RFResult."""
    from archinspect.analysis.params import module_rows, summarize
    from archinspect.build import build_abstract

    wanted = set(names)
    unknown = wanted - set(ALL_METRICS)
    if unknown:
        raise ValueError(f"unknown metrics: {sorted(unknown)}")
    model = build_abstract(spec, trusted)
    out: dict[str, Any] = {}
    if wanted & set(COUNT_METRICS):
        summary = summarize(module_rows(model)[1])
        out.update(
            params=summary.total, learnable_params=summary.learnable, param_bytes=summary.bytes
        )
    if wanted & set(COST_METRICS):
        from archinspect.commands.inspect import inspect_report

        report = inspect_report(spec, depth=0, platform=platform, model=model, layer_costs=False)
        assert report.flops is not None and report.memory is not None
        out["flops"] = report.flops.forward
        train = report.memory.train_step
        out["memory"] = train.peak_bytes if train is not None else None
        out["output_shape"] = report.output_shape
    elif wanted & set(SHAPE_METRICS):
        from archinspect.commands.inspect import inspect_report

        out["output_shape"] = inspect_report(spec, depth=0, model=model, costs=False).output_shape
    if wanted & set(RF_METRICS):
        from archinspect.analysis.receptive_field import receptive_field

        out["receptive_field"] = receptive_field(model, spec.input_shape)
    return {k: v for k, v in out.items() if k in wanted}
