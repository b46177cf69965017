"""`--format markdown`: the entry points the CLI calls (`<report>_markdown`). Each is imported on
first use (render/entries.py)."""

from __future__ import annotations

from typing import Any

from archinspect.render.entries import entry_point

_ENTRIES = {
    "check_markdown": "archinspect.render.check:to_markdown",
    "count_markdown": "archinspect.render.count:to_markdown",
    "diff_markdown": "archinspect.render.diff:to_markdown",
    "equivariance_markdown": "archinspect.render.equivariance:to_markdown",
    "init_markdown": "archinspect.render.init:to_markdown",
    "inspect_markdown": "archinspect.render.inspect:to_markdown",
    "rf_markdown": "archinspect.render.rf:to_markdown",
    "solve_markdown": "archinspect.render.solve:to_markdown",
    "sweep_markdown": "archinspect.render.sweep:to_markdown",
}


def __getattr__(name: str) -> Any:
    return entry_point(__name__, _ENTRIES, name)


__all__ = [*_ENTRIES]
