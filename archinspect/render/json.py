"""JSON renderer; keys are the README's JSON contract and are stable."""

from __future__ import annotations

import json
from typing import Any

from archinspect.render.check_data import result_dict
from archinspect.render.count_data import layer_rows, params_dict
from archinspect.render.inspect_data import report_dict
from archinspect.render.rf_data import extent, rf_dict
from archinspect.render.sweep_data import solve_dict, sweep_dict
from archinspect.report import (
    CheckReport,
    CountReport,
    InspectReport,
    RFReport,
    SolveResult,
    SweepResult,
)


def count_json(report: CountReport) -> str:
    data: dict[str, Any] = {
        "name": report.name,
        "spec": report.spec,
        "family": report.family,
        "num_spatial_dims": report.num_spatial_dims,
        "input_shape": list(report.input_shape),
        "params": params_dict(report),
        "depth": report.depth,
        "layers": [
            {
                "path": r.path,
                "type": r.type,
                "depth": r.depth,
                "params": r.params,
                "own_params": r.own_params,
                "folded": r.folded,
                "arrays": [
                    {
                        "name": leaf.name,
                        "shape": list(leaf.shape),
                        "dtype": leaf.dtype,
                        "params": leaf.params,
                    }
                    for leaf in r.leaves
                ],
            }
            for r in layer_rows(report)
        ],
        "notes": list(report.notes),
    }
    if report.receptive_field is not None:
        data["receptive_field"] = rf_dict(report.receptive_field)
        for row, r in zip(data["layers"], layer_rows(report), strict=True):
            if r.rf is not None:
                row["receptive_field"] = [[extent(b), extent(f)] for b, f in r.rf]
    return dumps(data)


def dumps(data: object) -> str:
    return json.dumps(data, indent=2) + "\n"


def inspect_json(report: InspectReport, *, full: bool) -> str:
    return dumps(report_dict(report, full=full))


def check_json(report: CheckReport) -> str:
    return dumps(
        {
            "results": [result_dict(r) for r in report.results],
            "errors": [{"spec": e.spec, "message": e.message} for e in report.errors],
            "unbudgeted": list(report.unbudgeted),
            "ok": not report.exceeded and not report.errors,
        }
    )


def sweep_json(result: SweepResult) -> str:
    return dumps(sweep_dict(result))


def solve_json(result: SolveResult) -> str:
    return dumps(solve_dict(result))


def rf_json(report: RFReport) -> str:
    return dumps(
        {
            "name": report.name,
            "spec": report.spec,
            "family": report.family,
            "input_shape": list(report.input_shape),
            "receptive_field": {**rf_dict(report.result), "methods": list(report.methods)},
        }
    )
