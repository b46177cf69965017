"""Spec -> InspectReport: parameters, per-layer shapes, FLOPs and memory in one pass.

One abstract trace gives the shapes of every layer; FLOPs and memory come from XLA programs
that are lowered and compiled but never run: the forward pass compiled once (its FLOPs and
memory), the training step compiled once (memory only, so skipped when memory is not asked
for), each distinct layer lowered once (archinspect.analysis.flops caches the figures across
layers, specs and sweep rows).
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

from archinspect.analysis import xla_cache
from archinspect.analysis.banks import explain
from archinspect.analysis.flops import per_layer_flops, whole_flops
from archinspect.analysis.flops_analytic import AnalyticFlops, analytic_flops, trace_forward
from archinspect.analysis.memory import activation_bytes
from archinspect.analysis.params import measured_summary, module_rows
from archinspect.analysis.platform import on_platform, resolve
from archinspect.analysis.programs import forward_program, train_step_program
from archinspect.analysis.shapes import fold_layers, forward_layers, leaf_paths
from archinspect.build import build_abstract
from archinspect.build.adapt import build_notes
from archinspect.build.faults import blame_model
from archinspect.commands.rf import receptive_fields_or_note
from archinspect.limits import MEMORY_LIMIT
from archinspect.report import FlopsReport, InspectReport, MemoryReport
from archinspect.spec.model import Spec

COMPILE_OPTIONS = {"xla_backend_optimization_level": 0}

T = TypeVar("T")


def _forward(spec: Spec, model: Any, dense: bool = False):
    with blame_model(spec, model):
        return forward_layers(model, spec.input_shape, spec.input.dtype, dense=dense)


def inspect_report(
    spec: Spec,
    *,
    depth: int | None = 2,
    trusted: Iterable[str] = (),
    platform: str | None = None,
    costs: bool = True,
    layer_costs: bool = True,
    rf: bool = False,
    model: Any = None,
    max_memory: int = MEMORY_LIMIT,
    dense: bool = False,
    flops: bool = True,
    memory: bool = True,
    why_skipped: dict[str, str] | None = None,
) -> InspectReport:
    """The full report; with costs=False only shapes and parameters (nothing is compiled);
    `dense` adds each conv's dense equivalent (matrix size, non-zeros, weight sharing).

    `flops=False` skips every FLOPs analysis (per layer, analytic, compiled); `memory=False`
    skips the training step (its compile is most of `inspect`'s time) and the forward memory:
    the report says they were not measured, and why (`why_skipped`, e.g. {"flops": "skipped
    by --no-flops"}; else "not asked for")."""
    return finish(
        inspect_steps(
            spec,
            depth=depth,
            trusted=trusted,
            platform=platform,
            costs=costs,
            layer_costs=layer_costs,
            rf=rf,
            model=model,
            max_memory=max_memory,
            dense=dense,
            flops=flops,
            memory=memory,
            why_skipped=why_skipped,
        )
    )


Steps = Generator[None, None, T]


def finish(steps: Steps[T]) -> T:
    """Run `steps` to the end: what a step function returns, without doing anything else while
    XLA compiles."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


def inspect_steps(
    spec: Spec,
    *,
    depth: int | None = 2,
    trusted: Iterable[str] = (),
    platform: str | None = None,
    costs: bool = True,
    layer_costs: bool = True,
    rf: bool = False,
    model: Any = None,
    max_memory: int = MEMORY_LIMIT,
    dense: bool = False,
    flops: bool = True,
    memory: bool = True,
    why_skipped: dict[str, str] | None = None,
) -> Steps[InspectReport]:
    """`inspect_report` in steps: it yields (at most once) after handing its programs to XLA,
    whose compilations run in threads, so that a caller measuring many specs (`check`) can
    trace and lower the next spec meanwhile; the report is the generator's return value.
    Closing the generator early cancels what has not started compiling."""
    why = why_skipped or {}
    asked = {"flops": flops, "memory": memory}
    skip = {k: why.get(k, "not asked for") for k, on in asked.items() if not on}
    platform = resolve(platform)
    if model is None:
        model = build_abstract(spec, trusted, max_memory)
    steps = _report(spec, model, depth, platform, costs, layer_costs, rf, dense, skip, max_memory)
    # JAX would silently canonicalise a float64 input to float32 without x64 mode; the mode is
    # entered for each step only, never held while the caller runs between the steps.
    x64 = spec.input.dtype == "float64"
    try:
        while True:
            with _x64(x64):
                try:
                    next(steps)
                except StopIteration as done:
                    return done.value
            yield
    finally:
        steps.close()


@contextmanager
def _x64(on: bool) -> Iterator[None]:
    if not on:
        yield
        return
    import jax

    with jax.enable_x64(True):
        yield


def _report(
    spec: Spec,
    model: Any,
    depth: int | None,
    platform: str,
    costs: bool,
    layer_costs: bool,
    rf: bool,
    dense: bool = False,
    skip: dict[str, str] | None = None,
    max_memory: int = MEMORY_LIMIT,
) -> Steps[InspectReport]:
    import dataclasses

    skip = dict(skip or {}) if costs else {}
    want_flops, want_memory = "flops" not in skip, "memory" not in skip
    layer_costs = layer_costs and want_flops
    _, leaves = module_rows(model, spec.frozen)
    params, param_notes = measured_summary(model, leaves, spec.input_shape, spec.input.dtype)
    param_notes += tuple(explain(bank) for bank in params.banks)
    output_shape, rows, calls = _forward(spec, model, dense)
    flops = memory = None
    rf_done = None
    if costs and not want_flops and not want_memory:
        # Nothing to compile: parameters and activations are known from the trace.
        memory = MemoryReport(
            param_bytes=params.bytes,
            param_bytes_by_dtype=dict(params.bytes_by_dtype),
            activation_bytes=activation_bytes(calls, leaf_paths(rows), spec.input.batch_size),
        )
    elif costs:
        batch = spec.input.batch_size
        batch_in = (batch, *spec.input_shape)
        batch_out = (batch, *output_shape)
        with on_platform(platform):
            forward = forward_program(model, batch_in, spec.input.dtype, spec.source)
            learnable = frozenset(leaf.name for leaf in leaves if leaf.learnable)
            programs = [forward]
            if want_memory:  # the training step gives memory only: not lowered without it
                programs.append(
                    train_step_program(
                        model, batch_in, batch_out, spec.input.dtype, spec.source, learnable
                    )
                )
            # Compilations run in threads (XLA releases the GIL) while the per-layer programs
            # are lowered here. The programs are never run, so the backend's code generation
            # is done at its lowest optimisation level: XLA's cost and memory analyses work on
            # the optimised HLO and buffer assignment, which that level does not change.
            pool = ThreadPoolExecutor(max_workers=2)
            try:
                # Figures cached (archinspect.analysis.xla_cache) are not compiled again.
                cache = xla_cache.current()
                compiled = [pool.submit(cache.compiled(p, COMPILE_OPTIONS)) for p in programs]
                layer_flops: dict[str, int] = {}
                unmeasured: dict[str, str] = {}
                unmeasured_loops: tuple[str, ...] = ()
                analytic = AnalyticFlops(None, {}, "per-layer costs not asked for")
                if layer_costs:
                    # Only the rows shown: a row folded away by `depth` is not lowered.
                    shown = {r.path for r in rows if depth is None or r.depth <= depth}
                    layer_flops, unmeasured = per_layer_flops(
                        model, [c for c in calls if c.path in shown]
                    )
                    traced = trace_forward(model, spec.input_shape, spec.input.dtype)
                    whole = whole_flops(traced)
                    if whole is not None:
                        layer_flops[""] = whole
                    else:
                        unmeasured[""] = traced.error or "not traced"
                    analytic = analytic_flops(traced)
                    if traced.program is not None:
                        from archinspect.analysis.loops import loop_note

                        looped = loop_note(traced.program.jaxpr)
                        if looped is not None:
                            unmeasured_loops = (looped,)
                if rf:  # the RF analysis also overlaps the compilations
                    rf_done = receptive_fields_or_note(spec, model, max_memory)
                if not all(f.done() for f in compiled):
                    yield  # the caller's turn while XLA compiles
                forward_c, *rest = (f.result() for f in compiled)
                train_c = rest[0] if rest else None
            finally:
                # Never wait here: on success both are done; on an error or Ctrl-C a compilation
                # still running cannot be cancelled, and waiting would delay the exit by it.
                pool.shutdown(wait=False, cancel_futures=True)
        total = forward_c.flops
        if want_flops:
            flops = FlopsReport(
                forward=total,
                per_sample=total // batch,
                batch_size=batch,
                unoptimised=layer_flops.get(""),
                analytic=None if analytic.total is None else analytic.total * batch,
                analytic_note=analytic.undefined,
            )
        if not layer_costs and want_flops:
            layer_flops[""] = total // batch  # the root alone: the compiled program's
        rows = [
            dataclasses.replace(
                r,
                flops=layer_flops.get(r.path),
                flops_note=unmeasured.get(r.path),
                analytic_flops=analytic.by_path.get(r.path),
            )
            for r in rows
        ]
        flops_notes = [
            f"FLOPs of {path or '(total)'} not measured: {why}"
            for path, why in sorted(unmeasured.items())
        ]
        if analytic.undefined and layer_costs and want_flops:
            flops_notes.append(f"no analytic FLOPs: {analytic.undefined}")
        param_notes = (*param_notes, *flops_notes, *unmeasured_loops)
        memory = MemoryReport(
            param_bytes=params.bytes,
            param_bytes_by_dtype=dict(params.bytes_by_dtype),
            activation_bytes=activation_bytes(calls, leaf_paths(rows), batch),
            forward=forward_c.memory if want_memory else None,
            train_step=None if train_c is None else train_c.memory,
        )
    if rf_done is None:
        rf_done = receptive_fields_or_note(spec, model, max_memory) if rf else (None, {}, ())
    rf_result, layer_rf, notes = rf_done
    if layer_rf:
        rows = [dataclasses.replace(r, rf=layer_rf.get(r.path)) for r in rows]
    return InspectReport(
        name=spec.name,
        spec=spec.source,
        family=spec.family,
        target=spec.target,
        platform=platform,
        input_shape=spec.input_shape,
        output_shape=output_shape,
        batch_size=spec.input.batch_size,
        dtype=spec.input.dtype,
        params=params,
        layers=tuple(fold_layers(rows, depth)),
        depth=depth,
        flops=flops,
        memory=memory,
        receptive_field=rf_result,
        notes=build_notes(model) + tuple(param_notes) + tuple(notes),
        full=costs,
        not_measured=skip,
    )
