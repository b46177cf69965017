"""`check --format github`: the entry point the CLI calls (the view is render/check.py)."""

from __future__ import annotations

from archinspect.render.check import to_github as check_github

__all__ = ["check_github"]
