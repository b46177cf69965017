"""`--format table`: the entry points the CLI calls (`<report>_table`), one per report view. Each
is imported on first use (render/entries.py)."""

from __future__ import annotations

from typing import Any

from archinspect.render.entries import entries, entry_point
from archinspect.render.formats.table import to_text

_ENTRIES = entries("table")


def __getattr__(name: str) -> Any:
    return entry_point(__name__, _ENTRIES, name)


__all__ = ["to_text", *_ENTRIES]
