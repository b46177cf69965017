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

# Ranges for names every spec has; each family's own come from its declaration (`Arg.sweep`).
GENERIC_VALUES: dict[str, list[Any]] = {
    "input.resolution": [16, 32, 64, 128, 256],
    "input.batch_size": [1, 2, 4, 8, 16, 32],
}
CHEAP_METRICS = metrics_registry.SWEEP_ALWAYS  # every row: counted and traced
OPTIONAL_METRICS = metrics_registry.SWEEP_ON_REQUEST  # with --metrics: compiled
_SECTIONS = ("name", "model", "input", "init", "sweep", "budget")
# `init:` keys a sweep may vary (README "Signal propagation at initialization")
INIT_PARAMS = ("init.w_std", "init.b_std")


def spec_key(param: str) -> str:
    """'hidden_channels' -> 'model.hidden_channels', 'layers[2].conv.kernel_size' ->
    'model.layers[2].conv.kernel_size'; names that start with a spec section stay as they are."""
    head = param.split(".")[0].split("[")[0]
    return param if head in _SECTIONS and "." in param else f"model.{param}"


def display_name(param: str) -> str:
    return param[len("model.") :] if param.startswith("model.") else param


def _default_ranges(spec: Spec) -> dict[str, list[Any]]:
    """Default values by argument name: the family's own; for a `target:`, the first range any
    family declares for that name (keyword arguments are often named alike)."""
    from archinspect.families import FAMILIES

    family = FAMILIES.get(spec.family) if spec.target is None else None
    chosen = [family] if family is not None else list(FAMILIES.values())
    out: dict[str, list[Any]] = {}
    for f in chosen:
        for a in f.all_args:
            if a.sweep is not None and a.name not in out:
                out[a.name] = list(a.sweep)
    return {**out, **GENERIC_VALUES}


INPUT_PARAMS = ("input.resolution", "input.batch_size")


def check_params(
    spec: Spec, params: list[str], trusted: Iterable[str] = (), label: str = "sweepable"
) -> None:
    """Refuse a misspelt --param, or an index its list does not have, before sweeping (every
    row would fail the same way). A target's arguments are read from its constructor."""
    from archinspect.build.arguments import model_arguments, no_argument

    names = model_arguments(spec, trusted)
    for param in params:
        short = display_name(param)
        if short in INPUT_PARAMS or short in INIT_PARAMS:
            continue
        parts = _path(spec_key(param))
        base = parts[1] if parts is not None and len(parts) > 1 and parts[0] == "model" else None
        if isinstance(base, str) and (names is None or base in names):
            if parts is not None and len(parts) > 2 and base in spec.args:
                _check_inside(param, base, spec.args[base], parts[2:])
            continue
        listing = f"{label}: {', '.join([*(names or []), *INPUT_PARAMS])}"
        # init.w_std and init.b_std are suggested when close, not listed (README "Signal
        # propagation at initialization")
        candidates = [*(names or []), *INPUT_PARAMS, *INIT_PARAMS]
        raise UsageError(
            f"error: --param {param}: " + no_argument(spec, short, candidates, listing)
        )


def _path(key: str) -> list[str | int] | None:
    from archinspect.spec.overrides import parse_key

    return parse_key(key)


def _check_inside(param: str, where: str, value: Any, parts: list[str | int]) -> None:
    """Walk the base spec's value along the parameter's indices and keys, as --set will."""
    from archinspect.spec.document import join
    from archinspect.spec.messages import did_you_mean, yaml_repr

    for part in parts:
        if isinstance(part, int):
            if not isinstance(value, list):
                raise UsageError(
                    f"error: --param {param}: {where} is {yaml_repr(value)}, not a list, "
                    f"so it has no index {part}"
                )
            if part >= len(value):
                raise UsageError(
                    f"error: --param {param}: {where} has {len(value)} "
                    f"entr{'y' if len(value) == 1 else 'ies'} (indices 0 to {len(value) - 1}), "
                    f"so it has no index {part}"
                )
            value = value[part]
        else:
            if not isinstance(value, dict) or part not in value:
                raise UsageError(
                    f"error: --param {param}: {where} is {yaml_repr(value)}, which has no key "
                    f"{part!r}{did_you_mean(part, list(value) if isinstance(value, dict) else [])}"
                )
            value = value[part]
        where = join(where, part)


def values_for(param: str, spec: Spec, given: list[Any] | None) -> list[Any]:
    """From the flag, else the spec's `sweep:` block, else a default range for the name."""
    if given is not None:
        return given
    short = display_name(param)
    for key in (short, param, spec_key(short)):
        if key in spec.sweep:
            return list(spec.sweep[key])
    ranges = _default_ranges(spec)
    if short in ranges:
        return list(ranges[short])
    raise UsageError(
        f"error: no values for --param {short}: give --values, or a `sweep: {{{short}: [...]}}` "
        f"block in the spec (default ranges exist for: {', '.join(ranges)})"
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

    from archinspect.commands.measure import measure_each

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
            measured, failed = measure_each(spec, wanted, trusted=trusted, platform=platform)
            reasons = {m: exc.message for m, exc in failed.items()}
            rows.append(SweepRow(shown, measured, failed=reasons))
        except ArchinspectError as exc:
            rows.append(SweepRow(shown, {}, exc.message))
        if progress is not None:
            progress(i + 1, len(combos))
    fits: dict[str, Fit] = {}
    if len(params) == 1:
        name = display_name(params[0])
        for metric in wanted:
            if not metrics_registry.fitted(metric):
                continue
            # each metric over the rows that measured it (a row may keep its counts only)
            good = [r for r in rows if metric in r.metrics and _is_number(r.values[name])]
            xs = [float(r.values[name]) for r in good]
            ys = [metrics_registry.trend(metric, r.metrics[metric]) for r in good]
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
