"""`--format github`: the entry points the CLI calls (the views are render/check.py and
render/validate.py)."""

from __future__ import annotations

from archinspect.render.check import to_github as check_github
from archinspect.render.validate import validate_github

__all__ = ["check_github", "validate_github"]
