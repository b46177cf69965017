"""Spec, Spec -> DiffReport: each spec measured exactly as `count`, `shapes` and (when asked)
`inspect` measure it, then the two laid side by side. Nothing is measured here that those
commands do not measure, so a diff never disagrees with them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from archinspect.analysis.params import fold, module_rows
from archinspect.build import build_abstract
from archinspect.commands.inspect import inspect_report
from archinspect.report import (
    ArgumentDiff,
    DiffReport,
    DiffSide,
    FigureDiff,
    InspectReport,
    ModuleDiff,
    ModuleRow,
)
from archinspect.spec.model import Spec


@dataclass(frozen=True)
class _Measured:
    report: InspectReport
    rows: list[ModuleRow]
    arguments: dict[str, Any]


def diff_report(
    a: Spec,
    b: Spec,
    *,
    depth: int | None = 2,
    trusted: Iterable[str] = (),
    flops: bool = False,
    memory: bool = False,
    platform: str | None = None,
    models: tuple[Any, Any] = (None, None),
    overrides: tuple[Iterable[str], Iterable[str]] = ((), ()),
) -> DiffReport:
    """Abstract unless `flops` or `memory` is asked for: those compile both models (never run
    them), as `inspect` does. `overrides`: the command line's KEY=VALUE per spec, to name it."""
    trusted = tuple(trusted)
    ma, mb = (
        _measure(spec, model, depth, trusted, flops, memory, platform)
        for spec, model in zip((a, b), models, strict=True)
    )
    notes = [f"A: {n}" for n in ma.report.notes] + [f"B: {n}" for n in mb.report.notes]
    return DiffReport(
        a=_side(a, overrides[0]),
        b=_side(b, overrides[1]),
        arguments=tuple(_arguments(ma.arguments, mb.arguments)),
        figures=tuple(_figures(ma.report, mb.report, flops, memory)),
        modules=tuple(_modules(ma.rows, mb.rows)),
        depth=depth,
        notes=tuple(notes),
    )


def _side(spec: Spec, overrides: Iterable[str]) -> DiffSide:
    return DiffSide(spec.name, spec.source, spec.family, spec.target, tuple(overrides))


def _measure(
    spec: Spec,
    model: Any,
    depth: int | None,
    trusted: tuple[str, ...],
    flops: bool,
    memory: bool,
    platform: str | None,
) -> _Measured:
    if model is None:
        model = build_abstract(spec, trusted)
    report = inspect_report(
        spec,
        depth=0,  # the per-module rows come from the `count` tree below
        trusted=trusted,
        platform=platform,
        costs=flops or memory,
        flops=flops,
        memory=memory,  # without it the training step is not compiled
        layer_costs=False,
        rf=True,
        model=model,
    )
    rows, _ = module_rows(model)
    return _Measured(report, fold(rows, depth), _spec_arguments(spec, model))


def _plain(value: Any) -> Any:
    """Tuples as lists, so that a value read from YAML equals the same value built in code."""
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def _spec_arguments(spec: Spec, model: Any) -> dict[str, Any]:
    """Every argument of the spec by its key, defaults filled in (Spec.args already has the
    family's defaults). The input's layout and batch axis default to the model's convention,
    known once it is built: the Flax wrapper holds the one it uses; an Equinox module takes
    one channels-first sample without a batch axis."""
    out: dict[str, Any] = {"model.family": spec.family, "model.target": spec.target}
    out.update({f"model.{k}": _plain(v) for k, v in spec.args.items()})
    out["input.resolution"] = list(spec.input.resolution)
    out["input.channels"] = spec.input.channels
    out["input.batch_size"] = spec.input.batch_size
    out["input.dtype"] = spec.input.dtype
    out["input.layout"] = spec.input.layout or getattr(model, "_layout", "channels_first")
    batch_axis = spec.input.batch_axis
    out["input.batch_axis"] = (
        getattr(model, "_batch_axis", False) if batch_axis is None else batch_axis
    )
    return out


def _arguments(a: dict[str, Any], b: dict[str, Any]) -> list[ArgumentDiff]:
    """Values compare as Python does (2 == 2.0), except that true is not 1."""
    names = [*a, *(k for k in b if k not in a)]
    # model keys before input keys whichever side has them (a stable sort keeps A's order)
    names.sort(key=lambda n: n.startswith("input."))
    out = []
    for name in names:
        if name not in b:
            out.append(ArgumentDiff(name, a[name], None, in_b=False))
        elif name not in a:
            out.append(ArgumentDiff(name, None, b[name], in_a=False))
        elif a[name] != b[name] or isinstance(a[name], bool) != isinstance(b[name], bool):
            out.append(ArgumentDiff(name, a[name], b[name]))
    return out


def _figures(a: InspectReport, b: InspectReport, flops: bool, memory: bool) -> list[FigureDiff]:
    def rf(report: InspectReport) -> tuple[Any, Any]:
        r = report.receptive_field
        return (None, None) if r is None else (r.per_axis, r.global_)

    (rf_a, global_a), (rf_b, global_b) = rf(a), rf(b)
    out = [
        FigureDiff("params.total", a.params.total, b.params.total),
        FigureDiff("params.learnable", a.params.learnable, b.params.learnable),
        FigureDiff("params.materialized", a.params.materialized, b.params.materialized),
        FigureDiff("params.bytes", a.params.bytes, b.params.bytes),
        FigureDiff("input_shape", a.input_shape, b.input_shape),
        FigureDiff("output_shape", a.output_shape, b.output_shape),
        FigureDiff("receptive_field.per_axis", rf_a, rf_b),
        FigureDiff("receptive_field.global", global_a, global_b),
    ]
    if flops and a.flops is not None and b.flops is not None:
        out += [
            FigureDiff("flops.forward", a.flops.forward, b.flops.forward),
            FigureDiff("flops.per_sample", a.flops.per_sample, b.flops.per_sample),
        ]
    if memory and a.memory is not None and b.memory is not None:
        ma, mb = a.memory, b.memory
        out.append(FigureDiff("memory.activation_bytes", ma.activation_bytes, mb.activation_bytes))
        for key, xa, xb in (
            ("memory.forward_peak", ma.forward, mb.forward),
            ("memory.train_step_peak", ma.train_step, mb.train_step),
        ):
            out.append(
                FigureDiff(
                    key,
                    None if xa is None else xa.peak_bytes,
                    None if xb is None else xb.peak_bytes,
                )
            )
    return out


def _modules(a: list[ModuleRow], b: list[ModuleRow]) -> list[ModuleDiff]:
    """The union of both trees by path: A's rows in A's order, each run of paths only in B
    placed before the row of both that follows it in B, at the end when none does (so two
    unrelated trees read as A's rows, then B's). Linear time: deep models have many rows."""
    by_a = {r.path: r for r in a}
    by_b = {r.path: r for r in b}
    before: dict[str, list[str]] = {}
    pending: list[str] = []  # paths only in B since the last path of both
    for r in b:
        if r.path in by_a:
            before[r.path], pending = pending, []
        else:
            pending.append(r.path)
    order: list[str] = []
    for r in a:
        order += [*before.get(r.path, []), r.path]
    order += pending
    out = []
    for path in order:
        ra, rb = by_a.get(path), by_b.get(path)
        row = ra if ra is not None else rb
        assert row is not None
        out.append(
            ModuleDiff(
                path=path,
                depth=row.depth,
                type_a=None if ra is None else ra.type,
                type_b=None if rb is None else rb.type,
                a=None if ra is None else ra.params,
                b=None if rb is None else rb.params,
            )
        )
    return out
