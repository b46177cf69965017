"""Spec -> CountReport: build abstractly, count exactly, fold the module tree."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

from archinspect.analysis.banks import explain, with_rows
from archinspect.analysis.params import fold, measured_summary, module_rows
from archinspect.build import build_abstract
from archinspect.build.adapt import build_notes
from archinspect.limits import MEMORY_LIMIT
from archinspect.report import CountReport
from archinspect.spec.model import Spec


def match_cnn(spec: Spec, n: int, by: str) -> tuple[list[str], str]:
    """The `--set` overrides that match the spec's family with a plain CNN of n channels
    (`count --match-cnn N --by params|compute`), and the line that explains them."""
    import json

    from archinspect.errors import UsageError
    from archinspect.families import FAMILIES

    family = FAMILIES.get(spec.family) if spec.target is None else None
    if family is None or family.match_cnn is None:
        able = ", ".join(f.name for f in FAMILIES.values() if f.match_cnn is not None)
        raise UsageError(
            f"error: --match-cnn compares group-CNN widths with a plain CNN; it applies to the "
            f"families {able}, not to {spec.target or spec.family}"
        )
    overrides, note = family.match_cnn(spec.args, n, by)
    return [f"model.{k}={json.dumps(v)}" for k, v in overrides.items()], note


def count_report(
    spec: Spec,
    depth: int | None = 2,
    trusted: Iterable[str] = (),
    model: Any = None,
    rf: bool | None = False,
    max_memory: int = MEMORY_LIMIT,
) -> CountReport:
    """`rf`: True adds the receptive field, or a note saying why there is none; None (the
    CLI's default) adds it where the input has a spatial axis, and says nothing where there is
    none (counting a model over features carries no note nobody asked for). Counting never
    needs the forward pass: where it fails, a note says so and the totals stand."""
    if model is None:
        model = build_abstract(spec, trusted, max_memory)
    rows, leaves = module_rows(model, spec.frozen)
    summary, read_notes = measured_summary(model, leaves, spec.input_shape, spec.input.dtype)
    notes = [*build_notes(model), *read_notes]
    # Why materialized exceeds learnable: one line per filter bank (group convolutions).
    notes += [explain(bank) for bank in summary.banks]
    rows = with_rows(rows, summary)
    if summary.complex_elements:
        notes.append(
            f"{summary.complex_elements:,} complex weights count as two real parameters each"
        )
    # A Flax model's variables other than nnx.Param (batch statistics, RNG state) are state,
    # not parameters: reported apart, never in the totals. A Flax model is wrapped by
    # archinspect.build.flax, so without that module loaded there is none (and its Equinox
    # classes, 25 ms to define, are not loaded for nothing).
    flax = sys.modules.get("archinspect.build.flax")
    if flax is not None:
        notes += flax.state_notes(model)
    rows = fold(rows, depth)
    rf_result = None
    if rf is None and spec.num_spatial_dims > 0 and summary.materialized is None:
        # The forward pass failed where materialized was measured (its note says how): the
        # field, which needs it too, is not tried again.
        notes.append("receptive field not available: the forward pass fails (see above)")
    elif rf or (rf is None and spec.num_spatial_dims > 0):
        import dataclasses

        from archinspect.commands.rf import receptive_fields_or_note

        shown = {r.path for r in rows}  # per-layer fields only for the rows --depth keeps
        rf_result, layer_rf, rf_notes = receptive_fields_or_note(spec, model, max_memory, shown)
        notes += list(rf_notes)
        rows = [dataclasses.replace(r, rf=layer_rf.get(r.path)) for r in rows]
    return CountReport(
        name=spec.name,
        spec=spec.source,
        family=spec.family,
        num_spatial_dims=spec.num_spatial_dims,
        input_shape=spec.input_shape,
        params=summary,
        rows=tuple(rows),
        depth=depth,
        notes=tuple(notes),
        receptive_field=rf_result,
    )


def check_frozen(spec: Spec, trusted: Iterable[str] = ()) -> None:
    """Raise `FrozenUnmatched` when a `--frozen` pattern matches nothing in the spec's model.
    For sweep and solve, which report a row's failure in the row and go on: a typo in a
    pattern is the command's mistake, not a row's, and would silently leave every row's
    weights learnable. A base spec that does not build is left to the rows to report."""
    if not spec.frozen:
        return
    from archinspect.errors import ArchinspectError

    try:
        model = build_abstract(spec, trusted)
    except ArchinspectError:
        return
    module_rows(model, spec.frozen)
