"""`--format csv`: the entry points the CLI calls (`<report>_csv`)."""

from __future__ import annotations

from archinspect.render.check import to_csv as check_csv
from archinspect.render.count import to_csv as count_csv
from archinspect.render.diff import to_csv as diff_csv
from archinspect.render.equivariance import to_csv as equivariance_csv
from archinspect.render.init import to_csv as init_csv
from archinspect.render.inspect import to_csv as inspect_csv
from archinspect.render.rf import to_csv as rf_csv
from archinspect.render.solve import to_csv as solve_csv
from archinspect.render.sweep import to_csv as sweep_csv

__all__ = [
    "check_csv",
    "count_csv",
    "diff_csv",
    "equivariance_csv",
    "init_csv",
    "inspect_csv",
    "rf_csv",
    "solve_csv",
    "sweep_csv",
]
