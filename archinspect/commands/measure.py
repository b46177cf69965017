"""Named metrics of one spec, computed only as far as needed (nothing compiles for params).

`check`, `sweep` and `solve` ask for metrics by name (see archinspect.metrics); each metric
declares the cheapest analysis that yields it: counting (abstract build), an abstract trace
(shapes), the receptive-field analysis, or XLA programs (FLOPs, memory), which are compiled
but never run.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable
from typing import Any

from archinspect import metrics as registry
from archinspect.build.faults import ForwardError
from archinspect.errors import ArchinspectError
from archinspect.spec.model import Spec

ALL_METRICS = registry.NAMES


def _of(kind: str) -> tuple[registry.Metric, ...]:
    return tuple(m for m in registry.METRICS if m.measured_by == kind)


def measure(
    spec: Spec,
    names: Iterable[str],
    *,
    trusted: Iterable[str] = (),
    platform: str | None = None,
) -> dict[str, Any]:
    """{metric: value}: params etc. are ints; flops is XLA's forward estimate for the batch;
    memory is XLA's peak bytes of a training step; receptive_field is an RFResult.

    The dict lists counted metrics first, then compiled ones, the output shape, the receptive
    field (each group in the registry's order). A metric that cannot be measured raises its
    error (`measure_each` keeps the others)."""
    return measure_each(spec, names, trusted=trusted, platform=platform, keep_going=False)[0]


def measure_each(
    spec: Spec,
    names: Iterable[str],
    *,
    trusted: Iterable[str] = (),
    platform: str | None = None,
    keep_going: bool = True,
) -> tuple[dict[str, Any], dict[str, ArchinspectError]]:
    """What `measure` gives, and the error of each metric that could not be measured: a sweep
    row whose forward pass fails (a resolution the model cannot take) still has its counts.

    A model that cannot be built has no metric: its error is raised; so is the first failure
    when not `keep_going` (`check` and `solve` need every metric they ask for)."""
    from archinspect.commands.inspect import finish

    return finish(
        measure_steps(spec, names, trusted=trusted, platform=platform, keep_going=keep_going)
    )


def measure_steps(
    spec: Spec,
    names: Iterable[str],
    *,
    trusted: Iterable[str] = (),
    platform: str | None = None,
    keep_going: bool = True,
) -> Generator[None, None, tuple[dict[str, Any], dict[str, ArchinspectError]]]:
    """`measure_each` in steps (`inspect_steps`): it yields once while XLA compiles, after the
    receptive field and the other analyses that do not wait for the compilations."""
    from archinspect.build import build_abstract

    wanted = set(names)
    unknown = wanted - set(ALL_METRICS)
    if unknown:
        raise ValueError(f"unknown metrics: {sorted(unknown)}")
    kinds: set[str] = {registry.get(n).measured_by for n in wanted}
    model = build_abstract(spec, trusted)
    out: dict[str, Any] = {}
    failed: dict[str, ArchinspectError] = {}
    if "count" in kinds:
        from archinspect.analysis.params import module_rows, summarize

        # No count metric reads materialized, so the forward pass is not traced here.
        summary = summarize(module_rows(model, spec.frozen)[1])
        out.update({m.name: m.extract(summary) for m in _of("count")})
    forward_failed: ForwardError | None = None
    group = [m for m in registry.METRICS if m.measured_by in ("compiled", "shape")]
    steps = None
    if "compiled" in kinds or "shape" in kinds:
        from archinspect.commands.inspect import inspect_steps

        # Only what is asked for is compiled: the training step (memory) is most of the time,
        # and a FLOPs budget alone does not need it; the output shape alone is traced.
        steps = inspect_steps(
            spec,
            depth=0,
            platform=platform,
            model=model,
            costs="compiled" in kinds,
            layer_costs=False,
            flops="flops" in wanted,
            memory="memory" in wanted,
        )
    try:
        compiling = False
        if steps is not None:
            # Traced and lowered: XLA compiles while the receptive field is analysed.
            compiling, forward_failed = _advance(steps, group, wanted, out, failed, keep_going)
        _uncompiled(spec, model, kinds, trusted, forward_failed, out, failed, keep_going)
        if compiling and steps is not None:
            yield  # the caller's turn while XLA compiles
            _advance(steps, group, wanted, out, failed, keep_going)
    finally:
        if steps is not None:
            steps.close()
    order = {name: i for i, name in enumerate(ALL_METRICS)}
    failed = {k: failed[k] for k in sorted(failed, key=order.__getitem__) if k in wanted}
    return {k: v for k, v in out.items() if k in wanted}, failed


def _uncompiled(
    spec: Spec,
    model: Any,
    kinds: set[str],
    trusted: Iterable[str],
    forward_failed: ForwardError | None,
    out: dict[str, Any],
    failed: dict[str, ArchinspectError],
    keep_going: bool,
) -> None:
    """The receptive field and the statistics at initialization, into `out` (or `failed`)."""
    if "rf" in kinds:
        from archinspect.analysis.receptive_field import receptive_field
        from archinspect.build.faults import blame_model

        try:
            if forward_failed is not None:  # the RF's trace would fail the same way
                raise forward_failed
            with blame_model(spec, model):
                rf = receptive_field(model, spec.input_shape)
            out.update({m.name: m.extract(rf) for m in _of("rf")})
        except ArchinspectError as exc:
            if not keep_going:
                raise
            failed.update({m.name: exc for m in _of("rf")})
    if "init" in kinds:  # real weights and a random batch (README "Signal propagation ...")
        from archinspect.commands.init import init_report

        try:
            initial = init_report(spec, trusted)
            out.update({m.name: m.extract(initial) for m in _of("init")})
        except ArchinspectError as exc:
            if not keep_going:
                raise
            failed.update({m.name: exc for m in _of("init")})


def _advance(
    steps: Generator[None, None, Any],
    group: list[registry.Metric],
    wanted: set[str],
    out: dict[str, Any],
    failed: dict[str, ArchinspectError],
    keep_going: bool,
) -> tuple[bool, ForwardError | None]:
    """One step of `inspect_steps`: (still compiling, the forward pass's error). When the
    steps end, the report's compiled metrics (those asked for) and shape metrics go to `out`;
    an error goes to `failed` for the whole group (raised unless `keep_going`), and is
    returned when the forward pass failed (the receptive field's trace would fail the same
    way)."""
    try:
        next(steps)
        return True, None
    except StopIteration as done:
        report = done.value
    except ArchinspectError as exc:
        if not keep_going:
            raise
        failed.update({m.name: exc for m in group if m.name not in out})
        return False, exc if isinstance(exc, ForwardError) else None
    for m in group:
        if m.measured_by == "shape" or m.name in wanted:
            out[m.name] = m.extract(report)
    return False, None
