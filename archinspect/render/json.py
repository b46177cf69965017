"""`--format json`: the entry points the CLI calls (`<report>_json`); keys follow the README's JSON
sections and are stable. Each is imported on first use (render/entries.py)."""

from __future__ import annotations

from typing import Any

from archinspect.render.entries import entries, entry_point
from archinspect.render.formats.json import dumps
from archinspect.render.validate import validate_json

_ENTRIES = entries("json")


def __getattr__(name: str) -> Any:
    return entry_point(__name__, _ENTRIES, name)


__all__ = ["dumps", "validate_json", *_ENTRIES]
