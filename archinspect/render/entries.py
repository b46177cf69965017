"""The per-format modules' entry points (`<report>_<format>`), imported on first use: a
command pays for its own report's renderer, not for every report's (README "Performance")."""

from __future__ import annotations

import importlib
import sys
from typing import Any


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
