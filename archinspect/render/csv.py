"""`--format csv`: the entry points the CLI calls (`<report>_csv`). Each is imported on first use
(render/entries.py)."""

from __future__ import annotations

from typing import Any

from archinspect.render.entries import entry_point

_ENTRIES = {
    "check_csv": "archinspect.render.check:to_csv",
    "count_csv": "archinspect.render.count:to_csv",
    "diff_csv": "archinspect.render.diff:to_csv",
    "equivariance_csv": "archinspect.render.equivariance:to_csv",
    "init_csv": "archinspect.render.init:to_csv",
    "inspect_csv": "archinspect.render.inspect:to_csv",
    "rf_csv": "archinspect.render.rf:to_csv",
    "solve_csv": "archinspect.render.solve:to_csv",
    "sweep_csv": "archinspect.render.sweep:to_csv",
}


def __getattr__(name: str) -> Any:
    return entry_point(__name__, _ENTRIES, name)


__all__ = [*_ENTRIES]
