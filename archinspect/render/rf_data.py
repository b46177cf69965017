"""RFResult -> JSON-ready dicts and texts (the README's JSON keys: per_axis, global, global_via,
position_range; infinite extents are the string "inf")."""

from __future__ import annotations

import math
from typing import Any


def extent(v: float) -> Any:
    return "inf" if v == math.inf else int(v)


def extent_text(v: float) -> str:
    return "inf" if v == math.inf else str(int(v))


def rf_dict(result: Any) -> dict:
    return {
        "per_axis": [[extent(b), extent(f)] for b, f in result.per_axis],
        "global": bool(result.global_),
        "global_via": [{"path": g.path, "type": g.type, "kind": g.kind} for g in result.global_via],
        "position_range": [
            [[extent(b0), extent(b1)], [extent(f0), extent(f1)]]
            for (b0, b1), (f0, f1) in result.position_range
        ],
        "period": list(result.period),
        "method": result.method,
        "analysed_shape": list(result.analysed_shape),
    }


def per_axis_text(result: Any) -> str:
    return " ".join(f"({extent_text(b)},{extent_text(f)})" for b, f in result.per_axis)


def range_text(pair: tuple[float, float]) -> str:
    lo, hi = pair
    return extent_text(lo) if lo == hi else f"{extent_text(lo)}..{extent_text(hi)}"


def global_text(result: Any, limit: int = 4) -> str:
    if not result.global_:
        return "no"
    names = [f"{g.path or '<root>'} ({g.type}, {g.kind})" for g in result.global_via]
    more = f", ... ({len(names)} modules)" if len(names) > limit else ""
    return "yes, via " + ", ".join(names[:limit]) + more
