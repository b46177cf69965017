"""`check --format junit`: the entry point the CLI calls (the view is render/check.py)."""

from __future__ import annotations

from archinspect.render.check import to_junit as check_junit

__all__ = ["check_junit"]
