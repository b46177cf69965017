"""Sweeps: the same spec over a grid of argument values, abstractly, with a fitted law per
metric. Each row re-validates and re-traces; nothing is re-imported and nothing is compiled
unless FLOPs or memory are asked for."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable
from typing import Any

from archinspect import metrics as metrics_registry
from archinspect.analysis.fit import fit_law
from archinspect.errors import ArchinspectError, UsageError
from archinspect.report import Fit, SweepResult, SweepRow
from archinspect.spec.model import Spec

DEFAULT_VALUES: dict[str, list[Any]] = {
    "hidden_channels": [4, 8, 16, 32, 64, 128],
    "width_size": [16, 32, 64, 128, 256, 512],
    "in_channels": [1, 2, 4, 8, 16],
    "out_channels": [1, 2, 4, 8, 16],
    "num_modes": [2, 4, 8, 16, 32],
    "depth": list(range(1, 11)),
    "num_blocks": list(range(1, 9)),
    "num_levels": list(range(1, 6)),
    "kernel_size": [1, 3, 5, 7, 9, 11],
    "num_spatial_dims": [1, 2, 3],
    "num_points": [8, 16, 32, 64, 128],
    "input.resolution": [16, 32, 64, 128, 256],
    "input.batch_size": [1, 2, 4, 8, 16, 32],
}
CHEAP_METRICS = metrics_registry.SWEEP_ALWAYS  # every row: counted and traced
OPTIONAL_METRICS = metrics_registry.SWEEP_ON_REQUEST  # with --metrics: compiled


def spec_key(param: str) -> str:
    """'hidden_channels' -> 'model.hidden_channels'; dotted names stay as they are."""
    return param if "." in param else f"model.{param}"


def display_name(param: str) -> str:
    return param[len("model.") :] if param.startswith("model.") else param


def check_params(spec: Spec, params: list[str]) -> None:
    """Refuse a misspelt --param before sweeping (every row would fail the same way)."""
    from archinspect.arguments import did_you_mean
    from archinspect.registry import FAMILIES

    if spec.target is not None:
        return  # a target's keyword arguments are its own
    names = [a.name for a in FAMILIES[spec.family].all_args]
    allowed = [*names, *(f"model.{n}" for n in names), "input.resolution", "input.batch_size"]
    for param in params:
        if param not in allowed:
            short = display_name(param)
            raise UsageError(
                f"error: --param {param}: {spec.family} has no argument {short!r}"
                f"{did_you_mean(short, names)} (sweepable: {', '.join(names)}, "
                "input.resolution, input.batch_size)"
            )


def values_for(param: str, spec: Spec, given: list[Any] | None) -> list[Any]:
    """From the flag, else the spec's `sweep:` block, else a default range for the name."""
    if given is not None:
        return given
    short = display_name(param)
    for key in (short, param, spec_key(short)):
        if key in spec.sweep:
            return list(spec.sweep[key])
    if short in DEFAULT_VALUES:
        return list(DEFAULT_VALUES[short])
    raise UsageError(
        f"error: no values for --param {short}: give --values, or a `sweep: {{{short}: [...]}}` "
        f"block in the spec (default ranges exist for: {', '.join(DEFAULT_VALUES)})"
    )


def run_sweep(
    spec_loader: Callable[[list[str]], Spec],
    base: Spec,
    params: list[str],
    values: list[list[Any]],
    metrics: Iterable[str],
    *,
    trusted: Iterable[str] = (),
    platform: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SweepResult:
    """Evaluate every combination; a row whose config is invalid keeps its error message."""
    import yaml

    from archinspect.commands.measure import measure

    wanted = tuple(metrics)
    combos = list(itertools.product(*values))
    rows: list[SweepRow] = []
    for i, combo in enumerate(combos):
        assignment = dict(zip(params, combo, strict=True))
        overrides = [
            f"{spec_key(p)}={yaml.safe_dump(v, default_flow_style=True).strip()}".removesuffix(
                "\n..."
            )
            for p, v in assignment.items()
        ]
        shown = {display_name(p): v for p, v in assignment.items()}
        try:
            spec = spec_loader(overrides)
            measured = measure(spec, wanted, trusted=trusted, platform=platform)
            rows.append(SweepRow(shown, measured))
        except ArchinspectError as exc:
            rows.append(SweepRow(shown, {}, _one_paragraph(exc.message)))
        if progress is not None:
            progress(i + 1, len(combos))
    fits: dict[str, Fit] = {}
    if len(params) == 1:
        name = display_name(params[0])
        good = [r for r in rows if r.error is None and _is_number(r.values[name])]
        xs = [float(r.values[name]) for r in good]
        for metric in wanted:
            if not metrics_registry.fitted(metric):
                continue
            ys = [metrics_registry.trend(metric, r.metrics.get(metric)) for r in good]
            fit = fit_law(xs, ys) if all(y is not None for y in ys) else None
            if fit is not None:
                fits[metric] = fit
    return SweepResult(
        name=base.name,
        spec=base.source,
        swept=tuple(display_name(p) for p in params),
        rows=tuple(rows),
        fits=fits,
        metrics=wanted,
    )


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _one_paragraph(message: str) -> str:
    return " ".join(line.strip() for line in message.splitlines() if line.strip())
