"""`--format table`: the entry points the CLI calls (`<report>_table`), one per report view. Each
is imported on first use (render/entries.py)."""

from __future__ import annotations

from typing import Any

from archinspect.render.entries import entry_point
from archinspect.render.formats.table import to_text

_ENTRIES = {
    "check_table": "archinspect.render.check:to_table",
    "count_table": "archinspect.render.count:to_table",
    "diff_table": "archinspect.render.diff:to_table",
    "equivariance_table": "archinspect.render.equivariance:to_table",
    "init_table": "archinspect.render.init:to_table",
    "inspect_table": "archinspect.render.inspect:to_table",
    "rf_table": "archinspect.render.rf:to_table",
    "solve_table": "archinspect.render.solve:to_table",
    "sweep_table": "archinspect.render.sweep:to_table",
}


def __getattr__(name: str) -> Any:
    return entry_point(__name__, _ENTRIES, name)


__all__ = ["to_text", *_ENTRIES]
