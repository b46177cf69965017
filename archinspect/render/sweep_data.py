"""SweepResult / SolveResult -> dicts and cell texts shared by the sweep and solve renderers."""

from __future__ import annotations

import math
from typing import Any

from archinspect.render.fmt import num
from archinspect.report import Fit, SolveResult, SweepResult

METRIC_LABELS = {
    "params": "params",
    "learnable_params": "learnable",
    "receptive_field": "receptive field",
    "output_shape": "output shape",
    "flops": "FLOPs",
    "memory": "train memory",
}


def _rf_one(v: float) -> Any:
    return "inf" if v == math.inf else int(v)


def metric_json(name: str, value: Any) -> Any:
    if value is None:
        return None
    if name == "receptive_field":
        return [[_rf_one(b), _rf_one(f)] for b, f in value.per_axis]
    if name == "output_shape":
        return list(value)
    return value


def metric_text(name: str, value: Any, sep: str = "×") -> str:
    if value is None:
        return ""
    if name == "receptive_field":
        return " ".join(f"({_rf_one(b)},{_rf_one(f)})" for b, f in value.per_axis)
    if name == "output_shape":
        return sep.join(str(d) for d in value)
    if isinstance(value, int):
        return num(value)
    return str(value)


def value_text(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ",".join(str(v) for v in value) + "]"
    return str(value)


def fit_dict(fit: Fit) -> dict:
    out = {"exponent": round(fit.exponent, 4), "law": fit.law, "r2": round(fit.r2, 6)}
    if fit.base is not None:
        out["base"] = round(fit.base, 4)
        out["r2_exponential"] = round(fit.r2_exponential or 0.0, 6)
    return out


def fit_line(metric: str, fit: Fit) -> str:
    line = f"{metric}: {fit.law} (exponent {fit.exponent:.2f}, r² {fit.r2:.3f}"
    if fit.base is not None:
        line += f"; log-linear r² {fit.r2_exponential:.3f}"
    return line + ")"


def sweep_dict(result: SweepResult) -> dict:
    rows = []
    for row in result.rows:
        entry: dict[str, Any] = dict(row.values)
        for metric in result.metrics:
            entry[metric] = metric_json(metric, row.metrics.get(metric))
        entry["error"] = row.error
        rows.append(entry)
    return {
        "name": result.name,
        "spec": result.spec,
        "swept": list(result.swept),
        "metrics": list(result.metrics),
        "rows": rows,
        "fits": {m: fit_dict(f) for m, f in result.fits.items()},
    }


def solve_dict(result: SolveResult) -> dict:
    return {
        "name": result.name,
        "spec": result.spec,
        "param": result.param,
        "direction": result.direction,
        "limits": dict(result.limits),
        "value": result.value,
        "metric": _metrics_json(result.metric),
        "next_value": result.next_value,
        "next_metric": _metrics_json(result.next_metric),
        "binding": list(result.binding),
        "next_error": result.next_error,
        "probes": result.probes,
    }


def _metrics_json(metrics: dict | None) -> dict | None:
    if metrics is None:
        return None
    return {k: metric_json(k, v) for k, v in metrics.items()}


def solve_lines(result: SolveResult) -> list[str]:
    def show(metrics: dict | None) -> str:
        if not metrics:
            return ""
        return ", ".join(
            f"{METRIC_LABELS.get(k, k)} {metric_text(k, v)}" for k, v in metrics.items()
        )

    maxima = ", ".join(f"{k} {num(v)}" for k, v in result.limits.items() if k != "min_rf")
    reach = (
        f"a receptive field of {num(result.limits['min_rf'])} on every side"
        if "min_rf" in result.limits
        else ""
    )
    limits = ", ".join(p for p in (reach, maxima) if p)
    if result.value is None:
        return [
            f"no value of {result.param} satisfies {limits}",
            f"at {result.param}={result.next_value}: {show(result.next_metric)} "
            f"(crosses {', '.join(result.binding)})",
        ]
    if result.direction == "largest":
        head = f"largest {result.param} within {limits}: {result.value}"
    else:
        head = (
            f"smallest {result.param} reaching {reach}"
            + (f" within {maxima}" if maxima else "")
            + f": {result.value}"
        )
    lines = [
        head,
        f"  at {result.param}={result.value}: {show(result.metric)}",
    ]
    if result.next_error is not None:
        lines.append(f"  at {result.param}={result.next_value}: invalid — {result.next_error}")
    elif result.next_value is not None:
        lines.append(
            f"  at {result.param}={result.next_value}: {show(result.next_metric)}"
            + (f" — crosses {', '.join(result.binding)}" if result.binding else "")
        )
    lines.append(f"  ({result.probes} exact evaluation{'s' if result.probes != 1 else ''})")
    return lines
