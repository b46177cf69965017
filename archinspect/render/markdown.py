"""`--format markdown`: the entry points the CLI calls (`<report>_markdown`)."""

from __future__ import annotations

from archinspect.render.check import to_markdown as check_markdown
from archinspect.render.count import to_markdown as count_markdown
from archinspect.render.diff import to_markdown as diff_markdown
from archinspect.render.equivariance import to_markdown as equivariance_markdown
from archinspect.render.init import to_markdown as init_markdown
from archinspect.render.inspect import to_markdown as inspect_markdown
from archinspect.render.rf import to_markdown as rf_markdown
from archinspect.render.solve import to_markdown as solve_markdown
from archinspect.render.sweep import to_markdown as sweep_markdown

__all__ = [
    "check_markdown",
    "count_markdown",
    "equivariance_markdown",
    "init_markdown",
    "diff_markdown",
    "inspect_markdown",
    "rf_markdown",
    "solve_markdown",
    "sweep_markdown",
]
