"""`--format json`: the entry points the CLI calls (`<report>_json`); keys follow the README's
JSON sections and are stable."""

from __future__ import annotations

from archinspect.render.check import to_json as check_json
from archinspect.render.count import to_json as count_json
from archinspect.render.diff import to_json as diff_json
from archinspect.render.equivariance import to_json as equivariance_json
from archinspect.render.formats.json import dumps
from archinspect.render.init import to_json as init_json
from archinspect.render.inspect import to_json as inspect_json
from archinspect.render.rf import to_json as rf_json
from archinspect.render.solve import to_json as solve_json
from archinspect.render.sweep import to_json as sweep_json
from archinspect.render.validate import validate_json

__all__ = [
    "check_json",
    "count_json",
    "equivariance_json",
    "init_json",
    "diff_json",
    "dumps",
    "inspect_json",
    "rf_json",
    "solve_json",
    "sweep_json",
    "validate_json",
]
