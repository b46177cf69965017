"""`--format markdown`: the entry points the CLI calls (`<report>_markdown`). Each is imported on
first use (render/entries.py)."""

from __future__ import annotations

from typing import Any

from archinspect.render.entries import entries, entry_point

_ENTRIES = entries("markdown")


def __getattr__(name: str) -> Any:
    return entry_point(__name__, _ENTRIES, name)


__all__ = [*_ENTRIES]
