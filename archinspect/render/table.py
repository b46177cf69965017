"""`--format table`: the entry points the CLI calls (`<report>_table`), one per report view."""

from __future__ import annotations

from archinspect.render.check import to_table as check_table
from archinspect.render.count import to_table as count_table
from archinspect.render.diff import to_table as diff_table
from archinspect.render.equivariance import to_table as equivariance_table
from archinspect.render.formats.table import to_text
from archinspect.render.init import to_table as init_table
from archinspect.render.inspect import to_table as inspect_table
from archinspect.render.rf import to_table as rf_table
from archinspect.render.solve import to_table as solve_table
from archinspect.render.sweep import to_table as sweep_table

__all__ = [
    "check_table",
    "count_table",
    "equivariance_table",
    "init_table",
    "diff_table",
    "inspect_table",
    "rf_table",
    "solve_table",
    "sweep_table",
    "to_text",
]
