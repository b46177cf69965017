"""CSV renderer: one row per module (below the root), totals in the parent rows."""

from __future__ import annotations

import csv
import io

from archinspect.render.count_data import arrays_text, layer_rows
from archinspect.report import CountReport


def count_csv(report: CountReport) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["path", "type", "depth", "own_params", "params", "folded", "arrays"])
    for r in layer_rows(report):
        writer.writerow([r.path, r.type, r.depth, r.own_params, r.params, r.folded, arrays_text(r)])
    return buffer.getvalue()
