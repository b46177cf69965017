"""`--format json`: the entry points the CLI calls (`<report>_json`); keys follow the README's JSON
sections and are stable. Each is imported on first use (render/entries.py)."""

from __future__ import annotations

from typing import Any

from archinspect.render.entries import entry_point
from archinspect.render.formats.json import dumps
from archinspect.render.validate import validate_json

_ENTRIES = {
    "check_json": "archinspect.render.check:to_json",
    "count_json": "archinspect.render.count:to_json",
    "diff_json": "archinspect.render.diff:to_json",
    "equivariance_json": "archinspect.render.equivariance:to_json",
    "init_json": "archinspect.render.init:to_json",
    "inspect_json": "archinspect.render.inspect:to_json",
    "rf_json": "archinspect.render.rf:to_json",
    "solve_json": "archinspect.render.solve:to_json",
    "sweep_json": "archinspect.render.sweep:to_json",
}


def __getattr__(name: str) -> Any:
    return entry_point(__name__, _ENTRIES, name)


__all__ = ["dumps", "validate_json", *_ENTRIES]
