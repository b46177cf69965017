"""The per-format modules' entry points (`<report>_<format>`), imported on first use: a
command pays for its own report's renderer, not for every report's (README "Performance")."""

from __future__ import annotations

import importlib
import sys
from typing import Any

# The reports every format renders: `archinspect.render.<report>` has `to_<format>` for each.
REPORTS = ("check", "count", "diff", "equivariance", "init", "inspect", "rf", "solve", "sweep")


def entries(fmt: str) -> dict[str, str]:
    """A format module's entry points: `<report>_<fmt>` -> its renderer's `to_<fmt>`."""
    return {f"{r}_{fmt}": f"archinspect.render.{r}:to_{fmt}" for r in REPORTS}


def entry_point(module: str, entries: dict[str, str], name: str) -> Any:
    """`module.name`, where `entries[name]` is `"package.module:attribute"`; kept in `module`
    once imported. An unknown name is an AttributeError, as for any module."""
    where = entries.get(name)
    if where is None:
        raise AttributeError(f"module {module!r} has no attribute {name!r}")
    path, attribute = where.split(":")
    value = getattr(importlib.import_module(path), attribute)
    setattr(sys.modules[module], name, value)
    return value
